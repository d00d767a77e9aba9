"""Helpers the tests share that are not fixtures: made-up frames, and the rule for missing
dependencies. A module of its own, since ``conftest`` is not importable by name once
there is more than one (tests/ and tests/obs/ each have theirs)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest


def missing(what: str) -> None:
    """Fail under CI, where everything must be present; skip on a developer's machine."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing (required when CI is set)")
    pytest.skip(f"{what} is missing")


def require_obs() -> None:
    """What a real OBS under Xvfb needs here: the programs and the websocket client."""
    for program in ("obs", "Xvfb"):
        if shutil.which(program) is None:
            missing(f"{program} (apt-get install obs-studio xvfb, or python install.py --test)")
    try:
        import obsws_python  # noqa: F401
    except ImportError:
        missing("obsws-python (pip install -e .[dev])")


def synthetic_frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Deterministic RGB frames with some structure (a gradient and a moving square)."""
    frames = []
    for index in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)
        frame[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
        frame[8:24, 4 + 4 * index : 20 + 4 * index, 2] = 255
        frames.append(frame)
    return frames
