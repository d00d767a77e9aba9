"""The OBS filter's shared models, without OBS: a model is loaded on a thread of its own (OBS
applies a filter's settings on its graphics thread, which must not stand still for the second a
network process takes to start), once for every filter that asks for it, a failed load is
reported through the future and tried again, and unloading the script ends a process whose load
was still under way."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs_bgremover.errors import ModelError
from obs_bgremover.model_process import RemoteModel
from obs_bgremover.obs.filter import end_models, shared_model

LOAD_TIMEOUT_S = 120


@pytest.fixture(autouse=True)
def no_models_left():
    yield
    end_models()


def test_a_model_loads_on_a_thread_of_its_own_once_for_all() -> None:
    loading = shared_model("general", "cpu")
    # A network process takes a third of a second at the very least to start and load.
    assert not loading.done(), "shared_model waited for the load"
    assert shared_model("general", "cpu") is loading, "a second filter started a second load"
    model = loading.result(timeout=LOAD_TIMEOUT_S)
    assert isinstance(model, RemoteModel) and model.alive
    assert shared_model("general", "cpu") is loading


def test_a_failed_load_is_reported_and_tried_again(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    failed = shared_model(str(corrupt), "cpu")
    with pytest.raises(ModelError, match="corrupt.onnx"):
        failed.result(timeout=LOAD_TIMEOUT_S)
    again = shared_model(str(corrupt), "cpu")
    assert again is not failed, "a failed load was kept instead of tried again"
    with pytest.raises(ModelError):
        again.result(timeout=LOAD_TIMEOUT_S)


def test_a_stopped_process_is_replaced() -> None:
    first = shared_model("general", "cpu").result(timeout=LOAD_TIMEOUT_S)
    first.kill()
    second = shared_model("general", "cpu").result(timeout=LOAD_TIMEOUT_S)
    assert second is not first and second.alive


def test_unloading_ends_a_process_still_loading() -> None:
    loading = shared_model("general", "cpu")
    assert not loading.done()
    assert end_models() == 1
    model = loading.result(timeout=0)
    assert not model.alive, "a network process outlived the script"
