"""End to end in real OBS: the filter, added over obs-websocket to a real portrait, replaces the
ground-truth background region with the chosen colour, keeps the person, takes new matting
settings and another model live, keeps OBS at its frame rate, survives a script reload, and
leaves cleanly.

The tests in this module share one OBS and run in order (the last one shuts it down).
"""

from __future__ import annotations

import re
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from obs_views import (
    COLOR_TOLERANCE,
    MATTE_TIMEOUT,
    SCENE,
    SHARE_REQUIRED,
    SOURCE,
    close_share,
    log_count,
    poll,
    regions,
    screenshot,
    stop_cleanly,
)

from obs_bgremover.model import MODEL_NAMES, PROVIDERS, available_devices, resolve_model_path
from obs_bgremover.obs.filter import TIMING_EVERY
from obs_bgremover.obs.registration import FILTER_ID
from obs_bgremover.obs.settings import DEFAULT_EDGE_RADIUS, DEFAULT_THRESHOLD

FILTER = "Background Remover"
EXTRA_OBS_SCRIPTS = [Path(__file__).with_name("script_reloader.py")]
GREEN = (0, 255, 0)
GREEN_OBS = 0xFF00FF00  # 0xAABBGGRR
# The threshold that must visibly shrink the person, and by how much (share of its pixels).
HIGH_THRESHOLD = 0.95
SHRINK_REQUIRED = 0.02


def test_script_loaded_and_registered_the_filter(obs_studio) -> None:
    log = obs_studio.log_text()
    assert "Loaded python script: obs_bgremover_filter.py" in log, "OBS did not load the script"
    assert "Traceback" not in log, log[-3000:]


def test_filter_replaces_background_and_keeps_person(obs_studio, scene, portrait) -> None:
    original = scene
    height, width = original.shape[:2]
    background, person = regions(portrait[1], (width, height))
    assert background.sum() > 1000 and person.sum() > 1000

    obs_studio.client.create_source_filter(
        SOURCE, FILTER, FILTER_ID.decode(), {"background": "color", "color": GREEN_OBS}
    )
    filters = obs_studio.client.get_source_filter_list(SOURCE).filters
    assert [f["filterKind"] for f in filters] == [FILTER_ID.decode()]

    deadline = time.monotonic() + MATTE_TIMEOUT
    shot = screenshot(obs_studio, SOURCE)
    while time.monotonic() < deadline:
        shot = screenshot(obs_studio, SOURCE)
        if close_share(shot, background, np.array(GREEN)) >= SHARE_REQUIRED:
            break
        time.sleep(0.2)
    green = close_share(shot, background, np.array(GREEN))
    kept = close_share(shot, person, original)
    assert green >= SHARE_REQUIRED, f"only {green:.1%} of the background turned green"
    assert kept >= SHARE_REQUIRED, f"only {kept:.1%} of the person is unchanged"
    # The person did not turn green: the check above could not pass on a plain green screen.
    assert close_share(shot, person, np.array(GREEN)) < 0.05


def person_pixels(obs_studio) -> int:
    """How many screenshot pixels are not the green background: the person as the matte cuts it."""
    shot = screenshot(obs_studio, SOURCE).astype(np.int16)
    green = np.all(np.abs(shot - np.array(GREEN, np.int16)) <= COLOR_TOLERANCE, axis=-1)
    return int(np.count_nonzero(~green))


def test_filter_defaults_are_the_graphs_own() -> None:
    """The sliders start where every other front end starts: at the knob values stored in
    each graph (read with onnx, a development dependency)."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    for name in MODEL_NAMES:
        graph = onnx.load(str(resolve_model_path(name))).graph
        stored = {
            init.name: float(numpy_helper.to_array(init))
            for init in graph.initializer
            if init.name in ("threshold", "edge_radius")
        }
        assert stored == {"threshold": DEFAULT_THRESHOLD, "edge_radius": DEFAULT_EDGE_RADIUS}, name


def test_threshold_applies_live(obs_studio, scene) -> None:
    client = obs_studio.client
    baseline = person_pixels(obs_studio)
    client.set_source_filter_settings(SOURCE, FILTER, {"threshold": HIGH_THRESHOLD}, True)
    shrunk = poll(
        partial(person_pixels, obs_studio), lambda n: n < (1 - SHRINK_REQUIRED) * baseline
    )
    assert shrunk < (1 - SHRINK_REQUIRED) * baseline, (
        f"threshold {HIGH_THRESHOLD} left {shrunk} person pixels of {baseline}"
    )
    client.set_source_filter_settings(SOURCE, FILTER, {"threshold": DEFAULT_THRESHOLD}, True)
    restored = poll(
        partial(person_pixels, obs_studio), lambda n: abs(n - baseline) <= 0.005 * baseline
    )
    assert abs(restored - baseline) <= 0.005 * baseline, (
        f"back at the default threshold: {restored} person pixels, {baseline} before"
    )


def test_a_setting_of_the_wrong_type_or_range_is_replaced_and_said(obs_studio, scene) -> None:
    """Sent over obs-websocket or typed into a scene file: a string where a number belongs once
    ran as 0, clamped to the minimum threshold (a halo of wall around the person), without a
    word in the log."""
    client = obs_studio.client
    baseline = person_pixels(obs_studio)
    sent = {"threshold": "0.9", "every_n": 99, "fit": "bogus"}
    client.set_source_filter_settings(SOURCE, FILTER, sent, True)
    said = [f"setting threshold '0.9' is not a number; using {DEFAULT_THRESHOLD:g}",
            "setting every_n 99 is outside 1..4; using 4",
            "setting fit 'bogus' is not one of cover, contain, stretch; using cover"]
    poll(lambda: [log_count(obs_studio, line) for line in said], all)
    assert all(log_count(obs_studio, line) for line in said), obs_studio.log_text()[-2000:]
    time.sleep(2.0)  # the new pipeline's mattes
    assert abs(person_pixels(obs_studio) - baseline) <= 0.005 * baseline, "not the default"
    client.set_source_filter_settings(SOURCE, FILTER, {"threshold": DEFAULT_THRESHOLD,
                                                       "every_n": 1, "fit": "cover"}, True)


def shown_since(log: str, marker: str) -> bool:
    """Whether a matte of new settings was shown after the last ``marker`` line of ``log``: a
    count of "shown" lines taken before could also grow by an earlier change still on its way
    to the screen."""
    start = log.rfind(marker)
    return start >= 0 and "new settings matted after" in log[start:]


def test_switching_model_keeps_working(obs_studio, scene, portrait) -> None:
    """The landscape model takes over (its first matte is logged) and still removes the
    background."""
    obs_studio.client.set_source_filter_settings(SOURCE, FILTER, {"model": "landscape"}, True)
    log = poll(obs_studio.log_text, partial(shown_since, marker="model landscape runs on"))
    # Loaded on a thread of its own, not on OBS's graphics thread that applies the settings.
    assert "loading model landscape on auto" in log, log[-3000:]
    assert shown_since(log, "model landscape runs on"), log[-3000:]
    shot = screenshot(obs_studio, SOURCE)
    background, _ = regions(portrait[1], (shot.shape[1], shot.shape[0]))
    green = close_share(shot, background, np.array(GREEN))
    assert green >= SHARE_REQUIRED, f"landscape: only {green:.1%} of the background is green"


def test_a_device_this_machine_lacks_runs_on_the_best_it_has(obs_studio, scene, portrait) -> None:
    """Settings from another machine (a scene collection made beside an NVIDIA GPU, opened on a
    laptop) once left the filter passing its input through, the room on screen, with a line in
    the log: the network now runs on the best device there is, and the log says so."""
    missing_devices = [d for d in PROVIDERS if d not in available_devices()]
    if not missing_devices:
        pytest.skip("every execution provider is available here")
    client = obs_studio.client
    background, _ = regions(portrait[1], (scene.shape[1], scene.shape[0]))
    failures_before = obs_studio.log_text().count("passing the input through")
    said = f"device {missing_devices[0]} is not available in this onnxruntime build"
    client.set_source_filter_settings(SOURCE, FILTER, {"device": missing_devices[0]}, True)
    log = poll(obs_studio.log_text, partial(shown_since, marker=said))
    assert shown_since(log, said), log[-3000:]
    shot = screenshot(obs_studio, SOURCE)
    assert close_share(shot, background, np.array(GREEN)) >= SHARE_REQUIRED, "not matted"
    log = obs_studio.log_text()
    assert log.count("passing the input through") == failures_before, log[-3000:]
    assert "Traceback" not in log
    client.set_source_filter_settings(SOURCE, FILTER, {"device": "auto"}, True)


def network_share_after(obs_studio, marker: str) -> tuple[int, int] | None:
    """(network runs, frames processed) from the newest timing line logged after ``marker``
    (the counts are the pipeline's own since it started)."""
    log = obs_studio.log_text()
    start = log.rfind(marker)
    found = re.findall(r"network ran on (\d+)/(\d+)", log[start:]) if start >= 0 else []
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def test_skip_static_leaves_the_network_idle_on_a_still_picture(obs_studio, scene) -> None:
    """The portrait does not change, so with ``skip_static`` the network runs once and the
    matte is reused; the filter's timing line (every TIMING_EVERY frames) counts the runs."""
    marker = "not on still frames"
    obs_studio.client.set_source_filter_settings(SOURCE, FILTER, {"skip_static": True}, True)
    # The first timing line may come a few frames after the new pipeline started: wait for
    # one that has seen enough of them.
    share = poll(partial(network_share_after, obs_studio, marker),
                 lambda found: found is not None and found[1] >= 30,
                 timeout=MATTE_TIMEOUT + 2 * TIMING_EVERY / 30)
    obs_studio.client.set_source_filter_settings(SOURCE, FILTER, {"skip_static": False}, True)
    assert share is not None, obs_studio.log_text()[-3000:]
    runs, processed = share
    assert processed >= 30 and runs <= 0.05 * processed, (
        f"the network ran on {runs} of {processed} frames of a still picture")


def views_per_frame(obs_studio) -> list[float]:
    """"views per frame" from each of the filter's timing lines so far."""
    return [float(value) for value in
            re.findall(r"views per frame ([\d.]+)", obs_studio.log_text())]


def test_a_second_view_draws_the_frame_without_preparing_it_again(obs_studio, scene) -> None:
    """Studio mode shows the scene twice (preview and program), so OBS draws the filter twice
    a frame. Each frame's input is rendered, read back and matted once: the timing line counts
    frames by those, and the draws of both views against them."""
    client = obs_studio.client
    seen = len(views_per_frame(obs_studio))
    client.set_studio_mode_enabled(True)
    try:
        client.set_current_preview_scene(SCENE)
        # The first line after the switch may have begun before it: judge the second.
        poll(lambda: len(views_per_frame(obs_studio)), lambda n: n >= seen + 2,
             timeout=3 * TIMING_EVERY / 30)
    finally:
        client.set_studio_mode_enabled(False)
    lines = views_per_frame(obs_studio)
    assert len(lines) >= seen + 2, obs_studio.log_text()[-3000:]
    assert lines[seen + 1] >= 1.9, f"{lines[seen + 1]} views a frame in studio mode"


def test_obs_keeps_its_frame_rate(obs_studio) -> None:
    client = obs_studio.client
    before = client.get_stats()
    time.sleep(3.0)  # a measurement window, not a wait for a condition
    after = client.get_stats()
    skipped = after.render_skipped_frames - before.render_skipped_frames
    rendered = after.render_total_frames - before.render_total_frames
    assert after.active_fps > 20, f"OBS renders at {after.active_fps:.1f} fps"
    assert rendered > 60, f"only {rendered} frames rendered in 3 s"
    assert skipped <= 0.05 * max(rendered, 1), f"{skipped} of {rendered} frames skipped"


def test_filter_works_again_after_a_script_reload(obs_studio, scene, portrait) -> None:
    """Tools > Scripts > Reload (here by `script_reloader.py`) unloads our script, which stops
    every filter's pipeline, and runs it again: the filter comes back with its settings rather
    than passing its input through until they change."""
    background, _ = regions(portrait[1], (scene.shape[1], scene.shape[0]))
    request = obs_studio.home / "reload-request"
    request.touch()
    done = request.with_suffix(".done")
    poll(done.exists, bool)
    assert done.exists() and done.read_text() == "reloaded", obs_studio.log_text()[-3000:]
    assert "stopped 1 filter(s)" in obs_studio.log_text()
    log = poll(obs_studio.log_text, partial(shown_since, marker="stopped 1 filter(s)"))
    assert shown_since(log, "stopped 1 filter(s)"), "no matte after reload"
    shot = screenshot(obs_studio, SOURCE)
    assert close_share(shot, background, np.array(GREEN)) >= SHARE_REQUIRED
    assert "Traceback" not in obs_studio.log_text()


def test_filter_works_again_after_a_switch_of_scene_collection(obs_studio, scene,
                                                               portrait) -> None:
    """A visit to another scene collection unloads the script, and coming back loads it anew:
    Python hands back the module imported before without running it, so only `script_load`
    runs. Every filter passed its input through after that, the room on screen, unlogged.
    (And one added in a collection without the script passed through unlogged.)"""
    client = obs_studio.client
    background, _ = regions(portrait[1], (scene.shape[1], scene.shape[0]))
    home = client.get_scene_collection_list().current_scene_collection_name
    client.create_scene_collection("Elsewhere")  # OBS switches to the new, empty collection
    poll(lambda: client.get_scene_collection_list().current_scene_collection_name,
         lambda name: name == "Elsewhere")
    # Without the script there, a filter added passes its input through and says why (it
    # did nothing, and said nothing).
    client.create_scene("Unscripted")
    client.create_input("Unscripted", "Portrait there", "image_source",
                        {"file": str(portrait[0])}, True)
    client.create_source_filter("Portrait there", FILTER, FILTER_ID.decode(), {})
    client.set_current_program_scene("Unscripted")
    said = ("Portrait there: passing the input through: the obs-bgremover script is not loaded "
            "in this scene collection (Tools > Scripts adds it)")
    assert poll(lambda: log_count(obs_studio, said), bool, timeout=10) == 1
    time.sleep(1)
    assert log_count(obs_studio, said) == 1
    # Gone before the switch back: a filter of the collection being left that is still there
    # when the script loads again is started with the others, and its network process may
    # outlive it until OBS quits, which the last test of this module counts.
    client.remove_input("Portrait there")
    client.set_current_scene_collection(home)
    poll(lambda: client.get_scene_collection_list().current_scene_collection_name,
         lambda name: name == home)
    client.set_current_program_scene(SCENE)
    shot = poll(lambda: screenshot(obs_studio, SOURCE),
                lambda shot: close_share(shot, background, np.array(GREEN)) >= SHARE_REQUIRED,
                timeout=MATTE_TIMEOUT)
    assert close_share(shot, background, np.array(GREEN)) >= SHARE_REQUIRED, (
        obs_studio.log_text()[-3000:])
    assert "Traceback" not in obs_studio.log_text()


def test_remove_filter_and_quit_cleanly(obs_studio, scene) -> None:
    client = obs_studio.client
    client.remove_source_filter(SOURCE, FILTER)
    assert client.get_source_filter_list(SOURCE).filters == []
    log = stop_cleanly(obs_studio)
    assert "Number of memory leaks: 0" in log, log[-3000:]
    # Removing the last filter kept the network process it used, for the next filter
    # (`Filter.destroy`); the unload ends what is left (the script's description may have
    # loaded the default model too, for Tools > Scripts) and says so. OBS destroys a removed
    # filter on a thread of its own, later: quitting at once may still find it at the unload.
    # (The script's earlier reloads in this module said it too: the quit's unload is the last.)
    said = re.findall(r"stopped (\d+) filter\(s\) and (\d+) network process\(es\) in \d", log)
    assert said, [line for line in log.splitlines() if "obs-bgremover" in line][-20:]
    filters, processes = map(int, said[-1])
    assert filters <= 1 and processes <= 1 + filters, said
