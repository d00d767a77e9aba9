"""The virtual camera's scene: a video background shown live, on the camera's clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clip_writer import write_clip
from support import synthetic_frames

from obs_bgremover.backgrounds import LoopingVideo
from obs_bgremover.camera.scene import Scene, open_background
from obs_bgremover.errors import InputError

SIZE = (64, 48)
FRAME = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
NOBODY = FRAME[..., 0]  # an alpha of 0: the background everywhere


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "loop.mp4", synthetic_frames(10), 10)


def test_a_video_switched_to_plays_from_its_start(clip: Path) -> None:
    """Played from the stream's time, a video switched to nine seconds in was decoded up to
    there first (its 0.35 s here, 9.35 s into the stream), the picture frozen meanwhile (3 s
    with a 30 s video)."""
    with Scene("color:#00B140", SIZE) as scene:
        scene.composite(FRAME, NOBODY, 0.0)
        scene.show(str(clip), open_background(str(clip), SIZE))
        shown = scene.composite(FRAME, NOBODY, 9.35)
    with LoopingVideo(clip) as video:
        first = video.frame_at(0.0, SIZE).copy()
        stream_time = video.frame_at(0.35, SIZE)
    assert np.abs(shown.astype(int) - first).mean() < 1
    assert np.abs(shown.astype(int) - stream_time).mean() > 5


def test_a_live_video_whose_decoder_stops_keeps_its_last_frame(clip: Path) -> None:
    """A background saved over while it played: its decoder failed, and the error stopped the
    camera. Live, the frame on screen stays (the file's watch reads the new one)."""
    live, plain = open_background(str(clip), SIZE), LoopingVideo(clip)
    assert isinstance(live, LoopingVideo) and live.live
    for video in (live, plain):
        video.plate(FRAME, NOBODY, 0.0)
        video.close()  # as a decoder that failed
    times = [index / 10 for index in range(1, 40)]
    assert all(live.plate(FRAME, NOBODY, t).shape == FRAME.shape for t in times)
    with pytest.raises(InputError, match="is closed"):
        for t in times:
            plain.plate(FRAME, NOBODY, t)
