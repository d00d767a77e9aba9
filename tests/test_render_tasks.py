"""What the render queue adds for front ends that keep jobs around (the web app): deleting a
finished job for good, and the time a job started; how a job's record and files survive
writers that race it; a worker handing back its jobs' freed memory, and keeping its queue
through a failure of it. Real huey on a real
SQLite queue; the jobs fail at once (their input is missing) or render without a model
(`fake_renders`), so no model runs."""

from __future__ import annotations

import errno
import io
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from support import poll

from obs_bgremover import cli
from obs_bgremover.errors import InputError
from obs_bgremover.outputs import write_failed
from obs_bgremover.render import (
    RenderQueue,
    RenderResult,
    RenderSettings,
    commands,
    open_huey,
    tasks,
)
from obs_bgremover.render.queue import DATA_ENV, describe
from obs_bgremover.render.tasks import staging_dir


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RenderQueue:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    return RenderQueue(open_huey())


def failed_job(queue: RenderQueue, tmp_path: Path) -> str:
    """A job run to its end, as a worker runs it: it fails, its input being missing."""
    record = queue.submit("preview", tmp_path / "missing.mp4", tmp_path / "out.png",
                          RenderSettings("studio"))
    before = time.time()
    queue.run(record.id, record.attempt)
    finished = queue.get(record.id)
    assert finished.status == "failed" and "does not exist" in finished.error
    assert before <= finished.started <= time.time()
    return record.id


def test_a_finished_job_is_deleted_for_good(queue: RenderQueue, tmp_path: Path) -> None:
    job = failed_job(queue, tmp_path)
    assert queue.delete(job).id == job
    assert queue.get(job) is None and queue.jobs() == []
    # A late message for the job (an attempt queued again before it failed) brings nothing back.
    queue.run(job, 1)
    queue.run(job, 2)
    assert queue.get(job) is None
    with pytest.raises(InputError, match=f"there is no job {job}"):
        queue.delete(job)
    # Nothing stays of it: deleted jobs' markers once piled up, read by every listing.
    assert queue.huey.storage.result_items() == {}


def test_an_attempt_finishing_after_its_job_was_deleted_leaves_nothing(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that stalled past its lease finishes after the job's next attempt did and the
    job was deleted: it must neither bring the job back nor leave anything of it behind."""
    record = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                          RenderSettings("studio"))
    stalled = []

    def render(input: str, output: Path, settings: RenderSettings,
               progress: Callable[[float], None]) -> RenderResult:
        progress(0.5)
        if not stalled:  # the first attempt, past its last report: its lease runs out
            stalled.append(True)
            queue._update(record.id, lambda current: replace(current, lease_until=0.0))
            assert [retry.attempt for retry in queue.reclaim()] == [2]
            queue.run(record.id, 2)
            assert queue.delete(record.id).status == "done"
        output.write_bytes(b"a video")
        return RenderResult((output,), 1, (2, 2), 0.1)

    monkeypatch.setattr(tasks, "REPORT_S", 0.0)
    monkeypatch.setattr(tasks, "render_video", render)
    queue.run(record.id, 1)
    assert queue.get(record.id) is None and queue.jobs() == []
    assert queue.huey.storage.result_items() == {}


def test_an_unfinished_job_is_not_deleted(queue: RenderQueue, tmp_path: Path) -> None:
    record = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                          RenderSettings("studio"))
    assert record.started == 0
    with pytest.raises(InputError, match="is queued; it can be deleted once it has finished"):
        queue.delete(record.id)
    assert queue.get(record.id) == record


def test_a_job_stopped_while_its_attempt_fails_keeps_its_stop(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped from the web page while its attempt was still loading, then deleted with its
    upload: the attempt then failed on the missing file, wrote its record again, and the job
    came back as "an unexpected problem, please report it"."""
    record = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "jobs" / "j" / "out.mp4",
                          RenderSettings("studio"))

    def stopped_then_failing(self: RenderQueue, *args: object) -> None:
        queue.stop(record.id, "stopped from the web page")
        assert queue.delete(record.id).error == "stopped from the web page"
        raise FileNotFoundError(2, "No such file or directory", "the uploaded file")

    monkeypatch.setattr(RenderQueue, "_render", stopped_then_failing)
    queue.run(record.id, record.attempt)  # no error for the worker's log either
    assert queue.get(record.id) is None and queue.jobs() == []

    other = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                         RenderSettings("studio"))

    def stop_then_refuse(self: RenderQueue, *args: object) -> None:
        queue.stop(other.id, "stopped from OBS")
        raise InputError(f"{tmp_path / 'clip.mp4'} is damaged")

    monkeypatch.setattr(RenderQueue, "_render", stop_then_refuse)
    queue.run(other.id, other.attempt)
    assert queue.get(other.id).error == "stopped from OBS"


def test_stopping_a_job_whose_worker_died_clears_its_staging_folder(
    queue: RenderQueue, tmp_path: Path
) -> None:
    """Its attempt will not come back to clear it: the half-written file stayed beside the
    output for good."""
    record = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out" / "out.mp4",
                          RenderSettings("studio"))
    queue._put(replace(record, status="running", worker="gone", lease_until=time.time() - 1))
    staged = staging_dir(record) / ".out.part.mp4"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"half a render")
    assert queue.stop(record.id, "stopped from the web page").status == "stopped"
    assert list((tmp_path / "out").iterdir()) == []


def test_a_job_stopped_within_its_dead_workers_lease_has_its_staging_folder_cleared(
    queue: RenderQueue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``render`` killed outright, its job stopped at once with ``jobs --stop``: within its
    lease the attempt may live (it clears its own folder when it sees the stop), so the stop
    left the folder, and nothing ever removed it once the lease ran out."""
    record = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out" / "out.mp4",
                          RenderSettings("studio"))
    queue._put(replace(record, status="running", worker="gone", lease_until=time.time() + 30))
    staged = staging_dir(record) / ".out.part.mp4"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"half a render")
    assert queue.stop(record.id, "stopped from the command line").status == "stopped"
    queue.reclaim()  # a live attempt's folder is its own while its lease lasts
    assert staged.exists()
    # The lease runs out: a worker's keeper, or a listing, clears what the dead attempt left.
    queue._update(record.id, lambda current: replace(current, lease_until=time.time() - 1))
    queue.reclaim()
    assert list((tmp_path / "out").iterdir()) == []
    assert queue.get(record.id).lease_until == 0  # once: not looked for at every pass
    staged.parent.mkdir()
    queue._update(record.id, lambda current: replace(current, lease_until=time.time() - 1))
    assert cli.main(["jobs"]) == 0  # nobody runs a worker any more
    assert "stopped from the command line" in capsys.readouterr().out
    assert list((tmp_path / "out").iterdir()) == []


def test_a_live_attempt_stopped_and_swept_under_it_keeps_its_stop(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame slower than a lease: the attempt sees the stop only after its lease ran out, its
    folder cleared under it by then; it stops quietly, the job stopped and no file left."""
    output = tmp_path / "out" / "out.mp4"
    record = queue.submit("video", tmp_path / "clip.mp4", output, RenderSettings("studio"))

    swept = []

    def stopped_and_swept() -> None:
        queue.stop(record.id, "stopped from OBS")
        queue._update(record.id, lambda current: replace(current, lease_until=time.time() - 1))
        queue.reclaim()
        swept.append(not staging_dir(record).exists())

    fake_renders(monkeypatch, stopped_and_swept)
    queue.run(record.id, 1)
    assert swept == [True]
    assert (queue.get(record.id).status, queue.get(record.id).error) == (
        "stopped", "stopped from OBS")
    assert not output.parent.exists()  # made for the job, it went with its end


def fake_renders(monkeypatch: pytest.MonkeyPatch, *before_report: Callable[[], None]) -> None:
    """Video renders without a model, for the queue's own logic: each runs the next of
    ``before_report`` (while there is one), reports half way, and writes its file."""
    pending = list(before_report)

    def render(input: str, output: Path, settings: RenderSettings,
               progress: Callable[[float], None]) -> RenderResult:
        if pending:
            pending.pop(0)()
        progress(0.5)
        output.write_bytes(b"a video")
        return RenderResult((output,), 1, (2, 2), 0.1)

    monkeypatch.setattr(tasks, "REPORT_S", 0.0)  # every call reports
    monkeypatch.setattr(tasks, "render_video", render)


def after_next_read(monkeypatch: pytest.MonkeyPatch, queue: RenderQueue, key: str,
                    write: Callable[[], object]) -> None:
    """Run ``write`` (another process's) right after the queue's next read of ``key``: between
    that read and whatever write is made from it."""
    storage = queue.huey.storage
    read, pending = storage.peek_data, [write]

    def read_then_write(wanted: str) -> object:
        data = read(wanted)
        if wanted == key and pending:
            pending.pop()()
        return data

    monkeypatch.setattr(storage, "peek_data", read_then_write)


@pytest.mark.parametrize("other", ["release", "stop"])
def test_a_progress_report_does_not_undo_a_release_or_a_stop(
    other: str, queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve``'s shutdown (release) or a stop landing between a progress report's read of the
    record and its write was undone: the report wrote its running record back. Released, the
    job's next attempt then found it running and did nothing, and once the abandoned attempt
    was gone the job stayed "running" for ever; stopped, the attempt went on and put its result
    in place."""
    output = tmp_path / "out.mp4"
    record = queue.submit("video", tmp_path / "clip.mp4", output, RenderSettings("studio"))
    write = {"release": queue.release,
             "stop": lambda: queue.stop(record.id, "stopped from the web page")}[other]
    fake_renders(monkeypatch, lambda: after_next_read(monkeypatch, queue, f"job:{record.id}",
                                                      write))
    queue.run(record.id, 1)
    assert not output.exists()
    if other == "stop":
        assert queue.get(record.id).error == "stopped from the web page"
        return
    assert (queue.get(record.id).status, queue.get(record.id).attempt) == ("queued", 2)
    RenderQueue(open_huey()).run(record.id, 2)  # the message release queued, on the next worker
    assert (queue.get(record.id).status, queue.get(record.id).attempt) == ("done", 2)
    assert output.read_bytes() == b"a video"


def test_a_job_taken_after_a_release_is_handed_back_to_the_queue(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process letting its jobs go (a ``render`` whose own job is done, ``serve`` or a worker
    stopping) has a worker thread that may take one more message: it rendered that job, unasked,
    while the process waited for it. Taken before or just as it starts, the job goes back."""
    fake_renders(monkeypatch)
    before, during = (queue.submit("video", tmp_path / f"{name}.mp4", tmp_path / f"{name}-out.mp4",
                                   RenderSettings("studio")) for name in ("before", "during"))
    while queue.huey.dequeue() is not None:  # the messages submit queued: taken, as by a thread
        pass
    after_next_read(monkeypatch, queue, f"job:{during.id}", queue.release)
    queue.run(during.id, 1)  # released as the attempt marks its job running
    queue.run(before.id, 1)  # taken once released
    # Started, then let go: its next attempt. Never started: the same attempt, its message back.
    for record, attempt in ((during, 2), (before, 1)):
        assert (queue.get(record.id).status, queue.get(record.id).attempt) == ("queued", attempt)
        assert not (tmp_path / f"{Path(record.input).stem}-out.mp4").exists()
    assert queue.huey.pending_count() == 2  # one message each, for the next worker
    for record in (before, during):
        RenderQueue(open_huey()).run(record.id, queue.get(record.id).attempt)
        assert queue.get(record.id).status == "done"


def test_a_stop_landing_as_an_attempt_starts_is_not_undone(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped once the attempt had looked for the job's end and before it marked the job
    running: it rendered the stopped job, put the result in place and left it "running"."""
    output = tmp_path / "out.mp4"
    record = queue.submit("video", tmp_path / "clip.mp4", output, RenderSettings("studio"))
    fake_renders(monkeypatch)
    after_next_read(monkeypatch, queue, f"done:{record.id}",
                    lambda: queue.stop(record.id, "stopped from OBS"))
    queue.run(record.id, 1)
    assert (queue.get(record.id).status, queue.get(record.id).error) == (
        "stopped", "stopped from OBS")
    assert not output.exists()


def test_a_failed_final_move_names_the_output(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder made under the output's name while the job rendered: the final rename failed as
    an "internal error" naming the staged file, with a traceback in the worker's log."""
    output = tmp_path / "out.mp4"
    record = queue.submit("video", tmp_path / "clip.mp4", output, RenderSettings("studio"))
    fake_renders(monkeypatch, output.mkdir)
    queue.run(record.id, record.attempt)  # no error for the worker's log: it is the user's
    assert queue.get(record.id).error == f"cannot write {output}: Is a directory"
    assert [path.name for path in tmp_path.iterdir()] == ["data", "out.mp4"]


def test_a_write_that_fails_names_the_output_not_the_staging_folder(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while the render wrote its file: the error named the attempt's staging
    folder (``.obs-bgremover-<id>-1/``), which the user never sees and which is gone by then."""
    output = tmp_path / "out.mp4"
    record = queue.submit("video", tmp_path / "clip.mp4", output, RenderSettings("studio"))

    def disk_full(input: str, staged: Path, *args: object) -> RenderResult:
        raise write_failed(staged, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    monkeypatch.setattr(tasks, "render_video", disk_full)
    queue.run(record.id, record.attempt)
    assert queue.get(record.id).error == f"cannot write {output}: No space left on device"


def test_folders_made_for_a_failed_job_are_removed(queue: RenderQueue, tmp_path: Path) -> None:
    output = tmp_path / "new" / "deeper" / "out.mp4"
    record = queue.submit("video", tmp_path / "missing.mp4", output, RenderSettings("studio"))
    queue.run(record.id, record.attempt)
    assert "does not exist" in queue.get(record.id).error
    assert not (tmp_path / "new").exists()


def test_previews_go_ahead_of_queued_videos(queue: RenderQueue, tmp_path: Path) -> None:
    """The web page waits for its previews: behind two queued renders, one took 24 s."""
    settings = RenderSettings("studio")
    videos = [queue.submit("video", tmp_path / "clip.mp4", tmp_path / f"{n}.mp4", settings)
              for n in range(2)]
    preview = queue.submit("preview", tmp_path / "clip.mp4", tmp_path / "p.png", settings)
    later = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "later.mp4", settings)
    assert [task.args[0] for task in queue.huey.pending()] == [
        preview.id, *(video.id for video in videos), later.id]


def test_every_job_hands_the_memory_it_freed_back(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker waits between jobs holding what glibc kept of the last one's frames: it grew
    from 210 to 600 MB over its first ten short clips. Each job, done or failed, ends with
    the heap's free pages handed back to the system."""
    trims: list[str] = []
    monkeypatch.setattr(tasks.heap, "trim", lambda: trims.append("trim") or True)
    output = tmp_path / "out.mp4"
    fake_renders(monkeypatch, lambda: None)
    done = queue.submit("video", tmp_path / "clip.mp4", output, RenderSettings("studio"))
    queue.run(done.id, done.attempt)
    assert queue.get(done.id).status == "done" and trims == ["trim"]
    failed_job(queue, tmp_path)
    assert trims == ["trim", "trim"]



def test_a_worker_keeps_its_queue_through_a_failure_of_it(
    queue: RenderQueue, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis restart (or a full disk) while a worker ran killed its keeper thread: the worker
    went on rendering, unannounced, and dead workers' jobs stayed "running" for good."""
    queue.lease_s = 0.2
    failures = [sqlite3.OperationalError("database or disk is full")] * 3
    reclaim = queue.reclaim

    def failing() -> list:
        if failures:
            raise failures.pop()
        return reclaim()

    monkeypatch.setattr(queue, "reclaim", failing)
    stop = threading.Event()
    keeper = threading.Thread(target=commands._keep,
                              args=(queue, stop, True, commands.Outage(queue)))
    with caplog.at_level(logging.INFO):
        keeper.start()
        try:
            poll(lambda: failures, lambda left: not left, timeout=5)
            time.sleep(0.2)
            assert keeper.is_alive() and queue.workers() == [queue.name]
        finally:
            stop.set()
            keeper.join(5)
    assert queue.workers() == []
    said = [record.getMessage() for record in caplog.records]
    assert said == [f"cannot keep the {describe(queue.huey)} (database or disk is full); "
                    "trying again every 0.05 s", f"the {describe(queue.huey)} answers again"]


def test_a_job_slower_than_its_lease_before_a_report_is_kept_by_its_live_worker(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease was renewed only by progress reports, which come after frames: a model that
    took longer than a lease to load (or a frame longer than a lease to render) had the job
    queued again by its own worker's keeper, and every attempt started over from the start."""
    queue.lease_s = 0.2
    fake_renders(monkeypatch, lambda: time.sleep(1.0))
    record = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                          RenderSettings("studio"))
    stop = threading.Event()
    keeper = threading.Thread(target=commands._keep,
                              args=(queue, stop, True, commands.Outage(queue)))
    keeper.start()
    try:
        queue.run(record.id, record.attempt)
    finally:
        stop.set()
        keeper.join(5)
    assert (queue.get(record.id).status, queue.get(record.id).attempt) == ("done", 1)
    assert (tmp_path / "out.mp4").read_bytes() == b"a video"


def test_jobs_says_when_a_running_jobs_worker_stopped_reporting(
    queue: RenderQueue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``render`` killed outright with no worker left its job "running 13%" in the listing
    for good, with nothing saying that nothing worked on it, nor what would."""
    dead, live = (queue.submit("video", tmp_path / "clip.mp4", tmp_path / f"{name}.mp4",
                               RenderSettings("studio")) for name in ("dead", "live"))
    ran_out = time.time() - 150
    queue._put(replace(dead, status="running", worker="box:123", progress=0.13,
                       lease_until=ran_out))
    queue._put(replace(live, status="running", worker="box:456", progress=0.5,
                       lease_until=time.time() + 30))
    assert cli.main(["jobs"]) == 0
    out = capsys.readouterr().out
    assert f"{dead.id}  video    running   13%" in out
    assert (f"its worker box:123 stopped reporting (its lease ran out at "
            f"{time.strftime('%H:%M:%S', time.localtime(ran_out))}, 2 min ago): the next "
            f"worker starts it over (a render command only queues it again); 'obs-bgremover "
            f"jobs --stop {dead.id}' drops it") in out
    assert "box:456" not in out and out.count("stopped reporting") == 1


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_waiting_render_says_what_its_job_waits_behind(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its line said "queued 0%" while another job (one a killed render left) was rendered
    first, for as long as that took."""
    monkeypatch.setattr(commands, "POLL_S", 0.01)
    other, dead, mine = (queue.submit("video", tmp_path / "clip.mp4", tmp_path / f"{name}.mp4",
                                      RenderSettings("studio"))
                         for name in ("other", "dead", "mine"))
    queue._put(replace(other, status="running", progress=0.45, lease_until=time.time() + 30))
    queue._put(replace(dead, status="running", progress=0.13, lease_until=time.time() - 1))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    threading.Timer(0.3, queue.stop, (mine.id, "stopped from OBS")).start()
    assert commands._wait(queue, mine.id).status == "stopped"
    lines = terminal.getvalue().split("\r")
    waiting = f"job {mine.id} (video): queued behind job {other.id} (running 45%)"
    assert lines[1] == waiting  # not the dead job's: nothing renders it
    # The line that follows writes over all of it.
    assert lines[-1] == f"job {mine.id} (video): stopped   0%".ljust(len(waiting)) + "\n"


@pytest.mark.parametrize("stored", [False, True])
def test_a_finished_render_waits_out_a_failure_of_its_queue(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: bool
) -> None:
    """A Redis restart as a render ended left its job "running" (its files in place), to be
    rendered again from the start once its lease ran out. Where the done marker was stored
    but the reply lost (``stored``), the next try finds it its own."""
    monkeypatch.setattr(tasks, "FINISH_RETRY_S", 0.01)
    renders: list[str] = []
    fake_renders(monkeypatch, lambda: renders.append("render"))
    record = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                          RenderSettings("studio"))
    storage = queue.huey.storage
    failures = [sqlite3.OperationalError("disk I/O error")] * 2
    claim = storage.put_if_empty

    def failing(*args: object) -> bool:
        if renders and failures:
            if stored:
                claim(*args)
            raise failures.pop()
        return claim(*args)

    monkeypatch.setattr(storage, "put_if_empty", failing)
    queue.run(record.id, record.attempt)
    assert not failures and renders == ["render"]
    assert (queue.get(record.id).status, queue.get(record.id).attempt) == ("done", 1)
    assert (tmp_path / "out.mp4").read_bytes() == b"a video"


def test_a_render_waiting_for_its_job_waits_out_a_short_failure_of_its_queue(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis restart while ``render`` waited for its job ended the command ("the render
    queue ... failed", status 2), though its worker waited the restart out and rendered the
    job. A failure for longer than a lease is said, as before."""
    monkeypatch.setattr(commands, "POLL_S", 0.01)
    queue.lease_s = 0.3
    fake_renders(monkeypatch)
    record = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                          RenderSettings("studio"))
    queue.run(record.id, record.attempt)
    failures = [redis.ConnectionError("Connection refused")] * 5
    get = queue.get

    def failing(job_id: str) -> tasks.JobRecord | None:
        if failures:
            raise failures.pop()
        return get(job_id)

    monkeypatch.setattr(queue, "get", failing)
    assert commands._wait(queue, record.id, served=True).status == "done"
    assert not failures
    failures.extend([redis.ConnectionError("Connection refused")] * 1000)
    start = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        commands._wait(queue, record.id, served=True)
    assert 0.3 <= time.monotonic() - start < 1.5
    # A job rendered in the command's own process stops with it at once.
    start = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        commands._wait(queue, record.id)
    assert time.monotonic() - start < 0.2


def test_a_queue_failing_for_longer_than_the_lease_leaves_the_job_to_the_next_attempt(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "FINISH_RETRY_S", 0.01)
    queue.lease_s = 0.2
    fake_renders(monkeypatch)
    record = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                          RenderSettings("studio"))
    tries: list[float] = []

    def failing(*args: object) -> bool:
        tries.append(time.monotonic())
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(queue.huey.storage, "put_if_empty", failing)
    with pytest.raises(sqlite3.OperationalError):
        queue.run(record.id, record.attempt)
    # One lease of tries, not two: the done render's end was once tried again as a failure
    # of the render ("internal error"), and written so once the queue answered.
    assert len(tries) > 2 and 0.15 <= tries[-1] - tries[0] < 0.35
    assert queue.get(record.id).status == "running"
    # A stop from a front end (OBS's window, a web request) tries once.
    tries.clear()
    with pytest.raises(sqlite3.OperationalError):
        queue.stop(record.id, "stopped")
    assert len(tries) == 1


def test_an_attempt_failing_after_its_job_went_to_the_next_one_leaves_it_be(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker stalled past its lease (SIGSTOP, swapping): the job went to the next attempt and
    its staging folder was removed, so the stalled attempt then failed on its next write, and
    that failure ended the job the next attempt was to render."""
    output = tmp_path / "out.mp4"
    record = queue.submit("video", tmp_path / "clip.mp4", output, RenderSettings("studio"))

    def stalled_then_failing(input: str, staged: Path, *args: object) -> RenderResult:
        queue._update(record.id, lambda current: replace(current, lease_until=0.0))
        assert [retry.attempt for retry in queue.reclaim()] == [2]
        raise write_failed(staged, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)))

    monkeypatch.setattr(tasks, "render_video", stalled_then_failing)
    queue.run(record.id, 1)
    assert (queue.get(record.id).status, queue.get(record.id).attempt) == ("queued", 2)
    fake_renders(monkeypatch)
    queue.run(record.id, 2)
    assert (queue.get(record.id).status, queue.get(record.id).attempt) == ("done", 2)
    assert output.read_bytes() == b"a video"


def test_an_output_folder_that_cannot_be_made_fails_the_job_naming_it(
    queue: RenderQueue, tmp_path: Path
) -> None:
    """A folder that takes no new folders (another user's, a read-only drive; /proc here,
    where root too is refused): the job failed with "internal error: PermissionError(13,
    'Permission denied')", naming nothing."""
    record = queue.submit("video", tmp_path / "clip.mp4", "/proc/renders/out.mp4",
                          RenderSettings("studio"))
    queue.run(record.id, record.attempt)
    assert queue.get(record.id).error == "cannot write /proc/renders: No such file or directory"


def test_a_job_whose_message_cannot_be_queued_is_not_kept(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis with a few bytes left took the record and refused the message: the job stayed
    "queued" for good, and no worker could ever run it."""
    def refused(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(queue.huey.storage, "enqueue", refused)
    with pytest.raises(sqlite3.OperationalError):
        queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                     RenderSettings("studio"))
    assert queue.jobs() == []


def test_a_listing_reads_only_the_records_that_changed(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web page lists the jobs every 1.5 s and each worker every few seconds: reading
    every record each time took a tenth of a second at 2000 jobs."""
    jobs = [queue.submit("video", tmp_path / "clip.mp4", tmp_path / f"{n}.mp4",
                         RenderSettings("studio")) for n in range(3)]
    read: list[str] = []
    load = tasks._load
    monkeypatch.setattr(tasks, "_load", lambda job_id, data: read.append(job_id) or load(
        job_id, data))
    assert queue.jobs() == jobs and sorted(read) == sorted(job.id for job in jobs)
    read.clear()
    assert queue.jobs() == jobs and read == []
    queue.stop(jobs[1].id, "stopped")
    read.clear()
    assert queue.jobs()[1].status == "stopped" and read == [jobs[1].id]


def test_a_progress_report_the_queue_cannot_take_does_not_end_the_render(
    queue: RenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis restart of a few seconds failed a running attempt's next progress report: the
    attempt died of it, and the render started over from nothing once its lease ran out."""
    output = tmp_path / "out.mp4"
    record = queue.submit("video", tmp_path / "clip.mp4", output, RenderSettings("studio"))
    update, failures = queue._update, [sqlite3.OperationalError("database is locked")]

    def away_once(job_id: str, change: Callable) -> object:
        if failures and change.__name__ == "renewed":
            raise failures.pop()
        return update(job_id, change)

    monkeypatch.setattr(queue, "_update", away_once)
    fake_renders(monkeypatch)
    queue.run(record.id, 1)
    assert not failures and queue.get(record.id).status == "done"
    assert output.read_bytes() == b"a video"
