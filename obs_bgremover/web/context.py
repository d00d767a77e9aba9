"""What every route of one web app shares: its render queue, its files and its limits."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from obs_bgremover.backgrounds import BUILTIN
from obs_bgremover.render import (
    MAX_SECONDS,
    MAX_SIZE,
    VIDEOS,
    JobRecord,
    RenderQueue,
    UnreadableJob,
)
from obs_bgremover.web.schemas import BackgroundOut, Limits
from obs_bgremover.web.store import Store


@dataclass(frozen=True)
class Context:
    queue: RenderQueue
    store: Store
    max_upload: int
    """Bytes."""
    workers: int
    """Render workers in this process (0: they run elsewhere, on the same queue)."""

    def limits(self) -> Limits:
        return Limits(max_upload_bytes=self.max_upload, max_seconds=MAX_SECONDS,
                      max_width=MAX_SIZE[0], max_height=MAX_SIZE[1], accepted=VIDEOS,
                      workers=self.workers)

    def jobs(self) -> list[tuple[JobRecord, Path]]:
        """The jobs this web app queued, oldest first, each with its folder.

        A job whose worker died (`JobRecord.orphaned`) is queued again first. A worker's keeper
        does that; but a web app with no worker of its own (``--workers 0``), whose workers are
        all gone, showed such jobs "running" for good, their time left growing."""
        records = self.queue.jobs()
        if any(record.orphaned(time.time()) for record in records):
            self.queue.reclaim()
            records = self.queue.jobs()
        found = ((record, self.store.job_folder(record)) for record in records)
        return [(record, folder) for record, folder in found if folder is not None]

    def job(self, job_id: str) -> JobRecord | None:
        """One job's record, as `jobs` gives it (so none for an `UnreadableJob`)."""
        try:
            record = self.queue.get(job_id)
        except UnreadableJob:
            return None
        if record is not None and record.orphaned(time.time()):
            self.queue.reclaim()
            record = self.queue.get(job_id)
        return record


def builtin_backgrounds() -> list[BackgroundOut]:
    """The seven built-in backgrounds, images first, as the page shows them."""
    return [BackgroundOut(name=name, kind="video" if file.endswith(".mp4") else "image",
                          thumbnail_url=f"/api/backgrounds/{name}/thumbnail")
            for name, file in BUILTIN.items()]
