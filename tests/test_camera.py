"""`obs-bgremover camera` end to end: a DAVIS clip played as the webcam, the real model and
decoders, and a recording sink with `pyvirtualcam.Camera`'s interface (no v4l2loopback device
exists here). The other fake is a webcam behind `cv2.VideoCapture`'s interface, for what a
file cannot do: fail right after each open, or freeze in a read.

One run of the command is shared by several tests (it costs seconds); each test checks one
property of it. Driven runs (`_drive`) act on the camera while it runs and stop it when done. A
subprocess run checks Ctrl-C, and `main` checks every error message.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from clip_writer import write_clip
from support import broken_graph

from obs_bgremover import camera, media
from obs_bgremover.camera import app, sinks
from obs_bgremover.camera import capture as capture_module
from obs_bgremover.camera.capture import Capture, parse_source
from obs_bgremover.camera.scene import SceneSettings, read_config
from obs_bgremover.cli import build_parser, main
from obs_bgremover.errors import BgRemoverError

GREEN = (0, 177, 64)
BLUE = (0, 0, 255)
TESTS = Path(__file__).resolve().parent
FPS = 30
SIZE = "854x480"
# The shared run: its length, when the test rewrites its config file with a new background,
# and when it adds a new model to it.
RUN_SECONDS = 12.0
CONFIG_CHANGE_AT = 6.0
MODEL_CHANGE_AT = 8.0
# Every STORE_EVERY-th frame sent is kept whole; every frame is kept as a thumbnail.
STORE_EVERY = 4
THUMB = (107, 60)
# The longest a driven run (`_drive`) may last, and the longest it waits for a message, in seconds.
DRIVE_LIMIT = 90
WAIT_LIMIT = 30
# How long a frozen `FakeWebcam` read blocks at most, in seconds.
FROZEN_FOR = 20
# How far behind its schedule the recording sink still catches up, in seconds.
CATCH_UP = 0.5
# Composites of the first source frames after the clip's loop point: the point is a cut, which the
# temporal smoothing takes a few frames to follow (the feet fade for a moment).
AFTER_CUT = 6


class RecordingSink:
    """A virtual camera that keeps what it is sent, with `pyvirtualcam.Camera`'s interface.

    `sleep_until_next_frame` keeps the average rate, as pyvirtualcam's adaptive sleep aims to:
    deadlines lie 1/fps apart on one schedule, and a frame sent late is followed by shorter
    sleeps until the schedule is met again (up to `CATCH_UP` seconds behind it)."""

    def __init__(
        self, width: int, height: int, fps: float, *, device: str | None = None,
        backend: str | None = None,
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.device = device or "recorder"
        self.backend = backend or "record"
        self.times: list[float] = []
        self.thumbs: list[np.ndarray] = []
        self.frames: dict[int, np.ndarray] = {}
        self.closed = False
        self._due = 0.0

    def send(self, frame: np.ndarray) -> None:
        assert not self.closed
        assert frame.shape == (self.height, self.width, 3) and frame.dtype == np.uint8
        if not self.times:
            self._due = time.perf_counter()
        if len(self.times) % STORE_EVERY == 0:
            self.frames[len(self.times)] = frame.copy()
        self.thumbs.append(cv2.resize(frame, THUMB, interpolation=cv2.INTER_AREA))
        self.times.append(time.perf_counter())

    def sleep_until_next_frame(self) -> None:
        self._due += 1 / self.fps
        delay = self._due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -CATCH_UP:
            self._due = time.perf_counter()

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> RecordingSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoggingSink(RecordingSink):
    """A `RecordingSink` for a subprocess: it writes open, send and close events, one JSON
    line each, to the file named as its device."""

    def __init__(self, width: int, height: int, fps: float, **names: str | None) -> None:
        super().__init__(width, height, fps, **names)
        self._log = open(self.device, "a", buffering=1)  # noqa: SIM115 - closed by close()
        self._write("open")

    def _write(self, event: str) -> None:
        self._log.write(json.dumps({"event": event, "time": time.perf_counter()}) + "\n")

    def send(self, frame: np.ndarray) -> None:
        self._write("send")

    def close(self) -> None:
        self._write("close")
        self._log.close()


class NoDevice:
    """A backend that fails as pyvirtualcam's does when no virtual camera is installed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("'v4l2loopback' backend: No v4l2 loopback device found")


class BusyDevice:
    """A backend that fails as pyvirtualcam's does when the device named (or each) is in use."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError(f"'v4l2loopback' backend: device {kwargs['device']} is busy")


# Registries in place of the virtual cameras: for `main` (monkeypatched) and a subprocess
# (`camera_recorded.py`).
LOGGING_SINKS = {"record": LoggingSink}
NO_BACKENDS = {"v4l2loopback": NoDevice}
BUSY_BACKENDS = {"v4l2loopback": BusyDevice}


@dataclass
class Sequence:
    clip: Path
    frames: np.ndarray
    """The source frames, RGB, as the clip holds them."""
    person: np.ndarray
    """Ground truth, boolean, per frame."""


def _inner(mask: np.ndarray, pixels: int = 12) -> np.ndarray:
    """The mask shrunk by a few pixels: where the answer does not depend on the exact edge."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * pixels + 1,) * 2, np.uint8)) > 0


@pytest.fixture(scope="module")
def lucia(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Sequence:
    """DAVIS 'lucia' encoded as a 30 fps MP4, its decoded frames and its masks."""
    folder = shared_data / "davis-person" / "lucia"
    names = sorted(path.name for path in (folder / "frames").glob("*.jpg"))
    frames = [cv2.imread(str(folder / "frames" / name))[..., ::-1] for name in names]
    clip = write_clip(tmp_path_factory.mktemp("camera") / "lucia.mp4", frames, FPS)
    capture = cv2.VideoCapture(str(clip))
    decoded = [frame[..., ::-1] for ok, frame in iter(capture.read, (False, None)) if ok]
    capture.release()
    masks = [cv2.imread(str(folder / "masks" / n.replace(".jpg", ".png")), 0) for n in names]
    return Sequence(clip, np.stack(decoded), np.stack(masks) > 127)


def _args(*argv: object) -> object:
    return build_parser().parse_args(["camera", *map(str, argv)])


def _run(
    sink_box: list[RecordingSink], *argv: object, timers: tuple[threading.Timer, ...] = ()
) -> int:
    """Run the command in this process with a recording sink, put into ``sink_box``; the
    ``timers`` start when the sink opens (the source is open then, the first frame is near)."""

    def open_recorder(*args: object, **kwargs: object) -> RecordingSink:
        sink_box.append(RecordingSink(*args, **kwargs))
        for timer in timers:
            timer.start()
        return sink_box[-1]

    return camera.run(_args(*argv), sinks={"record": open_recorder})


class StoppingSink(RecordingSink):
    """A `RecordingSink` that stops the camera as Ctrl-C does once ``stop`` is set, so that a
    test runs it for as long as its steps take rather than for a guessed time."""

    def __init__(self, stop: threading.Event, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.stop = stop

    def send(self, frame: np.ndarray) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        super().send(frame)


def _drive(
    steps: Callable[[RecordingSink, io.StringIO], None], *argv: object, terminal: bool = False
) -> tuple[RecordingSink, str]:
    """Run the command in this process while ``steps`` acts on it from a thread of its own,
    started when the sink opens, given the sink and the messages printed so far (on a
    `Terminal`, with the status line, if ``terminal``). The camera stops when ``steps``
    returns; a failure in ``steps`` fails the test. Returns the sink and the messages."""
    messages = Terminal() if terminal else io.StringIO()
    box: list[RecordingSink] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def run_steps() -> None:
        try:
            steps(box[0], messages)
        except BaseException as err:  # raised again on the test's thread
            failures.append(err)
        finally:
            stop.set()

    def open_stopping(*args: object, **kwargs: object) -> RecordingSink:
        box.append(StoppingSink(stop, *args, **kwargs))
        threading.Thread(target=run_steps, daemon=True).start()
        return box[0]

    with contextlib.redirect_stderr(messages):
        status = camera.run(_args(*argv, "--duration", DRIVE_LIMIT),
                            sinks={"record": open_stopping})
    if failures:
        raise failures[0]
    assert status == 0 and stop.is_set(), messages.getvalue()
    return box[0], messages.getvalue()


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition`` holds (generously: the machine is noisy)."""
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _sending(sink: RecordingSink, frames: int = 10) -> None:
    """Wait until the camera has sent ``frames`` more frames."""
    sent = len(sink.times)
    _wait_until(lambda: len(sink.times) >= sent + frames, "the camera goes on sending")


def _wait_for(messages: io.StringIO, text: str, count: int = 1) -> None:
    """Wait until ``text`` has been printed ``count`` times (generously: the machine is noisy)."""
    _wait_until(lambda: messages.getvalue().count(text) >= count,
                f"no {text!r} in {messages.getvalue()!r}")


class FakeWebcam:
    """Webcam index 0 (and any other), standing in for the real one behind `cv2.VideoCapture`'s
    interface: the `webcam` fixture installs `open` in its place for integer targets (files go
    to the real class). Each opened capture plays ``frames`` (BGR) at `FPS`; ``mode`` says what
    reads do from now on: "ok"; "unplugged" (reads and opens fail until it is "ok" again);
    "flaky" (each open gives its first frame, then reads fail); "frozen" (a read blocks, as
    OpenCV's does for a webcam that stopped sending, until `thaw` or `FROZEN_FOR` seconds)."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.mode = "ok"
        self.opens = 0
        self.frozen = threading.Event()
        """Set when a read has blocked."""
        self._thaw = threading.Event()

    def open(self) -> FakeWebcam.Capture:
        self.opens += 1
        return FakeWebcam.Capture(self)

    def thaw(self) -> None:
        self._thaw.set()

    class Capture:
        def __init__(self, webcam: FakeWebcam) -> None:
            self.webcam = webcam
            self.reads = 0
            self.due = time.monotonic()

        def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
            return self.webcam.mode != "unplugged"

        def set(self, prop: int, value: float) -> bool:
            return True

        def get(self, prop: int) -> float:
            return FPS if prop == cv2.CAP_PROP_FPS else 0.0

        def read(self) -> tuple[bool, np.ndarray | None]:
            mode = self.webcam.mode
            if mode == "frozen":
                self.webcam.frozen.set()
                self.webcam._thaw.wait(FROZEN_FOR)
                return False, None
            if mode == "unplugged" or (mode == "flaky" and self.reads):
                return False, None
            self.due = max(self.due + 1 / FPS, time.monotonic())
            time.sleep(max(0.0, self.due - time.monotonic()))
            self.reads += 1
            return True, self.webcam.frames[self.reads % len(self.webcam.frames)]

        def release(self) -> None:
            pass


@pytest.fixture
def webcam(lucia: Sequence, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWebcam]:
    """A `FakeWebcam` in place of every webcam, showing the clip's frames."""
    fake = FakeWebcam([frame[..., ::-1] for frame in lucia.frames])
    real = cv2.VideoCapture

    def video_capture(target: int | str, *backend: int) -> object:
        return fake.open() if isinstance(target, int) else real(target, *backend)

    monkeypatch.setattr(cv2, "VideoCapture", video_capture)
    yield fake
    fake.thaw()  # a read still blocked returns, so that its thread ends


class Terminal(io.StringIO):
    """Standard error as a terminal, where the camera draws its status line."""

    def isatty(self) -> bool:
        return True


@dataclass
class Run:
    sink: RecordingSink
    status: int
    changed_at: float
    """When the config file was rewritten (perf_counter)."""
    threads_after: list[str]
    messages: str
    """What the command printed on standard error (its status notes)."""


@pytest.fixture(scope="module")
def green_then_blue(lucia: Sequence, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The camera on the clip for `RUN_SECONDS`, over green, then over blue from a config
    change made `CONFIG_CHANGE_AT` seconds in, then with the landscape model too."""
    config = tmp_path_factory.mktemp("config") / "camera.json"
    config.write_text(json.dumps({"background": "color:#00B140"}))
    blue = {"background": "color:#0000FF", "threshold": 0.6}
    changed: list[float] = []

    def change(values: dict[str, object]) -> None:
        config.write_text(json.dumps(values))
        changed.append(time.perf_counter())

    timers = (threading.Timer(CONFIG_CHANGE_AT, change, [blue]),
              threading.Timer(MODEL_CHANGE_AT, change, [{**blue, "model": "landscape"}]))
    box: list[RecordingSink] = []
    messages = io.StringIO()
    with contextlib.redirect_stderr(messages):
        status = _run(
            box, "--input", lucia.clip, "--size", SIZE, "--fps", FPS, "--config", config,
            "--duration", RUN_SECONDS, timers=timers,
        )
    for timer in timers:
        timer.join()
    return Run(box[0], status, changed[0], [t.name for t in threading.enumerate()],
               messages.getvalue())


def _source_index(frame: np.ndarray, lucia: Sequence) -> int:
    """Which source frame a composite shows: the one whose person it matches best."""
    small = cv2.resize(frame, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA).astype(int)
    errors = []
    for source, person in zip(lucia.frames, lucia.person, strict=True):
        inside = cv2.resize(_inner(person).astype(np.uint8), small.shape[1::-1]) > 0
        shrunk = cv2.resize(source, small.shape[1::-1], interpolation=cv2.INTER_AREA)
        errors.append(np.abs(small[inside] - shrunk[inside]).mean())
    return int(np.argmin(errors))


def _share_of(frame: np.ndarray, colour: tuple[int, int, int], where: np.ndarray) -> float:
    return float(np.all(np.abs(frame.astype(int) - colour) <= 8, axis=2)[where].mean())


def test_runs_for_the_duration_and_exits_0(green_then_blue: Run) -> None:
    times = green_then_blue.sink.times
    assert green_then_blue.status == 0
    assert RUN_SECONDS - 1.5 < times[-1] - times[0] < RUN_SECONDS


def test_frames_reaching_the_sink_carry_the_new_background(
    green_then_blue: Run, lucia: Sequence
) -> None:
    sink = green_then_blue.sink
    before = [i for i in sink.frames if sink.times[i] < green_then_blue.changed_at and i > 15]
    assert len(before) >= 10
    for i in before[:: max(1, len(before) // 8)]:
        frame = sink.frames[i]
        k = _source_index(frame, lucia)
        assert _share_of(frame, GREEN, _inner(~lucia.person[k])) > 0.95, f"frame {i} (source {k})"
        unchanged = np.abs(frame.astype(int) - lucia.frames[k]).max(axis=2) <= 12
        if k >= AFTER_CUT:
            assert unchanged[_inner(lucia.person[k])].mean() > 0.95, f"frame {i} (source {k})"


def test_pacing_holds_the_requested_fps_over_10_s(green_then_blue: Run) -> None:
    times = np.array(green_then_blue.sink.times)
    window = times[times > times[0] + 1.0]  # after the first second
    assert window[-1] - window[0] >= 9.5
    fps = (len(window) - 1) / (window[-1] - window[0])
    assert fps == pytest.approx(FPS, rel=0.05)


def test_config_change_takes_effect_within_a_second(green_then_blue: Run) -> None:
    sink, changed_at = green_then_blue.sink, green_then_blue.changed_at
    blue = [_share_of(thumb, BLUE, np.ones(thumb.shape[:2], bool)) > 0.2 for thumb in sink.thumbs]
    first = blue.index(True)
    assert sink.times[first] - changed_at < 1.0
    assert all(blue[first:]), "every frame after the change shows the new background"
    assert not any(blue[:first])


def test_config_change_switches_the_model(green_then_blue: Run) -> None:
    assert "matting with general" in green_then_blue.messages
    assert "model landscape" in green_then_blue.messages


def test_a_slow_change_does_not_hold_up_the_frames(
    lucia: Sequence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A background that takes long to open (a long video; a model loading is the same) is
    opened beside the frames: the camera goes on sending new composites over the old
    background meanwhile, and shows the new one once it is open."""
    config = tmp_path / "camera.toml"
    config.write_text('background = "color:#00B140"\n')
    opening, opened = threading.Event(), threading.Event()
    real_open = app.open_background

    def slow_open(spec: str, size: tuple[int, int]) -> object:
        opening.set()
        opened.wait(WAIT_LIMIT + 5)
        return real_open(spec, size)

    monkeypatch.setattr(app, "open_background", slow_open)
    everywhere = np.ones(THUMB[::-1], bool)

    def steps(sink: RecordingSink, messages: io.StringIO) -> None:
        config.write_text('background = "color:#0000FF"\n')
        _wait_until(opening.is_set, "the config change opens its background")
        sent = len(sink.times)
        try:
            _sending(sink, 30)
        finally:
            during = sink.thumbs[sent:]
            opened.set()
        assert all(_share_of(thumb, GREEN, everywhere) > 0.2 for thumb in during)
        moving = sum(not np.array_equal(a, b) for a, b in zip(during, during[1:], strict=False))
        assert moving >= 5, f"only {moving} new composites in 30 frames"
        _wait_for(messages, "camera: applied")
        _sending(sink)
        assert _share_of(sink.thumbs[-1], BLUE, everywhere) > 0.2

    _drive(steps, "--input", lucia.clip, "--size", SIZE, "--config", config)


def test_everything_is_released(green_then_blue: Run) -> None:
    assert green_then_blue.sink.closed
    assert not [name for name in green_then_blue.threads_after if name.startswith("obs-bgremover")]


def _network_share(lucia: Sequence, tmp_path: Path, *flags: object,
                   still: Path | None = None) -> tuple[int, int]:
    """(network runs, frames matted) the camera reports after 4 s on a still picture (by
    default a 5 s clip: no loop point, where the source restarts, within the run)."""
    if still is None:
        still = write_clip(tmp_path / "still.mp4", [lucia.frames[0]] * (5 * FPS), FPS)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert _run([], "--input", still, "--size", SIZE, "--duration", 4, *flags) == 0
    found = re.search(r"the network ran on (\d+) of (\d+) frames matted", out.getvalue())
    assert found, out.getvalue()
    return int(found[1]), int(found[2])


def test_skip_static_leaves_the_network_idle_on_a_still_picture(
    lucia: Sequence, tmp_path: Path
) -> None:
    runs, matted = _network_share(lucia, tmp_path)
    assert matted >= 30 and runs == matted, f"without --skip-static: {runs} of {matted}"
    runs, matted = _network_share(lucia, tmp_path, "--skip-static")
    assert matted >= 30 and runs <= 0.05 * matted, f"with --skip-static: {runs} of {matted}"


def test_a_picture_as_input_is_a_still(lucia: Sequence, tmp_path: Path) -> None:
    """A picture is a video of one frame, which was reopened at each of its ends: every frame
    was a new shot, matted afresh, whatever --skip-static said."""
    picture = tmp_path / "still.png"
    cv2.imwrite(str(picture), cv2.cvtColor(lucia.frames[0], cv2.COLOR_RGB2BGR))
    runs, matted = _network_share(lucia, tmp_path, "--skip-static", still=picture)
    assert matted >= 30 and runs <= 2, f"a picture with --skip-static: {runs} of {matted}"


def test_every_n_runs_the_network_on_every_nth_frame(lucia: Sequence, tmp_path: Path) -> None:
    runs, matted = _network_share(lucia, tmp_path, "--every-n", 3)
    assert matted >= 30 and abs(runs - matted / 3) <= 1, f"--every-n 3: {runs} of {matted}"


def test_a_lower_fps_than_the_source_s_mattes_no_more_frames(lucia: Sequence,
                                                             tmp_path: Path) -> None:
    """A source faster than --fps (a file, a webcam that ignores the rate asked) had every
    frame matted: at --fps 5, 95 network runs for 29 frames sent. Twice --fps a second, at
    most, so that the camera never sends a result twice for want of one."""
    runs, matted = _network_share(lucia, tmp_path, "--fps", 5)
    assert runs == matted and 30 <= matted <= 45, f"--fps 5 for 4 s: {matted} matted"


def test_a_lost_source_is_reopened_when_it_returns(lucia: Sequence, tmp_path: Path) -> None:
    """The clip (1 s long) vanishes before its end and comes back 0.6 s later: the camera keeps
    sending the last picture meanwhile (saying why), retries without spinning, and plays on
    once it returns."""
    clip = write_clip(tmp_path / "short.mp4", list(lucia.frames[:30]), FPS)
    away = tmp_path / "away.mp4"
    box: list[RecordingSink] = []
    timers = (
        threading.Timer(0.5, clip.rename, [away]),
        threading.Timer(1.6, away.rename, [clip]),
    )
    cpu = time.process_time()
    with contextlib.redirect_stderr(io.StringIO()) as said:
        status = _run(box, "--input", clip, "--size", SIZE, "--background", "color:#00B140",
                      "--duration", 3.5, timers=timers)
    for timer in timers:
        timer.join()
    assert status == 0
    # Said as gone, not as a file FFmpeg cannot decode.
    assert f"cannot play video file {clip}: it does not exist" in said.getvalue(), said.getvalue()
    sink = box[0]
    times = np.array(sink.times)
    thumbs = np.stack(sink.thumbs)
    moving = np.any(thumbs[1:] != thumbs[:-1], axis=(1, 2, 3))
    still = moving[(times[1:] > times[0] + 1.25) & (times[1:] < times[0] + 1.55)]
    assert not still.any(), "while the clip is away the last picture is repeated"
    assert moving[times[1:] > times[0] + 2.5].sum() >= 5, "the clip plays again"
    assert len(times) > 0.9 * 3.5 * FPS, "the virtual camera keeps its rate meanwhile"
    assert time.process_time() - cpu < 3.5 * 2, "no core was kept busy"


def test_a_background_file_saved_again_is_shown(lucia: Sequence, tmp_path: Path) -> None:
    """A streamer edits the background picture while the camera runs: the new version shows
    within two seconds (a look a second, and a second look to see it settled), and a
    version that cannot be read keeps the last one on screen, said once."""
    picture = tmp_path / "room.png"
    width, height = (int(n) for n in SIZE.split("x"))
    cv2.imwrite(str(picture), np.full((height, width, 3), GREEN[::-1], np.uint8))

    def save(pixels: bytes) -> None:
        staged = tmp_path / "staged.png"
        staged.write_bytes(pixels)
        staged.replace(picture)

    blue = cv2.imencode(".png", np.full((height, width, 3), BLUE[::-1], np.uint8))[1].tobytes()
    timers = (threading.Timer(0.5, save, [blue]), threading.Timer(3.5, save, [b"not a png"]))
    box: list[RecordingSink] = []
    messages = io.StringIO()
    with contextlib.redirect_stderr(messages):
        status = _run(box, "--input", lucia.clip, "--size", SIZE, "--background", picture,
                      "--duration", 6.5, timers=timers)
    for timer in timers:
        timer.join()
    assert status == 0
    times = np.array(box[0].times) - box[0].times[0]
    everywhere = np.ones(THUMB[::-1], bool)
    green = np.array([_share_of(thumb, GREEN, everywhere) for thumb in box[0].thumbs])
    blue = np.array([_share_of(thumb, BLUE, everywhere) for thumb in box[0].thumbs])
    assert (green[times < 0.45] > 0.2).all()
    assert (blue[times > 3.0] > 0.2).all(), "the new version, and it stays"
    assert messages.getvalue().count("was saved again; reloaded it") == 1
    assert messages.getvalue().count("keeping the current background") == 1


@pytest.mark.parametrize("stops", [[signal.SIGINT], [signal.SIGTERM],
                                   [signal.SIGINT, signal.SIGTERM]],
                         ids=["ctrl-c", "sigterm", "two-at-once"])
def test_a_stop_exits_0_and_releases_everything(stops: list[signal.Signals], lucia: Sequence,
                                                tmp_path: Path) -> None:
    """Ctrl-C, or SIGTERM from a service manager, is how the camera is meant to stop. Signals
    back to back (Ctrl-C pressed twice, a SIGTERM after a SIGINT) once cut the release short:
    the virtual camera was left open, and the process aborted (134) or ended 143."""
    log = tmp_path / "sink.jsonl"
    env = {
        **os.environ,
        # This module, which holds the sink, and the scripts folder it imports from.
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent / "scripts")]),
    }
    process = subprocess.Popen(
        [sys.executable, str(TESTS / "camera_recorded.py"), "camera", "--input", str(lucia.clip),
         "--size", SIZE, "--virtual-device", str(log), "-b", "color:#00B140"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            not log.exists() or log.read_text().count('"send"') < 15
        ):
            time.sleep(0.1)
        for stop in stops:
            process.send_signal(stop)
        out, err = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, err
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events[0] == "open" and events[-1] == "close" and events.count("send") >= 15
    assert "sent" in out and "fps" in out


def _error(capsys: pytest.CaptureFixture[str], *argv: object) -> str:
    assert main(["camera", *map(str, argv)]) != 0
    return capsys.readouterr().err


def test_ffmpeg_s_own_lines_stay_off_the_terminal(tmp_path: Path) -> None:
    """Written past Python, "[png @ 0x...] Invalid PNG signature" (and, from a stalled pipe,
    "corrupted macroblock") broke into the status line; the camera says what they mean. In a
    process of its own: OpenCV reads FFmpeg's log level once, at its first use of it."""
    fake = tmp_path / "fake.png"
    fake.write_text("not a picture")
    env = {name: value for name, value in os.environ.items()
           if name != "OPENCV_FFMPEG_LOGLEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "obs_bgremover", "camera", "--input", str(fake), "--size", SIZE],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "fake.png" in result.stderr, result.stderr
    assert "@ 0x" not in result.stderr, result.stderr


@pytest.fixture
def model_unloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails a test whose camera loads the model: a source or virtual camera it cannot use was
    refused only after a second or more of loading it."""
    def load(*args: object) -> None:
        raise AssertionError("the model was loaded before the devices were checked")
    monkeypatch.setattr(app, "MattingModel", load)


def test_no_webcam_at_that_index(capsys: pytest.CaptureFixture[str], model_unloaded: None) -> None:
    message = _error(capsys, "--input", 7)
    assert "no webcam at index 7" in message and "--input" in message


def test_a_device_that_gives_no_frames_is_called_busy(capsys: pytest.CaptureFixture[str]) -> None:
    message = _error(capsys, "--input", "/dev/null")
    assert "busy" in message and "close that app" in message


@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_input_is_named(capsys: pytest.CaptureFixture[str], empty: str) -> None:
    assert "--input is empty" in _error(capsys, "--input", empty)


def test_unsupported_size(capsys: pytest.CaptureFixture[str], lucia: Sequence) -> None:
    message = _error(capsys, "--input", lucia.clip, "--size", "0x0")
    assert "unsupported size 0x0" in message and "1280x720" in message


def test_no_virtual_camera_backend(
    capsys: pytest.CaptureFixture[str], lucia: Sequence, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, model_unloaded: None,
) -> None:
    monkeypatch.setattr(app, "virtual_cameras", lambda: NO_BACKENDS)
    monkeypatch.setattr(sinks, "LOOPBACK_MODULE", tmp_path / "v4l2loopback")  # not loaded
    message = _error(capsys, "--input", lucia.clip, "--size", SIZE)
    assert "no virtual camera could be opened" in message
    assert "No v4l2 loopback device found" in message
    assert "modprobe v4l2loopback" in message


@pytest.mark.skipif(sys.platform != "linux", reason="v4l2loopback is Linux's")
@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("/dev/video10", "/dev/video10 is not a v4l2loopback device, or another program is "
         "sending to it"),
        (None, "stop the program that sends to the v4l2loopback device"),
    ],
    ids=["named", "any"],
)
def test_a_busy_or_wrong_virtual_device_gets_no_install_advice(
    capsys: pytest.CaptureFixture[str], lucia: Sequence, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, device: str | None, expected: str,
) -> None:
    """With v4l2loopback loaded, installing it fixes nothing: the device is the problem."""
    monkeypatch.setattr(app, "virtual_cameras", lambda: BUSY_BACKENDS)
    monkeypatch.setattr(sinks, "LOOPBACK_MODULE", tmp_path)  # a folder, as when it is loaded
    named = ["--virtual-device", device] if device else []
    message = _error(capsys, "--input", lucia.clip, "--size", SIZE, *named)
    assert expected in message and "v4l2-ctl --list-devices" in message, message
    assert "--virtual-device" in message and "install" not in message, message


@pytest.mark.skipif(
    sys.platform != "linux" or bool(glob.glob("/dev/video*")),
    reason="shows pyvirtualcam's own failure on a Linux machine without video devices",
)
def test_no_v4l2loopback_with_the_real_virtual_cameras(
    capsys: pytest.CaptureFixture[str], lucia: Sequence
) -> None:
    message = _error(capsys, "--input", lucia.clip, "--size", SIZE)
    assert "v4l2loopback" in message and "sudo modprobe v4l2loopback" in message


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--backend", "v4l2loopback" if sys.platform != "linux" else "obs"], "not available"),
        (["--background", "transparent"], "no alpha channel"),
        (["--preview"], "--preview needs OpenCV with a GUI"),
    ],
)
def test_other_errors_name_their_fix(
    capsys: pytest.CaptureFixture[str], lucia: Sequence, argv: list[str], expected: str,
    model_unloaded: None,
) -> None:
    if argv == ["--preview"] and not re.search(r"GUI: +NONE", cv2.getBuildInformation()):
        pytest.skip("this OpenCV has a GUI")
    assert expected in _error(capsys, "--input", lucia.clip, "--size", SIZE, *argv)


def test_a_background_it_cannot_show_is_refused_before_the_model_loads(
    capsys: pytest.CaptureFixture[str], lucia: Sequence
) -> None:
    """``-b transparent`` was refused once the model had loaded, seconds later."""
    message = _error(capsys, "--input", lucia.clip, "--size", SIZE, "--background", "transparent")
    assert "no alpha channel" in message and "matting with" not in message


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--duration", "nan", "--duration nan must be a number of seconds above 0"),
        ("--duration", "inf", "--duration inf must be a number of seconds above 0"),
        ("--duration", "0", "--duration 0 must be a number of seconds above 0"),
        ("--fps", "nan", "--fps nan is not in 1..120"),
        ("--fps", "inf", "--fps inf is not in 1..120"),
    ],
)
def test_numbers_that_are_no_numbers_are_refused(
    capsys: pytest.CaptureFixture[str], lucia: Sequence, flag: str, value: str, expected: str
) -> None:
    assert expected in _error(capsys, "--input", lucia.clip, "--size", SIZE, flag, value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read config file {path}: No such file or directory"),
        ("{not json", "cannot read config file {path}: Expecting property name"),
        ('{"threshold": 2}',
         "config file {path}: threshold must be a number above 0 and below 1, got 2.0"),
        ('{"band": "wide"}', "config file {path}: band must be a number, got 'wide'"),
        ('{"band": 1%s}' % ("0" * 400),
         "config file {path}: band must be a number, got one of 401 digits"),
    ],
    ids=["missing", "not-json", "knob-out-of-range", "knob-not-a-number", "knob-too-large"],
)
def test_a_bad_config_file_is_named(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "camera.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BgRemoverError) as caught:
        read_config(path, SceneSettings())
    assert str(caught.value).startswith(message.format(path=path))


def test_a_config_file_that_fails_in_one_part_changes_nothing(
    lucia: Sequence, tmp_path: Path
) -> None:
    """A file with a background that does not open changes neither the model nor the knobs it
    also names; the next good file is then compared with what really runs."""
    config = tmp_path / "camera.toml"
    config.write_text('background = "color:#00B140"\n')

    def steps(sink: RecordingSink, messages: io.StringIO) -> None:
        config.write_text(
            f'background = "{tmp_path / "nosuch.png"}"\nmodel = "landscape"\nthreshold = 0.95\n'
        )
        _wait_for(messages, "keeping the current settings")
        config.write_text('background = "color:#0000FF"\n')
        _wait_for(messages, "camera: applied")

    _, messages = _drive(steps, "--input", lucia.clip, "--size", SIZE, "--config", config)
    assert "model general" in messages and "landscape" not in messages, messages


@pytest.mark.parametrize("kind", ["fails", "wrong-size"])
def test_a_model_that_loads_and_does_not_work_changes_nothing(
    lucia: Sequence, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A custom graph that loads and fails on frames (one of a fixed input size, say), named
    in the config file, replaced the model that worked and stopped the stream with a
    traceback; named with --model, it ended the camera with one."""
    graph = broken_graph(tmp_path / "graph.onnx", kind)
    config = tmp_path / "camera.toml"
    config.write_text('background = "color:#00B140"\n')

    def steps(sink: RecordingSink, messages: io.StringIO) -> None:
        config.write_text(f'background = "color:#0000FF"\nmodel = "{graph}"\n')
        _wait_for(messages, "keeping the current settings")
        _sending(sink)

    _, messages = _drive(steps, "--input", lucia.clip, "--size", SIZE, "--config", config)
    assert "model graph" not in messages.split("keeping the current settings")[-1], messages
    monkeypatch.setattr(app, "virtual_cameras", lambda: {"record": RecordingSink})
    message = _error(capsys, "--input", lucia.clip, "--size", SIZE, "--model", graph)
    assert "graph" in message and "Traceback" not in message, message


def test_a_config_number_too_large_is_refused_at_start(
    capsys: pytest.CaptureFixture[str], lucia: Sequence, tmp_path: Path
) -> None:
    config = tmp_path / "camera.toml"
    config.write_text("band = 1" + "0" * 400 + "\n")
    message = _error(capsys, "--input", lucia.clip, "--size", SIZE, "--config", config)
    assert "band must be a number" in message and "Traceback" not in message


def test_no_live_config_error_stops_the_camera(
    lucia: Sequence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A number no float holds is a bad file like any other; even a bug met while applying a
    file is reported, said to be one, and the camera goes on sending."""
    config = tmp_path / "camera.toml"
    config.write_text('background = "color:#00B140"\n')

    def broken(spec: str, size: tuple[int, int]) -> None:
        raise RuntimeError("a stand-in for a bug")

    monkeypatch.setattr(app, "open_background", broken)  # the one a config change opens with

    def steps(sink: RecordingSink, messages: io.StringIO) -> None:
        config.write_text("band = 1" + "0" * 400 + "\n")
        _wait_for(messages, "band must be a number")
        config.write_text('background = "color:#0000FF"\n')
        _wait_for(messages, "RuntimeError: a stand-in for a bug")
        _sending(sink)

    _, messages = _drive(steps, "--input", lucia.clip, "--size", SIZE, "--config", config)
    assert "this is a bug in obs-bgremover" in messages


def test_a_webcam_that_fails_after_each_open_is_retried_with_backoff(webcam: FakeWebcam) -> None:
    """A webcam that opens and then fails at once waits out the doubling retries rather than
    being reopened in a busy loop, is reported once, and is called back once it works."""

    def steps(sink: RecordingSink, messages: io.StringIO) -> None:
        _sending(sink)
        first = webcam.opens
        webcam.mode = "flaky"
        time.sleep(2.0)  # one reopen at once, then retries 0.25, 0.75 and 1.75 s later at most
        opens = webcam.opens - first
        assert opens <= 4, f"{opens} opens in 2 s"
        _wait_for(messages, "stopped giving frames soon after it opened")
        webcam.mode = "ok"
        _wait_for(messages, "camera: webcam 0 is back")
        _sending(sink)

    _, messages = _drive(steps, "--input", 0, "--size", SIZE, "-b", "color:#00B140")
    assert messages.count("soon after it opened") == 1, messages


def test_ctrl_c_stops_the_camera_while_a_webcam_read_hangs(webcam: FakeWebcam) -> None:
    stopped: list[float] = []

    def steps(sink: RecordingSink, messages: io.StringIO) -> None:
        _sending(sink)
        webcam.mode = "frozen"
        _wait_until(webcam.frozen.is_set, "the webcam froze")
        stopped.append(time.monotonic())

    _, messages = _drive(steps, "--input", 0, "--size", SIZE, "-b", "color:#00B140")
    assert time.monotonic() - stopped[0] < FROZEN_FOR / 2, "the stop did not wait for the read"
    assert "camera: webcam 0 is not responding" in messages


def test_a_lost_webcam_is_reported_and_its_stale_figures_blanked(webcam: FakeWebcam) -> None:
    def steps(sink: RecordingSink, messages: io.StringIO) -> None:
        _sending(sink)
        webcam.mode = "unplugged"
        _wait_for(messages, "until webcam 0 is back")
        _wait_for(messages, "retrying in")  # on the status line
        webcam.mode = "ok"
        _wait_for(messages, "camera: webcam 0 is back")
        _sending(sink)

    _, messages = _drive(steps, "--input", 0, "--size", SIZE, "-b", "color:#00B140",
                         terminal=True)
    lines = re.split(r"[\r\n]", messages)
    assert [line for line in lines if re.search(r"latency +\d", line)], "figures before and after"
    waiting = [line for line in lines if "retrying in" in line]
    assert waiting and not [line for line in waiting if re.search(r"(latency|network) +\d", line)]
    assert messages.count("until webcam 0 is back") == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("camera.json", '\ufeff{"threshold": 0.6}'),
        ("camera.toml", "\ufeffthreshold = 0.6"),
        ("camera.TOML", "threshold = 0.6"),
        ("camera.Json", '{"threshold": 0.6}'),
    ],
    ids=["json-bom", "toml-bom", "upper-case-toml", "mixed-case-json"],
)
def test_a_config_file_saved_on_windows_is_read(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert read_config(path, SceneSettings()).matting.threshold == 0.6


@pytest.mark.parametrize("name", ["camera.yaml", "camera"])
def test_a_config_file_of_another_format_is_refused_by_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text('{"threshold": 0.6}')
    with pytest.raises(BgRemoverError, match=r"must be TOML or JSON, named \*\.toml or \*\.json"):
        read_config(path, SceneSettings())


def test_latency_counts_from_the_read_not_from_after_the_conversion(
    lucia: Sequence, tmp_path: Path, monkeypatch
) -> None:
    """The capture time was taken after the frame's conversion to RGB (and its fitting to the
    size sent), which is part of the delay a viewer sees."""
    clip = write_clip(tmp_path / "clip.mp4", list(lucia.frames[:10]), FPS)
    convert = Capture._convert

    def slow_convert(self: Capture, bgr: np.ndarray) -> np.ndarray:
        time.sleep(0.05)
        return convert(self, bgr)

    monkeypatch.setattr(Capture, "_convert", slow_convert)
    delays: list[float] = []
    got = threading.Event()

    def on_frame(frame: np.ndarray, captured: float) -> None:
        delays.append(time.perf_counter() - captured)
        got.set()

    with Capture(parse_source(str(clip)), (854, 480), FPS) as capture:
        capture.start(on_frame)
        assert got.wait(10)
    assert delays[0] >= 0.05, delays


class Colours:
    """A capture's frames of one flat colour each, as the channel brightest in each."""

    def __init__(self) -> None:
        self.channels: list[int] = []

    def on_frame(self, frame: np.ndarray, captured: float) -> None:
        self.channels.append(int(np.argmax(frame.reshape(-1, 3).mean(axis=0))))

    def shows(self, channel: int, within: float = 5) -> bool:
        """Whether the newest frame is brightest in ``channel`` within ``within`` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.channels and self.channels[-1] == channel:
                return True
            time.sleep(0.02)
        return False


def test_a_picture_saved_again_is_shown_again(tmp_path: Path) -> None:
    """A picture as the input was read once: a new one saved over it never showed. It is read
    again when the file changes, once (a cut, smoothing afresh), and not at every frame."""
    def picture(name: str, colour: tuple[int, int, int]) -> Path:
        path = tmp_path / name
        cv2.imwrite(str(path), np.full((48, 64, 3), colour[::-1], np.uint8))
        return path

    still = picture("still.png", (200, 0, 0))
    seen = Colours()
    cuts: list[int] = []
    with Capture(parse_source(str(still)), (64, 48), FPS) as capture:
        capture.start(seen.on_frame, lambda: cuts.append(len(seen.channels)))
        assert seen.shows(0)
        time.sleep(0.5)
        assert cuts == [], "a picture was reopened while it stayed the same"
        os.replace(picture("new.png", (0, 200, 0)), still)
        assert seen.shows(1), seen.channels[-5:]
        time.sleep(0.5)
        assert len(cuts) == 1 and seen.channels[-1] == 1, (cuts, seen.channels[-5:])


def test_a_picture_saved_while_it_is_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's version was taken after it was read: a picture whose saving ended between
    the read and that look (an editor writing it in place) was taken as read, and the
    half-written one it had read stayed on the camera for good."""
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), np.full((48, 64, 3), (0, 0, 200), np.uint8))
    new = tmp_path / "new.png"
    cv2.imwrite(str(new), np.full((48, 64, 3), (0, 200, 0), np.uint8))
    real_open = capture_module.open_capture

    def saved_meanwhile(*args: object) -> tuple[cv2.VideoCapture, np.ndarray]:
        opened = real_open(*args)
        if new.exists():
            os.replace(new, still)  # the saving ends just after the read
        return opened

    monkeypatch.setattr(capture_module, "open_capture", saved_meanwhile)
    seen = Colours()
    with Capture(parse_source(str(still)), (64, 48), FPS) as capture:
        capture.start(seen.on_frame)
        assert seen.shows(1), f"the picture read while it was saved stayed: {seen.channels[-5:]}"


def test_a_video_holding_one_frame_for_a_moment_is_not_taken_for_a_picture(
    tmp_path: Path
) -> None:
    """A looping video replaced by a file of one frame at a loop point (a copy over it caught
    half way) was taken for a still picture, and the camera showed that frame for good, the
    new video never read."""
    def clip(name: str, colour: tuple[int, int, int], count: int) -> Path:
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:] = colour
        return write_clip(tmp_path / name, [frame] * count, FPS)

    looped = clip("looped.mp4", (200, 0, 0), 8)
    one_frame, longer = clip("one.mp4", (0, 0, 200), 1), clip("longer.mp4", (0, 200, 0), 8)
    seen = Colours()
    with Capture(parse_source(str(looped)), (64, 48), FPS) as capture:
        capture.start(seen.on_frame)
        assert seen.shows(0, within=10)
        os.replace(one_frame, looped)
        assert seen.shows(2), seen.channels[-5:]
        os.replace(longer, looped)
        assert seen.shows(1), f"stuck on the one frame: {seen.channels[-5:]}"


# How x264 tags a clip's colours as BT.709 (every HD camera, phone and screen recorder's).
BT709_TAGS = {"x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709"}


@pytest.mark.parametrize("tags", [BT709_TAGS, None], ids=["bt709", "untagged"])
def test_a_file_s_colours_are_shown_as_players_and_replace_show_them(
    tmp_path: Path, tags: dict[str, str] | None
) -> None:
    """An HD file played as the camera was converted to RGB by OpenCV's reader, which took an
    untagged one as BT.601: a saturated red came out about 20 levels off, skin tones shifted,
    where players, `replace` and the render worker (all reading through `media`) took it as
    BT.709. A tagged one is read by its tags in each."""
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, :640] = (220, 30, 40)  # a saturated red, and a skin tone
    frame[:, 640:] = (224, 172, 140)
    clip = write_clip(tmp_path / "hd.mp4", [frame] * 5, FPS, encoder=tags)
    _, expected = next(iter(media.open_frames(clip)))
    shown: list[np.ndarray] = []
    got = threading.Event()

    def on_frame(rgb: np.ndarray, captured: float) -> None:
        shown.append(rgb)
        got.set()

    with Capture(parse_source(str(clip)), (1280, 720), FPS) as capture:
        capture.start(on_frame)
        assert got.wait(10), "no frame from the file"
    capture.check()
    difference = np.abs(shown[0].astype(int) - expected.astype(int))
    assert difference.max() <= 2, (shown[0][360, [320, 960]], expected[360, [320, 960]])


def test_a_looping_file_keeps_its_converter_until_it_is_saved_over(tmp_path: Path) -> None:
    """A file's frames are converted as `media.Shown` does, whose converter builds an HDR
    file's tone-mapping tables at its first frame, in seconds: made anew at each loop, a phone's
    HDR clip stalled there every time. One saved over (another size, another colour matrix)
    gets its own."""
    def clip(name: str, colour: tuple[int, int, int]) -> Path:
        return write_clip(tmp_path / name, [np.full((48, 64, 3), colour, np.uint8)] * 4, FPS)

    looped, other = clip("looped.mp4", (200, 0, 0)), clip("other.mp4", (0, 200, 0))
    cuts = threading.Semaphore(0)
    seen = Colours()
    with Capture(parse_source(str(looped)), (64, 48), FPS) as capture:
        first = capture._capture
        capture.start(seen.on_frame, cuts.release)
        assert cuts.acquire(timeout=10) and cuts.acquire(timeout=10), "the file did not loop"
        assert isinstance(first, capture_module.FileFrames)
        assert getattr(capture._capture, "shown", None) is first.shown
        os.replace(other, looped)
        assert seen.shows(1), seen.channels[-5:]
        assert getattr(capture._capture, "shown", first.shown) is not first.shown


@pytest.mark.parametrize("fails", ["making the converter", "converting a frame"])
def test_a_file_the_camera_cannot_convert_is_closed_at_once(
    fails: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose converter could not be made, or whose first frame failed to convert (a
    pixel format with no converter), was left open until the garbage collector came by, and
    the error that said so held it open; a camera reopening it with backoff held one more
    each time."""
    clip = write_clip(tmp_path / "clip.mp4", [np.zeros((48, 64, 3), np.uint8)] * 4, FPS)

    def failing(*args: object) -> None:
        raise BgRemoverError("no converter for this pixel format")

    monkeypatch.setattr(media, "Shown", failing if fails == "making the converter"
                        else lambda stream: failing)
    opened = len(os.listdir("/proc/self/fd"))
    with pytest.raises(BgRemoverError, match="no converter"):
        capture_module.open_capture(parse_source(str(clip)), (64, 48), FPS)
    assert len(os.listdir("/proc/self/fd")) == opened


def test_a_frame_the_network_fails_on_does_not_stop_the_camera(
    lucia: Sequence, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live pipeline goes on after a frame it failed on (a GPU out of memory for a moment),
    and hands the error over once; the camera raised it, and ended mid-call with a traceback."""
    from obs_bgremover import pipeline

    run = pipeline.Pipeline.run
    calls = [0]

    def fails_once(self: pipeline.Pipeline, frame: np.ndarray) -> object:
        calls[0] += 1
        if calls[0] == 20:
            raise RuntimeError("CUDA failure 2: out of memory")
        return run(self, frame)

    monkeypatch.setattr(pipeline.Pipeline, "run", fails_once)

    def steps(sink: RecordingSink, messages: io.StringIO) -> None:
        _wait_for(messages, "camera: the network works again")
        _sending(sink)

    _, messages = _drive(steps, "--input", lucia.clip, "--size", SIZE)
    assert "failed on a frame (RuntimeError: CUDA failure 2: out of memory)" in messages


def test_a_file_saved_over_a_looping_one_is_taken_as_what_it_is(tmp_path: Path) -> None:
    """A file saved over a looping video was played as the loop had been: a 10 fps clip at the
    30 fps of the one it replaced, three times too fast, and a picture reopened at every
    frame, a cut (smoothing afresh, the network run) 30 times a second."""
    def clip(name: str, colour: tuple[int, int, int], count: int, fps: int) -> Path:
        return write_clip(tmp_path / name, [np.full((48, 64, 3), colour, np.uint8)] * count, fps)

    looped = clip("looped.mp4", (200, 0, 0), 15, FPS)
    slow = clip("slow.mp4", (0, 200, 0), 30, 10)
    picture = tmp_path / "picture.png"
    cv2.imwrite(str(picture), np.full((48, 64, 3), (200, 0, 0), np.uint8))  # blue, as BGR
    seen = Colours()
    cuts: list[int] = []
    with Capture(parse_source(str(looped)), (64, 48), FPS) as capture:
        capture.start(seen.on_frame, lambda: cuts.append(len(seen.channels)))
        assert seen.shows(0, within=10)
        os.replace(slow, looped)
        assert seen.shows(1), seen.channels[-5:]
        before, started = len(seen.channels), time.monotonic()
        time.sleep(1.5)
        rate = (len(seen.channels) - before) / (time.monotonic() - started)
        assert rate < 15, f"a 10 fps clip gave {rate:.0f} frames a second"
        os.replace(picture, looped)
        assert seen.shows(2, within=10), seen.channels[-5:]
        time.sleep(0.2)
        reopened = len(cuts)
        time.sleep(1)
        assert len(cuts) == reopened, f"a picture was reopened {len(cuts) - reopened} times in 1 s"


class KeyedPreview:
    """A preview window (none opens here: OpenCV is headless) whose user presses ``keys``, one
    for each frame shown, as they are added."""

    def __init__(self, keys: list[int]) -> None:
        self.keys = keys

    def show(self, frame: np.ndarray) -> int:
        return self.keys.pop(0) if self.keys else -1

    def close(self) -> None:
        pass

    def __enter__(self) -> KeyedPreview:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_a_config_file_saved_after_the_preview_s_key_is_applied(
    lucia: Sequence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preview's b key changed the background behind the config file's back: a file saved
    afterwards with the background it had was taken for no change, said "applied (background
    color:#00B140...)" and left the picked one on."""
    keys: list[int] = []
    monkeypatch.setattr(app, "Preview", lambda: KeyedPreview(keys))
    config = tmp_path / "camera.json"
    config.write_text(json.dumps({"background": "color:#00B140"}))

    def green(sink: RecordingSink) -> bool:
        corner = sink.frames[max(sink.frames)][:8, :8].reshape(-1, 3).mean(axis=0)
        return bool(np.all(np.abs(corner - GREEN) <= 8))

    def steps(sink: RecordingSink, messages: io.StringIO) -> None:
        _wait_until(lambda: bool(sink.frames) and green(sink), "the config's green shows")
        keys.extend([ord("b")] * 2)
        _wait_until(lambda: not green(sink), "the key changes the background")
        _sending(sink)
        time.sleep(1.1)  # a new modification time, whatever the file system's resolution
        config.write_text(json.dumps({"background": "color:#00B140", "threshold": 0.6}))
        _wait_for(messages, "camera: applied")
        _sending(sink)
        assert green(sink), messages.getvalue()

    _drive(steps, "--input", lucia.clip, "--size", SIZE, "--config", config, "--preview")


def test_latency_is_measured_through_a_network_slower_than_a_second() -> None:
    """Capture times were kept for the last 64 frames submitted: a network slower than two
    seconds at 30 fps (one at a 60 fps webcam) had its frame's forgotten by the time its matte
    was ready, and the camera reported a latency of a few milliseconds."""

    class SlowPipeline:
        def __init__(self) -> None:
            self.submitted = 0
            self.result: object = None

        def submit(self, frame: np.ndarray) -> None:
            self.submitted += 1

        def latest(self) -> object:
            return self.result

    pipeline = SlowPipeline()
    feed = app.LiveFeed(pipeline)  # type: ignore[arg-type]
    start = time.perf_counter() - 5.0
    frame = np.zeros((2, 2, 3), np.uint8)
    for index in range(150):  # five seconds of a 30 fps source, matted 3 s later
        feed.submit(frame, start + index / 30)
    pipeline.result = app.LiveResult(frame, frame[..., 0], 60, True, 3000.0)
    latest = feed.latest()
    assert latest is not None and latest[1] == start + 60 / 30


def test_the_model_s_loading_is_said_before_it_starts(
    lucia: Sequence, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the model takes seconds, and the terminal stayed silent meanwhile: the first
    line came once it had loaded."""
    printed: list[str] = []
    load = app.MattingModel

    def loading(*args: object) -> object:
        assert isinstance(sys.stderr, io.StringIO)  # as `_drive` redirects it
        printed.append(sys.stderr.getvalue())
        return load(*args)

    monkeypatch.setattr(app, "MattingModel", loading)
    _drive(lambda sink, messages: _sending(sink), "--input", lucia.clip, "--size", SIZE)
    assert printed == ["camera: loading the general model...\n"], printed


def test_the_status_line_gives_no_rate_before_one_is_measured() -> None:
    """The first redraws read "camera  0.0 fps ... network  0.0 fps" until two frames were sent
    and five mattes were ready: rates not measured yet, which look like a camera or a network
    that does not work."""
    stats = SimpleNamespace(processed=1, network_fps=0.0)
    running = SimpleNamespace(
        sink=SimpleNamespace(backend="record", device="recorder"),
        capture=SimpleNamespace(waiting=None), feed=SimpleNamespace(stats=lambda: stats),
        model=SimpleNamespace(provider="CPUExecutionProvider"), scene=SimpleNamespace(spec="blur"))
    meter = app.Meter()
    meter.sent(time.perf_counter())
    text = app._status_text(running, meter)  # type: ignore[arg-type]
    assert text.startswith("camera    - fps") and "network    - fps" in text, text
    time.sleep(0.01)
    meter.sent(time.perf_counter())
    stats.processed, stats.network_fps = 5, 20.0
    text = app._status_text(running, meter)  # type: ignore[arg-type]
    assert re.match(r"camera +\d+\.\d fps", text) and "network 20.0 fps" in text, text
