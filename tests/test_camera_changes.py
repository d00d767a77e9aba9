"""`Changes`, the virtual camera's thread for live changes: what it makes ready is applied in
order, on the caller's thread; what is never applied is released; a failure changes nothing.
(`test_camera.py` drives it through the camera itself.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from obs_bgremover.camera.changes import Changes
from obs_bgremover.errors import InputError

WAIT_LIMIT = 10


class Made:
    """A change made ready, which records what happened to it."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def apply(self) -> str:
        self.log.append(f"applied {self.name} on {threading.current_thread().name}")
        return f"did {self.name}"

    def discard(self) -> None:
        self.log.append(f"discarded {self.name}")


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_changes_are_applied_in_order_on_the_callers_thread() -> None:
    log: list[str] = []
    notes: list[str] = []
    with Changes(notes.append) as changes:
        changes.ask("config", lambda: Made("one", log), "settings")
        changes.ask("background", lambda: Made("two", log), "background")
        _until(lambda: changes.apply_ready() or len(log) == 2)
    here = threading.current_thread().name
    assert log == [f"applied one on {here}", f"applied two on {here}"]
    assert notes == ["did one", "did two"]


def test_a_change_asked_again_before_it_started_is_made_once() -> None:
    started, go = threading.Event(), threading.Event()
    made: list[int] = []

    def blocking() -> None:
        started.set()
        go.wait(WAIT_LIMIT)

    with Changes(lambda text: None) as changes:
        changes.ask("other", blocking, "it")
        _until(started.is_set)
        for n in range(3):
            changes.ask("config", lambda n=n: made.append(n), "settings")
        go.set()
        _until(lambda: made == [2])


def test_what_was_never_applied_is_released_at_close() -> None:
    log: list[str] = []
    changes = Changes(lambda text: None)
    changes.ask("config", lambda: Made("late", log), "settings")
    _until(lambda: bool(changes._ready))
    changes.close()
    assert log == ["discarded late"]


def test_a_failure_is_noted_and_changes_nothing() -> None:
    notes: list[str] = []

    def bad() -> None:
        raise InputError("cannot read background nosuch.png")

    def bug() -> None:
        raise RuntimeError("a stand-in for a bug")

    with Changes(notes.append) as changes:
        changes.ask("background", bad, "background")
        changes.ask("config", bug, "settings")
        _until(lambda: len(notes) == 2)
        changes.apply_ready()
    assert notes[0] == "camera: cannot read background nosuch.png; keeping the current background"
    assert "RuntimeError: a stand-in for a bug (this is a bug" in notes[1]
    assert notes[1].endswith("keeping the current settings")
