"""What the ``render``, ``worker`` and ``jobs`` commands do, once ``cli`` has parsed them.

``render`` only queues a job and waits for it, so a render behaves the same whether a worker on
this machine, one on a render box, or the command itself does the work: when no worker serves the
queue, ``render`` runs a huey consumer in its own process until its job is finished (it says so),
rather than starting a background worker that would outlive it unasked.
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from huey.api import Task
from huey.consumer import Consumer
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR

from obs_bgremover.errors import InputError
from obs_bgremover.model import MattingSettings
from obs_bgremover.render.job import LONGEST_LIMIT_S, JobKind, RenderSettings, refuse_job
from obs_bgremover.render.queue import describe, open_huey, queue_errors, storage_failure
from obs_bgremover.render.tasks import (
    FINISHED,
    JobRecord,
    JobStatus,
    RenderQueue,
    UnreadableJob,
)

# How often ``render`` looks at its job's record, and whether any worker still serves the queue
# (which reads every record of the queue).
POLL_S = 0.2
WORKERS_POLL_S = 2.0
# The longest an idle worker waits between looks at an SQLite queue (huey backs off up to this).
IDLE_POLL_S = 1.0
# The shortest ``--lease``: a worker reports several times within it.
MIN_LEASE_S = 1.0
# How long a stopping process waits for its renders to notice (a progress report comes at least
# every second).
STOP_WAIT_S = 5.0


def _on_queue(command: Callable[[argparse.Namespace], int]
              ) -> Callable[[argparse.Namespace], int]:
    """A command on ``--queue``, whose storage's failures it says as `QueueError`s."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        with queue_errors(args.queue):
            return command(args)

    return run


def _settings(args: argparse.Namespace) -> RenderSettings:
    return RenderSettings(args.background, args.fit, args.max_seconds, args.model, args.device,
                          MattingSettings.from_mapping(vars(args)), not args.no_decontaminate)


# The loggers of huey's consumer threads and of its task runner, which log every poll and task
# that fails with a traceback.
HUEY_LOGGERS = ("huey", "huey.consumer.Worker", "huey.consumer.Scheduler")


class Outage(logging.Filter):
    """Says a failing queue once, and once more when it answers again. huey's consumer threads
    log a traceback of some 50 lines at every poll that fails: a Redis restart of 8 s wrote
    1700 lines into a worker's log. As a filter on their loggers this takes in what they say of
    the storage's failures; the keeper tells it whether the queue answers."""

    def __init__(self, queue: RenderQueue) -> None:
        super().__init__()
        self.queue = queue
        self._lock = threading.Lock()
        self._trouble = ""

    def failed(self, err: BaseException) -> None:
        """Say ``err``, unless the queue already failed since it last answered: one outage
        fails in several ways (a Redis restart closes connections, then refuses them)."""
        with self._lock:  # (repr: an error may say nothing, and would be said each time)
            said, self._trouble = bool(self._trouble), self._trouble or str(err) or repr(err)
        if not said:
            logging.getLogger(__name__).error(
                "cannot keep the %s (%s); trying again every %g s", describe(self.queue.huey),
                err, self.queue.lease_s / 4)

    def answered(self) -> None:
        with self._lock:
            was, self._trouble = self._trouble, ""
        if was:
            logging.getLogger(__name__).warning("the %s answers again",
                                                describe(self.queue.huey))

    def filter(self, record: logging.LogRecord) -> bool:
        err = record.exc_info[1] if record.exc_info else None
        if err is None or not storage_failure(err):
            return True
        self.failed(err)
        return False


def _keep(queue: RenderQueue, stop: threading.Event, announce: bool, outage: Outage) -> None:
    """Renew this process's jobs' leases and reclaim dead workers' jobs (and, for a
    ``worker``, announce it), a few times per lease, until stopped. A queue that fails
    meanwhile (a Redis restart, a full disk) is said once and tried again: the keeper once died
    of it, and its worker went on rendering unannounced while dead workers' jobs stayed
    "running" for good."""
    log = logging.getLogger(__name__)
    while True:
        try:
            if announce:
                queue.announce()
            queue.renew()
            for record in queue.reclaim():
                log.warning("job %s: its worker stopped reporting; queued again as attempt %d",
                            record.id, record.attempt)
        except Exception as err:  # whatever the storage raises: the keeper must live on
            outage.failed(err)
        else:
            outage.answered()
        if stop.wait(queue.lease_s / 4):
            if announce:
                with suppress(Exception):  # gone anyway once its lease runs out
                    queue.retire()
            return


@contextmanager
def serving(queue: RenderQueue, workers: int, announce: bool) -> Iterator[Consumer]:
    """A huey consumer (for the caller to start) and its keeper thread, which stops when the
    block ends. Only a ``worker`` announces itself: a ``render`` serving its own job stops when
    that job is done, so others must not count on it."""
    consumer = queue.huey.create_consumer(workers=workers, periodic=False, max_delay=IDLE_POLL_S)
    stop, outage = threading.Event(), Outage(queue)
    loggers = [logging.getLogger(name) for name in HUEY_LOGGERS]
    for logger in loggers:
        logger.addFilter(outage)
    keeper = threading.Thread(target=_keep, args=(queue, stop, announce, outage), daemon=True)
    keeper.start()
    try:
        yield consumer
    finally:
        stop.set()
        keeper.join()
        for logger in loggers:
            logger.removeFilter(outage)


# The signals that stop a command: Ctrl+C, a service manager's SIGTERM and a closed terminal's
# SIGHUP (POSIX only). `Consumer.start` takes over all three, SIGHUP as huey's restart.
STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP")
                                                 else [])]


def start_beside(consumer: Consumer) -> None:
    """Start ``consumer``'s worker threads beside a main loop of this process's own (``render``
    waiting for its job, ``serve``'s web server). `Consumer.start` installs signal handlers for
    a main loop of huey's, which does not run here (they only set flags for it); this process's
    own handlers are put back, so that Ctrl+C, SIGTERM and a closed terminal still stop it."""
    handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    consumer.start()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def abandon(consumer: Consumer, queue: RenderQueue, wait_s: float) -> list[JobRecord]:
    """Stop ``consumer`` without waiting for its renders, which could take minutes: the jobs it
    is running are queued again (and returned), to start over on another worker or at the next
    start. Their abandoned attempts stop at their next progress report; the worker threads are
    given ``wait_s`` to get there, so that none is still inside the network when the process
    exits (which aborts it, leaving the attempt's staging folder behind)."""
    consumer.stop(graceful=False)
    try:
        released = queue.release()
    finally:  # a queue that fails (a Redis restart) still lets this process's renders stop
        # Not `Thread.join`: after a join that a second Ctrl-C interrupted (huey's graceful
        # stop waits in one), Python 3.11 reports the thread as ended while it still renders,
        # and the process exited under it (aborted, its staging folder left). A running thread
        # is listed.
        threads = [thread for _, thread in consumer.worker_threads]
        deadline = time.monotonic() + wait_s
        while (any(thread in threading.enumerate() for thread in threads)
               and time.monotonic() < deadline):
            time.sleep(POLL_S)
    if released:
        print(f"stopped {len(released)} running job(s); they start over with the next worker",
              flush=True)
    return released


@_on_queue
def run_worker(args: argparse.Namespace) -> int:
    """Serve the queue until interrupted: Ctrl+C lets the running jobs finish; SIGTERM (a
    service manager's stop) queues them again at once, for the next worker to start over."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    # nan too: a lease that never runs out; 0 spun the keeper, inf overflowed it.
    if not MIN_LEASE_S <= args.lease <= LONGEST_LIMIT_S:
        raise InputError(f"--lease must be from {MIN_LEASE_S:g} to {LONGEST_LIMIT_S} seconds, "
                         f"got {args.lease:g}")
    queue = RenderQueue(open_huey(args.queue), args.lease)
    print(f"worker {queue.name}: {args.workers} thread(s) on the {describe(queue.huey)}",
          flush=True)
    with serving(queue, args.workers, announce=True) as consumer:
        try:
            consumer.run()  # huey's own handlers: SIGINT stops gracefully, SIGTERM does not
        finally:
            abandon(consumer, queue, STOP_WAIT_S)
    return 0


def _progress_line(record: JobRecord, ahead: list[JobRecord]) -> str:
    """``render``'s line for its job; a queued one says what it waits behind (``ahead``, the
    other jobs being rendered): it said "queued 0%" while the job a killed render left was
    rendered first, for as long as that took."""
    if record.status == JobStatus.QUEUED and ahead:
        first = ahead[0]
        behind = (f"job {first.id} ({first.status} {100 * first.progress:.0f}%)"
                  if len(ahead) == 1 else f"{len(ahead)} jobs being rendered")
        return f"job {record.id} ({record.kind}): queued behind {behind}"
    return f"job {record.id} ({record.kind}): {record.status} {100 * record.progress:3.0f}%"


def _ahead(queue: RenderQueue, record: JobRecord) -> list[JobRecord]:
    """The other jobs of the queue being rendered while ``record`` waits (`_progress_line`);
    not those whose worker died: nothing renders them."""
    now = time.time()
    return [other for other in queue.jobs() if other.id != record.id
            and other.status == JobStatus.RUNNING and not other.orphaned(now)]


def _wait(queue: RenderQueue, job_id: str, served: bool = False) -> JobRecord:
    """Poll the job's record until it is finished, keeping a progress line on a terminal. With
    ``served``, also return the unfinished job once no worker serves the queue any more (its
    last worker stopped or died), for the caller to render it rather than wait forever, and
    wait out a failure of the queue shorter than a lease."""
    tty = sys.stderr.isatty()
    next_look = time.monotonic() + WORKERS_POLL_S
    failing_since = None
    # What a queued job waits behind, looked at as seldom as the workers (it reads every
    # record), and the width of the last line, which a shorter one writes over.
    ahead: list[JobRecord] = []
    next_ahead, width = time.monotonic(), 0
    while True:
        try:
            record = queue.get(job_id)
            over = record is not None and record.status in FINISHED
            if record is not None and served and not over and time.monotonic() >= next_look:
                next_look = time.monotonic() + WORKERS_POLL_S
                over = not queue.workers()  # nobody left to finish it: the caller will
            if record is None or record.status != JobStatus.QUEUED:
                ahead = []
            elif tty and time.monotonic() >= next_ahead:
                next_ahead = time.monotonic() + WORKERS_POLL_S
                ahead = _ahead(queue, record)
        except Exception as err:
            # Waiting for a worker, a queue that fails for less than a lease (a Redis restart)
            # is waited out, as the worker waits it out: the command failed while its job
            # rendered on. (A job rendered here stops with the command, as on Ctrl+C.)
            now = time.monotonic()
            failing_since = now if failing_since is None else failing_since
            if (not served or not storage_failure(err)
                    or now - failing_since >= queue.lease_s):
                raise
            time.sleep(POLL_S)
            continue
        failing_since = None
        if record is None:  # a Redis FLUSHALL, queue.db replaced
            raise InputError(f"job {job_id} is no longer on the {describe(queue.huey)}: its "
                             "record was removed")
        if tty:
            line = _progress_line(record, ahead)
            print(f"\r{line.ljust(width)}", end="", file=sys.stderr, flush=True)
            width = len(line)
        if over:
            if tty:
                print(file=sys.stderr)
            return record
        time.sleep(POLL_S)


@contextmanager
def _last_job(consumer: Consumer, queue: RenderQueue, job_id: str) -> Iterator[None]:
    """Within the block, ``consumer``'s worker takes no message once its run of ``job_id``
    returns with that job finished: huey's worker takes the next message the moment a task
    returns, and so started the next job of the queue before the command, looking every
    `POLL_S`, saw its own done and let it go, queued again as a new attempt and said as
    "stopped 1 running job(s)" by a command that had not asked for it. (The run of a job
    that goes on, queued again after its lease was lost, takes the next message as before.)"""

    def ended(signal: str, task: Task, *args: object) -> None:
        if task.args[:1] != (job_id,):
            return
        try:
            record = queue.get(job_id)
        except Exception as err:  # the queue failing (a Redis restart): `_wait` sees to it
            if isinstance(err, UnreadableJob) or storage_failure(err):
                return
            raise
        if record is None or record.status in FINISHED:
            consumer.stop_flag.set()  # read by the worker before it takes another message

    queue.huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)(ended)
    try:
        yield
    finally:
        queue.huey.disconnect_signal(ended, SIGNAL_COMPLETE, SIGNAL_ERROR)


def _render_here(queue: RenderQueue, job_id: str) -> JobRecord:
    """Serve the queue in this process until the job is finished. Stopped before that (Ctrl+C,
    SIGTERM), the job stops too, rather than waiting for the next worker to render it unasked."""
    with (serving(queue, workers=1, announce=False) as consumer,
          _last_job(consumer, queue, job_id)):
        start_beside(consumer)
        record = queue.get(job_id)
        try:
            record = _wait(queue, job_id)
        finally:
            # None: the record was removed (a Redis FLUSHALL, queue.db replaced), which
            # `_wait` says; its worker is stopped as for a job left unfinished. Finished, the
            # worker is not waited for either: it may have taken the next job of the queue,
            # which the command then rendered too, unasked, before it exited.
            try:  # (it fails with the queue: a Redis server stopped while it renders)
                if record is None or record.status not in FINISHED:
                    queue.stop(job_id, "stopped with the render command that was running it")
            finally:
                abandon(consumer, queue, STOP_WAIT_S)
    return record


@_on_queue
def run_render(args: argparse.Namespace) -> int:
    """Queue a preview (``--preview-at``) or video job and wait for it, rendering it in this
    process when no worker serves the queue."""
    queue = RenderQueue(open_huey(args.queue))
    kind = JobKind.VIDEO if args.preview_at is None else JobKind.PREVIEW
    settings = _settings(args)
    refuse_job(kind, args.input, Path(args.output), args.preview_at or 0.0, settings)
    record = queue.submit(kind, args.input, args.output, settings, args.preview_at or 0.0)
    print(f"queued job {record.id} ({kind}) on the {describe(queue.huey)}", flush=True)
    if queue.workers():
        try:
            record = _wait(queue, record.id, served=True)
        except KeyboardInterrupt:
            print(f"\nstopped waiting; job {record.id} goes on on the queue's worker "
                  "('obs-bgremover jobs' shows it)", file=sys.stderr)
            raise
        if record.status not in FINISHED:
            print("the queue's workers stopped: rendering in this process", flush=True)
    else:
        print("no worker is serving the queue: rendering in this process", flush=True)
    if record.status not in FINISHED:
        record = _render_here(queue, record.id)
    if record.status == JobStatus.FAILED:
        raise InputError(f"job {record.id} failed: {record.error}")
    if record.status == JobStatus.STOPPED:
        raise InputError(f"job {record.id} was {record.error}")
    print(record.result)
    return 0


@_on_queue
def run_jobs(args: argparse.Namespace) -> int:
    """List the queue's jobs, oldest first; with ``--stop`` or ``--delete``, first stop or
    forget the jobs they name (`RenderQueue.delete` says which files go with them)."""
    queue = RenderQueue(open_huey(args.queue))
    stops = list(dict.fromkeys(args.stop))  # an id given twice is stopped once
    deletes = list(dict.fromkeys(args.delete))
    # Every id is checked before any job is touched: a mistyped id among several once left the
    # jobs named before it stopped or deleted, and the same command again failed on those.
    for job_id in stops:
        record = queue.get(job_id)
        if record is None:
            raise InputError(f"there is no job {job_id} on the {describe(queue.huey)}")
        if record.status in FINISHED:
            raise InputError(f"job {job_id} has finished ({record.status}); there is nothing "
                             "to stop")
    for job_id in deletes:
        if job_id not in stops:  # one stopped first has finished by then
            queue.deletable(job_id)
    for job_id in stops:
        queue.stop(job_id, "stopped from the command line")
    for job_id in deletes:
        queue.delete(job_id)
    records, unreadable = queue.jobs(), queue.unreadable()
    try:  # what a render killed outright left of a job stopped within its lease
        queue.sweep(records)
    except Exception as err:  # a full Redis still lists its jobs
        if not storage_failure(err):
            raise
    for job in unreadable:
        print(job, file=sys.stderr)
    if not records:
        print(f"no {'other ' if unreadable else ''}jobs on the {describe(queue.huey)}")
        return 0
    print(f"{'ID':12}  {'KIND':7}  {'STATUS':7}  {'DONE':>4}  INPUT / ERROR")
    now = time.time()
    for record in records:
        print(f"{record.id:12}  {record.kind:7}  {record.status:7}  "
              f"{100 * record.progress:3.0f}%  {record.input}")
        if record.error:
            print(f"{'':37}{record.error}")
        if record.orphaned(now):
            print(f"{'':37}{_silent(record, now)}")
    return 0


def _ago(seconds: float) -> str:
    """A time past, as a person says it: ``40 s``, ``12 min``, ``3 h``, ``2 days``."""
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}"
    return f"{max(0, int(seconds))} s"


def _silent(record: JobRecord, now: float) -> str:
    """What ``jobs`` says of a running job whose lease ran out: it showed "running 13%" for
    good, a render killed outright, with nothing working on it and nothing saying so. A
    ``render`` command's keeper queues it again, but the command renders its own job only."""
    since = time.strftime("%Y-%m-%d %H:%M:%S" if now - record.lease_until >= 86400
                          else "%H:%M:%S", time.localtime(record.lease_until))
    return (f"its worker {record.worker} stopped reporting (its lease ran out at {since}, "
            f"{_ago(now - record.lease_until)} ago): the next worker starts it over (a render "
            f"command only queues it again); 'obs-bgremover jobs --stop {record.id}' drops it")
