"""Helpers the tests share that are not fixtures: made-up frames, and the rule for missing
dependencies. A module of its own, since ``conftest`` is not importable by name once
there is more than one (tests/ and tests/obs/ each have theirs)."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import cv2
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


def on_its_side(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` as a phone stores it for a player to turn by ``rotation`` degrees
    counter-clockwise (a multiple of 90) to show it upright."""
    return np.ascontiguousarray(np.rot90(image, k=-rotation // 90))


def phone_jpeg(path: Path, upright: np.ndarray) -> Path:
    """An RGB picture as a phone writes a portrait photo: its pixels stored turned a quarter
    clockwise, and EXIF orientation 8, which tells a viewer to turn them back."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(on_its_side(upright, 90), cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    # A big-endian TIFF header, one IFD entry (Orientation, SHORT, 1 value: 8), no next IFD.
    tiff = (b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 8, 0)
            + struct.pack(">I", 0))
    exif = b"Exif\x00\x00" + tiff
    data = encoded.tobytes()
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:])
    return path
