"""Shared fixtures: the real model, the shared evaluation data, and small real files made on the fly
(ONNX graphs with a chosen interface, H.264 videos) for the cases the real files cannot show, and
a throw-away Redis server for the render queue on Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from clip_writer import write_clip
from onnx import TensorProto, helper, numpy_helper
from support import missing, synthetic_frames

from obs_bgremover.render import open_huey

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The evaluation data beside the checkout (../shared/data)."""
    path = REPO.parent / "shared" / "data"
    if not path.is_dir():
        missing(f"shared data folder {path}")
    return path


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real general model, as shipped in models/."""
    path = REPO / "models" / "bgremover-general.onnx"
    if not path.is_file():
        missing(f"model {path} (built by scripts/build_matting_model.py)")
    return path


def build_graph(
    path: Path,
    *,
    frame_name: str = "frame",
    frame_type: int = TensorProto.UINT8,
    frame_shape: Sequence[int | str] = ("height", "width", 3),
    alpha_name: str = "alpha",
    alpha_type: int = TensorProto.UINT8,
    alpha_rank: int = 2,
    threshold_type: int = TensorProto.FLOAT,
    required_threshold: bool = False,
) -> Path:
    """Save a tiny real ONNX graph: alpha = mean(frame over channels) * 2 * threshold, with the
    knob ``threshold`` (default 0.5, so the default output is the channel mean) and every part of
    the interface replaceable to make a wrong one."""
    frame = helper.make_tensor_value_info(frame_name, frame_type, list(frame_shape))
    threshold = helper.make_tensor_value_info("threshold", threshold_type, [])
    alpha_shape = ["height", "width", 1][:alpha_rank]
    alpha = helper.make_tensor_value_info(alpha_name, alpha_type, alpha_shape)
    threshold_dtype = helper.tensor_dtype_to_np_dtype(threshold_type)
    initializers = [numpy_helper.from_array(np.array([2], np.int64), "axes")]
    if not required_threshold:
        initializers.append(numpy_helper.from_array(np.array(0.5, threshold_dtype), "threshold"))
    nodes = [
        helper.make_node("Cast", [frame_name], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["pixels", "axes"], ["mean"], keepdims=alpha_rank == 3),
        helper.make_node("Cast", ["threshold"], ["threshold_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["threshold_f", "threshold_f"], ["gain"]),
        helper.make_node("Mul", ["mean", "gain"], ["scaled"]),
        helper.make_node("Cast", ["scaled"], [alpha_name], to=alpha_type),
    ]
    graph = helper.make_graph(nodes, "stand-in", [frame, threshold], [alpha], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


@pytest.fixture
def make_graph(tmp_path: Path) -> Callable[..., Path]:
    """`build_graph` writing into this test's tmp_path."""

    def make(name: str = "graph.onnx", **interface: object) -> Path:
        return build_graph(tmp_path / name, **interface)

    return make


@pytest.fixture(scope="session")
def stand_in_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A graph with the real interface whose output is known exactly (the channel mean), for
    checking that knob values reach the graph."""
    return build_graph(tmp_path_factory.mktemp("models") / "bgremover-general.onnx")


@pytest.fixture
def frames() -> list[np.ndarray]:
    """Five 64x48 RGB frames: the content of the `video` fixture before encoding."""
    return synthetic_frames(5)


@pytest.fixture
def video(tmp_path: Path, frames: list[np.ndarray]) -> Path:
    """A real five-frame 64x48 H.264 MP4."""
    return write_clip(tmp_path / "clip.mp4", frames, 25)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throw-away redis-server on a free loopback port, persisting nothing."""
    server = shutil.which("redis-server")
    if server is None:
        missing("redis-server (python3 install.py --test installs it)")
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                open_huey(url)
                break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
