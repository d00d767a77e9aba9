"""Live changes made ready beside the frames: a thread of its own does the slow part of a
change (opening a background video, loading a model: a fifth of a second to seconds on a CPU,
minutes for a first TensorRT engine), and the sending thread only swaps in what is ready. Done
on the sending thread, each such change froze the virtual camera's picture for as long.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from obs_bgremover.errors import BgRemoverError

# How long closing waits for a change still being made ready, in seconds: a model load cannot
# be interrupted, and Ctrl-C must stop the camera anyway.
CLOSE_WAIT = 1.0


class Ready(Protocol):
    """A change made ready: `apply` swaps it in on the sending thread (quickly: everything slow
    was done when it was made) and says what it did; `discard` releases what it opened, for
    one that is never applied."""

    def apply(self) -> str | None: ...

    def discard(self) -> None: ...


Prepare = Callable[[], "Ready | None"]
T = TypeVar("T")


class Changes:
    """Makes changes ready in the order they were asked for, one at a time, on a thread of its
    own; the sending thread applies them in that order (`apply_ready`). A change asked for again
    under the same key before it was started replaces the earlier request (a config file saved
    twice in a row is read once). A change that fails to be made ready is noted and replaced by
    nothing, so it changes nothing; ``keeping`` says what stays."""

    def __init__(self, note: Callable[[str], None]) -> None:
        self._note = note
        self._lock = threading.Condition()
        self._asked: dict[str, tuple[Prepare, str]] = {}
        self._ready: deque[tuple[Ready, str]] = deque()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="obs-bgremover-changes",
                                        daemon=True)
        self._thread.start()

    def ask(self, key: str, prepare: Prepare, keeping: str) -> None:
        """Make ``prepare``'s change ready; on failure the camera keeps its ``keeping``."""
        with self._lock:
            self._asked.pop(key, None)
            self._asked[key] = (prepare, keeping)
            self._lock.notify()

    def apply_ready(self) -> None:
        """Apply the changes made ready so far, and note what they say."""
        with self._lock:
            ready, self._ready = list(self._ready), deque()
        for made, keeping in ready:
            said = self._attempt(made.apply, keeping)
            if said:
                self._note(said)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._asked or self._closed)
                if self._closed:
                    return
                key = next(iter(self._asked))
                prepare, keeping = self._asked.pop(key)
            made = self._attempt(prepare, keeping)
            if made is None:
                continue
            with self._lock:
                if not self._closed:
                    self._ready.append((made, keeping))
                    continue
            made.discard()

    def _attempt(self, step: Callable[[], T], keeping: str) -> T | None:
        """What ``step`` returns, or None (noted) when it fails. A failure that is a bug is
        said to be one and noted all the same: the camera is live, and a bug in a reload must
        not end a call."""
        try:
            return step()
        except BgRemoverError as err:
            self._note(f"camera: {err}; keeping the current {keeping}")
        except Exception as err:
            self._note(
                f"camera: {type(err).__name__}: {err} (this is a bug in obs-bgremover, please "
                f"report it); keeping the current {keeping}"
            )
        return None

    def close(self) -> None:
        """Stop making changes ready and release those made but not applied; a change still
        being made is waited for at most `CLOSE_WAIT` seconds, and released when it is done."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(CLOSE_WAIT)
        with self._lock:
            ready, self._ready = list(self._ready), deque()
        for made, _ in ready:
            made.discard()

    def __enter__(self) -> Changes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
