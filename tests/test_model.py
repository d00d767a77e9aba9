"""Loading models by name or path, choosing providers, and the checks on graphs and frames."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

from obs_bgremover.errors import BgRemoverError, InputError, ModelError
from obs_bgremover.model import (
    MODELS_ENV,
    PROVIDERS,
    MattingModel,
    MattingSettings,
    available_devices,
    resolve_model_path,
    select_providers,
)


@pytest.fixture(scope="module")
def model(model_path: Path) -> MattingModel:
    return MattingModel(model_path, device="cpu")


def test_named_model_is_found_through_the_environment(
    tmp_path: Path, stand_in_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(stand_in_model, tmp_path / "bgremover-landscape.onnx")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    assert resolve_model_path("landscape") == tmp_path / "bgremover-landscape.onnx"
    model = MattingModel("landscape", device="cpu")
    assert model.name == "landscape"
    assert model.path == tmp_path / "bgremover-landscape.onnx"


def test_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(ModelError, match="unknown model 'portrait'") as caught:
        MattingModel("portrait")
    assert "general" in str(caught.value) and "landscape" in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.onnx"
    with pytest.raises(ModelError, match="no such file") as caught:
        MattingModel(missing)
    assert str(missing) in str(caught.value)


def test_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is not a file"):
        MattingModel(tmp_path)


def test_a_model_path_too_long_says_so(tmp_path: Path) -> None:
    """An OSError escaped: in OBS the network process died of it, and the log said only that
    it had stopped (exit code 1)."""
    with pytest.raises(ModelError, match=r"cannot be read \(File name too long\)"):
        MattingModel(tmp_path / ("x" * 300 + ".onnx"))


def test_corrupt_file_is_named(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelError, match="cannot load model") as caught:
        MattingModel(corrupt)
    assert str(corrupt) in str(caught.value)


@pytest.mark.parametrize(
    ("interface", "message"),
    [
        ({"frame_name": "image"}, "has no input 'frame'"),
        ({"frame_type": TensorProto.FLOAT}, r"input 'frame' must be .*got tensor\(float\)"),
        (
            {"frame_shape": (1, "height", "width", 3)},
            r"input 'frame' must be .*\[height, width, 3\]",
        ),
        ({"frame_shape": ("height", "width", 4)}, r"got tensor\(uint8\) \['height', 'width', 4\]"),
        ({"alpha_name": "mask"}, "has no output 'alpha'"),
        ({"alpha_type": TensorProto.FLOAT}, r"output 'alpha' must be .*got tensor\(float\)"),
        ({"alpha_rank": 3}, r"output 'alpha' must be .*\[height, width\]"),
        ({"required_threshold": True}, "threshold have no default value"),
        ({"threshold_type": TensorProto.DOUBLE}, r"knob 'threshold' must be a float32 scalar"),
    ],
)
def test_wrong_interface_says_expected_and_got(make_graph, interface: dict, message: str) -> None:
    path = make_graph(**interface)
    with pytest.raises(ModelError, match=message) as caught:
        MattingModel(path, device="cpu")
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("frame", "got"),
    [
        (np.zeros((48, 64, 3), np.float32), "float32 array of shape (48, 64, 3)"),
        (np.zeros((48, 64), np.uint8), "uint8 array of shape (48, 64)"),
        (np.zeros((48, 64, 4), np.uint8), "uint8 array of shape (48, 64, 4)"),
        (np.zeros((0, 64, 3), np.uint8), "uint8 array of shape (0, 64, 3)"),
        ([[[0, 0, 0]]], "got list"),
    ],
)
def test_wrong_frame_says_expected_and_got(model: MattingModel, frame, got: str) -> None:
    with pytest.raises(InputError, match=r"\(height, width, 3\)") as caught:
        model(frame)
    assert got in str(caught.value)


def test_alpha_is_uint8_of_the_frame_size(model: MattingModel) -> None:
    frame = np.random.default_rng(1).integers(0, 256, (97, 131, 3), dtype=np.uint8)
    alpha = model(frame)
    assert alpha.dtype == np.uint8
    assert alpha.shape == (97, 131)


def test_views_give_the_same_alpha_as_copies(model: MattingModel) -> None:
    frame = np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    mirrored = frame[:, ::-1]
    assert not mirrored.flags.c_contiguous
    np.testing.assert_array_equal(model(mirrored), model(np.ascontiguousarray(mirrored)))


def test_spinning_threads_change_only_the_speed(model: MattingModel, model_path: Path) -> None:
    frame = np.random.default_rng(3).integers(0, 256, (72, 128, 3), dtype=np.uint8)
    spinning = MattingModel(model_path, "cpu", spin=True)
    np.testing.assert_array_equal(spinning(frame), model(frame))


def test_knobs_reach_the_graph_and_undeclared_ones_are_left_out(stand_in_model: Path) -> None:
    frame = np.full((4, 6, 3), 100, np.uint8)
    model = MattingModel(stand_in_model, device="cpu")
    np.testing.assert_array_equal(model(frame), 100)  # the graph's own threshold, 0.5
    halved = model.with_settings(MattingSettings(threshold=0.25, band=3.0))
    np.testing.assert_array_equal(halved(frame), 50)
    np.testing.assert_array_equal(model(frame), 100)
    assert halved.settings.threshold == 0.25 and model.settings == MattingSettings()


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"threshold": 1.0}, "threshold must be a number above 0 and below 1, got 1.0"),
        ({"threshold": float("nan")}, "threshold must be a number above 0 and below 1, got nan"),
        ({"band": -5.0}, "band must be a number in 0..512, got -5.0"),
        ({"band": 100000.0}, "band must be a number in 0..512, got 100000.0"),
        ({"edge_radius": 1000.0}, "edge_radius must be a number in 0..256"),
        ({"edge_strength": 5.0}, "edge_strength must be a number in 0..1"),
        ({"edge_eps": 0.0}, "edge_eps must be a number above 0, got 0.0"),
        ({"edge_eps": float("inf")}, "edge_eps must be a number above 0, got inf"),
        ({"threshold": "0.5"}, "threshold must be a number above 0 and below 1, got '0.5'"),
        # The graph got 0 (`render --edge-eps 1e-320`: see test_render).
        ({"edge_eps": 1e-40}, "edge_eps 1e-40 is too close to 0 or too large for the graph's "
                              "32-bit numbers"),
        ({"edge_eps": 1e39}, "edge_eps 1e+39 is too close to 0"),
        ({"band": 1e-40}, "band 1e-40 is too close to 0"),
    ],
)
def test_knob_values_the_graph_cannot_use_are_named(knobs: dict, message: str) -> None:
    # The graph takes any number: a nan threshold gives an empty matte, a band of 100000 px
    # took 36 s a frame.
    with pytest.raises(BgRemoverError, match="^" + re.escape(message)):
        MattingSettings(**knobs)


def test_numpy_numbers_are_knob_values_like_any_other() -> None:
    """A threshold read from an array was refused as "not a number"."""
    assert MattingSettings(threshold=np.float32(0.25), band=np.int64(8)).threshold == 0.25
    with pytest.raises(BgRemoverError, match="threshold must be a number"):
        MattingSettings(threshold=np.True_)


def test_knob_values_at_their_limits_are_accepted() -> None:
    MattingSettings(threshold=0.01, band=0, edge_radius=256, edge_strength=1, edge_eps=10)
    MattingSettings(threshold=0.99, band=512, edge_radius=0, edge_strength=0, edge_eps=1e-9)


def test_cpu_is_always_available_and_last() -> None:
    assert "cpu" in available_devices()
    assert select_providers("cpu") == ["CPUExecutionProvider"]
    assert select_providers("auto")[-1] == "CPUExecutionProvider"


def test_model_reports_the_provider_that_runs_it(model: MattingModel) -> None:
    assert model.provider == "CPUExecutionProvider"


def test_unavailable_device_names_the_available_ones() -> None:
    missing = [device for device in PROVIDERS if device not in available_devices()]
    if not missing:
        pytest.skip("every execution provider is available here")
    with pytest.raises(ModelError, match=f"device '{missing[0]}' .* is not available") as caught:
        select_providers(missing[0])
    assert "available: " in str(caught.value) and "cpu" in str(caught.value)


def test_unknown_device_lists_the_devices(model_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown device 'tpu': expected one of auto, tensorrt"):
        MattingModel(model_path, device="tpu")


@pytest.mark.parametrize("setting", [None, "0"])
def test_onnxruntime_keeps_no_telemetry_unless_asked(setting: str | None, tmp_path: Path) -> None:
    """onnxruntime 1.29 and later send Microsoft telemetry from Linux too: a model loaded and
    run left a device id and an event store under ~/.cache/Microsoft and a session file in the
    temporary folder, without a word to the user. A user who sets ORT_DISABLE_TELEMETRY=0
    gets onnxruntime's own behaviour back."""
    home, temporary = tmp_path / "home", tmp_path / "tmp"
    temporary.mkdir(parents=True)
    home.mkdir()
    # onnxruntime keeps no telemetry where one of these says it runs under CI (the names are
    # in its library): dropped, so that the case with the variable at 0 shows what a user's
    # machine gets, and this test can fail in CI too.
    ci = {"CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
          "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR",
          "BITBUCKET_BUILD_NUMBER", "ORT_RUNNING_UNIT_TESTS", "ORT_DISABLE_TELEMETRY"}
    env = {key: value for key, value in os.environ.items() if key not in ci}
    env.update(HOME=str(home), TMPDIR=str(temporary), XDG_CACHE_HOME=str(home / ".cache"))
    if setting is not None:
        env["ORT_DISABLE_TELEMETRY"] = setting
    subprocess.run([sys.executable, "-c", "import numpy as np\n"
                    "from obs_bgremover.model import MattingModel\n"
                    "MattingModel('general', 'cpu')(np.zeros((64, 64, 3), np.uint8))"],
                   env=env, check=True, timeout=120)
    left = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")
                  if path.is_file())
    if setting is None:
        assert left == []
    else:  # the other case shows that this onnxruntime keeps them where it does
        assert any("onnxruntime" in path for path in left), left
