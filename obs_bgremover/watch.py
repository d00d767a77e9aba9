"""Files watched for changes, for the front ends that pick up an edit without a restart: the
camera's config file, and the OBS filter's background picture or video.

Polling the file's modification time and size is cheap, and the same on every operating system
and on network drives, where change notifications are unreliable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

# How often a background's file is looked at for a new version saved over it, in seconds (by the
# OBS filter and the virtual camera): a stat, on a thread that draws or sends frames, which a
# network drive can make slow, so not every frame; and soon enough that an edit shows within
# two seconds (a look to see the change, one to see it settled).
BACKGROUND_EVERY_S = 1.0


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


class FileWatch:
    """Says when a file has changed: a new version saved, or a file that was missing put in
    place. It looks at most every ``every_s`` seconds, and a change counts once the file has
    held still for one look, so that a file still being written is not read half way. A file
    that disappears is no change: what was read from it stays (a drive that drops out for a
    moment must not take a streamer's background away)."""

    def __init__(self, path: Path, every_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.every_s = every_s
        self.clock = clock
        self._seen = _stamp(path)
        self._pending: tuple[int, int] | None = None
        self._looked = clock()

    def changed(self) -> bool:
        """Whether the file changed (and settled) since the last call that said so."""
        now = self.clock()
        if now - self._looked < self.every_s:
            return False
        self._looked = now
        stamp = _stamp(self.path)
        if stamp is None or stamp == self._seen:
            self._pending = None
            return False
        if stamp != self._pending:
            self._pending = stamp
            return False
        self._seen, self._pending = stamp, None
        return True
