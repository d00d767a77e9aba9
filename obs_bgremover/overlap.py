"""Decode, matte and encode at once: a video's frames read on one thread and written on another.

Turning a file into a new one takes, per frame, a decode and a colour conversion, the matting
step, and a colour conversion and an encode. Run one after the other they leave cores idle: the
encoder waits for the network and the network for the decoder. PyAV (FFmpeg), ONNX Runtime and
OpenCV release the GIL in their long calls, so the reading and the writing can run on threads of
their own while the caller's thread mattes, each a few frames apart, and a render takes about as
long as its slowest stage rather than as all of them together.

Both helpers keep the caller's view of errors: whatever the reader or the writer raises is
raised on the caller's thread, at the next frame or when the writer is closed. `overlapped`
puts the two around the caller's step, as every command that writes a video runs them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Frames in flight between two stages: enough to absorb the encoder's and the decoder's uneven
# pace, few enough that 1080p RGB frames stay in the tens of megabytes.
DEPTH = 4
# How often a blocked thread looks whether it has been told to stop, in seconds.
POLL_S = 0.1


class _End:
    """The reader's last message: the items ended, or ``error`` ended them."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def read_ahead(items: Iterable[T], depth: int = DEPTH) -> Generator[T, None, None]:
    """The items, taken from ``items`` on a thread of their own up to ``depth`` ahead of the
    caller. Stopping early (a ``break``, an error, closing this generator) stops the thread and
    closes ``items``' iterator there, so a decoder is released at once."""
    waiting: queue.Queue[T | _End] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    break
            else:
                put(_End())
        except BaseException as error:  # handed to the caller, on its thread
            put(_End(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="obs-bgremover-read", daemon=True)
    reader.start()
    try:
        while True:
            item = waiting.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        reader.join()


class WriteBehind(Generic[T]):
    """``write`` called with each item on a thread of its own, in order, up to ``depth`` items
    behind the caller.

    Use as a context manager around the writing: leaving it normally waits for every item to
    be written and raises the writer's error if it had one; leaving it on an exception drops
    what is still queued, as the output is being abandoned anyway. An error of the writer is
    also raised by the next call.
    """

    def __init__(self, write: Callable[[T], None], depth: int = DEPTH) -> None:
        self._write = write
        self._waiting: queue.Queue[T | _End] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._abandon = threading.Event()
        self._writer = threading.Thread(target=self._work, name="obs-bgremover-write",
                                        daemon=True)
        self._writer.start()

    def _work(self) -> None:
        while True:
            # Looking again every POLL_S: a signal's exception on the caller's thread between
            # the steps of `Queue.put` can lose the wake-up, and left this thread asleep by an
            # item, and the caller joining it, for good.
            try:
                item = self._waiting.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if isinstance(item, _End) or self._abandon.is_set():
                return
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as error:  # raised on the caller's thread
                    self._error = error

    def __call__(self, item: T) -> None:
        """Queue ``item`` for writing (waits while ``depth`` items are queued)."""
        self._raise()
        while True:
            try:
                self._waiting.put(item, timeout=POLL_S)
                return
            except queue.Full:
                self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> WriteBehind[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:
            self._abandon.set()
            while True:  # make room for the end marker, dropping what waits
                try:
                    self._waiting.get_nowait()
                except queue.Empty:
                    break
        self._waiting.put(_End())
        self._writer.join()
        if kind is None:
            self._raise()


def overlapped(frames: Iterable[tuple[float, T]], step: Callable[[T, float], R],
               write: Callable[[R, float], None]) -> Generator[float, None, None]:
    """The time of each of ``frames`` (timed frames) once ``step`` has made its result on the
    caller's thread and queued it for ``write``; the frames are read ahead and the results
    written behind, each on a thread of its own. Exhausted, every result has been written;
    closed early (use `contextlib.closing`: a ``break`` or the caller's error), what was still
    queued is dropped, as the output is being abandoned, and the reading stops."""
    with WriteBehind[tuple[R, float]](lambda item: write(*item)) as queue_write, \
            closing(read_ahead(frames)) as source:
        for time, frame in source:
            queue_write((step(frame, time), time))
            yield time
