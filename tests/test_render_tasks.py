"""What the render queue adds for front ends that keep jobs around (the web app): deleting a
finished job for good, and the time a job started. Real huey on a real SQLite queue; the jobs
fail at once (their input is missing), so no model runs."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from obs_bgremover.errors import InputError
from obs_bgremover.render import RenderQueue, RenderSettings, open_huey
from obs_bgremover.render.queue import DATA_ENV
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
    assert queue.stop(record.id, "stopped from the web page").status == "failed"
    assert list((tmp_path / "out").iterdir()) == []
