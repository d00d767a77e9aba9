"""Putting a job's output in place: never over what the job reads, never half written under
its final name, and, when the job fails, leaving the file system as it was.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from obs_bgremover.errors import InputError

# The longest file name, in bytes, that ext4 (and most file systems) takes.
NAME_MAX = 255


def refuse_overwrite(output: str | os.PathLike[str],
                     **reads: str | os.PathLike[str] | None) -> None:
    """An `InputError` if ``output`` is one of the files a job reads, each named by its role
    (``input=...``, ``background=...``; None for none). Writing it would replace what the job
    renders from: an image at once, a video once complete."""
    output = Path(output)
    if not output.exists():
        return
    for role, path in reads.items():
        if path is not None and Path(path).exists() and os.path.samefile(output, path):
            raise InputError(f"output {output} is the {role} itself: writing it would replace "
                             f"the {role}; choose another output name")


def refuse_folder(path: Path, kind: str) -> None:
    """An `InputError` if a folder has the name of the ``kind`` file ("image", "video") to be
    written: found before any work, not at the final rename."""
    if path.is_dir():
        raise InputError(f"output {path} is a folder; name the {kind} file to write")


def refuse_unwritable(folder: Path) -> None:
    """An `InputError` unless a file can be made in ``folder``: tried with a file of its own,
    since permissions alone do not tell (root passes every permission check, and /proc or a
    read-only drive still refuse). Without this a job was queued, and the worker failed it with
    an "internal error" and a traceback. A folder not made yet is left to what makes it
    (`output_folder`, which says why it cannot)."""
    if not folder.is_dir():
        return
    try:
        handle, trial = tempfile.mkstemp(prefix=".obs-bgremover-", suffix=".trial", dir=folder)
    except OSError as error:
        # /proc answers "No such file or directory" for a folder that is plainly there.
        reason = ("it takes no new files" if error.errno == errno.ENOENT
                  else (error.strerror or str(error)).lower())
        raise InputError(f"cannot write into the output folder {folder} ({reason}); "
                         "pick another one") from error
    os.close(handle)
    Path(trial).unlink(missing_ok=True)


def write_failed(path: Path, err: OSError) -> InputError:
    """The error for an output that could not be written (a full or read-only drive), naming
    the output, not the partial file it was written under."""
    return InputError(f"cannot write {path}: {err.strerror or err}")


def partial_name(path: Path) -> Path:
    """A hidden name beside ``path`` to write under until the file is complete, then renamed:
    an existing file stays whole until then, and the name is this writer's own, so two writers
    of one output cannot write into one file. Its stem is shortened where the name would be
    too long for the file system (`NAME_MAX` bytes): an output name a few bytes under the limit
    failed as "File name too long"."""
    tail = f".{secrets.token_hex(4)}.part{path.suffix}"
    stem = path.stem
    while stem and len(os.fsencode(f".{stem}{tail}")) > NAME_MAX:
        stem = stem[:-1]
    return path.with_name(f".{stem}{tail}")


def refuse_unmakeable(folder: Path) -> None:
    """An `InputError` if a file stands where ``folder``, or a folder above it, should be."""
    blocking = next((path for path in (folder, *folder.parents) if path.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise InputError(f"cannot make the folder {folder}: {blocking} is a file")


@contextmanager
def output_folder(folder: Path) -> Iterator[None]:
    """Make ``folder``, and any missing folders above it, for a job's output while the block
    runs; if the block fails, remove again those it made (while empty), so a job that fails
    on its input half way leaves no new empty folders behind."""
    made = [path for path in (folder, *folder.parents) if not path.exists()]  # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        refuse_unmakeable(folder)
        raise
    except OSError as err:  # a folder of another user, a read-only drive
        raise write_failed(Path(err.filename or folder), err) from err
    try:
        yield
    except BaseException:
        for path in made:
            try:
                path.rmdir()
            except OSError:  # it holds something after all
                break
        raise


@contextmanager
def staged_folder(folder: Path) -> Iterator[Path]:
    """A hidden folder inside ``folder`` (made if need be) to write files into. They move out
    into ``folder`` only when the block ends without an error; on an error, or Ctrl+C, they are
    removed with the hidden folder. So a damaged file half way through a folder of images leaves
    the output as it was, not holding the first half of a run. Inside, not beside: ``folder``
    may be a mount point or a link to another drive (a container's volume, a USB stick), where
    files cannot be renamed across, and its parent may not be writable at all."""
    with output_folder(folder):
        try:
            staging = Path(tempfile.mkdtemp(prefix=".part-", dir=folder))
        except OSError as err:  # a read-only drive: said of the folder, not of the hidden one
            raise write_failed(folder, err) from err
        try:
            yield staging
            for path in sorted(staging.iterdir()):
                os.replace(path, folder / path.name)
        except InputError as err:  # a file that could not be written, named where it goes
            named = str(err).replace(f"{staging}{os.sep}", f"{folder}{os.sep}")
            if named == str(err):
                raise
            raise InputError(named) from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def discard(path: Path) -> None:
    """Remove a partial file, if it is there, after a failure: on a read-only drive even the
    removal of a file never made fails, and its error would replace the one worth telling."""
    with suppress(OSError):
        path.unlink()
