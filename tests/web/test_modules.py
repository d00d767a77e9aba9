"""The web app's modules called in this process, for what a real server cannot be made to do
portably (a full disk) or is not needed for (a message, a start beside another server)."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import HTTPException
from PIL import Image

from obs_bgremover.errors import InputError
from obs_bgremover.outputs import write_failed
from obs_bgremover.render import JobRecord, RenderQueue, RenderSettings, open_huey, tasks
from obs_bgremover.render.queue import DATA_ENV
from obs_bgremover.render.tasks import LEASE_S, staging_dir
from obs_bgremover.web import api, app, uploads
from obs_bgremover.web.choices import to_spec
from obs_bgremover.web.context import Context
from obs_bgremover.web.present import job_out, limit_notes
from obs_bgremover.web.schemas import JobIn
from obs_bgremover.web.store import STALE_UPLOAD_S, Store, Upload

JOB_ID = "0123456789ab"


async def _body(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 65536):
        yield data[start : start + 65536]


def _receive(store: Store, data: bytes, name: str, purpose: str = "clip") -> HTTPException:
    """The answer refusing an upload."""
    with pytest.raises(HTTPException) as refused:
        asyncio.run(uploads.receive(_body(data), name, purpose, store, 1 << 30))
    return refused.value


def _failing(error: int) -> OSError:
    return OSError(error, os.strerror(error))


# -- uploads the server cannot store --------------------------------------------------------


def test_an_upload_to_a_full_disk_is_answered_and_leaves_nothing(
    tmp_path: Path, talking_head: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It was a plain-text "500 Internal Server Error", the page saying "the server answered
    500"; an HTTPException is answered as ``{"detail": ...}`` like every other refusal."""
    store = Store(tmp_path / "web")
    real_write = uploads._write

    async def fills_the_disk(chunks: AsyncIterator[bytes], path: Path, limit: int) -> int:
        await real_write(chunks, path, limit)  # some of it is on disk when the disk is full
        raise _failing(errno.ENOSPC)

    monkeypatch.setattr(uploads, "_write", fills_the_disk)
    refused = _receive(store, talking_head.read_bytes(), "speaker.mp4")
    assert (refused.status_code, refused.detail) == (
        507, 'cannot store "speaker.mp4": no space left on the server')
    assert list(store.tmp_dir.iterdir()) == []


def test_an_upload_the_server_cannot_write_says_why_without_its_paths(
    tmp_path: Path, talking_head: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store(tmp_path / "web")

    def broken_drive(staged: Path, upload: Upload) -> Upload:
        raise _failing(errno.EIO)

    monkeypatch.setattr(store, "keep", broken_drive)
    refused = _receive(store, talking_head.read_bytes(), "speaker.mp4")
    assert (refused.status_code, refused.detail) == (
        500, 'cannot store "speaker.mp4": the server could not write it (Input/output error)')
    assert list(store.tmp_dir.iterdir()) == []


# -- what a refusal says is accepted ----------------------------------------------------------


@pytest.mark.parametrize(("purpose", "ending"), [
    ("clip", "(codecs: h264, hevc, vp8, vp9, av1, mpeg4, mpeg2video, mjpeg, prores, dnxhd)"),
    ("background", "dnxhd), or a PNG, JPEG or GIF image"),
])
def test_a_refusal_lists_what_this_app_takes(purpose: str, ending: str, tmp_path: Path) -> None:
    """The web app takes no image as a clip, and images as backgrounds, not "for a preview":
    `probe`'s list is the ``render`` command's."""
    store = Store(tmp_path / "web")
    for data, name in ((b"milk, eggs, bread\n" * 100, "notes.mp4"), (b"", "empty.mp4")):
        detail = _receive(store, data, name, purpose).detail
        assert detail.startswith(f'"{name}" is') and detail.endswith(ending), detail


def test_a_picture_of_too_many_pixels_is_refused_before_it_is_decoded(
        tmp_path: Path, monkeypatch) -> None:
    """Its size is in its header: decoding it first to read it (`probe`) took 5.6 s and 600 MB
    more of the server's memory for a 775 KB PNG of 16000x16000."""
    picture = io.BytesIO()
    Image.new("RGB", (16000, 4000)).save(picture, "PNG")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the picture was decoded before its size was checked")

    monkeypatch.setattr(uploads, "probe", never)
    detail = _receive(Store(tmp_path / "web"), picture.getvalue(), "wall.png", "background").detail
    assert detail.startswith('"wall.png" is 16000x4000, 64.0 megapixels: more than this server')


def _disk_full() -> sqlite3.OperationalError:
    """SQLite's own "database or disk is full", from a database that may not grow."""
    database = sqlite3.connect(":memory:")
    database.execute("PRAGMA max_page_count = 2")
    database.execute("CREATE TABLE t (x BLOB)")
    try:
        while True:
            database.execute("INSERT INTO t VALUES (zeroblob(4096))")
    except sqlite3.OperationalError as err:
        return err
    finally:
        database.close()


def test_a_job_queued_on_a_full_disk_is_answered_and_leaves_no_folder(
        tmp_path: Path, talking_head: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue's database could not grow: the answer was a plain-text 500, and each try
    left an empty job folder that nothing listed or removed."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    store = Store(tmp_path / "web")
    clip = asyncio.run(uploads.receive(_body(talking_head.read_bytes()), "speaker.mp4", "clip",
                                       store, 1 << 30))
    queue = RenderQueue(open_huey("sqlite"))
    full = _disk_full()

    def no_space(*args: object, **kwargs: object) -> None:
        raise full

    monkeypatch.setattr(queue, "submit", no_space)
    create_job = next(route.endpoint for route in api.router(Context(queue, store, 1 << 30, 0))
                      .routes if route.path == "/api/jobs" and "POST" in route.methods)
    with pytest.raises(sqlite3.OperationalError):
        create_job(JobIn(upload=clip.id, kind="preview", background="studio"))
    assert list(store.jobs_dir.iterdir()) == []
    answer = asyncio.run(app._queue_fault(None, full))
    assert answer.status_code == 507
    assert json.loads(answer.body) == {"detail": "the server has no space left on its disk"}


def test_a_large_background_gets_no_render_limit_note() -> None:
    """A background is fitted to each clip: a 7000x7000 picture was said to be "scaled from
    7000x7000 to 1080x1080 to fit 1920x1080". A clip of that size is scaled so."""
    picture = Upload(JOB_ID, "wall.png", "background", "image", "png", "png", 7000, 7000,
                     None, None, False, 1000, 0.0)
    assert limit_notes(picture) == []
    clip = replace(picture, purpose="clip", kind="video", duration=25.0)
    assert limit_notes(clip) == ["Only the first 10 s of its 25.0 s are rendered.",
                                 "It is scaled from 7000x7000 to 1080x1080 to fit 1920x1080."]


# -- staged uploads at a start --------------------------------------------------------------


def _staged(store: Store, age: float) -> Path:
    """An upload arriving in ``tmp/``, last written to ``age`` seconds ago."""
    _, source = store.stage()
    source.write_bytes(b"\0" * 1000)
    when = time.time() - age
    for path in (source, source.parent):
        os.utime(path, (when, when))
    return source.parent


def test_a_start_keeps_the_uploads_another_server_is_receiving(tmp_path: Path) -> None:
    """A second ``serve`` on the same folder emptied ``tmp/``: the first one's upload, half
    received, then failed as "input does not exist". Only those a stop cut off go."""
    first = Store(tmp_path / "web")
    arriving, cut_off = _staged(first, 5.0), _staged(first, STALE_UPLOAD_S + 60)
    Store(tmp_path / "web")
    assert arriving.is_dir() and (arriving / "source").stat().st_size == 1000
    assert not cut_off.exists()


# -- job errors -------------------------------------------------------------------------------


def test_a_job_error_names_the_result_not_the_staging_folder(tmp_path: Path) -> None:
    """A preview on a full disk showed `.../web/jobs/<folder>/.obs-bgremover-<id>-1/preview.png`
    on the page: the server's paths are not the user's business."""
    store = Store(tmp_path / "web")
    output = store.new_job_folder() / "preview.png"
    record = JobRecord(JOB_ID, "preview", str(store.source("ba9876543210")), str(output),
                       RenderSettings("studio"), status="failed", attempt=2)
    staged = staging_dir(record) / output.name
    record = replace(record, error=str(write_failed(staged, _failing(errno.ENOSPC))))
    assert str(tmp_path) in record.error
    assert job_out(record, store).error == "Cannot write preview.png: No space left on device"


def test_the_time_left_counts_down_from_the_last_report(tmp_path: Path) -> None:
    """After a server was killed mid-render, its job showed its old progress, and a time left
    that grew with every poll (11.9 to 70.7 s), until its lease ran out 30 s later: none is
    said for a job silent that long. Between reports it went back and forth at every poll."""
    store = Store(tmp_path / "web")
    now = time.time()
    record = JobRecord(JOB_ID, "video", str(store.source("ba9876543210")),
                       str(store.new_job_folder() / "result.mp4"), RenderSettings("studio"),
                       status="running", progress=0.3, started=now - 6, reported=now,
                       lease_until=now + LEASE_S)
    assert job_out(record, store).seconds_left == pytest.approx(14.0, abs=0.5)
    # The same report 2 s ago: 2 s less, where the time since counted as spent on its 30%.
    earlier = replace(record, started=now - 8, reported=now - 2)
    assert job_out(earlier, store).seconds_left == pytest.approx(12.0, abs=0.5)
    silent = replace(record, reported=now - 20)  # its last report, 20 s ago
    assert job_out(silent, store).seconds_left is None


def test_the_time_left_is_not_moved_by_a_lease_renewed_between_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's keeper renews its running jobs' leases between their progress reports, and
    the time left took each renewal for a report: it jumped up, by the time since the report
    over the fraction done (at 10%, ten times that), every few seconds."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setattr(tasks, "REPORT_S", 0.0)  # every call reports
    store, queue = Store(tmp_path / "web"), RenderQueue(open_huey())
    record = queue.submit("video", store.source("ba9876543210"),
                          store.new_job_folder() / "result.mp4", RenderSettings("studio"))
    running = queue._update(record.id, lambda current: replace(
        queue._started(current, 1), started=time.time() - 9))  # 9 s for the first 10%
    assert running is not None
    queue._running.add((record.id, 1))
    queue._reporter(running)(0.1)
    left = job_out(queue.get(record.id), store).seconds_left
    assert left == pytest.approx(81.0, abs=0.5)
    time.sleep(0.5)
    queue.renew()
    assert job_out(queue.get(record.id), store).seconds_left == pytest.approx(left - 0.5, abs=0.2)


@pytest.mark.parametrize(("megabytes", "said"), [(0.1, "0.1"), (12.34, "12.34"), (2048, "2048")])
def test_an_upload_over_the_limit_is_told_the_limit_as_given(
        megabytes: float, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--max-upload-mb 0.1` was said as 0.0999994 MB (a whole number of bytes), and 2048
    as 2.05e+03 MB after a first mend."""
    async def one_byte_too_many(chunks: object, path: Path, limit: int) -> int:
        path.write_bytes(b"x")  # as if the bytes past the limit had arrived
        return limit + 1

    monkeypatch.setattr(uploads, "_write", one_byte_too_many)
    with pytest.raises(HTTPException) as refused:
        asyncio.run(uploads.receive(_body(b""), "big.mp4", "clip", Store(tmp_path / "web"),
                                    int(megabytes * uploads.MB)))
    assert refused.value.status_code == 413
    assert f"more than this server takes ({said} MB)" in refused.value.detail


def test_a_background_upload_id_that_never_was_is_not_said_deleted(tmp_path: Path) -> None:
    """``upload:beach.jpg`` (a script naming its file) was "no longer on the server (it was
    deleted)"; only an id an upload could have had is said to be deleted."""
    store = Store(tmp_path / "web")
    with pytest.raises(InputError, match=r"there is no background upload 'beach.jpg': upload "):
        to_spec("upload:beach.jpg", store)
    with pytest.raises(InputError, match="'0123456789ab' is no longer on the server"):
        to_spec("upload:0123456789ab", store)
