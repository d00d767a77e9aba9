"""The virtual-camera front end: a webcam (or a looping video file) in, a virtual camera out.

The flow is the project's one flow, spread over three threads so that no stage waits for another:

- the capture thread reads the webcam (or plays the file at its own frame rate), converts each
  frame to RGB at the output size and submits it to the `LivePipeline`;
- the pipeline's own thread mattes the newest frame (the network: 15-25 ms for 720p on a CPU);
- the main thread takes the newest matte, composites it, sends it to the virtual camera and
  sleeps until the next frame is due, so the virtual camera runs at ``--fps`` whatever the
  network costs; when no new matte is ready it sends the last composite again.

Compositing runs on the main thread, after `LivePipeline.latest`, and not on the pipeline's
thread: with edge decontamination it costs about 10 ms for 720p, which on the pipeline's thread
would lengthen every matte by half and lower the rate of new mattes, while on the main thread it
overlaps with the next matte on another core, is paid once per new matte (not per frame sent),
and lets a background change from the config file swap the compositor without touching the
pipeline. The capture thread never composites or waits for the network, so capture never stalls.

Virtual cameras are reached through ``sinks``: a mapping of backend names to classes with the
interface of `pyvirtualcam.Camera` (see `Sink`). The real mapping, `virtual_cameras`, holds
pyvirtualcam's backends for this operating system. Tests pass a recording sink instead; a
subprocess picks one with the environment variable ``OBS_BGREMOVER_CAMERA_SINKS=module:name``
(a mapping like `virtual_cameras`'s), the one test hook, documented in docs/virtual-camera.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import stat
import statistics
import sys
import threading
import time
import tomllib
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import TracebackType
from typing import Protocol, TextIO

import cv2
import numpy as np

from obs_bgremover.backgrounds import BUILTIN, parse_background
from obs_bgremover.composite import Background, Compositor, TransparentBackground, fit
from obs_bgremover.errors import BgRemoverError, InputError
from obs_bgremover.model import MattingModel, MattingSettings
from obs_bgremover.pipeline import LivePipeline, LiveResult, LiveStats

SINKS_ENV = "OBS_BGREMOVER_CAMERA_SINKS"

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

# Virtual cameras take even sizes (their YUV 4:2:0 formats halve the colour resolution), and no
# backend takes more than 4K.
SIZE_LIMITS = (16, 4096)

# Above this many pixels a USB 2 webcam reaches 30 fps only when it sends MJPG, not raw YUYV.
MJPG_ABOVE = 640 * 480

# Waits between attempts to reopen a lost webcam: doubling from the first to the cap, in seconds.
RETRY_FIRST, RETRY_CAP = 0.25, 4.0

# How often the config file's modification time is checked, and the status line redrawn (s).
CONFIG_POLL = 0.25
STATUS_EVERY = 0.5

# How long the main thread waits between looks for the very first matte, in seconds.
STARTUP_POLL = 0.01

# Capture times kept to measure latency: a few frames more than the pipeline can hold back.
CAPTURE_MEMORY = 64
# Latencies the summary's median and 95th percentile are taken over: five minutes at 30 fps.
LATENCY_MEMORY = 9000

QUIT_KEYS = (ord("q"), 27)  # q and Esc
NEXT_BACKGROUND_KEY = ord("b")


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
    ) -> object: ...


SinkClass = Callable[..., Sink]
SinkRegistry = Mapping[str, SinkClass]


def virtual_cameras(system: str | None = None) -> dict[str, SinkClass]:
    """pyvirtualcam's backends on this operating system (or ``system``), in the order ``auto``
    tries them; each is `pyvirtualcam.Camera` itself, which already is a `Sink`."""
    import pyvirtualcam  # here, so the rest of the package works where it cannot be imported

    return {name: pyvirtualcam.Camera for name in BACKENDS.get(system or platform.system(), ())}


def sinks_from_environment() -> SinkRegistry:
    """The sinks named by ``$OBS_BGREMOVER_CAMERA_SINKS`` (``module:name``), else the real ones.

    The variable exists for tests that run the command in a subprocess: there is no other way
    to hand a child process a recording sink."""
    spec = os.environ.get(SINKS_ENV)
    if not spec:
        return virtual_cameras()
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise InputError(f"{SINKS_ENV}={spec!r} names no sink mapping ({err})") from err


def open_sink(
    sinks: SinkRegistry, backend: str, size: tuple[int, int], fps: float, device: str | None
) -> Sink:
    """The first sink of ``sinks`` that opens (or the one ``backend`` names), like
    `pyvirtualcam.Camera` does with its backends, but with every failure and the fix for this
    operating system in one error."""
    system = platform.system()
    fix = INSTALL_FIX.get(system, "no virtual camera backend is known for this system")
    if backend != "auto" and backend not in sinks:
        raise DeviceError(
            f"virtual camera backend {backend!r} is not available on {system} (available: "
            f"{', '.join(sinks) or 'none'}); to get one, {fix}"
        )
    failures = []
    for name in list(sinks) if backend == "auto" else [backend]:
        try:
            return sinks[name](size[0], size[1], fps, device=device, backend=name)
        except Exception as err:  # backends raise what they like; every reason is reported
            failures.append(f"{name}: {str(err).removeprefix(f'{name!r} backend: ')}")
    reasons = "; ".join(failures) or f"no virtual camera backend exists on {system}"
    raise DeviceError(f"no virtual camera could be opened ({reasons}); to fix it, {fix}")


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
    with the time it was read) to ``on_frame``.

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
    ) -> None:
        self.source, self.size, self.fps = source, size, fps
        self.waiting: str | None = None
        """Why no frames arrive right now (the source is lost), for the status line."""
        self._on_frame = on_frame
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


class LiveFeed:
    """The door from the capture thread into the live pipeline, which the config file may
    replace (new matting knobs) while frames flow; it also remembers when each frame was
    captured, so latency is measured from the camera, not from the pipeline's queue."""

    def __init__(self, pipeline: LivePipeline) -> None:
        self._lock = threading.Lock()
        self._pipeline = pipeline
        self._captured: dict[int, float] = {}
        self._submitted = 0

    def submit(self, frame: np.ndarray, captured: float) -> None:
        with self._lock:
            self._pipeline.submit(frame)
            self._captured[self._submitted] = captured
            self._captured.pop(self._submitted - CAPTURE_MEMORY, None)
            self._submitted += 1

    def latest(self) -> tuple[LiveResult, float] | None:
        """The newest result and the capture time of its frame (None before the first)."""
        with self._lock:
            result = self._pipeline.latest()
            if result is None:
                return None
            return result, self._captured.get(result.index, time.perf_counter())

    def stats(self) -> LiveStats:
        with self._lock:
            return self._pipeline.stats()

    def replace(self, pipeline: LivePipeline) -> None:
        """Send the frames to ``pipeline`` from now on, and close the old one."""
        with self._lock:
            old, self._pipeline = self._pipeline, pipeline
            self._captured.clear()
            self._submitted = 0
        old.close()

    def close(self) -> None:
        self._pipeline.close()

    def __enter__(self) -> LiveFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class SceneSettings:
    """What may change while the camera runs: set by the flags, then by ``--config``."""

    background: str = "blur"
    matting: MattingSettings = field(default_factory=MattingSettings)
    model: str = "general"
    """A built-in model name or the path of an .onnx file."""


def open_background(spec: str) -> Background:
    """The background a spec names, refusing ``transparent``: a virtual camera has no alpha."""
    background = parse_background(spec)
    if isinstance(background, TransparentBackground):
        raise InputError(
            "a virtual camera has no alpha channel, so 'transparent' cannot be shown; use a "
            "colour such as color:#00B140 and key it out in the receiving app"
        )
    return background


class Scene:
    """The background and its compositor, swapped when the config file or the preview's key
    changes the background; used by the main thread only."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._background = open_background(spec)
        self.compositor = Compositor(self._background)

    def change(self, spec: str) -> None:
        """Show ``spec`` from the next composite on; the old background stays if it fails."""
        background = open_background(spec)
        old, self._background = self._background, background
        self.compositor = Compositor(background)
        self.spec = spec
        old.close()

    def close(self) -> None:
        self._background.close()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_config(path: Path, base: SceneSettings) -> SceneSettings:
    """``base`` with what a TOML (``.toml``) or JSON file sets: ``background`` (a spec),
    ``model`` (a name or path) and any of the matting knobs (``threshold``, ``band``,
    ``edge_radius``, ``edge_strength``, ``edge_eps``). A key removed from the file goes back to
    its flag's value."""
    try:
        text = path.read_text(encoding="utf-8")
        values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as err:  # tomllib and json errors are ValueErrors
        raise InputError(f"cannot read config file {path}: {err}") from err
    knobs = {knob.name for knob in fields(MattingSettings)}
    names = {"background", "model"}
    if not isinstance(values, dict) or set(values) - knobs - names:
        unknown = sorted(set(values) - knobs - names) if isinstance(values, dict) else []
        raise InputError(
            f"config file {path} must be a table of background, model and "
            f"{', '.join(sorted(knobs))}" + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    for name in knobs & set(values):
        if not isinstance(values[name], (int, float)) or isinstance(values[name], bool):
            raise InputError(f"config file {path}: {name} must be a number, got {values[name]!r}")
    for name in names & set(values):
        if not isinstance(values[name], str):
            raise InputError(f"config file {path}: {name} must be a string, got {values[name]!r}")
    matting = replace(base.matting, **{name: float(values[name]) for name in knobs & set(values)})
    return SceneSettings(
        values.get("background", base.background), matting, values.get("model", base.model)
    )


class ConfigWatcher:
    """Notices changes of the config file by polling its modification time and size (cheap,
    and the same on every operating system) at most every `CONFIG_POLL` seconds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self._stamp()
        self._checked = time.perf_counter()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def changed(self) -> bool:
        """Whether the file changed since the last call that said so (a deleted file is no
        change: the camera keeps what it has)."""
        now = time.perf_counter()
        if now - self._checked < CONFIG_POLL:
            return False
        self._checked = now
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return False
        self._seen = stamp
        return True


@dataclass(frozen=True)
class CameraSettings:
    """Everything ``obs-bgremover camera`` was asked to do, passed down as one object."""

    source: Source
    size: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    backend: str = "auto"
    virtual_device: str | None = None
    device: str = "auto"
    """Where the network runs (an ONNX Runtime execution provider, see `MattingModel`)."""
    scene: SceneSettings = field(default_factory=SceneSettings)
    config: Path | None = None
    preview: bool = False
    duration: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.fps <= 120:
            raise InputError(f"--fps {self.fps:g} is not in 1..120")
        if self.duration is not None and self.duration <= 0:
            raise InputError(f"--duration {self.duration:g} must be above 0 seconds")


def settings_from_args(args: argparse.Namespace) -> CameraSettings:
    """The settings the ``camera`` subcommand's flags describe, checked."""
    knobs = {knob.name: getattr(args, knob.name) for knob in fields(MattingSettings)}
    matting = MattingSettings(**knobs)
    return CameraSettings(
        source=parse_source(args.input),
        size=parse_size(args.size),
        fps=args.fps,
        backend=args.backend,
        virtual_device=args.virtual_device,
        device=args.device,
        scene=SceneSettings(args.background, matting, args.model),
        config=args.config,
        preview=args.preview,
        duration=args.duration,
    )


class Preview:
    """A window showing what the virtual camera gets: q or Esc stops the camera, b steps through
    the built-in backgrounds. It needs an OpenCV built with a GUI, which the headless wheel this
    project installs is not; opening says so instead of failing later."""

    TITLE = "obs-bgremover camera"

    def __init__(self) -> None:
        try:
            cv2.namedWindow(self.TITLE)
        except cv2.error as err:
            raise DeviceError(
                "--preview needs OpenCV with a GUI, and this one has none "
                "(opencv-python-headless); run 'pip uninstall opencv-python-headless' and "
                "'pip install opencv-python' in this environment, or leave out --preview"
            ) from err

    def show(self, frame: np.ndarray) -> int:
        """Show an RGB frame; the key pressed meanwhile (-1 for none)."""
        cv2.imshow(self.TITLE, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        return cv2.waitKey(1)

    def close(self) -> None:
        cv2.destroyWindow(self.TITLE)

    def __enter__(self) -> Preview:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def next_builtin(spec: str) -> str:
    """The built-in background after ``spec`` (the first one after anything else)."""
    names = list(BUILTIN)
    return names[(names.index(spec) + 1) % len(names)] if spec in names else names[0]


@dataclass(frozen=True)
class Summary:
    """What reached the virtual camera, measured from the first frame sent to the last."""

    frames: int
    seconds: float
    fps: float
    new_fps: float
    """Frames with a new matte per second; the others repeat the last composite."""
    latency_ms: float
    """Median time from the capture of a frame to its composite being sent."""
    latency_p95_ms: float
    cpu_percent: float
    """Process CPU time over wall time, all threads: 100 is one core busy."""

    def __str__(self) -> str:
        return (
            f"sent {self.frames} frames in {self.seconds:.1f} s: {self.fps:.2f} fps "
            f"({self.new_fps:.1f} with a new matte); camera -> virtual camera latency "
            f"{self.latency_ms:.0f} ms median, {self.latency_p95_ms:.0f} ms 95th percentile; "
            f"CPU {self.cpu_percent:.0f}% of one core"
        )


class Meter:
    """Counts the frames sent to the virtual camera, for the status line and the summary."""

    def __init__(self) -> None:
        self.frames = self.new_frames = 0
        self._start: tuple[float, float] | None = None  # wall and CPU clocks at the first send
        self._last = 0.0
        self._recent: deque[float] = deque(maxlen=31)
        self._latencies: deque[float] = deque(maxlen=LATENCY_MEMORY)

    def sent(self, captured: float | None) -> None:
        """Count a frame just sent; ``captured``: when its camera frame was read, for a new
        composite (None for a repeated one)."""
        now = time.perf_counter()
        if self._start is None:
            self._start = now, time.process_time()
        self.frames += 1
        self._last = now
        self._recent.append(now)
        if captured is not None:
            self.new_frames += 1
            self._latencies.append(1000 * (now - captured))

    def fps(self) -> float:
        """Frames sent per second over about the last second."""
        recent = self._recent
        span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
        return (len(recent) - 1) / span if span > 0 else 0.0

    def latency_ms(self) -> float:
        recent = list(self._latencies)[-30:]
        return statistics.median(recent) if recent else 0.0

    def summary(self) -> Summary:
        if self._start is None or self.frames < 2:
            return Summary(self.frames, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        wall, cpu = self._start
        seconds = self._last - wall
        latencies = sorted(self._latencies)
        return Summary(
            frames=self.frames,
            seconds=seconds,
            fps=(self.frames - 1) / seconds,
            new_fps=(self.new_frames - 1) / seconds,
            latency_ms=statistics.median(latencies),
            latency_p95_ms=latencies[int(0.95 * (len(latencies) - 1))],
            cpu_percent=100 * (time.process_time() - cpu) / (time.perf_counter() - wall),
        )


class StatusLine:
    """One self-rewriting line on a terminal, redrawn at most every `STATUS_EVERY` seconds;
    notes (a lost webcam, a bad config file) go on lines of their own, terminal or not."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self._drawn = 0.0
        self._width = 0

    def update(self, text: str) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self._drawn < STATUS_EVERY:
            return
        self._drawn = now
        print(f"\r{text.ljust(self._width)}", end="", file=self.stream, flush=True)
        self._width = len(text)

    def note(self, text: str) -> None:
        if self._width:
            print(file=self.stream)
            self._width, self._drawn = 0, 0.0
        print(text, file=self.stream, flush=True)

    def finish(self) -> None:
        if self._width:
            print(file=self.stream, flush=True)


@dataclass
class _Running:
    """The parts of a running camera that the main loop drives."""

    settings: CameraSettings
    model: MattingModel
    scene: Scene
    feed: LiveFeed
    capture: Capture
    sink: Sink
    preview: Preview | None
    status: StatusLine
    current: SceneSettings


def _apply_config(running: _Running) -> None:
    """Apply the changed config file: a new background and/or a pipeline with the new knobs.
    A bad file is reported and the camera keeps what it shows."""
    settings = running.settings
    try:
        wanted = read_config(settings.config, settings.scene)
        if wanted.model != running.current.model:
            # Loaded before anything changes: a bad model leaves the camera as it was.
            model = MattingModel(wanted.model, settings.device)
            running.feed.replace(LivePipeline(model.with_settings(wanted.matting)))
            running.model = model
        elif wanted.matting != running.current.matting:
            running.feed.replace(LivePipeline(running.model.with_settings(wanted.matting)))
        if wanted.background != running.current.background:
            running.scene.change(wanted.background)
    except BgRemoverError as err:
        running.status.note(f"camera: {err}; keeping the current settings")
        return
    running.current = wanted
    running.status.note(
        f"camera: applied {settings.config} (background {wanted.background}, "
        f"model {running.model.name})"
    )


def _status_text(running: _Running, meter: Meter) -> str:
    sink = running.sink
    text = (
        f"camera {meter.fps():4.1f} fps -> {sink.backend} {sink.device} | latency "
        f"{meter.latency_ms():3.0f} ms | network {running.feed.stats().fps:4.1f} fps "
        f"({running.model.provider}) | {running.scene.spec}"
    )
    return text + (f" | {running.capture.waiting}" if running.capture.waiting else "")


def _handle_key(running: _Running, key: int) -> bool:
    """Act on a preview key; False when it asks to stop."""
    if key in QUIT_KEYS:
        return False
    if key == NEXT_BACKGROUND_KEY:
        running.scene.change(next_builtin(running.scene.spec))
    return True


def _loop(running: _Running, meter: Meter, watcher: ConfigWatcher | None) -> None:
    """Composite the newest matte (or repeat the last composite) and send it, once per frame
    period, until the duration is over or the preview asks to stop."""
    duration = running.settings.duration
    started = time.perf_counter()
    shown: LiveResult | None = None
    composite: np.ndarray | None = None
    while duration is None or time.perf_counter() - started < duration:
        running.capture.check()
        if watcher is not None and watcher.changed():
            _apply_config(running)
        latest = running.feed.latest()
        captured = None
        if latest is not None and latest[0] is not shown:
            shown, captured = latest
            composite = running.scene.compositor(shown.frame, shown.alpha, captured - started)
        if composite is None:
            time.sleep(STARTUP_POLL)
            continue
        running.sink.send(composite)
        meter.sent(captured)
        running.status.update(_status_text(running, meter))
        if running.preview is not None and not _handle_key(
            running, running.preview.show(composite)
        ):
            return
        running.sink.sleep_until_next_frame()


def serve(
    settings: CameraSettings,
    sinks: SinkRegistry,
    status: TextIO | None = None,
) -> Summary:
    """Run the camera until ``settings.duration`` is over, the preview is quit, or Ctrl-C;
    everything opened (preview, background, pipeline thread, capture thread and device, virtual
    camera) is released on the way out, whatever the way. Errors opening anything are raised
    before the first frame is sent."""
    meter = Meter()
    line = StatusLine(sys.stderr if status is None else status)
    watcher = ConfigWatcher(settings.config) if settings.config else None
    scene_settings = read_config(settings.config, settings.scene) if watcher else settings.scene
    model = MattingModel(scene_settings.model, settings.device)
    line.note(f"camera: matting with {model.name} on {model.provider}")
    try:
        with ExitStack() as stack:
            preview = stack.enter_context(Preview()) if settings.preview else None
            scene = stack.enter_context(Scene(scene_settings.background))
            pipeline = LivePipeline(model.with_settings(scene_settings.matting))
            feed = stack.enter_context(LiveFeed(pipeline))
            capture = stack.enter_context(
                Capture(settings.source, settings.size, settings.fps, feed.submit)
            )
            sink = stack.enter_context(
                open_sink(
                    sinks, settings.backend, settings.size, settings.fps, settings.virtual_device
                )
            )
            line.note(f"camera: {settings.source} -> {sink.backend} {sink.device}; Ctrl-C stops")
            capture.start()
            running = _Running(
                settings, model, scene, feed, capture, sink, preview, line, scene_settings
            )
            _loop(running, meter, watcher)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how the camera is meant to stop: the with block has released it all
    finally:
        line.finish()
    return meter.summary()


def run(args: argparse.Namespace, sinks: SinkRegistry | None = None) -> int:
    """``obs-bgremover camera``: serve the virtual camera, then print what reached it.

    ``sinks`` replaces the virtual cameras (tests); by default they come from
    `sinks_from_environment`. A stop by Ctrl-C is a success (exit status 0)."""
    settings = settings_from_args(args)
    sinks = sinks_from_environment() if sinks is None else sinks
    # The errors raised here say what OpenCV's warnings about a missing device would.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    print(f"camera: {serve(settings, sinks)}")
    return 0
