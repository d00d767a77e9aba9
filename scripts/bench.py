"""Time `MattingModel.__call__` (the graph alone, no decoding or writing) at 1280x720 and
1920x1080, the sizes OBS canvases use.

The frame is real footage, so that any data-dependent work in the graph costs what it costs on a
webcam: the first frame of the bundled sample clip (854x480, 16:9 like both sizes), resized. After
warm-up runs (provider start-up, memory arenas), each size is timed over --runs calls; the median
and the 90th percentile are reported. The last line printed is one JSON object.

    python scripts/bench.py [--model general|landscape|PATH] [--device cpu] [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import cv2
import numpy as np

from obs_bgremover.cli import SAMPLE, add_model_arguments, model_from_args
from obs_bgremover.media import open_frames
from obs_bgremover.model import MattingModel

SIZES = ((1280, 720), (1920, 1080))


def time_calls(model: MattingModel, frame: np.ndarray, runs: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        model(frame)
    ms = []
    for _ in range(runs):
        start = time.perf_counter()
        model(frame)
        ms.append(1000 * (time.perf_counter() - start))
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(statistics.quantiles(ms, n=10)[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser, device="cpu")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per size (default: 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (default: 5)")
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
        result = time_calls(model, frame, args.runs, args.warmup)
        report[f"{width}x{height}"] = result
        print(f"{width}x{height}: median {result['median_ms']} ms, p90 {result['p90_ms']} ms")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
