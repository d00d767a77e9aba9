"""Our OBS filter beside OBS alone and beside another background-removal filter, in real OBS.

The brief asks us to measure ourselves against the best OBS plugins, in OBS, where users meet
them; docs/comparison.md quotes this script. It starts OBS unattended (`headless_obs`, the tests'
own harness) with our script loaded and, given its build folder, the other plugin installed for
OBS's user (``--peer-plugin``, a folder laid out as OBS's ``plugins/NAME``; ``--peer-id`` its
filter's id, e.g. ``background_removal`` for obs-backgroundremoval). Three parts, each in OBSes
of its own, so that one plugin crashing OBS spoils none of the others' figures:

- ``cost``: a looping 1280x720 30 fps talking head (``talking-heads/speaker4.mp4``, scaled to
  cover) on a 1280x720 canvas (``--canvas``: another, the clip scaled to fit), measured for
  ``--seconds`` with no filter, then with ours, then with the peer's, in each of ``--rounds``
  OBS runs: OBS's average frame render time and frames rendered late (obs-websocket
  ``GetStats``), and the CPU share of OBS and its children.
- ``removal``: the filter added to the playing clip and removed again ``--cycles`` times, in
  each of ``--rounds`` OBS runs per filter: whether OBS survived, and at which removal it died.
- ``masks``: held-frame videos of labelled pictures (the first ``--limit`` portraits of
  ``portraits-dev``, every 6th frame of ``davis-person``), each picture HOLD_S on screen. Both
  filters play the same video, started together; HOLD_SHOT_S into each picture a screenshot of
  each filtered source at the label's size is compared with the human mask by ``evaluate.py``'s
  own scoring (alpha > 127): mIoU and boundary IoU. Our background is transparent, which is what
  obs-backgroundremoval outputs; a screenshot of ours that shows another picture than expected
  (OBS playing late) is left out, with the peer's of the same moment.
- ``flicker``: a still talking head (the first frame of the same clip) with fresh sensor-like
  noise in every frame (``--noise``), where the ideal matte never changes. Both filters play
  it; ``--shots`` screenshots of each, one after another as fast as OBS answers, give the mean
  absolute change of alpha from one screenshot to the next (x1000 over 255, as ``evaluate.py``
  measures flicker between frames, though screenshots lie a few frames apart), beside the share
  of the picture each filter shows as the person (a filter that shows nothing never flickers).
- ``lag``: the talking head with every other frame replaced by plain grey, so that a matte laid
  on a frame it was not computed for shows: the person's shape filled with grey. ``--shots``
  screenshots of each filtered source count those that show mostly grey where the matte is
  opaque (a matte a frame late, over a grey frame) and those that are fully transparent.

Without ``--peer-plugin`` it measures ours against OBS alone. The last line printed is one JSON
object.

    python scripts/compare_obs.py [--peer-plugin DIR --peer-id ID [--peer-settings JSON]]
                                  [--parts cost,removal,masks,flicker,lag] [--rounds 3]
                                  [--seconds 20]
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from clip_writer import write_clip
from evaluate import score
from headless_obs import ObsStudio, running_obs

from obs_bgremover.composite import fit
from obs_bgremover.media import ImageFiles, open_frames
from obs_bgremover.obs.registration import FILTER_ID

REPO = Path(__file__).resolve().parents[1]
PARTS = ("cost", "removal", "masks", "flicker", "lag")
SCENE, CLIP_SOURCE = "Compare", "Clip"
OURS_SETTINGS = {"background": "transparent"}
CANVAS = (1280, 720)
# Each labelled picture's time on screen in the held-frame videos, and when in it the
# screenshot is taken: late enough that both filters have matted it, early enough that the
# next picture has not started.
HOLD_S, HOLD_SHOT_S = 2.5, 1.9
HELD_FPS = 10
# Seconds from adding a filter to measuring it (``--settle``): its model loads and OBS's frame
# times, averaged by OBS over recent frames, forget the moment of loading.
SETTLE_S = 8.0
# The flicker part's still picture: a webcam's sensor noise, as Gaussian noise of this standard
# deviation in grey levels by default (``--noise``), new in every frame of a 5 s clip.
NOISE_LEVELS = 3.0
FLICKER_SECONDS = 5
# The lag part's plain frame, and how near it a screenshot's pixel must be to count as showing
# it; screenshots there are small (the test is whether a matte lies on its own frame) and only
# their opaque pixels count, whose colours no blending has touched.
GREY, GREY_LEVELS, OPAQUE = 128, 14, 250
LAG_SHOT_SIZE = (320, 180)
# Seconds for the filters' models to load before a clip is restarted or screenshots are taken.
LOAD_S = 6.0
TICK = os.sysconf("SC_CLK_TCK")
# The clips played to the filters: near-lossless, so that both see the footage itself.
ENCODER = {"crf": "16", "preset": "veryfast"}


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants (our model runs in a child process)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in os.listdir(f"/proc/{current}/task"):
                todo += [int(child) for child in
                         Path(f"/proc/{current}/task/{task}/children").read_text().split()]
        except OSError:
            pass  # ended meanwhile
    return total / TICK


def play(studio: ObsStudio, sources: Sequence[str], clip: Path, looping: bool,
         canvas: tuple[int, int] = CANVAS) -> None:
    """``sources``, each playing ``clip`` scaled to fit ``canvas``, in a scene shown on
    program."""
    client = studio.client
    client.create_scene(SCENE)
    for source in sources:
        client.create_input(SCENE, source, "ffmpeg_source",
                            {"local_file": str(clip), "looping": looping}, True)
        if canvas != CANVAS:
            item = client.get_scene_item_id(SCENE, source).scene_item_id
            client.set_scene_item_transform(SCENE, item, {
                "boundsType": "OBS_BOUNDS_SCALE_INNER", "boundsWidth": canvas[0],
                "boundsHeight": canvas[1]})
    client.set_current_program_scene(SCENE)


class Filters:
    """The filters compared: ours, and the peer's where it is given, each as (id, settings)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.kinds = {"ours": (FILTER_ID.decode(), {**OURS_SETTINGS,
                                                    **json.loads(args.ours_settings)})}
        self.plugins = [args.peer_plugin] if args.peer_plugin else []
        if args.peer_plugin:
            self.kinds["peer"] = (args.peer_id, json.loads(args.peer_settings))

    def add(self, studio: ObsStudio, source: str, name: str) -> None:
        kind, settings = self.kinds[name]
        studio.client.create_source_filter(source, name, kind, settings)


def measure(studio: ObsStudio, seconds: float) -> dict[str, float]:
    client, pid = studio.client, studio.process.pid
    before, cpu, start = client.get_stats(), cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    after = client.get_stats()
    return {
        "cpu_percent": round(100 * (cpu_seconds(pid) - cpu) / (time.monotonic() - start), 1),
        "frames": after.render_total_frames - before.render_total_frames,
        "late": after.render_skipped_frames - before.render_skipped_frames,
        "render_ms": round(after.average_frame_render_time, 2),
    }


def cost(filters: Filters, clip: Path, args: argparse.Namespace) -> dict:
    runs: dict[str, list[dict]] = {name: [] for name in ("none", *filters.kinds)}
    last = list(runs)[-1]
    for round_ in range(args.rounds):
        with running_obs(plugins=filters.plugins, canvas=args.canvas) as studio:
            play(studio, [CLIP_SOURCE], clip, looping=True, canvas=args.canvas)
            for name in runs:
                if name != "none":
                    filters.add(studio, CLIP_SOURCE, name)
                time.sleep(args.settle)
                runs[name].append(measure(studio, args.seconds))
                print(f"cost, OBS run {round_ + 1}, {name}: {runs[name][-1]}", flush=True)
                # The next filter is measured alone; the last one stays, as removing the
                # peer's can take OBS down (see the removal part).
                if name not in ("none", last):
                    studio.client.remove_source_filter(CLIP_SOURCE, name)
                    time.sleep(1)
    return {name: {"runs": rows, **{f"median_{key}": statistics.median(row[key] for row in rows)
                                    for key in rows[0]}} for name, rows in runs.items()}


def removal(filters: Filters, clip: Path, args: argparse.Namespace) -> dict:
    results = {}
    for name in filters.kinds:
        deaths = []
        for _ in range(args.rounds):
            with running_obs(plugins=filters.plugins, canvas=CANVAS) as studio:
                play(studio, [CLIP_SOURCE], clip, looping=True)
                time.sleep(2)
                died_at = None
                for cycle in range(1, args.cycles + 1):
                    try:
                        filters.add(studio, CLIP_SOURCE, name)
                        time.sleep(1.5)
                        studio.client.remove_source_filter(CLIP_SOURCE, name)
                        time.sleep(0.5)
                    except Exception:
                        if studio.process.poll() is None:
                            raise  # a real error (a wrong filter id, say), not OBS gone
                    if studio.process.poll() is not None:
                        died_at = cycle
                        studio.client = None  # nothing left to disconnect from
                        break
                deaths.append(died_at)
            fate = f"died at removal {died_at}" if died_at else "survived"
            print(f"removal, {name}: OBS {fate} ({args.cycles} cycles)", flush=True)
        results[name] = {"runs": len(deaths), "cycles": args.cycles,
                         "crashed_runs": sum(d is not None for d in deaths), "crashed_at": deaths}
    return results


def labelled_sets(data: Path, limit: int) -> dict[str, list[tuple[Path, Path]]]:
    """(picture, human mask) pairs of each data set the masks part scores."""
    portraits = data / "portraits-dev"
    davis = sorted(path for path in (data / "davis-person").iterdir() if path.is_dir())
    return {
        "portraits": [(image, portraits / "masks" / f"{image.stem}.png")
                      for image in sorted((portraits / "images").glob("*.jpg"))[:limit]],
        "davis": [(frame, sequence / "masks" / f"{frame.stem}.png") for sequence in davis
                  for frame in sorted((sequence / "frames").glob("*.jpg"))[::6]][:limit],
    }


def screenshot(studio: ObsStudio, source: str, size: tuple[int, int]) -> np.ndarray:
    """RGBA screenshot of a filtered source at ``size`` (width, height)."""
    reply = studio.client.get_source_screenshot(source, "png", *size, -1)
    data = np.frombuffer(base64.b64decode(reply.image_data.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)


def shows(shot: np.ndarray, pictures: list[np.ndarray], index: int) -> bool:
    """Whether the opaque part of ``shot`` is nearer ``pictures[index]`` than its neighbours
    in the video: OBS showed the picture the schedule expected."""
    opaque = shot[..., 3] > 127
    if not opaque.any():
        return False
    rgb = shot[..., :3][opaque].astype(np.int16)

    def distance(candidate: int) -> float:
        return float(np.abs(rgb - pictures[candidate][opaque]).mean())

    nearby = [k for k in (index - 1, index, index + 1) if 0 <= k < len(pictures)]
    return min(nearby, key=distance) == index


@contextmanager
def each_filtered(filters: Filters, clip: Path, looping: bool
                  ) -> Iterator[tuple[ObsStudio, dict[str, str]]]:
    """An OBS in which ``clip`` plays in one source per filter, each under its filter, once the
    models have loaded (LOAD_S; the clip plays on meanwhile): the OBS and {filter: source}."""
    sources = {name: f"{CLIP_SOURCE} {name}" for name in filters.kinds}
    with running_obs(plugins=filters.plugins, canvas=CANVAS) as studio:
        play(studio, list(sources.values()), clip, looping)
        for name, source in sources.items():
            filters.add(studio, source, name)
        time.sleep(LOAD_S)
        yield studio, sources


def masks(filters: Filters, pairs: list[tuple[Path, Path]], folder: Path, label: str) -> dict:
    pictures = [frame for _, frame in ImageFiles(tuple(image for image, _ in pairs))]
    clip = write_clip(folder / f"{label}-held.mp4", pictures, HELD_FPS, encoder=ENCODER,
                      repeat=round(HOLD_S * HELD_FPS))
    rows: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in filters.kinds}
    skipped = 0
    with each_filtered(filters, clip, looping=False) as (studio, sources):
        for source in sources.values():
            studio.client.trigger_media_input_action(
                source, "OBS_WEBSOCKET_MEDIA_INPUT_ACTION_RESTART")
        start = time.monotonic()
        for index, (_, mask) in enumerate(pairs):
            time.sleep(max(0.0, start + HOLD_S * index + HOLD_SHOT_S - time.monotonic()))
            height, width = pictures[index].shape[:2]  # the label's size
            shots = {name: screenshot(studio, source, (width, height))
                     for name, source in sources.items()}
            if not shows(shots["ours"], pictures, index):
                skipped += 1
                continue
            for name, shot in shots.items():
                ious, boundary_ious = score([(mask.stem, shot[..., 3])], mask.parent)
                rows[name][0].extend(ious)
                rows[name][1].extend(boundary_ious)
    result: dict[str, object] = {"pictures": len(pairs), "left_out": skipped}
    for name, (ious, boundary_ious) in rows.items():
        miou, boundary = (float(np.mean(values)) if values else float("nan")
                          for values in (ious, boundary_ious))
        result[name] = {"miou": round(miou, 4), "boundary_iou": round(boundary, 4)}
        print(f"masks, {label}, {name}: mIoU {miou:.4f}, boundary IoU {boundary:.4f} over "
              f"{len(ious)} of {len(pairs)} pictures", flush=True)
    return result


def watch(filters: Filters, clip: Path, args: argparse.Namespace,
          size: tuple[int, int]) -> Iterator[dict[str, np.ndarray]]:
    """``--shots`` rounds of RGBA screenshots at ``size``, one of each filter's source, all
    playing ``clip`` in a loop, taken as fast as OBS answers once the models have loaded."""
    with each_filtered(filters, clip, looping=True) as (studio, sources):
        time.sleep(args.settle)
        for _ in range(args.shots):
            yield {name: screenshot(studio, source, size) for name, source in sources.items()}


def flicker(filters: Filters, clip: Path, folder: Path, args: argparse.Namespace) -> dict:
    first = next(iter(open_frames(clip)))[1]
    noise = np.random.default_rng(0)
    frames = (np.clip(first + noise.normal(0, args.noise, first.shape), 0, 255).astype(np.uint8)
              for _ in range(FLICKER_SECONDS * 30))
    still = write_clip(folder / "noisy-still.mp4", frames, 30, encoder=ENCODER)
    changes: dict[str, list[float]] = {name: [] for name in filters.kinds}
    covered: dict[str, list[float]] = {name: [] for name in filters.kinds}
    previous: dict[str, np.ndarray] = {}
    for shots in watch(filters, still, args, CANVAS):
        for name, shot in shots.items():
            alpha = shot[..., 3].astype(np.int16)
            covered[name].append(float(np.mean(alpha > 127)))
            if name in previous:
                changes[name].append(float(np.abs(alpha - previous[name]).mean()) / 255 * 1000)
            previous[name] = alpha
    result = {}
    for name, values in changes.items():
        result[name] = {"flicker": round(statistics.mean(values), 3), "pairs": len(values),
                        "person_share": round(statistics.mean(covered[name]), 3)}
        print(f"flicker, {name}: {result[name]['flicker']:.3f} over {len(values)} pairs of "
              f"screenshots; the person covers {result[name]['person_share']:.1%} of the "
              "picture", flush=True)
    return result


def lag(filters: Filters, clip: Path, folder: Path, args: argparse.Namespace) -> dict:
    frames = (picture for _, frame in open_frames(clip)
              for picture in (frame, np.full_like(frame, GREY)))
    alternating = write_clip(folder / "alternating.mp4", frames, 30, encoder=ENCODER)
    rows: dict[str, list[float]] = {name: [] for name in filters.kinds}
    empty = dict.fromkeys(filters.kinds, 0)
    for shots in watch(filters, alternating, args, LAG_SHOT_SIZE):
        for name, shot in shots.items():
            opaque = shot[..., 3] >= OPAQUE
            if not opaque.any():
                empty[name] += 1
                continue
            grey = np.all(np.abs(shot[..., :3][opaque].astype(np.int16) - GREY) <= GREY_LEVELS,
                          axis=-1)
            rows[name].append(float(np.mean(grey)))
    result = {}
    for name, shares in rows.items():
        grey_shots = sum(share > 0.5 for share in shares)
        result[name] = {"shots": args.shots, "transparent": empty[name],
                        "person_shots": len(shares) - grey_shots, "grey_shots": grey_shots,
                        "median_grey_share": round(statistics.median(shares), 3) if shares
                        else None}
        print(f"lag, {name}: {result[name]['grey_shots']} of {args.shots} screenshots show "
              f"mostly the grey frame where the matte is opaque, {empty[name]} are fully "
              "transparent", flush=True)
    return result


def talking_head(data: Path, folder: Path) -> Path:
    clip = data / "talking-heads" / "speaker4.mp4"
    return write_clip(folder / "talking-head-720p.mp4",
                      (fit(frame, CANVAS) for _, frame in open_frames(clip)), 30,
                      encoder=ENCODER)


def canvas_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None
    return width, height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer-plugin", type=Path,
                        help="the other plugin's folder, laid out as OBS's plugins/NAME")
    parser.add_argument("--peer-id", help="its filter's id (with --peer-plugin)")
    parser.add_argument("--peer-settings", default="{}",
                        help="its filter's settings, as JSON (default: its own defaults)")
    parser.add_argument("--ours-settings", default="{}",
                        help="our filter's settings besides a transparent background, as JSON "
                        '(e.g. \'{"skip_static": true}\')')
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="comma-separated parts to run (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="OBS runs per filter in cost and removal (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="cost: seconds measured per filter (default: %(default)s)")
    parser.add_argument("--canvas", type=canvas_size, default=CANVAS, metavar="WxH",
                        help="cost: OBS's canvas, the 720p clip scaled to fit (default: 1280x720)")
    parser.add_argument("--settle", type=float, default=SETTLE_S,
                        help="cost, flicker, lag: seconds after adding a filter before measuring "
                        "(default: %(default)s)")
    parser.add_argument("--cycles", type=int, default=20,
                        help="removal: additions and removals per OBS run (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=40,
                        help="masks: pictures per data set (default: %(default)s)")
    parser.add_argument("--shots", type=int, default=60,
                        help="flicker, lag: screenshots per filter (default: %(default)s)")
    parser.add_argument("--noise", type=float, default=NOISE_LEVELS,
                        help="flicker: the sensor noise's standard deviation in grey levels "
                        "(default: %(default)s)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data",
                        help="evaluation data folder (default: %(default)s)")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    if bool(args.peer_plugin) != bool(args.peer_id):
        parser.error("--peer-plugin and --peer-id go together")
    filters = Filters(args)
    report: dict[str, object] = {"peer": str(args.peer_plugin) if args.peer_plugin else None,
                                 "peer_id": args.peer_id}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        clip = functools.cache(lambda: talking_head(args.data, folder))  # made once, if needed
        runners: dict[str, Callable[[], object]] = {
            "cost": lambda: cost(filters, clip(), args),
            "removal": lambda: removal(filters, clip(), args),
            "masks": lambda: {label: masks(filters, pairs, folder, label)
                              for label, pairs in labelled_sets(args.data, args.limit).items()},
            "flicker": lambda: flicker(filters, clip(), folder, args),
            "lag": lambda: lag(filters, clip(), folder, args),
        }
        for part in parts:
            report[part] = runners[part]()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
