"""Decide by its content, before any work, whether a file can be rendered.

A render queue takes files from users who drag in whatever they have, and a worker may run on
another machine, so every check happens in the task, on the bytes: the name's extension is never
trusted. A file is accepted when FFmpeg finds one of the common containers with a common video
codec that decodes (or, for a preview, a PNG, JPEG or GIF image); anything else fails with a
message that lists what is accepted (in the caller's words: what a front end takes may be less
than what a render could). A damaged or truncated file fails here too, so a render never starts
on a file that would stop half way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from obs_bgremover.errors import InputError
from obs_bgremover.media import (
    END_SLACK_S,
    cut_short,
    declared_duration,
    display_size,
    frame_rate,
    open_container,
    stream_start,
    video_stream,
)
from obs_bgremover.pictures import is_animation, refuse_heif

# FFmpeg's demuxer names (a demuxer may list several, e.g. "mov,mp4,m4a,3gp,3g2,mj2") that hold
# the accepted containers: MP4, MOV and M4V share one demuxer, as do MKV and WebM.
CONTAINERS = {"mov": "MP4/MOV/M4V", "mp4": "MP4/MOV/M4V", "matroska": "MKV/WebM", "avi": "AVI"}
CODECS = ("h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video", "mjpeg", "prores", "dnxhd")
VIDEOS = "a video in MP4, MOV, M4V, MKV, WebM or AVI (codecs: " + ", ".join(CODECS) + ")"
STILLS = "a PNG, JPEG or GIF image"
ACCEPTED = f"{VIDEOS}, or {STILLS} for a preview"

# Leading bytes of the accepted files, to tell "damaged" from "not a video at all" when FFmpeg
# cannot open a file: an MP4 cut before its index (the 'moov' box) does not open, but it still
# starts like an MP4.
SIGNATURES = (
    (4, b"ftyp", "MP4/MOV"),
    (0, b"\x1a\x45\xdf\xa3", "MKV/WebM"),
    (8, b"AVI ", "AVI"),
)
IMAGES = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"))


@dataclass(frozen=True)
class MediaInfo:
    """What a render needs to know about an accepted input."""

    path: Path
    kind: str
    """``video`` or ``image``."""
    format: str
    """The container (``MP4/MOV/M4V``, ``MKV/WebM``, ``AVI``) or image type (``png``, ``jpeg``)."""
    codec: str
    width: int
    height: int
    """The size as players show it: a phone's portrait video, stored on its side, is taller
    than wide here (see `obs_bgremover.media.Shown`)."""
    rate: Fraction | None = None
    duration: float | None = None
    """Seconds of video, as the file declares it or, where it declares none, as its packets
    show; None for an image, and for an undeclared length that runs past what `probe` was
    asked to read."""
    audio: bool = False


def _signature(head: bytes) -> str | None:
    for offset, magic, name in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def _image(path: Path, head: bytes) -> MediaInfo | None:
    """The image's size, if the file is a PNG, JPEG or GIF that decodes (an animated one, as a
    background, plays in a loop: `obs_bgremover.pictures.is_animation`)."""
    for magic, kind in IMAGES:
        if head.startswith(magic):
            try:
                with open_container(path) as container:
                    frame = next(container.decode(video=0))
            except (av.FFmpegError, StopIteration) as err:
                raise InputError(f"{path} is a damaged {kind.upper()} image ({err})") from err
            return MediaInfo(path, "image", kind, kind, *display_size(frame, None))
    return None


def _length(container: av.container.InputContainer, stream: av.VideoStream, path: Path,
            until: float) -> float | None:
    """The video's length in seconds, read from its packets up to ``until`` (all a render
    reads); only packets are read, nothing is decoded, so this costs little more than reading
    the file.

    A file that declares its length fails when its packets stop short of it (or of ``until``):
    it was cut short, e.g. by an interrupted download or copy. One that declares none (a WebM a
    browser recorded, a recording cut off by a crash) has the length its packets show, or None
    when they run past ``until``."""
    declared = declared_duration(container, stream)
    expected = until if declared is None else min(declared, until)
    start = float(stream_start(stream))
    end = start
    for packet in container.demux(stream):
        if packet.pts is None or packet.time_base is None:
            continue
        end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        if end - start >= expected:
            return declared
    if declared is None:
        return end - start
    if end - start < expected - END_SLACK_S:
        raise cut_short(path, end - start, declared)
    return declared


def _format_name(format: av.format.ContainerFormat) -> str:
    """A file format as a user knows it: FFmpeg calls a BMP or a WebP picture a "piped bmp
    sequence" (its demuxer ``bmp_pipe``)."""
    if format.name.endswith("_pipe"):
        return f"a {format.name.removesuffix('_pipe').upper()} image"
    return format.long_name or format.name


def probe(path: str | os.PathLike[str], *, images: bool = False,
          until: float = float("inf"), accepted: str = ACCEPTED) -> MediaInfo:
    """Check that ``path`` is an accepted, complete video (or, with ``images``, a PNG, JPEG or GIF)
    and describe it; an `InputError` says what is wrong and what is accepted otherwise.

    ``until``: the seconds a render will read; damage after that point does not matter.
    ``accepted``: what the errors say is accepted, in the caller's words (the web app takes
    no image as a clip, so it must not offer one "for a preview").
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input {path} does not exist")
    with path.open("rb") as file:
        head = file.read(16)
    image = _image(path, head)
    if image is not None:
        if not images:
            raise InputError(
                f"{path} is {'an animated' if is_animation(path) else 'a still'} "
                f"{image.format.upper()} image: a video render needs a video; "
                f"accepted: {accepted}"
            )
        return image
    refuse_heif(path)
    try:
        with open_container(path) as container:
            demuxers = set(container.format.name.split(","))
            names = sorted({CONTAINERS[name] for name in demuxers & CONTAINERS.keys()})
            if not names:
                raise InputError(f"{path} is {_format_name(container.format)}, which is not "
                                 f"accepted; accepted: {accepted}")
            stream = video_stream(container)
            if stream is None:
                raise InputError(f"{path} has no video stream; accepted: {accepted}")
            codec = stream.codec_context.name
            if codec not in CODECS:
                raise InputError(
                    f"{path} holds {codec} video, which is not accepted; accepted: {accepted}"
                )
            first = next(container.decode(stream), None)
            if first is None:
                raise InputError(f"{path} has no video frames")
            container.seek(0)
            length = _length(container, stream, path, until)
            return MediaInfo(
                path,
                "video",
                names[0],
                codec,
                *display_size(first, stream),
                frame_rate(stream),
                length,
                bool(container.streams.audio),
            )
    except av.FFmpegError as err:
        kind = _signature(head)
        if kind is not None:
            raise InputError(
                f"{path} is a damaged or truncated {kind} file ({err.strerror or err})"
            ) from err
        raise InputError(
            f"{path} is not a video or image FFmpeg can read ({err.strerror or err}); "
            f"accepted: {accepted}"
        ) from err
