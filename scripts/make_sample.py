"""Encode the bundled sample clip, obs_bgremover/assets/sample.mp4.

The sample lets `obs-bgremover matte --sample` and the tests run without any user footage. It is the
DAVIS 2016 'lucia' sequence (CC BY 4.0, the only footage we may ship), 854x480, H.264 at 24 fps.
The encoder runs single-threaded with fixed options so that re-running the script reproduces the
same bytes with the same PyAV build.

    python scripts/make_sample.py [DAVIS_SEQUENCE_DIR] [-o OUTPUT]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av

from obs_bgremover.pictures import read_image

REPO = Path(__file__).resolve().parents[1]
FPS = 24
MAX_FRAMES = 70


def encode(frame_paths: list[Path], output: Path) -> None:
    """H.264 (yuv420p, crf 23) in MP4: the format every player, browser and OBS source reads."""
    first = read_image(frame_paths[0])
    with av.open(str(output), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "medium", "threads": "1"}
        stream.codec_context.thread_count = 1
        for path in frame_paths:
            frame = av.VideoFrame.from_ndarray(read_image(path), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "sequence",
        nargs="?",
        type=Path,
        default=REPO.parent / "shared" / "data" / "davis-person" / "lucia",
        help="DAVIS sequence folder holding frames/*.jpg (default: %(default)s)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=REPO / "obs_bgremover" / "assets" / "sample.mp4"
    )
    args = parser.parse_args()
    frame_paths = sorted((args.sequence / "frames").glob("*.jpg"))[:MAX_FRAMES]
    if not frame_paths:
        parser.error(f"no frames/*.jpg in {args.sequence}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    encode(frame_paths, args.output)
    print(f"wrote {args.output}: {len(frame_paths)} frames, {args.output.stat().st_size} bytes")


if __name__ == "__main__":
    main()
