"""The synchronous and live pipelines on real frames with the real model."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import tracemalloc
from itertools import islice, pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import broken_graph

from obs_bgremover.cli import SAMPLE
from obs_bgremover.composite import BlurBackground, Compositor, TransparentBackground
from obs_bgremover.errors import BgRemoverError, InputError, ModelError
from obs_bgremover.media import open_frames
from obs_bgremover.model import MattingModel
from obs_bgremover.pipeline import (
    STATS_WINDOW,
    LivePipeline,
    LiveResult,
    Pipeline,
    PipelineSettings,
    try_model,
)
from obs_bgremover.temporal import TemporalSettings


@pytest.fixture(scope="module")
def model(model_path: Path) -> MattingModel:
    return MattingModel(model_path, device="cpu")


def test_sample_clip_gives_one_alpha_per_frame(model: MattingModel) -> None:
    pipeline = Pipeline(model)
    for _, frame in islice(open_frames(SAMPLE), 5):
        alpha = pipeline.process(frame)
        assert alpha.dtype == np.uint8 and alpha.shape == frame.shape[:2] == (480, 854)


def test_real_portraits_are_cut_out(model: MattingModel, shared_data: Path) -> None:
    """A smoke test of quality, over several images so that no single one decides it."""
    folder = shared_data / "portraits-dev"
    ious = []
    for name, frame in islice(open_frames(folder / "images"), 10):
        person = Pipeline(model).process(frame) > 127
        truth = cv2.imread(str(folder / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE) > 127
        ious.append((person & truth).sum() / (person | truth).sum())
    assert np.mean(ious) > 0.8


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> list[np.ndarray]:
    """Ten consecutive real frames (DAVIS 'lucia', 854x480)."""
    folder = shared_data / "davis-person" / "lucia" / "frames"
    return [frame for _, frame in islice(open_frames(folder), 10)]


def wait_for(live: LivePipeline, index: int, timeout: float = 30.0) -> LiveResult:
    """Poll until the result of submission `index` (or a later one) is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = live.latest()
        if result is not None and result.index >= index:
            return result
        time.sleep(0.002)
    raise AssertionError(f"no result for frame {index} within {timeout} s")


class Counting:
    """The model, counting its runs: whether the network really ran, apart from what each
    result says of itself (`Matte.fresh`)."""

    def __init__(self, model: MattingModel) -> None:
        self.model, self.calls = model, 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.model(frame)


def live_threads() -> int:
    return sum(thread.name == "obs-bgremover-live" for thread in threading.enumerate())


def test_results_carry_their_frame(model: MattingModel, clip: list[np.ndarray]) -> None:
    counted = Counting(model)
    pipeline = Pipeline(counted)
    for frame in clip[:3]:
        matte = pipeline.run(frame)
        assert matte.frame is frame and matte.fresh
        assert matte.alpha.shape == frame.shape[:2]
    assert counted.calls == 3


def test_smoothing_is_on_by_default(model: MattingModel, clip: list[np.ndarray]) -> None:
    default = Pipeline(model)
    smoothed = [default.process(frame) for frame in clip[:2]]
    off = Pipeline(model, PipelineSettings(temporal=TemporalSettings(strength=0)))
    raw = [off.process(frame) for frame in clip[:2]]
    assert np.array_equal(smoothed[0], raw[0])
    assert not np.array_equal(smoothed[1], raw[1])


def test_every_second_frame_halves_the_network_calls(
    model: MattingModel, clip: list[np.ndarray]
) -> None:
    counted = Counting(model)
    pipeline = Pipeline(counted, PipelineSettings(every_n=2))
    fresh = [pipeline.run(frame).fresh for frame in clip]
    assert counted.calls == len(clip) // 2
    assert fresh == [True, False] * (len(clip) // 2)


def test_a_still_picture_skips_the_network(model: MattingModel, clip: list[np.ndarray]) -> None:
    counted = Counting(model)
    pipeline = Pipeline(counted, PipelineSettings(skip_static=True))
    mattes = [pipeline.run(frame) for frame in [clip[0]] * 4]
    assert counted.calls == 1
    assert [matte.fresh for matte in mattes] == [True, False, False, False]
    assert pipeline.run(clip[9]).fresh
    pipeline.reset()
    assert pipeline.run(clip[9]).fresh


def test_a_new_shot_starts_afresh(model: MattingModel, shared_data: Path,
                                  clip: list[np.ndarray]) -> None:
    """Two unrelated portraits in one stream (the next photo of a `matte` folder, a cut in a
    video): the second gets the matte it gets alone, not one blended with the first's, and a
    network run of its own even between ``every_n`` runs. Motion within a shot (DAVIS) is no
    cut: the matte stays smoothed."""
    portraits = [frame for _, frame in islice(open_frames(shared_data / "portraits-dev" /
                                                         "images"), 4)]
    for first, second in pairwise(portraits):
        assert first.shape == second.shape
        stream = Pipeline(model)
        stream.process(first)
        assert np.array_equal(stream.process(second), Pipeline(model).process(second))
        every_other = Pipeline(model, PipelineSettings(every_n=2))
        every_other.run(first)
        assert every_other.run(second).fresh
    stream = Pipeline(model)
    smoothed = [stream.process(frame) for frame in clip]
    assert not np.array_equal(smoothed[-1], Pipeline(model).process(clip[-1]))


def test_bad_settings_are_refused() -> None:
    for bad in (0, True, 2.0):
        with pytest.raises(BgRemoverError, match="every_n"):
            PipelineSettings(every_n=bad)


def test_numpy_numbers_are_settings_like_any_other() -> None:
    """A count read from an array (a config loaded with numpy) was refused as not whole."""
    assert PipelineSettings(every_n=np.int64(2)).every_n == 2


def test_a_frame_in_another_memory_layout_is_matted(model: MattingModel,
                                                     clip: list[np.ndarray]) -> None:
    """A transposed or Fortran-ordered array raised OpenCV's own "Bad argument" error."""
    pipeline = Pipeline(model, compositor=Compositor(BlurBackground()))
    expected = Pipeline(model, compositor=Compositor(BlurBackground()))
    result = pipeline.run(np.asfortranarray(clip[0]))
    assert np.array_equal(result.composite, expected.run(clip[0]).composite)


def test_live_matches_the_synchronous_pipeline(model: MattingModel, clip: list[np.ndarray]) -> None:
    """Frame by frame, with nothing dropped, the live pipeline gives the sync one's mattes."""
    sync = Pipeline(model)
    expected = [sync.process(frame) for frame in clip[:4]]
    with LivePipeline(model) as live:
        for index, frame in enumerate(clip[:4]):
            live.submit(frame)
            result = wait_for(live, index)
            assert result.index == index
            assert np.array_equal(result.frame, frame)
            assert np.array_equal(result.alpha, expected[index])
            assert live.in_flight() == 0
        stats = live.stats()
    assert stats.processed == stats.submitted == 4 and stats.dropped == 0
    assert stats.latency_ms > 0 and stats.matte_ms > 0 and stats.temporal_ms > 0
    assert stats.edge_colours_ms == 0  # nothing packed


def test_a_live_worker_whose_wake_up_was_lost_still_takes_the_frame(
        model: MattingModel, clip: list[np.ndarray]) -> None:
    """A SIGTERM's exception on the caller's thread (the camera's) in the midst of `submit`'s
    wake-up can lose it, and the worker slept for good (`close` then hung joining it). Here the
    wake-up is lost the same way: the worker is taken off the condition's list of sleepers."""
    results: list[LiveResult] = []

    def run() -> None:
        with LivePipeline(model) as live:
            deadline = time.monotonic() + 5
            while not live._lock._waiters:  # type: ignore[attr-defined]
                assert time.monotonic() < deadline
                time.sleep(0.01)
            with live._lock:  # type: ignore[attr-defined]
                live._lock._waiters.clear()  # type: ignore[attr-defined]
            live.submit(clip[0])
            results.append(wait_for(live, 0, timeout=5))

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=15)
    assert not runner.is_alive() and len(results) == 1, "the worker never woke up"


def test_rgba_packs_the_frame_with_its_own_matte(model: MattingModel,
                                                 clip: list[np.ndarray]) -> None:
    """What the OBS filter uploads as one texture: the alpha's frame, the alpha as channel 4."""
    with LivePipeline(model, rgba=True) as live:
        live.submit(clip[0])
        result = wait_for(live, 0)
    assert result.rgba is not None and result.rgba.shape == (*clip[0].shape[:2], 4)
    assert np.array_equal(result.rgba[..., :3], clip[0])
    assert np.array_equal(result.rgba[..., 3], result.alpha)
    with LivePipeline(model) as live:
        live.submit(clip[0])
        assert wait_for(live, 0).rgba is None  # nothing packed that nobody asked for


def test_rgba_can_carry_the_persons_edge_colours(model: MattingModel,
                                                 clip: list[np.ndarray]) -> None:
    """For a host that blends on its GPU (OBS): the packed frame's soft edge holds the
    person's estimated colours, the very ones `replace` blends, so no fringe of the old
    background shows in hair; elsewhere it is the frame."""
    with LivePipeline(model, rgba=True, edge_colours=True) as live:
        live.submit(clip[0])
        result = wait_for(live, 0)
        assert live.stats().edge_colours_ms > 0  # said in OBS's timing line
    transparent = Pipeline(model, compositor=Compositor(TransparentBackground()))
    assert np.array_equal(result.rgba, transparent.run(clip[0]).composite)
    band = (result.alpha > 0) & (result.alpha < 255)
    assert np.count_nonzero(band) > 1000
    assert np.array_equal(result.rgba[~band][:, :3], clip[0][~band])
    assert np.mean(np.any(result.rgba[band][:, :3] != clip[0][band], axis=1)) > 0.5


def test_a_frame_with_its_own_alpha_keeps_it_in_the_packed_matte(
    model: MattingModel, clip: list[np.ndarray]
) -> None:
    """A partly transparent OBS source (a PNG cut-out, an opacity filter): what it leaves
    transparent must stay so, not turn into a black block where the network sees a person."""
    coverage = np.full(clip[0].shape[:2], 255, np.uint8)
    coverage[:, : coverage.shape[1] // 2] = 0
    coverage[:, coverage.shape[1] // 2 : coverage.shape[1] // 2 + 8] = 128
    with LivePipeline(model, rgba=True) as live:
        live.submit(np.dstack([clip[0], coverage]))
        result = wait_for(live, 0)
    visible = coverage > 0  # what the source hides is filled from around it
    assert np.array_equal(result.frame[visible], clip[0][visible])
    assert np.array_equal(result.rgba[..., :3], result.frame)
    network = Pipeline(model).process(clip[0])
    assert network[:, : coverage.shape[1] // 2].max() > 200, "the network saw the person"
    expected = np.round(network.astype(float) * coverage / 255)
    assert np.abs(result.alpha - expected).max() <= 1
    assert np.array_equal(result.rgba[..., 3], result.alpha)


def test_the_live_pipeline_holds_a_few_frames_not_a_window_of_them(
    model: MattingModel, clip: list[np.ndarray]
) -> None:
    """Its statistics kept each of the last 30 results whole, frame and alpha: 105 MB at 720p
    for every OBS filter, for nothing but their timings."""
    frames = [clip[index % len(clip)] for index in range(STATS_WINDOW + 5)]
    tracemalloc.start()
    try:
        with LivePipeline(model) as live:
            for index, frame in enumerate(frames):
                live.submit(frame)
                wait_for(live, index)
            held = tracemalloc.get_traced_memory()[0]
            assert live.stats().matte_ms > 0
    finally:
        tracemalloc.stop()
    assert held < 10 * frames[0].nbytes, f"{held / frames[0].nbytes:.0f} frames' worth held"


def test_live_reset_starts_the_matte_afresh(model: MattingModel, clip: list[np.ndarray]) -> None:
    """After a cut (a looping file restarting), the next matte is the network's own, with
    nothing of the frames before it smoothed in."""
    with LivePipeline(model) as live:
        for index, frame in enumerate(clip[:3]):
            live.submit(frame)
            wait_for(live, index)
        live.reset()
        live.submit(clip[0])
        result = wait_for(live, 3)
    assert np.array_equal(result.alpha, model(clip[0]))


def test_submit_never_waits_for_inference(model: MattingModel, clip: list[np.ndarray]) -> None:
    start = time.perf_counter()
    for frame in clip[:3]:
        model(frame)
    inference = (time.perf_counter() - start) / 3
    frames = [clip[index % len(clip)] for index in range(20)]
    with LivePipeline(model) as live:
        start = time.perf_counter()
        for frame in frames:
            live.submit(frame)
        submitting = time.perf_counter() - start
        result = wait_for(live, 19)
        stats = live.stats()
    assert submitting < 20 * inference / 10  # twenty submits cost less than two inferences
    # One frame in inference and one waiting at most; every other frame was dropped, not queued.
    assert stats.submitted - stats.processed - stats.dropped == 0
    assert stats.dropped >= 20 - 3
    assert result.index == 19 and np.array_equal(result.frame, frames[19])


def test_the_network_s_own_rate_leaves_out_reused_mattes(model: MattingModel,
                                                        clip: list[np.ndarray]) -> None:
    """The camera's status line showed the rate of results as the network's: 25 fps while
    ``skip_static`` had run the network once in 126 frames. And two results a millisecond
    apart made a rate of a thousand a second."""
    with LivePipeline(model, PipelineSettings(every_n=2)) as live:
        live.submit(clip[0])
        wait_for(live, 0)
        assert live.stats().fps == live.stats().network_fps == 0  # one result: no rate
        started = time.monotonic()
        index = 0
        while time.monotonic() - started < 1.0:
            index += 1
            live.submit(clip[index % len(clip)])
            wait_for(live, index)
        stats = live.stats()
    assert stats.fps > 0
    assert stats.network_fps == pytest.approx(stats.fps / 2, rel=0.25)


def test_worker_errors_reach_the_caller(model: MattingModel, clip: list[np.ndarray]) -> None:
    with LivePipeline(model) as live:
        live.submit(clip[0].astype(np.float32))
        deadline = time.monotonic() + 30
        with pytest.raises(InputError, match="uint8"):
            while time.monotonic() < deadline:
                live.latest()
                time.sleep(0.002)
        assert live.latest() is None  # raised once, then cleared
        live.submit(clip[1])
        assert np.array_equal(wait_for(live, 1).frame, clip[1])
        assert live.stats().errors == 1


def test_close_joins_the_worker(model: MattingModel, clip: list[np.ndarray]) -> None:
    before = live_threads()
    live = LivePipeline(model)
    live.submit(clip[0])
    assert live_threads() == before + 1
    live.close()
    live.close()
    assert live_threads() == before
    with pytest.raises(BgRemoverError, match="closed"):
        live.submit(clip[1])


def test_stop_leaves_the_frame_in_inference_to_the_worker(model: MattingModel,
                                                          clip: list[np.ndarray]) -> None:
    """What the OBS filter does on its graphics thread at a settings change: stop the old
    pipeline without waiting for its frame in inference; `close` waits for it later."""
    frame = cv2.resize(clip[0], (3840, 2160))  # an inference of tens of milliseconds
    start = time.perf_counter()
    model(frame)
    inference = time.perf_counter() - start
    live = LivePipeline(model)
    live.submit(frame)
    time.sleep(inference / 4)  # the worker is in inference now
    start = time.perf_counter()
    live.stop()
    stopping = time.perf_counter() - start
    assert live.running, "stop waited for the frame in inference"
    assert stopping < inference / 4
    live.close()
    assert not live.running
    with pytest.raises(BgRemoverError, match="closed"):
        live.submit(clip[1])


def test_live_every_second_frame_halves_the_network_calls(
    model: MattingModel, clip: list[np.ndarray]
) -> None:
    with LivePipeline(model, PipelineSettings(every_n=2)) as live:
        for index, frame in enumerate(clip):
            live.submit(frame)
            wait_for(live, index)
        assert live.stats().network_calls == len(clip) // 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_nice_runs_only_the_network_at_lower_priority(
    model: MattingModel, clip: list[np.ndarray]
) -> None:
    """With ``nice``, the real model runs on a thread of its own that is that much less urgent,
    and gives the same mattes; the rest of the worker stays at the caller's priority."""
    seen: dict[str, int] = {}

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def network(frame: np.ndarray) -> np.ndarray:
        seen["network"] = niceness()
        return model(frame)

    def prepare(frame: np.ndarray) -> np.ndarray:
        seen["worker"] = niceness()
        return frame

    expected = Pipeline(model).process(clip[0])
    with LivePipeline(network, nice=5) as live:
        live.submit(clip[0], prepare)
        result = wait_for(live, 0)
    assert np.array_equal(result.alpha, expected)
    assert seen == {"worker": niceness(), "network": min(19, niceness() + 5)}


@pytest.mark.parametrize(("kind", "message"), [
    ("fails", "model graph failed on a 64x48 frame: "),
    ("wrong-size", "the model gave a uint8 alpha of shape (1, 1) for a frame of shape (48, 64)"),
])
def test_a_model_that_loads_and_does_not_work_is_found_before_use(
        tmp_path: Path, kind: str, message: str) -> None:
    """The camera's config file could name one: it replaced the model that worked, and the
    stream stopped with a traceback."""
    model = MattingModel(broken_graph(tmp_path / "graph.onnx", kind), "cpu")
    with pytest.raises(ModelError, match=re.escape(message)):
        try_model(model, (64, 48))
    with pytest.raises(ModelError):  # and in use, every front end's pipeline says so
        Pipeline(model).process(np.zeros((48, 64, 3), np.uint8))
