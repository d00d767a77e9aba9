"""Render mode: offline renders of a clip or a preview frame, through a huey task queue.

`job` holds the renders as plain functions, `probe` the input checks, `queue` the choice of
SQLite or Redis, `tasks` the jobs on the queue (status, leases, exactly-once results) and
`commands` the ``render``, ``worker`` and ``jobs`` commands. Front ends (the command line, the
OBS "Render clip" button) use the names below.
"""

from obs_bgremover.render.commands import (
    STOP_SIGNALS,
    abandon,
    run_jobs,
    run_render,
    run_worker,
    serving,
    start_beside,
)
from obs_bgremover.render.job import (
    MAX_SECONDS,
    MAX_SIZE,
    VIDEO_OUTPUTS,
    JobKind,
    RenderResult,
    RenderSettings,
    cutout_path,
    frame_at,
    refuse_job,
    render_preview,
    render_video,
    scaling_note,
)
from obs_bgremover.render.probe import ACCEPTED, STILLS, VIDEOS, MediaInfo, probe
from obs_bgremover.render.queue import SQLITE, data_dir, open_huey
from obs_bgremover.render.tasks import (
    FINISHED,
    LEASE_S,
    JobRecord,
    JobStatus,
    RenderQueue,
    UnreadableJob,
)

__all__ = [
    "ACCEPTED",
    "FINISHED",
    "LEASE_S",
    "MAX_SECONDS",
    "MAX_SIZE",
    "SQLITE",
    "STILLS",
    "STOP_SIGNALS",
    "VIDEOS",
    "VIDEO_OUTPUTS",
    "JobKind",
    "JobRecord",
    "JobStatus",
    "MediaInfo",
    "RenderQueue",
    "RenderResult",
    "RenderSettings",
    "UnreadableJob",
    "abandon",
    "cutout_path",
    "data_dir",
    "frame_at",
    "open_huey",
    "probe",
    "refuse_job",
    "render_preview",
    "render_video",
    "scaling_note",
    "run_jobs",
    "run_render",
    "run_worker",
    "serving",
    "start_beside",
]
