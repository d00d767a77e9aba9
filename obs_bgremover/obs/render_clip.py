"""The filter's "Render clip" button: a render job with the filter's own settings, run by a render
worker outside OBS, and its status line.

OBS never waits for it: the button queues a ``video`` job on the local render queue (the same one
``obs-bgremover render`` and ``worker`` use, see docs/render.md), starts a worker process when
none serves the queue, and returns. A thread follows the job's record and asks OBS to redraw the
properties window when its status changes. The worker is a separate process of the project's own
Python, so a render neither competes with the live filter for OBS's interpreter nor dies with OBS:
when the script unloads, the worker it started is asked to finish its jobs and stop.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

from obs_bgremover.errors import InputError
from obs_bgremover.obs.environment import project_python
from obs_bgremover.obs.settings import FilterSettings
from obs_bgremover.render import (
    FINISHED,
    SQLITE,
    VIDEO_OUTPUTS,
    JobKind,
    JobRecord,
    JobStatus,
    RenderQueue,
    RenderSettings,
    data_dir,
    open_huey,
    refuse_job,
)

# How often the status thread reads the job's record.
POLL_S = 0.5
# How long a worker started here has to announce itself before the button says it failed.
WORKER_START_S = 30.0


class Workers:
    """The render worker this OBS started, if any; one per process, stopped on unload."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        # Workers of ours asked to stop (`stop`) that still finish their running job: they
        # stay announced on the queue until they exit, yet take no new job.
        self.retiring: list[subprocess.Popen] = []
        self.lock = threading.Lock()

    def ensure(self, queue: RenderQueue) -> None:
        """Start a worker unless one serves the queue (or ours is still starting). A worker of
        ours that is stopping counts for nothing: after a script reload or a switch of scene
        collection while a clip rendered, a clip queued then waited for good, and the button
        said no worker had started."""
        with self.lock:
            self.retiring = [process for process in self.retiring if process.poll() is None]
            if self.process is not None and self.process.poll() is None:
                return
            if len(queue.workers()) > len(self.retiring):
                return
            log = open(data_dir() / "obs-worker.log", "ab")  # noqa: SIM115 - the child owns it
            with log:
                self.process = subprocess.Popen(
                    [str(project_python()), "-m", "obs_bgremover", "worker"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def stop(self) -> bool:
        """Ask our worker to finish its running job and exit (Ctrl+C semantics); do not wait.
        Whether there was one: the jobs still queued are then left to no worker."""
        with self.lock:
            running = self.process is not None and self.process.poll() is None
            if running:
                assert self.process is not None  # running says so
                if sys.platform == "win32":  # os.name == "nt", said so that mypy sees it
                    self.process.send_signal(signal.CTRL_C_EVENT)
                else:
                    self.process.send_signal(signal.SIGINT)
                self.retiring.append(self.process)
            self.process = None
            return running


WORKERS = Workers()


def output_path(clip: Path, folder: Path, transparent: bool,
                taken: Collection[str] = ()) -> Path:
    """A new file in ``folder`` named after the clip and the time, of the kind a render writes
    first (MP4, or WebM with alpha): never an existing file, nor one of ``taken`` (the outputs
    of jobs not yet written). Two renders of a clip in the same second (two filters' buttons,
    or a clip rendered in under a second and again) got one name, and the second file
    replaced the first."""
    suffix = VIDEO_OUTPUTS[transparent][0]
    stem = f"{clip.stem}-bgremover-{time.strftime('%Y%m%d-%H%M%S')}"
    path = folder / f"{stem}{suffix}"
    number = 1
    while path.exists() or str(path) in taken:
        number += 1
        path = folder / f"{stem}-{number}{suffix}"
    return path


def describe(record: JobRecord | None) -> str:
    """The status line shown under the button."""
    if record is None:
        return "No clip rendered yet."
    if record.status == JobStatus.DONE:
        return f"Done: {record.output}"
    if record.status == JobStatus.FAILED:
        return f"Failed: {record.error}"
    if record.status == JobStatus.STOPPED:  # its reason says it: "stopped from OBS"
        return record.error[:1].upper() + record.error[1:]
    if record.status == JobStatus.RUNNING:
        return f"Rendering {100 * record.progress:.0f}% -> {record.output}"
    return f"Queued -> {record.output}"


class RenderClip:
    """One filter instance's render job. ``changed`` is called (from a thread of this object)
    whenever the status line changes, to redraw the properties window."""

    def __init__(self, changed: Callable[[], None]) -> None:
        self.changed = changed
        self.status = describe(None)
        self.queue: RenderQueue | None = None
        self.job_id: str | None = None
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, settings: FilterSettings, clip: str, folder: str) -> JobRecord:
        """Queue the clip with the filter's settings and make sure a worker will take it.
        Bad input raises an `InputError` naming it, before anything is queued."""
        if self.queue is not None and self.job_id is not None:
            current = self.queue.get(self.job_id)
            if current is not None and current.status not in FINISHED:
                raise InputError("a clip of this filter is still rendering; wait for it to finish")
        clip_path, folder_path = Path(clip), Path(folder)
        if not clip or not clip_path.is_file():
            raise InputError(f"pick the clip to render (got {clip!r}, which is not a file)")
        if not folder or not folder_path.is_dir():
            raise InputError(f"pick an existing output folder (got {folder!r})")
        # What the filter waits for without a failure (a file not picked yet) is named in the
        # properties' words: the render's own checks said "model path . is not a file" and
        # "the background is empty; expected NAME (...), FILE, blur[:STRENGTH], ...".
        if settings.model == "custom" and not settings.model_path:
            raise InputError("pick the custom ONNX file first (Model: Custom ONNX file)")
        if settings.kind in ("image", "video") and not settings.background_file():
            raise InputError(f"pick the background's {settings.kind} file first")
        render = RenderSettings(settings.background_spec(), settings.fit,
                                model=settings.model_name(), device=settings.device,
                                matting=settings.matting(), decontaminate=settings.clean_edges)
        queue = self.queue if self.queue is not None else RenderQueue(open_huey(SQLITE))
        taken = {job.output for job in queue.jobs() if job.status not in FINISHED}
        # Resolved, as `RenderQueue.submit` stores ``taken``: a folder reached through a link
        # (~/Videos on another disk) named its jobs' outputs otherwise, and two renders in
        # one second got one file again.
        output = output_path(clip_path, folder_path.resolve(), settings.kind == "transparent",
                             taken)
        # As `render` checks a job (the folder takes files, the clip is a video it can read):
        # a damaged clip was queued and left a failed job.
        refuse_job(JobKind.VIDEO, clip_path, output, 0.0, render)
        self.queue = queue
        record = self.queue.submit(JobKind.VIDEO, clip_path, output, render)
        WORKERS.ensure(self.queue)
        self.close()  # the previous job's thread, if it has not noticed its end yet
        self.job_id = record.id
        self._show(describe(record))
        self._start_following()
        return record

    def stop(self) -> JobRecord | None:
        """Stop this filter's job if it has not finished; its record (None before any job)."""
        if self.queue is None or self.job_id is None:
            return None
        record = self.queue.stop(self.job_id, "stopped from OBS")
        self._show(describe(record))
        return record

    def drop_queued(self) -> JobRecord | None:
        """Stop this filter's job if it is still waiting for its turn, as OBS quits (or the
        script unloads: a reload, a switch of scene collection) and stops the worker it
        started: the job stayed queued, unsaid, and ran at the next "Render clip", ahead of
        what that one asked for. Its record if it was dropped."""
        if self.queue is None or self.job_id is None:
            return None
        record = self.queue.get(self.job_id)
        if record is None or record.status != JobStatus.QUEUED:
            return None
        return self.queue.stop(self.job_id, "not rendered: OBS quit or unloaded the script "
                                            "before its turn came")

    def resume(self) -> None:
        """Follow this filter's job again after `close` (the script unloaded and loaded again,
        a reload): its status line stayed as it was then for good, "Rendering 28%" over a
        clip long done, or "Queued" over one the unload dropped."""
        if self.queue is None or self.job_id is None or self.thread is not None:
            return
        record = self.queue.get(self.job_id)
        self._show(describe(record) if record is not None
                   else "Failed: the job disappeared from the render queue")
        if record is None or record.status in FINISHED:
            return
        self._start_following()

    def _start_following(self) -> None:
        """Follow `job_id` on a thread of its own, which updates the status line."""
        self.stop_event.clear()
        self.thread = threading.Thread(target=self._follow, name="obs-bgremover-render-status",
                                       daemon=True)
        self.thread.start()

    def fail(self, message: str) -> None:
        """Show why the button could not start a job."""
        self._show(f"Failed: {message}")

    def _show(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.changed()

    def _follow(self) -> None:
        """Follow the job until it is finished or this object is closed."""
        # `start` sets both before it starts this thread, and changes them only after `close`
        # has joined it.
        queue, job_id = self.queue, self.job_id
        assert queue is not None and job_id is not None
        started = time.monotonic()
        while not self.stop_event.wait(POLL_S):
            record = queue.get(job_id)
            if record is None:
                self._show("Failed: the job disappeared from the render queue")
                return
            if (record.status == JobStatus.QUEUED and not queue.workers()
                    and time.monotonic() - started > WORKER_START_S):
                self._show(f"Failed: no render worker started; see {data_dir() / 'obs-worker.log'}")
                return
            self._show(describe(record))
            if record.status in FINISHED:
                return

    def close(self) -> None:
        """Stop following the job (the job itself goes on in the worker)."""
        self.stop_event.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()
        self.thread = None
