"""The pictures the page shows besides previews: a frame of the user's clip, and a thumbnail of
each built-in background. Both are made once, on the first request, and kept as JPEGs (frames in
their upload's folder, so they go when it goes)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from obs_bgremover.backgrounds import BUILTIN, parse_background, picture
from obs_bgremover.errors import InputError
from obs_bgremover.render import frame_at, probe
from obs_bgremover.web.store import Store, Upload

THUMBNAIL_SIZE = (192, 108)


def frame_number(upload: Upload, at: float) -> int:
    """The number of the frame of a clip that `frame_at` shows at ``at`` seconds: the one
    nearest it, at the clip's frame rate (for a clip of varying rate, its average one)."""
    assert upload.rate is not None  # a clip is a video, and `probe` gives a video's rate
    return max(0, math.ceil(at * upload.rate - 0.5))


def clip_frame(store: Store, upload: Upload, at: float) -> Path:
    """A JPEG of the frame of a clip showing at ``at`` seconds, kept under its `frame_number`:
    every time within one frame is one file, where a file per millisecond let a 10 s clip fill
    the disk with 10,000 copies of its frames."""
    source = store.source(upload.id)
    path = source.parent / "frames" / f"{frame_number(upload, at)}.jpg"
    return store.cached_image(path, lambda: frame_at(probe(source, until=at + 1), at))


def _thumbnail(name: str) -> np.ndarray:
    with parse_background(name) as background:
        return picture(background, THUMBNAIL_SIZE)


def background_thumbnail(store: Store, name: str) -> Path:
    """A JPEG of a built-in background (a video's first frame), at `THUMBNAIL_SIZE`."""
    if name not in BUILTIN:
        raise InputError(f"{name!r} is not a built-in background ({', '.join(BUILTIN)})")
    return store.cached_image(store.cache_dir / "backgrounds" / f"{name}.jpg",
                              lambda: _thumbnail(name))
