"""Still pictures as a viewer shows them: their transparency turned with their colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from obs_bgremover.pictures import read_image

RED, GREY = (255, 0, 0), (90, 90, 90)


@pytest.mark.parametrize("suffix", [".png", ".webp"])
@pytest.mark.parametrize("orientation", range(2, 9))
@pytest.mark.parametrize("size", [(40, 60), (40, 40)], ids=["oblong", "square"])
def test_a_turned_picture_s_transparency_turns_with_its_colours(
        tmp_path: Path, suffix: str, orientation: int, size: tuple[int, int]) -> None:
    """A phone photo cut out and saved as PNG or WebP keeps the camera's EXIF orientation. Its
    colours were turned upright and its alpha not: an oblong picture lost its transparency,
    a square one had the wrong part cut out, and the colours it hid came back."""
    stored = np.zeros((*size, 4), np.uint8)
    stored[...] = (*GREY, 255)
    stored[:, : size[1] // 3] = (*RED, 0)  # a transparent strip, red hidden under it
    stored[: size[0] // 4, -5:] = (*RED, 0)  # and a corner, so that no turn looks like another
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"cut-out{suffix}"
    Image.fromarray(stored).save(path, exif=exif, lossless=True, exact=True)
    shown = read_image(path, keep_alpha=True)
    assert shown.shape[2] == 4
    hidden = np.all(shown[..., :3] == RED, axis=2)
    assert np.array_equal(shown[..., 3] == 0, hidden)
