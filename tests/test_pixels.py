"""The listed-pixel helpers that smoothing and compositing share: views that write through, scratch
memory that is kept, gathers and bilinear samples equal to what whole-frame code would give."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from obs_bgremover.pixels import ROW, Sampler, Scratch, items, rows


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (37, 53, 3), np.uint8)


def test_items_is_a_view_one_item_per_pixel(image: np.ndarray) -> None:
    pixels = items(image)
    assert pixels.shape == (37 * 53,)
    pixels[5] = items(np.array([[1, 2, 3]], np.uint8))[0]
    assert image.reshape(-1, 3)[5].tolist() == [1, 2, 3], "a write through the view was lost"


def test_items_refuses_an_array_it_could_only_copy(image: np.ndarray) -> None:
    """A copy would take the writes of a scatter and drop them."""
    with pytest.raises(ValueError):
        items(image[:, ::2])


@pytest.mark.parametrize(("count", "expected"), [(0, 1), (1, 1), (ROW, 1), (ROW + 1, 2)])
def test_rows_holds_the_listed_pixels(count: int, expected: int) -> None:
    assert rows(count) == expected


def test_scratch_keeps_its_memory_while_the_count_shrinks_and_grows() -> None:
    scratch = Scratch()
    first = scratch("band", (10, 4))
    assert first.shape == (10, 4) and first.dtype == np.float32
    smaller = scratch("band", (6, 4))
    assert smaller.shape == (6, 4) and np.shares_memory(smaller, first)
    larger = scratch("band", (12, 4))
    assert larger.shape == (12, 4) and not np.shares_memory(larger, first)
    assert np.shares_memory(scratch("band", (3, 4)), larger)
    # Another type or row shape is another array.
    assert scratch("band", (3, 4), np.uint8).dtype == np.uint8
    assert scratch("band", (3, 5), np.uint8).shape == (3, 5)


@pytest.mark.parametrize("channels", [0, 3])
def test_gather_lays_the_listed_pixels_out_in_rows(channels: int, image: np.ndarray) -> None:
    picture = image[..., 0].copy() if channels == 0 else image
    index = np.random.default_rng(1).choice(picture.shape[0] * picture.shape[1], ROW + 300,
                                            replace=False)
    gathered = Scratch().gather("colours", picture, index)
    assert gathered.shape == (2, ROW, *picture.shape[2:])
    flat = gathered.reshape(-1, *picture.shape[2:])[:len(index)]
    expected = picture.reshape(-1, *picture.shape[2:])[index]
    np.testing.assert_array_equal(flat, expected)


def test_gather_reads_a_view_of_a_frame_as_the_frame(image: np.ndarray) -> None:
    """A cropped frame (a view, not contiguous) is gathered from its own pixels."""
    view = image[3:30, 4:40]
    index = np.arange(0, view.shape[0] * view.shape[1], 7)
    gathered = Scratch().gather("colours", view, index)
    np.testing.assert_array_equal(gathered.reshape(-1, 3)[:len(index)],
                                  np.ascontiguousarray(view).reshape(-1, 3)[index])


def test_sample_at_full_size_gives_the_pixels_themselves(image: np.ndarray) -> None:
    index = np.arange(0, 37 * 53, 5)
    sampler = Sampler()
    sampler.place(index, image.shape[:2])
    sampled = sampler.sample(image)
    np.testing.assert_array_equal(sampled.reshape(-1, 3)[:len(index)],
                                  image.reshape(-1, 3)[index])


def test_sample_of_a_reduced_image_matches_a_resize_back_to_full_size() -> None:
    """A bilinear sample at each pixel's centre is what OpenCV's bilinear enlargement gives
    there, borders included (replicated)."""
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (12, 16, 3), np.uint8)
    shape = (48, 64)
    enlarged = cv2.resize(small, shape[::-1], interpolation=cv2.INTER_LINEAR)
    index = rng.choice(shape[0] * shape[1], 500, replace=False)
    sampler = Sampler()
    sampler.place(index, shape)
    sampled = sampler.sample(small).reshape(-1, 3)[:len(index)]
    difference = np.abs(sampled.astype(int) - enlarged.reshape(-1, 3)[index])
    assert difference.max() <= 1, difference.max()  # OpenCV's fixed-point rounding


def test_sample_writes_into_the_array_it_is_given(image: np.ndarray) -> None:
    sampler = Sampler()
    sampler.place(np.arange(10), image.shape[:2])
    out = np.zeros((1, ROW, 3), np.uint8)
    assert sampler.sample(image, out) is out
    np.testing.assert_array_equal(out[0, :10], image.reshape(-1, 3)[:10])
