"""The pictures the page shows besides previews: a frame of the user's clip, and a thumbnail of
each built-in background. Both are made once, on the first request, and kept as JPEGs (frames in
their upload's folder, so they go when it goes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from obs_bgremover.backgrounds import BUILTIN, parse_background, picture
from obs_bgremover.errors import InputError
from obs_bgremover.render import frame_at, probe
from obs_bgremover.web.store import Store

THUMBNAIL_SIZE = (192, 108)


def clip_frame(store: Store, upload_id: str, at: float) -> Path:
    """A JPEG of the frame of a clip showing at ``at`` seconds (to the millisecond)."""
    source = store.source(upload_id)
    milliseconds = round(at * 1000)
    path = source.parent / "frames" / f"{milliseconds}.jpg"
    return store.cached_image(
        path, lambda: frame_at(probe(source, until=at + 1), milliseconds / 1000))


def _thumbnail(name: str) -> np.ndarray:
    with parse_background(name) as background:
        return picture(background, THUMBNAIL_SIZE)


def background_thumbnail(store: Store, name: str) -> Path:
    """A JPEG of a built-in background (a video's first frame), at `THUMBNAIL_SIZE`."""
    if name not in BUILTIN:
        raise InputError(f"{name!r} is not a built-in background ({', '.join(BUILTIN)})")
    return store.cached_image(store.cache_dir / "backgrounds" / f"{name}.jpg",
                              lambda: _thumbnail(name))
