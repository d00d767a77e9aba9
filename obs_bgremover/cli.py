"""The ``obs-bgremover`` command: argument parsing and dispatch only.

The work happens in the core (`media` reads and writes, `Pipeline` mattes); this module turns
arguments into calls and errors into messages. The scripts in ``scripts/`` reuse its model flags so
every entry point spells them the same way.
"""

from __future__ import annotations

import argparse
import functools
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import fields
from pathlib import Path
from typing import Any

from obs_bgremover import __version__, camera, render
from obs_bgremover.backgrounds import (
    BUILTIN,
    background_file,
    list_backgrounds,
    parse_background,
)
from obs_bgremover.composite import (
    DEFAULT_BLUR,
    FIT_MODES,
    CompositeSettings,
    Compositor,
    TransparentBackground,
)
from obs_bgremover.errors import BgRemoverError, InputError
from obs_bgremover.media import ImageFiles, VideoFile, open_frames
from obs_bgremover.model import (
    DEVICES,
    MODEL_NAMES,
    MattingModel,
    MattingSettings,
    knob_complaint,
)
from obs_bgremover.outputs import (
    output_folder,
    refuse_overwrite,
    refuse_unwritable,
    staged_folder,
)
from obs_bgremover.overlap import overlapped
from obs_bgremover.pictures import image_output, is_image, write_alpha_png, write_image
from obs_bgremover.pipeline import Pipeline, PipelineSettings, every_n_complaint
from obs_bgremover.video_sink import VideoSink, video_format

PROG = "obs-bgremover"
SAMPLE = Path(__file__).parent / "assets" / "sample.mp4"


def given_path(text: str) -> Path:
    """A path argument; an empty one is refused, where ``Path("")`` is the current folder: an
    unset shell variable (``-o "$OUT"``) wrote mattes there, or matted all of it."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path")
    return Path(text)


def _checked(parse: Callable[[str], Any], complaint: Callable[[Any], str | None]
             ) -> Callable[[str], Any]:
    """An argparse type that parses a flag's text and refuses what the setting behind it
    would, so that the error names the flag (``argument --every-n: ...``) and comes before the
    model loads."""
    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:  # "2.5" for a whole number: the setting says what it takes
            value = text
        problem = complaint(value)
        if problem:
            raise argparse.ArgumentTypeError(problem if text else "an empty value")
        return value
    return convert


def _pipeline_help(name: str) -> str:
    return next(item for item in fields(PipelineSettings) if item.name == name).metadata["help"]


def add_network_run_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup
                              ) -> None:
    """Add --every-n and --skip-static, each with its `PipelineSettings` field's own help, so
    every command that offers them says the same."""
    parser.add_argument("--every-n", type=_checked(int, every_n_complaint),
                        default=PipelineSettings().every_n, metavar="N",
                        help=_pipeline_help("every_n") + " (default: %(default)s)")
    parser.add_argument("--skip-static", action="store_true", help=_pipeline_help("skip_static"))


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
            "--" + knob.name.replace("_", "-"),
            type=_checked(float, functools.partial(knob_complaint, knob.name)), metavar="F",
            help=knob.metadata["help"],
        )


def model_from_args(args: argparse.Namespace, *, spin: bool = False) -> MattingModel:
    """The model that the flags added by `add_model_arguments` describe. ``spin``: see
    `MattingModel`; only for a command whose frames are matted with nothing else running."""
    return MattingModel(args.model, args.device, MattingSettings.from_mapping(vars(args)),
                        spin=spin)


class Progress:
    """One self-rewriting status line on a terminal (frames, percent, fps, time left); silent
    when stderr is not a terminal, so logs and CI output stay clean."""

    def __init__(self, what: str, total: int | None) -> None:
        self.what, self.total = what, total
        self.enabled = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.done = 0

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        fps = self.done / elapsed if elapsed > 0 else 0.0
        line = f"\r{self.what} {self.done}/{self.total or '?'}"
        if self.total:
            # A total estimated from a file's length may fall a frame or two short.
            self.total = max(self.total, self.done)
            left = (self.total - self.done) / fps if fps else 0.0
            line += f" {100 * self.done / self.total:3.0f}% {fps:5.1f} fps, {left:4.0f} s left"
        print(line, end="", file=sys.stderr, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """End the line, also when the run fails: an error message printed after it would
        otherwise start on the progress line."""
        if self.enabled and self.done:
            print(file=sys.stderr)


def run_matte(args: argparse.Namespace) -> int:
    """Write one alpha PNG per input frame; nothing is written unless every frame is."""
    source_path = SAMPLE if args.sample else args.input
    input_folder = source_path if source_path.is_dir() else source_path.parent
    # Images are matted to PNGs of their own names, which could overwrite them; a video's
    # mattes (00000.png, ...) cannot overwrite the video.
    if args.output.resolve() == input_folder.resolve() and (
            source_path.is_dir() or is_image(source_path)):
        raise InputError(
            f"output folder {args.output} holds the input; its PNGs could overwrite input files"
        )
    if args.output.exists() and not args.output.is_dir():
        raise InputError(f"output folder {args.output} is a file: matte writes one PNG per "
                         "frame into a folder")
    source = open_frames(source_path)
    # Nothing runs beside the network here (no encoder, as in replace and render), so its
    # threads may spin between steps.
    model = model_from_args(args, spin=True)
    pipeline = Pipeline(model)
    earlier = {path.name for path in args.output.glob("*.png")}
    seconds = []
    with Progress("matte", source.count) as progress, staged_folder(args.output) as staging:
        for name, frame in source:
            start = time.perf_counter()
            alpha = pipeline.process(frame)
            seconds.append(time.perf_counter() - start)
            write_alpha_png(staging / f"{name}.png", alpha)
            earlier.discard(f"{name}.png")
            progress.step()
    skipped = source.skipped if isinstance(source, ImageFiles) else ()
    print(
        f"wrote {len(seconds)} alpha PNG{'s' if len(seconds) != 1 else ''} to {args.output} "
        f"({model.provider}, {1000 * statistics.median(seconds):.1f} ms/frame median)"
        + (f"; skipped {len(skipped)} other file(s): {_some(skipped)}" if skipped else "")
    )
    if earlier:
        # A sequence read back from the folder would run on into another clip's mattes.
        print(f"{PROG}: note: {args.output} also holds {len(earlier)} PNG(s) this run did not "
              f"write: {_some(sorted(earlier))}", file=sys.stderr)
    return 0


def _some(names: Sequence[str]) -> str:
    """The first few of ``names``, for a line that must stay one line."""
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def run_replace(args: argparse.Namespace) -> int:
    """Put the person of an image or a video over a new background.

    Everything that can fail on bad input (the input, the background, the output's format, the
    model) is opened before the first frame is written; a video is written under a temporary
    name and renamed only when complete.
    """
    source_path = SAMPLE if args.sample else args.input
    refuse_overwrite(args.output, input=source_path, background=background_file(args.background))
    source = open_frames(source_path)
    if not isinstance(source, (VideoFile, ImageFiles)) or (
        isinstance(source, ImageFiles) and source.count != 1
    ):
        raise InputError(f"replace takes one image or one video, not the folder {source_path}")
    with parse_background(args.background, args.fit) as background:
        transparent = isinstance(background, TransparentBackground)
        # Refuse a bad output name, or a folder that takes no files, before any work.
        if isinstance(source, VideoFile):
            video_format(args.output, transparent)
        else:
            image_output(args.output, transparent)
        refuse_unwritable(args.output.parent)
        settings = CompositeSettings(decontaminate=not args.no_decontaminate)
        model = model_from_args(args)
        pipeline = Pipeline(model, compositor=Compositor(background, settings))
        notes = ""
        with Progress("replace", source.count) as progress:
            if isinstance(source, VideoFile):
                # Decoding, matting and encoding overlap (see `overlap`).
                with output_folder(args.output.parent), \
                        VideoSink(args.output, source_path, transparent) as sink, \
                        closing(overlapped(source.timed(), pipeline.composited,
                                           sink.write)) as frames:
                    for _ in frames:
                        progress.step()
                notes = "" if sink.note is None else f"; {sink.note}"  # the writer has finished
            else:
                ((_, frame),) = source
                composite = pipeline.composited(frame)
                with output_folder(args.output.parent):
                    write_image(args.output, composite)
                progress.step()
    print(f"wrote {args.output} ({progress.done} frame{'s' if progress.done != 1 else ''}, "
          f"{model.provider}){notes}")
    return 0


def run_backgrounds(args: argparse.Namespace) -> int:
    """List the built-in backgrounds and the other forms --background takes."""
    for name in list_backgrounds():
        kind = "video" if BUILTIN[name].endswith(".mp4") else "image"
        print(f"{name:16} built-in {kind}")
    print(f"{'FILE':16} an image or a video file of your own (a video, or an animated GIF "
          "or PNG, loops)")
    print(f"{'blur[:STRENGTH]':16} the camera's own background, blurred (strength 1-100, "
          f"{DEFAULT_BLUR} when left out)")
    print(f"{'color:#RRGGBB':16} a solid colour")
    print(f"{'transparent':16} no background: PNG, WebP, WebM or MOV with alpha")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Run the web app. Imported here, not at the top: the web framework takes a while to load,
    and no other command needs it."""
    from obs_bgremover import web

    return web.run_serve(args)


def _add_background_arguments(command: argparse.ArgumentParser) -> None:
    """--background, --fit and --no-decontaminate, spelled the same for every command."""
    command.add_argument(
        "-b",
        "--background",
        required=True,
        metavar="SPEC",
        help="a built-in name (see 'obs-bgremover backgrounds'), an image or video FILE, "
        "blur[:STRENGTH], color:#RRGGBB or transparent",
    )
    command.add_argument(
        "--fit", choices=FIT_MODES, default="cover",
        help="how an image or video background fills the frame (default: %(default)s)",
    )
    command.add_argument(
        "--no-decontaminate",
        action="store_true",
        help="skip the edge colour clean-up that keeps the old background out of hair",
    )


def _add_source(command: argparse.ArgumentParser, what: str) -> None:
    source = command.add_mutually_exclusive_group(required=True)
    source.add_argument("input", nargs="?", type=given_path, metavar="INPUT", help=what)
    source.add_argument(
        "--sample",
        action="store_true",
        help="use the bundled sample clip (DAVIS 'lucia', CC BY 4.0) instead of INPUT",
    )


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
    _add_source(matte, "image, folder of images or video")
    matte.add_argument(
        "-o",
        "--output",
        type=given_path,
        required=True,
        metavar="OUTDIR",
        help="folder for the PNGs (created if missing)",
    )
    add_model_arguments(matte)
    matte.set_defaults(run=run_matte)

    replace = commands.add_parser(
        "replace",
        help="put the person of an image or a video over a new background",
        description="Replace the background of an image (PNG, JPEG or WebP out; PNG or WebP "
        "for transparent) or a video (frame rate, size and sound kept; WebM or MOV for "
        "transparent).",
    )
    _add_source(replace, "image or video")
    replace.add_argument(
        "-o", "--output", type=given_path, required=True, metavar="OUT",
        help="output image or video"
    )
    _add_background_arguments(replace)
    add_model_arguments(replace)
    replace.set_defaults(run=run_replace)

    cam = commands.add_parser(
        "camera",
        help="feed a virtual camera (Zoom, Meet, Discord) from a webcam, with a new background",
        description="Send the webcam's picture, with a new background, to a virtual camera "
        "until Ctrl-C; see docs/virtual-camera.md.",
    )
    cam.add_argument("--input", default="0", metavar="0|/dev/videoN|FILE",
                     help="webcam index or device, or a video file to loop (default: %(default)s)")
    cam.add_argument("--size", default="1280x720", metavar="WxH", help="default: %(default)s")
    cam.add_argument("--fps", type=float, default=30.0, help="default: %(default)s")
    cam.add_argument("-b", "--background", default="blur", metavar="SPEC",
                     help="as for 'replace', except transparent (default: %(default)s)")
    cam.add_argument("--backend", choices=("auto", *camera.BACKEND_NAMES), default="auto",
                     help="virtual camera backend (default: the first that opens)")
    cam.add_argument("--virtual-device", metavar="NAME", help="e.g. /dev/video10")
    cam.add_argument("--config", type=given_path, metavar="FILE",
                     help="TOML or JSON file (background, model, matting knobs) applied when "
                     "it changes")
    add_network_run_arguments(cam)
    cam.add_argument("--preview", action="store_true", help="show a window (q quits)")
    cam.add_argument("--duration", type=float, metavar="SECONDS",
                     help="stop after SECONDS and report fps, latency and CPU use")
    add_model_arguments(cam)
    cam.set_defaults(run=camera.run)

    render_command = commands.add_parser(
        "render",
        help="render a clip (first 10 s) or a preview frame through the render queue",
        description="Queue a render job and wait for it: a video (the first --max-seconds, "
        "scaled to fit 1920x1080, or 1080x1920 when portrait, sound kept) or, with "
        "--preview-at, one frame as a composite "
        "PNG and a cut-out PNG with alpha. See docs/render.md.",
    )
    render_command.add_argument("input", type=given_path, metavar="INPUT",
                                help="video, or image for a preview; paths must be visible to "
                                "the workers")
    render_command.add_argument("-o", "--output", type=given_path, required=True, metavar="OUT",
                                help=".mp4 (.webm or .mov for transparent); .png for a preview")
    render_command.add_argument("--preview-at", type=float, metavar="SECONDS",
                                help="render one frame at SECONDS instead of the video")
    render_command.add_argument("--max-seconds", type=float, default=render.MAX_SECONDS,
                                metavar="S", help="cut videos to S seconds, at most a day "
                                "(default: %(default)s)")
    _add_background_arguments(render_command)
    render_command.add_argument("--queue", default=render.SQLITE, metavar="sqlite|redis://...",
                                help="queue to use (default: %(default)s)")
    add_model_arguments(render_command)
    render_command.set_defaults(run=render.run_render)

    worker = commands.add_parser(
        "worker", help="serve the render queue (a huey consumer)",
        description="Render the queue's jobs until stopped: Ctrl+C lets the running jobs "
        "finish (a second Ctrl+C, or SIGTERM, queues them again for the next worker). See "
        "docs/render.md.")
    worker.add_argument("--queue", default=render.SQLITE, metavar="sqlite|redis://...",
                        help="queue to serve (default: %(default)s)")
    worker.add_argument("--workers", type=int, default=1, metavar="N",
                        help="jobs run at once (default: %(default)s)")
    worker.add_argument("--lease", type=float, default=render.LEASE_S, metavar="SECONDS",
                        help="a job whose worker is silent this long is run again elsewhere "
                        "(default: %(default)s)")
    worker.set_defaults(run=render.run_worker)

    jobs = commands.add_parser("jobs", help="list the render queue's jobs (and stop or delete "
                                 "some)",
                               description="List the render queue's jobs, oldest first, after "
                               "stopping or deleting those named. See docs/render.md.")
    jobs.add_argument("--queue", default=render.SQLITE, metavar="sqlite|redis://...",
                      help="queue to list (default: %(default)s)")
    jobs.add_argument("--stop", action="extend", nargs="+", default=[], metavar="ID",
                      help="stop these queued or running jobs first (a worker drops its job "
                      "within a second or two, leaving no file)")
    jobs.add_argument("--delete", action="extend", nargs="+", default=[], metavar="ID",
                      help="forget these finished jobs (their files stay)")
    jobs.set_defaults(run=render.run_jobs)

    serve = commands.add_parser(
        "serve",
        help="run the web app: upload a clip, preview backgrounds, render, download",
        description="Serve the web app and its JSON API, with render workers in the same "
        "process. On an address other than this machine's own, every request needs an access "
        "token (--token, or one made up and printed). See docs/web.md.",
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s, this machine only)")
    serve.add_argument("--port", type=int, default=8765,
                       help="default: %(default)s; 0 picks a free one (printed)")
    serve.add_argument("--queue", default=render.SQLITE, metavar="sqlite|redis://...",
                       help="render queue (default: %(default)s)")
    # Two workers, so that a preview is not kept waiting behind a render.
    serve.add_argument("--workers", type=int, default=2, metavar="N",
                       help="render jobs run at once in this process; 0: use workers started "
                       "with 'obs-bgremover worker' (default: %(default)s)")
    serve.add_argument("--token", metavar="TOKEN",
                       help="access token every request must carry (default: none on "
                       "127.0.0.1, a new random one on any other address)")
    # Ten seconds of 4K from a phone is about 60 MB; a longer clip is cut, but must arrive first.
    serve.add_argument("--max-upload-mb", type=float, default=500.0, metavar="MB",
                       help="largest upload accepted (default: %(default)s)")
    serve.set_defaults(run=run_serve)

    backgrounds = commands.add_parser(
        "backgrounds", help="list the built-in backgrounds",
        description="List the built-in backgrounds, by name, for --background.")
    backgrounds.set_defaults(run=run_backgrounds)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C would be: `kill`, `timeout`, ``docker stop``, a
    service manager or a closed terminal (an SSH session lost) then stop a command as Ctrl-C
    does (a partial output removed, the camera released), where Python's default would end the
    process mid-write and leave a ``.part`` file behind."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _StopOnce:
    """The handler of the stop signals: the first one raises `KeyboardInterrupt` (Ctrl-C) or
    `Terminated` where the command is, and the command releases what it holds on the way out;
    the second is ignored. A second signal raised in the middle of that (Ctrl-C pressed twice,
    a service manager's SIGTERM right after a SIGINT) cut the releasing short: the camera left
    its virtual camera open, or aborted as its threads were stopped in native code, and ended
    134 or 143 instead of 0. A third raises again, for a user who will not wait for a release
    that hangs (a GPU driver that never returns)."""

    def __init__(self) -> None:
        self.signals = 0

    def __call__(self, signum: int, frame: object) -> None:
        self.signals += 1
        if self.signals == 2:
            return
        raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status (2 for any user error, 130
    after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP, as shells report a process those signals
    ended)."""
    args = build_parser().parse_args(argv)
    once = _StopOnce()
    previous = {signum: signal.signal(signum, once) for signum in render.STOP_SIGNALS}
    try:
        return args.run(args)
    except (BgRemoverError, OSError) as err:
        print(f"{PROG}: error: {_describe_error(err)}", file=sys.stderr)
        return 2
    except Terminated as stop:
        return 128 + stop.signum
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _describe_error(err: Exception) -> str:
    """The message for a user error; a file system error as PATH: REASON, without Python's
    "[Errno 13]" prefix."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)
