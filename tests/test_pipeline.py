"""The synchronous pipeline on real frames with the real model."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_bgremover.cli import SAMPLE
from obs_bgremover.media import open_frames
from obs_bgremover.model import MattingModel
from obs_bgremover.pipeline import Pipeline


@pytest.fixture(scope="module")
def model(model_path: Path) -> MattingModel:
    return MattingModel(model_path, device="cpu")


def test_sample_clip_gives_one_alpha_per_frame(model: MattingModel) -> None:
    pipeline = Pipeline(model)
    for _, frame in islice(open_frames(SAMPLE), 5):
        alpha = pipeline.process(frame)
        assert alpha.dtype == np.uint8 and alpha.shape == frame.shape[:2] == (480, 854)


def test_real_portraits_are_cut_out(model: MattingModel, shared_data: Path) -> None:
    """A smoke test of quality, over several images so that no single one decides it."""
    folder = shared_data / "portraits-dev"
    ious = []
    for name, frame in islice(open_frames(folder / "images"), 10):
        person = Pipeline(model).process(frame) > 127
        truth = cv2.imread(str(folder / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE) > 127
        ious.append((person & truth).sum() / (person | truth).sum())
    assert np.mean(ious) > 0.8
