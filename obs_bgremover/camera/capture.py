"""The camera's source: a webcam (OpenCV) or a video file played in a loop as if it were one,
read on a thread of its own, paced, and reopened with backoff when it disappears.
"""

from __future__ import annotations

import os
import platform
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from obs_bgremover.camera.sinks import DeviceError
from obs_bgremover.composite import fit
from obs_bgremover.errors import BgRemoverError, InputError

# Above this many pixels a USB 2 webcam reaches 30 fps only when it sends MJPG, not raw YUYV.
MJPG_ABOVE = 640 * 480

# Waits between attempts to reopen a lost webcam: doubling from the first to the cap, in seconds.
RETRY_FIRST, RETRY_CAP = 0.25, 4.0


@dataclass(frozen=True)
class Source:
    """Where frames come from: a webcam (by index or device path) or a video file that is
    played in a loop as if it were a camera."""

    target: int | str
    """What `cv2.VideoCapture` opens."""
    is_file: bool

    def __str__(self) -> str:
        if self.is_file:
            return f"video file {self.target}"
        return f"webcam {self.target}" if isinstance(self.target, int) else str(self.target)


def parse_source(text: str) -> Source:
    """The source ``--input`` names: a webcam index, a ``/dev/videoN`` path or a video file."""
    if text.isdigit():
        return Source(int(text), is_file=False)
    path = Path(text)
    if path.exists():
        return Source(text, is_file=not stat.S_ISCHR(path.stat().st_mode))
    if text.startswith("/dev/"):
        raise DeviceError(
            f"no webcam at {text}: the device does not exist; plug the webcam in, or pick "
            "another with --input (on Linux, 'v4l2-ctl --list-devices' lists them)"
        )
    raise InputError(
        f"--input {text!r} is neither a webcam index (0, 1, ...), a /dev/videoN device, "
        "nor an existing video file"
    )


def _webcam_node(source: Source) -> str | None:
    """The device file of a webcam on Linux, where its existence can be checked."""
    if platform.system() != "Linux":
        return None
    return source.target if isinstance(source.target, str) else f"/dev/video{source.target}"


def _webcam_error(source: Source) -> DeviceError:
    """Why a webcam gave no frame, as far as can be told, with the fix."""
    node = _webcam_node(source)
    if node is not None and not os.path.exists(node):
        return DeviceError(
            f"no webcam at index {source.target} ({node} does not exist); plug it in, or pick "
            "another with --input (on Linux, 'v4l2-ctl --list-devices' lists them)"
        )
    where = f" ('fuser {node}' shows which)" if node else ""
    return DeviceError(
        f"{source} gives no frames: it is busy, in use by another app{where} such as a browser "
        "tab, a video call or OBS, or it is not a camera; close that app, or pick another "
        "webcam with --input"
    )


def open_capture(
    source: Source, size: tuple[int, int], fps: float
) -> tuple[cv2.VideoCapture, np.ndarray]:
    """An OpenCV capture of ``source`` and its first frame (BGR), or a `DeviceError` /
    `InputError` saying why there is none. A webcam is asked for ``size`` and ``fps`` (MJPG
    above 640x480, the only format in which most USB webcams reach 30 fps at 720p); it may
    answer with other values, which `Capture` then fits to ``size``. The first frame is kept
    rather than seeked back to: OpenCV's seek in a compressed file can land between key frames
    and decode a damaged picture."""
    if source.is_file:
        capture = cv2.VideoCapture(str(source.target), cv2.CAP_FFMPEG)
        ok, frame = capture.read()
        if not ok:
            capture.release()
            raise InputError(f"cannot play {source}: FFmpeg cannot open or decode it")
        return capture, frame
    backend = cv2.CAP_V4L2 if platform.system() == "Linux" else cv2.CAP_ANY
    capture = cv2.VideoCapture(source.target, backend)
    if capture.isOpened():
        if size[0] * size[1] > MJPG_ABOVE:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        capture.set(cv2.CAP_PROP_FPS, fps)
        ok, frame = capture.read()
        if ok:
            return capture, frame
    capture.release()
    raise _webcam_error(source)


class FrameClock:
    """Deadlines ``1 / fps`` apart on an absolute schedule, so small oversleeps do not add up;
    one that falls more than a frame behind starts a new schedule instead of rushing."""

    def __init__(self, fps: float) -> None:
        self.period = 1 / fps
        self._due: float | None = None

    def wait(self, stop: threading.Event) -> bool:
        """Wait for the next deadline; False if ``stop`` was set meanwhile."""
        now = time.perf_counter()
        if self._due is None or now - self._due > self.period:
            self._due = now
        elif stop.wait(max(0.0, self._due - now)):
            return False
        self._due += self.period
        return True


class Backoff:
    """Waits between attempts to reopen a lost source: doubling from ``first`` up to ``cap``
    seconds, so an unplugged webcam costs a few wake-ups a minute, not a busy core."""

    def __init__(self, first: float = RETRY_FIRST, cap: float = RETRY_CAP) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, 2 * delay)
        return delay

    def reset(self) -> None:
        self._next = self.first


class Capture:
    """Reads a source on a thread of its own and hands each frame (RGB at the output size,
    with the time it was read) to ``on_frame``; ``on_cut`` is told when the source was reopened
    (a file looping, a webcam back), so what follows is not smoothed into what came before.

    A webcam paces itself (a read waits for its next frame); a file is played at its own frame
    rate and reopened at its end, so it loops. When reading fails (a webcam unplugged, a file
    gone) the source is reopened, at once and then after `Backoff` waits, until it is back.
    An exception on the thread is kept and raised by `check` on the caller's thread.
    """

    def __init__(
        self,
        source: Source,
        size: tuple[int, int],
        fps: float,
        on_frame: Callable[[np.ndarray, float], None],
        on_cut: Callable[[], None] = lambda: None,
    ) -> None:
        self.source, self.size, self.fps = source, size, fps
        self.waiting: str | None = None
        """Why no frames arrive right now (the source is lost), for the status line."""
        self._on_frame = on_frame
        self._on_cut = on_cut
        self._capture, self._pending = open_capture(source, size, fps)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="obs-bgremover-capture")

    def start(self) -> None:
        self._thread.start()

    def _frame_rate(self) -> float:
        return self._capture.get(cv2.CAP_PROP_FPS) or self.fps

    def _read(self) -> None:
        try:
            clock = FrameClock(self._frame_rate()) if self.source.is_file else None
            while not self._stop.is_set():
                ok, bgr = self._next()
                if not ok:
                    self._reopen()
                    continue
                if clock is not None and not clock.wait(self._stop):
                    return
                self._on_frame(self._convert(bgr), time.perf_counter())
        except Exception as err:  # raised on the main thread by check()
            self._error = err

    def _next(self) -> tuple[bool, np.ndarray | None]:
        """The frame read when the source was opened, then the source's next ones."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return True, frame
        return self._capture.read()

    def _convert(self, bgr: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if rgb.shape[:2] != (self.size[1], self.size[0]):
            rgb = fit(rgb, self.size, "cover")
        return rgb

    def _reopen(self) -> None:
        """Reopen the source until it opens or the capture is stopped."""
        self._capture.release()
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                self._capture, self._pending = open_capture(self.source, self.size, self.fps)
                self.waiting = None
                self._on_cut()
                return
            except BgRemoverError as err:
                delay = backoff.next()
                self.waiting = f"{err.args[0].split(';')[0]}; retrying in {delay:g} s"
                self._stop.wait(delay)

    def check(self) -> None:
        """Raise the exception that stopped the capture thread, if one did."""
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._capture.release()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
