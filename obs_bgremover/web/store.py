"""The web app's files: every upload and every result lives under one folder, by generated id.

A user's file name is a label shown on the page and nothing else: an upload is kept as
``uploads/<id>/source`` beside ``upload.json`` (its label and what `probe` found), a job's files
in ``jobs/<folder>/``, made for that job. An upload is received into ``tmp/<id>/`` and moved into
``uploads/`` in one rename once it has passed its checks, so a rejected or interrupted upload
leaves nothing behind (what a stop cut off is removed at the next start, see `STALE_UPLOAD_S`).
Job records live in the render queue; this module only knows which folder belongs to which
record.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from obs_bgremover.pictures import write_image
from obs_bgremover.render import JobRecord, MediaInfo

ID_PATTERN = r"^[0-9a-f]{12}$"
"""Upload ids, and the render queue's job ids: 12 hex digits, so never a path."""
SOURCE = "source"
STALE_UPLOAD_S = 3600.0
"""How long an upload in ``tmp/`` goes without a byte before a start takes it for one that a stop
cut off. Not every upload there at a start: another server may be using the same folder (one
for this machine and one with a token for the network, or several in front of one queue), and
emptying ``tmp/`` deleted its uploads as they arrived, which then failed as "does not exist".
An upload being received is written to as its bytes come, far more often."""


def new_id() -> str:
    """A fresh random id (48 bits: unguessable enough for a folder name, short in a URL)."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class Upload:
    """An accepted upload, as ``upload.json`` keeps it."""

    id: str
    name: str
    """The file name the user gave, for display only."""
    purpose: str
    """``clip`` (something to render) or ``background`` (an image or video to put behind)."""
    kind: str
    """``video`` or ``image``."""
    format: str
    codec: str
    width: int
    height: int
    rate: float | None
    duration: float | None
    audio: bool
    bytes: int
    created: float

    @classmethod
    def from_probe(cls, upload_id: str, name: str, purpose: str, info: MediaInfo,
                   size: int) -> Upload:
        return cls(upload_id, name, purpose, info.kind, info.format, info.codec, info.width,
                   info.height, None if info.rate is None else float(info.rate), info.duration,
                   info.audio, size, time.time())


def _lock_file(handle: BinaryIO, lock: bool) -> None:
    """Take (or give back) the lock on an open file that servers on one folder share."""
    if sys.platform == "win32":  # os.name == "nt", said so that mypy sees it
        import msvcrt

        handle.seek(0)
        while True:
            try:  # LK_LOCK tries for ten seconds, then raises
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK if lock else msvcrt.LK_UNLCK, 1)
                return
            except OSError:
                if not lock:
                    raise
    else:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX if lock else fcntl.LOCK_UN)


class Store:
    """The folders of one web app's data: ``uploads/``, ``jobs/``, ``cache/`` and ``tmp/``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uploads_dir = self.root / "uploads"
        self.jobs_dir = self.root / "jobs"
        self.cache_dir = self.root / "cache"
        self.tmp_dir = self.root / "tmp"
        for folder in (self.uploads_dir, self.jobs_dir, self.cache_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        # Uploads read so far, by id: a kept upload never changes, and a listing of 2000 jobs
        # spent half a second reading the same few ``upload.json`` files again and again.
        self._known: dict[str, Upload] = {}
        self._uploads_lock = threading.Lock()
        self._remove_stale_uploads()

    @contextmanager
    def uploads_in_use(self) -> Iterator[None]:
        """Held while a job is made from uploads and while an upload goes with its jobs: a job
        made in the seconds an upload with many jobs took to delete outlived it, its background
        then shown as the server's path. By this server's threads and by the other servers on
        this folder (a lock on a file): a lock of one process let jobs made on one server
        outlive an upload deleted on the other."""
        with self._uploads_lock, open(self.root / "uploads.lock", "a+b") as handle:
            _lock_file(handle, True)
            try:
                yield
            finally:
                _lock_file(handle, False)

    # -- uploads ------------------------------------------------------------------------------

    def _remove_stale_uploads(self) -> None:
        """Remove the uploads in ``tmp/`` that a stop cut off (see `STALE_UPLOAD_S`)."""
        now = time.time()
        for folder in self.tmp_dir.iterdir():
            if now - _last_written(folder, now) > STALE_UPLOAD_S:
                shutil.rmtree(folder, ignore_errors=True)

    def stage(self) -> tuple[str, Path]:
        """A new upload id and the file to receive its bytes into, in ``tmp/``."""
        upload_id = new_id()
        folder = self.tmp_dir / upload_id
        folder.mkdir()
        return upload_id, folder / SOURCE

    def keep(self, staged: Path, upload: Upload) -> Upload:
        """Move a received, checked upload into ``uploads/`` in one rename."""
        (staged.parent / "upload.json").write_text(json.dumps(asdict(upload)))
        os.replace(staged.parent, self.uploads_dir / upload.id)
        return upload

    def discard(self, staged: Path) -> None:
        """Forget an upload that was refused or cut off."""
        shutil.rmtree(staged.parent, ignore_errors=True)

    def source(self, upload_id: str) -> Path:
        return self.uploads_dir / upload_id / SOURCE

    def upload(self, upload_id: str) -> Upload | None:
        """The upload of an id, or None for an unknown (or malformed) one."""
        if not re.fullmatch(ID_PATTERN, upload_id):
            return None
        folder = os.path.join(self.uploads_dir, upload_id)
        known = self._known.get(upload_id)
        if known is not None and os.path.isdir(folder):  # another server may have deleted it
            return known
        try:
            upload = Upload(**json.loads(Path(folder, "upload.json").read_text()))
        except FileNotFoundError:
            return None
        self._known[upload_id] = upload
        return upload

    def uploads(self) -> list[Upload]:
        """Every upload, oldest first."""
        found = (self.upload(folder.name) for folder in self.uploads_dir.iterdir())
        return sorted((upload for upload in found if upload is not None),
                      key=lambda upload: upload.created)

    def upload_of(self, path: str) -> Upload | None:
        """The upload whose source a job's path (its input, or a background) is, if any."""
        # As strings: pathlib's parsing took more time than the rest of a job's listing.
        prefix, suffix = f"{self.uploads_dir}{os.sep}", f"{os.sep}{SOURCE}"
        if not (path.startswith(prefix) and path.endswith(suffix)):
            return None
        return self.upload(path[len(prefix):-len(suffix)])  # an id has no separator

    def delete_upload(self, upload_id: str) -> None:
        shutil.rmtree(self.uploads_dir / upload_id, ignore_errors=True)
        self._known.pop(upload_id, None)

    # -- jobs ---------------------------------------------------------------------------------

    def new_job_folder(self) -> Path:
        """A new, empty folder for one job's files."""
        folder = self.jobs_dir / new_id()
        folder.mkdir()
        return folder

    def job_folder(self, record: JobRecord) -> Path | None:
        """The folder of a job this web app queued, or None for any other job of the queue
        (a ``render`` command's, whose files are not the web app's to serve or delete)."""
        folder = os.path.dirname(record.output)
        return Path(folder) if os.path.dirname(folder) == str(self.jobs_dir) else None

    def delete_job_folder(self, folder: Path) -> None:
        if folder.parent == self.jobs_dir:
            shutil.rmtree(folder, ignore_errors=True)

    # -- images made on demand ----------------------------------------------------------------

    def cached_image(self, path: Path, make: Callable[[], np.ndarray]) -> Path:
        """``path``, made by ``make`` (an RGB image) if it does not exist yet. `write_image`
        writes under a temporary name and renames, so a request never sees half a file."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_image(path, make())
        return path


def _last_written(folder: Path, now: float) -> float:
    """When a staged upload's folder or file last changed; ``now`` if it went meanwhile (its
    server kept or refused it)."""
    try:
        return max(path.stat().st_mtime for path in (folder, *folder.iterdir()))
    except FileNotFoundError:
        return now
