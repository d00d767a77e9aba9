"""Handing freed memory back to the system (`obs_bgremover.heap`), as a render worker does
after each job and OBS after a filter is removed."""

from __future__ import annotations

import sys

import pytest

from obs_bgremover import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_pages_go_back_to_the_system() -> None:
    """Blocks below glibc's mmap threshold come from its heap: freed between blocks still in
    use, their pages stay with the process until trimmed."""
    blocks = [bytearray(64 * 1024) for _ in range(2000)]  # 128 MB of small blocks
    del blocks[::2]  # holes in the middle of the heap, which freeing alone never returns
    assert heap.trim()
    assert len(blocks) == 1000
