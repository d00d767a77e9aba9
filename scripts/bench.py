"""Time the matting graph alone and the whole step, frame -> composited frame, at 1280x720 and
1920x1080, the sizes OBS canvases use.

The frame is real footage, so that any data-dependent work costs what it costs on a webcam: the
first frame of the bundled sample clip (854x480, 16:9 like both sizes), resized. "graph" times
`MattingModel.__call__`; each "step:KIND" times `Pipeline.run` with temporal smoothing and a
compositor over that background kind, exactly what `replace` does per frame. Variants are timed
in turn, round-robin within each size, so a noisy shared machine slows them alike. After warm-up
runs, the median and the 90th percentile are reported; the last line printed is one JSON object.

    python scripts/bench.py [--model general|landscape|PATH] [--device cpu] [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from obs_bgremover.backgrounds import parse_background
from obs_bgremover.cli import SAMPLE, add_model_arguments, model_from_args
from obs_bgremover.composite import Compositor
from obs_bgremover.media import open_frames
from obs_bgremover.model import MattingModel
from obs_bgremover.pipeline import Pipeline

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser, device="cpu")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per variant")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first")
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
    print(json.dumps(report))


if __name__ == "__main__":
    main()
