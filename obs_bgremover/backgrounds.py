"""The built-in backgrounds and the loaders for the user's own: images, looping videos and the
background spec string every front end accepts.

A spec is ``NAME`` (a built-in, see `list_backgrounds`), ``FILE`` (an image or a video),
``blur[:STRENGTH]``, ``color:#RRGGBB`` or ``transparent``; names and keywords in any case
(``Dusk``, ``COLOR:#FF0000``), a file's path as it is. Everything that can be wrong with one
(an unknown name, an unreadable file, a bad colour) is found when it is opened, as an
`InputError`, before any frame is processed.
"""

from __future__ import annotations

import math
import os
import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, overload

import av
import numpy as np

from obs_bgremover.composite import (
    Background,
    BlurBackground,
    ColorBackground,
    ImageBackground,
    TransparentBackground,
    check_fit_mode,
    fit,
)
from obs_bgremover.errors import InputError
from obs_bgremover.media import (
    END_SLACK_S,
    Shown,
    checked_video_stream,
    cut_short,
    declared_duration,
    decode,
    file_problem,
    frame_rate,
    open_container,
    time_base,
    video_stream,
)
from obs_bgremover.pictures import is_still_image, read_image, refuse_heif

ASSETS = Path(__file__).resolve().parent / "assets" / "backgrounds"

# Built-in name -> file in ASSETS, made by scripts/make_backgrounds.py: four images, three videos.
BUILTIN = {
    "studio": "studio.jpg",
    "bokeh": "bokeh.jpg",
    "waves": "waves.jpg",
    "dusk": "dusk.jpg",
    "flow": "flow.mp4",
    "bokeh-drift": "bokeh-drift.mp4",
    "gradient-shift": "gradient-shift.mp4",
}

TRANSPARENT = "transparent"
"""The spec of no background at all: the output keeps the matte as its alpha."""
SPEC_FORMS = f"NAME, FILE, blur[:STRENGTH], color:#RRGGBB or {TRANSPARENT}"
FILE_KINDS = "an image OpenCV can decode (.jpg, .png, ...) or a video FFmpeg can decode (.mp4, ...)"

# How far ahead of the stream the decoder thread may run, in frames.
QUEUE_FRAMES = 8
# Presentation times closer than this are equal (guards against float rounding).
EPSILON = 1e-6


def list_backgrounds() -> list[str]:
    """The built-in background names, images first."""
    return list(BUILTIN)


def parse_color(value: str) -> tuple[int, int, int]:
    """(red, green, blue) of a ``#RRGGBB`` string."""
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise InputError(f"colour {value!r} is not of the form #RRGGBB (for example #00B140)")
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def parse_strength(value: str) -> int:
    """A blur strength: a whole number in 1..100."""
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 100:
        raise InputError(f"blur strength {value!r} is not a whole number in 1..100")
    return int(value)


def open_file(path: str | os.PathLike[str], fit_mode: str = "cover", *,
              live: bool = False) -> Background:
    """An image or a looping video background from a file, told apart by its content;
    ``live``: see `LoopingVideo`."""
    path = Path(path)
    problem = file_problem(path)
    if problem is None and path.stat().st_size == 0:
        problem = "is empty (0 bytes)"  # FFmpeg's word for it is "invalid data"
    if problem is not None:
        raise InputError(f"background file {path} {problem}; expected {FILE_KINDS}")
    if is_still_image(path):
        try:
            return ImageBackground(read_image(path), fit_mode)
        except InputError as err:
            raise InputError(f"{err}; expected {FILE_KINDS}") from err
    refuse_heif(path)
    return LoopingVideo(path, fit_mode=fit_mode, live=live)


def picture(background: Background, size: tuple[int, int], t: float = 0.0) -> np.ndarray:
    """What a background shows at ``t`` seconds, at ``size`` = (width, height), with no camera
    frame to go with it: for the kinds that do not depend on the frame (pictures, videos,
    colours), as thumbnails and GPU textures need them."""
    width, height = size
    blank = np.zeros((height, width, 3), np.uint8)
    # Only a transparent background gives no picture, and it is none of these kinds.
    return cast(np.ndarray, background.plate(blank, blank[..., 0], t))


def _builtin(spec: str) -> str | None:
    """The built-in a spec names, in any case (``Dusk`` is ``dusk``); None for another."""
    name = spec.lower()
    return name if name in BUILTIN else None


def is_transparent(spec: str | os.PathLike[str]) -> bool:
    """Whether a spec is ``transparent`` (in any case), without opening anything."""
    return isinstance(spec, str) and spec.strip().lower() == TRANSPARENT


def own_file(spec: str) -> Path | None:
    """The path a spec names when it is none of the built-ins and keywords, whether or not it
    exists here; None otherwise. The render queue makes it absolute, as it does the input:
    a worker may run in another folder."""
    spec = spec.strip()
    keyword = spec.partition(":")[0].lower() in ("blur", "color")
    if not spec or keyword or is_transparent(spec) or _builtin(spec) is not None:
        return None
    return Path(spec)


def background_file(spec: str | os.PathLike[str]) -> Path | None:
    """The file a background spec reads (a built-in's or the user's own); None for the kinds
    made from the camera's frame or from nothing. A path (`os.PathLike`) names a file."""
    if not isinstance(spec, str):
        path = Path(spec)
        return path if file_problem(path) is None else None
    spec = spec.strip()
    name = _builtin(spec)
    if name is not None:
        return ASSETS / BUILTIN[name]
    return Path(spec) if file_problem(Path(spec)) is None else None


def parse_background(spec: str | os.PathLike[str], fit_mode: str = "cover", *,
                     live: bool = False) -> Background:
    """The background a spec string names (see the module docstring), or the file a path
    (`os.PathLike`) names. The caller closes it (``with parse_background(spec) as background:
    ...``): a video holds a decoder thread. ``live``: see `LoopingVideo`."""
    if not isinstance(spec, str):
        return open_file(spec, fit_mode, live=live)
    spec = spec.strip()
    if not spec:
        raise InputError(f"the background is empty; expected NAME ({', '.join(BUILTIN)}), "
                         "FILE, blur[:STRENGTH], color:#RRGGBB or transparent")
    kind, colon, value = spec.partition(":")
    kind = kind.lower()
    if is_transparent(spec):
        return TransparentBackground()
    if kind == "blur":  # "blur:" (a strength left out) is refused, not taken for the default
        return BlurBackground(parse_strength(value)) if colon else BlurBackground()
    if kind == "color":
        return ColorBackground(parse_color(value))
    path = background_file(spec)
    if path is None:
        raise InputError(
            f"background {spec!r} is neither a built-in ({', '.join(BUILTIN)}) nor a file "
            f"({spec} {file_problem(Path(spec))}); expected {SPEC_FORMS}"
        )
    return open_file(path, fit_mode, live=live)


@dataclass(frozen=True)
class _Frame:
    """A decoded frame and its time on the decoder's endless timeline (loop k adds k periods)."""

    time: float
    image: np.ndarray


def _probe(path: Path) -> tuple[float, float]:
    """(first presentation time, loop period) of a video's first video stream, in seconds.

    The period runs from the first frame's start to the last frame's end, read from the
    packets (demuxing without decoding is cheap), so a loop has no gap and no repeated frame.
    A stream without times (a raw H.264 or HEVC file) plays at its frame rate, as an input
    does (`obs_bgremover.media.VideoFile`): its period is its frames at that rate.
    One frame is decoded too, so that a file FFmpeg opens but cannot decode fails here; and a
    file whose frames stop well before the length it declares (an interrupted download) fails
    as it does as an input, rather than looping what is left of it without a word.
    """
    try:
        with open_container(path) as container:
            stream = video_stream(container)
            if stream is None:
                raise InputError(f"{path} has no video stream; expected {FILE_KINDS}")
            rate = float(frame_rate(stream))
            starts, ends, untimed, decoded = [], [], 0, False
            for packet in container.demux(stream):
                if not decoded:  # until the first frame (the last, empty packet flushes)
                    decoded = bool(packet.decode())
                if packet.pts is not None:
                    starts.append(packet.pts)
                    ends.append(
                        packet.pts + (packet.duration or round(1 / rate / packet.time_base))
                    )
                elif packet.size:
                    untimed += 1
            if not decoded:
                # Also what FFmpeg makes of a file that is no video at all, such as a broken
                # picture: a file whose content is of no image type is tried as a video.
                raise InputError(f"cannot decode {path}: it is no image, and FFmpeg finds no "
                                 f"video frame in it; expected {FILE_KINDS}")
            if not starts:
                return 0.0, untimed / rate
            first = float(min(starts) * time_base(stream))
            period = float((max(ends) - min(starts)) * time_base(stream))
            declared = declared_duration(container, stream)
            if declared is not None and period < declared - END_SLACK_S - 1 / rate:
                raise InputError(f"{cut_short(path, period, declared)}; expected {FILE_KINDS}")
            return first, period
    except av.FFmpegError as err:
        # As above: a damaged picture, or a text file named .png, is tried as a video.
        raise InputError(
            f"cannot use background {path}: it is no image, and FFmpeg cannot read it as a "
            f"video ({err.strerror or err}); expected {FILE_KINDS}"
        ) from err


class LoopingVideo(Background):
    """A video played in an endless seamless loop, decoded ahead on its own thread.

    The decoder thread keeps up to `QUEUE_FRAMES` frames ready, already fitted to the size last
    asked for, so the compositing thread only picks one. A frame is chosen by presentation time,
    not by count, so the video plays at its own speed whatever the camera's frame rate; times
    are taken modulo the loop period. Times are expected to increase, as a stream's do: an earlier
    time is reached by playing on to the same point of the next loop.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        size: tuple[int, int] | None = None,
        fit_mode: str = "cover",
        live: bool = False,
    ) -> None:
        """``live``: for a host that sends frames on a clock (the virtual camera), whose
        `plate` must not wait for the decoder: a video that decodes slower than it plays (a 4K
        clip) took the camera from 30 to 1-10 frames a second, and one saved over while it
        played stopped the camera. Its `plate` keeps the frame on screen while the one due is
        not decoded yet, and after a decoding error (the file's watch reads it again)."""
        self.path = Path(path)
        self.fit_mode = check_fit_mode(fit_mode)
        self.live = live
        self._start, self.period = _probe(self.path)
        self._size = size
        self._queue: queue.Queue[_Frame | Exception] = queue.Queue(QUEUE_FRAMES)
        self._stop = threading.Event()
        self._current: _Frame | None = None
        self._next: _Frame | None = None
        self._clock = (0.0, 0.0)  # last time asked for, and where it fell on the endless timeline
        self._thread = threading.Thread(
            target=self._decode, name=f"LoopingVideo({self.path.name})", daemon=True
        )
        self._thread.start()

    def _decode(self) -> None:
        """The decoder thread: decode, fit, queue, and start over at the end, until closed.
        A failure goes into the queue, for the compositing thread to raise."""
        try:
            offset, shown = -self._start, None
            while not self._stop.is_set():
                with open_container(self.path) as container:
                    stream = checked_video_stream(container, self.path)
                    stream.thread_type = "AUTO"
                    frame_length = 1 / float(frame_rate(stream))
                    shown = shown or Shown(stream)  # kept: HDR's tone mapping is slow to set up
                    while not self._stop.is_set():
                        if not self._play(container, stream, shown, offset, frame_length):
                            return
                        offset += self.period
                        try:
                            container.seek(0)
                        except av.FFmpegError:  # a raw stream: from its start by reopening it
                            break
        except Exception as err:  # noqa: BLE001 - handed to the caller's thread, not swallowed
            self._put(err)

    def _play(self, container: av.container.InputContainer, stream: av.VideoStream,
              shown: Shown, offset: float, frame_length: float) -> bool:
        """Decode, fit and queue the video once, its times moved by ``offset``; False once
        closed."""
        time = None
        for frame in decode(container, stream):
            image = shown(frame)
            size = self._size
            if size is not None:
                image = fit(image, size, self.fit_mode)
            # A frame without a time (a raw stream's) follows the last one at the stream's
            # rate, as `_probe` counted it.
            time = (float(frame.time) if frame.time is not None
                    else self._start if time is None else time + frame_length)
            if not self._put(_Frame(offset + time, image)):
                return False
        return True

    def _put(self, item: _Frame | Exception) -> bool:
        """Queue an item, waiting while the queue is full; False once closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _take(self, block: bool) -> _Frame | None:
        """The next decoded frame; without ``block``, None when none is ready yet."""
        while True:
            try:
                item = self._queue.get(timeout=0.5) if block else self._queue.get_nowait()
            except queue.Empty:
                if not self._thread.is_alive():
                    raise InputError(f"video {self.path} is closed") from None
                if not block:
                    return None
                continue
            if isinstance(item, Exception):
                raise InputError(f"cannot decode video {self.path}: {item}") from item
            return item

    @overload
    def frame_at(self, t: float, size: tuple[int, int], block: Literal[True] = True
                 ) -> np.ndarray: ...

    @overload
    def frame_at(self, t: float, size: tuple[int, int], block: bool) -> np.ndarray | None: ...

    def frame_at(self, t: float, size: tuple[int, int], block: bool = True
                 ) -> np.ndarray | None:
        """The RGB frame showing at ``t`` seconds, fitted to ``size`` = (width, height).

        ``block=False`` is for a host's render thread, which must never wait for the decoder
        (a late first frame, a video that decodes slower than it plays, an HDR clip's 1.5 s of
        tone-mapping set-up): it keeps the frame already shown while the one due is not
        decoded yet, and gives None before the first.

        ``t`` must be a finite number: an InputError says so otherwise (a NaN, which falls
        nowhere in the loop, once had the decoder play on for ever)."""
        if not math.isfinite(t):
            raise InputError(f"cannot show video {self.path} at {t} s: a time must be a "
                             "finite number of seconds")
        self._size = size
        last_t, last_position = self._clock
        step = (t - last_t) % self.period
        if step > self.period - EPSILON:
            step = 0.0
        position = last_position + step
        self._clock = (t, position)
        if self._current is None:
            self._current = self._take(block)
            if self._current is None:
                return None
        while True:
            if self._next is None:
                self._next = self._take(block)
                if self._next is None:
                    break
            if self._next.time > position + EPSILON:
                break
            self._current, self._next = self._next, None
        image = self._current.image
        if image.shape[:2] != (size[1], size[0]):
            # Decoded before the size changed: fit it here, once.
            image = fit(image, size, self.fit_mode)
            self._current = _Frame(self._current.time, image)
        return image

    def plate(self, frame: np.ndarray, alpha: np.ndarray, t: float) -> np.ndarray:
        size = (frame.shape[1], frame.shape[0])
        if not self.live or self._current is None:  # a live video waits for its first frame only
            return self.frame_at(t, size)
        try:
            # the frame on screen until the next (a frame is shown already: never None)
            return cast(np.ndarray, self.frame_at(t, size, block=False))
        except InputError:  # the decoder failed (the file saved over): the last frame stays
            image = self._current.image
            return image if image.shape[:2] == (size[1], size[0]) else fit(image, size,
                                                                            self.fit_mode)

    def close(self) -> None:
        """Stop the decoder thread and wait for it."""
        self._stop.set()
        self._thread.join()
