"""Put the person over a new background: fit modes, background kinds, blend and edge colours.

This is the composite stage of the one flow (source -> matte -> temporal -> composite -> sink). It
runs once per frame, so every full-resolution step is 8-bit OpenCV work into buffers reused from
frame to frame; anything that needs floats (the blurs behind the background blur and the
foreground colour estimate) runs at a reduced working resolution or on the pixels of the soft
band only. Frames are RGB uint8 (height, width, 3), alphas uint8 (height, width), 255 = person.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

import cv2
import numpy as np

from obs_bgremover.errors import InputError
from obs_bgremover.pictures import transparency
from obs_bgremover.pixels import ROW, Sampler, Scratch, items, rows

FIT_MODES = ("cover", "contain", "stretch")

# Lines of the reduced resolution the foreground colour estimate works at: enough for its blurs to
# see the local colours on each side of an edge, few enough that its float maths stays cheap.
ESTIMATE_HEIGHT = 180
# Blur-fusion box sizes of Forte & Pitie (2021), stated for a 1080-line image: a wide pass that
# finds the colours on each side of the edge, then a narrow one that sharpens them.
FUSION_KERNELS_1080 = (90, 6)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), bilinear when enlarging (soft and fast)."""
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def shrink(image: np.ndarray, height: int) -> np.ndarray:
    """The image reduced to ``height`` lines (aspect kept), by exact 2:1 area halvings, then one
    small bilinear step; an image no taller than ``height`` is returned as it is. OpenCV's 2:1
    area reduction is a fast path; a direct 4:1 or 6:1 area reduction costs several times as
    much, and this runs on every frame."""
    if image.shape[0] <= height:
        return image
    while image.shape[0] // 2 >= height:
        half = (image.shape[1] // 2, image.shape[0] // 2)
        image = cv2.resize(image, half, interpolation=cv2.INTER_AREA)
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def normalised_blur(weighted: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of an image that averages only where ``weight`` (float32, 0..1) says:
    the blur of ``weighted`` (the float32 RGB image times its weight) over the blur of the
    weight, rounded to uint8; black where no weight is near. A plain blur would mix in the
    colours the weight leaves out (the person, what a picture hides)."""
    total = cv2.GaussianBlur(weighted, (0, 0), sigma)
    spread = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    return np.clip(total / np.maximum(spread, 1e-3) + 0.5, 0, 255).astype(np.uint8)


def check_fit_mode(mode: str) -> str:
    """The mode, if it is one of `FIT_MODES`; an `InputError` naming it otherwise."""
    if mode not in FIT_MODES:
        raise InputError(f"fit mode {mode!r} is not one of {', '.join(FIT_MODES)}")
    return mode


def fit(image: np.ndarray, size: tuple[int, int], mode: str = "cover") -> np.ndarray:
    """An RGB image resized to ``size`` = (width, height).

    ``cover`` fills the frame and crops the overflow evenly (no bars, nothing distorted),
    ``contain`` shows the whole image with black bars, ``stretch`` distorts it to fit.
    """
    width, height = size
    if width < 1 or height < 1:
        raise InputError(f"cannot fit a picture to {width}x{height} pixels")
    image_height, image_width = image.shape[:2]
    check_fit_mode(mode)
    if mode == "cover":
        # Crop to the frame's aspect first, so the resize only touches pixels that are kept.
        if image_width * height > width * image_height:
            keep = max(1, round(image_height * width / height))
            left = (image_width - keep) // 2
            image = image[:, left : left + keep]
        else:
            keep = max(1, round(image_width * height / width))
            top = (image_height - keep) // 2
            image = image[top : top + keep]
    elif mode == "contain":
        scale = min(width / image_width, height / image_height)
        inner = (
            min(width, max(1, round(image_width * scale))),
            min(height, max(1, round(image_height * scale))),
        )
        top, left = (height - inner[1]) // 2, (width - inner[0]) // 2
        return cv2.copyMakeBorder(
            _resize(image, inner),
            top,
            height - inner[1] - top,
            left,
            width - inner[0] - left,
            cv2.BORDER_CONSTANT,
            value=(0, 0, 0),
        )
    return _resize(np.ascontiguousarray(image), size)


class Background:
    """What to show behind the person. A kind implements `plate`; those that hold resources
    (a decoder thread) also override `close`. Every background is a context manager, so a front
    end can open any of them the same way."""

    def plate(self, frame: np.ndarray, alpha: np.ndarray, t: float) -> np.ndarray | None:
        """The RGB uint8 picture, of the frame's size, to show behind the person at ``t``
        seconds into the stream; None where the output keeps the matte as its alpha channel."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the background holds (nothing, unless a kind says otherwise)."""

    def __enter__(self) -> Background:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ImageBackground(Background):
    """A still picture. It is fitted once per output size, so a frame only pays for the blend."""

    def __init__(self, image: np.ndarray, fit_mode: str = "cover") -> None:
        """``image``: uint8 RGB, grey, or straight RGBA (its transparent parts are black, as
        `obs_bgremover.pictures.transparency` says for backgrounds)."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or not image.size or (
                image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise InputError(f"a background picture must be a non-empty uint8 RGB, grey or "
                             f"RGBA array, got {image.dtype} array of shape {image.shape}")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        elif image.shape[2] == 4:
            image = transparency(np.ascontiguousarray(image), keep_alpha=False)
        self.image = image
        self.fit_mode = check_fit_mode(fit_mode)
        self._fitted: np.ndarray | None = None

    def plate(self, frame: np.ndarray, alpha: np.ndarray, t: float) -> np.ndarray:
        if self._fitted is None or self._fitted.shape != frame.shape:
            self._fitted = fit(self.image, (frame.shape[1], frame.shape[0]), self.fit_mode)
        return self._fitted


class ColorBackground(Background):
    """One solid colour, given as (red, green, blue) in 0..255."""

    def __init__(self, rgb: tuple[int, int, int]) -> None:
        if len(rgb) != 3 or not all(0 <= value <= 255 for value in rgb):
            raise InputError(f"colour {rgb!r} must be three values (red, green, blue) in 0..255")
        self.rgb = tuple(rgb)
        self._plate: np.ndarray | None = None

    def plate(self, frame: np.ndarray, alpha: np.ndarray, t: float) -> np.ndarray:
        if self._plate is None or self._plate.shape != frame.shape:
            self._plate = np.empty_like(frame)
            self._plate[:] = self.rgb
        return self._plate


class TransparentBackground(Background):
    """No background: the output is RGBA with the matte as its alpha channel, for OBS or an
    editor to put over anything."""

    def plate(self, frame: np.ndarray, alpha: np.ndarray, t: float) -> None:
        return None


# The blur's weight (0..65535, all background) below which no background counts as near.
NO_BACKGROUND = 655
# The most of a working pixel (0..255) the person may cover for it to count as background.
MIXED = 25


# A blur background's strength (1-100) where none is given: `blur`, OBS's default, the web
# page's.
DEFAULT_BLUR = 50


class BlurBackground(Background):
    """The camera's own background, blurred, with no halo of the person around them.

    A plain blur of the frame would smear the person's colours into the background around them.
    Instead this is a normalised convolution: the frame weighted by "is background" and that
    weight are blurred separately and divided, so each background pixel becomes an average of
    background pixels only, and the area behind the person is filled from around them. It runs
    at a resolution where the blur is a few pixels wide and is scaled up, which a blur survives.
    """

    def __init__(self, strength: int = DEFAULT_BLUR) -> None:
        if not 1 <= strength <= 100:
            raise InputError(f"blur strength {strength} is not in 1..100")
        self.strength = strength
        self._plate: np.ndarray | None = None

    def plate(self, frame: np.ndarray, alpha: np.ndarray, t: float) -> np.ndarray:
        height, width = alpha.shape
        # Strength 100 is a Gaussian whose sigma is 4% of the frame height (43 px at 1080 lines).
        sigma = self.strength / 100 * height / 25
        # Work where the blur is 3 pixels wide, and at half size at most: cheap, and still
        # smooth once scaled back up (a light blur, 1-10, worked at full size, 4-5 times the
        # cost, for a difference of half a grey level on average).
        small_height = max(8, round(height * min(0.5, 3.0 / sigma)))
        image = shrink(frame, small_height)
        person = shrink(alpha, small_height)
        # Grow the person by a working pixel so the soft fringe, a mix of both, counts as person;
        # and count as background only what the person covers a tenth of at most: a working
        # pixel across a gap narrower than itself (between an arm and the body) is a mix that
        # growing leaves partly uncovered, and it tinted the gap with the person's colours.
        grown = cv2.dilate(person, np.ones((3, 3), np.uint8))
        weight = cv2.bitwise_not(grown)
        weight[grown > MIXED] = 0
        # In 16-bit integers, which OpenCV's blurs and arithmetic run on faster than on floats.
        # (In 8 bits, the weights' sums in a narrow gap between the person's parts were too
        # coarse to divide by: dark, or noisy, up to 246 levels off.)
        working_sigma = sigma * small_height / height
        total = cv2.GaussianBlur(cv2.multiply(image, cv2.merge([weight] * 3), dtype=cv2.CV_16U),
                                 (0, 0), working_sigma)
        spread = cv2.GaussianBlur(cv2.multiply(weight, 257, dtype=cv2.CV_16U), (0, 0),
                                  working_sigma)
        blurred = cv2.divide(total, cv2.merge([spread] * 3), scale=257, dtype=cv2.CV_8U)
        if self._plate is None or self._plate.shape != frame.shape:
            self._plate = np.empty_like(frame)
        cv2.resize(blurred, (width, height), self._plate, interpolation=cv2.INTER_LINEAR)
        # Where no background is near at the working size, the sums mean nothing (black): under
        # the person, which hides it, but also in a gap between the person's parts (an arm
        # and the body) narrower than the growth above, a few working pixels, which showed
        # black. The frame's own pixels show there instead, unblurred.
        near = cv2.compare(spread, NO_BACKGROUND, cv2.CMP_LT)  # type: ignore[call-overload]  # a scalar: OpenCV's stubs take arrays only
        empty = cv2.resize(near, (width, height), interpolation=cv2.INTER_NEAREST)
        return cv2.copyTo(frame, empty, self._plate)


class SoftBand:
    """The pixels of a matte's soft band (0 < alpha < 255), as flat indices: the only pixels where
    the estimate of the person's colours and the blend have any work. A few percent of a frame;
    the rest is 0 or 255. One per stream: it keeps its scratch masks from frame to frame."""

    def __init__(self) -> None:
        self._mask = np.empty(0, np.uint8)
        self._flags = np.empty(0, bool)

    def __call__(self, alpha: np.ndarray) -> np.ndarray:
        if self._mask.shape != alpha.shape:
            self._mask = np.empty_like(alpha)
            self._flags = np.empty(alpha.shape, bool)
        # numpy lists the true entries of a bool array several times faster than
        # cv2.findNonZero scans a mask, or numpy the nonzero bytes of one.
        cv2.inRange(alpha, 1, 254, self._mask)
        return np.flatnonzero(np.not_equal(self._mask, 0, out=self._flags))


class ForegroundEstimator:
    """An estimate of the person's own colours in the soft band (0 < alpha < 255), which the
    compositor puts in place of the frame's there, so the old background does not show through
    hair once it is put over a new one: blur-fusion foreground estimation ("Approximate fast
    foreground colour estimation", Forte & Pitie 2021).

    Each pass takes the local foreground colour as the alpha-weighted average of nearby pixels,
    the local background colour as the (1 - alpha)-weighted average, and corrects the foreground
    by what the compositing equation leaves over at the pixel. The two passes (a wide one that
    finds the colours on each side of the edge, a narrow one that sharpens them) run at about
    `ESTIMATE_HEIGHT` lines, the wide one at half that, where they are cheap; the final
    correction, which needs the real pixel and its alpha, runs at full resolution on the band's
    pixels only.

    It runs on every composited frame, so the maths is OpenCV calls into buffers the object keeps
    from frame to frame: numpy's temporaries and its broadcasting of one channel over three cost
    several times the arithmetic. Make one per stream.
    """

    def __init__(self) -> None:
        self._scratch = Scratch()
        self._sampler = Sampler()

    def colours(self, frame: np.ndarray, alpha: np.ndarray, index: np.ndarray,
                reduced: np.ndarray | None = None) -> np.ndarray:
        """The person's estimated colours at the band's pixels ``index`` (see `SoftBand`), as a
        uint8 array of rows of `ROW` pixels (``[:len(index)]`` of its pixels are the band's; the
        last row is padded). Valid until the next call. ``reduced``: see `Compositor`."""
        count = len(index)
        local_fg, local_bg = self._local_colours(frame, alpha, reduced)
        shape = (rows(count), ROW, 3)
        # The local colours, sampled bilinearly at the band's pixel centres.
        self._sampler.place(index, alpha.shape)
        fg, bg, step = (self._scratch(name, shape) for name in ("fg", "bg", "step"))
        for small, sampled in ((local_fg, fg), (local_bg, bg)):
            self._sampler.sample(small, sampled)
        pixel = self._scratch.gather("pixel", frame, index)
        weight = cv2.cvtColor(self._scratch.gather("alpha", alpha, index), cv2.COLOR_GRAY2RGB,
                              self._scratch("alpha3", shape, np.uint8))
        # colour = fg + a * (pixel - a * fg - (1 - a) * bg) = fg + a * (pixel - bg - a * (fg - bg))
        cv2.subtract(fg, bg, step)
        cv2.multiply(step, weight, step, scale=1 / 255, dtype=cv2.CV_32F)
        cv2.subtract(pixel, bg, bg, dtype=cv2.CV_32F)
        cv2.subtract(bg, step, bg)
        cv2.multiply(bg, weight, bg, scale=1 / 255, dtype=cv2.CV_32F)
        cv2.add(fg, bg, pixel, dtype=cv2.CV_8U)  # rounds and saturates to 0..255
        return pixel

    def _local_colours(self, frame: np.ndarray, alpha: np.ndarray, reduced: np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """The narrow pass's local foreground and background colours (0..255 floats) at about
        `ESTIMATE_HEIGHT` lines. The weight is blurred as one channel and only then spread to
        three, as OpenCV's products and quotients need equal channel counts."""
        if reduced is None or reduced.shape[0] < ESTIMATE_HEIGHT:
            reduced = frame  # shrinking the frame itself stops at the same size
        small = shrink(reduced, ESTIMATE_HEIGHT)
        names = ("image", "weight", "spread", "front", "total", "local_fg", "local_bg", "scratch")
        image, weight, spread, front, total, fg, bg, scratch = (
            self._scratch(name, small.shape) for name in names
        )
        plane = self._scratch("plane", small.shape[:2])
        spread_plane = self._scratch("spread_plane", small.shape[:2])
        np.copyto(image, small)
        np.multiply(shrink(alpha, ESTIMATE_HEIGHT), 1 / 255, out=plane)
        cv2.cvtColor(plane, cv2.COLOR_GRAY2RGB, weight)
        # Wide pass, at half the lines: its sums are smooth over a box a twelfth of the height
        # tall, so they lose nothing to a half-size picture upsampled, and cost a quarter.
        size = (small.shape[1], small.shape[0])
        for coarse, full in zip(self._wide_pass(image, plane), (fg, bg), strict=True):
            cv2.resize(coarse, size, full, interpolation=cv2.INTER_LINEAR)
        # foreground = fg + a * (image - a * fg - (1 - a) * bg), clipped to 0..255, into image.
        cv2.multiply(cv2.subtract(fg, bg, scratch), weight, scratch)
        cv2.subtract(cv2.subtract(image, bg, image), scratch, image)
        cv2.add(fg, cv2.multiply(image, weight, image), image)
        np.clip(image, 0, 255, out=image)
        # Narrow pass, from the wide pass's foreground and local background.
        narrow = max(3, round(FUSION_KERNELS_1080[1] * small.shape[0] / 1080))
        cv2.cvtColor(cv2.blur(plane, (narrow, narrow), spread_plane), cv2.COLOR_GRAY2RGB, spread)
        cv2.blur(cv2.multiply(image, weight, scratch), (narrow, narrow), front)
        cv2.divide(front, np.add(spread, 1e-5, out=scratch), fg)
        cv2.multiply(bg, np.subtract(1, weight, out=scratch), scratch)
        cv2.blur(scratch, (narrow, narrow), total)
        cv2.divide(total, np.subtract(1 + 1e-5, spread, out=scratch), bg)
        return fg, bg

    def _wide_pass(self, image: np.ndarray, plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The wide pass's local foreground and background colours, with the frame as both first
        guesses, from ``image`` and its weight ``plane`` halved (and its box with them)."""
        wide = max(3, round(FUSION_KERNELS_1080[0] * image.shape[0] / 1080) // 2)
        image, plane = (cv2.resize(x, (max(1, x.shape[1] // 2), max(1, x.shape[0] // 2)),
                                   interpolation=cv2.INTER_AREA) for x in (image, plane))
        names = ("weight", "spread", "front", "total", "fg", "bg", "scratch")
        weight, spread, front, total, fg, bg, scratch = (
            self._scratch("wide_" + name, image.shape) for name in names
        )
        cv2.cvtColor(plane, cv2.COLOR_GRAY2RGB, weight)
        cv2.cvtColor(cv2.blur(plane, (wide, wide)), cv2.COLOR_GRAY2RGB, spread)
        # blur(image * (1 - a)) is blur(image) - blur(image * a), which saves a product and a
        # blur. Weighted sums over their weights; the 1e-5 keeps them finite where no weight is
        # near.
        cv2.blur(cv2.multiply(image, weight, scratch), (wide, wide), front)
        cv2.blur(image, (wide, wide), total)
        cv2.divide(front, np.add(spread, 1e-5, out=scratch), fg)
        cv2.subtract(total, front, total)
        cv2.divide(total, np.subtract(1 + 1e-5, spread, out=scratch), bg)
        return fg, bg


def _with_colours(frame: np.ndarray, band: np.ndarray, colours: np.ndarray | None) -> np.ndarray:
    """The frame, or a copy of it with ``colours`` (`ForegroundEstimator.colours`) at the band's
    pixels."""
    if colours is None:
        return frame
    foreground = frame.copy()
    items(foreground)[band] = items(colours)[: len(band)]
    return foreground


class Blender:
    """``foreground * alpha + background * (1 - alpha)``, rounded to nearest, in 8 bits.

    Where alpha is 0 or 255 the result is a copy of one side, so the full-size work is a copy of
    the background and a masked copy of the foreground; the arithmetic runs on the soft band's
    pixels only (a few percent of a frame). Scratch buffers live in the object.
    """

    def __init__(self) -> None:
        self._band = SoftBand()
        self._solid = np.empty(0, np.uint8)
        self._scratch = Scratch()

    def __call__(
        self,
        foreground: np.ndarray,
        background: np.ndarray,
        alpha: np.ndarray,
        band: np.ndarray | None = None,
        band_colours: np.ndarray | None = None,
    ) -> np.ndarray:
        """The blend, as a new array. ``band``: the soft band's pixels if the caller has them
        (`SoftBand`); ``band_colours``: the foreground's colours there, in place of
        ``foreground``'s own (as `ForegroundEstimator.colours` gives them)."""
        if self._solid.shape != alpha.shape:
            self._solid = np.empty_like(alpha)
        out = background.copy()
        # threshold, not compare: OpenCV would take a 1x1 alpha for a scalar there.
        cv2.copyTo(foreground, cv2.threshold(alpha, 254, 255, cv2.THRESH_BINARY, self._solid)[1],
                   out)
        index = self._band(alpha) if band is None else band
        count = len(index)
        if count:
            scratch = self._scratch
            front = (scratch.gather("front", foreground, index) if band_colours is None
                     else band_colours)
            back = scratch.gather("back", background, index)
            weight = cv2.cvtColor(scratch.gather("alpha", alpha, index), cv2.COLOR_GRAY2RGB,
                                  scratch("alpha3", back.shape, np.uint8))
            # back + (front - back) * a / 255, rounded and saturated by the final conversion.
            step = cv2.subtract(front, back, scratch("step", back.shape), dtype=cv2.CV_32F)
            cv2.multiply(step, weight, step, scale=1 / 255, dtype=cv2.CV_32F)
            mixed = cv2.add(back, step, scratch("mixed", back.shape, np.uint8), dtype=cv2.CV_8U)
            items(out)[index] = items(mixed)[:count]
        return out


@dataclass(frozen=True)
class CompositeSettings:
    """How the person is put over the background, as one object every front end passes down."""

    decontaminate: bool = True
    """Replace the old background's colour in the soft edge (hair) by the person's own."""


def _check(frame: np.ndarray, alpha: np.ndarray) -> None:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(
            f"frame must be a uint8 array of shape (height, width, 3), "
            f"got {frame.dtype} array of shape {frame.shape}"
        )
    if alpha.dtype != np.uint8 or alpha.shape != frame.shape[:2]:
        raise InputError(
            f"alpha must be a uint8 array of shape {frame.shape[:2]}, "
            f"got {alpha.dtype} array of shape {alpha.shape}"
        )


class Compositor:
    """Composites the frames of one stream over one background.

    Make one per stream: it keeps buffers (and the background keeps its fitted picture) from
    frame to frame, which is what makes a frame cost a few milliseconds. The background stays
    the caller's to close.
    """

    def __init__(self, background: Background, settings: CompositeSettings | None = None) -> None:
        self.background = background
        self.settings = settings or CompositeSettings()
        self._band = SoftBand()
        self._blend = Blender()
        self._estimate = ForegroundEstimator()

    def __call__(self, frame: np.ndarray, alpha: np.ndarray, t: float = 0.0,
                 reduced: np.ndarray | None = None) -> np.ndarray:
        """The composite of an RGB frame and its alpha at ``t`` seconds into the stream: RGB
        uint8, or RGBA uint8 (alpha = the matte) for a transparent background.

        ``reduced``: the frame already shrunk by exact 2:1 halvings (the pipeline's
        `temporal.reduce4`), which the colour estimate then starts from instead of shrinking
        the frame a second time."""
        _check(frame, alpha)
        band = self._band(alpha)
        colours = None
        if self.settings.decontaminate and len(band):
            colours = self._estimate.colours(frame, alpha, band, reduced)
        plate = self.background.plate(frame, alpha, t)
        if plate is None:
            rgba = cv2.cvtColor(_with_colours(frame, band, colours), cv2.COLOR_RGB2RGBA)
            rgba[..., 3] = alpha
            return rgba
        return self._blend(frame, plate, alpha, band, colours)
