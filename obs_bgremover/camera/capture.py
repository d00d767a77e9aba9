"""The camera's source: a webcam (OpenCV) or a video file played in a loop as if it were one
(PyAV, as `obs_bgremover.media` reads video), read on a thread of its own, paced, and reopened
with backoff when it disappears.
"""

from __future__ import annotations

import os
import platform
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from obs_bgremover import media
from obs_bgremover.camera.sinks import DeviceError
from obs_bgremover.composite import fit
from obs_bgremover.errors import BgRemoverError, InputError

# Above this many pixels a USB 2 webcam reaches 30 fps only when it sends MJPG, not raw YUYV.
MJPG_ABOVE = 640 * 480

# Waits between attempts to reopen a lost webcam: doubling from the first to the cap, in seconds.
RETRY_FIRST, RETRY_CAP = 0.25, 4.0

# How long a webcam must give frames after it opens to count as working again, in seconds (see
# `Capture._steady`).
STEADY = 1.0

# How long stopping waits for a read in progress before it gives up on the webcam, in seconds.
CLOSE_WAIT = 1.0


@dataclass(frozen=True)
class Source:
    """Where frames come from: a webcam (by index or device path) or a video file that is
    played in a loop as if it were a camera."""

    target: int | str
    """What `cv2.VideoCapture` opens (a webcam) or `FileFrames` plays (a file)."""
    is_file: bool

    def __str__(self) -> str:
        if self.is_file:
            return f"video file {self.target}"
        return f"webcam {self.target}" if isinstance(self.target, int) else str(self.target)


def parse_source(text: str) -> Source:
    """The source ``--input`` names: a webcam index, a ``/dev/videoN`` path or a video file.
    An empty name is refused here: as a path it would be the current folder, which exists."""
    if not text.strip():
        raise InputError(
            "--input is empty; give a webcam index (0, 1, ...), a /dev/videoN device or a video "
            "file"
        )
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


def _version(source: Source) -> tuple[int, int, int] | None:
    """What tells one version of a file source from the next (None for a webcam, or a file
    not there right now): its inode, size and modification time."""
    if not source.is_file:
        return None
    try:
        info = os.stat(source.target)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


class Reader(Protocol):
    """What `Capture` reads a source with: the few methods of `cv2.VideoCapture` it uses."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


class FileFrames:
    """A video file's frames as `obs_bgremover.media` reads them (PyAV, `media.Shown`): RGB,
    in the file's colour matrix and range (an untagged HD one as BT.709, as players read it),
    HDR tone-mapped, in square pixels and upright; behind the methods of `cv2.VideoCapture`
    that `Capture` reads with. OpenCV's FFmpeg reader took an untagged HD file (a screen
    recorder's) as BT.601: the camera showed its reds about 20 levels off, skin tones shifted,
    where `replace`, the render worker and players agreed.

    ``previous``: the reader of the same version of the file, released at its end (a loop),
    whose converter is kept: an HDR file's tone-mapping tables take seconds to build."""

    def __init__(self, path: str, previous: FileFrames | None = None) -> None:
        self._container = media.open_container(path)
        self._rate = 0.0
        self._frames: Iterator[av.VideoFrame] = iter(())  # none without video, as OpenCV's
        try:
            stream = media.video_stream(self._container)
            if stream is not None:
                stream.thread_type = "AUTO"
                self._rate = float(media.frame_rate(stream))
                self.shown: media.Shown = (media.Shown(stream) if previous is None
                                           else previous.shown)
                self._frames = media.decode(self._container, stream)
        except BaseException:
            self._container.close()  # at once, not whenever the garbage collector runs
            raise

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The next frame (RGB); (False, None) at the file's end, or where it stops decoding."""
        try:
            frame = next(self._frames, None)
        except av.FFmpegError:
            frame = None
        return (False, None) if frame is None else (True, self.shown(frame))

    def get(self, prop: int) -> float:
        """The file's frame rate (`media.frame_rate`) for ``cv2.CAP_PROP_FPS``; 0 otherwise."""
        return self._rate if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self._container.close()


def open_capture(
    source: Source, size: tuple[int, int], fps: float, previous: Reader | None = None
) -> tuple[Reader, np.ndarray]:
    """A reader of ``source`` and its first frame, or a `DeviceError` / `InputError` saying
    why there is none: a file's, `FileFrames` (RGB frames; ``previous``: its reader before a
    loop, see there); a webcam's, OpenCV's (BGR). A webcam is asked for ``size`` and ``fps``
    (MJPG above 640x480, the only format in which most USB webcams reach 30 fps at 720p); it
    may answer with other values, which `Capture` then fits to ``size``. A file's first frame
    is kept rather than seeked back to: a seek in a compressed file can land between key
    frames and decode a damaged picture."""
    if source.is_file:
        try:
            reader = FileFrames(str(source.target),
                                previous if isinstance(previous, FileFrames) else None)
        except (av.FFmpegError, OSError):
            reader = None
        ok, frame = False, None
        if reader is not None:
            try:
                ok, frame = reader.read()
            finally:  # a frame it cannot convert raises: closed all the same
                if not ok:
                    reader.release()
        if ok:
            assert reader is not None and frame is not None  # read, as ``ok`` says
            return reader, frame
        # A file gone while it loops (moved, being replaced) is said as gone, not as one
        # FFmpeg cannot decode. (A FIFO is played too.)
        gone = not os.path.exists(source.target)  # a link left dangling too
        problem = "it does not exist" if gone else "FFmpeg cannot open or decode it"
        raise InputError(f"cannot play {source}: {problem}")
    backend = cv2.CAP_V4L2 if platform.system() == "Linux" else cv2.CAP_ANY
    capture = cv2.VideoCapture(source.target, backend)
    if capture.isOpened():
        if size[0] * size[1] > MJPG_ABOVE:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        capture.set(cv2.CAP_PROP_FPS, fps)
        ok, frame = capture.read()
        if ok:
            return capture, frame
    capture.release()
    raise _webcam_error(source)


# Frames fed to the pipeline at most for each frame sent (see `Capture._due_now`).
FEED_PER_SENT = 2


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
    """Reads a source on a thread of its own and, once started, hands each frame (RGB at the
    output size, with the time it was read) to ``on_frame``; ``on_cut`` is told when the source
    was reopened (a file looping, a webcam back), so what follows is not smoothed into what came
    before, and ``on_note`` gets the lines a user must see whether or not a terminal shows the
    status line (a webcam lost and back, one not responding at the stop), from whichever thread
    meets them.

    A webcam paces itself (a read waits for its next frame); a file is played at its own frame
    rate and reopened at its end, so it loops. When reading fails (a webcam unplugged, a file
    gone) the source is reopened until it is back: at once if it had given frames for `STEADY`
    seconds, and otherwise, as between failed attempts, after the next `Backoff` wait.
    An exception on the thread is kept and raised by `check` on the caller's thread.

    The source is opened here and read from `start`: a source that gives no frame is refused
    before the camera spends a second loading the model whose pipeline takes the frames.
    """

    def __init__(
        self,
        source: Source,
        size: tuple[int, int],
        fps: float,
        on_note: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.source, self.size, self.fps = source, size, fps
        self.waiting: str | None = None
        """Why no frames arrive right now (the source is lost), for the status line."""
        self._on_frame: Callable[[np.ndarray, float], None]  # given by `start`
        self._on_cut: Callable[[], None]
        self._on_note = on_note
        self._pending: np.ndarray | None  # the first frame, until `_next` gives it
        # Of the file when it was opened: taken before, so that one saved over it while it is
        # read (a picture written in place) counts as changed and is read again.
        self._version = _version(source)
        self._capture, self._pending = open_capture(source, size, fps)
        self._first_reads: int | None = 0  # frames read before the first reopen (None after)
        self._latest: np.ndarray | None = None  # the last of those
        self._still: np.ndarray | None = None  # the picture of a one-frame file (see `_next`)
        self._clock: FrameClock | None = None  # a file's, at its own rate (see `_read`)
        self._backoff = Backoff()
        self._first: float | None = None  # when the source gave its first frame since it opened
        self._last = 0.0  # and its latest one
        self._due = 0.0  # when the next frame is due for the pipeline (see `_due_now`)
        self._lost = False  # whether the user has been told the source is lost
        self._stop = threading.Event()
        self._error: BaseException | None = None
        # A daemon: a read that never returns (a frozen webcam) must not keep the process alive.
        self._thread = threading.Thread(target=self._read, name="obs-bgremover-capture",
                                        daemon=True)

    def start(
        self, on_frame: Callable[[np.ndarray, float], None],
        on_cut: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_frame, self._on_cut = on_frame, on_cut
        self._thread.start()

    def _frame_rate(self) -> float:
        return self._capture.get(cv2.CAP_PROP_FPS) or self.fps

    def _read(self) -> None:
        try:
            self._clock = FrameClock(self._frame_rate()) if self.source.is_file else None
            while not self._stop.is_set():
                ok, frame = self._next()
                if self._stop.is_set():
                    return  # a read that returns after `close` gave up on it
                if not ok:
                    self._reopen()
                    continue
                if self._clock is not None and not self._clock.wait(self._stop):
                    return
                self._delivered()
                if self._due_now():
                    assert frame is not None  # read, as ``ok`` says
                    captured = time.perf_counter()  # before the conversion, which is latency too
                    self._on_frame(self._convert(frame), captured)
        except Exception as err:  # raised on the main thread by check()
            self._error = err
        finally:
            self._capture.release()  # here, by the thread that reads it, however late

    def _due_now(self) -> bool:
        """Whether the frame just read goes to the pipeline: at most `FEED_PER_SENT` frames a
        second for each the virtual camera sends (``fps``). A webcam that ignores the rate
        asked (many do) or a file of a higher rate had every frame matted: at --fps 5, 95
        network runs for 29 frames sent. Twice, not once: the sending loop takes the newest
        result at its own ticks, and results at its very rate, at a phase of their own, would
        now and then be sent twice and then skipped. A source no faster loses none (half a
        frame's slack for its jitter); after a stall the count starts again, with no burst."""
        now, interval = time.perf_counter(), 1 / (FEED_PER_SENT * self.fps)
        if now < self._due - interval / 2:
            return False
        self._due = max(self._due, now - interval) + interval
        return True

    def _next(self) -> tuple[bool, np.ndarray | None]:
        """The frame read when the source was opened, then the source's next ones. A file
        that ends after one frame when it is first read (at the start, or once a still's file
        is saved again) is a picture, which is then given again until its file changes:
        reopened at each of its ends, it was a new shot at every frame, smoothed from scratch
        and matted every time, whatever ``--skip-static`` said. Not at a loop's reopening of
        the same file, only once a new one is there (`_new_version`): a still taken from a
        file still being written, a video caught half copied over, is read again when the
        writing ends, as its file changes."""
        if self._still is not None:
            if _version(self.source) in (self._version, None):  # None: away for a moment
                return True, self._still
            return False, None  # a new file: reopened, and decided on again (`_new_version`)
        frame: np.ndarray | None
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            ok, frame = self._capture.read()
            if not ok:
                if self.source.is_file and self._first_reads == 1:
                    self._still = self._latest
                    return True, self._still
                self._first_reads = self._latest = None
                return False, None
        if self._first_reads is not None:
            self._first_reads += 1
            self._latest = frame
        return True, frame

    def _convert(self, frame: np.ndarray) -> np.ndarray:
        """A frame read (RGB from a file, BGR from a webcam) as RGB at the output size."""
        rgb = frame if self.source.is_file else cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if rgb.shape[:2] != (self.size[1], self.size[0]):
            rgb = fit(rgb, self.size, "cover")
        return rgb

    def _delivered(self) -> None:
        """Count a frame towards the source being steady, and say so once a lost one is."""
        self._last = time.perf_counter()
        if self._first is None:
            self._first = self._last
        if self._lost and self._steady():
            self._lost = False
            self._on_note(f"camera: {self.source} is back")

    def _steady(self) -> bool:
        """Whether the source works, as opposed to opening and then failing at once (a webcam
        that dies right after it starts, or drops out every frame on an overloaded USB hub),
        which must wait out the `Backoff` before each reopen rather than be reopened in a busy
        loop: a webcam that has given frames for `STEADY` seconds. A file always is: its end is
        its loop, and its frame clock paces the reopening."""
        if self.source.is_file:
            return True
        return self._first is not None and self._last - self._first >= STEADY

    def _reopen(self) -> None:
        """Reopen the source until it opens or the capture is stopped: at once if it was
        steady, else after the next `Backoff` wait (and so on while opening fails)."""
        self._capture.release()
        delay = 0.0
        if self._steady():
            self._backoff.reset()
        else:
            delay = self._backoff.next()
            self._lose(f"{self.source} stopped giving frames soon after it opened", delay)
        while not self._stop.wait(delay):
            try:
                version = _version(self.source)  # before the read, as in `__init__`
                # The same version's reader keeps its converter (see `FileFrames`).
                same = version is not None and version == self._version
                self._capture, self._pending = open_capture(
                    self.source, self.size, self.fps, self._capture if same else None)
            except BgRemoverError as err:
                delay = self._backoff.next()
                self._lose(err.args[0].split(";")[0], delay)
                continue
            self._new_version(version)
            self._first = None
            self.waiting = None
            self._on_cut()
            return

    def _new_version(self, version: tuple[int, int, int] | None) -> None:
        """After a reopening: a file saved over the one that looped is a new file, a picture or
        a video, at a rate of its own. Taken at the loop's rate, a 10 fps clip saved over a 30
        fps one played three times too fast; and a picture, never decided on, was reopened at
        every frame, a new shot each time, matted whatever ``--skip-static`` said. (A video
        caught half copied, holding one frame for a moment, is a still only until its file
        changes again.) ``version``: the file's, taken before it was opened."""
        if version != self._version:
            self._still, self._first_reads = None, 0
            self._clock = FrameClock(self._frame_rate())
        self._version = version

    def _lose(self, reason: str, delay: float) -> None:
        """Say why no frames come: on the status line, with the next try, and once per loss on
        a line of its own, which a log without a terminal shows too."""
        self.waiting = f"{reason}; retrying in {delay:g} s"
        if not self._lost:
            self._lost = True
            self._on_note(
                f"camera: {reason}; the virtual camera shows the last picture until "
                f"{self.source} is back"
            )

    def check(self) -> None:
        """Raise the exception that stopped the capture thread, if one did."""
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop reading, waiting at most `CLOSE_WAIT` seconds: a frozen webcam's read blocks
        for 10 s (OpenCV's V4L2 timeout) or for ever, and Ctrl-C must stop the camera anyway.
        The thread releases the source when its read returns. Calling it again does nothing."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.ident is None:  # never started: nothing else holds the source
            self._capture.release()
            return
        self._thread.join(CLOSE_WAIT)
        if self._thread.is_alive():
            self._on_note(f"camera: {self.source} is not responding; stopping without it")

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
