"""The OBS filter's background when no file is chosen yet, without OBS: picking "Image file" or
"Video file" in the list comes before picking the file, and is no failure."""

from __future__ import annotations

import pytest

from obs_bgremover.errors import BgRemoverError
from obs_bgremover.obs import backdrop as obs_backdrop
from obs_bgremover.obs.backdrop import Backdrop
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
