"""A matting model in a process of its own, for a host whose threads must never wait for it.

In the host's own process the network shares the host's GIL: OBS's graphics thread runs the
filter's Python callbacks, and whenever it needs the GIL while the network's thread holds it (to
enter or leave onnxruntime), it waits; with the network at a lower priority, so that OBS keeps the
CPU it needs, that wait can outlast a frame. In a process of its own the network has its own
interpreter, runs at a lower priority as a whole (onnxruntime's threads included), and only
frames and mattes cross, through a pipe, while the host's waiting thread holds no GIL.

`RemoteModel` has the interface of `MattingModel` that pipelines use; one `ModelProcess` serves
any number of them (one per set of knob values), one call at a time.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import numpy as np

from obs_bgremover.errors import BgRemoverError, InputError, ModelError, NetworkStopped
from obs_bgremover.model import MattingModel, MattingSettings

# How long the process may take to load its model and say so.
START_TIMEOUT_S = 120.0
# How often a call waiting for its turn at the process looks whether it was abandoned, in seconds.
WAIT_POLL_S = 0.02


def _send(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    pickle.dump(message, stream, protocol=pickle.HIGHEST_PROTOCOL)
    stream.flush()


class ModelProcess:
    """The child process running one model (name or path, device, threads), niced by ``nice``.

    Raises `ModelError` if the model cannot be loaded there, with the child's own message."""

    def __init__(self, python: str | os.PathLike[str], model: str | os.PathLike[str],
                 device: str = "auto", threads: int | None = None, nice: int = 0) -> None:
        spec = json.dumps({"model": str(model), "device": device, "threads": threads,
                           "nice": nice})
        flags = 0
        if nice > 0 and sys.platform == "win32":  # os.name == "nt", said so that mypy sees it
            flags = subprocess.BELOW_NORMAL_PRIORITY_CLASS
        try:
            self._process = subprocess.Popen(
                [str(python), "-m", "obs_bgremover.model_process", spec],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, creationflags=flags,
            )
        except OSError as error:
            raise ModelError(f"cannot start the network process with {python}: {error}") from error
        self._lock = threading.Lock()
        kind, *values = self._first_message(model)
        if kind != "ready":
            self.close()
            raise ModelError(values[0])
        self.name, self.provider, self.path = values[0], values[1], Path(values[2])

    def _first_message(self, model: str | os.PathLike[str]) -> tuple[Any, ...]:
        """The child's first answer: ready, or why not. A child that says nothing (a driver
        that hangs while a provider starts, a Python that waits for input of its own) is ended
        after `START_TIMEOUT_S`, so that whoever waits for the model hears why instead of
        waiting for ever: in OBS, every filter that uses this model."""
        late = threading.Event()

        def give_up() -> None:
            late.set()
            self._process.kill()

        timer = threading.Timer(START_TIMEOUT_S, give_up)
        timer.daemon = True
        timer.start()
        try:
            return self._receive()
        except ModelError as error:
            self.close()
            if late.is_set():
                raise ModelError(f"the network process did not load model {model} within "
                                 f"{START_TIMEOUT_S:g} s") from error
            raise
        finally:
            timer.cancel()

    @property
    def _input(self) -> IO[bytes]:
        """The child's standard input: a pipe (`subprocess.PIPE`), so never None."""
        return cast(IO[bytes], self._process.stdin)

    @property
    def _output(self) -> IO[bytes]:
        """The child's standard output: a pipe, as `_input` is."""
        return cast(IO[bytes], self._process.stdout)

    def _receive(self) -> tuple[Any, ...]:
        try:
            return pickle.load(self._output)
        except (EOFError, pickle.UnpicklingError, OSError, ValueError) as error:
            # ValueError: the pipe closed by `close` or `kill` on another thread.
            code = self._process.poll()
            raise NetworkStopped(f"the network process stopped (exit code {code})") from error

    def run(self, frame: np.ndarray, knobs: dict[str, Any],
            abandoned: threading.Event | None = None) -> np.ndarray:
        """The alpha of one frame, computed in the child with these knob values.

        Calls take turns, in no set order. A call whose ``abandoned`` is set before its turn
        comes gives up with `ModelError`: a pipeline that is stopping must not queue behind
        live ones for a frame nobody will show (OBS's thread that destroys filters waits for
        it, and each filter removed meanwhile would add a waiting call and its frame)."""
        while True:
            if abandoned is not None and abandoned.is_set():
                raise ModelError("the call was abandoned before its turn at the network process")
            if self._lock.acquire(timeout=WAIT_POLL_S):
                break
        try:
            try:
                _send(self._input, ("run", frame, knobs))
            except (OSError, ValueError) as error:  # ValueError: see `_receive`
                raise NetworkStopped(f"the network process stopped: {error}") from error
            kind, value = self._receive()
        finally:
            self._lock.release()
        if kind == "input":
            raise InputError(value)
        if kind != "alpha":
            raise ModelError(value)
        return value

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    @property
    def pid(self) -> int:
        return self._process.pid

    def close(self) -> None:
        """End the child (it exits when its input closes) and wait for it."""
        with suppress(OSError):
            self._input.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._close_pipes()

    def kill(self) -> None:
        """End the child at once, for a host that is quitting: it holds nothing worth waiting
        for, and a niced child that the host's own work starves of CPU can take seconds to
        leave by itself. A call waiting for it fails with `ModelError`."""
        self._process.kill()
        self._process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        """Close our ends of the ended child's pipes now: left to the garbage collector, OBS
        held two descriptors per network process ended (a filter removed and added again
        twenty times: 14 more, for a minute and a half). A call still reading waits for
        its read, which the child's end has ended."""
        for pipe in (self._input, self._output):
            with suppress(OSError):
                pipe.close()


class RemoteModel:
    """`MattingModel`'s interface, the network running in a `ModelProcess`."""

    def __init__(self, process: ModelProcess, settings: MattingSettings | None = None) -> None:
        self._process = process
        self._settings = settings or MattingSettings()
        self._knobs = asdict(self._settings)
        self._abandoned = threading.Event()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self._process.run(frame, self._knobs, self._abandoned)

    def abandon(self) -> None:
        """Give up this object's call that waits for its turn at the process, and any later
        one: its pipeline is stopping. The process, and every other `RemoteModel` of it, carry
        on."""
        self._abandoned.set()

    def with_settings(self, settings: MattingSettings) -> RemoteModel:
        return RemoteModel(self._process, settings)

    @property
    def name(self) -> str:
        return self._process.name

    @property
    def provider(self) -> str:
        return self._process.provider

    @property
    def path(self) -> Path:
        return self._process.path

    @property
    def settings(self) -> MattingSettings:
        return self._settings

    @property
    def alive(self) -> bool:
        """False once the process has stopped (killed, crashed): calls then raise `ModelError`."""
        return self._process.alive

    def close(self) -> None:
        """End the process, for every `RemoteModel` made from it."""
        self._process.close()

    def kill(self) -> None:
        """End the process at once (see `ModelProcess.kill`)."""
        self._process.kill()


def _serve(spec: dict[str, Any], requests: BinaryIO, replies: BinaryIO) -> None:
    """The child: load the model, say so, then answer frames until the input closes."""
    if spec["nice"] > 0 and hasattr(os, "nice"):
        os.nice(spec["nice"])
    try:
        model = MattingModel(spec["model"], spec["device"], threads=spec["threads"])
    except BgRemoverError as error:
        _send(replies, ("error", str(error)))
        return
    _send(replies, ("ready", model.name, model.provider, str(model.path)))
    views: dict[str, MattingModel] = {}
    while True:
        try:
            _, frame, knobs = pickle.load(requests)
        except EOFError:
            return
        key = json.dumps(knobs, sort_keys=True)
        try:
            if key not in views:
                views[key] = model.with_settings(MattingSettings(**knobs))
            _send(replies, ("alpha", views[key](frame)))
        except InputError as error:
            _send(replies, ("input", str(error)))
        except Exception as error:  # reported to the host, which keeps running
            _send(replies, ("error", f"{type(error).__name__}: {error}"))


if __name__ == "__main__":
    # The pipe to the host is stdout: anything else printed must not land in it.
    replies = sys.stdout.buffer
    sys.stdout = sys.stderr
    _serve(json.loads(sys.argv[1]), sys.stdin.buffer, replies)
