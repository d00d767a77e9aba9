"""The OBS filter's shared models and the filter's use of them, without OBS: a model is loaded
on a thread of its own (OBS applies a filter's settings on its graphics thread, which must not
stand still for the second a network process takes to start), once for every filter that asks
for it; a failed load is reported through the future and tried again; unloading the script ends
a process whose load was still under way, without waiting for it. A filter whose settings change
again while a model loads starts the newest settings' pipeline only, and a filter taken away
(removed, or the script unloaded) starts none until it is reopened.

Real network processes throughout; only OBS's log is replaced by a list, as there is no OBS."""

from __future__ import annotations

import ctypes
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from support import broken_graph

from obs_bgremover.errors import ModelError
from obs_bgremover.model import PROVIDERS, available_devices, select_providers
from obs_bgremover.model_process import RemoteModel
from obs_bgremover.obs import filter as obs_filter
from obs_bgremover.obs import libobs, models
from obs_bgremover.obs.filter import Filter
from obs_bgremover.obs.models import end_models, shared_model
from obs_bgremover.obs.settings import FilterSettings

LOAD_TIMEOUT_S = 120


@pytest.fixture(autouse=True)
def no_models_left():
    yield
    end_models()


@pytest.fixture
def logged(monkeypatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(obs_filter, "log", lambda level, message: lines.append(message))
    return lines


def named_filter(closed: bool = False) -> Filter:
    """A filter whose source's name is known, as OBS's first call after creating it reads it:
    its lines go out at once."""
    instance = Filter(0, closed=closed)
    instance.label = "Webcam"
    return instance


@pytest.fixture
def a_filter(logged):
    instance = named_filter()
    yield instance
    pipeline = instance.detach_pipeline()
    if pipeline is not None:
        pipeline.close()
    instance.finish_stopping()


def loads_finished() -> None:
    """Wait for every load and for the filters' threads that start a pipeline after one."""
    for thread in threading.enumerate():
        if thread.name in ("obs-bgremover-load", "obs-bgremover-start"):
            thread.join(LOAD_TIMEOUT_S)


def test_a_model_loads_on_a_thread_of_its_own_once_for_all() -> None:
    loading = shared_model("general", "cpu")
    # A network process takes a third of a second at the very least to start and load.
    assert not loading.done(), "shared_model waited for the load"
    assert shared_model("general", "cpu") is loading, "a second filter started a second load"
    model = loading.result(timeout=LOAD_TIMEOUT_S)
    assert isinstance(model, RemoteModel) and model.alive
    assert shared_model("general", "cpu") is loading


def test_a_failed_load_is_reported_and_tried_again(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    failed = shared_model(str(corrupt), "cpu")
    with pytest.raises(ModelError, match="corrupt.onnx"):
        failed.result(timeout=LOAD_TIMEOUT_S)
    again = shared_model(str(corrupt), "cpu")
    assert again is not failed, "a failed load was kept instead of tried again"
    with pytest.raises(ModelError):
        again.result(timeout=LOAD_TIMEOUT_S)


def test_a_stopped_process_is_replaced() -> None:
    first = shared_model("general", "cpu").result(timeout=LOAD_TIMEOUT_S)
    first.kill()
    second = shared_model("general", "cpu").result(timeout=LOAD_TIMEOUT_S)
    assert second is not first and second.alive


def test_unloading_ends_a_process_still_loading_without_waiting_for_it() -> None:
    loading = shared_model("general", "cpu")
    assert not loading.done()
    assert end_models() == 1
    assert not loading.done(), "the unload waited for the process to start"
    model = loading.result(timeout=LOAD_TIMEOUT_S)
    assert not model.alive, "a network process outlived the script"


def test_the_newest_settings_win_over_a_model_still_loading(a_filter, logged) -> None:
    a_filter.update(FilterSettings(model="landscape", device="cpu"))
    assert a_filter.pipeline is None, "update waited for the load"
    a_filter.update(FilterSettings(model="general", device="cpu"))
    loads_finished()
    started = [line for line in logged if " runs on " in line]
    assert len(started) == 1 and started[0].startswith("Webcam: model general runs on"), logged
    assert a_filter.pipeline is not None


def test_a_filter_taken_away_starts_nothing_until_reopened(a_filter, logged) -> None:
    a_filter.update(FilterSettings(model="general", device="cpu"))
    assert a_filter.detach_pipeline() is None
    a_filter.update(FilterSettings(model="general", device="cpu", threshold=0.6))
    a_filter.rebuild()
    loads_finished()
    assert a_filter.pipeline is None, "a pipeline started on a filter taken away"
    assert not [line for line in logged if " runs on " in line], logged
    a_filter.reopen()
    loads_finished()
    assert a_filter.pipeline is not None
    started = [line for line in logged if " runs on " in line]
    assert len(started) == 1 and "threshold 0.60" in started[0], (
        f"not started with the settings given meanwhile: {logged}")


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_model_no_filter_uses_any_more_is_ended(logged) -> None:
    """Switching models ends the old model's process once no filter uses it, rather than
    keeping every model tried until OBS quits; one another filter still uses stays."""
    first, second = named_filter(), named_filter()
    try:
        for instance in (first, second):
            instance.update(FilterSettings(model="general", device="cpu"))
        loads_finished()
        general = shared_model("general", "cpu").result(timeout=LOAD_TIMEOUT_S)
        first.update(FilterSettings(model="landscape", device="cpu"))
        loads_finished()
        assert first.pipeline is not None and general.alive, "ended while a filter used it"
        second.update(FilterSettings(model="landscape", device="cpu"))
        loads_finished()
        _wait_for(lambda: not general.alive, "the general model's process outlived its use")
        assert shared_model("landscape", "cpu").result(timeout=LOAD_TIMEOUT_S).alive
        first.pipeline.submit(np.full((90, 160, 4), 128, np.uint8))
        _wait_for(first.pipeline.latest, "the landscape model mattes a frame")
    finally:
        for instance in (first, second):
            pipeline = instance.detach_pipeline()
            if pipeline is not None:
                pipeline.close()
            instance.finish_stopping()


class _NoGraphics:
    """libobs for `Filter.destroy` outside OBS (libobs loads, but OBS runs no graphics): a
    filter that never drew holds no graphics object, so entering and leaving the graphics
    context is all it asks for."""

    def obs_enter_graphics(self) -> None:
        pass

    def obs_leave_graphics(self) -> None:
        pass


def test_the_last_filter_removed_keeps_its_network_for_the_next(logged, monkeypatch) -> None:
    """Removing the last filter ended its network process, and a filter added again (the same
    one re-made, or moved to another source) started another: in OBS its source was blank for
    0.5-1.3 s, against 0.2 s for the first filter, which finds the process the script's
    description started. A filter removed while another filter still runs ends what only it
    used, as before."""
    first, second = named_filter(), named_filter()
    try:
        first.update(FilterSettings(model="general", device="cpu"))
        second.update(FilterSettings(model="landscape", device="cpu"))
        loads_finished()
        monkeypatch.setattr(obs_filter, "lib", _NoGraphics)
        landscape = shared_model("landscape", "cpu").result(timeout=LOAD_TIMEOUT_S)
        second.destroy()
        _wait_for(lambda: not landscape.alive, "a model no filter used outlived its filter")
        running = shared_model("general", "cpu")
        first.destroy()
        assert shared_model("general", "cpu") is running, "the last filter's network ended"
        assert running.result(timeout=LOAD_TIMEOUT_S).alive
    finally:
        for instance in (first, second):
            instance.finish_stopping()


class _Target:
    """libobs for `Filter.take_frame` outside OBS: the filter's target, as an address."""

    def obs_filter_get_target(self, source: int) -> int:
        return 1


def test_a_frame_read_directly_takes_over_from_frames_staged_from_the_gpu(
        a_filter, monkeypatch) -> None:
    """A clip that sent no frames for a while (paused, or shown again after its item was hidden)
    is read back from the GPU through staging surfaces; frames read from memory took over once
    it played, and two surfaces still staged counted as frames in flight for good: no frame was
    taken again, and in OBS the source stayed blank (seen for over 6 s after its model was
    switched while its scene item was hidden)."""
    a_filter.update(FilterSettings(model="general", device="cpu"))
    loads_finished()
    pipeline = a_filter.pipeline
    assert pipeline is not None
    a_filter.stages = [11, 12, 13]
    a_filter.free_stages = [13]
    a_filter.pending.extend([(11, 0), (12, 1)])  # staged, not yet old enough to map
    monkeypatch.setattr(obs_filter, "lib", _Target)
    monkeypatch.setattr(a_filter, "_reads_frames_directly", lambda target: True)
    bgra = np.full((90, 160, 4), 128, np.uint8)
    frame = libobs.ObsSourceFrame()
    frame.format, frame.width, frame.height = libobs.VIDEO_FORMAT_BGRA, 160, 90
    frame.data[0], frame.linesize[0] = bgra.ctypes.data, 160 * 4
    a_filter.take_frame(ctypes.addressof(frame))
    assert pipeline.stats().submitted == 1, "the frame read from memory was not taken"
    assert not a_filter.pending and sorted(a_filter.free_stages) == [11, 12, 13]
    _wait_for(pipeline.latest, "the frame read from memory is matted")


def test_a_filter_made_closed_keeps_its_settings_until_reopened(logged) -> None:
    instance = named_filter(closed=True)  # as one added while the script is unloaded
    try:
        instance.update(FilterSettings(model="general", device="cpu", threshold=0.6))
        loads_finished()
        assert instance.pipeline is None, "a filter made closed started a pipeline"
        instance.reopen()
        loads_finished()
        started = [line for line in logged if " runs on " in line]
        assert len(started) == 1 and "threshold 0.60" in started[0], logged
    finally:
        pipeline = instance.detach_pipeline()
        if pipeline is not None:
            pipeline.close()
        instance.finish_stopping()


def test_a_device_this_build_lacks_shares_the_process_of_auto(a_filter, logged) -> None:
    """Settings naming a device this onnxruntime lacks (from another machine) run on the best
    one there is, as "auto" does: they once started a second network process for the same
    model on the same CPU, keyed (model, cuda) beside (model, auto). The log says so once, not
    at every later change of a slider."""
    missing = [device for device in PROVIDERS if device not in available_devices()]
    if not missing:
        pytest.skip("every execution provider is available here")
    auto = shared_model("general", "auto")
    assert shared_model("general", missing[0]) is auto, "a second process for the same device"
    if select_providers("cpu") == select_providers("auto"):  # a CPU-only build
        assert shared_model("general", "cpu") is auto, "cpu and auto run alike, apart"
    a_filter.update(FilterSettings(model="general", device=missing[0]))
    a_filter.update(FilterSettings(model="general", device=missing[0], threshold=0.6))
    loads_finished()
    assert a_filter.pipeline is not None and auto.result(timeout=LOAD_TIMEOUT_S).alive
    assert a_filter.engines() == {("general", "auto")}
    said = [line for line in logged if f"device {missing[0]} is not available" in line]
    assert len(said) == 1, logged


def test_a_setting_replaced_when_read_is_said_once(a_filter, logged) -> None:
    """A value out of range (blur -5 sent over obs-websocket) was said again at every later
    change of any other setting: some 60 lines in 2 s of slider moves."""
    note = "blur -5 is outside 1..100; using 1"
    for color in (0xFF0000FF, 0xFF00FF00, 0xFFFF0000):
        a_filter.update(FilterSettings(kind="blur", blur=1, color=color, device="cpu",
                                       notes=(note,)))
    assert logged.count(f"Webcam: setting {note}") == 1, logged
    a_filter.update(FilterSettings(kind="blur", device="cpu"))  # fixed
    a_filter.update(FilterSettings(kind="blur", blur=1, device="cpu", notes=(note,)))
    assert logged.count(f"Webcam: setting {note}") == 2, "sent again after a good value: not said"
    loads_finished()


def test_a_custom_model_not_chosen_yet_is_no_failure(a_filter, logged) -> None:
    """"Custom ONNX file" picked in the list before its file: no "model path . is not a file"
    error (Path("") reads "."), no network process started for it; the running model goes on
    until a file is chosen, and a filter without one passes its input through."""
    a_filter.update(FilterSettings(model="general", device="cpu"))
    loads_finished()
    running = a_filter.pipeline
    assert running is not None
    a_filter.update(FilterSettings(model="custom", device="cpu"))
    a_filter.update(FilterSettings(model="custom", device="cpu", threshold=0.6))
    loads_finished()
    assert a_filter.pipeline is running, "the running model was stopped"
    said = [line for line in logged if "no custom model file chosen yet" in line]
    assert len(said) == 1, logged
    assert not [line for line in logged if "not a file" in line or "passing" in line], logged
    assert ("", "auto") not in models._models, "a network process was started for nothing"
    fresh = named_filter()
    try:
        fresh.update(FilterSettings(model="custom", device="cpu"))
        assert fresh.pipeline is None and fresh.loading is None and fresh.failed
        assert fresh.provider == "nothing: no model file chosen yet"
    finally:
        fresh.finish_stopping()


@pytest.mark.parametrize("kind", ["fails", "wrong-size"])
def test_a_custom_model_that_does_not_work_passes_the_input_through_said_once(
        a_filter, logged, tmp_path: Path, kind: str) -> None:
    """A custom model that loads and then fails on every frame was taken for a dead network
    process and restarted, 23 times a second without end, the source invisible meanwhile; one
    whose alpha is not the frame's size flickered between the composite of the settings before
    and the input, with a traceback in the log."""
    model = broken_graph(tmp_path / f"{kind}.onnx", kind)
    a_filter.update(FilterSettings(model="general", device="cpu"))
    loads_finished()
    a_filter.size = (160, 90)
    a_filter.shown = (a_filter.pipeline, 0)  # the general model's composite on screen
    a_filter.update(FilterSettings(model="custom", model_path=str(model), device="cpu"))
    loads_finished()
    for _ in range(10):
        a_filter.pipeline.submit(np.full((90, 160, 4), 128, np.uint8))
        time.sleep(0.1)
        assert not a_filter._upload_result(), "a composite was shown"
    said = [line for line in logged if "the network fails on frames" in line]
    assert len(said) == 1 and "Traceback" not in said[0], logged
    assert not [line for line in logged if "starting it again" in line], logged
    assert a_filter.failed and a_filter.shown is None


def test_a_new_filters_lines_wait_a_while_for_its_sources_name(logged) -> None:
    """OBS gives a filter its source only after creating it: the notes on its first settings
    (a value replaced, "no custom model file chosen yet") named no source. They wait for the
    name, and go out without it after `UNNAMED_WAIT_S` if none comes."""
    instance = Filter(0)
    instance.say(0, "setting blur -5 is outside 1..100; using 1")
    assert logged == []
    instance.label = "Webcam"
    instance.say(0, "model general runs on CPUExecutionProvider")
    assert logged == ["Webcam: setting blur -5 is outside 1..100; using 1",
                      "Webcam: model general runs on CPUExecutionProvider"]
    unnamed = Filter(0)
    unnamed.say(0, "low latency on")
    unnamed.created -= obs_filter.UNNAMED_WAIT_S
    unnamed.say(0, "low latency off")
    assert logged[2:] == ["low latency on", "low latency off"]


def test_a_load_says_what_the_source_shows_meanwhile(a_filter, logged) -> None:
    """A new filter shows nothing until its first matte, not what it showed before: its line
    said "the filter goes on as it was until then" all the same."""
    a_filter.update(FilterSettings(model="general", device="cpu"))
    loads_finished()
    a_filter.update(FilterSettings(model="landscape", device="cpu"))
    loads_finished()
    loading = [line for line in logged if "loading model" in line]
    assert loading == [
        "Webcam: loading model general on auto; the source shows nothing until then",
        "Webcam: loading model landscape on auto; the filter goes on as it was until then",
    ], logged


class _Sizeless:
    """libobs for `Filter.render` outside OBS: a source with no size yet, so that a frame draws
    nothing and asks OBS nothing more."""

    def obs_filter_get_target(self, source: int) -> int:
        return 0

    def obs_filter_get_parent(self, source: int) -> int:
        return 0


def test_a_dragged_slider_lets_each_new_pipeline_show_its_first_matte(
    a_filter, logged, monkeypatch
) -> None:
    """A slider dragged in the properties sends a change at every frame. Each one replaced the
    pipeline before its first matte, so the composite from before the drag stayed on screen
    and the person stood frozen for the whole drag (5 s of threshold moves in OBS: 3 s without
    a new picture). A change waits for the first matte of the one before instead, and the
    newest settings follow it, started by the next frame drawn."""
    monkeypatch.setattr(obs_filter, "lib", _Sizeless)
    a_filter.update(FilterSettings(model="general", device="cpu"))
    loads_finished()
    before = a_filter.pipeline
    assert before is not None
    a_filter.shown = (before, 0)  # its matte on screen, as `_upload_result` leaves it
    a_filter.update(FilterSettings(model="general", device="cpu", threshold=0.6))
    first = a_filter.pipeline
    assert first is not None and first is not before
    for threshold in (0.65, 0.7):  # the drag goes on before that pipeline's first matte
        a_filter.update(FilterSettings(model="general", device="cpu", threshold=threshold))
    assert a_filter.pipeline is first, "replaced before it showed anything"
    a_filter.render()
    assert a_filter.pipeline is first, "the wait ended before that first matte"
    a_filter.shown = (first, 0)  # it is shown: the newest settings start at the next frame
    a_filter.render()
    assert a_filter.pipeline is not first
    started = [line for line in logged if " runs on " in line]
    assert len(started) == 3 and "threshold 0.70" in started[-1], logged
    # A pipeline that shows nothing for DEFER_MAX_S (its source hidden) holds no change up.
    newest = a_filter.pipeline
    a_filter.pipeline_since -= obs_filter.DEFER_MAX_S
    a_filter.update(FilterSettings(model="general", device="cpu", threshold=0.4))
    assert a_filter.pipeline is not newest


class _Chain:
    """libobs for `Filter._say_behind` outside OBS: a webcam (1, async) whose filter list
    puts "Color Correction" (2) before ours."""

    def obs_filter_get_parent(self, source: int) -> int:
        return 1

    def obs_source_get_output_flags(self, source: int) -> int:
        return libobs.OBS_SOURCE_ASYNC if source == 1 else 0

    def obs_source_get_name(self, source: int) -> bytes:
        return {1: b"Webcam", 2: b"Color Correction"}[source]


def test_a_filter_before_ours_on_a_webcam_is_named_once(a_filter, logged, monkeypatch) -> None:
    """A Color Correction put before the filter on a webcam sends its picture through the GPU
    and back at every frame (~40 ms a frame at 720p under software rendering, against well
    under one with the filter first), and the log said nothing of it."""
    monkeypatch.setattr(obs_filter, "lib", _Chain)
    for _ in range(3):  # every frame
        a_filter._say_behind(2)
    said = [line for line in logged if "comes before this filter" in line]
    assert len(said) == 1 and said[0].startswith('Webcam: "Color Correction" comes before'), logged
    a_filter._say_behind(1)  # first again: nothing to say
    assert len([line for line in logged if "comes before this filter" in line]) == 1
