"""The matting graphs in models/: any frame size, knobs as inputs, and edges that beat the network.

These run the committed .onnx files through onnxruntime directly: they test the graph as an
artifact, whatever Python wraps it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = ("general", "landscape")


def session(name: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(REPO / "models" / f"bgremover-{name}.onnx"), options,
                                providers=["CPUExecutionProvider"])


def portraits(shared_data: Path, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for image in sorted((shared_data / "portraits-dev" / "images").glob("*.jpg"))[:count]:
        mask = shared_data / "portraits-dev" / "masks" / f"{image.stem}.png"
        pairs.append((cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB),
                      cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE) > 127))
    return pairs


def boundary_iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    edge = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    band = cv2.dilate(edge, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))) > 0
    predicted = (alpha > 127) & band
    truth = truth & band
    return np.count_nonzero(predicted & truth) / np.count_nonzero(predicted | truth)


@pytest.mark.parametrize("name", MODELS)
def test_interface(name: str) -> None:
    sess = session(name)
    (frame,) = sess.get_inputs()
    assert (frame.name, frame.type, frame.shape) == ("frame", "tensor(uint8)",
                                                     ["height", "width", 3])
    (alpha,) = sess.get_outputs()
    assert (alpha.name, alpha.type, alpha.shape) == ("alpha", "tensor(uint8)",
                                                     ["height", "width"])
    knobs = {arg.name: arg for arg in sess.get_overridable_initializers()}
    assert set(knobs) == {"threshold", "band", "edge_radius", "edge_strength", "edge_eps"}
    assert all(arg.type == "tensor(float)" and arg.shape == [] for arg in knobs.values())


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (7, 5), (333, 517), (720, 1280), (1000, 40)])
def test_any_frame_size_gives_a_matte_of_that_size(name: str, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    (alpha,) = session(name).run(None, {"frame": frame})
    assert alpha.shape == size and alpha.dtype == np.uint8


def test_knobs_change_the_matte(shared_data: Path) -> None:
    ((frame, _),) = portraits(shared_data, 1)
    sess = session("general")
    default = sess.run(None, {"frame": frame})[0]
    for knob, value in [("threshold", 0.8), ("band", 4.0), ("edge_radius", 8.0),
                        ("edge_strength", 0.0), ("edge_eps", 0.1)]:
        changed = sess.run(None, {"frame": frame, knob: np.array(value, np.float32)})[0]
        assert np.count_nonzero(changed != default) > 100, knob


def test_background_far_from_the_person_is_clean(shared_data: Path) -> None:
    """Far from the person's outline the matte is the trimap's sure region, exactly 0 or 255:
    no haze over the wall. A few pixels may stay soft where the network itself was unsure."""
    sess = session("general")
    for frame, _ in portraits(shared_data, 30):
        alpha = sess.run(None, {"frame": frame})[0]
        soft = (alpha > 0) & (alpha < 255)
        far = cv2.distanceTransform((alpha < 128).astype(np.uint8), cv2.DIST_L2, 3) > 60
        far |= cv2.distanceTransform((alpha >= 128).astype(np.uint8), cv2.DIST_L2, 3) > 60
        assert np.count_nonzero(soft & far) <= 0.01 * np.count_nonzero(far)


def test_edge_refinement_beats_the_upsampled_network(shared_data: Path) -> None:
    """Over 40 real portraits, the frame-guided edge is closer to the human-drawn outline than
    the network's own upsampled probability (edge_strength 0)."""
    sess = session("general")
    refined, plain = [], []
    for frame, truth in portraits(shared_data, 40):
        refined.append(boundary_iou(sess.run(None, {"frame": frame})[0], truth))
        off = {"frame": frame, "edge_strength": np.array(0.0, np.float32)}
        plain.append(boundary_iou(sess.run(None, off)[0], truth))
    assert np.mean(refined) > np.mean(plain) + 0.02
