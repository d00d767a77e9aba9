"""Virtual cameras: the sink interface (`pyvirtualcam.Camera`'s), the real backends of each
operating system, and the one error a user sees when none opens, with the fix for their system.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np

from obs_bgremover.errors import BgRemoverError, InputError

# pyvirtualcam's backends by the operating system (platform.system()) that has them.
BACKENDS = {
    "Windows": ("obs", "unitycapture"),
    "Darwin": ("obs",),
    "Linux": ("v4l2loopback",),
}
BACKEND_NAMES = ("obs", "unitycapture", "v4l2loopback")

# How to get a virtual camera on each system, quoted when none can be opened.
INSTALL_FIX = {
    "Linux": "install and load v4l2loopback: 'sudo apt install v4l2loopback-dkms' (or your "
    "distribution's package), then 'sudo modprobe v4l2loopback exclusive_caps=1 "
    "card_label=\"obs-bgremover\"'",
    "Windows": "install OBS Studio 26 or newer (its Virtual Camera comes with it), or install "
    "Unity Capture (github.com/schellingb/UnityCapture) and use --backend unitycapture",
    "Darwin": "install OBS Studio 26.1 or newer, start it, click 'Start Virtual Camera' once, "
    "then stop it and quit OBS; macOS then lists the OBS Virtual Camera",
}

# Where Linux lists the v4l2loopback module while it is loaded.
LOOPBACK_MODULE = Path("/sys/module/v4l2loopback")
LIST_DEVICES = "'v4l2-ctl --list-devices' lists them"

# Virtual cameras take even sizes (their YUV 4:2:0 formats halve the colour resolution), and no
# backend takes more than 4K.
SIZE_LIMITS = (16, 4096)


class DeviceError(BgRemoverError):
    """A webcam or a virtual camera cannot be used; the message says how to fix it."""


class Sink(Protocol):
    """A virtual camera, with the part of `pyvirtualcam.Camera`'s interface the camera uses.

    A sink class is called as ``Sink(width, height, fps, device=..., backend=...)`` and raises
    when it cannot open (pyvirtualcam raises RuntimeError naming each backend's reason).
    """

    @property
    def device(self) -> str: ...

    @property
    def backend(self) -> str: ...

    def send(self, frame: np.ndarray) -> None:
        """Show an RGB uint8 frame of the sink's size."""

    def sleep_until_next_frame(self) -> None:
        """Sleep until the next frame is due at the sink's frame rate."""

    def close(self) -> None: ...

    def __enter__(self) -> Sink: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None: ...


SinkClass = Callable[..., Sink]
SinkRegistry = Mapping[str, SinkClass]


def virtual_cameras(system: str | None = None) -> dict[str, SinkClass]:
    """pyvirtualcam's backends on this operating system (or ``system``), in the order ``auto``
    tries them; each is `pyvirtualcam.Camera` itself, which already is a `Sink`."""
    import pyvirtualcam  # here, so the rest of the package works where it cannot be imported

    return {name: pyvirtualcam.Camera for name in BACKENDS.get(system or platform.system(), ())}


def open_sink(
    sinks: SinkRegistry, backend: str, size: tuple[int, int], fps: float, device: str | None
) -> Sink:
    """The first sink of ``sinks`` that opens (or the one ``backend`` names), like
    `pyvirtualcam.Camera` does with its backends, but with every failure and the fix for this
    operating system in one error: how to install a virtual camera, unless v4l2loopback is
    loaded already (see `_loopback_fix`)."""
    system = platform.system()
    install = INSTALL_FIX.get(system, "no virtual camera backend is known for this system")
    if backend != "auto" and backend not in sinks:
        raise DeviceError(
            f"virtual camera backend {backend!r} is not available on {system} (available: "
            f"{', '.join(sinks) or 'none'}); to get one, {install}"
        )
    failures = []
    for name in list(sinks) if backend == "auto" else [backend]:
        try:
            return sinks[name](size[0], size[1], fps, device=device, backend=name)
        except Exception as err:  # backends raise what they like; every reason is reported
            failures.append(f"{name}: {str(err).removeprefix(f'{name!r} backend: ')}")
    reasons = "; ".join(failures) or f"no virtual camera backend exists on {system}"
    fix = _loopback_fix(device) if system == "Linux" and LOOPBACK_MODULE.exists() else install
    raise DeviceError(f"no virtual camera could be opened ({reasons}); to fix it, {fix}")


def _loopback_fix(device: str | None) -> str:
    """The fix when v4l2loopback is loaded, so installing it is not: the device named is of
    another kind or in use, or (none named) every loopback device is in use."""
    if device:
        why = f"{device} is not a v4l2loopback device, or another program is sending to it"
        return f"name a free v4l2loopback device with --virtual-device ({why}; {LIST_DEVICES})"
    return (
        "stop the program that sends to the v4l2loopback device, or name a free one with "
        f"--virtual-device (each is in use; {LIST_DEVICES})"
    )


def parse_size(text: str) -> tuple[int, int]:
    """(width, height) of a ``WIDTHxHEIGHT`` string that a virtual camera can take."""
    match = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    low, high = SIZE_LIMITS
    if match is None:
        raise InputError(f"size {text!r} is not of the form WIDTHxHEIGHT (for example 1280x720)")
    width, height = int(match[1]), int(match[2])
    if not (low <= width <= high and low <= height <= high) or width % 2 or height % 2:
        raise InputError(
            f"unsupported size {text}: virtual cameras take even widths and heights from {low} "
            f"to {high}; try 1280x720, 1920x1080 or 640x480"
        )
    return width, height
