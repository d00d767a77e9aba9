"""What may change while the camera runs: the background and the matting settings, set by the
flags and then by a config file watched for changes (`obs_bgremover.watch`); and the background
file itself, saved again.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from obs_bgremover.backgrounds import BUILTIN, LoopingVideo, background_file, parse_background
from obs_bgremover.composite import Background, Compositor, TransparentBackground
from obs_bgremover.errors import BgRemoverError, InputError
from obs_bgremover.model import MattingSettings
from obs_bgremover.watch import BACKGROUND_EVERY_S, FileWatch

# How often the config file is looked at for changes (`obs_bgremover.watch.FileWatch`), in
# seconds.
CONFIG_POLL = 0.25

# The config file's formats, by suffix.
CONFIG_SUFFIXES = (".toml", ".json")


@dataclass(frozen=True)
class SceneSettings:
    """What may change while the camera runs: set by the flags, then by ``--config``."""

    background: str = "blur"
    matting: MattingSettings = field(default_factory=MattingSettings)
    model: str = "general"
    """A built-in model name or the path of an .onnx file."""


def open_background(spec: str, size: tuple[int, int]) -> Background:
    """The background a spec names, refusing ``transparent``: a virtual camera has no alpha. A
    video is `LoopingVideo`'s ``live`` kind, its first frame at ``size`` (the camera's)
    decoded here, off the sending thread where the config file's changes open it: a phone's HDR
    clip takes over a second to show its first."""
    background = parse_background(spec, live=True)
    if isinstance(background, TransparentBackground):
        raise InputError(
            "a virtual camera has no alpha channel, so 'transparent' cannot be shown; use a "
            "colour such as color:#00B140 and key it out in the receiving app"
        )
    if isinstance(background, LoopingVideo):
        try:
            background.frame_at(0.0, size)
        except BaseException:
            background.close()
            raise
    return background


def _watch(spec: str) -> FileWatch | None:
    path = background_file(spec)
    return None if path is None else FileWatch(path, BACKGROUND_EVERY_S)


class Scene:
    """The background and its compositor, swapped when the config file or the preview's key
    changes the background, or when its file is saved again; used by the main thread only."""

    def __init__(self, spec: str, size: tuple[int, int]) -> None:
        self.spec = spec
        self.size = size
        self._background = open_background(spec, size)
        self._watch = _watch(spec)
        self._compositor = Compositor(self._background)
        self._since: float | None = None  # the first time the background was composited at

    def composite(self, frame: np.ndarray, alpha: np.ndarray, t: float) -> np.ndarray:
        """The frame over the background, ``t`` seconds into the stream. A video background
        plays from its start when it first shows: played from the stream's time, one switched
        to nine seconds in was decoded up to there first, the picture frozen meanwhile."""
        if self._since is None:
            self._since = t
        return self._compositor(frame, alpha, t - self._since)

    def show(self, spec: str, background: Background) -> None:
        """Show ``background``, already opened from ``spec``, from the next composite on: the
        config file opens it before it swaps anything, so that a file that fails elsewhere
        changes nothing. The scene owns it from now on."""
        old, self._background = self._background, background
        self._watch = _watch(spec)
        self._compositor = Compositor(background)
        self._since = None
        self.spec = spec
        old.close()

    def saved_again(self) -> bool:
        """Whether a new version of the background's file has been saved over it since the
        last look, so that an edited picture shows without a restart, as it does in OBS (the
        caller reads it again, off the sending thread)."""
        return self._watch is not None and self._watch.changed()

    def close(self) -> None:
        self._background.close()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _number(path: Path, name: str, value: object) -> float:
    """A knob's value from a config file as a float; TOML and JSON both take integers of any
    size, which no float holds."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InputError(f"config file {path}: {name} must be a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise InputError(
            f"config file {path}: {name} must be a number, got one of {len(str(value))} digits"
        ) from None


def read_config(path: Path, base: SceneSettings) -> SceneSettings:
    """``base`` with what a TOML (``.toml``) or JSON (``.json``) file sets: ``background`` (a spec),
    ``model`` (a name or path) and any of the matting knobs (``threshold``, ``band``,
    ``edge_radius``, ``edge_strength``, ``edge_eps``). A key removed from the file goes back to
    its flag's value. The suffix's case does not matter, and a UTF-8 BOM is skipped: Windows
    tools (Notepad, PowerShell's ``Out-File``) write them."""
    suffix = path.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise InputError(f"config file {path} must be TOML or JSON, named *.toml or *.json")
    try:
        text = path.read_text(encoding="utf-8-sig")
        values = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as err:  # tomllib and json errors are ValueErrors
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise InputError(f"cannot read config file {path}: {reason}") from err
    knobs = {knob.name for knob in fields(MattingSettings)}
    names = {"background", "model"}
    if not isinstance(values, dict) or set(values) - knobs - names:
        unknown = sorted(set(values) - knobs - names) if isinstance(values, dict) else []
        raise InputError(
            f"config file {path} must be a table of background, model and "
            f"{', '.join(sorted(knobs))}" + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    for name in names & set(values):
        if not isinstance(values[name], str):
            raise InputError(f"config file {path}: {name} must be a string, got {values[name]!r}")
    numbers = {name: _number(path, name, values[name]) for name in knobs & set(values)}
    try:
        matting = replace(base.matting, **numbers)
    except BgRemoverError as err:  # a knob out of range: said with the file, as the rest is
        raise InputError(f"config file {path}: {err}") from None
    return SceneSettings(
        values.get("background", base.background), matting, values.get("model", base.model)
    )


def next_builtin(spec: str) -> str:
    """The built-in background after ``spec`` (the first one after anything else)."""
    names = list(BUILTIN)
    return names[(names.index(spec) + 1) % len(names)] if spec in names else names[0]
