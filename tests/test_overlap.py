"""Reading ahead and writing behind on threads: order, errors on the caller's thread, and clean
stops."""

from __future__ import annotations

import threading
import time
from contextlib import closing

import pytest

from obs_bgremover.errors import InputError
from obs_bgremover.overlap import DEPTH, WriteBehind, overlapped, read_ahead


def threads_named(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


def test_read_ahead_gives_every_item_in_order() -> None:
    assert list(read_ahead(range(100))) == list(range(100))


def test_read_ahead_reads_on_another_thread_at_most_depth_ahead() -> None:
    produced: list[str] = []

    def source():
        for index in range(50):
            produced.append(threading.current_thread().name)
            yield index

    with closing(read_ahead(source())) as items:
        assert next(items) == 0
        time.sleep(0.3)  # the reader fills the queue meanwhile, and waits
        assert 1 + DEPTH <= len(produced) <= 2 + DEPTH
    assert set(produced) == {"obs-bgremover-read"}


def test_a_reader_error_reaches_the_caller_after_the_items_before_it() -> None:
    def source():
        yield 1
        yield 2
        raise InputError("cannot decode frame 3")

    taken = []
    with pytest.raises(InputError, match="frame 3"):
        for item in read_ahead(source()):
            taken.append(item)
    assert taken == [1, 2]


def test_stopping_early_closes_the_source_and_ends_the_thread() -> None:
    closed = threading.Event()

    def source():
        try:
            yield from range(1000)
        finally:
            closed.set()

    with closing(read_ahead(source())) as items:
        for item in items:
            if item == 3:
                break
    assert closed.is_set()
    assert not threads_named("obs-bgremover-read")


def test_write_behind_writes_every_item_in_order_on_another_thread() -> None:
    written: list[tuple[int, str]] = []

    def write(item: int) -> None:
        time.sleep(0.001)
        written.append((item, threading.current_thread().name))

    with WriteBehind(write) as queue_write:
        for index in range(30):
            queue_write(index)
    assert [item for item, _ in written] == list(range(30))
    assert {name for _, name in written} == {"obs-bgremover-write"}
    assert not threads_named("obs-bgremover-write")


def test_a_writer_error_is_raised_on_the_callers_thread() -> None:
    def write(item: int) -> None:
        if item == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with WriteBehind(write) as queue_write:
            for index in range(5):
                queue_write(index)
    assert not threads_named("obs-bgremover-write")


def test_leaving_on_an_error_drops_what_is_queued_and_keeps_that_error() -> None:
    started, release = threading.Event(), threading.Event()
    written: list[int] = []

    def write(item: int) -> None:
        started.set()
        release.wait(5)
        written.append(item)

    with pytest.raises(InputError, match="damaged"):
        with WriteBehind(write, depth=8) as queue_write:
            for index in range(6):
                queue_write(index)
            # The writer is held in the first item until the queue has been dropped.
            started.wait(5)
            threading.Timer(0.3, release.set).start()
            raise InputError("damaged input")
    assert written == [0]
    assert not threads_named("obs-bgremover-write")


def test_a_writer_whose_wake_up_was_lost_still_writes_and_ends() -> None:
    """A SIGTERM's exception on the caller's thread, raised between the steps of the queue's
    wake-up, once left the writer asleep by a frame for good: ``replace`` hung at exit with its
    partial file (py-spy: the caller joining the writer, the writer in ``Queue.get``). Here the
    wake-up is lost the same way: the writer is taken off the queue's list of sleepers."""
    written: list[int] = []
    writer = WriteBehind(written.append)
    deadline = time.monotonic() + 5
    while not writer._waiting.not_empty._waiters:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with writer._waiting.mutex:
        writer._waiting.not_empty._waiters.clear()  # type: ignore[attr-defined]
        writer._waiting.queue.append(1)  # as put does, the wake-up lost after it
        writer._waiting.unfinished_tasks += 1

    def finish() -> None:
        with writer:
            writer(2)

    finisher = threading.Thread(target=finish, daemon=True)
    finisher.start()
    finisher.join(timeout=5)
    assert not finisher.is_alive(), "the writer never woke up"
    assert written == [1, 2]


def test_overlapped_steps_on_the_caller_s_thread_between_reading_and_writing() -> None:
    """Exhausted, every result has been written, on the writer's thread, in order."""
    caller = threading.current_thread().name
    stepped: list[str] = []
    written: list[tuple[str, float, str]] = []

    def step(frame: str, t: float) -> str:
        stepped.append(threading.current_thread().name)
        return frame.upper()

    def write(result: str, t: float) -> None:
        time.sleep(0.001)
        written.append((result, t, threading.current_thread().name))

    frames = [(index / 10, f"frame{index}") for index in range(20)]
    assert list(overlapped(frames, step, write)) == [t for t, _ in frames]
    assert stepped == [caller] * 20
    assert written == [(f"FRAME{index}", index / 10, "obs-bgremover-write")
                       for index in range(20)]
    assert not threads_named("obs-bgremover-write") and not threads_named("obs-bgremover-read")


def test_overlapped_closed_early_stops_reading_and_drops_the_queue() -> None:
    read: list[int] = []
    release = threading.Event()
    written: list[str] = []

    def source():
        for index in range(1000):
            read.append(index)
            yield index / 30, str(index)

    def write(result: str, t: float) -> None:
        release.wait(5)
        written.append(result)

    with closing(overlapped(source(), lambda frame, t: frame, write)) as times:
        for count, _ in enumerate(times):
            if count == 2:
                # The writer is held in the first result until the queue has been dropped.
                threading.Timer(0.3, release.set).start()
                break
    assert written == ["0"] and len(read) <= 3 + DEPTH + 1
    assert not threads_named("obs-bgremover-write") and not threads_named("obs-bgremover-read")
