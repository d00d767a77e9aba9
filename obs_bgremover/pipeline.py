"""The pipeline every front end runs: frames in, mattes out, in a synchronous and a live flavour.

The flow is source -> matte -> temporal -> composite -> sink; the front end owns the source and
the sink, the pipeline owns everything in between and any state carried from frame to frame.
`Pipeline` does one frame per call, in order: the ``matte`` command, the render worker and the
evaluation script use it, so they all produce the same alpha for the same input. `LivePipeline`
runs that same `Pipeline` on a thread of its own for the OBS filter and the virtual camera, whose
callers must never wait for the network.

Every result carries the frame its alpha belongs to, so the compositing step (and anything else
downstream) blends each matte with its own frame rather than with a newer one it was not computed
for. (The OBS filter's "Low latency" draws the newest frame with the last matte on the GPU,
where it has both at hand.)
"""

from __future__ import annotations

import numbers
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple

import cv2
import numpy as np

from obs_bgremover.composite import (
    Compositor,
    TransparentBackground,
    normalised_blur,
    shrink,
)
from obs_bgremover.errors import BgRemoverError, ModelError
from obs_bgremover.model import Network
from obs_bgremover.priority import lower_current_thread
from obs_bgremover.temporal import TemporalSettings, TemporalSmoother, reduce4, thumbnail

# ``skip_static`` counts the picture as still while at most STATIC_FRACTION of the thumbnail's
# pixels changed by more than STATIC_LEVELS grey levels since the network last ran: a gesture
# covering a few hundred full-size pixels still wakes it, sensor noise does not.
STATIC_LEVELS = 8
STATIC_FRACTION = 0.001

# A new shot (a cut in a video, the next photo of a folder) starts the stream afresh where more
# than CUT_FRACTION of the thumbnail's pixels changed by more than CUT_LEVELS grey levels since
# the previous frame. Smoothing across it would blend the old shot's matte into the new one
# wherever the two happen to share a grey level, and an ``every_n`` or ``skip_static`` reuse
# would show the old shot's matte. On the shared data, the fastest motion (DAVIS dance-twirl)
# changes at most 31% of the pixels, a talking head 7%; between two unrelated portraits of
# portraits-dev 80% change in the median pair, over 69% in 95% of the pairs.
CUT_LEVELS = 24
CUT_FRACTION = 0.5

# The live statistics average over this many recent results: about a second of video.
STATS_WINDOW = 30
# The fewest recent results a rate is given for (`LiveStats`); 0 before.
MIN_RATE_RESULTS = 5
# How often the live pipeline's idle worker looks for a frame without being woken, in seconds.
WAKE_S = 0.1


@dataclass(frozen=True)
class PipelineSettings:
    """Everything a pipeline does besides the model's own knobs, passed down as one object."""

    temporal: TemporalSettings = field(default_factory=TemporalSettings)
    every_n: int = field(
        default=1,
        metadata={"help": "run the network on every N-th frame only, reusing its matte in between"},
    )
    skip_static: bool = field(
        default=False,
        metadata={"help": "reuse the last matte instead of running the network on a still picture"},
    )

    def __post_init__(self) -> None:
        complaint = every_n_complaint(self.every_n)
        if complaint:
            raise BgRemoverError(f"every_n {complaint}")


def every_n_complaint(value: Any) -> str | None:
    """What is wrong with ``value`` as `PipelineSettings.every_n`, or None; apart from the
    refusal so that a front end can name the setting as its user spells it."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1:
        return None
    return f"must be a whole number, at least 1, got {value}"


@dataclass(frozen=True)
class Matte:
    """One frame's result: the alpha together with the frame it belongs to."""

    frame: np.ndarray
    alpha: np.ndarray
    fresh: bool
    """True when the network ran on this very frame; False when its alpha was reused from an
    earlier frame (``every_n``, ``skip_static``) and only smoothed."""
    matte_ms: float
    temporal_ms: float
    composite: np.ndarray | None = None
    """The frame over the new background (RGB, or RGBA when transparent); None without a
    compositor."""
    composite_ms: float = 0.0


def _changed_share(thumb: np.ndarray, reference: np.ndarray, levels: int) -> float:
    """Share of the thumbnail's pixels that changed by more than ``levels`` grey levels."""
    return np.count_nonzero(cv2.absdiff(thumb, reference) > levels) / thumb.size


def _without_hidden_colours(frame: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """An RGB frame whose fully transparent pixels (``coverage`` 0) take the colours around
    them. What a picture hides under its transparency (a layer editor keeps the colours of what
    was erased) must not come back: the camera's own background, blurred, would show it, and
    the edge colour estimate would blend it into the person's outline. Their neighbours'
    colours, not black, so that a blur does not darken towards a transparent edge: a
    normalised convolution of the visible pixels at an eighth of the size, black only where
    nothing visible is near."""
    hidden = cv2.compare(coverage, 0, cv2.CMP_EQ)  # type: ignore[call-overload]  # a scalar: OpenCV's stubs take arrays only
    if not cv2.countNonZero(hidden):
        return frame
    height, width = coverage.shape
    small = max(8, height // 8)
    visible = cv2.multiply(frame, cv2.merge((coverage, coverage, coverage)), scale=1 / 255)
    weight = shrink(coverage, small).astype(np.float32) * np.float32(1 / 255)
    filled = normalised_blur(shrink(visible, small).astype(np.float32), weight, small / 20)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.copyTo(filled, hidden, frame.copy())


class Pipeline:
    """Turns the frames of one stream, in order, into alpha mattes.

    Make one per stream: state that belongs to a stream (the temporal smoothing, the last network
    alpha) lives in this object, never in globals. Temporal smoothing is on by default, so every
    front end and the quality figures measure the same thing.
    """

    def __init__(
        self,
        model: Network,
        settings: PipelineSettings = PipelineSettings(),
        compositor: Compositor | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.compositor = compositor
        self._smoother = TemporalSmoother(settings.temporal)
        self._needs_thumbnail = settings.temporal.enabled or settings.skip_static
        self._alpha: np.ndarray | None = None
        self._alpha_frame_shape: tuple[int, ...] = ()
        self._alpha_thumbnail: np.ndarray | None = None
        self._thumbnail: np.ndarray | None = None  # the previous frame's
        self._frames_since_network = 0

    def reset(self) -> None:
        """Start afresh: the next frame goes through the network and nothing of the previous
        frames is blended into its matte. `run` does this by itself at a cut between shots; a
        front end calls it when its source changes in other ways."""
        self._smoother.reset()
        self._alpha = None

    def _can_reuse(self, frame: np.ndarray) -> bool:
        """Whether the last network alpha fits this frame: same shape and type as the frame the
        network last accepted. Anything else goes to the model, which checks and reports it."""
        return (
            self._alpha is not None
            and isinstance(frame, np.ndarray)
            and frame.dtype == np.uint8
            and frame.shape == self._alpha_frame_shape
        )

    def _static(self, thumb: np.ndarray | None) -> bool:
        """Whether a frame's thumbnail is close to that of the frame the network last saw."""
        # ``skip_static`` has a thumbnail made of every frame, so both are there.
        assert thumb is not None and self._alpha_thumbnail is not None
        return _changed_share(thumb, self._alpha_thumbnail, STATIC_LEVELS) <= STATIC_FRACTION

    def run(self, frame: np.ndarray, t: float = 0.0) -> Matte:
        """The matte of the next RGB uint8 frame of the stream, with the frame and timings, and
        its composite when the pipeline has a compositor (``t``: the frame's time in seconds,
        which picks a video background's frame).

        A frame with transparency of its own (straight RGBA: a cut-out picture, a partly
        transparent OBS source) is matted on its colours, and its alpha multiplies the matte,
        so what it hides stays hidden over any background; the result's frame is RGB, with
        the colours it hid replaced (`_without_hidden_colours`).
        """
        start = time.perf_counter()
        if isinstance(frame, np.ndarray):  # a view in another layout (a transposed array)
            frame = np.ascontiguousarray(frame)
        coverage = None
        seen = frame  # what the network sees: an RGBA frame's colours, hidden ones included
        if isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 4:
            coverage = cv2.extractChannel(frame, 3)
            seen = cv2.cvtColor(frame, cv2.COLOR_RGBA2RGB)
            frame = _without_hidden_colours(seen, coverage)
        reduced = thumb = None  # made once, for the thumbnail and the compositor
        fresh = True
        if self._can_reuse(frame):
            if self._needs_thumbnail:
                reduced = reduce4(frame)
                thumb = thumbnail(frame, reduced)
                assert self._thumbnail is not None  # the last frame's, made as this one's was
                if _changed_share(thumb, self._thumbnail, CUT_LEVELS) > CUT_FRACTION:
                    self.reset()
            fresh = self._alpha is None or not (
                self._frames_since_network < self.settings.every_n
                or (self.settings.skip_static and self._static(thumb))
            )
        if fresh:
            self._alpha = _checked(self.model(seen), seen.shape[:2])
            self._alpha_frame_shape = frame.shape
            if thumb is None and self._needs_thumbnail:
                reduced = reduce4(frame)
                thumb = thumbnail(frame, reduced)
            self._alpha_thumbnail = thumb
            self._frames_since_network = 0
        self._frames_since_network += 1
        self._thumbnail = thumb
        matted = time.perf_counter()
        assert self._alpha is not None  # the network's, for this frame or reused
        alpha = self._alpha if thumb is None else self._smoother(self._alpha, thumb)
        if coverage is not None:
            alpha = cv2.multiply(alpha, coverage, scale=1 / 255)
        smoothed = time.perf_counter()
        composite = (None if self.compositor is None
                     else self.compositor(frame, alpha, t, reduced))
        composite_ms = 0.0 if composite is None else 1000 * (time.perf_counter() - smoothed)
        return Matte(frame, alpha, fresh, 1000 * (matted - start), 1000 * (smoothed - matted),
                     composite, composite_ms)

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Alpha (uint8, height x width) for the next RGB uint8 frame of the stream."""
        return self.run(frame).alpha

    def composited(self, frame: np.ndarray, t: float = 0.0) -> np.ndarray:
        """`run`'s composite alone, for the commands that write it: the pipeline must have
        been made with a compositor."""
        composite = self.run(frame, t).composite
        if composite is None:
            raise TypeError("a pipeline without a compositor makes no composite")
        return composite


def _checked(alpha: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """The network's alpha, or a `ModelError` for one not of the frame's size and type: a
    custom graph can declare the interface and answer otherwise (a 1x1 alpha was even taken
    for a scalar by OpenCV further on, and passed for a whole one)."""
    if not isinstance(alpha, np.ndarray) or alpha.dtype != np.uint8 or alpha.shape != size:
        got = (f"a {alpha.dtype} alpha of shape {alpha.shape}" if isinstance(alpha, np.ndarray)
               else type(alpha).__name__)
        raise ModelError(f"the model gave {got} for a frame of shape {size}; a matting "
                         "graph's alpha is uint8, one value per pixel")
    return alpha


def try_model(model: Network, size: tuple[int, int]) -> None:
    """Run ``model`` once on a blank frame of ``size`` = (width, height), or raise `ModelError`:
    a custom graph that loads and then fails on frames (a fixed input size, an alpha of another
    size) is found before it replaces one that works; in the camera it once stopped the stream
    with a traceback."""
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    _checked(model(frame), frame.shape[:2])


class _NetworkThread:
    """The model, called on a thread of its own that runs ``nice`` levels less urgent.

    Only the network itself runs there, and it holds the GIL only to enter and leave
    onnxruntime. The rest of the live pipeline's work (colour conversion, smoothing) stays at the
    caller's priority: a low-priority thread that holds the GIL when the host's own thread needs
    it, and is not scheduled again for a while, makes the host wait (in OBS, a late frame).
    """

    def __init__(self, model: Network, nice: int) -> None:
        self.model = model
        self._executor = ThreadPoolExecutor(1, "obs-bgremover-network",
                                            initializer=lower_current_thread, initargs=(nice,))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self._executor.submit(self.model, frame).result()

    def close(self) -> None:
        self._executor.shutdown()


@dataclass(frozen=True)
class LiveResult:
    """The newest finished matte of a `LivePipeline`.

    ``frame`` is the frame the alpha was computed for, to show with it.
    """

    frame: np.ndarray
    alpha: np.ndarray
    index: int
    """Submission number of ``frame`` (0 for the first frame submitted)."""
    fresh: bool
    """Whether the network ran on the alpha's frame (see `Matte.fresh`)."""
    latency_ms: float
    """From the submission of the alpha's frame to its matte being ready."""
    rgba: np.ndarray | None = None
    """The alpha's own frame with the alpha as its fourth channel, made on the worker when the
    pipeline was asked for it (``LivePipeline(rgba=True)``): a GPU host uploads it as one
    texture, and its graphics thread spends nothing on packing. With ``edge_colours``, its
    colours in the soft edge are the person's own, estimated (see `Compositor`)."""


class _Timings(NamedTuple):
    """One result's timings, kept for `LiveStats` (its frame and alpha, 4 MB at 720p, would be
    held `STATS_WINDOW`-fold)."""

    ready: float
    matte_ms: float
    temporal_ms: float
    edge_colours_ms: float
    latency_ms: float
    fresh: bool


@dataclass(frozen=True)
class LiveStats:
    """A snapshot of a `LivePipeline`'s health; times are averages over recent results."""

    fps: float
    """Results a second, reused mattes included (see `network_fps`)."""
    network_fps: float
    """Times a second the network itself ran: fewer than `fps` where mattes are reused
    (``every_n``, ``skip_static``)."""
    matte_ms: float
    temporal_ms: float
    edge_colours_ms: float
    """The packed frame's edge colours (``edge_colours``); 0 without."""
    latency_ms: float
    submitted: int
    processed: int
    dropped: int
    """Frames replaced by a newer one before the worker got to them."""
    network_calls: int
    """The network's runs among the `processed` results (fewer where mattes are reused)."""
    errors: int


class LivePipeline:
    """A `Pipeline` on its own thread: `submit` a frame, take the `latest` result, never wait.

    Made for callers on a render or capture thread (the OBS filter, the virtual camera) that must
    keep their frame rate whatever the network costs. The input queue holds one frame: a frame
    submitted while another still waits replaces it (the newest frame wins and the stale one counts
    as dropped), so the delay never grows. An exception on the worker is kept and raised by the
    caller's next `latest`, and the worker carries on with the next frame; it never takes the host
    down and is never lost. Use it as a context manager, or call `close`, to stop the thread.
    """

    def __init__(
        self,
        model: Network,
        settings: PipelineSettings = PipelineSettings(),
        *,
        nice: int = 0,
        rgba: bool = False,
        edge_colours: bool = False,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """``nice``: how much less urgent than the caller the network runs (see `priority`), for
        hosts whose own threads must never wait for it. ``rgba``: also make `LiveResult.rgba`;
        with ``edge_colours``, with the person's estimated colours in the soft edge, as the
        compositor blends them, so that a host blending that texture over a new background on
        its GPU shows no fringe of the old one in hair either.
        ``on_close``: called as the pipeline stops (`stop`, `close`), before anything waits
        for the worker; where pipelines take turns at one model, it lets this one's waiting
        call go (`RemoteModel.abandon`), so that its worker ends after one frame in inference
        at most."""
        self._rgba = rgba
        self._on_close = on_close
        self._network = _NetworkThread(model, nice) if nice > 0 else None
        # The transparent composite is that frame, edge colours estimated, with the matte as alpha.
        packer = Compositor(TransparentBackground()) if rgba and edge_colours else None
        self._pipeline = Pipeline(model if self._network is None else self._network, settings,
                                  packer)
        self._lock = threading.Condition()
        self._waiting: tuple[int, Any, float, Callable[[Any], np.ndarray] | None] | None = None
        self._result: LiveResult | None = None
        self._error: BaseException | None = None
        self._reset = False
        self._closed = False
        self._submitted = self._processed = self._dropped = self._errors = 0
        # The network's runs among the results, counted with them: the pipeline's own count
        # grows before its result is counted, and OBS's timing line read "23/22".
        self._network_runs = 0
        self._recent: deque[_Timings] = deque(maxlen=STATS_WINDOW)  # of recent results
        self._thread = threading.Thread(target=self._work, name="obs-bgremover-live", daemon=True)
        self._thread.start()

    def submit(self, frame: Any, prepare: Callable[[Any], np.ndarray] | None = None) -> None:
        """Queue an RGB uint8 frame for matting and return at once.

        The frame is copied, so the caller may reuse its buffer (OBS staging surfaces, capture
        buffers) as soon as this returns. A bad frame is reported by a later `latest`.

        With ``prepare``, ``frame`` is anything that ``prepare`` turns into that RGB frame, on the
        worker thread: a camera frame in its own pixel format, say, whose conversion costs
        milliseconds the caller's thread does not have. Such a frame is handed over, not copied.

        An RGBA frame (or one that ``prepare`` makes) is a frame with an alpha of its own, in
        straight colours: a source that is partly transparent, matted as `Pipeline.run` says.
        """
        copy = frame if prepare is not None else np.array(frame, copy=True)
        with self._lock:
            if self._closed:
                raise BgRemoverError("cannot submit a frame: the live pipeline is closed")
            index = self._submitted
            self._submitted += 1
            if self._waiting is not None:
                self._dropped += 1
            self._waiting = (index, copy, time.perf_counter(), prepare)
            self._lock.notify()

    def reset(self) -> None:
        """Mark a cut in the stream (a looping file restarting, a webcam reopened): the next frame
        submitted is matted afresh, with nothing of the earlier frames smoothed into it."""
        with self._lock:
            self._reset = True

    def latest(self) -> LiveResult | None:
        """The newest finished result (None before the first), without waiting for inference.

        Raises the exception a frame caused on the worker, once, if one happened since the last
        call.
        """
        with self._lock:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return self._result

    def in_flight(self) -> int:
        """Frames submitted and not yet finished (waiting or being matted): cheaper than
        `stats` for a caller deciding, every frame, whether to submit another."""
        with self._lock:
            return self._submitted - self._processed - self._dropped - self._errors

    def stats(self) -> LiveStats:
        with self._lock:
            recent = list(self._recent)
            counts = (self._submitted, self._processed, self._dropped, self._network_runs)
            errors = self._errors
        # Two results a millisecond apart made a rate of a thousand a second.
        span = recent[-1].ready - recent[0].ready if len(recent) >= MIN_RATE_RESULTS else 0.0

        def mean(values: list[float]) -> float:
            return float(np.mean(values)) if values else 0.0

        return LiveStats(
            fps=(len(recent) - 1) / span if span > 0 else 0.0,
            network_fps=sum(timings.fresh for timings in recent[1:]) / span if span > 0 else 0.0,
            matte_ms=mean([timings.matte_ms for timings in recent]),
            temporal_ms=mean([timings.temporal_ms for timings in recent]),
            edge_colours_ms=mean([timings.edge_colours_ms for timings in recent]),
            latency_ms=mean([timings.latency_ms for timings in recent]),
            submitted=counts[0],
            processed=counts[1],
            dropped=counts[2],
            network_calls=counts[3],
            errors=errors,
        )

    def _work(self) -> None:
        while True:
            with self._lock:
                while self._waiting is None and not self._closed:
                    # Not for ever: a signal's exception on the caller's thread in the midst
                    # of `notify` can lose the wake-up (see `overlap.WriteBehind`).
                    self._lock.wait(WAKE_S)
                if self._closed:
                    return
                assert self._waiting is not None  # what the loop above waited for
                index, frame, submitted, prepare = self._waiting
                self._waiting = None
                reset, self._reset = self._reset, False
            try:
                if prepare is not None:
                    frame = prepare(frame)
                if reset:
                    self._pipeline.reset()
                matte = self._pipeline.run(frame)
                rgba = matte.composite
                if rgba is None and self._rgba:
                    rgba = cv2.merge((matte.frame, matte.alpha))
            except Exception as error:  # handed to the caller by latest(); the worker goes on
                with self._lock:
                    self._errors += 1
                    # Once closed, nobody asks (and the error's traceback, which holds this
                    # pipeline and its frame, would keep both until the cycle collector runs).
                    if not self._closed:
                        self._error = self._error or error
                continue
            ready = time.perf_counter()
            latency_ms = 1000 * (ready - submitted)
            with self._lock:
                self._processed += 1
                self._network_runs += matte.fresh
                self._recent.append(_Timings(ready, matte.matte_ms, matte.temporal_ms,
                                             matte.composite_ms, latency_ms, matte.fresh))
                self._result = LiveResult(
                    matte.frame, matte.alpha, index, matte.fresh, latency_ms, rgba
                )

    def stop(self) -> None:
        """Tell the worker to stop, without waiting for it: a waiting frame is dropped, a frame
        in inference finishes on the worker, which then ends. `close` also waits for that."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        if self._on_close is not None:
            self._on_close()

    @property
    def running(self) -> bool:
        """Whether the worker has not ended yet (a stopped pipeline's frame in inference)."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Stop the worker and wait for it: a frame in inference finishes, a waiting one is
        dropped. Calling it again does nothing."""
        self.stop()
        self._thread.join()
        if self._network is not None:
            self._network.close()

    def __enter__(self) -> LivePipeline:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
