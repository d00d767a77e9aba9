"""The filters' networks: one per (model, device), shared by every filter instance, each in a
process of its own, loaded off OBS's graphics thread and ended once no filter uses it.

The registry is process-wide state, like the rest of the OBS glue: OBS has one set of filters
per process, and a script reload keeps this module (and its processes) while it runs the script
again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future

from obs_bgremover.errors import BgRemoverError
from obs_bgremover.model import MattingModel, available_devices, select_providers
from obs_bgremover.model_process import ModelProcess, RemoteModel
from obs_bgremover.obs.environment import project_python
from obs_bgremover.obs.settings import FilterSettings

Loaded = MattingModel | RemoteModel
"""A filter's network: in a process of its own, or in OBS's where no project Python is found."""

# The network runs on half the cores, in a process of its own at a lower priority than OBS's
# threads, so that OBS keeps its frame rate and the matte rate adapts: on a 2-core CPU under
# software rendering this took OBS from dozens of late frames in 10 s at 720p30 to 0-4
# (docs/architecture.md).
NETWORK_THREADS = max(1, (os.cpu_count() or 2) // 2)
WORKER_NICE = 10

_models: dict[tuple[str, str], Future[Loaded]] = {}
_models_lock = threading.Lock()


def device_used(device: str) -> str:
    """The device a network set to ``device`` runs on, as the key of its process: "auto" for a
    device this onnxruntime lacks (the best one it has runs instead: such settings come from
    another machine, a scene collection made beside an NVIDIA GPU opened on a laptop, and
    passing the input through would put the room on screen until someone reads the log), and
    for a device that runs on the very providers "auto" picks (the CPU of a CPU-only build), so
    that one process serves both. The network's process runs the same onnxruntime, so the
    answer here is its answer too."""
    if device == "auto" or device not in available_devices():
        return "auto"
    return "auto" if select_providers(device) == select_providers("auto") else device


def _load_model(name: str, device: str) -> Loaded:
    """The model in a process of its own (`model_process`: no GIL shared with OBS, the whole
    process at a lower priority), started with the project's Python; in OBS's own process only
    where there is no such Python (the package installed into OBS's Python itself)."""
    try:
        python = project_python()
    except BgRemoverError:
        return MattingModel(name, device, threads=NETWORK_THREADS)
    return RemoteModel(ModelProcess(python, name, device, threads=NETWORK_THREADS,
                                    nice=WORKER_NICE))


def _load_into(future: Future[Loaded], name: str, device: str) -> None:
    """Load the model into ``future``; a network process that `end_models` gave up while it
    was starting is ended here, once it is up, rather than waited for there."""
    try:
        model = _load_model(name, device)
    except BaseException as error:  # handed to whoever waits for the model
        future.set_exception(error)
        return
    with _models_lock:
        # Settled under the lock that `end_models` takes: either it finds the load done and
        # ends the process, or this finds the load given up and ends it.
        if _models.get((name, device)) is future:
            future.set_result(model)
            return
    if isinstance(model, RemoteModel):
        model.kill()
    future.set_result(model)


def _usable(future: Future[Loaded]) -> bool:
    """A load under way, or one that gave a model still running: a failed load (a file fixed
    since, a driver installed) and a stopped network process are tried again."""
    if not future.done():
        return True
    return future.exception() is None and getattr(future.result(), "alive", True)


def shared_model(name: str, device: str) -> Future[Loaded]:
    """One model per (name, device) for every filter instance, loaded on a thread of its own.

    Loading costs memory and start-up time, and one network at a time is all the CPU can give
    anyway, so instances share it. It takes from a third of a second to seconds (a process
    starts, onnxruntime loads the graph), and OBS applies a filter's new settings on its
    graphics thread, which would stand still meanwhile: callers take the model from the future
    when it is done. Keyed by the device the network really runs on (`device_used`)."""
    device = device_used(device)
    with _models_lock:
        future = _models.get((name, device))
        if future is None or not _usable(future):
            future = _models[(name, device)] = Future()
            threading.Thread(target=_load_into, args=(future, name, device),
                             name="obs-bgremover-load", daemon=True).start()
        return future


def engine(settings: FilterSettings) -> tuple[str, str]:
    """The key of the settings' network process in `shared_model`: (model, `device_used`)."""
    name, device = settings.engine()
    return name, device_used(device)


def release_unused(in_use: Callable[[], set[tuple[str, str]]]) -> None:
    """End the network processes that no filter uses any more, neither for its pipeline nor
    for its settings: each holds a model in memory (~80 MB for the built-in ones), and trying a
    few ONNX files one after another would otherwise keep them all until OBS quits. A process is
    closed, not killed: a pipeline stopped by the switch may still have a frame in it. Closing
    waits for the process, so it runs on a thread of its own; a load still under way is ended
    once it is up (`_load_into`). ``in_use``: the (model, device) pairs the filters use, asked
    under the registry's lock, so that no load starts for a filter in between."""
    with _models_lock:
        used = in_use()
        released = [_models.pop(key) for key in list(_models) if key not in used]
    for future in released:
        if future.done() and future.exception() is None:
            model = future.result()
            if isinstance(model, RemoteModel):
                threading.Thread(target=model.close, name="obs-bgremover-release",
                                 daemon=True).start()


def end_models() -> int:
    """End the network processes at once (when the script unloads, OBS waiting for it), so
    that no pipeline's worker waits for one of them either; how many there were, loads still
    under way included. Such a load is not waited for (a niced child that OBS starves of CPU
    can take seconds to start): its process ends as soon as it is up (`_load_into`)."""
    with _models_lock:
        loads = list(_models.values())
        _models.clear()
        done = [load for load in loads if load.done()]
    loaded = [load.result() for load in done if load.exception() is None]
    remote = [model for model in loaded if isinstance(model, RemoteModel)]
    for model in remote:
        model.kill()
    return len(remote) + len(loads) - len(done)
