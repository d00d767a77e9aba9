"""Readers and writers for the files the command-line front ends work on.

Images, folders of images and videos come in as RGB uint8 frames (the layout the model takes), each
with the name its output is saved under; alpha mattes go out as 8-bit single-channel PNGs.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np
from av.video.reformatter import (
    ColorPrimaries,
    ColorRange,
    Colorspace,
    ColorTrc,
    VideoReformatter,
)
from PIL import Image, ImageCms

from obs_bgremover.errors import InputError

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


def read_image(path: str | os.PathLike[str], keep_alpha: bool = False) -> np.ndarray:
    """RGB uint8 pixels of an image file; with ``keep_alpha``, RGBA (straight) where the file
    has transparency. Otherwise transparent parts are flattened over black, as OBS shows a
    transparent picture on an empty canvas: OpenCV's colour decoding alone shows whatever a
    program left under them (a layer editor keeps the colours of what was erased).

    Decoding from bytes rather than with ``cv2.imread`` keeps non-ASCII paths working on Windows.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise InputError(f"cannot read image {path}: {err.strerror or err}") from err
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputError(f"cannot read image {path}: not an image OpenCV can decode")
    rgb = _in_srgb(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), data)
    alpha = _transparency(data, rgb.shape[:2])
    if alpha is None:
        return rgb
    if keep_alpha:
        return np.dstack((rgb, alpha))
    return cv2.multiply(rgb, cv2.merge((alpha, alpha, alpha)), scale=1 / 255)


def _in_srgb(rgb: np.ndarray, data: np.ndarray) -> np.ndarray:
    """``rgb``, decoded from ``data``, in sRGB where the file says its colours are in another
    RGB space (an iPhone's Display P3, a camera's Adobe RGB): OpenCV ignores the embedded
    profile, and taken as sRGB, like every video frame, background and output here, such a
    photo came out desaturated (a fifth less on skin) and its profile was lost. LittleCMS,
    through Pillow, converts it; a file without a profile, or with sRGB's, is left alone."""
    try:
        with warnings.catch_warnings():  # only the header is read: no pixels to fear
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            profile = Image.open(io.BytesIO(data)).info.get("icc_profile")
        if not profile:
            return rgb
        embedded = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if (embedded.profile.xcolor_space.strip() != "RGB"
                or "srgb" in ImageCms.getProfileDescription(embedded).lower()):
            return rgb
        converted = ImageCms.profileToProfile(Image.fromarray(rgb), embedded, _SRGB,
                                              outputMode="RGB")
    except (OSError, ValueError, ImageCms.PyCMSError, Image.DecompressionBombError):
        return rgb  # a damaged profile, or a picture too large for Pillow: as if none
    return np.asarray(converted)


_SRGB = ImageCms.createProfile("sRGB")


# The signatures of the formats whose transparency is read: PNG and WebP. (Many 32-bit BMPs
# hold an alpha channel of zeros that no viewer shows; a JPEG has none.)
_ALPHA_SIGNATURES = (b"\x89PNG", b"RIFF")


def _transparency(data: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The 8-bit alpha of encoded picture ``data`` decoded to ``shape``, if it has some
    transparency; None for an opaque one. `IMREAD_COLOR` drops the alpha channel and the
    unchanged decoding skips EXIF orientation, so a picture that may have one is decoded both
    ways, and an alpha that does not fit the turned picture is not used."""
    if not data[:4].tobytes().startswith(_ALPHA_SIGNATURES):
        return None
    full = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if full is None or full.ndim != 3 or full.shape[2] != 4 or full.shape[:2] != shape:
        return None
    alpha = full[..., 3]
    if alpha.dtype == np.uint16:
        alpha = (alpha >> 8).astype(np.uint8)
    if alpha.dtype != np.uint8 or cv2.minMaxLoc(alpha)[0] == 255:
        return None
    return np.ascontiguousarray(alpha)


# How OpenCV turns a frame by the counter-clockwise angle of its display matrix
# (`av.VideoFrame.rotation`, -180..180 degrees).
_TURNS = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, -90: cv2.ROTATE_90_CLOCKWISE,
          180: cv2.ROTATE_180, -180: cv2.ROTATE_180}


# The transfers of HDR video (BT.2100): PQ and HLG.
HDR_TRANSFERS = (ColorTrc.SMPTE2084, ColorTrc.ARIB_STD_B67)


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
    """

    def __init__(self, stream: av.VideoStream) -> None:
        self._aspect = _pixel_aspect(stream)
        self._converter: VideoReformatter | None = None

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        """The frame's pixels, SDR, progressive, square and upright."""
        if frame.color_trc in HDR_TRANSFERS:
            if self._converter is None:
                self._converter = VideoReformatter()
            frame = self._converter.reformat(
                frame, format="rgb24", dst_colorspace=Colorspace.ITU709,
                dst_color_range=ColorRange.JPEG, dst_color_trc=ColorTrc.BT709,
                dst_color_primaries=ColorPrimaries.BT709)
        pixels = frame.to_ndarray(format="rgb24")
        if frame.interlaced_frame:
            pixels = _one_field(pixels)
        if self._aspect != 1:
            width = _square_width(frame.width, self._aspect)
            pixels = cv2.resize(pixels, (width, frame.height), interpolation=(
                cv2.INTER_AREA if width < frame.width else cv2.INTER_CUBIC))
        turn = _TURNS.get(round(frame.rotation))
        return pixels if turn is None else cv2.rotate(pixels, turn)


def display_size(frame: av.VideoFrame, stream: av.VideoStream | None) -> tuple[int, int]:
    """(width, height) of a frame of ``stream`` as `Shown` makes it, without converting its
    pixels; ``stream`` None for a picture, which OpenCV reads in square pixels whatever its
    header says."""
    width = frame.width if stream is None else _square_width(frame.width, _pixel_aspect(stream))
    sideways = round(frame.rotation) in (90, -90)
    return (frame.height, width) if sideways else (width, frame.height)


def video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    """The video a file is played as: FFmpeg's best video stream, as players pick it, not the
    first one listed, which may be a cover picture or a small preview track (a camera's proxy,
    a thumbnail track muxed first). None for a file without video, and for a song whose only
    picture is its cover (which FFmpeg's pick falls back to)."""
    stream = container.streams.best("video")
    if stream is None or stream.disposition & av.stream.Disposition.attached_pic:
        return None
    return stream


def stream_start(stream: av.stream.Stream) -> Fraction:
    """When a stream starts, in seconds (0 where the file does not say): the time a video's
    frames are counted from (`VideoFile.timed`) and its sound is aligned to
    (`obs_bgremover.video_sink.VideoSink`), so the two cannot disagree."""
    return Fraction(0) if stream.start_time is None else stream.start_time * stream.time_base


def declared_duration(container: av.container.InputContainer,
                      stream: av.VideoStream) -> float | None:
    """Seconds of video the file declares, counted from the video stream's start
    (`stream_start`): the stream's own length or end where the file states it (an MP4 track's
    length; a Matroska ``DURATION`` tag, which is where the track ends on the file's timeline),
    since a sound track may run longer; else up to the container's end. None where nothing is
    declared (a recording cut off by a crash)."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    start = float(stream_start(stream))
    hours, _, rest = stream.metadata.get("DURATION", "").partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return 3600 * int(hours) + 60 * int(minutes) + float(seconds) - start
    except ValueError:
        if not container.duration:
            return None
        return float(((container.start_time or 0) + container.duration) / av.time_base) - start


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
    """The frames of a video's first video stream, decoded by PyAV, named 00000, 00001, ..."""

    path: Path
    count: int | None
    rate: Fraction
    """Frames per second on average, for a frame that carries no time of its own."""

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for index, (_, frame) in enumerate(self.timed()):
            yield f"{index:05d}", frame

    def timed(self) -> Iterator[tuple[float, np.ndarray]]:
        """Each frame with its time in seconds after the video stream's start (`stream_start`).
        A phone films at a variable
        frame rate (fewer frames in low light), so these times, not a frame's number over the
        average rate, keep a render in sync with its sound; and a file cut between key frames
        starts with frames that do not decode, so its first picture comes after the start."""
        try:
            with av.open(str(self.path)) as container:
                stream = video_stream(container)
                stream.thread_type = "AUTO"
                shown = Shown(stream)
                start = float(stream_start(stream))
                frame_length = float(1 / self.rate)
                last = None
                for frame in container.decode(stream):
                    time = frame.time
                    if time is None:  # no timestamp: the next frame at the average rate
                        time = start if last is None else last + frame_length
                    last = time
                    yield time - start, shown(frame)
                declared = declared_duration(container, stream)
                end = None if last is None else last - start + frame_length
                if declared is not None and end is not None and (
                    end < declared - END_SLACK_S - frame_length
                ):
                    raise InputError(
                        f"{self.path} is damaged or cut short (an interrupted download or "
                        f"copy?): its frames stop after {end:.2f} s of the {declared:.2f} s it "
                        "declares"
                    )
        except av.FFmpegError as err:
            raise InputError(f"cannot decode video {self.path}: {err}") from err


# Brands of the ISO base media files that hold HEIF pictures (an iPhone's HEIC photos).
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def refuse_heif(path: str | os.PathLike[str]) -> None:
    """An `InputError` for a HEIF (HEIC) picture, which OpenCV cannot read here. FFmpeg opens
    one as a video whose streams are the photo's tiles, so taken as a video it would give a
    piece of the photo, or its thumbnail, without a word."""
    try:
        with open(path, "rb") as file:
            head = file.read(12)
    except OSError:
        return  # the reader that comes next names the problem
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        raise InputError(f"{path} is a HEIF (HEIC) picture, which cannot be read here: save it "
                         "as JPEG or PNG first (on an iPhone: Settings > Camera > Formats > "
                         "Most Compatible)")


@contextmanager
def opencv_name(path: str | os.PathLike[str]) -> Iterator[str]:
    """A name of ``path`` that OpenCV's path-taking functions can take. They need UTF-8, and a
    Linux file name may be any bytes (Latin-1 names from old archives and network shares):
    given one, OpenCV crashed the process. Such a file is opened, and named by its descriptor,
    while the block runs."""
    name = os.fspath(path)
    try:
        name.encode()
    except UnicodeEncodeError:
        descriptor = os.open(name, os.O_RDONLY)
        try:
            yield f"/proc/self/fd/{descriptor}"
        finally:
            os.close(descriptor)
    else:
        yield name


def is_image(path: str | os.PathLike[str]) -> bool:
    """Whether OpenCV recognises the file's signature (its content, not its extension)."""
    with opencv_name(path) as name:
        return cv2.haveImageReader(name)


def is_animation(path: str | os.PathLike[str]) -> bool:
    """Whether a picture is an animated GIF or PNG, which plays as a looping video, as OBS's
    image source plays it: its first frame alone would lose what it was chosen for. (FFmpeg does
    not decode animated WebP here, so such a file stays a still picture.)"""
    with open(path, "rb") as file:
        head = file.read(8)
    if not (head.startswith(b"GIF8") or head == b"\x89PNG\r\n\x1a\n"):
        return False
    with opencv_name(path) as name:
        return cv2.imcount(name) > 1


def is_still_image(path: str | os.PathLike[str]) -> bool:
    """Whether a file is one picture OpenCV reads; an animated one plays as a video."""
    return is_image(path) and not is_animation(path)


def _image_folder(folder: Path) -> ImageFiles:
    files = sorted(path for path in folder.iterdir()
                   if path.is_file() and not path.name.startswith("."))
    paths = tuple(path for path in files if path.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputError(f"folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)})")
    stems = [path.stem for path in paths]
    clashes = sorted({stem for stem in stems if stems.count(stem) > 1})
    if clashes:
        raise InputError(
            f"folder {folder} has several images named {', '.join(clashes)}; "
            "their outputs would overwrite each other"
        )
    unreadable = [path.name for path in paths if not is_image(path)]
    if unreadable:
        raise InputError(f"folder {folder}: not images OpenCV can decode: {', '.join(unreadable)}")
    return ImageFiles(paths, tuple(path.name for path in files if path not in paths))


def _video_file(path: Path) -> VideoFile:
    try:
        with av.open(str(path)) as container:
            stream = video_stream(container)
            if stream is None:
                raise InputError(f"{path} has no video stream; expected {ACCEPTED}")
            if next(container.decode(stream), None) is None:
                raise InputError(f"video {path} has no frames")
            return VideoFile(path, stream.frames or None, stream.average_rate or Fraction(25))
    except av.FFmpegError as err:
        raise InputError(
            f"cannot read {path} ({err.strerror or err}); expected {ACCEPTED}"
        ) from err


def open_frames(path: str | os.PathLike[str]) -> FrameSource:
    """The frames of an image, a folder of images or a video (an animated GIF or PNG is one).

    Everything that can be checked cheaply is checked here, before a caller writes anything, so
    a bad input fails fast and leaves no partial output behind. A file is told apart by its content
    (OpenCV's signature check for images, then PyAV's probe for video), not by its extension.
    """
    path = Path(path)
    if path.is_dir():
        return _image_folder(path)
    if not path.is_file():
        raise InputError(f"input {path} does not exist")
    if path.stat().st_size == 0:
        raise InputError(f"input {path} is empty (0 bytes)")  # FFmpeg says "invalid data"
    if is_still_image(path):
        return ImageFiles((path,))
    refuse_heif(path)
    return _video_file(path)


IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp")


def refuse_overwrite(output: str | os.PathLike[str],
                     **reads: str | os.PathLike[str] | None) -> None:
    """An `InputError` if ``output`` is one of the files a job reads, each named by its role
    (``input=...``, ``background=...``; None for none). Writing it would replace what the job
    renders from: an image at once, a video once complete."""
    output = Path(output)
    if not output.exists():
        return
    for role, path in reads.items():
        if path is not None and Path(path).exists() and os.path.samefile(output, path):
            raise InputError(f"output {output} is the {role} itself: writing it would replace "
                             f"the {role}; choose another output name")


def image_output(path: str | os.PathLike[str], transparent: bool) -> None:
    """An `InputError` unless `write_image` can write an image, transparent or not, to
    ``path``: a job calls this before any work, so a wrong name costs no matting."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_OUTPUTS:
        raise InputError(f"cannot write an image to {path.name}: use {', '.join(IMAGE_OUTPUTS)}")
    if transparent and suffix not in (".png", ".webp"):
        raise InputError(f"{path.name}: a transparent image needs .png or .webp")
    if path.is_dir():
        raise InputError(f"output {path} is a folder; name the image file to write")


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write a grey, RGB or RGBA uint8 image in the format its extension names.

    The image is encoded in memory first (then written, which also keeps non-ASCII paths
    working on Windows), and written under `partial_name`, so a failure leaves no file behind
    and the file that was there as it was; transparency needs PNG or WebP.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or channels not in (1, 3, 4):
        raise InputError(
            f"image for {path} must be uint8 grey, RGB or RGBA, "
            f"got {image.dtype} array of shape {image.shape}"
        )
    image_output(path, transparent=channels == 4)
    conversion = {1: None, 3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}[channels]
    pixels = image if conversion is None else cv2.cvtColor(image, conversion)
    ok, data = cv2.imencode(suffix, pixels)
    if not ok:
        raise InputError(f"cannot encode an image as {suffix} for {path}")
    partial = partial_name(path)
    try:
        with open(partial, "wb") as file:
            file.write(memoryview(data))
        os.replace(partial, path)
    except OSError as err:  # a full or read-only drive: the file that was there stays
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {err.strerror or err}") from err


def partial_name(path: Path) -> Path:
    """A hidden name beside ``path`` to write under until the file is complete, then renamed:
    an existing file stays whole until then, and the name is this writer's own, so two writers
    of one output cannot write into one file."""
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.part{path.suffix}")


@contextmanager
def output_folder(folder: Path) -> Iterator[None]:
    """Make ``folder``, and any missing folders above it, for a job's output while the block
    runs; if the block fails, remove again those it made (while empty), so a job that fails
    on its input half way leaves no new empty folders behind."""
    made = [path for path in (folder, *folder.parents) if not path.exists()]  # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        blocking = next(path for path in (folder, *folder.parents) if path.exists())
        raise InputError(f"cannot make the folder {folder}: {blocking} is a file") from err
    try:
        yield
    except BaseException:
        for path in made:
            try:
                path.rmdir()
            except OSError:  # it holds something after all
                break
        raise


@contextmanager
def staged_folder(folder: Path) -> Iterator[Path]:
    """A hidden folder beside ``folder`` to write files into. They move into ``folder`` (made if
    need be) only when the block ends without an error; on an error, or Ctrl+C, they are removed
    with the hidden folder. So a damaged file half way through a folder of images leaves the
    output as it was, not holding the first half of a run."""
    with output_folder(folder.parent):
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.part-", dir=folder.parent))
        try:
            yield staging
            folder.mkdir(exist_ok=True)
            for path in sorted(staging.iterdir()):
                os.replace(path, folder / path.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def write_alpha_png(path: str | os.PathLike[str], alpha: np.ndarray) -> None:
    """Write an alpha matte as an 8-bit single-channel PNG."""
    if alpha.dtype != np.uint8 or alpha.ndim != 2:
        raise InputError(
            f"alpha for {path} must be a uint8 array of shape (height, width), "
            f"got {alpha.dtype} array of shape {alpha.shape}"
        )
    write_image(path, alpha)
