"""The two render jobs as plain functions: a preview (one frame) and a video (the first seconds).

They are the body of the queue's tasks (`obs_bgremover.render.tasks`), but know nothing of a
queue, so they can be called and tested directly. Each reads top to bottom: check the input, open
the background, the model and the sink, loop over frames, report progress. The limits of render
mode live here: a video is cut to `RenderSettings.max_seconds` and anything larger than
1920x1080 is scaled down to fit (aspect kept); the result says when either happened.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import av
import numpy as np

from obs_bgremover.backgrounds import background_file, is_transparent, own_file, parse_background
from obs_bgremover.composite import (
    FIT_MODES,
    Background,
    CompositeSettings,
    Compositor,
    TransparentBackground,
    check_fit_mode,
    fit,
)
from obs_bgremover.errors import InputError
from obs_bgremover.media import (
    Shown,
    VideoFile,
    checked_video_stream,
    decode,
    open_container,
    time_base,
)
from obs_bgremover.model import MODEL_NAMES, MattingModel, MattingSettings, resolve_model_path
from obs_bgremover.outputs import (
    refuse_folder,
    refuse_overwrite,
    refuse_unmakeable,
    refuse_unwritable,
)
from obs_bgremover.overlap import overlapped
from obs_bgremover.pictures import read_image, write_image
from obs_bgremover.pipeline import Pipeline
from obs_bgremover.render.probe import MediaInfo, probe
from obs_bgremover.video_sink import VideoSink

MAX_SECONDS = 10.0
LONGEST_LIMIT_S = 24 * 3600
MAX_SIZE = (1920, 1080)
# Opaque renders are MP4/H.264 (what every editor and browser plays); transparent ones need a
# codec with alpha.
VIDEO_OUTPUTS = {False: (".mp4",), True: (".webm", ".mov")}


class JobKind(StrEnum):
    """What a job renders. Stored and served as the plain words."""

    PREVIEW = "preview"
    """One frame: a composite PNG and a cut-out PNG with alpha."""
    VIDEO = "video"
    """The clip's first seconds, with its sound."""


Progress = Callable[[float], None]
"""Called with the fraction done, 0..1, as the render goes."""


@dataclass(frozen=True)
class RenderSettings:
    """Everything a render job needs besides its files, as one object (and one queue message)."""

    background: str
    """A background spec: built-in name, FILE, blur[:STRENGTH], color:#RRGGBB or transparent."""
    fit: str = FIT_MODES[0]
    max_seconds: float = MAX_SECONDS
    model: str = "general"
    device: str = "auto"
    matting: MattingSettings = field(default_factory=MattingSettings)
    decontaminate: bool = True

    def __post_init__(self) -> None:
        check_fit_mode(self.fit)
        if not 0 < self.max_seconds <= LONGEST_LIMIT_S:  # nan too; inf overflowed the cut
            raise InputError(f"the length limit must be above 0 and at most "
                             f"{LONGEST_LIMIT_S} s, got {self.max_seconds:g}")

    def absolute(self) -> RenderSettings:
        """These settings with the background's and the model's own files (not built-ins) as
        absolute paths, as the queue makes the input's: a worker started in another folder
        looked for a relative one there."""
        background = own_file(self.background)
        model = None if self.model in MODEL_NAMES else Path(self.model).expanduser()
        return replace(self,
                       background=self.background if background is None
                       else str(background.resolve()),
                       model=self.model if model is None else str(model.resolve()))


@dataclass(frozen=True)
class RenderResult:
    """What a render wrote, and what it changed about the input on the way."""

    outputs: tuple[Path, ...]
    frames: int
    size: tuple[int, int]
    """Output (width, height)."""
    seconds: float
    """Length of the output video; 0 for a preview."""
    notes: tuple[str, ...] = ()
    """One sentence per limit applied: scaled to fit, cut to the first seconds."""

    @property
    def summary(self) -> str:
        files = ", ".join(str(path) for path in self.outputs)
        return "; ".join([f"wrote {files} ({self.size[0]}x{self.size[1]})", *self.notes])


def size_limit(width: int, height: int) -> tuple[int, int]:
    """The box an input of this size must fit: `MAX_SIZE`, stood on its end for a portrait
    input, so that a phone's 1080x1920 clip keeps every pixel as a 1920x1080 one does."""
    return MAX_SIZE if width >= height else MAX_SIZE[::-1]


def fit_size(width: int, height: int) -> tuple[int, int]:
    """The output size for an input: inside its `size_limit` (aspect kept, never enlarged), in
    even numbers of pixels because 4:2:0 video (H.264, VP9) stores colour per 2x2 block."""
    limit = size_limit(width, height)
    scale = min(1.0, limit[0] / width, limit[1] / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def scaling_note(width: int, height: int) -> str | None:
    """What `fit_size` does to an input of this size, in words; None where it keeps the size
    (but for rounding to even numbers)."""
    limit = size_limit(width, height)
    if width <= limit[0] and height <= limit[1]:
        return None
    size = fit_size(width, height)
    return f"scaled from {width}x{height} to {size[0]}x{size[1]} to fit {limit[0]}x{limit[1]}"


def _size_note(info: MediaInfo) -> tuple[str, ...]:
    note = scaling_note(info.width, info.height)
    return () if note is None else (note,)


def _pipeline(settings: RenderSettings, background: Background) -> Pipeline:
    model = MattingModel(settings.model, settings.device, settings.matting)
    composite = CompositeSettings(decontaminate=settings.decontaminate)
    return Pipeline(model, compositor=Compositor(background, composite))


def _fitted(source: Iterable[tuple[float, np.ndarray]], size: tuple[int, int]
            ) -> Iterator[tuple[float, np.ndarray]]:
    """The source's timed frames at ``size``: stretched where only `fit_size`'s rounding to even
    sizes tells them apart, and fitted inside it with black bars where the picture changes
    shape part way (joined recordings), as `obs_bgremover.video_sink.VideoSink` does."""
    for time, frame in source:
        height, width = frame.shape[:2]
        if (width, height) == size:
            yield time, frame
            continue
        same_shape = abs(width * size[1] - height * size[0]) <= 0.02 * width * size[1]
        yield time, fit(frame, size, "stretch" if same_shape else "contain")


def _until(source: Iterable[tuple[float, np.ndarray]], limit: float
           ) -> Iterator[tuple[float, np.ndarray]]:
    """The source's timed frames that start before ``limit`` seconds, and the first whatever
    its time: under a frame's length, a job wrote none and failed."""
    for count, (time, frame) in enumerate(source):
        if count and time >= limit - 1e-3:
            return
        yield time, frame


def refuse_output(kind: JobKind, output: Path, background: str) -> None:
    """Refuse an output name a ``kind`` job cannot write: a preview is a PNG, a video an MP4, or
    WebM / MOV with alpha over ``transparent``. The job checks it, and the ``render`` command
    first, before it queues a job that would only fail (and stay in the jobs list as failed)."""
    if kind == JobKind.PREVIEW:
        if output.suffix.lower() != ".png":
            raise InputError(f"cannot write a preview to {output.name}: use .png")
        return
    transparent = is_transparent(background)
    if output.suffix.lower() not in VIDEO_OUTPUTS[transparent]:
        what = "a transparent video" if transparent else "a video"
        raise InputError(f"cannot render {what} to {output.name}: use "
                         f"{' or '.join(VIDEO_OUTPUTS[transparent])}")


def render_video(input: str | os.PathLike[str], output: str | os.PathLike[str],
                 settings: RenderSettings, progress: Progress | None = None) -> RenderResult:
    """Render the first ``settings.max_seconds`` of a video over the background: MP4/H.264 with
    the source's frame times and sound, or WebM VP9 / ProRes 4444 MOV with alpha for
    ``transparent``. The file appears only when complete; a bad input leaves nothing behind.
    ``output``'s folder must exist (the queue makes its staging folder): a job deleted while
    it loads must not have its folder made again."""
    input, output = Path(input), Path(output)
    refuse_output(JobKind.VIDEO, output, settings.background)
    info = _probe_input(JobKind.VIDEO, input, 0.0, settings)
    assert info.rate is not None  # `probe` gives a video's rate
    size = fit_size(info.width, info.height)
    frame_length = float(1 / info.rate)
    # The cut falls at the end of the last frame that starts before max_seconds.
    cut = math.ceil(settings.max_seconds * info.rate - 1e-6) * frame_length
    end = cut if info.duration is None else min(cut, info.duration)
    with parse_background(settings.background, settings.fit) as background:
        transparent = isinstance(background, TransparentBackground)
        pipeline = _pipeline(settings, background)
        frames, seconds = 0, 0.0
        timed = _fitted(_until(VideoFile(input, None, info.rate).timed(), settings.max_seconds),
                        size)
        # Decoding, matting and encoding overlap (see `overlap`).
        with VideoSink(output, input, transparent, cut) as sink, \
                closing(overlapped(timed, pipeline.composited, sink.write)) as written:
            for time in written:
                frames, seconds = frames + 1, time + frame_length
                if progress is not None:
                    progress(min(1.0, seconds / end))
            if info.duration is not None and seconds < end - 2 * frame_length:
                raise InputError(f"{input} is damaged: its frames stop after {seconds:.2f} s "
                                 f"of {end:.2f} s")
    notes = _size_note(info)
    if info.duration is not None and info.duration > settings.max_seconds:
        notes += (f"cut to the first {seconds:g} s of {info.duration:.1f} s",)
    return RenderResult((output,), frames, size, seconds, notes)


def _refuse_time(info: MediaInfo, at: float) -> None:
    if not at >= 0 or (info.duration is not None and at >= info.duration):  # nan too
        # As precise as the time asked for: 2.917 s was refused as past "2.92 s long".
        length = "" if info.duration is None else f" (it is {info.duration:g} s long)"
        raise InputError(f"cannot preview {info.path} at {at:g} s{length}")


def _probe_input(kind: JobKind, input: str | os.PathLike[str], at: float,
                 settings: RenderSettings) -> MediaInfo:
    """The input of a ``kind`` job, described, or an `InputError` for one the job cannot
    render: not a video (or, for a preview, a picture) it takes, damaged, a preview's time
    outside the clip."""
    if kind == JobKind.PREVIEW:
        info = probe(input, images=True, until=at + 1)
        if info.kind != "image":
            _refuse_time(info, at)
        return info
    return probe(input, until=settings.max_seconds)


def refuse_places(kind: JobKind, input: str | os.PathLike[str], output: Path,
                  background: str) -> None:
    """Refuse outputs a ``kind`` job cannot write: one that would replace its input or its
    background, one a folder has the name of, one whose folder a file stands in the way of or
    takes no files (a folder this machine does not have is left to the worker that makes it,
    which may run elsewhere)."""
    read = background_file(background)
    for path in (output, cutout_path(output)) if kind == JobKind.PREVIEW else (output,):
        refuse_overwrite(path, input=input, background=read)
        refuse_folder(path, "image" if kind == JobKind.PREVIEW else "video")
    refuse_unmakeable(output.parent)
    refuse_unwritable(output.parent)


def refuse_job(kind: JobKind, input: str | os.PathLike[str], output: Path, at: float,
               settings: RenderSettings) -> None:
    """Refuse a ``kind`` job that would fail on its output, its input, its background or its
    model, as the job itself would: the ``render`` command runs this before it queues a job
    that would only fail, and stay in the jobs list as failed. A file this machine cannot see
    is left to the worker, which may run elsewhere; a model file is checked when it loads."""
    refuse_output(kind, output, settings.background)
    refuse_places(kind, input, output, settings.background)
    if Path(input).exists():
        _probe_input(kind, input, at, settings)
    # A relative name is this folder's (the queue makes it absolute): one not here is a typo
    # of a built-in's name, or a missing file, for any worker.
    background = own_file(settings.background)
    if background is None or background.exists() or not background.is_absolute():
        with parse_background(settings.background, settings.fit):
            pass
    if settings.model in MODEL_NAMES or Path(settings.model).expanduser().exists():
        resolve_model_path(settings.model)


def frame_at(info: MediaInfo, at: float, keep_alpha: bool = False) -> np.ndarray:
    """The frame of a video showing at ``at`` seconds: seek to the key frame before it,
    then decode forward. With ``keep_alpha``, straight RGBA where the frame has transparency
    (as the preview's input; see `obs_bgremover.media.Shown`), else flattened over black (as
    a thumbnail shows it)."""
    _refuse_time(info, at)
    try:
        with open_container(info.path) as container:
            stream = checked_video_stream(container, info.path)
            assert info.rate is not None  # `probe` accepted the file as a video, with a rate
            container.seek(int(at / time_base(stream)), stream=stream, backward=True)
            shown = Shown(stream, keep_alpha)
            half_frame = 0.5 / float(info.rate)
            last = None
            for frame in decode(container, stream):
                if frame.time is None or frame.time + half_frame >= at:
                    return shown(frame)
                last = frame
            if last is not None and info.duration is not None:
                return shown(last)  # past its middle, and on screen till the clip's end
    except av.FFmpegError as err:
        raise InputError(f"cannot decode {info.path} at {at:g} s: {err}") from err
    raise InputError(f"{info.path} has no frame at {at:g} s")


def cutout_path(output: Path) -> Path:
    """Where a preview's cut-out (the person alone, PNG with alpha) goes, beside the composite."""
    return output.with_name(f"{output.stem}-cutout.png")


def render_preview(input: str | os.PathLike[str], output: str | os.PathLike[str], at: float,
                   settings: RenderSettings, progress: Progress | None = None) -> RenderResult:
    """Render one frame (of a video at ``at`` seconds, or an image) as two PNGs: ``output``, the
    person over the background, and `cutout_path` (``output``), the person alone with alpha,
    in a folder that exists (as for `render_video`)."""
    input, output = Path(input), Path(output)
    refuse_output(JobKind.PREVIEW, output, settings.background)
    info = _probe_input(JobKind.PREVIEW, input, at, settings)
    frame = (read_image(input, keep_alpha=True) if info.kind == "image"
             else frame_at(info, at, keep_alpha=True))
    size = fit_size(info.width, info.height)
    if frame.shape[1::-1] != size:
        frame = fit(frame, size, "stretch")
    with parse_background(settings.background, settings.fit) as background:
        matte = _pipeline(settings, background).run(frame, at)
    cutout = Compositor(TransparentBackground(),
                        CompositeSettings(decontaminate=settings.decontaminate))
    assert matte.composite is not None  # the pipeline has a compositor
    write_image(output, matte.composite)
    write_image(cutout_path(output), cutout(matte.frame, matte.alpha))
    if progress is not None:
        progress(1.0)
    return RenderResult((output, cutout_path(output)), 1, size, 0.0, _size_note(info))
