"""Time the matting graph alone and the whole step, frame -> composited frame, at 1280x720 and
1920x1080, the sizes OBS canvases use.

The frame is real footage, so that any data-dependent work costs what it costs on a webcam: the
first frame of the bundled sample clip (854x480, 16:9 like both sizes), resized. "graph" times
`MattingModel.__call__`; each "step:KIND" times `Pipeline.run` with temporal smoothing and a
compositor over that background kind, exactly what `replace` does per frame. Variants are timed
in turn, round-robin within each size, so a noisy shared machine slows them alike. After warm-up
runs, the median and the 90th percentile are reported; the last line printed is one JSON object.

With ``--render``, it also times the render worker's job on a 10 s 1080p30 clip (the sample,
scaled up and looped) with the image background: the seconds a user waits for a render, and the
real-time factor (render time over clip length; 1.0 renders as fast as the clip plays).

    python scripts/bench.py [--model general|landscape|PATH] [--device cpu] [--runs 50] [--render]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from obs_bgremover.backgrounds import parse_background
from obs_bgremover.cli import SAMPLE, add_model_arguments, model_from_args
from obs_bgremover.composite import Compositor
from obs_bgremover.media import open_frames
from obs_bgremover.model import MattingModel
from obs_bgremover.pipeline import Pipeline
from obs_bgremover.render import RenderSettings, render_video

SIZES = ((1280, 720), (1920, 1080))
BACKGROUNDS = {"image": "studio", "video": "flow", "blur": "blur", "color": "color:#00B140"}


def variants(model: MattingModel, frame: np.ndarray) -> dict[str, Callable[[], object]]:
    """What to time: the graph, then one whole step per background kind."""
    calls: dict[str, Callable[[], object]] = {"graph": lambda: model(frame)}
    for kind, spec in BACKGROUNDS.items():
        pipeline = Pipeline(model, compositor=Compositor(parse_background(spec)))
        clock = iter(range(10**9))
        calls[f"step:{kind}"] = (
            lambda pipeline=pipeline, clock=clock: pipeline.run(frame, next(clock) / 30)
        )
    return calls


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(statistics.quantiles(ms, n=10)[-1], 1),
    }


def time_render(sample: list[np.ndarray], args: argparse.Namespace) -> dict[str, float]:
    """Seconds to render a 10 s 1080p30 clip through the render job, as the worker runs it."""
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        with av.open(str(clip), "w") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
            for index in range(300):
                frame = cv2.resize(sample[index % len(sample)], (1920, 1080))
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
        settings = RenderSettings(BACKGROUNDS["image"], model=args.model, device=args.device)
        start = time.perf_counter()
        result = render_video(clip, Path(folder) / "render.mp4", settings)
        seconds = time.perf_counter() - start
    print(f"render of a 10 s 1080p30 clip: {seconds:.1f} s ({result.frames} frames), "
          f"real-time factor {seconds / result.seconds:.2f}")
    return {"seconds": round(seconds, 1), "real_time_factor": round(seconds / result.seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser, device="cpu")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per variant")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    parser.add_argument("--render", action="store_true", help="also time a 10 s 1080p30 render")
    args = parser.parse_args()
    model = model_from_args(args)
    _, sample = next(iter(open_frames(SAMPLE)))
    report: dict[str, object] = {
        "model": str(model.path),
        "provider": model.provider,
        "cpu_count": os.cpu_count(),
        "runs": args.runs,
    }
    for width, height in SIZES:
        frame = cv2.resize(sample, (width, height), interpolation=cv2.INTER_LINEAR)
        calls = variants(model, frame)
        for call in calls.values():
            for _ in range(args.warmup):
                call()
        ms: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.runs):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                ms[name].append(1000 * (time.perf_counter() - start))
        for name, values in ms.items():
            result = summary(values)
            report[f"{width}x{height} {name}"] = result
            print(f"{width}x{height} {name:12} median {result['median_ms']:6.1f} ms, "
                  f"p90 {result['p90_ms']:6.1f} ms")
    if args.render:
        report["render 10 s 1080p30"] = time_render([f for _, f in open_frames(SAMPLE)], args)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
