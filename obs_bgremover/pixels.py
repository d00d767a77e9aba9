"""Work on a list of pixels instead of whole frames.

Most of a matte is exactly 0 or 255 and stays so from frame to frame; what smoothing and
compositing have to compute is a few percent of the pixels (the soft edge, what moves). Those
stages list such pixels as flat indices, gather them, compute, and scatter the results back;
these are the helpers they share.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import DTypeLike

# Listed pixels are laid out as rows of this many: OpenCV's remap wants its maps below 32767
# columns. The last row is padded; the padding is computed along and never used.
ROW = 1024


def items(image: np.ndarray) -> np.ndarray:
    """The pixels of a contiguous (..., channels) uint8 array as a flat view of one item each.
    Gathering and scattering such items is several times faster than indexing the rows of an
    (n, channels) array. An error, not a copy whose writes would be lost, for an array that is
    not contiguous."""
    return np.reshape(image, (-1, image.shape[-1]), copy=False).view(
        f"V{image.shape[-1]}").reshape(-1)


def rows(count: int) -> int:
    """How many rows of `ROW` pixels hold ``count`` listed pixels (at least one)."""
    return max(1, -(-count // ROW))


class Scratch:
    """Named scratch arrays kept from frame to frame, so per-frame maths writes into memory it
    already has. The listed pixels' count changes every frame, so an array's first dimension
    only grows: a longer one is sliced, not reallocated."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple[int, ...], dtype: DTypeLike = np.float32
                 ) -> np.ndarray:
        """The array kept under ``name``, of ``shape`` and ``dtype`` (contents undefined)."""
        array = self._arrays.get(name)
        if (
            array is None
            or array.dtype != dtype
            or array.shape[1:] != shape[1:]
            or array.shape[0] < shape[0]
        ):
            array = self._arrays[name] = np.empty(shape, dtype)
        return array[: shape[0]]

    def gather(self, name: str, image: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``image``'s pixels at the flat ``index``, as rows of `ROW` pixels in the array kept
        under ``name`` (the last row padded). OpenCV pays per row, so its arithmetic on such
        rows costs a small fraction of the same on a column of one pixel per row."""
        count = len(index)
        out = self(name, (rows(count), ROW, *image.shape[2:]), image.dtype)
        if image.ndim == 3:
            np.take(items(np.ascontiguousarray(image)), index, out=items(out)[:count])
        else:
            np.take(image.reshape(-1), index, out=out.reshape(-1)[:count])
        return out


class Sampler:
    """Bilinear samples of reduced images at listed full-resolution pixels: `place` the pixels
    once, then `sample` any image reduced from the same frame (its own scale on each axis). The
    maps are kept from call to call."""

    def __init__(self) -> None:
        self._x = np.empty((0, ROW), np.float32)
        self._y = np.empty((0, ROW), np.float32)
        self._rows = 0
        self._shape: tuple[int, int] = (1, 1)

    def place(self, index: np.ndarray, shape: tuple[int, int]) -> None:
        """The pixels to sample: flat ``index`` into a full-resolution ``shape`` (height, width)."""
        count = len(index)
        self._rows = rows(count)
        if self._x.shape[0] < self._rows:
            self._x = np.empty((self._rows, ROW), np.float32)
            self._y = np.empty((self._rows, ROW), np.float32)
        ys = index // shape[1]
        xs = index - ys * shape[1]  # np.divmod takes ten times as long
        for grid, coordinate in ((self._x, xs), (self._y, ys)):
            flat = grid[: self._rows].reshape(-1)
            flat[count:] = 0
            flat[:count] = coordinate
        self._shape = shape

    def sample(self, small: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``small`` at the placed pixels' centres, as an array of `rows` x `ROW` pixels (of
        ``small``'s channels and type), written into ``out`` when given."""
        height, width = self._shape
        scale_y, scale_x = small.shape[0] / height, small.shape[1] / width
        # Pixel centres: full-resolution x + 0.5 lies at small-image (x + 0.5) * scale - 0.5.
        map_x = self._x[: self._rows] * np.float32(scale_x) + np.float32(0.5 * scale_x - 0.5)
        map_y = self._y[: self._rows] * np.float32(scale_y) + np.float32(0.5 * scale_y - 0.5)
        return cv2.remap(small, map_x, map_y, cv2.INTER_LINEAR, out, cv2.BORDER_REPLICATE)
