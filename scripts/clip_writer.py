"""Real H.264 clips made from frames, for the tests, the benchmark and the OBS comparison.

They all need footage a real decoder reads as a webcam or a media file gives it (4:2:0 H.264 in
MP4), made on the fly from arrays, so one writer serves them; what differs between them (the
encoder's quality options, held frames, a sound track) is an argument. Transparent clips, in
the codecs editors keep alpha in, have a writer of their own (`write_alpha_clip`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 44100


def write_clip(path: Path, frames: Iterable[np.ndarray], fps: int, *,
               encoder: Mapping[str, str] | None = None, repeat: int = 1,
               audio_seconds: float = 0.0, container: Mapping[str, str] | None = None,
               rotation: int = 0, pix_fmt: str = "yuv420p", start: float = 0.0,
               times: Sequence[float] | None = None, pixel_aspect: Fraction | None = None
               ) -> Path:
    """RGB uint8 frames as an H.264 video at ``fps``, each frame ``repeat`` times, the size
    taken from the first. ``encoder``: libx264 options (its defaults otherwise);
    ``audio_seconds``: an AAC tone that long beside the picture; ``container``: the muxer's
    options; ``rotation``: degrees counter-clockwise a player turns the frames by, as a phone
    marks the portrait video it stores on its side; ``pix_fmt``: the encoder's pixel format
    (``yuv444p`` takes odd sizes); ``start``: the seconds picture and sound start at, as in a
    file cut from a longer one; ``times``: each written frame's time in seconds, for a variable
    frame rate as phones film (``fps`` is then only the nominal rate); ``pixel_aspect``: the
    width over height of a pixel as shown, as tape-era formats store them (DV's 32:27).
    Returns ``path``."""
    with av.open(str(path), "w", options=dict(container or {})) as output:
        video = audio = None
        tick = Fraction(1, 90000 if times is not None else fps)
        written = 0
        for frame in frames:
            if video is None:
                video = output.add_stream("libx264", rate=fps, options=dict(encoder or {}))
                video.height, video.width = frame.shape[:2]
                video.pix_fmt = pix_fmt
                video.codec_context.time_base = tick
                if rotation:
                    video.set_display_rotation(rotation)
                if pixel_aspect:
                    video.codec_context.sample_aspect_ratio = pixel_aspect
                if audio_seconds:
                    audio = output.add_stream("aac", rate=AUDIO_RATE)
            encoded = av.VideoFrame.from_ndarray(frame, format="rgb24")
            encoded.time_base = tick
            for _ in range(repeat):
                time = start + (written / fps if times is None else times[written])
                encoded.pts = round(time / tick)
                output.mux(video.encode(encoded))
                written += 1
        if video is None:
            raise ValueError(f"no frames to write to {path}")
        output.mux(video.encode())
        if audio is not None:
            _write_tone(output, audio, audio_seconds, round(start * AUDIO_RATE))
    return path


# Codecs that keep an alpha channel, as editors write transparent video: the pixel format and
# the options each is written with (libvpx's VP8 refuses alpha with its alternate reference
# frames, and needs a bit rate).
ALPHA_CODECS = {
    "qtrle": ("argb", {}),
    "png": ("rgba", {}),
    "prores_ks": ("yuva444p10le", {"profile": "4444"}),
    "ffv1": ("yuva420p", {}),
    "libvpx-vp9": ("yuva420p", {}),
    "libvpx": ("yuva420p", {"b": "2M", "auto-alt-ref": "0"}),
}


def write_alpha_clip(path: Path, frames: Sequence[np.ndarray], fps: int, codec: str, *,
                     encoder: Mapping[str, str] | None = None, rotation: int = 0,
                     pixel_aspect: Fraction | None = None) -> Path:
    """Straight RGBA uint8 frames as a video with alpha in ``codec``, one of `ALPHA_CODECS`
    (in a ``.mov`` for QuickTime's codecs, ``.mkv`` for FFV1, ``.webm`` for VP8 and VP9, which
    WebM keeps the alpha of beside each frame); ``encoder``, ``rotation`` and ``pixel_aspect``
    as for `write_clip`. Returns ``path``."""
    pix_fmt, options = ALPHA_CODECS[codec]
    with av.open(str(path), "w") as output:
        video = output.add_stream(codec, rate=fps, options={**options, **(encoder or {})})
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = pix_fmt
        if rotation:
            video.set_display_rotation(rotation)
        if pixel_aspect:
            video.codec_context.sample_aspect_ratio = pixel_aspect
        for index, frame in enumerate(frames):
            encoded = av.VideoFrame.from_ndarray(frame, format="rgba")
            encoded.pts = index
            output.mux(video.encode(encoded))
        output.mux(video.encode())
    return path


def _write_tone(output: av.container.OutputContainer, audio: av.audio.stream.AudioStream,
                seconds: float, first: int) -> None:
    """A quiet 440 Hz tone of ``seconds`` from sample ``first``, in the encoder's frame
    size."""
    samples = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    tone = (0.2 * np.sin(2 * np.pi * 440 * samples)).astype(np.float32)
    for start in range(0, tone.size, 1024):
        chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], "fltp", "mono")
        chunk.sample_rate, chunk.pts = AUDIO_RATE, first + start
        output.mux(audio.encode(chunk))
    output.mux(audio.encode())
