"""Temporal smoothing on real clips with the real model: less flicker, no ghosting."""

from __future__ import annotations

from itertools import islice, pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_bgremover.errors import BgRemoverError
from obs_bgremover.media import open_frames
from obs_bgremover.model import MattingModel
from obs_bgremover.temporal import TemporalSettings, TemporalSmoother, thumbnail


@pytest.fixture(scope="module")
def model(model_path: Path) -> MattingModel:
    return MattingModel(model_path, device="cpu")


def smooth(frames: list[np.ndarray], alphas: list[np.ndarray], settings: TemporalSettings):
    smoother = TemporalSmoother(settings)
    return [smoother(alpha, thumbnail(frame)) for frame, alpha in zip(frames, alphas, strict=True)]


def flicker(alphas: list[np.ndarray]) -> float:
    """Mean |alpha(t) - alpha(t-1)| / 255 * 1000, as scripts/evaluate.py measures it."""
    return float(
        np.mean([np.abs(b.astype(np.int16) - a).mean() / 255 * 1000 for a, b in pairwise(alphas)])
    )


def test_smoothing_reduces_flicker_on_a_talking_head(
    model: MattingModel, shared_data: Path
) -> None:
    frames = [
        frame for _, frame in islice(open_frames(shared_data / "talking-heads/speaker3.mp4"), 60)
    ]
    alphas = [model(frame) for frame in frames]
    raw = flicker(alphas)
    smoothed = flicker(smooth(frames, alphas, TemporalSettings()))
    plain_average = flicker(smooth(frames, alphas, TemporalSettings(0.5, float("inf"))))
    assert smoothed < 0.75 * raw
    assert smoothed < plain_average


def test_fast_motion_keeps_its_accuracy(model: MattingModel, shared_data: Path) -> None:
    """A twirling dancer: a plain average would leave the matte behind the limbs."""
    folder = shared_data / "davis-person" / "dance-twirl"
    frames = [frame for _, frame in open_frames(folder / "frames")]
    truths = [
        cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 127
        for path in sorted((folder / "masks").glob("*.png"))
    ]
    alphas = [model(frame) for frame in frames]

    def miou(mattes: list[np.ndarray]) -> float:
        return float(
            np.mean(
                [
                    ((m > 127) & t).sum() / ((m > 127) | t).sum()
                    for m, t in zip(mattes, truths, strict=True)
                ]
            )
        )

    assert miou(smooth(frames, alphas, TemporalSettings())) >= miou(alphas) - 0.01


def test_moving_pixels_take_the_new_matte(shared_data: Path) -> None:
    """Where the picture changes, the new matte passes unchanged: nothing is dragged behind."""
    folder = shared_data / "davis-person" / "dance-twirl" / "frames"
    first, later = (frame for _, frame in islice(open_frames(folder), 0, 40, 39))
    smoother = TemporalSmoother()
    smoother(np.zeros(first.shape[:2], np.uint8), thumbnail(first))
    new = np.full(first.shape[:2], 255, np.uint8)
    out = smoother(new, thumbnail(later))
    change = cv2.absdiff(thumbnail(later), thumbnail(first))
    moving = cv2.resize(change, out.shape[::-1], interpolation=cv2.INTER_NEAREST) >= 24
    moving = cv2.erode(moving.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert moving.any()
    assert (out[moving] == 255).all()
    assert (out[~moving] < 255).any()


def test_a_still_picture_steadies_the_matte(shared_data: Path) -> None:
    """The same frame with mattes alternating between two answers settles near their mean."""
    _, frame = next(iter(open_frames(shared_data / "davis-person" / "lucia" / "frames")))
    answers = [np.zeros(frame.shape[:2], np.uint8), np.full(frame.shape[:2], 200, np.uint8)]
    smoother = TemporalSmoother()
    thumb = thumbnail(frame)
    outputs = [smoother(answers[index % 2], thumb) for index in range(300)]
    assert abs(int(outputs[-1][0, 0]) - int(outputs[-2][0, 0])) <= 5
    assert 90 <= outputs[-1][0, 0] <= 110


def test_reset_and_resolution_change_take_the_matte_as_it_is(shared_data: Path) -> None:
    _, frame = next(iter(open_frames(shared_data / "davis-person" / "lucia" / "frames")))
    thumb = thumbnail(frame)
    zeros, ones = np.zeros(frame.shape[:2], np.uint8), np.full(frame.shape[:2], 255, np.uint8)
    smoother = TemporalSmoother()
    smoother(zeros, thumb)
    assert smoother(ones, thumb).max() < 255
    smoother.reset()
    assert (smoother(ones, thumb) == 255).all()
    small = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2))
    assert (smoother(np.zeros(small.shape[:2], np.uint8), thumbnail(small)) == 0).all()


def test_strength_zero_is_off(shared_data: Path) -> None:
    _, frame = next(iter(open_frames(shared_data / "davis-person" / "lucia" / "frames")))
    smoother = TemporalSmoother(TemporalSettings(strength=0))
    alphas = [np.zeros(frame.shape[:2], np.uint8), np.full(frame.shape[:2], 255, np.uint8)]
    assert all(smoother(alpha, thumbnail(frame)) is alpha for alpha in alphas)


@pytest.mark.parametrize(
    "settings", [{"strength": 1.0}, {"strength": -0.1}, {"motion_threshold": 0}]
)
def test_bad_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(BgRemoverError, match="temporal"):
        TemporalSettings(**settings)
