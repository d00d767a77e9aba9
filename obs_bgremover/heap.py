"""Give the memory that a long-lived process freed back to the system.

Once glibc has freed a block of several megabytes it serves the next ones from its heap
instead of mapping them (its mmap threshold rises), and freed heap blocks stay with the process.
An OBS filter instance holds about 30 MB at 720p (its textures, which llvmpipe, OBS's renderer
without a GPU, keeps in system memory, staging surfaces and frames): adding and removing the
filter in quick succession grew OBS by about 18 MB each time, for good, and by 30 MB each time
under CPU contention. A render job decodes, mattes and encodes frames of many sizes on several
threads: a render worker grew from 210 to 600 MB over its first ten short clips, and stayed
there. ``malloc_trim`` hands the free pages back (the worker then stays at about 175 MB).
Where the C library has no such call (Windows, macOS, musl) nothing is done: their allocators
return large blocks by themselves.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """``malloc_trim`` from the C library the process has loaded already. Finding the
    library by name (`ctypes.util.find_library`) would run ``ldconfig`` in a child process,
    and in OBS the first trim runs on the thread libobs destroys sources on: a SIGINT that
    arrived while that child was being started ran OBS's handler on that thread once, and the
    handler waits for the very thread it runs on, so OBS never exited."""
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # no such call, or (Windows) no CDLL(None)
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


def trim() -> bool:
    """Return the heap's free pages to the system; True if any were."""
    function = _malloc_trim()
    return bool(function(0)) if function is not None else False
