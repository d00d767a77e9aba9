"""`FileWatch`, without OBS or a camera: a saved file counts as changed once it holds still, a
missing one once it appears, a deleted one not at all, and the disk is looked at no more often
than asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs_bgremover.watch import FileWatch


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
    watch = FileWatch(picture, 1.0, clock)
    picture.write_bytes(b"half of the second")
    assert not watch.changed(), "looked again within the second"
    clock.now += 1.0
    assert not watch.changed(), "still being written, as far as it can tell"
    clock.now += 1.0
    assert watch.changed()
    clock.now += 1.0
    assert not watch.changed(), "told once"


def test_a_missing_file_counts_once_it_appears(tmp_path: Path, clock: Clock) -> None:
    picture = tmp_path / "later.png"
    watch = FileWatch(picture, 1.0, clock)
    clock.now += 1.0
    assert not watch.changed()
    picture.write_bytes(b"here now")
    for _ in range(2):
        clock.now += 1.0
        seen = watch.changed()
    assert seen


def test_a_deleted_file_is_no_change(tmp_path: Path, clock: Clock) -> None:
    """A drive that drops out for a moment must not take the background away."""
    picture = tmp_path / "backdrop.png"
    picture.write_bytes(b"the picture")
    watch = FileWatch(picture, 1.0, clock)
    picture.unlink()
    for _ in range(3):
        clock.now += 1.0
        assert not watch.changed()
