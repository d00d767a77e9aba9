"""The filter's "Render clip" button's checks, without OBS: what cannot be rendered is refused
with a sentence naming it before anything is queued (the status line and OBS's log show it),
rather than queued for the worker to fail with an "internal error" and a traceback."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from obs_bgremover.errors import InputError
from obs_bgremover.obs import render_clip
from obs_bgremover.obs.render_clip import RenderClip
from obs_bgremover.obs.settings import FilterSettings
from obs_bgremover.render.queue import DATA_ENV

CLIP = Path(__file__).resolve().parents[1] / "obs_bgremover" / "assets" / "sample.mp4"


@pytest.fixture
def button(tmp_path, monkeypatch) -> RenderClip:
    """A filter's button whose queue, were anything queued, is a throw-away one, and which
    starts no worker."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setattr(render_clip.WORKERS, "ensure", lambda queue: None)
    clip = RenderClip(lambda: None)
    yield clip
    clip.close()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_that_takes_no_files_is_refused_before_queueing(button) -> None:
    """/proc is a folder, and even root's permissions pass there, but no file can be made in
    it: the job was queued, and the worker failed it with an internal error."""
    with pytest.raises(InputError, match=r"cannot write into the output folder /proc \("):
        button.start(FilterSettings(), str(CLIP), "/proc")
    assert button.queue is None and button.job_id is None, "a job was queued"


def test_a_clip_a_render_would_fail_on_is_refused_before_queueing(button, tmp_path) -> None:
    """A text file picked as the clip was queued, failed in the worker and stayed in `jobs`:
    the button checks what `render` checks."""
    notes = tmp_path / "notes.mp4"
    notes.write_text("milk, eggs, bread\n" * 100)
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(InputError, match="notes.mp4 is not a video or image FFmpeg can read"):
        button.start(FilterSettings(), str(notes), str(folder))
    assert button.queue is None and button.job_id is None, "a job was queued"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (FilterSettings(model="custom"), "pick the custom ONNX file first"),
        (FilterSettings(kind="image"), "pick the background's image file first"),
        (FilterSettings(kind="video"), "pick the background's video file first"),
    ],
    ids=["model", "image", "video"],
)
def test_a_file_not_picked_yet_is_named_in_the_properties_words(
    button, tmp_path, settings: FilterSettings, expected: str
) -> None:
    """The line under the button said "model path . is not a file", or "the background is
    empty; expected NAME (studio, ...), FILE, blur[:STRENGTH], ...", the command line's words
    for what a user of OBS has simply not picked yet."""
    with pytest.raises(InputError, match=expected):
        button.start(settings, str(CLIP), str(tmp_path))
    assert button.job_id is None, "a job was queued"


def test_a_writable_folder_is_left_as_it_was(button, tmp_path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    record = button.start(FilterSettings(), str(CLIP), str(folder))
    assert record.output.startswith(str(folder))
    assert list(folder.iterdir()) == [], "the trial file was left behind"


@pytest.mark.parametrize("clean", [True, False])
def test_the_render_cleans_edge_colours_as_the_filter_does(button, tmp_path, clean) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    record = button.start(FilterSettings(clean_edges=clean), str(CLIP), str(folder))
    assert record.settings.decontaminate is clean


def test_a_job_still_queued_when_obs_quits_is_dropped_and_said(button, tmp_path) -> None:
    """OBS quitting stops the worker it started, which finishes the job it renders only: a job
    still queued stayed so, unsaid, and ran at the next "Render clip", ahead of that one."""
    folder = tmp_path / "out"
    folder.mkdir()
    record = button.start(FilterSettings(), str(CLIP), str(folder))
    dropped = button.drop_queued()
    assert dropped is not None and dropped.id == record.id
    after = button.queue.get(record.id)
    assert after.status == "stopped"
    assert "OBS quit or unloaded the script before its turn came" in after.error
    assert button.drop_queued() is None, "a finished job is left as it is"


def test_a_job_a_worker_renders_is_not_dropped(button, tmp_path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    record = button.start(FilterSettings(), str(CLIP), str(folder))
    button.queue._update(record.id, lambda current: replace(current, status="running"))
    assert button.drop_queued() is None
    assert button.queue.get(record.id).status == "running"
    assert render_clip.Workers().stop() is False, "no worker of ours to stop"


def test_two_renders_in_the_same_second_get_files_of_their_own(tmp_path, monkeypatch) -> None:
    """Two filters' buttons pressed within a second (or a short clip rendered and again) named
    one file: the second render replaced the first, and both status lines named it."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setattr(render_clip.WORKERS, "ensure", lambda queue: None)
    monkeypatch.setattr(render_clip.time, "strftime", lambda fmt: "20260101-120000")
    folder = tmp_path / "out"
    folder.mkdir()
    first, second = RenderClip(lambda: None), RenderClip(lambda: None)
    try:
        queued = first.start(FilterSettings(), str(CLIP), str(folder))
        other = second.start(FilterSettings(), str(CLIP), str(folder))
        assert queued.output != other.output
        (folder / "sample-bgremover-20260101-120000-3.mp4").write_bytes(b"an earlier file")
        first.stop()
        third = first.start(FilterSettings(), str(CLIP), str(folder))
        assert third.output not in (other.output, str(folder / "sample-bgremover-20260101"
                                                       "-120000-3.mp4")), third.output
    finally:
        first.close()
        second.close()


class _Announced:
    """A queue that lists ``count`` workers."""

    def __init__(self, count: int) -> None:
        self.count = count

    def workers(self) -> list[str]:
        return [f"worker{index}" for index in range(self.count)]


class _Process:
    """A worker process that runs until told otherwise."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.signals: list[int] = []

    def poll(self) -> int | None:
        return None

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)


def test_a_worker_of_ours_that_is_stopping_does_not_count(tmp_path, monkeypatch) -> None:
    """A script reload (or a switch of scene collection) while a clip rendered asked the worker
    to stop; it stayed announced while it finished that clip, so a clip queued meanwhile
    started no worker, waited for good, and its line said no worker had started."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    started: list[_Process] = []

    def popen(*args: object, **kwargs: object) -> _Process:
        started.append(_Process())
        return started[-1]

    monkeypatch.setattr(render_clip.subprocess, "Popen", popen)
    workers = render_clip.Workers()
    workers.ensure(_Announced(0))
    assert len(started) == 1
    assert workers.stop() is True  # the unload; the worker finishes its clip, announced
    workers.ensure(_Announced(1))
    assert len(started) == 2, "the stopping worker was taken to serve the queue"
    workers.ensure(_Announced(2))
    assert len(started) == 2, "ours runs: no third one"
    assert workers.stop() is True
    workers.ensure(_Announced(3))  # both of ours stopping, and someone else's worker
    assert len(started) == 2, "another worker serves the queue: none needed"


def test_the_status_line_follows_the_job_again_after_a_reload(button, tmp_path) -> None:
    """The unload stops following the job (`close`); the load after it (`Filter.reopen`)
    must follow it again: the line stayed at "Rendering 28%" over a clip long done."""
    folder = tmp_path / "out"
    folder.mkdir()
    record = button.start(FilterSettings(), str(CLIP), str(folder))
    button.close()  # the unload
    button.queue._update(record.id, lambda current: replace(current, status="running",
                                                            progress=0.5))
    button.resume()
    assert button.status.startswith("Rendering 50%"), button.status
    button.queue._update(record.id, lambda current: replace(current, status="done"))
    deadline = time.monotonic() + 5
    while not button.status.startswith("Done") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert button.status.startswith("Done"), button.status


def test_the_render_lines_name_the_source(tmp_path, monkeypatch) -> None:
    """With the filter on several sources, "render clip: ..." lines in OBS's log did not say
    which filter's button they were about, where every other line of the filter does."""
    from obs_bgremover.obs import filter as obs_filter
    from obs_bgremover.obs import registration

    lines: list[str] = []
    for module in (obs_filter, registration):
        monkeypatch.setattr(module, "log", lambda level, message: lines.append(message))

    class _Settings:
        def obs_source_get_settings(self, source: int) -> int:
            return 0

        def obs_data_release(self, data: int) -> None:
            pass

    monkeypatch.setattr(registration, "lib", _Settings)
    monkeypatch.setattr(registration, "read_settings", lambda data: FilterSettings(
        render_input=str(tmp_path / "missing.mp4"), render_folder=str(tmp_path)))
    state = registration._Registration()
    instance = obs_filter.Filter(0)
    instance.label = "Webcam"
    state.instances[1] = instance
    assert state.render_clicked(0, 0, 1) is True
    assert state.stop_clicked(0, 0, 1) is True
    assert any(line.startswith("Webcam: render clip: pick the clip") for line in lines), lines


def test_two_renders_in_the_same_second_into_a_linked_folder(tmp_path, monkeypatch) -> None:
    """The outputs of the jobs queued are stored resolved: a folder picked through a link
    (~/Videos on another disk) never matched them, and the second render replaced the first."""
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setattr(render_clip.WORKERS, "ensure", lambda queue: None)
    monkeypatch.setattr(render_clip.time, "strftime", lambda fmt: "20260101-120000")
    real = tmp_path / "disk"
    real.mkdir()
    linked = tmp_path / "Videos"
    linked.symlink_to(real, target_is_directory=True)
    first, second = RenderClip(lambda: None), RenderClip(lambda: None)
    try:
        queued = first.start(FilterSettings(), str(CLIP), str(linked))
        other = second.start(FilterSettings(), str(CLIP), str(linked))
        assert queued.output != other.output
    finally:
        first.close()
        second.close()
