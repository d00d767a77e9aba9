"""Make the seven built-in backgrounds, obs_bgremover/assets/backgrounds/.

Every picture is computed here from fixed seeds, so the project ships no third-party images and
re-running the script reproduces the same pixels (and, with the same PyAV and OpenCV builds, the
same bytes). The images are 1920x1080 JPEG; the videos are 960x540 H.264 at 24 fps, whose soft
content scales up cleanly in the compositor. A video is a periodic function of time whose period
is the clip's length, so its last frame runs into its first and it loops without a seam.

    python scripts/make_backgrounds.py [-o OUTPUT_DIR]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
IMAGE_SIZE = (1920, 1080)
VIDEO_SIZE = (960, 540)
FPS = 24
SECONDS = 7
JPEG_QUALITY = 88
TAU = 2 * np.pi


def grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, x in 0..1 across and y in 0..height/width down."""
    x = (np.arange(width, dtype=np.float32) + 0.5) / width
    y = (np.arange(height, dtype=np.float32) + 0.5) / width
    return np.meshgrid(x, y)


def mix(a: tuple[float, ...], b: tuple[float, ...], t: np.ndarray) -> np.ndarray:
    """Per-pixel linear interpolation between two RGB colours (0..1) by t (0..1)."""
    a_, b_ = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a_ + (b_ - a_) * t[..., None]


def to_uint8(rgb: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """0..1 floats to 8 bits, with a little noise first where asked so gradients do not band."""
    if rng is not None:
        rgb = rgb + rng.normal(0, 0.6 / 255, rgb.shape).astype(np.float32)
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def smoothstep(z: np.ndarray) -> np.ndarray:
    """A soft 0-to-1 step (the logistic curve, written with tanh so it cannot overflow)."""
    return 0.5 + 0.5 * np.tanh(z / 2)


def cosine_palette(v: np.ndarray, phase: tuple[float, float, float]) -> np.ndarray:
    """Smooth colour ramps (Inigo Quilez's cosine palettes): v in 0..1 to RGB in 0..1."""
    return 0.5 + 0.35 * np.cos(TAU * (v[..., None] + np.asarray(phase, np.float32)))


def discs(
    size: tuple[int, int],
    centres: np.ndarray,
    radii: np.ndarray,
    colours: np.ndarray,
    blur: float,
) -> np.ndarray:
    """Soft light discs added together: bokeh, the out-of-focus lights behind a subject."""
    light = np.zeros((size[1], size[0], 3), np.float32)
    for (x, y), radius, colour in zip(centres, radii, colours, strict=True):
        layer = np.zeros_like(light)
        cv2.circle(
            layer,
            (int(x * 16), int(y * 16)),
            int(radius * 16),
            colour.tolist(),
            -1,
            cv2.LINE_AA,
            4,
        )
        light += layer
    return cv2.GaussianBlur(light, (0, 0), blur)


# Images: each a function of (width, height) returning RGB uint8.


def studio(width: int, height: int) -> np.ndarray:
    """A photographer's backdrop: warm grey, lit in the middle, falling off to the edges."""
    x, y = grid(width, height)
    aspect = height / width
    glow = np.exp(-(((x - 0.5) / 0.45) ** 2 + ((y - 0.42 * aspect) / (0.4 * aspect)) ** 2))
    floor = np.clip((y / aspect - 0.75) / 0.25, 0, 1) ** 2
    rgb = mix((0.16, 0.17, 0.19), (0.58, 0.56, 0.53), glow) * (1 - 0.25 * floor[..., None])
    return to_uint8(rgb, np.random.default_rng(1))


def bokeh(width: int, height: int) -> np.ndarray:
    """Evening city lights out of focus over a deep blue."""
    rng = np.random.default_rng(2)
    x, y = grid(width, height)
    base = mix((0.03, 0.05, 0.12), (0.10, 0.08, 0.16), y / y.max())
    count = 70
    centres = rng.uniform((0, 0.1), (1, 0.9), (count, 2)) * (width, height)
    radii = rng.uniform(0.02, 0.07, count) * width
    warm = rng.uniform(0, 1, count)[:, None]
    colours = (warm * (1.0, 0.65, 0.3) + (1 - warm) * (0.45, 0.7, 1.0)) * rng.uniform(
        0.08, 0.3, (count, 1)
    )
    light = discs((width, height), centres, radii, colours.astype(np.float32), width / 300)
    rgb = 1 - (1 - base) * (1 - np.clip(light, 0, 1))  # screen blend
    return to_uint8(rgb, rng)


def waves(width: int, height: int) -> np.ndarray:
    """Layered soft waves in teal and violet, like folded silk."""
    x, y = grid(width, height)
    aspect = height / width
    rgb = mix((0.06, 0.10, 0.20), (0.10, 0.28, 0.36), y / aspect)
    layers = [
        (0.35, 0.05, 2.0, 0.0, (0.20, 0.45, 0.55)),
        (0.50, 0.06, 1.5, 1.7, (0.32, 0.30, 0.58)),
        (0.65, 0.04, 2.7, 3.1, (0.18, 0.55, 0.60)),
        (0.80, 0.05, 1.2, 4.4, (0.42, 0.32, 0.62)),
    ]
    for level, amplitude, frequency, phase, colour in layers:
        edge = level * aspect + amplitude * np.sin(TAU * frequency * x + phase)
        inside = smoothstep((y - edge) / (0.01 * aspect))  # soft edge below the crest
        shade = 0.75 + 0.25 * np.exp(-(((y - edge) / (0.05 * aspect)) ** 2))
        paint = np.asarray(colour, np.float32) * shade[..., None]
        rgb = rgb + (paint - rgb) * inside[..., None]
    return to_uint8(rgb, np.random.default_rng(3))


def dusk(width: int, height: int) -> np.ndarray:
    """The sky after sunset: deep blue above, violet, an orange glow on a dark horizon."""
    x, y = grid(width, height)
    v = y / (height / width)
    sky = np.where(
        (v < 0.5)[..., None],
        mix((0.07, 0.09, 0.25), (0.45, 0.25, 0.45), v / 0.5),
        mix((0.45, 0.25, 0.45), (0.98, 0.55, 0.30), np.clip((v - 0.5) / 0.3, 0, 1)),
    )
    sun = np.exp(-(((x - 0.62) / 0.18) ** 2 + ((v - 0.8) / 0.12) ** 2))[..., None]
    sky = sky + sun * np.asarray((0.25, 0.12, 0.02), np.float32)
    hills = 0.84 + 0.03 * np.sin(TAU * 1.3 * x + 0.5) + 0.015 * np.sin(TAU * 4.1 * x + 1.2)
    ground = smoothstep((v - hills) / 0.003)
    rgb = (
        sky * (1 - ground[..., None])
        + np.asarray((0.05, 0.04, 0.08), np.float32) * ground[..., None]
    )
    return to_uint8(rgb, np.random.default_rng(4))


# Videos: each a function of (width, height, phase) returning RGB uint8, phase = t / period in
# 0..1. Every motion is a whole number of turns per period, which is what makes the loop seamless.


def flow(width: int, height: int, phase: float) -> np.ndarray:
    """Soft abstract colour flowing slowly, from a sum of travelling sine waves."""
    small_w, small_h = width // 4, height // 4
    x, y = grid(small_w, small_h)
    waves_ = [(3.0, 1.0, 1, 0.0), (-2.0, 2.5, 1, 1.3), (1.5, -3.0, 2, 2.1), (4.0, 2.0, -1, 4.0)]
    v = sum(
        np.sin(TAU * (kx * x + ky * y + turns * phase) + offset) for kx, ky, turns, offset in waves_
    )
    rgb = cosine_palette(0.5 + v / 12 + 0.1 * np.sin(TAU * phase), (0.0, 0.12, 0.3)) * 0.55
    return to_uint8(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC))


def bokeh_drift(width: int, height: int, phase: float) -> np.ndarray:
    """Out-of-focus lights drifting on closed paths and breathing in brightness."""
    rng = np.random.default_rng(6)
    count = 28
    small = (width // 2, height // 2)
    home = rng.uniform((0.05, 0.1), (0.95, 0.9), (count, 2)) * small
    reach = rng.uniform(0.03, 0.1, (count, 2)) * small[0]
    turns = rng.choice([-1, 1], (count, 2))
    offsets = rng.uniform(0, TAU, (count, 3))
    angle = TAU * turns * phase + offsets[:, :2]
    centres = home + reach * np.stack([np.sin(angle[:, 0]), np.cos(angle[:, 1])], 1)
    radii = rng.uniform(0.025, 0.08, count) * small[0]
    warm = rng.uniform(0, 1, count)[:, None]
    brightness = 0.12 + 0.08 * np.sin(TAU * phase + offsets[:, 2])[:, None]
    colours = (warm * (1.0, 0.7, 0.35) + (1 - warm) * (0.5, 0.75, 1.0)) * brightness
    light = discs(small, centres, radii, colours.astype(np.float32), small[0] / 250)
    x, y = grid(*small)
    base = mix((0.03, 0.04, 0.10), (0.09, 0.06, 0.14), y / y.max())
    rgb = 1 - (1 - base) * (1 - np.clip(light, 0, 1))
    return to_uint8(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC))


def gradient_shift(width: int, height: int, phase: float) -> np.ndarray:
    """A calm diagonal gradient whose colours turn slowly round the colour wheel."""
    x, y = grid(width // 8, height // 8)
    v = 0.6 * x + 0.4 * y / y.max() + 0.08 * np.sin(TAU * (x + phase))
    rgb = cosine_palette(0.6 * v + phase, (0.0, 0.33, 0.67)) * 0.5 + 0.1
    return to_uint8(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC))


IMAGES: dict[str, Callable[[int, int], np.ndarray]] = {
    "studio": studio,
    "bokeh": bokeh,
    "waves": waves,
    "dusk": dusk,
}
VIDEOS: dict[str, Callable[[int, int, float], np.ndarray]] = {
    "flow": flow,
    "bokeh-drift": bokeh_drift,
    "gradient-shift": gradient_shift,
}


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise SystemExit(f"cannot encode {path}")
    data.tofile(path)


def write_loop(path: Path, render: Callable[[int, int, float], np.ndarray]) -> None:
    """H.264 (yuv420p) in MP4, single-threaded with fixed options so the bytes are reproducible;
    frame i shows phase i / n, so frame n (not written) would equal frame 0."""
    count = FPS * SECONDS
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "24", "preset": "slow", "threads": "1"}
        stream.codec_context.thread_count = 1
        for index in range(count):
            image = render(*VIDEO_SIZE, index / count)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", type=Path, default=REPO / "obs_bgremover" / "assets" / "backgrounds"
    )
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    for name, render in IMAGES.items():
        path = args.output / f"{name}.jpg"
        write_jpeg(path, render(*IMAGE_SIZE))
        print(f"wrote {path}: {path.stat().st_size} bytes")
    for name, render in VIDEOS.items():
        path = args.output / f"{name}.mp4"
        write_loop(path, render)
        print(f"wrote {path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
