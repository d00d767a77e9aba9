"""Readers of the files the front ends take frames from: images, folders of images, videos.

Each comes in as RGB uint8 frames (the layout the model takes; straight RGBA where a picture
or a video has transparency), each with the name its output is saved under. A video's frames
are decoded with their alpha (`decode`) and read as a player shows them (`Shown`). Still
pictures themselves are read and written by `pictures`, and outputs are put in place by
`outputs`.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Protocol, cast, overload

import av
import cv2
import numpy as np
from av.sidedata.sidedata import Type as SideData
from av.video.reformatter import (
    ColorPrimaries,
    ColorRange,
    Colorspace,
    ColorTrc,
    VideoReformatter,
)

from obs_bgremover.errors import InputError
from obs_bgremover.pictures import (
    is_image,
    is_still_image,
    read_image,
    refuse_heif,
    transparency,
)

# A video's frames may end this much (and a frame) before the length it declares without the file
# counting as cut short: rounding of the declared length, a last frame without a duration.
END_SLACK_S = 0.25

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
ACCEPTED = (
    f"an image ({', '.join(IMAGE_SUFFIXES)}), a folder of images, "
    "or a video FFmpeg can decode (.mp4, .mov, .mkv, .webm, ...)"
)


class FrameSource(Protocol):
    """Frames to process in order, each with the name its output is saved under."""

    @property
    def count(self) -> int | None:
        """How many frames, where known before decoding (for progress)."""

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]: ...


# How a frame is turned upright, by what its display matrix says (`_upright`): FFmpeg's
# transpose filter's four quarter turns and its two flips, as OpenCV and numpy do them.
_STEPS = {
    "cclock_flip": lambda pixels: np.ascontiguousarray(pixels.swapaxes(0, 1)),  # a transpose
    "clock": lambda pixels: cv2.rotate(pixels, cv2.ROTATE_90_CLOCKWISE),
    "cclock": lambda pixels: cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE),
    "clock_flip": lambda pixels: np.ascontiguousarray(pixels[::-1, ::-1].swapaxes(0, 1)),
    "hflip": lambda pixels: cv2.flip(pixels, 1),
    "vflip": lambda pixels: cv2.flip(pixels, 0),
}


# The steps for a display matrix's counter-clockwise angle alone (`av.VideoFrame.rotation`).
_ROTATIONS = {90: ("cclock",), -90: ("clock",), 180: ("hflip", "vflip"),
              -180: ("hflip", "vflip")}


def _upright(frame: av.VideoFrame) -> tuple[str, ...]:
    """The steps (`_STEPS`) that show a frame as its display matrix says, in order: FFmpeg's
    players' own reading of it (ffplay's and ffmpeg's autorotate). The matrix holds a flip as
    well as a turn: a mirrored selfie clip's says "flip horizontally", which its angle alone
    (`av.VideoFrame.rotation`, 180 degrees) took for half a turn, upside down. Another angle
    than a quarter turn's (which no camera writes) is left as it is."""
    try:
        side = frame.side_data.get(SideData.DISPLAYMATRIX)
    except ValueError:  # side data of a type this PyAV does not know (a JPEG's EXIF block)
        return _ROTATIONS.get(round(frame.rotation), ())  # the angle alone, read by FFmpeg
    if side is None:
        return ()
    matrix = np.frombuffer(bytes(side), np.int32)
    if matrix.size < 9:
        return ()
    a, b, c, d = (float(value) for value in matrix[[0, 1, 3, 4]])
    if not math.hypot(a, c) or not math.hypot(b, d):
        return ()
    theta = math.degrees(math.atan2(b / math.hypot(b, d), a / math.hypot(a, c)))
    theta = math.copysign(math.floor(abs(theta) + 0.5), theta)  # C's round()
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)  # into -0.9..359.1
    if abs(theta - 90) < 1:
        return ("cclock_flip",) if c > 0 else ("clock",)
    if abs(theta - 180) < 1:
        return (("hflip",) if a < 0 else ()) + (("vflip",) if d < 0 else ())
    if abs(theta - 270) < 1:
        return ("clock_flip",) if c < 0 else ("cclock",)
    if abs(theta) < 1 and d < 0:
        return ("vflip",)
    return ()


def _sideways(frame: av.VideoFrame) -> bool:
    """Whether the frame is shown a quarter turned, its width and height swapped."""
    return any(step.startswith(("clock", "cclock")) for step in _upright(frame))


# The transfers of HDR video (BT.2100): PQ and HLG.
HDR_TRANSFERS = (ColorTrc.SMPTE2084, ColorTrc.ARIB_STD_B67)

# The decoders that read a WebM's alpha, by the codec of its stream (see `decode`).
ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}


def decode(container: av.container.InputContainer, stream: av.VideoStream,
           ends: list[float] | None = None) -> Iterator[av.VideoFrame]:
    """The frames of a video stream from where the container stands (its start, or where it
    was seeked to), with their alpha where the file has one. ``ends``, a list of one number:
    every stream's packets are read then, and it is raised to where the last one of any
    stream ends, in seconds (where the file's data stop, which `VideoFile.timed` checks).

    WebM keeps a VP8 or VP9 frame's alpha beside it, in Matroska's BlockAdditional side data
    (the stream says ``alpha_mode`` 1, in any case: a remuxed file's tag says ``ALPHA_MODE``;
    and reports a pixel format without alpha), as our own
    transparent renders and other editors write it. FFmpeg's own VP8 and VP9 decoders ignore
    that side data, and what the file hides came back; libvpx's decoders read it from each
    packet, so such a stream is decoded by them from the demuxed packets. Other codecs
    (ProRes 4444, QuickTime Animation, PNG, FFV1, ...) carry alpha in the frame itself, and
    FFmpeg's own decoders read it.
    """
    packets = container.demux(stream) if ends is None else _packets(container, stream, ends)
    name = ALPHA_DECODERS.get(stream.codec_context.name)
    alpha_mode = {key.lower(): value for key, value in stream.metadata.items()}.get("alpha_mode")
    if name is None or alpha_mode != "1":
        return (frame for packet in packets for frame in packet.decode())
    # ``name`` is one of ALPHA_DECODERS' video decoders, which PyAV's types cannot tell.
    decoder = cast(av.VideoCodecContext, av.CodecContext.create(name, "r"))
    return _decode_with(decoder, packets, stream)


def _packets(container: av.container.InputContainer, stream: av.VideoStream,
             ends: list[float]) -> Iterator[av.Packet]:
    """The stream's packets, the file's other streams' read past; ``ends[0]`` raised to where
    the last packet of any stream ends, in seconds."""
    for packet in container.demux():
        if packet.pts is not None and packet.time_base is not None and packet.size:
            ends[0] = max(ends[0], float((packet.pts + max(0, packet.duration or 0))
                                         * packet.time_base))
        if packet.stream.index == stream.index:
            yield packet


def _decode_with(decoder: av.VideoCodecContext, packets: Iterator[av.Packet],
                 stream: av.VideoStream) -> Iterator[av.VideoFrame]:
    """The stream's frames decoded by ``decoder`` rather than the stream's own; each frame
    keeps its packet's time (``frame.time``), and the last packet, an empty one, flushes."""
    decoder.thread_type = stream.thread_type
    decoder.extradata = stream.codec_context.extradata
    for packet in packets:
        yield from decoder.decode(packet)


def _has_alpha(frame: av.VideoFrame) -> bool:
    return any(component.is_alpha for component in frame.format.components)


def _pixel_aspect(stream: av.VideoStream) -> Fraction:
    """The shape of the stream's pixels, width over height: 1 for square ones and where the
    file does not say."""
    aspect = stream.sample_aspect_ratio
    return Fraction(1) if not aspect or aspect <= 0 else Fraction(aspect)


def _square_width(width: int, aspect: Fraction) -> int:
    return max(1, round(width * aspect))


def _one_field(pixels: np.ndarray) -> np.ndarray:
    """An interlaced frame as its first field alone, each line of the other field made from
    the lines above and below it. Its two fields were filmed a field apart: woven into one
    picture, anything moving has a comb of alternate lines along its edges, which the network
    takes for detail and the output would keep."""
    if len(pixels) < 3:
        return pixels
    out = pixels.copy()
    between = cv2.addWeighted(pixels[0:-2:2], 0.5, pixels[2::2], 0.5, 0)
    out[1 : 1 + 2 * len(between) : 2] = between
    if len(pixels) % 2 == 0:
        out[-1] = pixels[-2]
    return out


# A video frame whose file names no colour matrix (AVCOL_SPC_UNSPECIFIED).
_UNTAGGED = 2


def _untagged_colours(frame: av.VideoFrame) -> dict[str, Colorspace]:
    """The matrix a YUV frame without a colour tag of its own is read with, as players read
    it (mpv, VLC, QuickTime): BT.709 for HD, from 1280 wide or above 576 high, BT.601 below.
    FFmpeg's converter takes BT.601 for any size: an untagged 720p screen recording came out,
    tagged BT.709, with its reds 23 levels off and skin tones shifted."""
    if (frame.colorspace != _UNTAGGED or frame.format.is_rgb
            or (frame.width < 1280 and frame.height <= 576)):
        return {}
    return {"src_colorspace": Colorspace.ITU709}


class Shown:
    """Turns the decoded frames of one stream into RGB uint8 pixels as a player shows them on
    an SDR screen, in square pixels. Make one per stream.

    Tape-era and broadcast formats store non-square pixels: a 16:9 DV clip is 720x480 pixels
    shown 853 wide, an HDV one 1440x1080 shown 1920 wide. Taken as stored, the person would
    come out squeezed, and a background fitted to the stored grid stretched; so the frame is
    scaled to its shown width (a player does the same). They are often interlaced too (a frame
    holds two fields filmed a field apart), which players deinterlace; here an interlaced
    frame keeps its first field (`_one_field`), the simplest way that leaves no comb and adds
    no delay, at the cost of half the vertical detail.

    Phone footage needs the other two steps. Phones store portrait video, and take portrait
    JPEGs, on their side and say in the file how to turn them (a display matrix, which FFmpeg
    reads from the container or the EXIF orientation); players and OpenCV's readers turn them.
    And they film HDR (an iPhone's clips are HLG, in BT.2020 colours), which players tone-map.
    Taken as stored, the network would see a person lying down, or grey and flat, and the
    output would keep that look. FFmpeg's converter tone-maps HDR into BT.709 when asked for it;
    it builds its tables once, in about a second and a half, which is why the object keeps it
    from frame to frame (then about 35 ms a 1080p frame, against 100 for the same in numpy).

    A frame with transparency (ProRes 4444, QuickTime Animation, a WebM with alpha, ...) is
    straight RGBA with ``keep_alpha``, as an input keeps it for the pipeline to multiply into
    its matte, and goes through each of these steps with its alpha; otherwise it is flattened
    over black, as a background picture is (`obs_bgremover.pictures.transparency`): taken as
    RGB alone, it showed the colours its transparent parts hide.
    """

    def __init__(self, stream: av.VideoStream, keep_alpha: bool = False) -> None:
        self._aspect = _pixel_aspect(stream)
        self._keep_alpha = keep_alpha
        self._converter = VideoReformatter()
        self._upright: tuple[str, ...] | None = None

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        """The frame's pixels, SDR, progressive, square and upright.

        Every frame goes through the one converter this object keeps, and the display matrix
        is read from the stream's first frame only: ``frame.to_ndarray(format=...)`` gives each
        frame a converter of its own, whose scaler starts a thread per core, and reading a
        frame's ``side_data`` ties the frame into a reference cycle. Together they kept every
        decoded frame, its picture and its threads until Python's rare full collection: a
        render worker grew by about 10 MB and dozens of idle threads a job."""
        alpha = _has_alpha(frame)
        layout = "rgba" if alpha else "rgb24"
        hdr = {"dst_colorspace": Colorspace.ITU709, "dst_color_range": ColorRange.JPEG,
               "dst_color_trc": ColorTrc.BT709, "dst_color_primaries": ColorPrimaries.BT709,
               } if frame.color_trc in HDR_TRANSFERS else _untagged_colours(frame)
        if self._upright is None:
            self._upright = _upright(frame)
        interlaced = frame.interlaced_frame
        pixels: np.ndarray = self._converter.reformat(frame, format=layout, **hdr).to_ndarray()
        if alpha:
            pixels = transparency(pixels, self._keep_alpha)
        if interlaced:
            pixels = _one_field(pixels)
        if self._aspect != 1:
            width = _square_width(frame.width, self._aspect)
            pixels = cv2.resize(pixels, (width, frame.height), interpolation=(
                cv2.INTER_AREA if width < frame.width else cv2.INTER_CUBIC))
        for step in self._upright:
            pixels = _STEPS[step](pixels)
        return pixels


def display_size(frame: av.VideoFrame, stream: av.VideoStream | None) -> tuple[int, int]:
    """(width, height) of a frame of ``stream`` as `Shown` makes it, without converting its
    pixels; ``stream`` None for a picture, which OpenCV reads in square pixels whatever its
    header says."""
    width = frame.width if stream is None else _square_width(frame.width, _pixel_aspect(stream))
    return (frame.height, width) if _sideways(frame) else (width, frame.height)


@overload
def open_container(path: str | os.PathLike[str], mode: Literal["r"] = "r", **options: Any
                   ) -> av.container.InputContainer: ...


@overload
def open_container(path: str | os.PathLike[str], mode: Literal["w"], **options: Any
                   ) -> av.container.OutputContainer: ...


def open_container(path: str | os.PathLike[str], mode: Literal["r", "w"] = "r", **options: Any
                   ) -> av.container.InputContainer | av.container.OutputContainer:
    """``av.open`` on a local file, by its absolute path: FFmpeg takes a relative name with a
    colon in it (``take:2.webm``, ``2024-01-01T10:00.mp4``) for a protocol and fails with
    "Protocol not found", where a name that starts with a folder is a file to it."""
    return av.open(os.path.abspath(path), mode, **options)


def video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    """The video a file is played as: FFmpeg's best video stream, as players pick it, not the
    first one listed, which may be a cover picture or a small preview track (a camera's proxy,
    a thumbnail track muxed first). None for a file without video, and for a song whose only
    picture is its cover (which FFmpeg's pick falls back to)."""
    stream = container.streams.best("video")
    if stream is None or stream.disposition & av.stream.Disposition.attached_pic:
        return None
    return cast(av.VideoStream, stream)  # best("video") is a video stream


def checked_video_stream(container: av.container.InputContainer, path: str | os.PathLike[str]
                         ) -> av.VideoStream:
    """`video_stream`, for a file that was found to hold video when it was first opened: one
    replaced since by a file without (a background saved over, a clip swapped while its job
    waited) is refused naming it, not failed with an ``AttributeError`` of None."""
    stream = video_stream(container)
    if stream is None:
        raise InputError(f"{path} has no video stream any more: it was replaced after it was "
                         "checked")
    return stream


def frame_rate(stream: av.VideoStream) -> Fraction:
    """Frames per second of a video stream, for frames without times of their own and for
    what a file writes: the mean rate, else the rate FFmpeg guesses from the first frames'
    times, else 25. One rule for every reader and writer, so a file's frames are timed the
    same in `replace`, a render job and a background loop."""
    return stream.average_rate or stream.guessed_rate or Fraction(25)


def stream_start(stream: av.stream.Stream) -> Fraction:
    """When a stream starts, in seconds (0 where the file does not say): the time a video's
    frames are counted from (`VideoFile.timed`) and its sound is aligned to
    (`obs_bgremover.video_sink.VideoSink`), so the two cannot disagree."""
    return Fraction(0) if stream.start_time is None else stream.start_time * time_base(stream)


def time_base(stream: av.stream.Stream) -> Fraction:
    """The unit of a stream's times, in seconds. PyAV types it optional (an output stream has
    none until it is opened), while FFmpeg gives every stream it demuxes one."""
    return cast(Fraction, stream.time_base)


def declared_duration(container: av.container.InputContainer,
                      stream: av.VideoStream) -> float | None:
    """Seconds of video the file declares, counted from the video stream's start
    (`stream_start`): the stream's own length or end where the file states it (an MP4 track's
    length; a Matroska ``DURATION`` tag, which is where the track ends on the file's timeline),
    since a sound track may run longer; else the container's length where the video is all
    it holds. None where nothing is declared for the video: a recording cut off by a crash,
    and a file whose only length is the container's while it holds sound too (a Matroska file
    written without ``DURATION`` tags), whose length is its longest track's, often the sound's
    (`VideoFile.timed` checks the file's data against it instead)."""
    if stream.duration:
        length = float(stream.duration * time_base(stream))
        # An AVI cut short (a copy or a download stopped half way) keeps its header's count of
        # frames, while FFmpeg takes its length from what remains of its index: half a file
        # was read as whole. (An MP4's count includes frames its edit list leaves out.)
        if container.format.name == "avi" and stream.frames:
            length = max(length, stream.frames / float(frame_rate(stream)))
        return length
    start = float(stream_start(stream))
    hours, _, rest = stream.metadata.get("DURATION", "").partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return 3600 * int(hours) + 60 * int(minutes) + float(seconds) - start
    except ValueError:
        end = _container_end(container)
        if end is None or _other_tracks(container, stream):
            return None
        return end - start


def _container_end(container: av.container.InputContainer) -> float | None:
    """Where the container says its longest track ends, in seconds; None where it does not."""
    if not container.duration:
        return None
    return float(((container.start_time or 0) + container.duration) / av.time_base)


def _other_tracks(container: av.container.InputContainer, stream: av.VideoStream) -> bool:
    """Whether the file holds a track beside ``stream`` that may run longer: sound, subtitles,
    data, another video (not an attached font, nor a cover picture)."""
    return any(
        other.index != stream.index and other.type != "attachment"
        and not other.disposition & av.stream.Disposition.attached_pic
        for other in container.streams
    )


def _frame_length(frame: av.VideoFrame) -> float | None:
    """How long a frame is shown, in seconds, where its file says (its packet's duration);
    None where not. A variable-frame-rate file (a screen recording: a frame only when the
    screen changes) holds a frame as long as nothing moves, seconds at the end."""
    if not frame.duration or frame.duration < 0 or frame.time_base is None:
        return None
    return float(frame.duration * frame.time_base)


@dataclass(frozen=True)
class ImageFiles:
    """Still images, one frame each, named after the file's stem."""

    paths: tuple[Path, ...]
    skipped: tuple[str, ...] = ()
    """The names of a folder's other files (not hidden), for the user to see what was left out:
    a picture of a kind the folder reader does not take would otherwise vanish without a word."""

    @property
    def count(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for path in self.paths:
            yield path.stem, read_image(path, keep_alpha=True)


@dataclass(frozen=True)
class VideoFile:
    """The frames of a video's main video stream (`video_stream`), decoded by PyAV, named 00000,
    00001, ..."""

    path: Path
    count: int | None
    """Frames the file says it holds, or as many as its length at its average rate makes
    (Matroska and WebM state no count: a progress bar then has a total all the same); None
    where it says neither."""
    rate: Fraction
    """Frames per second on average, for a frame that carries no time of its own."""

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for index, (_, frame) in enumerate(self.timed()):
            yield f"{index:05d}", frame

    def timed(self) -> Iterator[tuple[float, np.ndarray]]:
        """Each frame with its time in seconds after the video stream's start (`stream_start`),
        straight RGBA where it has transparency (`Shown`). A phone films at a variable
        frame rate (fewer frames in low light), so these times, not a frame's number over the
        average rate, keep a render in sync with its sound; and a file cut between key frames
        starts with frames that do not decode, so its first picture comes after the start."""
        try:
            with open_container(self.path) as container:
                stream = checked_video_stream(container, self.path)
                stream.thread_type = "AUTO"
                shown = Shown(stream, keep_alpha=True)
                start = float(stream_start(stream))
                frame_length = float(1 / self.rate)
                declared = declared_duration(container, stream)
                container_end = _container_end(container)
                # Where the file's data end, every stream's, read only where the container's
                # length is all there is to check against (see `_check_length`).
                ends = [start] if declared is None and container_end is not None else None
                last = end = None  # the last frame's time; where the frames end
                shift = 0.0  # added to the file's times once they went back (see below)
                for frame in decode(container, stream, ends):
                    time = frame.time
                    if time is None:  # no timestamp: the next frame at the average rate
                        time = start if last is None else last + frame_length
                    else:
                        time += shift
                        if last is not None and time <= last:
                            # The times start again (files joined end to end, a capture's
                            # clock reset): the rest follows on at the average rate, rather
                            # than all at once.
                            shift += last + frame_length - time
                            time = last + frame_length
                    # A frame ends after its own duration where the file gives one: the last
                    # frame of a screen recording is held as long as nothing moved, seconds.
                    # The latest end counts, since an MP4's durations are those of its frames
                    # in decoding order, which may put that hold on a frame shown earlier.
                    own = _frame_length(frame) or frame_length
                    last, end = time, max(time + own, end or 0.0)
                    yield time - start, shown(frame)
                if end is not None:
                    stop = end
                    # the container's length, against the file's data (``ends`` is only
                    # made where there is one)
                    if ends is not None and container_end is not None:
                        declared, stop = container_end - start, ends[0]
                    self._check_length(end - start, stop - start, declared, frame_length)
        except av.FFmpegError as err:
            raise InputError(f"cannot decode video {self.path}: {err}") from err

    def _check_length(self, end: float, stop: float, declared: float | None,
                      frame_length: float) -> None:
        """Refuse a file cut short: it stops (at ``stop`` seconds after the video's start: its
        frames' ``end``, their own durations counted, or, where only the container declares a
        length while the file holds sound too, where any stream's data end) well before the
        length it declares; an interrupted download's decodable part was once a shorter video
        without a word."""
        if declared is not None and stop < declared - END_SLACK_S - frame_length:
            raise cut_short(self.path, end, declared)


def cut_short(path: Path, end: float, declared: float) -> InputError:
    """The error for a video whose frames stop at ``end`` seconds, well before the length it
    declares, in the same words whichever command finds it."""
    return InputError(f"{path} is damaged or cut short (an interrupted download or copy?): "
                      f"its frames stop after {end:.2f} s of the {declared:.2f} s it declares")


def _image_folder(folder: Path) -> ImageFiles:
    files = sorted(path for path in folder.iterdir()
                   if path.is_file() and not path.name.startswith("."))
    paths = tuple(path for path in files if path.suffix.lower() in IMAGE_SUFFIXES)
    skipped = tuple(path.name for path in files if path.suffix.lower() not in IMAGE_SUFFIXES)
    if not paths:
        raise InputError(f"folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)})")
    # Case folded: on the disks of Windows and macOS, Photo.png and photo.png are one file.
    stems = Counter(path.stem.casefold() for path in paths)
    clashes = [path.name for path in paths if stems[path.stem.casefold()] > 1]
    if clashes:
        raise InputError(
            f"folder {folder} has images of the same name, {', '.join(clashes)}; their PNGs "
            "would overwrite each other"
        )
    unreadable = [path.name for path in paths if not is_image(path)]
    if unreadable:
        raise InputError(f"folder {folder}: not images OpenCV can decode: {', '.join(unreadable)}")
    return ImageFiles(paths, skipped)


def _video_file(path: Path) -> VideoFile:
    try:
        with open_container(path) as container:
            stream = video_stream(container)
            if stream is None:
                raise InputError(f"{path} has no video stream; expected {ACCEPTED}")
            if next(container.decode(stream), None) is None:
                raise InputError(f"video {path} has no frames")
            rate = frame_rate(stream)
            length = declared_duration(container, stream)
            count = stream.frames or (round(length * rate) if length else None)
            return VideoFile(path, count or None, rate)
    except av.FFmpegError as err:
        raise InputError(
            f"cannot read {path} ({err.strerror or err}); expected {ACCEPTED}"
        ) from err


def file_problem(path: Path) -> str | None:
    """Why ``path`` is not a file to open, in words; None when it is one."""
    try:
        if path.is_file():
            return None
        if path.is_dir():
            return "is a folder, not a file"
        return "is not a regular file" if path.exists() else "does not exist"  # a FIFO, a device
    except OSError as err:  # a name too long for the file system, a drive that dropped out
        return f"cannot be read ({err.strerror or err})"


def open_frames(path: str | os.PathLike[str]) -> FrameSource:
    """The frames of an image, a folder of images or a video (an animated GIF or PNG is one).

    Everything that can be checked cheaply is checked here, before a caller writes anything, so
    a bad input fails fast and leaves no partial output behind. A file is told apart by its content
    (OpenCV's signature check for images, then PyAV's probe for video), not by its extension.
    """
    path = Path(path)
    if path.is_dir():
        return _image_folder(path)
    problem = file_problem(path)
    if problem is not None:  # a FIFO was said not to exist
        raise InputError(f"input {path} {problem}")
    if path.stat().st_size == 0:
        raise InputError(f"input {path} is empty (0 bytes)")  # FFmpeg says "invalid data"
    if is_still_image(path):
        return ImageFiles((path,))
    refuse_heif(path)
    return _video_file(path)
