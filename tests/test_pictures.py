"""Still pictures as a viewer shows them: their transparency turned with their colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clip_writer import write_clip
from PIL import Image

from obs_bgremover.pictures import read_image, write_image
from obs_bgremover.video_sink import VideoSink

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


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
def test_a_tiff_cut_out_keeps_its_transparency(tmp_path: Path, compression: str | None) -> None:
    """A cut-out saved as TIFF (Photoshop's, GIMP's) lost its alpha: its transparent parts
    came out black, and the network took some of them for the person. Its soft edge keeps its
    own colours: OpenCV multiplies them by the alpha (darkened, twice once flattened)."""
    stored = np.zeros((30, 40, 4), np.uint8)
    stored[...] = (*GREY, 255)
    stored[:, :10] = (*RED, 0)
    stored[:, 10:12] = (200, 100, 50, 128)  # the soft edge
    path = tmp_path / "cut-out.tif"
    Image.fromarray(stored).save(path, compression=compression)
    shown = read_image(path, keep_alpha=True)
    assert shown.shape[2] == 4
    assert np.array_equal(shown[..., 3] == 0, np.arange(40)[None, :].repeat(30, 0) < 10)
    assert (shown[:, 10:12] == (200, 100, 50, 128)).all()
    assert (read_image(path)[:, 10:12] == (100, 50, 25)).all()  # flattened once, over black


@pytest.mark.parametrize("suffix", [".png", ".mp4"])
def test_an_output_name_near_the_longest_is_written(suffix: str, tmp_path: Path) -> None:
    """A name a few bytes under the file system's 255 was written under a temporary name 15
    bytes longer, and failed as "File name too long"."""
    path = tmp_path / ("\u00e9" * 120 + "ab" + suffix)  # 246 bytes in UTF-8
    picture = np.full((16, 16, 3), 200, np.uint8)
    if suffix == ".png":
        write_image(path, picture)
    else:
        source = write_clip(tmp_path / "source.mp4", [picture] * 2, 10)
        with VideoSink(path, source) as sink:
            sink.write(picture)
    assert path.is_file() and [entry.name for entry in tmp_path.glob(".*")] == []
