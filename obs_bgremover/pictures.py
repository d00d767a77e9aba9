"""Still pictures in and out: as a viewer shows them in (upright, in sRGB, with their
transparency), and as the extension names them out, whole or not at all.

OpenCV decodes and encodes; what it does not do (colour profiles, non-UTF-8 file names) is
done around it here.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageOps

from obs_bgremover.errors import InputError
from obs_bgremover.outputs import discard, partial_name, refuse_folder, write_failed


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
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    alpha = _transparency(data, rgb.shape[:2])
    if alpha is not None and data[:4].tobytes().startswith(_TIFF_SIGNATURES):
        rgb, alpha = _straight_tiff(data, rgb, alpha)
    rgb = _in_srgb(rgb, data)
    return rgb if alpha is None else transparency(np.dstack((rgb, alpha)), keep_alpha)


def transparency(rgba: np.ndarray, keep_alpha: bool) -> np.ndarray:
    """Straight RGBA uint8 pixels as a reader hands them on: RGB where every pixel is opaque
    (an alpha channel of 255s, as many files carry, only costs the pipeline work); with
    ``keep_alpha``, RGBA; otherwise RGB flattened over black, as OBS shows a transparent
    picture on an empty canvas. Pictures (`read_image`) and video frames
    (`obs_bgremover.media.Shown`) follow this one rule."""
    alpha = cv2.extractChannel(rgba, 3)
    if cv2.minMaxLoc(alpha)[0] == 255:
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
    if keep_alpha:
        return rgba
    return cv2.multiply(cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB), cv2.merge((alpha, alpha, alpha)),
                        scale=1 / 255)


def _in_srgb(rgb: np.ndarray, data: np.ndarray) -> np.ndarray:
    """``rgb``, decoded from ``data``, in sRGB where the file says its colours are in another
    RGB space (an iPhone's Display P3, a camera's Adobe RGB): OpenCV ignores the embedded
    profile, and taken as sRGB, like every video frame, background and output here, such a
    photo came out desaturated (a fifth less on skin) and its profile was lost. LittleCMS,
    through Pillow, converts it; a file without a profile, or with sRGB's, is left alone."""
    try:
        profile = _header(_in_memory(data)).info.get("icc_profile")
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


def _in_memory(data: np.ndarray) -> io.BytesIO:
    """A file's bytes, as OpenCV read them into ``data``, for Pillow to read from."""
    # An ndarray is a buffer; numpy's stubs say so for Python 3.12 and later only.
    return io.BytesIO(data)  # type: ignore[arg-type]


def _header(source: str | os.PathLike[str] | io.BytesIO) -> Image.Image:
    """A picture as Pillow opens it: its header read, its pixels not (until asked for). So
    Pillow's warning that a picture is large, about decoding it, does not apply here; a picture
    too large for Pillow to open at all still raises `Image.DecompressionBombError`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(source)


# The signatures of the formats whose transparency is read: PNG, WebP and TIFF (either byte
# order: a cut-out saved from Photoshop or GIMP). (Many 32-bit BMPs hold an alpha channel of
# zeros that no viewer shows; a JPEG has none.)
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")
_ALPHA_SIGNATURES = (b"\x89PNG", b"RIFF", *_TIFF_SIGNATURES)


def _transparency(data: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The 8-bit alpha of encoded picture ``data`` decoded to ``shape``, if it has an alpha
    channel; None otherwise. `IMREAD_COLOR` drops the alpha channel and the unchanged
    decoding skips EXIF orientation, so a picture that may have one is decoded both ways and
    its alpha turned as `IMREAD_COLOR` turned its colours."""
    if not data[:4].tobytes().startswith(_ALPHA_SIGNATURES):
        return None
    full = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if full is None or full.ndim != 3 or full.shape[2] != 4:
        return None
    alpha = full[..., 3]
    if alpha.dtype == np.uint16:
        alpha = np.right_shift(alpha, 8).astype(np.uint8)
    if alpha.dtype != np.uint8:
        return None
    alpha = _upright(np.ascontiguousarray(alpha), data)
    return alpha if alpha.shape == shape else None


def _straight_tiff(data: np.ndarray, rgb: np.ndarray, alpha: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A TIFF's colours and alpha as Pillow reads them, straight: OpenCV multiplies the colours
    of a TIFF whose alpha is marked unassociated (as Pillow, GIMP and Photoshop write them) by
    that alpha, and a soft edge came out darkened, twice once flattened. Pillow keeps them, and
    un-premultiplies a TIFF that stores them premultiplied. OpenCV's where Pillow cannot read
    the file, or turns it otherwise."""
    try:
        with _header(_in_memory(data)) as picture:
            rgba = np.asarray(ImageOps.exif_transpose(picture).convert("RGBA"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return rgb, alpha
    if rgba.shape[:2] != rgb.shape[:2]:
        return rgb, alpha
    return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])


# How a picture is turned upright for each EXIF orientation (2-8), as `IMREAD_COLOR` turns it.
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(plane: np.ndarray, data: np.ndarray) -> np.ndarray:
    """A plane decoded from ``data`` as stored, turned as the file's EXIF orientation says (a
    phone's photo, cut out and saved as PNG or WebP, keeps the tag of the camera's)."""
    try:
        orientation = _header(_in_memory(data)).getexif().get(0x0112)
    except (OSError, ValueError, Image.DecompressionBombError):
        return plane
    method = None if orientation is None else _ORIENTATIONS.get(orientation)
    return plane if method is None else np.asarray(Image.fromarray(plane).transpose(method))


def header_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) a picture's header declares, read without decoding it: a server refuses
    a huge picture before decoding it takes a gigabyte (one colour compresses to almost nothing
    at any size). None where Pillow does not read the file's header. A header of more pixels
    than Pillow opens at all (its decompression-bomb limit, about 179 megapixels) is an
    `InputError` that says so."""
    try:
        with _header(path) as image:
            return image.size
    except Image.DecompressionBombError as err:
        # Pillow raises this error only while MAX_IMAGE_PIXELS is set.
        limit = cast(int, Image.MAX_IMAGE_PIXELS)
        raise InputError(f"{path} is a picture of over {2 * limit / 1e6:.0f} "
                         "megapixels") from err
    except (OSError, ValueError):
        return None


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


IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp")


def image_output(path: str | os.PathLike[str], transparent: bool) -> None:
    """An `InputError` unless `write_image` can write an image, transparent or not, to
    ``path``: a job calls this before any work, so a wrong name costs no matting."""
    path = Path(path)
    refuse_folder(path, "image")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_OUTPUTS:
        raise InputError(f"cannot write an image to {path.name}: use {', '.join(IMAGE_OUTPUTS)}")
    if transparent and suffix not in (".png", ".webp"):
        raise InputError(f"{path.name}: a transparent image needs .png or .webp")


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
            file.write(memoryview(data))  # type: ignore[arg-type]  # a buffer (see `_in_memory`)
        os.replace(partial, path)
    except BaseException as err:  # a full or read-only drive, Ctrl+C: what was there stays
        discard(partial)
        if isinstance(err, OSError):
            raise write_failed(path, err) from err
        raise


def write_alpha_png(path: str | os.PathLike[str], alpha: np.ndarray) -> None:
    """Write an alpha matte as an 8-bit single-channel PNG."""
    if alpha.dtype != np.uint8 or alpha.ndim != 2:
        raise InputError(
            f"alpha for {path} must be a uint8 array of shape (height, width), "
            f"got {alpha.dtype} array of shape {alpha.shape}"
        )
    write_image(path, alpha)
