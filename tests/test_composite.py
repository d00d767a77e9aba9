"""Compositing through real pixels: fit modes, every background kind, the mask-aware blur, the
foreground colour estimate, and a real portrait with its human-drawn mask."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_bgremover.composite import (
    BlurBackground,
    ColorBackground,
    CompositeSettings,
    Compositor,
    ImageBackground,
    TransparentBackground,
    fit,
)
from obs_bgremover.errors import InputError
from obs_bgremover.pictures import read_image

RED, BLUE, GREEN = (220, 30, 30), (30, 40, 220), (0, 255, 0)


def ramp(width: int = 100, height: int = 50) -> np.ndarray:
    """An image whose red channel is its column number, so a fit shows which columns it kept."""
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = np.arange(width, dtype=np.uint8)
    image[..., 1] = 128
    return image


def disc_scene(size: int = 200, radius: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """A red 'person' disc on a blue background, and its hard matte."""
    alpha = np.zeros((size, size), np.uint8)
    cv2.circle(alpha, (size // 2, size // 2), radius, 255, -1)
    frame = np.empty((size, size, 3), np.uint8)
    frame[:] = BLUE
    frame[alpha > 0] = RED
    return frame, alpha


def estimated(frame: np.ndarray, alpha: np.ndarray,
              compositor: Compositor | None = None) -> np.ndarray:
    """The frame with the person's estimated colours in its soft band, as the compositor
    blends them: a transparent composite's colours."""
    return (compositor or Compositor(TransparentBackground()))(frame, alpha)[..., :3]


def test_cover_fills_the_frame_and_crops_the_sides_evenly() -> None:
    fitted = fit(ramp(), (60, 60), "cover")
    assert fitted.shape == (60, 60, 3)
    # A 2:1 image in a square keeps its middle half: columns 25..74.
    assert abs(int(fitted[30, 0, 0]) - 25) <= 2 and abs(int(fitted[30, -1, 0]) - 74) <= 2
    assert (fitted[..., 1] == 128).all()  # no bars


def test_contain_shows_everything_with_bars() -> None:
    fitted = fit(ramp(), (60, 60), "contain")
    assert fitted.shape == (60, 60, 3)
    assert (fitted[:15] == 0).all() and (fitted[45:] == 0).all()  # bars above and below
    assert (fitted[15:45, :, 1] == 128).all()
    assert fitted[30, 0, 0] <= 2 and fitted[30, -1, 0] >= 97  # every column is there


def test_stretch_keeps_every_column_without_bars() -> None:
    fitted = fit(ramp(), (60, 90), "stretch")
    assert fitted.shape == (90, 60, 3)
    assert (fitted[..., 1] == 128).all()
    assert fitted[45, 0, 0] <= 2 and fitted[45, -1, 0] >= 97


def test_unknown_fit_mode_is_named() -> None:
    with pytest.raises(InputError, match="fit mode 'fill' is not one of cover, contain, stretch"):
        ImageBackground(ramp(), "fill")


def test_a_grey_or_transparent_background_picture_is_taken_as_rgb() -> None:
    """From the library, a grey array failed with an IndexError and an RGBA one with an
    OpenCV assertion; a transparent part is black, as for a background file."""
    frame, alpha = np.zeros((20, 30, 3), np.uint8), np.zeros((20, 30), np.uint8)
    grey = ImageBackground(np.full((10, 10), 90, np.uint8)).plate(frame, alpha, 0.0)
    assert grey.shape == (20, 30, 3) and np.all(grey == 90)
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[...] = (200, 0, 0, 255)
    rgba[:, :5, 3] = 0
    plate = ImageBackground(rgba, "stretch").plate(frame, alpha, 0.0)
    assert np.all(plate[:, :10] == 0) and np.all(plate[:, -10:] == (200, 0, 0))
    for bad in (np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8),
                np.zeros((10, 10, 2), np.uint8)):
        with pytest.raises(InputError, match="a background picture must be"):
            ImageBackground(bad)
    with pytest.raises(InputError, match="cannot fit a picture to 0x10 pixels"):
        fit(ramp(), (0, 10))


def test_image_background_is_fitted_once_per_size() -> None:
    background = ImageBackground(ramp())
    frame = np.zeros((40, 40, 3), np.uint8)
    alpha = np.zeros((40, 40), np.uint8)
    first = background.plate(frame, alpha, 0.0)
    assert background.plate(frame, alpha, 1.0) is first
    assert background.plate(np.zeros((20, 30, 3), np.uint8), alpha, 2.0).shape == (20, 30, 3)


def test_colour_shows_where_alpha_is_zero_and_the_frame_where_it_is_full() -> None:
    frame, alpha = disc_scene()
    out = Compositor(ColorBackground(GREEN))(frame, alpha)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (out[alpha == 0] == GREEN).all()
    assert (out[alpha == 255] == RED).all()


@pytest.mark.parametrize("alpha_value", [0, 128, 255])
def test_a_one_pixel_frame_is_composited(alpha_value: int) -> None:
    # OpenCV takes some 1x1 arrays for scalars; a one-pixel frame must still be a frame.
    frame = np.array([[RED]], np.uint8)
    alpha = np.array([[alpha_value]], np.uint8)
    out = Compositor(ColorBackground(GREEN), CompositeSettings(decontaminate=False))(frame, alpha)
    exact = (np.array(RED) * alpha_value + np.array(GREEN) * (255 - alpha_value)) / 255
    assert out.shape == (1, 1, 3)
    assert np.abs(out[0, 0] - exact).max() <= 1


def test_soft_alpha_blends_within_one_level() -> None:
    frame = np.full((4, 256, 3), 200, np.uint8)
    alpha = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    settings = CompositeSettings(decontaminate=False)
    out = Compositor(ColorBackground((0, 0, 0)), settings)(frame, alpha)
    exact = 200 * alpha.astype(np.float64) / 255
    assert np.abs(out[..., 0] - exact).max() <= 1


def test_transparent_gives_rgba_with_the_matte_as_alpha() -> None:
    frame, alpha = disc_scene()
    settings = CompositeSettings(decontaminate=False)
    out = Compositor(TransparentBackground(), settings)(frame, alpha)
    assert out.shape == (*alpha.shape, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 3], alpha)
    np.testing.assert_array_equal(out[..., :3], frame)


def test_wrong_frame_or_alpha_is_named() -> None:
    compositor = Compositor(ColorBackground(GREEN))
    frame, alpha = disc_scene()
    with pytest.raises(InputError, match="frame must be a uint8 array .* got float32"):
        compositor(frame.astype(np.float32), alpha)
    with pytest.raises(InputError, match=r"alpha must be a uint8 array of shape \(200, 200\)"):
        compositor(frame, alpha[:100])


def test_portrait_over_an_image_shows_background_and_person_where_the_mask_says(
    shared_data: Path,
) -> None:
    folder = shared_data / "portraits-dev"
    frame = read_image(folder / "images" / "00015.jpg")
    mask = cv2.imread(str(folder / "masks" / "00015.png"), cv2.IMREAD_GRAYSCALE)
    background = ImageBackground(read_image(Path("obs_bgremover/assets/backgrounds/dusk.jpg")))
    plate = background.plate(frame, mask, 0.0)
    kernel = np.ones((15, 15), np.uint8)
    sure_person = cv2.erode(mask, kernel) == 255
    sure_background = cv2.dilate(mask, kernel) == 0
    # The hard human mask, and a softened one, as a model's matte would be.
    for alpha in (mask, cv2.GaussianBlur(mask, (0, 0), 1.5)):
        out = Compositor(background)(frame, alpha)
        assert np.abs(out[sure_background].astype(int) - plate[sure_background]).max() <= 1
        assert np.abs(out[sure_person].astype(int) - frame[sure_person]).max() <= 1


def test_blur_does_not_bleed_the_person_into_the_background() -> None:
    frame, alpha = disc_scene()
    plate = BlurBackground(100).plate(frame, alpha, 0.0)
    ring = (cv2.dilate(alpha, np.ones((9, 9), np.uint8)) > 0) & (alpha == 0)
    assert plate[ring][:, 0].max() < 60 and plate[ring][:, 2].min() > 180  # blue, not purple
    # A plain blur of the same strength would have smeared the red out there.
    plain = cv2.GaussianBlur(frame, (0, 0), 200 / 25)
    assert plain[ring][:, 0].max() > 100


def test_blur_strength_is_checked() -> None:
    with pytest.raises(InputError, match="blur strength 0 is not in 1..100"):
        BlurBackground(0)


def test_decontamination_moves_band_colours_to_the_person() -> None:
    # Red person on the left, blue background on the right, a 16-pixel soft edge between.
    height, width, band_width = 360, 640, 16
    edge = np.clip((width / 2 - np.arange(width)) / band_width * 255 + 127.5, 0, 255)
    alpha = np.tile(edge.astype(np.uint8), (height, 1))
    a = alpha[..., None] / 255
    frame = np.round(a * RED + (1 - a) * BLUE).astype(np.uint8)
    foreground = estimated(frame, alpha)
    band = (alpha > 25) & (alpha < 230)
    before = np.linalg.norm(frame[band].astype(float) - RED, axis=1).mean()
    after = np.linalg.norm(foreground[band].astype(float) - RED, axis=1).mean()
    assert after < 0.5 * before
    outside = (alpha == 0) | (alpha == 255)
    np.testing.assert_array_equal(foreground[outside], frame[outside])


def test_foreground_estimator_reuses_its_buffers_across_frames() -> None:
    # Its scratch buffers are kept and only grow, so a frame after a bigger one, or of another
    # size, must come out as it does from a fresh estimator.
    kept = Compositor(TransparentBackground())
    scenes = [disc_scene(size, radius) for size, radius in ((300, 120), (200, 30), (120, 40))]
    for frame, alpha in scenes:
        soft = cv2.GaussianBlur(alpha, (0, 0), 4)
        np.testing.assert_array_equal(estimated(frame, soft, kept), estimated(frame, soft))
    frame, alpha = scenes[0]
    np.testing.assert_array_equal(estimated(frame, alpha, kept), frame)  # no band: no change


def test_compositor_blends_the_colours_the_estimator_makes() -> None:
    # Frame after frame and size after size (its buffers are kept), the compositor's composite
    # must be the blend of the foreground the estimator makes alone.
    compositor = Compositor(ColorBackground(GREEN))
    plain = Compositor(ColorBackground(GREEN), CompositeSettings(decontaminate=False))
    for size, radius in ((300, 120), (200, 30), (300, 60)):
        frame, alpha = disc_scene(size, radius)
        soft = cv2.GaussianBlur(alpha, (0, 0), 4)
        expected = plain(estimated(frame, soft), soft)
        np.testing.assert_array_equal(compositor(frame, soft), expected)


@pytest.mark.parametrize("strength", [5, 10, 20, 50, 100])
def test_a_blur_shows_the_background_in_narrow_gaps_between_the_person_s_parts(
        strength: int) -> None:
    """Between an arm and the body the background shows through a gap a few pixels wide. The
    blur works at a fraction of the frame's size, where such a gap is narrower than a pixel:
    it came out black (no background left near it), tinted with the person's colours (a
    working pixel that mixes both), or, with the weights summed in 8 bits, off by up to 246
    levels where the background is far."""
    height, width = 720, 1280
    wall = np.array((40, 160, 90), np.uint8)
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = wall
    alpha = np.zeros((height, width), np.uint8)
    for left in range(0, width, width // 12):  # parts of the person, 4-pixel gaps between
        alpha[40:, left : left + width // 12 - 4] = 255
        frame[40:, left : left + width // 12 - 4] = RED
    plate = BlurBackground(strength).plate(frame, alpha, 0.0)
    assert np.abs(plate[alpha == 0].astype(int) - wall).max() <= 4
