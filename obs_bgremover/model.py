"""Load a matting graph by name or path, choose where it runs, and turn RGB frames into alpha.

The graph does all the pixel work (resizing, the network, edge refinement), so every front end gets
the same result from one call. This module only finds the file, picks an onnxruntime execution
provider and checks what goes in and what comes out.
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# onnxruntime 1.29 and later send Microsoft telemetry from Linux and macOS as well (a device id
# kept under ~/.cache, a process event, session and model events), unless this is set before it
# is imported: read later, it changes nothing. A camera pipeline has no business reporting on
# its user; one who wants it sets the variable to 0.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

try:
    import onnxruntime as ort
except ImportError as err:
    # A Ctrl-C while onnxruntime's extension initialises fails its import, as ImportError
    # ("initialization failed"): the user stopped the command, and was told to reinstall.
    cause = err.__cause__ or err.__context__
    if isinstance(cause, KeyboardInterrupt):
        raise cause from None
    raise ImportError(
        f"onnxruntime is not installed in {sys.prefix}: obs-bgremover needs one build of it. Run "
        "`python3 install.py` in the project folder (it picks onnxruntime or onnxruntime-gpu), "
        "or there install it with one of the extras: pip install -e '.[cpu]' (or '.[gpu]')."
    ) from err
if not hasattr(ort, "InferenceSession"):  # a module folder left behind, usually by uninstalling
    # one of onnxruntime and onnxruntime-gpu while both were installed
    _where = getattr(ort, "__file__", None) or ", ".join(getattr(ort, "__path__", []))
    raise ImportError(
        f"the onnxruntime found ({_where}) is incomplete. Reinstall it: pip uninstall -y "
        "onnxruntime onnxruntime-gpu, then run `python3 install.py` in the project folder."
    )
if os.environ["ORT_DISABLE_TELEMETRY"] != "0":
    ort.disable_telemetry_events()  # Windows' own (ETW) events, which the variable leaves on

from obs_bgremover.errors import BgRemoverError, InputError, ModelError  # noqa: E402

MODEL_NAMES = ("general", "landscape")
MODELS_ENV = "OBS_BGREMOVER_MODELS"

# The device names users type, each mapped to its onnxruntime provider, in the order "auto"
# prefers them. CPU comes last: it is in every onnxruntime build and is always the fallback.
PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEVICES = ("auto", *PROVIDERS)

# More intra-op threads than this stop paying off for one frame and starve OBS's own threads.
MAX_THREADS = 8


# The graph computes in float32: a knob of 1e-320 reached it as 0, and a render job's record
# came to hold 0.0, which then failed to load and broke `jobs` for the whole queue.
_FLOAT32 = (float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max))


def _accepted(low: float, high: float, open_ends: bool) -> str:
    """What a knob accepts, as its help and its error say it."""
    if not open_ends:
        return f"in {low:g}..{high:g}"
    return f"above {low:g}" + (f" and below {high:g}" if high < math.inf else "")


def _knob(description: str, low: float, high: float = math.inf, *, open_ends: bool = False
          ) -> Any:
    """A knob field: unset by default, with the help text every front end shows for it and the
    values it accepts (``low..high``, or strictly between them with ``open_ends``)."""
    return field(default=None, metadata={
        "help": f"{description}; {_accepted(low, high, open_ends)}",
        "accepts": (low, high, open_ends),
    })


@dataclass(frozen=True)
class MattingSettings:
    """The graph's knobs, passed down as one object.

    None keeps the default stored in the graph, so a user states only what they change and a
    retuned graph's defaults reach everyone else. A value the graph cannot use is refused here,
    naming the knob: the graph itself would take any number and give an empty matte (a
    threshold of nan) or take seconds a frame (a band of 100000 px took 36 s at 720p). The
    widths' limits are several times what a 4K frame needs.
    """

    threshold: float | None = _knob("probability above which a pixel is the person", 0, 1,
                                    open_ends=True)
    band: float | None = _knob("width in pixels of the uncertain band around the cut", 0, 512)
    edge_radius: float | None = _knob("radius in pixels of the edge-following filter window",
                                      0, 256)
    edge_strength: float | None = _knob(
        "0: keep the network's soft edge, 1: follow frame edges", 0, 1)
    edge_eps: float | None = _knob("regularisation of the edge filter; larger is smoother", 0,
                                   open_ends=True)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> MattingSettings:
        """The knobs found in ``values`` (a command's parsed flags, ``vars(args)``, which are
        named as the knobs are), each missing one left at the graph's default."""
        return cls(**{knob.name: values.get(knob.name) for knob in fields(cls)})

    def __post_init__(self) -> None:
        for knob in fields(self):
            complaint = knob_complaint(knob.name, getattr(self, knob.name))
            if complaint:
                raise BgRemoverError(f"{knob.name} {complaint}")


def knob_complaint(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the `MattingSettings` knob ``name``, or None. Apart
    from the refusal, so that a front end can name the knob as its user spells it (a flag, a
    key of a file)."""
    if value is None:
        return None
    low, high, open_ends = next(
        knob for knob in fields(MattingSettings) if knob.name == name).metadata["accepts"]
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if number and math.isfinite(value) and (
        low < value < high if open_ends else low <= value <= high
    ):
        if value == 0 or _FLOAT32[0] <= abs(value) <= _FLOAT32[1]:
            return None
        return f"{value!r} is too close to 0 or too large for the graph's 32-bit numbers"
    return f"must be a number {_accepted(low, high, open_ends)}, got {value!r}"


def model_dirs() -> list[Path]:
    """Folders searched for a named model, first match wins: the user's override
    (``$OBS_BGREMOVER_MODELS``, several joined with ``os.pathsep``), a source checkout, then an
    installed copy."""
    dirs = [Path(p) for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parents[1] / "models")
    dirs.append(Path(sys.prefix) / "share" / "obs-bgremover" / "models")
    return dirs


def resolve_model_path(name_or_path: str | os.PathLike[str]) -> Path:
    """The .onnx file for a built-in model name (``general``, ``landscape``) or a path."""
    if name_or_path in MODEL_NAMES:
        filename = f"bgremover-{name_or_path}.onnx"
        dirs = model_dirs()
        for folder in dirs:
            if (folder / filename).is_file():
                return folder / filename
        raise ModelError(
            f"model {name_or_path!r} not found: no {filename} in {', '.join(map(str, dirs))} "
            f"(set {MODELS_ENV} to the folder that holds it)"
        )
    path = Path(name_or_path).expanduser()
    try:
        if path.is_file():
            return path
        exists = path.exists()
    except OSError as error:  # a name too long for the file system, a drive that dropped out
        raise ModelError(f"model path {path} cannot be read ({error.strerror or error})") from error
    if exists:
        raise ModelError(f"model path {path} is not a file")
    raise ModelError(
        f"unknown model {str(name_or_path)!r}: no such file, and not one of the built-in "
        f"models ({', '.join(MODEL_NAMES)})"
    )


@functools.cache
def _load_gpu_libraries() -> None:
    """Load the CUDA and cuDNN libraries that pip installed with onnxruntime-gpu (the ``gpu``
    extra): onnxruntime does not look for them in site-packages by itself. A CPU build has none."""
    if getattr(ort, "cuda_version", "") and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()


def available_devices() -> list[str]:
    """Device names this onnxruntime build can run on, best first."""
    _load_gpu_libraries()
    available = ort.get_available_providers()
    return [device for device, provider in PROVIDERS.items() if provider in available]


def select_providers(device: str = "auto") -> list[str]:
    """onnxruntime providers to try, best first, always ending with the CPU provider so that a
    session whose accelerator fails to start still runs."""
    devices = available_devices()
    if device == "auto":
        return [PROVIDERS[d] for d in devices]
    if device not in PROVIDERS:
        raise ModelError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")
    if device not in devices:
        raise ModelError(
            f"device {device!r} ({PROVIDERS[device]}) is not available in this onnxruntime "
            f"build; available: {', '.join(devices)}"
        )
    return list(dict.fromkeys([PROVIDERS[device], PROVIDERS["cpu"]]))


def _session_options(providers: list[str], threads: int | None,
                     spin: bool) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or min(os.cpu_count() or 1, MAX_THREADS)
    # The knobs are initializers that are also inputs; onnxruntime warns about each one on load.
    options.log_severity_level = 3
    # The guided filters' covariances of flat regions reach denormal floats, which cost x86
    # CPUs a hundredfold; flushing them to zero changes no output pixel.
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    # Spinning worker threads wait for the graph's next step without sleeping: faster per
    # frame, but inside OBS they took a core from its renderer (off, the process's CPU use
    # halved and its skipped frames went away).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    # DirectML refuses sessions with memory patterns enabled.
    options.enable_mem_pattern = PROVIDERS["directml"] not in providers
    return options


def _load_session(path: Path, providers: list[str], threads: int | None,
                  spin: bool) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(
            str(path), sess_options=_session_options(providers, threads, spin), providers=providers
        )
    except Exception as err:  # onnxruntime raises its own classes, all plain Exceptions
        raise ModelError(f"cannot load model {path}: {err}") from err


def _describe(arg: ort.NodeArg) -> str:
    return f"{arg.type} {arg.shape}"


def _check_interface(session: ort.InferenceSession, path: Path) -> frozenset[str]:
    """Check the graph takes ``frame`` and gives ``alpha``; return the knobs it declares."""
    inputs = {arg.name: arg for arg in session.get_inputs()}
    outputs = {arg.name: arg for arg in session.get_outputs()}
    frame, alpha = inputs.get("frame"), outputs.get("alpha")
    if frame is None:
        raise ModelError(f"model {path} has no input 'frame' (inputs: {', '.join(inputs)})")
    if (
        frame.type != "tensor(uint8)"
        or len(frame.shape) != 3
        or (isinstance(frame.shape[2], int) and frame.shape[2] != 3)
    ):
        raise ModelError(
            f"model {path}: input 'frame' must be tensor(uint8) [height, width, 3], "
            f"got {_describe(frame)}"
        )
    if alpha is None:
        raise ModelError(f"model {path} has no output 'alpha' (outputs: {', '.join(outputs)})")
    if alpha.type != "tensor(uint8)" or len(alpha.shape) != 2:
        raise ModelError(
            f"model {path}: output 'alpha' must be tensor(uint8) [height, width], "
            f"got {_describe(alpha)}"
        )
    required = sorted(set(inputs) - {"frame"})
    if required:
        raise ModelError(
            f"model {path}: inputs {', '.join(required)} have no default value; "
            "only 'frame' may be required"
        )
    knob_names = {knob.name for knob in fields(MattingSettings)}
    knobs = [arg for arg in session.get_overridable_initializers() if arg.name in knob_names]
    for knob in knobs:
        if knob.type != "tensor(float)" or knob.shape != []:
            raise ModelError(
                f"model {path}: knob {knob.name!r} must be a float32 scalar, got {_describe(knob)}"
            )
    return frozenset(knob.name for knob in knobs)


class Network(Protocol):
    """What a `Pipeline` needs of the network: an RGB uint8 frame in, its uint8 alpha out.
    `MattingModel` runs the graph in this process, `RemoteModel` (model_process) in a process of
    its own, and the live pipeline may hand it to a thread of its own; the pipeline takes any."""

    def __call__(self, frame: np.ndarray) -> np.ndarray: ...


class MattingModel:
    """A loaded matting graph: an RGB uint8 frame in, a uint8 alpha matte of the same size out.

    Loading is the slow part (graph optimisation, provider start-up), so a front end makes one
    model per stream and calls it per frame; `with_settings` reuses the loaded session.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = "general",
        device: str = "auto",
        settings: MattingSettings = MattingSettings(),
        threads: int | None = None,
        spin: bool = False,
    ) -> None:
        """``threads``: how many CPU threads the network may use (default: one per core, up
        to MAX_THREADS); a host that needs cores of its own, like OBS, asks for fewer.
        ``spin``: let those threads busy-wait between the graph's many small steps instead of
        sleeping, for a front end that has the CPU to itself while a frame is matted (the
        commands, a render); a live host sharing the CPU with its own renderer leaves it off."""
        self._path = resolve_model_path(model)
        self._name = model if model in MODEL_NAMES else self._path.stem
        self._session = _load_session(self._path, select_providers(device), threads, spin)
        self._knobs = _check_interface(self._session, self._path)
        self._settings = settings
        self._feed = self._knob_feed(settings)

    def _knob_feed(self, settings: MattingSettings) -> dict[str, np.ndarray]:
        """The knob inputs, built once: only those set and only those this graph declares, so a
        graph without a knob keeps working with settings made for another."""
        return {
            name: np.array(value, dtype=np.float32)
            for name, value in asdict(settings).items()
            if value is not None and name in self._knobs
        }

    def with_settings(self, settings: MattingSettings) -> MattingModel:
        """The same loaded graph with other knob values, so changing a knob costs no reload."""
        other = copy.copy(self)
        other._settings = settings
        other._feed = self._knob_feed(settings)
        return other

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Alpha (uint8, height x width, 255 = person) for one RGB uint8 frame."""
        if (
            not isinstance(frame, np.ndarray)
            or frame.dtype != np.uint8
            or frame.ndim != 3
            or frame.shape[2] != 3
            or 0 in frame.shape
        ):
            got = (
                f"{frame.dtype} array of shape {frame.shape}"
                if isinstance(frame, np.ndarray)
                else type(frame).__name__
            )
            raise InputError(
                f"frame must be a non-empty RGB uint8 array of shape (height, width, 3), got {got}"
            )
        try:
            return self._session.run(["alpha"],
                                     {**self._feed, "frame": np.ascontiguousarray(frame)})[0]
        except Exception as err:  # onnxruntime's own classes, all plain Exceptions
            # A custom graph that loads and fails on frames (a fixed input size): said as the
            # model's fault, where it escaped as a traceback.
            raise ModelError(f"model {self.name} failed on a {frame.shape[1]}x{frame.shape[0]} "
                             f"frame: {err}") from err

    @property
    def provider(self) -> str:
        """The onnxruntime provider that actually runs the graph (after any fallback)."""
        return self._session.get_providers()[0]

    @property
    def path(self) -> Path:
        return self._path

    @property
    def name(self) -> str:
        """The built-in name, or the file's stem for a model given by path."""
        return self._name

    @property
    def settings(self) -> MattingSettings:
        return self._settings
