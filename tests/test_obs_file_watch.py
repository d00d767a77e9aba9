"""The OBS filter's watch on its background file, without OBS: a saved picture counts as new
once it holds still, a missing one once it appears, and the disk is looked at once a second."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs_bgremover.obs.backdrop import FileWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_change_counts_once_the_file_held_still(tmp_path: Path, clock: Clock) -> None:
    picture = tmp_path / "backdrop.png"
    picture.write_bytes(b"first")
    watch = FileWatch(clock)
    first = watch.version(str(picture))
    assert first is not None
    picture.write_bytes(b"half of the second")
    assert watch.version(str(picture)) == first, "looked again within the second"
    clock.now += 1.0
    assert watch.version(str(picture)) == first, "still being written, as far as it can tell"
    clock.now += 1.0
    second = watch.version(str(picture))
    assert second not in (None, first)
    clock.now += 1.0
    assert watch.version(str(picture)) == second


def test_a_missing_file_counts_once_it_appears(tmp_path: Path, clock: Clock) -> None:
    picture = tmp_path / "later.png"
    watch = FileWatch(clock)
    assert watch.version(str(picture)) is None
    picture.write_bytes(b"here now")
    clock.now += 1.0
    assert watch.version(str(picture)) is None
    clock.now += 1.0
    assert watch.version(str(picture)) is not None


def test_another_file_is_read_at_once(tmp_path: Path, clock: Clock) -> None:
    one, other = tmp_path / "one.png", tmp_path / "other.png"
    one.write_bytes(b"one")
    other.write_bytes(b"the other")
    watch = FileWatch(clock)
    assert watch.version(str(one)) != watch.version(str(other)) is not None
