"""The filter's "Render clip" button in real OBS: pressed through libobs's properties API (by
``obs_actions.py`` inside OBS, as obs-websocket cannot press a filter's buttons), it queues a
render with the filter's settings, starts a render worker outside OBS, and the file appears while
OBS keeps running; OBS's shutdown then asks that worker to stop.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from clip_writer import write_clip
from obs_views import OBS_ACTIONS, SCENE, obs_action, poll, stop_cleanly
from support import synthetic_frames

from obs_bgremover.obs.registration import FILTER_ID
from obs_bgremover.render import SQLITE, RenderQueue, open_huey
from obs_bgremover.render.queue import DATA_ENV

EXTRA_OBS_SCRIPTS = [OBS_ACTIONS]
CLIP = Path(__file__).resolve().parents[2] / "obs_bgremover" / "assets" / "sample.mp4"
SOURCE = "Webcam stand-in"
FILTER = "Background Remover"
RED_OBS = 0xFF0000FF  # 0xAABBGGRR
RENDER_TIMEOUT = 120.0


def press(obs_studio, button: str) -> str:
    """Have the helper script press ``button`` on our filter; what it reported."""
    return obs_action(obs_studio, source=SOURCE, filter=FILTER, button=button)


def rendered(folder: Path) -> list[Path]:
    return sorted(folder.glob("sample-bgremover-*.mp4"))


def test_render_clip_button_produces_the_file(obs_studio, tmp_path) -> None:
    client = obs_studio.client
    client.create_scene(SCENE)
    client.create_input(SCENE, SOURCE, "image_source", {"file": ""}, True)
    client.create_source_filter(SOURCE, FILTER, FILTER_ID.decode(), {
        "background": "color", "color": RED_OBS,
        "render_input": str(CLIP), "render_folder": str(tmp_path),
    })
    assert press(obs_studio, "render_clip") == "clicked"
    assert client.get_version().obs_version, "OBS blocked or stopped while the job was queued"
    poll(lambda: rendered(tmp_path), bool, timeout=RENDER_TIMEOUT)
    outputs = rendered(tmp_path)
    assert outputs, f"no file after {RENDER_TIMEOUT} s:\n{obs_studio.log_text()[-2000:]}"
    assert "render clip: job" in obs_studio.log_text()

    with av.open(str(outputs[0])) as container, av.open(str(CLIP)) as original:
        stream, source = container.streams.video[0], original.streams.video[0]
        assert (stream.width, stream.height) == (source.width, source.height)
        assert abs(container.duration - original.duration) / 1e6 < 0.2
        frame = next(container.decode(stream)).to_ndarray(format="rgb24")
    corner = frame[:20, :20].reshape(-1, 3).mean(axis=0)
    assert np.allclose(corner, (255, 0, 0), atol=40), f"the corner is {corner}, not red"


def test_a_bad_clip_says_why_without_queueing(obs_studio, tmp_path) -> None:
    client = obs_studio.client
    client.set_source_filter_settings(SOURCE, FILTER, {
        "render_input": str(tmp_path / "missing.mp4"), "render_folder": str(tmp_path)}, True)
    assert press(obs_studio, "render_clip") == "clicked"
    log = obs_studio.log_text()
    assert "render clip: pick the clip to render" in log, log[-2000:]
    assert not list(tmp_path.iterdir())


def test_a_folder_that_takes_no_files_says_why_without_queueing(obs_studio, monkeypatch) -> None:
    """/proc is a folder, yet no file can be made in it: the job was queued, and the worker
    failed it with an "internal error" and a traceback."""
    monkeypatch.setenv(DATA_ENV, str(obs_studio.home / ".local" / "share" / "obs-bgremover"))
    jobs = len(RenderQueue(open_huey(SQLITE)).jobs())
    obs_studio.client.set_source_filter_settings(SOURCE, FILTER, {
        "render_input": str(CLIP), "render_folder": "/proc"}, True)
    assert press(obs_studio, "render_clip") == "clicked"
    log = obs_studio.log_text()
    assert "render clip: cannot write into the output folder /proc" in log, log[-2000:]
    assert len(RenderQueue(open_huey(SQLITE)).jobs()) == jobs, "a job was queued"


def test_stop_rendering_drops_the_job(obs_studio, tmp_path, monkeypatch) -> None:
    """A render started by mistake (the wrong clip, the wrong background) can be stopped from
    OBS: the job fails as stopped, and the worker leaves no file behind."""
    clip = write_clip(tmp_path / "long.mp4", synthetic_frames(30, 360, 640), 30, repeat=10)
    folder = tmp_path / "out"
    folder.mkdir()
    obs_studio.client.set_source_filter_settings(SOURCE, FILTER, {
        "render_input": str(clip), "render_folder": str(folder)}, True)
    monkeypatch.setenv(DATA_ENV, str(obs_studio.home / ".local" / "share" / "obs-bgremover"))
    queue = RenderQueue(open_huey(SQLITE))
    assert press(obs_studio, "render_clip") == "clicked"

    def mine() -> list:
        return [record for record in queue.jobs() if record.input == str(clip)]

    poll(mine, lambda records: records and records[0].progress > 0, timeout=RENDER_TIMEOUT)
    assert mine() and mine()[0].status == "running", mine()
    assert press(obs_studio, "render_stop") == "clicked"
    [record] = mine()
    assert (record.status, record.error) == ("stopped", "stopped from OBS")
    assert poll(lambda: list(folder.iterdir()), lambda files: not files, timeout=10) == []
    assert "Stopped from OBS" in obs_studio.log_text()


def test_obs_stops_the_worker_it_started(obs_studio, monkeypatch) -> None:
    """OBS's shutdown (script unload) asks the worker to finish and exit: it retires from the
    queue (a worker killed outright would stay announced until its lease ran out)."""
    data = obs_studio.home / ".local" / "share" / "obs-bgremover"
    assert (data / "obs-worker.log").is_file(), "the button did not start a worker"
    monkeypatch.setenv(DATA_ENV, str(data))
    queue = RenderQueue(open_huey(SQLITE))
    assert queue.workers(), "no worker serves the queue OBS used"
    stop_cleanly(obs_studio)
    poll(queue.workers, lambda alive: not alive, timeout=30)
    assert not queue.workers(), (data / "obs-worker.log").read_text()[-2000:]
