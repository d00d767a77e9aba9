"""Time the matting graph alone and the whole step, frame -> composited frame, at 1280x720 and
1920x1080, the sizes OBS canvases use.

The frames are real footage in motion, so that data-dependent work costs what it costs on a
webcam: the bundled sample clip (854x480, 16:9 like both sizes; a person walking, the camera
following), resized, each variant playing it in order and in a loop. A still frame would leave
temporal smoothing almost nothing to do: on 2026-12-06 the step took 15.3 ms on the clip's first
frame repeated against 17.2 ms on the clip at 720p, 19.7 against 22.6 ms at 1080p. "graph" times
`MattingModel.__call__`; each "step:KIND" times `Pipeline.run` with temporal smoothing and a
compositor over that background kind, exactly what `replace` does per frame. Variants are timed
in turn, round-robin within each size, so a noisy shared machine slows them alike. After warm-up
runs, the median and the 90th percentile are reported, and the median CPU time the process spent
in a call (all its threads: onnxruntime's workers, a video background's decoder), which is what a
step costs a streamer's CPU beside OBS; the last line printed is one JSON object.
The first line is the machine's memory copy speed, to compare figures taken on different days.

With ``--mediapipe-loop``, each size also times the usual MediaPipe + numpy loop, the yardstick
our speed targets are stated against (about 21 ms at 720p and 44 ms at 1080p on the machine
they were set on): Google's own ``.tflite`` Selfie Segmentation from the pinned mediapipe wheel,
run by LiteRT with XNNPACK as MediaPipe runs it, its mask resized bilinearly to the frame, and a
float numpy blend over the image background. Timed in the same round-robin, it gives our figures
as a ratio that holds across machines: each size's last line says what share of the loop's time
the step with an image background takes, and what share its target allows. It needs the dev
extras (``ai-edge-litert``) and the wheel (``--wheel``, else pip downloads it).

With ``--render``, it also times the render worker's job on a 10 s 1080p30 clip (the sample,
scaled up and looped) with the image background, ``--render-runs`` times: the median seconds a
user waits for a render, the fastest and slowest, and the real-time factor (render time over
clip length; 1.0 renders as fast as the clip plays).

With ``--web``, it times the same clip through the web app (``obs-bgremover serve`` as it starts
by default, driven over its JSON API as the page drives it): upload to the first preview shown,
and the render from queuing to the result downloadable.

    python scripts/bench.py [--model general|landscape|PATH] [--device cpu] [--runs 50] [--spin]
                            [--mediapipe-loop [--wheel PATH]] [--render [--render-runs N]] [--web]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import convert_mediapipe
import cv2
import numpy as np
from clip_writer import write_clip

from obs_bgremover.backgrounds import parse_background, picture
from obs_bgremover.cli import SAMPLE, add_model_arguments, model_from_args
from obs_bgremover.composite import Compositor
from obs_bgremover.media import open_frames
from obs_bgremover.model import MattingModel
from obs_bgremover.pipeline import Pipeline
from obs_bgremover.render import FINISHED, JobStatus, RenderSettings, render_video

SIZES = ((1280, 720), (1920, 1080))
# The speed targets for the whole step with an image background, and what the usual MediaPipe +
# numpy loop took on the machine they were set on: with --mediapipe-loop a target is read as that
# share of the loop timed in the same run, which holds on a machine whose speed varies by hour.
TARGETS_MS = {(1280, 720): (10.0, 21.0), (1920, 1080): (20.0, 44.0)}
BACKGROUNDS = {"image": "studio", "video": "flow", "blur": "blur", "light-blur": "blur:10",
               "color": "color:#00B140"}


def playing(frames: list[np.ndarray]) -> Iterator[tuple[np.ndarray, float]]:
    """``frames`` in order, looped for ever, each with its time in seconds at 30 fps."""
    for index in itertools.count():
        yield frames[index % len(frames)], index / 30


def variants(model: MattingModel, frames: list[np.ndarray]) -> dict[str, Callable[[], object]]:
    """What to time, each playing ``frames`` on its own: the graph, then one whole step per
    background kind."""
    graph = playing(frames)
    calls: dict[str, Callable[[], object]] = {"graph": lambda: model(next(graph)[0])}
    for kind, spec in BACKGROUNDS.items():
        pipeline = Pipeline(model, compositor=Compositor(parse_background(spec)))
        clip = playing(frames)
        calls[f"step:{kind}"] = lambda pipeline=pipeline, clip=clip: pipeline.run(*next(clip))
    return calls


class MediaPipeLoop:
    """One frame of the loop most MediaPipe-based background scripts run: segment, resize the
    mask to the frame, blend in float numpy. Google's network runs as MediaPipe runs it (LiteRT,
    XNNPACK), so the figure stands for that loop, not for our conversion of the network."""

    def __init__(self, tflite: bytes, background: np.ndarray) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=tflite, num_threads=os.cpu_count())
        self.interpreter.allocate_tensors()
        (self.input,) = self.interpreter.get_input_details()
        (self.output,) = self.interpreter.get_output_details()
        self.background = background

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        height, width = self.input["shape"][1:3]
        small = cv2.resize(frame, (width, height)).astype(np.float32) / 255
        self.interpreter.set_tensor(self.input["index"], small[np.newaxis])
        self.interpreter.invoke()
        mask = self.interpreter.get_tensor(self.output["index"])[0, :, :, 0]
        mask = cv2.resize(mask, (frame.shape[1], frame.shape[0]))[..., np.newaxis]
        return (frame * mask + self.background * (1 - mask)).astype(np.uint8)


def mediapipe_tflite(model: MattingModel, wheel: Path | None, folder: Path) -> bytes:
    """The .tflite behind ``model``'s base network (the landscape one for the landscape graph,
    else the general one), read from the pinned mediapipe wheel."""
    wheel = wheel or convert_mediapipe.download_wheel(folder)
    name = "selfie_segmentation_landscape" if "landscape" in model.path.name else (
        "selfie_segmentation")
    return convert_mediapipe.read_tflite(wheel, name)


def copy_speed(megabytes: int = 64, runs: int = 5) -> float:
    """GB/s of a plain memory copy, best of ``runs``: most of the step beside the graph is whole
    passes over frames, so this says how a machine's figures compare with another's (the shared
    machines have differed twofold from one day to the next)."""
    source = np.ones(megabytes << 20, np.uint8)
    target = np.empty_like(source)
    best = min(_seconds(lambda: np.copyto(target, source))[0] for _ in range(runs))
    return round(source.nbytes / best / 1e9, 1)


def _seconds(call: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call; the CPU time is the whole process's, so the
    network's worker threads count too."""
    start, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - start, time.process_time() - cpu


def summary(ms: list[float], cpu_ms: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(statistics.quantiles(ms, n=10)[-1], 1),
        "cpu_median_ms": round(statistics.median(cpu_ms), 1),
    }


def render_input(sample: list[np.ndarray], clip: Path) -> Path:
    """A 10 s 1080p30 H.264 clip: the sample, scaled up and looped."""
    frames = (cv2.resize(sample[index % len(sample)], (1920, 1080)) for index in range(300))
    return write_clip(clip, frames, 30)


def time_render(sample: list[np.ndarray], args: argparse.Namespace) -> dict[str, float]:
    """Seconds to render a 10 s 1080p30 clip through the render job, as the worker runs it:
    the median of ``args.render_runs`` renders, as one render's time varies by a fifth on a
    shared machine."""
    with tempfile.TemporaryDirectory() as folder:
        clip = render_input(sample, Path(folder) / "clip.mp4")
        settings = RenderSettings(BACKGROUNDS["image"], model=args.model, device=args.device)
        runs = []
        for _ in range(args.render_runs):
            start = time.perf_counter()
            result = render_video(clip, Path(folder) / "render.mp4", settings)
            runs.append(time.perf_counter() - start)
    seconds = statistics.median(runs)
    print(f"render of a 10 s 1080p30 clip: median {seconds:.1f} s of {len(runs)} "
          f"({min(runs):.1f}-{max(runs):.1f} s, {result.frames} frames), "
          f"real-time factor {seconds / result.seconds:.2f}")
    return {"seconds": round(seconds, 1), "min_seconds": round(min(runs), 1),
            "max_seconds": round(max(runs), 1), "runs": len(runs),
            "real_time_factor": round(seconds / result.seconds, 2)}


def _call(url: str, method: str = "GET", body: bytes | None = None,
          content_type: str = "application/json") -> dict:
    request = urllib.request.Request(url, body, {"Content-Type": content_type}, method=method)
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def _finish(url: str, job: dict) -> dict:
    """Poll a job of the web app until it is done, as the page does."""
    while job["status"] not in FINISHED:
        time.sleep(0.1)
        job = _call(f"{url}/api/jobs/{job['id']}")
    if job["status"] != JobStatus.DONE:
        raise SystemExit(f"web job {job['status']}: {job['error']}")
    urllib.request.urlopen(url + job["result_url"], timeout=60).read()
    return job


@contextmanager
def _web_app(folder: Path) -> Iterator[str]:
    """``obs-bgremover serve`` on a free port with its data in ``folder``; its address."""
    server = subprocess.Popen(
        [sys.executable, "-m", "obs_bgremover", "serve", "--port", "0"],
        env={**os.environ, "OBS_BGREMOVER_DATA": str(folder)}, stdout=subprocess.PIPE,
        text=True)
    try:
        line = server.stdout.readline()
        if "open http" not in line:
            raise SystemExit(f"serve did not start: {line}")
        yield line.split("open ")[1].strip().rstrip("/")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)


def time_web(sample: list[np.ndarray]) -> dict[str, float]:
    """Through the web app, as its page drives it: the seconds from the start of an upload of
    a 10 s 1080p30 clip to its first preview shown, and the render of the whole clip."""
    with tempfile.TemporaryDirectory() as folder:
        clip = render_input(sample, Path(folder) / "clip.mp4")
        megabytes = clip.stat().st_size / 1e6
        with _web_app(Path(folder) / "data") as url:
            start = time.perf_counter()
            upload = _call(f"{url}/api/uploads?name=clip.mp4", "POST", clip.read_bytes(),
                           "application/octet-stream")
            order = {"upload": upload["id"], "background": BACKGROUNDS["image"]}
            preview = json.dumps({**order, "kind": "preview", "at": 0}).encode()
            _finish(url, _call(f"{url}/api/jobs", "POST", preview))
            first_preview = time.perf_counter() - start
            start = time.perf_counter()
            video = json.dumps({**order, "kind": "video"}).encode()
            job = _finish(url, _call(f"{url}/api/jobs", "POST", video))
            render = time.perf_counter() - start
    print(f"web app: upload of a 10 s 1080p30 clip ({megabytes:.1f} MB) to its "
          f"first preview {first_preview:.1f} s; render {render:.1f} s ({job['frames_total']} "
          f"frames, real-time factor {render / 10:.2f})")
    return {"upload_to_first_preview_s": round(first_preview, 2), "render_s": round(render, 1),
            "real_time_factor": round(render / 10, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser, device="cpu")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per variant")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    parser.add_argument("--spin", action="store_true",
                        help="let onnxruntime's threads spin between steps, as `matte` runs the "
                        "network (replace, render, the camera and OBS do not: an encoder or a "
                        "renderer shares the CPU there)")
    parser.add_argument("--mediapipe-loop", action="store_true",
                        help="also time the usual MediaPipe + numpy loop (needs the dev extras)")
    parser.add_argument("--wheel", type=Path,
                        help="the mediapipe==0.10.14 wheel for --mediapipe-loop (default: pip "
                        "downloads it)")
    parser.add_argument("--render", action="store_true", help="also time a 10 s 1080p30 render")
    parser.add_argument("--render-runs", type=int, default=3, metavar="N",
                        help="renders timed for --render; the median is reported (default: "
                        "%(default)s)")
    parser.add_argument("--web", action="store_true",
                        help="also time upload to first preview, and a 10 s 1080p30 render, "
                        "through the web app (obs-bgremover serve; its workers choose the device)")
    args = parser.parse_args()
    if args.render_runs < 1:
        parser.error(f"--render-runs must be at least 1, got {args.render_runs}")
    model = model_from_args(args, spin=args.spin)
    sample = [frame for _, frame in open_frames(SAMPLE)]
    report: dict[str, object] = {
        "model": str(model.path),
        "provider": model.provider,
        "spin": args.spin,
        "cpu_count": os.cpu_count(),
        "copy_gb_per_s": copy_speed(),
        "runs": args.runs,
    }
    print(f"memory copy {report['copy_gb_per_s']} GB/s on {os.cpu_count()} cores")
    tflite = None
    if args.mediapipe_loop:
        with tempfile.TemporaryDirectory() as folder:
            tflite = mediapipe_tflite(model, args.wheel, Path(folder))
    for width, height in SIZES:
        frames = [cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
                  for frame in sample]
        calls = variants(model, frames)
        if tflite is not None:
            with parse_background(BACKGROUNDS["image"]) as background:
                loop = MediaPipeLoop(tflite, picture(background, (width, height)))
            clip = playing(frames)
            calls["mediapipe+numpy"] = lambda loop=loop, clip=clip: loop(next(clip)[0])
        for call in calls.values():
            for _ in range(args.warmup):
                call()
        ms: dict[str, list[float]] = {name: [] for name in calls}
        cpu_ms: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.runs):
            for name, call in calls.items():
                wall, cpu = _seconds(call)
                ms[name].append(1000 * wall)
                cpu_ms[name].append(1000 * cpu)
        for name, values in ms.items():
            result = summary(values, cpu_ms[name])
            report[f"{width}x{height} {name}"] = result
            print(f"{width}x{height} {name:15} median {result['median_ms']:6.1f} ms, "
                  f"p90 {result['p90_ms']:6.1f} ms, CPU {result['cpu_median_ms']:6.1f} ms")
        if tflite is not None:
            target, reference = TARGETS_MS[(width, height)]
            share = statistics.median(ms["step:image"]) / statistics.median(ms["mediapipe+numpy"])
            report[f"{width}x{height} step:image / mediapipe+numpy"] = round(share, 3)
            print(f"{width}x{height} step:image takes {share:.0%} of the MediaPipe loop's time "
                  f"(target {target / reference:.0%}: {target:g} ms where it took {reference:g})")
    if args.render:
        report["render 10 s 1080p30"] = time_render(sample, args)
    if args.web:
        report["web 10 s 1080p30"] = time_web(sample)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
