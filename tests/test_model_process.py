"""The network in a process of its own (how the OBS filter runs it): the same mattes as in-process,
knobs per call, a bad frame or model reported as the in-process model would, a dead process
reported instead of hanging, one that never says it is ready given up on, the process at the
requested lower priority, killed at once with its waiting call failing, and a closing pipeline
giving up its turn at a busy process."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_bgremover import model_process
from obs_bgremover.errors import InputError, ModelError
from obs_bgremover.model import MattingModel, MattingSettings
from obs_bgremover.model_process import ModelProcess, RemoteModel
from obs_bgremover.pipeline import LivePipeline


@pytest.fixture(scope="module")
def process():
    process = ModelProcess(sys.executable, "general", "cpu", threads=1, nice=5)
    yield process
    process.close()


@pytest.fixture(scope="module")
def portrait(shared_data: Path) -> np.ndarray:
    image = cv2.imread(str(shared_data / "portraits-dev" / "images" / "00015.jpg"))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def test_same_mattes_as_in_process(process: ModelProcess, portrait: np.ndarray) -> None:
    local = MattingModel("general", "cpu")
    remote = RemoteModel(process)
    assert (remote.name, remote.provider, remote.path) == ("general", local.provider, local.path)
    assert np.array_equal(remote(portrait), local(portrait))
    high = MattingSettings(threshold=0.9)
    assert np.array_equal(remote.with_settings(high)(portrait), local.with_settings(high)(portrait))
    assert not np.array_equal(remote.with_settings(high)(portrait), remote(portrait))


def test_bad_frame_is_an_input_error(process: ModelProcess, portrait: np.ndarray) -> None:
    remote = RemoteModel(process)
    with pytest.raises(InputError, match="RGB uint8"):
        remote(np.zeros((4, 4), np.uint8))
    assert remote(portrait).shape == portrait.shape[:2], "the process stopped after a bad frame"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_process_runs_at_lower_priority(process: ModelProcess) -> None:
    fields = Path(f"/proc/{process._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    assert int(fields[16]) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5)


def test_missing_model_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="no such file"):
        ModelProcess(sys.executable, "/nonexistent/model.onnx")


def test_a_dead_process_is_reported(portrait: np.ndarray) -> None:
    process = ModelProcess(sys.executable, "general", "cpu", threads=1)
    process._process.kill()
    process._process.wait()
    assert not RemoteModel(process).alive
    with pytest.raises(ModelError, match="stopped"):
        RemoteModel(process)(portrait)
    process.close()


def test_a_process_that_never_answers_is_given_up(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # A "Python" that starts and then says nothing, as a child whose provider hangs would.
    silent = tmp_path / "python"
    silent.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'pid'}\nexec sleep 60\n")
    silent.chmod(0o755)
    monkeypatch.setattr(model_process, "START_TIMEOUT_S", 0.5)
    started = time.monotonic()
    with pytest.raises(ModelError, match="did not load model general within 0.5 s"):
        ModelProcess(silent, "general")
    assert time.monotonic() - started < 5
    # Ended and waited for: no process, not even a zombie, is left.
    assert not Path("/proc", (tmp_path / "pid").read_text().strip()).exists()


@pytest.mark.parametrize("end", ["close", "kill"])
def test_an_ended_process_leaves_no_pipe_open(end: str) -> None:
    """OBS held two descriptors per network process ended until the garbage collector came
    round: 14 more after a filter was removed and added again twenty times."""
    process = ModelProcess(sys.executable, "general", "cpu", threads=1)
    getattr(process, end)()
    assert process._process.stdin.closed and process._process.stdout.closed
    assert not process.alive


def test_kill_ends_a_busy_process_and_its_waiting_call(portrait: np.ndarray) -> None:
    """What OBS's script unload relies on: killing the process while a pipeline's worker keeps
    calling it ends that worker's call with a ModelError, at once."""
    process = ModelProcess(sys.executable, "general", "cpu", threads=1)
    remote = RemoteModel(process)
    errors: list[BaseException] = []

    def keep_calling() -> None:
        try:
            while True:
                remote(portrait)
        except BaseException as error:  # noqa: BLE001  (the test inspects it)
            errors.append(error)

    worker = threading.Thread(target=keep_calling)
    worker.start()
    time.sleep(0.3)
    process.kill()
    worker.join(10)
    assert not worker.is_alive(), "the call waiting for the killed process did not end"
    assert not process.alive
    assert len(errors) == 1 and isinstance(errors[0], ModelError), errors


def test_a_closing_pipeline_gives_up_its_turn_at_a_busy_process(process: ModelProcess,
                                                                 portrait: np.ndarray) -> None:
    """Filters take turns at one network process. Closing a pipeline whose worker waits for its
    turn must not wait behind the others: under load, OBS's thread that destroys filters did,
    while every filter removed meanwhile added a waiting call and its frame (1 GB in 50)."""
    remote = RemoteModel(process)
    with process._lock:  # another pipeline's call has the process
        live = LivePipeline(remote, on_close=remote.abandon)
        live.submit(portrait)
        time.sleep(0.2)  # its worker now waits for its turn
        closer = threading.Thread(target=live.close)
        closer.start()
        closer.join(5)
        assert not closer.is_alive(), "close waited for the other call"
    with pytest.raises(ModelError, match="abandoned"):
        remote(portrait)
    assert RemoteModel(process)(portrait).shape == portrait.shape[:2], "the process stopped"
