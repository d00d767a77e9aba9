"""Putting outputs in place: what a failure to write says, about which file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from obs_bgremover.errors import InputError
from obs_bgremover.outputs import staged_folder, write_failed


def test_a_folder_output_that_cannot_be_written_names_the_folder_not_its_hidden_one(
    tmp_path: Path,
) -> None:
    """matte said "/tmp/ro/.part-97pp_6df: Read-only file system" and "cannot write
    /tmp/full/m/.part-lphxf81e/00005.png": hidden names the user never sees (/proc stands for
    a read-only drive here, where root too is refused)."""
    with pytest.raises(InputError, match=r"^cannot write /proc: No such file or directory$"):
        with staged_folder(Path("/proc")):
            pass
    full = os.strerror(errno.ENOSPC)
    with pytest.raises(InputError, match=rf"^cannot write {tmp_path}/00005.png: {full}$"):
        with staged_folder(tmp_path) as staging:
            raise write_failed(staging / "00005.png", OSError(errno.ENOSPC, full))
    assert list(tmp_path.iterdir()) == []
