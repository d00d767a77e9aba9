"""The OBS filter's background without OBS: when no file is chosen yet (picking "Image file" or
"Video file" in the list comes before picking the file, and is no failure), and the size the
blur works at."""

from __future__ import annotations

import pytest

from obs_bgremover.errors import BgRemoverError
from obs_bgremover.obs import backdrop as obs_backdrop
from obs_bgremover.obs.backdrop import (
    BLUR_SIGMA_AT_100,
    BLUR_SIGMA_TEXELS,
    Backdrop,
    blur_size,
    blur_spacing,
)
from obs_bgremover.obs.settings import FilterSettings

SIZE = (64, 36)


@pytest.fixture
def logged() -> list[tuple[int, str]]:
    """The lines a `Backdrop` made with `say` below writes to OBS's log."""
    return []


def say(lines: list[tuple[int, str]]):
    return lambda level, message: lines.append((level, message))


@pytest.mark.parametrize("kind", ["image", "video"])
def test_no_file_chosen_yet_is_said_once_and_not_as_a_warning(kind, logged) -> None:
    """It once said "background file . is a folder, not a file" (Path("") reads "."), as a
    warning, after trying to open the current folder on a thread."""
    backdrop = Backdrop(say(logged))
    for _ in range(3):  # frame after frame
        with pytest.raises(BgRemoverError, match="no background file chosen yet"):
            backdrop._load(FilterSettings(kind=kind), SIZE)
    assert backdrop.unavailable and backdrop.loading is None, "something is being opened"
    assert logged == [(obs_backdrop.libobs.LOG_INFO,
                       f"no {kind} file chosen yet for the background; passing the input "
                       "through until one is")]
    assert backdrop._load(FilterSettings(kind="color"), SIZE) and not backdrop.unavailable


@pytest.mark.parametrize("strength", [1, 5, 10, 13, 14, 50, 100])
def test_a_light_blur_works_at_half_size_at_most_and_keeps_its_sigma(strength: int) -> None:
    """A light blur (1-13 at 720p) worked at full size: its passes took llvmpipe 100-250 ms of
    OBS's frame, and OBS was late on 70-85% of its frames (none at 25-100). It works at half
    size at most, as on the CPU, with its taps closer together there, so its Gaussian keeps the
    sigma the strength asks for."""
    size = (1280, 720)
    width, lines = blur_size(size, strength)
    assert lines <= size[1] // 2 and width <= size[0] // 2
    sigma = strength / 100 * size[1] * BLUR_SIGMA_AT_100  # in the frame's pixels
    passes = BLUR_SIGMA_TEXELS * blur_spacing(size, strength) * size[1] / lines
    assert passes == pytest.approx(sigma, rel=0.02)
