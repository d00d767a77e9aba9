"""Measure matting quality on the shared evaluation data, through the same code as
`obs-bgremover matte`: frames from `open_frames`, alpha from `Pipeline.process`.

Every number is averaged over whole folders, so that no single image decides it:

- mIoU: IoU of alpha > 127 against the ground-truth mask > 127, per image, averaged.
- boundary IoU: the same IoU counted only within 5 px of the ground-truth edge (the band is the
  mask's edge dilated by a 5 px disk), per image, averaged; where the mask has no edge the image
  is left out.
- flicker: mean |alpha(t) - alpha(t-1)| / 255 * 1000 over all pixels and frame pairs of a clip,
  then averaged over clips. Lower is steadier.
- edge colour error: how much of an old background the composite keeps in soft edges (hair,
  motion blur), whatever the network does. Each portrait is put over another portrait's picture
  (the "old background") with its human-drawn mask, softened, as alpha; that frame and alpha are
  composited over a built-in picture, and compared with the portrait put over that picture
  directly: mean |composite - truth| in grey levels over the soft edge (0 < alpha < 255),
  averaged over images, with the edge colour estimate (the default) and without it.

Portraits are stills, so each gets a fresh pipeline; a DAVIS sequence or a talking-head clip is
one stream, processed in order through one pipeline. The last line printed is one JSON object
holding every number.

Temporal smoothing runs with the pipeline's defaults, as in the product; ``--no-temporal`` turns it
off and ``--temporal-strength`` / ``--motion-threshold`` change it (``--motion-threshold inf`` is a
plain moving average), so smoothed and unsmoothed figures come from the same script.
``--every-n N`` and ``--skip-static`` reuse the last matte instead of running the network, as the
pipeline's options of those names do; each evaluation then also says on what share of its frames
the network ran and the mean milliseconds a frame took, so a saving is read next to its cost in
quality.

    python scripts/evaluate.py [--only portraits|davis|flicker|edges] [--limit N] [--no-temporal]
                               [--every-n N] [--skip-static] [--model ...] [...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from itertools import islice, pairwise
from pathlib import Path

import cv2
import numpy as np

from obs_bgremover.backgrounds import parse_background, picture
from obs_bgremover.cli import add_model_arguments, add_network_run_arguments, model_from_args
from obs_bgremover.composite import Blender, CompositeSettings, Compositor, ImageBackground
from obs_bgremover.media import open_frames
from obs_bgremover.model import MattingModel
from obs_bgremover.pipeline import Pipeline, PipelineSettings
from obs_bgremover.temporal import TemporalSettings

REPO = Path(__file__).resolve().parents[1]
BOUNDARY_PX = 5
EDGE_KERNEL = np.ones((3, 3), np.uint8)
BAND_DISK = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * BOUNDARY_PX + 1,) * 2)
# The edge colour evaluation's soft alpha: the human mask blurred by a Gaussian of this sigma, in
# pixels of the 600x800 portraits: an edge about as soft as hair or motion blur at webcam range.
EDGE_SIGMA = 3.0
NEW_BACKGROUNDS = ("studio", "bokeh", "waves", "dusk")


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    union = np.count_nonzero(predicted | truth)
    return np.count_nonzero(predicted & truth) / union if union else 1.0


def boundary_band(truth: np.ndarray) -> np.ndarray:
    """Pixels within BOUNDARY_PX of the mask's edge, where hair and halos decide quality."""
    edge = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, EDGE_KERNEL)
    return cv2.dilate(edge, BAND_DISK) > 0


def read_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise SystemExit(f"cannot read mask {path}")
    return mask > 127


@dataclass
class Cost:
    """What matting an evaluation's frames took: each frame's milliseconds, and on how many
    frames the network ran (``--every-n`` and ``--skip-static`` reuse its last matte on the
    others), so that a setting's saving is read next to its quality."""

    ms: list[float] = field(default_factory=list)
    network_runs: int = 0

    def summary(self) -> dict[str, float]:
        row = {"network_share": round(self.network_runs / len(self.ms), 3),
               "ms_per_frame_mean": round(statistics.mean(self.ms), 2)}
        print(f"{'  network':<26}{len(self.ms):>5} frames  ran on "
              f"{row['network_share']:.1%}, {row['ms_per_frame_mean']:.2f} ms a frame (mean)")
        return row


def matte(
    model: MattingModel,
    settings: PipelineSettings,
    frames: Iterable[tuple[str, np.ndarray]],
    cost: Cost,
    *,
    stills: bool,
) -> Iterator[tuple[str, np.ndarray]]:
    """Alpha for each frame, its cost added to ``cost``. A stream shares one pipeline, in
    order; stills get a fresh pipeline each, as nothing carries over between unrelated images."""
    pipeline = Pipeline(model, settings)
    for name, frame in frames:
        if stills:
            pipeline = Pipeline(model, settings)
        start = time.perf_counter()
        result = pipeline.run(frame)
        cost.ms.append(1000 * (time.perf_counter() - start))
        cost.network_runs += result.fresh
        yield name, result.alpha


def score(alphas: Iterable[tuple[str, np.ndarray]], masks: Path) -> tuple[list[float], list[float]]:
    """Per-image IoU and boundary IoU of the alphas against ``masks/<name>.png``."""
    ious, boundary_ious = [], []
    for name, alpha in alphas:
        person = alpha > 127
        truth = read_mask(masks / f"{name}.png")
        ious.append(iou(person, truth))
        band = boundary_band(truth)
        if band.any():
            boundary_ious.append(iou(person & band, truth & band))
    return ious, boundary_ious


def summary(label: str, ious: list[float], boundary_ious: list[float]) -> dict[str, float | int]:
    """The averages of one folder, also printed as a table row."""
    row = {
        "frames": len(ious),
        "miou": round(float(np.mean(ious)), 4),
        "boundary_iou": round(float(np.mean(boundary_ious)), 4),
    }
    print(
        f"{label:<26}{row['frames']:>5} frames  mIoU {row['miou']:.4f}  "
        f"boundary IoU {row['boundary_iou']:.4f}"
    )
    return row


def evaluate_portraits(
    model: MattingModel,
    settings: PipelineSettings,
    data: Path,
    limit: int | None,
    cost: Cost,
) -> dict:
    folder = data / "portraits-dev"
    frames = islice(open_frames(folder / "images"), limit)
    return summary(
        "portraits-dev", *score(matte(model, settings, frames, cost, stills=True), folder / "masks")
    )


def evaluate_davis(
    model: MattingModel,
    settings: PipelineSettings,
    data: Path,
    limit: int | None,
    cost: Cost,
) -> dict:
    all_ious: list[float] = []
    all_boundary_ious: list[float] = []
    sequences = {}
    for sequence in sorted(path for path in (data / "davis-person").iterdir() if path.is_dir()):
        frames = islice(open_frames(sequence / "frames"), limit)
        ious, boundary_ious = score(
            matte(model, settings, frames, cost, stills=False), sequence / "masks"
        )
        sequences[sequence.name] = summary(f"davis {sequence.name}", ious, boundary_ious)
        all_ious += ious
        all_boundary_ious += boundary_ious
    return {**summary("davis (all frames)", all_ious, all_boundary_ious), "sequences": sequences}


def evaluate_flicker(
    model: MattingModel,
    settings: PipelineSettings,
    data: Path,
    limit: int | None,
    cost: Cost,
) -> dict:
    clips = {}
    for clip in sorted((data / "talking-heads").glob("*.mp4")):
        frames = islice(open_frames(clip), limit)
        alphas = (alpha for _, alpha in matte(model, settings, frames, cost, stills=False))
        changes = [
            np.abs(current.astype(np.int16) - previous).mean() / 255 * 1000
            for previous, current in pairwise(alphas)
        ]
        clips[clip.name] = round(float(np.mean(changes)), 3)
        print(f"{'flicker ' + clip.name:<26}{len(changes) + 1:>5} frames  {clips[clip.name]:.3f}")
    result = {"mean": round(float(np.mean(list(clips.values()))), 3), "clips": clips}
    print(f"{'flicker (mean of clips)':<26}{len(clips):>5} clips   {result['mean']:.3f}")
    return result


def evaluate_edges(
    model: MattingModel,
    settings: PipelineSettings,
    data: Path,
    limit: int | None,
    cost: Cost,
) -> dict:
    """The edge colour error (see the module docstring). The network plays no part in it, so
    nothing is added to ``cost``."""
    folder = data / "portraits-dev"
    portraits = list(islice(open_frames(folder / "images"), limit))
    blend = Blender()
    errors: dict[str, list[float]] = {"decontaminated": [], "plain": []}
    with ExitStack() as stack:
        backgrounds = [stack.enter_context(parse_background(name)) for name in NEW_BACKGROUNDS]
        for index, (name, person) in enumerate(portraits):
            height, width = person.shape[:2]
            mask = read_mask(folder / "masks" / f"{name}.png").astype(np.uint8) * 255
            alpha = cv2.GaussianBlur(mask, (0, 0), EDGE_SIGMA)
            old = cv2.resize(portraits[(index + 1) % len(portraits)][1], (width, height))
            new = picture(backgrounds[index % len(backgrounds)], (width, height))
            frame, truth = blend(person, old, alpha), blend(person, new, alpha)
            soft = (alpha > 0) & (alpha < 255)
            for label, decontaminate in (("decontaminated", True), ("plain", False)):
                compositor = Compositor(ImageBackground(new), CompositeSettings(decontaminate))
                difference = cv2.absdiff(compositor(frame, alpha), truth)
                errors[label].append(float(difference[soft].mean()))
    result = {"frames": len(portraits),
              **{label: round(float(np.mean(values)), 3) for label, values in errors.items()}}
    print(f"{'edge colour error':<26}{result['frames']:>5} frames  with estimate "
          f"{result['decontaminated']:.3f}  without {result['plain']:.3f} grey levels")
    return result


EVALUATIONS = {
    "portraits": evaluate_portraits,
    "davis": evaluate_davis,
    "flicker": evaluate_flicker,
    "edges": evaluate_edges,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--only", choices=EVALUATIONS, help="run one evaluation only")
    parser.add_argument("--limit", type=int, help="first N images / frames of each folder or clip")
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="evaluation data folder (default: %(default)s)",
    )
    temporal = parser.add_argument_group("temporal smoothing (default: the pipeline's own)")
    temporal.add_argument("--no-temporal", action="store_true", help="turn temporal smoothing off")
    temporal.add_argument(
        "--temporal-strength",
        dest="strength",
        type=float,
        default=TemporalSettings.strength,
        metavar="F",
        help="share of the previous matte kept where the frame is still (default: %(default)s)",
    )
    temporal.add_argument(
        "--motion-threshold",
        type=float,
        default=TemporalSettings.motion_threshold,
        metavar="F",
        help="grey-level change at which a pixel counts as moving; inf gives a plain moving "
        "average (default: %(default)s)",
    )
    network = parser.add_argument_group("network runs (default: on every frame)")
    add_network_run_arguments(network)
    args = parser.parse_args()
    model = model_from_args(args)
    strength = 0.0 if args.no_temporal else args.strength
    settings = PipelineSettings(temporal=TemporalSettings(strength, args.motion_threshold),
                                every_n=args.every_n, skip_static=args.skip_static)
    costs: dict[str, Cost] = {}
    results = {}
    for name in [args.only] if args.only else list(EVALUATIONS):
        cost = costs[name] = Cost()
        results[name] = EVALUATIONS[name](model, settings, args.data, args.limit, cost)
        if cost.ms:
            results[name]["cost"] = cost.summary()
    ms = [value for cost in costs.values() for value in cost.ms]
    report = {
        "model": str(model.path),
        "provider": model.provider,
        "settings": {
            key: value for key, value in asdict(model.settings).items() if value is not None
        },
        "temporal": asdict(settings.temporal),
        "every_n": settings.every_n,
        "skip_static": settings.skip_static,
        "ms_per_frame_median": round(statistics.median(ms), 1) if ms else None,
        **results,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
