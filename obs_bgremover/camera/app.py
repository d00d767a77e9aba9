"""The virtual-camera front end: a webcam (or a looping video file) in, a virtual camera out.

The flow is the project's one flow, spread over threads so that no stage waits for another:

- the capture thread reads the webcam (or plays the file at its own frame rate), converts each
  frame to RGB at the output size and submits it to the `LivePipeline`;
- the pipeline's own thread mattes the newest frame (the network: 15-25 ms for 720p on a CPU);
- the main thread takes the newest matte, composites it, sends it to the virtual camera and
  sleeps until the next frame is due, so the virtual camera runs at ``--fps`` whatever the
  network costs; when no new matte is ready it sends the last composite again;
- a fourth thread (`Changes`) opens what a changed config file or a background file saved again
  asks for, and the main thread swaps it in when it is ready.

Compositing runs on the main thread, after `LivePipeline.latest`, and not on the pipeline's
thread: with edge decontamination it costs about 8 ms for 720p on two cores, which on the
pipeline's thread would lengthen every matte by most of the network's own time and lower the rate
of new mattes, while on the main thread it overlaps with the next matte on another core, is paid
once per new matte (not per frame sent), and lets a background change from the config file swap
the compositor without touching the pipeline. The capture thread never composites or waits for
the network, so capture never stalls.

Virtual cameras are reached through ``sinks``: a mapping of backend names to classes with the
interface of `pyvirtualcam.Camera` (see `Sink`). The real mapping, `virtual_cameras`, holds
pyvirtualcam's backends for this operating system. Tests pass a recording sink instead (see
docs/virtual-camera.md).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from obs_bgremover.camera.capture import Capture, Source, parse_source
from obs_bgremover.camera.changes import Changes
from obs_bgremover.camera.report import Meter, StatusLine, Summary
from obs_bgremover.camera.scene import (
    CONFIG_POLL,
    Scene,
    SceneSettings,
    next_builtin,
    open_background,
    read_config,
)
from obs_bgremover.camera.sinks import (
    DeviceError,
    Sink,
    SinkRegistry,
    open_sink,
    parse_size,
    virtual_cameras,
)
from obs_bgremover.composite import Background
from obs_bgremover.errors import InputError
from obs_bgremover.model import MattingModel, MattingSettings
from obs_bgremover.pipeline import (
    MIN_RATE_RESULTS,
    LivePipeline,
    LiveResult,
    LiveStats,
    PipelineSettings,
    try_model,
)
from obs_bgremover.watch import FileWatch

# How long the main thread waits between looks for the very first matte, in seconds.
STARTUP_POLL = 0.01

# FFmpeg's log level "quiet" (AV_LOG_QUIET), for OpenCV's FFmpeg backend.
FFMPEG_QUIET = "-8"
# Capture times kept to measure latency: those of the last frames submitted, a minute of a 60
# fps webcam. 64 were kept, and a network slower than a second or two had its results' times
# forgotten, so that the slowest camera reported a latency of a few milliseconds.
CAPTURE_MEMORY = 3600


QUIT_KEYS = (ord("q"), 27)  # q and Esc
NEXT_BACKGROUND_KEY = ord("b")


class LiveFeed:
    """The door from the capture thread into the live pipeline, which the config file may
    replace (new matting knobs) while frames flow; it also remembers when each frame was
    captured, so latency is measured from the camera, not from the pipeline's queue."""

    def __init__(self, pipeline: LivePipeline) -> None:
        self._lock = threading.Lock()
        self._pipeline = pipeline
        self._captured: dict[int, float] = {}
        self._submitted = 0
        self._retired = (0, 0)  # network runs and frames matted by pipelines replaced so far

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
            # Beyond the memory (a network slower than a minute): from the frame's submission.
            captured = self._captured.get(result.index,
                                          time.perf_counter() - result.latency_ms / 1000)
            return result, captured

    def stats(self) -> LiveStats:
        with self._lock:
            return self._pipeline.stats()

    def network_share(self) -> tuple[int, int]:
        """(network runs, frames matted) since the start, over every pipeline the feed had."""
        with self._lock:
            stats = self._pipeline.stats()
            return (self._retired[0] + stats.network_calls, self._retired[1] + stats.processed)

    def cut(self) -> None:
        """The source was reopened: start the matte afresh (see `LivePipeline.reset`)."""
        with self._lock:
            self._pipeline.reset()

    def replace(self, pipeline: LivePipeline) -> None:
        """Send the frames to ``pipeline`` from now on, and close the old one."""
        with self._lock:
            old, self._pipeline = self._pipeline, pipeline
            self._captured.clear()
            self._submitted = 0
        old.close()
        stats = old.stats()
        with self._lock:
            self._retired = (self._retired[0] + stats.network_calls,
                             self._retired[1] + stats.processed)

    def close(self) -> None:
        self._pipeline.close()

    def __enter__(self) -> LiveFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    """Every N-th frame, still frames: how often the network runs (not live-configurable)."""
    config: Path | None = None
    preview: bool = False
    duration: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.fps <= 120:
            raise InputError(f"--fps {self.fps:g} is not in 1..120")
        if self.duration is not None and not (self.duration > 0 and math.isfinite(self.duration)):
            raise InputError(f"--duration {self.duration:g} must be a number of seconds above 0")


def settings_from_args(args: argparse.Namespace) -> CameraSettings:
    """The settings the ``camera`` subcommand's flags describe, checked."""
    matting = MattingSettings.from_mapping(vars(args))
    return CameraSettings(
        source=parse_source(args.input),
        size=parse_size(args.size),
        fps=args.fps,
        backend=args.backend,
        virtual_device=args.virtual_device,
        device=args.device,
        scene=SceneSettings(args.background, matting, args.model),
        pipeline=PipelineSettings(every_n=args.every_n, skip_static=args.skip_static),
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
    changes: Changes
    current: SceneSettings
    planned: tuple[SceneSettings, MattingModel]
    """What runs once every change made ready so far is applied: the thread that makes config
    changes ready compares the next file with it, and is the only one to use it."""
    picked: str | None = None
    """The built-in background the preview's key asked for last, until it shows."""


@dataclass
class _ConfigChange:
    """A config file's change, opened and loaded: swapping it in costs no more than starting
    a pipeline thread."""

    running: _Running
    wanted: SceneSettings
    background: Background | None
    model: MattingModel
    restart: bool
    """Whether the pipeline starts again (a new model or new knobs)."""

    def apply(self) -> str:
        running = self.running
        if self.restart:
            running.feed.replace(LivePipeline(self.model.with_settings(self.wanted.matting),
                                              running.settings.pipeline))
        if self.background is not None:
            running.scene.show(self.wanted.background, self.background)
        running.model, running.current = self.model, self.wanted
        return (
            f"camera: applied {running.settings.config} (background {self.wanted.background}, "
            f"model {self.model.name})"
        )

    def discard(self) -> None:
        if self.background is not None:
            self.background.close()


def _prepare_config(running: _Running) -> _ConfigChange:
    """Open what the changed config file asks for (on the changes' thread): everything new is
    opened before anything is swapped, so a file that fails in any part changes nothing, and
    the next file is compared with what will run once this one is applied."""
    settings = running.settings
    assert settings.config is not None  # a change is asked for by the config file's watcher
    wanted = read_config(settings.config, settings.scene)
    planned, planned_model = running.planned
    model = planned_model
    with ExitStack() as opened:
        background = None
        if wanted.background != planned.background:
            background = opened.enter_context(open_background(wanted.background,
                                                              settings.size))
        if wanted.model != planned.model:
            model = MattingModel(wanted.model, settings.device)
            try_model(model, settings.size)
        opened.pop_all()
    restart = model is not planned_model or wanted.matting != planned.matting
    running.planned = (wanted, model)
    return _ConfigChange(running, wanted, background, model, restart)


@dataclass
class _Reloaded:
    """A background file saved again, read again; shown unless the background changed since."""

    scene: Scene
    spec: str
    background: Background

    def apply(self) -> str | None:
        if self.scene.spec != self.spec:
            self.discard()
            return None
        self.scene.show(self.spec, self.background)
        return f"camera: {self.spec} was saved again; reloaded it"

    def discard(self) -> None:
        self.background.close()


@dataclass
class _Picked:
    """A built-in background picked with the preview's key, opened."""

    running: _Running
    spec: str
    background: Background

    def apply(self) -> str:
        self.running.scene.show(self.spec, self.background)
        if self.running.picked == self.spec:
            self.running.picked = None
        return f"camera: background {self.spec}"

    def discard(self) -> None:
        self.background.close()


def _pick(running: _Running, spec: str) -> _Picked:
    """Open the background the preview's key picked, on the changes' thread as a config file's
    (a video's first frame held the frames up on the sending thread), and make it what the
    config file's next version is compared with: a file saved after the key with the
    background it had was taken for no change of background, said "applied" and left the
    picked one on."""
    background = open_background(spec, running.settings.size)
    planned, model = running.planned
    running.planned = (replace(planned, background=spec), model)
    return _Picked(running, spec, background)


def _reload(scene: Scene, spec: str) -> _Reloaded:
    return _Reloaded(scene, spec, open_background(spec, scene.size))


def _status_text(running: _Running, meter: Meter) -> str:
    """The status line; while the source is lost, latency and the network's rate are shown
    as "-", since the last figures measured describe frames from before the loss. So are rates
    before there is one (two frames sent, `MIN_RATE_RESULTS` mattes ready): the first redraws
    read "0.0 fps", which looks like a camera or a network that does not work."""
    sink, waiting, stats = running.sink, running.capture.waiting, running.feed.stats()
    latency = "  -" if waiting else f"{meter.latency_ms():3.0f}"
    sent = "   -" if meter.frames < 2 else f"{meter.fps():4.1f}"
    network = ("   -" if waiting or stats.processed < MIN_RATE_RESULTS
               else f"{stats.network_fps:4.1f}")
    text = (
        f"camera {sent} fps -> {sink.backend} {sink.device} | latency {latency} ms "
        f"| network {network} fps ({running.model.provider}) | {running.scene.spec}"
    )
    return text + (f" | {waiting}" if waiting else "")


def _handle_key(running: _Running, key: int) -> bool:
    """Act on a preview key; False when it asks to stop."""
    if key in QUIT_KEYS:
        return False
    if key == NEXT_BACKGROUND_KEY:
        running.picked = next_builtin(running.picked or running.scene.spec)
        running.changes.ask("preview", partial(_pick, running, running.picked), "background")
    return True


def _frame_failed(error: Exception) -> str:
    """What the camera says when the network fails on a frame (a GPU that ran out of memory, a
    driver reset): the live pipeline goes on with the next frame, and so does the camera, with
    the last picture meanwhile. It ended the camera mid-call with a traceback."""
    return (f"camera: the network failed on a frame ({type(error).__name__}: {error}); the "
            "virtual camera shows the last picture until it works again")


def _loop(running: _Running, meter: Meter, watcher: FileWatch | None) -> None:
    """Composite the newest matte (or repeat the last composite) and send it, once per frame
    period, until the duration is over or the preview asks to stop."""
    duration = running.settings.duration
    started = time.perf_counter()
    shown: LiveResult | None = None
    composite: np.ndarray | None = None
    failing = False  # whether the network's last result was an error (said once per spell)
    scene = running.scene
    while duration is None or time.perf_counter() - started < duration:
        running.capture.check()
        if watcher is not None and watcher.changed():
            running.changes.ask("config", lambda: _prepare_config(running), "settings")
        if scene.saved_again():
            running.changes.ask("background", partial(_reload, scene, scene.spec), "background")
        running.changes.apply_ready()
        try:
            latest = running.feed.latest()
        except Exception as error:  # one frame's, on the pipeline's thread, which goes on
            latest = None
            if not failing:
                failing = True
                running.status.note(_frame_failed(error))
        captured = None
        if latest is not None and latest[0] is not shown:
            if failing:
                failing = False
                running.status.note("camera: the network works again")
            shown, captured = latest
            composite = running.scene.composite(shown.frame, shown.alpha, captured - started)
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
    camera) is released on the way out, whatever the way (a frozen webcam when its read
    returns, `Capture.close`). Errors opening anything are raised before the first frame is
    sent."""
    meter = Meter()
    line = StatusLine(sys.stderr if status is None else status)
    watcher = FileWatch(settings.config, CONFIG_POLL) if settings.config else None
    scene_settings = (read_config(settings.config, settings.scene) if settings.config
                      else settings.scene)  # as ``watcher`` is
    feed: LiveFeed | None = None
    try:
        with ExitStack() as stack:
            # The background, the preview, the source and the virtual camera first: one that
            # cannot be used was refused after a second or more of loading the model. In the
            # try: a SIGTERM while the model loads ended the camera silently, with 143.
            scene = stack.enter_context(Scene(scene_settings.background, settings.size))
            preview = stack.enter_context(Preview()) if settings.preview else None
            capture = stack.enter_context(
                Capture(settings.source, settings.size, settings.fps, line.note)
            )
            sink = stack.enter_context(
                open_sink(
                    sinks, settings.backend, settings.size, settings.fps, settings.virtual_device
                )
            )
            # Seconds (more with a GPU's provider): said, where the terminal stayed silent.
            line.note(f"camera: loading the {scene_settings.model} model...")
            model = MattingModel(scene_settings.model, settings.device)
            try_model(model, settings.size)
            line.note(f"camera: matting with {model.name} on {model.provider}")
            pipeline = LivePipeline(model.with_settings(scene_settings.matting),
                                    settings.pipeline)
            feed = stack.enter_context(LiveFeed(pipeline))
            stack.callback(capture.close)  # its thread stops submitting before the feed closes
            changes = stack.enter_context(Changes(line.note))
            line.note(f"camera: {settings.source} -> {sink.backend} {sink.device}; Ctrl-C stops")
            capture.start(feed.submit, feed.cut)
            running = _Running(settings, model, scene, feed, capture, sink, preview, line,
                               changes, scene_settings, (scene_settings, model))
            _loop(running, meter, watcher)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how the camera is meant to stop: the with block has released it all
    finally:
        line.finish()
    return meter.summary(feed.network_share() if feed else (0, 0))


def run(args: argparse.Namespace, sinks: SinkRegistry | None = None) -> int:
    """``obs-bgremover camera``: serve the virtual camera, then print what reached it.

    ``sinks`` replaces the virtual cameras (tests). A stop by Ctrl-C is a success (exit
    status 0)."""
    settings = settings_from_args(args)
    sinks = virtual_cameras() if sinks is None else sinks
    # The errors raised here say what OpenCV's warnings about a missing device would, and the
    # camera's own lines what FFmpeg's would (a source refused or lost); those, written past
    # Python ("[png @ 0x...] Invalid PNG signature", "corrupted macroblock" from a stalled
    # pipe), broke into the status line. (The camera's process: nothing else reads them.)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET)
    print(f"camera: {serve(settings, sinks)}")
    return 0
