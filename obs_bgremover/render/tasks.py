"""Render jobs on a huey queue: submit, run, list, and recover the jobs of dead workers.

Huey hands each queued message to exactly one worker, but takes it off the queue when the worker
starts, so a worker killed mid-task (SIGKILL, a power cut) would lose the job. Hence a job record
beside the message, kept in the queue's own storage (so status survives restarts and is shared by
every machine on a Redis queue):

* the worker running a job renews a lease in the record, at each progress report and from its
  keeper a few times per lease (`RenderQueue.renew`), however slow a frame; a worker
  (`RenderQueue.reclaim`, run by every worker every few seconds) that finds a running job whose
  lease ran out queues it again as the next attempt, the first one to claim that attempt only;
* a record is changed only over the version that was read (`RenderQueue._update`, a
  compare-and-set in the storage), so a progress report never writes back a record that a stop,
  a release or a reclaim changed in between, and of several processes queuing a job again one
  only succeeds;
* every attempt renders into a staging folder of its own beside the output and moves the files
  into place when done, so two attempts never write the same file and a failure leaves nothing;
* the first attempt to finish claims the job's done marker atomically; the record is written
  from that claim, and a later or late attempt finds it and stops. So each job's effect (its
  output files, its "done") happens once, however many workers run and die.

A worker's clock decides when another worker's lease ran out: machines sharing a Redis queue
need clocks that agree to well within the lease (NTP does that).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path

from huey import Huey
from huey.constants import EmptyData

from obs_bgremover import heap
from obs_bgremover.errors import BgRemoverError, InputError
from obs_bgremover.model import MattingSettings
from obs_bgremover.outputs import output_folder, write_failed
from obs_bgremover.render.job import (
    JobKind,
    Progress,
    RenderResult,
    RenderSettings,
    refuse_places,
    render_preview,
    render_video,
)
from obs_bgremover.render.queue import storage_failure, swap_data


class JobStatus(StrEnum):
    """Where a job is. A stop is not a failure: "Failed" for the user's own Stop button read
    as if the render had gone wrong. Stored and served as the plain words."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    """Its input or the machine failed it; ``error`` says why."""
    STOPPED = "stopped"
    """Someone stopped it (OBS, the web page, the command line); ``error`` says who."""


FINISHED = (JobStatus.DONE, JobStatus.FAILED, JobStatus.STOPPED)
# How long a running job stays claimed without news from its worker; a worker reports several
# times within it. Long enough that a busy machine never loses a live job, short enough that a
# dead worker's job restarts soon.
LEASE_S = 30.0
# At most this long between progress reports (and lease renewals) from a running job.
REPORT_S = 1.0
# How often a finished attempt tries again to write its end into a queue that failed.
FINISH_RETRY_S = 1.0
# A preview's message goes ahead of queued video renders where huey's storage orders messages by
# priority (SQLite does; its plain Redis storage is first in, first out): the web page waits for
# its previews, while a render takes minutes anyway.
PREVIEW_PRIORITY = 1


class Superseded(Exception):
    """The job is no longer this attempt's: its lease ran out and the job was handed to another
    attempt, or the job was stopped. Stop quietly."""


# What a job record's plain fields are read as (their annotations, as strings).
_PLAIN_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str, "float": (int, float), "int": int, "bool": bool}


@dataclass(frozen=True)
class JobRecord:
    """One job as ``jobs`` lists it and as the worker that runs it sees it."""

    id: str
    kind: JobKind
    input: str
    output: str
    settings: RenderSettings
    at: float = 0.0
    """Seconds into the video, for a preview."""
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    error: str = ""
    result: str = ""
    """What was written and which limits were applied (`RenderResult.summary`)."""
    attempt: int = 1
    worker: str = ""
    lease_until: float = 0.0
    created: float = field(default_factory=time.time)
    started: float = 0.0
    """When the current attempt started running (0 before), so front ends can tell time left."""
    reported: float = 0.0
    """When the current attempt last reported its progress (0 before), for the time left too:
    its worker's keeper renews the lease between reports, so the lease's end does not tell."""
    own_folder: bool = False
    """Whether the output's folder is the job's own, to be removed with it (the web app gives
    each job one); otherwise the output stays where it was written when the job is deleted."""

    def orphaned(self, now: float) -> bool:
        """Whether the job runs on a worker that stopped reporting (killed, out of memory): its
        lease ran out, and its attempt will not come back to finish or clean up."""
        return self.status == JobStatus.RUNNING and self.lease_until <= now

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> JobRecord:
        values = json.loads(data)
        values["kind"] = JobKind(values["kind"])
        values["status"] = JobStatus(values.get("status", JobStatus.QUEUED))
        settings = values.pop("settings")
        settings["matting"] = MattingSettings(**settings["matting"])
        record = cls(settings=RenderSettings(**settings), **values)
        # Each plain field of the type it is read as: a damaged "created" (a string) made the
        # listing's sort fail, `jobs` and every keeper's reclaim with it.
        for item in fields(cls):
            value, kind = getattr(record, item.name), _PLAIN_TYPES.get(str(item.type))
            if kind is not None and (not isinstance(value, kind) or (
                    isinstance(value, bool) and item.type != "bool")):
                raise TypeError(f"{item.name} is {value!r}, not a {item.type}")
        return record


class UnreadableJob(InputError):
    """A job record this version cannot read: written by another version, or damaged. Nothing
    can run or show it; it can only be deleted."""

    def __init__(self, job_id: str, err: Exception) -> None:
        super().__init__(f"job {job_id}'s record cannot be read ({err}); "
                         f"'obs-bgremover jobs --delete {job_id}' removes it")
        self.job_id = job_id


def _load(job_id: str, data: bytes) -> JobRecord:
    """A stored record, or `UnreadableJob`: one such record (a knob stored as 0.0) once made
    ``jobs``, ``jobs --delete`` and every worker's keeper fail for the whole queue."""
    try:
        return JobRecord.from_json(data)
    except (ValueError, TypeError, KeyError, AttributeError, BgRemoverError) as err:
        raise UnreadableJob(job_id, err) from err


def worker_name() -> str:
    """This process, as job records and ``jobs`` name it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def staging_dir(record: JobRecord) -> Path:
    """The folder one attempt renders into, hidden beside the output."""
    return Path(record.output).parent / f".obs-bgremover-{record.id}-{record.attempt}"


def _place(staged: Path, folder: Path) -> Path:
    """Move a finished file from the staging folder into ``folder`` under its own name, and
    return where it went; a failure (a folder made there meanwhile, a drive gone) is said of
    that output, not of the staged file."""
    final = folder / staged.name
    try:
        os.replace(staged, final)
    except OSError as err:
        raise write_failed(final, err) from err
    return final


def _without_staging(record: JobRecord, error: BgRemoverError) -> str:
    """An error as the user is told it: a file of the attempt's staging folder (a render writes
    there, then moves its files into place) named where the user will look for it, beside the
    output; the staging folder is gone by then."""
    staged, beside = staging_dir(record), Path(record.output).parent
    return str(error).replace(f"{staged}{os.sep}", f"{beside}{os.sep}")


class RenderQueue:
    """The render jobs of one huey queue; make one per process and queue.

    ``lease_s`` is how long this process's running jobs stay claimed without a report.
    """

    def __init__(self, huey: Huey, lease_s: float = LEASE_S) -> None:
        self.huey = huey
        self.lease_s = lease_s
        self.name = worker_name()
        self._task = huey.task(name="render")(self.run)
        # The records of the last listing, by key, with the bytes they were read from.
        self._known: dict[str, tuple[bytes, JobRecord | UnreadableJob]] = {}
        # The attempts running in this process, and those of them `release` let go: they stop
        # at their next progress report whether or not the queue took the release.
        self._lock = threading.Lock()
        self._running: set[tuple[str, int]] = set()
        self._released: set[tuple[str, int]] = set()
        self._leaving = False  # since `release`: this process takes no new attempt

    # -- records ------------------------------------------------------------------------------

    def _put(self, record: JobRecord) -> None:
        self.huey.storage.put_data(f"job:{record.id}", record.to_json())

    def _update(self, job_id: str, change: Callable[[JobRecord], JobRecord | None]
                ) -> JobRecord | None:
        """Write ``change`` of the job's record and return what was written; None where there
        is no such job or ``change`` returns None (no change). The write applies only over the
        version read; where another process wrote in between, ``change`` is applied again to
        what it wrote, so no decision is taken on a record that is no longer there."""
        key = f"job:{job_id}"
        while True:
            data = self.huey.storage.peek_data(key)
            if data is EmptyData:
                return None
            try:
                record = change(_load(job_id, data))
            except UnreadableJob:
                return None
            if record is None or swap_data(self.huey, key, data, record.to_json()):
                return record

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None for an unknown id."""
        data = self.huey.storage.peek_data(f"job:{job_id}")
        return None if data is EmptyData else _load(job_id, data)

    def jobs(self) -> list[JobRecord]:
        """Every job of this queue, oldest first, but those `unreadable` lists."""
        records = [found for found in self._stored() if isinstance(found, JobRecord)]
        return sorted(records, key=lambda record: record.created)

    def unreadable(self) -> list[UnreadableJob]:
        """The jobs whose records this version cannot read."""
        return [found for found in self._stored() if isinstance(found, UnreadableJob)]

    def _stored(self) -> list[JobRecord | UnreadableJob]:
        """Every stored job, read or found unreadable. A record whose bytes are those of the
        last listing is not read again: the web page lists the jobs every 1.5 s and a worker
        every few seconds, and reading 2000 records took a tenth of a second each time."""
        known, self._known = self._known, {}
        found: list[JobRecord | UnreadableJob] = []
        for key, value in self.huey.storage.result_items().items():
            if not key.startswith("job:"):
                continue
            last = known.get(key)
            if last is None or last[0] != value:
                try:
                    last = (value, _load(key.removeprefix("job:"), value))
                except UnreadableJob as err:
                    last = (value, err)
            self._known[key] = last
            found.append(last[1])
        return found

    # -- submitting ---------------------------------------------------------------------------

    def submit(self, kind: JobKind | str, input: str | os.PathLike[str],
               output: str | os.PathLike[str],
               settings: RenderSettings, at: float = 0.0, *,
               own_folder: bool = False) -> JobRecord:
        """Queue a job and return its record. Paths are made absolute: a worker runs elsewhere.
        ``own_folder``: see `JobRecord.own_folder`."""
        try:
            kind = JobKind(kind)
        except ValueError:
            raise InputError(f"job kind {kind!r} is not one of {', '.join(JobKind)}") from None
        record = JobRecord(uuid.uuid4().hex[:12], kind, str(Path(input).resolve()),
                           str(Path(output).resolve()), settings.absolute(), at,
                           own_folder=own_folder)
        self._put(record)
        try:
            self._enqueue(record)
        except BaseException:  # a full Redis took the record and refused the message
            self.huey.storage.delete_data(f"job:{record.id}")  # queued for good, run by none
            raise
        return record

    def _enqueue(self, record: JobRecord) -> None:
        """Queue the message that runs the record's attempt, a preview's ahead of videos'
        (`PREVIEW_PRIORITY`)."""
        ahead = record.kind == JobKind.PREVIEW and self.huey.storage.priority
        self._task(record.id, record.attempt, priority=PREVIEW_PRIORITY if ahead else None)

    # -- running ------------------------------------------------------------------------------

    def run(self, job_id: str, attempt: int) -> None:
        """The huey task: run one attempt of a job, unless it is finished or superseded."""
        done = self.huey.storage.peek_data(f"done:{job_id}")
        # A finisher died before writing the record: write it. A deleted job stays deleted
        # (`_update` changes a record, it makes none).
        if done is not EmptyData:
            self._update(job_id, lambda _: _load(job_id, done))
            return
        if self._leaving:
            self._hand_back(job_id, attempt)
            return
        record = self._update(job_id, lambda current: self._started(current, attempt))
        if record is None:
            return
        with self._lock:
            leaving = self._leaving
            if not leaving:
                self._running.add((job_id, attempt))
        if leaving:  # `release` came meanwhile, and may have listed the job before it started
            self._requeue(record)  # nothing where `release` queued it again first
            return
        try:
            try:
                result = self._render(record)
            except Superseded:
                return
            except BgRemoverError as err:
                self._end(replace(record, status=JobStatus.FAILED,
                                  error=_without_staging(record, err)))
            except Exception as err:
                if self._end(replace(record, status=JobStatus.FAILED,
                                     error=f"internal error: {err!r}")):
                    raise  # for the worker's log; a job stopped meanwhile ended with its stop
            else:
                # Not in the try: a queue that failed for good must not fail a finished render.
                self._end(replace(record, status=JobStatus.DONE, progress=1.0,
                                  result=result.summary))
        finally:
            with self._lock:
                self._running.discard((job_id, attempt))
                self._released.discard((job_id, attempt))
            heap.trim()  # a worker waits between jobs: hand back what this one freed

    def _started(self, record: JobRecord, attempt: int) -> JobRecord | None:
        """``record`` as ``attempt`` starts running it; None where the job finished (stopped
        while queued) or the attempt was superseded."""
        if record.status in FINISHED or record.attempt != attempt:
            return None
        now = time.time()
        return replace(record, status=JobStatus.RUNNING, worker=self.name, progress=0.0,
                       lease_until=now + self.lease_s, started=now)

    def _end(self, record: JobRecord) -> bool:
        """`_finish` for the attempt that rendered the job, trying again while the queue fails
        (a Redis restart), until the attempt's lease runs out: its files are in place, and a
        job left "running" was rendered again from the start once its lease ran out. (A stop
        from a front end tries once: OBS's window, a web request, wait for it.)"""
        deadline = time.monotonic() + self.lease_s
        while True:
            try:
                return self._finish(record)
            except Exception as err:
                if not storage_failure(err) or time.monotonic() >= deadline:
                    raise
            time.sleep(FINISH_RETRY_S)

    def _finish(self, record: JobRecord) -> bool:
        """Write a finished attempt's record, unless the job already finished (stopped from a
        front end) or is gone: whoever claims the done marker first decides how the job ended.
        Whether this one did. A late attempt (its lease ran out while it stalled) ends
        nothing: the job is the next attempt's to finish (a stalled attempt whose staging folder
        was removed failed on its next write, and failed the job), and where that one finished
        and the job was deleted meanwhile, it writes no record over the deleted one and takes
        its marker back, so a deleted job leaves nothing in the queue."""
        try:
            current = self.get(record.id)
        except UnreadableJob:
            return False
        if current is None or current.attempt != record.attempt:
            return False
        marker, ending = f"done:{record.id}", record.to_json()
        # A try that failed after claiming the marker (or whose reply was lost) left ours there.
        if (not self.huey.storage.put_if_empty(marker, ending)
                and self.huey.storage.peek_data(marker) != ending):
            return False
        if self._update(record.id, lambda _: record) is None:
            self.huey.storage.delete_data(marker)
            return False
        return True

    def _render(self, record: JobRecord) -> RenderResult:
        """Run the job's render function into the attempt's staging folder, then move the files
        into place. A job that would replace what it reads, or write where a folder is, fails
        before any work, and folders made for the output go again when the job fails."""
        final, preview = Path(record.output), record.kind == JobKind.PREVIEW
        refuse_places(record.kind, record.input, final, record.settings.background)
        staging = staging_dir(record)
        with output_folder(final.parent):
            try:
                # With its parents: a superseded attempt may just have removed the empty folder.
                staging.mkdir(parents=True, exist_ok=True)
                staged, report = staging / final.name, self._reporter(record)
                result = (render_preview(record.input, staged, record.at, record.settings, report)
                          if preview
                          else render_video(record.input, staged, record.settings, report))
                placed = tuple(_place(path, final.parent) for path in result.outputs)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return replace(result, outputs=placed)

    def _reporter(self, record: JobRecord) -> Progress:
        """The render's progress callback: it writes the fraction done into the record and
        renews the lease, at most every `REPORT_S` seconds, and stops the render (`Superseded`)
        once the job is no longer this attempt's."""
        last = time.monotonic()

        def report(fraction: float) -> None:
            nonlocal last
            if (record.id, record.attempt) in self._released:
                raise Superseded(record.id)
            if time.monotonic() - last < min(REPORT_S, self.lease_s / 4) and fraction < 1:
                return
            last = time.monotonic()

            def renewed(current: JobRecord) -> JobRecord | None:
                if current.attempt != record.attempt or current.status in FINISHED:
                    return None
                now = time.time()
                return replace(current, progress=fraction, reported=now,
                               lease_until=now + self.lease_s)

            try:
                updated = self._update(record.id, renewed)
            except Exception as err:
                if not storage_failure(err):
                    raise
                # The queue is away for a moment (a Redis restart): render on and report at
                # the next frame; the attempt died of it, and started over after its lease.
                return
            if updated is None:
                raise Superseded(record.id)

        return report

    # -- recovery -----------------------------------------------------------------------------

    def _requeue(self, record: JobRecord) -> JobRecord | None:
        """Queue a running job again as its next attempt, unless it moved on since ``record``
        was read: it finished, was stopped, or another process queued it again first (several
        workers may try at once; `_update` lets one of them only succeed)."""

        def next_attempt(current: JobRecord) -> JobRecord | None:
            if current.status != JobStatus.RUNNING or current.attempt != record.attempt:
                return None
            return replace(current, status=JobStatus.QUEUED, progress=0.0, worker="", started=0.0,
                           reported=0.0, attempt=current.attempt + 1)

        retry = self._update(record.id, next_attempt)
        if retry is not None:
            self._enqueue(retry)
        return retry

    def renew(self) -> None:
        """Renew the leases of the attempts running in this process (its keeper does, a few
        times per lease): progress reports come only after frames, so a model that took longer
        than a lease to load, or a frame longer than a lease to render, had its job taken for
        a dead worker's, by its own worker's keeper too, and every attempt started over."""
        with self._lock:
            running = self._running - self._released

        def renewed(current: JobRecord, attempt: int) -> JobRecord | None:
            if current.attempt != attempt or current.status != JobStatus.RUNNING:
                return None
            return replace(current, lease_until=time.time() + self.lease_s)

        for job_id, attempt in running:
            self._update(job_id, functools.partial(renewed, attempt=attempt))

    def reclaim(self) -> list[JobRecord]:
        """Queue again every running job whose lease ran out (its worker died) as its next
        attempt, and return them; and `sweep` the stopped jobs."""
        now = time.time()
        reclaimed = []
        records = self.jobs()
        self.sweep(records)
        for record in records:
            if not record.orphaned(now):
                continue
            retry = self._requeue(record)
            if retry is not None:
                shutil.rmtree(staging_dir(record), ignore_errors=True)
                reclaimed.append(retry)
        return reclaimed

    def sweep(self, records: list[JobRecord]) -> None:
        """Remove the staging folder of each of ``records`` stopped while it ran, once the lease
        its attempt held at the stop ran out, and mark it so (a lease of 0), to be done once. A
        live attempt sees the stop within its lease and clears its own folder; a dead one (a
        `render` killed outright, then stopped within its lease, when `stop` cannot tell it from
        a live one) left it beside the output for good."""
        now = time.time()

        def swept(current: JobRecord, record: JobRecord) -> JobRecord | None:
            if (current.status != JobStatus.STOPPED or current.attempt != record.attempt
                    or current.lease_until != record.lease_until):
                return None
            return replace(current, lease_until=0.0)

        for record in records:
            if record.status == JobStatus.STOPPED and 0 < record.lease_until <= now:
                shutil.rmtree(staging_dir(record), ignore_errors=True)
                self._update(record.id, functools.partial(swept, record=record))

    def release(self) -> list[JobRecord]:
        """Queue again the jobs this process is running, for a process that stops its workers
        without waiting for them (``serve`` on Ctrl+C): they restart at once on another worker,
        or at the next start, instead of after their lease. The abandoned attempts stop at their
        next progress report, as superseded, and clear their own staging folders, even where
        the queue fails meanwhile (a Redis restart): a process stopping then exited under them,
        aborted, and left their staging folders behind."""
        with self._lock:
            self._leaving = True
            self._released |= self._running
        mine = [record for record in self.jobs()
                if record.status == JobStatus.RUNNING and record.worker == self.name]
        return [retry for retry in map(self._requeue, mine) if retry is not None]

    def _hand_back(self, job_id: str, attempt: int) -> None:
        """Queue again the message of a queued attempt that this process took after `release`:
        a worker thread that takes its next message as the process stops (a `render` rendering
        its own job, done, with another job queued behind it) would otherwise render that job
        unasked while the command waited for it, or lose its message."""
        record = self.get(job_id)
        if (record is not None and record.attempt == attempt
                and record.status == JobStatus.QUEUED):
            self._enqueue(record)

    def stop(self, job_id: str, reason: str) -> JobRecord | None:
        """Stop an unfinished job, saying ``reason``, and return its record (None for an unknown
        id; a job that finished meanwhile keeps its own). Its running attempt stops at its next
        progress report and clears its staging folder; a queued one never starts. An attempt
        whose lease ran out (its worker died) will not come back to clear its folder: that is
        done here; one whose worker died within its lease has it cleared by `sweep` once the
        lease ran out."""
        record = self.get(job_id)
        if record is None or record.status in FINISHED:
            return record
        stopped = self._finish(replace(record, status=JobStatus.STOPPED, error=reason))
        if stopped and record.orphaned(time.time()):
            shutil.rmtree(staging_dir(record), ignore_errors=True)
        return self.get(job_id)

    # -- deleting -----------------------------------------------------------------------------

    def deletable(self, job_id: str) -> JobRecord | None:
        """The record of a job `delete` takes (None for an `UnreadableJob`); an `InputError`
        naming why for one it refuses: no such job, or one that has not finished."""
        try:
            record = self.get(job_id)
        except UnreadableJob:
            return None
        if record is None:
            raise InputError(f"there is no job {job_id}")
        if record.status not in FINISHED:
            raise InputError(f"job {job_id} is {record.status}; it can be deleted once it "
                             "has finished")
        return record

    def delete(self, job_id: str) -> JobRecord | None:
        """Forget a finished job and return its record (None for an `UnreadableJob`, which goes
        whatever it was: nothing can run it). Its output stays where it was written, unless its
        folder is the job's own (`JobRecord.own_folder`): that goes with it, whoever deletes
        it. An unfinished job is refused: its worker would write its record and files again."""
        record = self.deletable(job_id)
        # The record before the done marker: a late attempt that finds the marker gone finds no
        # record to finish either (`_finish`), so nothing of the job stays in the queue; deleted
        # jobs' markers once piled up there, read by every listing.
        self.huey.storage.delete_data(f"job:{job_id}")
        self.huey.storage.delete_data(f"done:{job_id}")
        if record is not None and record.own_folder:
            shutil.rmtree(Path(record.output).parent, ignore_errors=True)
        return record

    # -- workers ------------------------------------------------------------------------------

    def announce(self) -> None:
        """Say this process is serving the queue for the next lease period, so a ``render``
        command knows a worker will take its job."""
        until = json.dumps({"until": time.time() + self.lease_s}).encode()
        self.huey.storage.put_data(f"worker:{self.name}", until)

    def retire(self) -> None:
        """Say this process no longer serves the queue."""
        self.huey.storage.delete_data(f"worker:{self.name}")

    def workers(self) -> list[str]:
        """The workers serving the queue now; forgets those whose announcement ran out."""
        now = time.time()
        alive = []
        for key, value in self.huey.storage.result_items().items():
            if not key.startswith("worker:"):
                continue
            if json.loads(value)["until"] > now:
                alive.append(key.removeprefix("worker:"))
            else:
                self.huey.storage.delete_data(key)
        return alive
