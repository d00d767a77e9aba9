"""The ``obs-bgremover`` command: argument parsing and dispatch only.

The work happens in the core (`media` reads and writes, `Pipeline` mattes); this module turns
arguments into calls and errors into messages. The scripts in ``scripts/`` reuse its model flags so
every entry point spells them the same way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from obs_bgremover import __version__
from obs_bgremover.errors import BgRemoverError, InputError
from obs_bgremover.media import open_frames, write_alpha_png
from obs_bgremover.model import DEVICES, MODEL_NAMES, MattingModel, MattingSettings
from obs_bgremover.pipeline import Pipeline

PROG = "obs-bgremover"
SAMPLE = Path(__file__).parent / "assets" / "sample.mp4"


def add_model_arguments(parser: argparse.ArgumentParser, device: str = "auto") -> None:
    """Add --model, --device and one flag per `MattingSettings` knob."""
    parser.add_argument(
        "--model",
        default="general",
        metavar="|".join([*MODEL_NAMES, "PATH"]),
        help="built-in model name or path of an .onnx file (default: %(default)s)",
    )
    parser.add_argument(
        "--device", default=device, choices=DEVICES, help="where to run (default: %(default)s)"
    )
    knobs = parser.add_argument_group("matting knobs (default: the model's own)")
    for knob in fields(MattingSettings):
        knobs.add_argument(
            "--" + knob.name.replace("_", "-"), type=float, metavar="F", help=knob.metadata["help"]
        )


def model_from_args(args: argparse.Namespace) -> MattingModel:
    """The model that the flags added by `add_model_arguments` describe."""
    settings = MattingSettings(
        **{knob.name: getattr(args, knob.name) for knob in fields(MattingSettings)}
    )
    return MattingModel(args.model, args.device, settings)


def run_matte(args: argparse.Namespace) -> int:
    """Write one alpha PNG per input frame; nothing is written unless input and model load."""
    source_path = SAMPLE if args.sample else args.input
    input_folder = source_path if source_path.is_dir() else source_path.parent
    if args.output.resolve() == input_folder.resolve():
        raise InputError(
            f"output folder {args.output} holds the input; its PNGs could overwrite input files"
        )
    source = open_frames(source_path)
    pipeline = Pipeline(model_from_args(args))
    args.output.mkdir(parents=True, exist_ok=True)
    show_progress = sys.stderr.isatty()
    seconds = []
    for name, frame in source:
        start = time.perf_counter()
        alpha = pipeline.process(frame)
        seconds.append(time.perf_counter() - start)
        write_alpha_png(args.output / f"{name}.png", alpha)
        if show_progress:
            print(
                f"\rmatte {len(seconds)}/{source.count or '?'}", end="", file=sys.stderr, flush=True
            )
    if show_progress:
        print(file=sys.stderr)
    print(
        f"wrote {len(seconds)} alpha PNGs to {args.output} "
        f"({pipeline.model.provider}, {1000 * statistics.median(seconds):.1f} ms/frame median)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Real-time AI background removal for OBS Studio."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    matte = commands.add_parser(
        "matte",
        help="write alpha mattes of an image, a folder of images or a video as PNGs",
        description="Write the alpha matte (255 = person) of every frame as an 8-bit PNG: "
        "<stem>.png for images, 00000.png, 00001.png, ... for a video.",
    )
    source = matte.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "input", nargs="?", type=Path, metavar="INPUT", help="image, folder of images or video"
    )
    source.add_argument(
        "--sample",
        action="store_true",
        help="use the bundled sample clip (DAVIS 'lucia', CC BY 4.0) instead of INPUT",
    )
    matte.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="OUTDIR",
        help="folder for the PNGs (created if missing)",
    )
    add_model_arguments(matte)
    matte.set_defaults(run=run_matte)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status (2 for any user error)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (BgRemoverError, OSError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
