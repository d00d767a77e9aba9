#!/usr/bin/env python3
"""Set up obs-bgremover in a project-local virtual environment, and optionally test or demo it.

Run it from anywhere as
``python3 install.py [--cpu | --gpu] [--add-to-obs] [--dev | --test [PYTEST ARGS...] | --demo]``.

Why a script and not just ``pip install``: users of an OBS plug-in should not have to know about
virtual environments, editable installs, test extras, which onnxruntime build suits their GPU, or
which Python their OBS can load. One command has to give the same result on a fresh checkout and on
the tenth re-run, and CI runs exactly the command the README shows. It uses the standard library
only, because it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# How long a command (pip, the tests) has to stop once this script is stopped, before it is
# killed.
CHILD_STOP_S = 10.0
REPO_ROOT = Path(__file__).resolve().parent
VENV_DIR = REPO_ROOT / ".venv"
INSTALLED = VENV_DIR / "obs-bgremover-install.json"  # `install_record` of the last install
DEMO_OUTPUT = Path("out") / "sample-bokeh-drift.mp4"
MIN_PYTHON = (3, 11)
PYTEST_NO_TESTS = 5
OBS_SCRIPT = REPO_ROOT / "obs_bgremover" / "obs" / "obs_bgremover_filter.py"
# How any checkout's script path ends: its name, and its name until 2026-12-07, script.py (OBS
# imports a script by its file's name, and took another script.py for it, or it for another).
OBS_SCRIPT_TAILS = ("/obs_bgremover/obs/obs_bgremover_filter.py", "/obs_bgremover/obs/script.py")
# The newest Python each OBS release loads on Windows and macOS, by the first release of each step:
# OBS tries Python 3.<newest> down to 3.6 in the folder set under Tools > Scripts > Python Settings
# (obs-scripting-python-import.c). On Linux OBS is linked against the system's libpython instead.
OBS_NEWEST_PYTHON = (((0, 0), (3, 10)), ((29, 1), (3, 11)), ((30, 1), (3, 12)))
# The onnxruntime builds that all install the one `onnxruntime` module: at most one may be present.
ORT_DISTRIBUTIONS = (
    "onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"
)
# onnxruntime-gpu 1.27 and newer are built for CUDA 13; 1.26 is the last one for CUDA 12 drivers.
ORT_GPU_FOR_CUDA12 = "onnxruntime-gpu<1.27"
# An `ldd` line resolving libpython, e.g. "libpython3.11.so.1.0 => /lib/x86_64-linux-gnu/...".
LDD_LIBPYTHON = re.compile(r"libpython3\.(\d+)\S*\s+=>\s+(/\S+)")


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``kill``, a closed terminal), raised where Ctrl-C would be: pip was
    left running on its own, installing into the venv while a re-run started another."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signum)


def stop_on_signals() -> None:
    """Stop as on Ctrl-C on SIGTERM and SIGHUP (POSIX), so that `call` stops its command."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop)


class InstallError(Exception):
    """A step failed in a way the user can act on; main() prints the message without a traceback."""


def step(message: str) -> None:
    """Announce a step, so a long pip run is visibly part of a known sequence."""
    print(f"\n==> {message}", flush=True)


def venv_bin(name: str) -> Path:
    """Path of an executable inside the venv; Windows venvs use Scripts/ and .exe names."""
    if os.name == "nt":
        return VENV_DIR / "Scripts" / f"{name}.exe"
    return VENV_DIR / "bin" / name


def run(cmd: Sequence[str | os.PathLike[str]], what: str) -> None:
    """Run a command from the repo root; failure becomes an InstallError naming the step."""
    code = call(cmd)
    if code != 0:
        raise InstallError(
            f"{what} failed (exit code {code}).\n"
            "See the output above, and docs/troubleshooting.md for common causes."
        )


def call(cmd: Sequence[str | os.PathLike[str]]) -> int:
    """Run a command from the repo root and return its exit code.

    The repo root is the working directory so that relative paths (``.``, ``out/``) and the test
    configuration in pyproject.toml mean the same thing whatever directory the user started in.
    """
    print("    $ " + " ".join(str(part) for part in cmd), flush=True)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    try:
        process = subprocess.Popen([str(part) for part in cmd], cwd=REPO_ROOT, env=env)
    except OSError as exc:
        raise InstallError(f"could not run {cmd[0]}: {exc}") from exc
    try:
        return process.wait()
    except BaseException:  # Ctrl-C, `Stopped`: the command stops too, cleaning up as it can
        process.terminate()
        try:
            process.wait(CHILD_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise


def ask_python(python: str | os.PathLike[str], expression: str) -> str:
    """Print ``expression`` (``sys`` is imported) in another interpreter, such as the venv's, whose
    facts this script cannot import."""
    code = f"import sys; print({expression})"
    try:
        result = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InstallError(f"cannot run Python interpreter {str(python)!r}: {exc}") from exc
    return result.stdout.strip()


def python_version(python: str | os.PathLike[str]) -> tuple[int, int]:
    """Ask an interpreter for its version, so an unusable --python is rejected before any work."""
    major, minor = ask_python(python, "'%d.%d' % sys.version_info[:2]").split(".")
    return int(major), int(minor)


def dotted(version: tuple[int, ...]) -> str:
    """A version tuple as people write it, e.g. 3.11."""
    return ".".join(map(str, version))


def venv_is_usable() -> bool:
    """True if .venv has a Python with pip; a half-made venv (no pip) is rebuilt, not reused."""
    python = venv_bin("python")
    if not python.exists():
        return False
    try:
        result = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True)
    except OSError:
        return False
    return result.returncode == 0


def venv_moved() -> bool:
    """Whether .venv was made in another folder (the checkout was moved or renamed): its
    Python still runs, but its scripts start that folder's Python (pip writes the path into
    their first lines, or into the second under a ``/bin/sh`` stub for long paths) and its
    editable install points there, so ``obs-bgremover`` no longer starts."""
    try:
        with venv_bin("pip").open("rb") as script:
            head = script.readline() + script.readline()
    except OSError:
        return False
    return head.startswith(b"#!") and os.fsencode(venv_bin("python")) not in head


def create_venv(python: str) -> None:
    """Create .venv with the chosen interpreter, or reuse a working one (re-runs are cheap),
    whatever ``python`` is: the interpreter is only asked about when a venv is made. One made in
    another folder (`venv_moved`) is made again."""
    moved = os.name != "nt" and venv_moved()  # Windows' launchers find their Python themselves
    if venv_is_usable() and not moved:
        step(f"Reusing the virtual environment in {VENV_DIR}")
        print("    (delete it to rebuild it, e.g. with a different --python)")
        return
    version = python_version(python)
    if version < MIN_PYTHON:
        raise InstallError(
            f"{python} is Python {version[0]}.{version[1]}; obs-bgremover needs "
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer. Pass a newer one with --python PATH."
        )
    if moved:
        step(f"Removing the virtual environment in {VENV_DIR}: it was made in another folder "
             "(the checkout was moved or renamed), and its programs look for it there")
        shutil.rmtree(VENV_DIR)
    elif VENV_DIR.exists():
        step(f"Removing the incomplete virtual environment in {VENV_DIR}")
        shutil.rmtree(VENV_DIR)
    step(f"Creating a virtual environment in {VENV_DIR} with {python}")
    if call([python, "-m", "venv", VENV_DIR]) != 0 or not venv_is_usable():
        shutil.rmtree(VENV_DIR, ignore_errors=True)
        minor = f"python{version[0]}.{version[1]}-venv"
        raise InstallError(
            f"could not create a virtual environment with {python}.\n"
            "On Debian/Ubuntu the venv module is a separate package; install it with\n"
            f"    sudo apt-get install python3-venv   (or {minor})\n"
            "then run this script again."
        )


@dataclass(frozen=True)
class Runtime:
    """The onnxruntime build to install and why (printed, so the choice is never a mystery)."""

    extra: str  # the setup.cfg extra that pulls it in: "cpu" or "gpu"
    reason: str
    pins: tuple[str, ...] = ()  # extra requirements for pip, e.g. the last build for CUDA 12

    @property
    def package(self) -> str:
        return "onnxruntime-gpu" if self.extra == "gpu" else "onnxruntime"


def nvidia_smi(*args: str) -> str:
    """nvidia-smi's output, or "" where it is missing or fails. It comes with the NVIDIA driver on
    Linux and Windows, so it is a GPU probe that needs nothing installed and no CUDA toolkit."""
    try:
        result = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""


def choose_runtime(forced: str | None, system: str = sys.platform) -> Runtime:
    """onnxruntime-gpu where an NVIDIA GPU with a CUDA 12 or newer driver is present, else
    onnxruntime; ``forced`` ("cpu" or "gpu", from --cpu/--gpu) overrides the detection.

    The driver's CUDA version matters because each onnxruntime-gpu release is built for one CUDA
    major version: a driver for CUDA 12 gets the last release built for 12.
    """
    if system == "darwin":
        if forced == "gpu":
            raise InstallError("there is no onnxruntime-gpu for macOS; the onnxruntime package "
                               "already contains the Core ML provider (leave out --gpu)")
        return Runtime("cpu", "macOS: onnxruntime includes the Core ML provider")
    if forced == "cpu":
        return Runtime("cpu", "--cpu")
    gpus = [line.split(" (UUID")[0] for line in nvidia_smi("-L").splitlines()
            if line.startswith("GPU ")]
    found = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", nvidia_smi()) if gpus or forced else None
    cuda = (int(found[1]), int(found[2])) if found else None
    pins = (ORT_GPU_FOR_CUDA12,) if cuda is not None and cuda[0] == 12 else ()
    if forced == "gpu":
        if not gpus:
            print("warning: --gpu, but `nvidia-smi -L` lists no NVIDIA GPU here: "
                  "onnxruntime-gpu (several GB with its CUDA libraries) will run on the CPU")
        return Runtime("gpu", "--gpu", pins)
    if not gpus:
        return Runtime("cpu", "no NVIDIA GPU found: `nvidia-smi -L` lists none")
    driver = f"driver for CUDA {dotted(cuda)}" if cuda else "driver's CUDA version unknown"
    if cuda is not None and cuda < (12, 0):
        return Runtime("cpu", f"{gpus[0]} found, but its {driver} is older than onnxruntime-gpu "
                              "needs (CUDA 12); update the NVIDIA driver and run this again")
    return Runtime("gpu", f"{gpus[0]}, {driver}", pins)


def installed_runtimes() -> set[str]:
    """The onnxruntime builds installed in .venv, by pip's own list."""
    listing = subprocess.run([venv_bin("python"), "-m", "pip", "list", "--format=json"],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        raise InstallError(f"pip cannot list the packages in {VENV_DIR}:\n{listing.stderr}")
    names = {entry["name"].lower().replace("_", "-") for entry in json.loads(listing.stdout)}
    return names & set(ORT_DISTRIBUTIONS)


def remove_other_runtimes(runtime: Runtime) -> None:
    """Uninstall every onnxruntime build when one other than ``runtime``'s is present.

    They all install the one ``onnxruntime`` module: installing one over another leaves a mix of
    both, and uninstalling one later deletes files the other needs. So the chosen one goes too and
    is then installed clean. It is downloaded first: where it cannot be (offline, no wheel for
    this platform), the working build stays and the error says so.
    """
    present = installed_runtimes()
    others = sorted(present - {runtime.package})
    if not others:
        return
    # Fetched first (into pip's cache, which the install then reads): offline, or where no
    # wheel fits the platform, the working build stays instead of leaving none at all.
    step(f"Fetching {runtime.package} before it replaces {', '.join(others)}")
    with tempfile.TemporaryDirectory() as folder:
        if call([venv_bin("python"), "-m", "pip", "download", "--no-deps", "--dest", folder,
                 runtime.package, *runtime.pins]) != 0:
            raise InstallError(f"cannot fetch {runtime.package} (see pip's output above); "
                               f"{', '.join(others)} is still installed and working")
    step(f"Removing {', '.join(others)}: {runtime.package} replaces it "
         "(they install the same onnxruntime module)")
    run([venv_bin("python"), "-m", "pip", "uninstall", "--yes", *sorted(present)],
        "removing the other onnxruntime build")


def install_record(dev: bool, runtime: Runtime) -> dict[str, object]:
    """What an install of this checkout installed: the requirements (setup.cfg, whose extras
    name every dependency), the extras and the onnxruntime pins. The same record again means
    pip has nothing to do."""
    setup_cfg = hashlib.sha256((REPO_ROOT / "setup.cfg").read_bytes()).hexdigest()
    return {"setup.cfg": setup_cfg, "extras": [runtime.extra, *(["dev"] if dev else [])],
            "pins": list(runtime.pins)}


def read_record(record: Path) -> dict[str, object]:
    """The install recorded in ``record``; empty where there is none, or it is damaged: not of
    the shape `install_record` writes (``{"extras": null}`` raised a TypeError at every run,
    and ``"cpu,dev"`` read as the test tools installed)."""
    try:
        done = json.loads(record.read_text())
    except (OSError, ValueError):
        return {}
    shaped = (isinstance(done, dict) and isinstance(done.get("setup.cfg"), str)
              and all(isinstance(done.get(key), list)
                      and all(isinstance(item, str) for item in done[key])
                      for key in ("extras", "pins")))
    return done if shaped else {}


def covers(done: dict[str, object], wanted: dict[str, object]) -> bool:
    """Whether the install recorded as ``done`` (`read_record`) installed what ``wanted`` asks
    for: the same requirements and pins, and its extras at least (a --demo after a --test
    needs nothing)."""
    return ({key: done.get(key) for key in ("setup.cfg", "pins")}
            == {key: wanted[key] for key in ("setup.cfg", "pins")}
            and set(wanted["extras"]) <= set(done.get("extras", ())))


def install_package(dev: bool, runtime: Runtime) -> None:
    """Upgrade pip and install the checkout in editable mode with the chosen onnxruntime build.

    Editable, so the package finds models/ in this checkout and source edits take effect without
    reinstalling. Old pips cannot do PEP 660 editable installs, hence the upgrade first. Skipped
    when `INSTALLED` records the same install and the venv holds that build alone: a re-run is
    then quick, and works offline (pip's editable build fetches setuptools from the index).
    """
    # The test tools stay installed when a plain install runs after a --test (setup.cfg
    # changed, say): they are reinstalled with it, so that they stay current and recorded,
    # and the next --test has nothing to fetch (offline too).
    done = read_record(INSTALLED)
    wanted = install_record(dev or "dev" in done.get("extras", ()), runtime)
    if covers(done, wanted) and installed_runtimes() == {runtime.package}:
        step(f"obs-bgremover is installed with {runtime.package} ({runtime.reason}); setup.cfg "
             f"has not changed since (delete {INSTALLED} to reinstall)")
        return
    INSTALLED.unlink(missing_ok=True)
    python = venv_bin("python")
    step("Upgrading pip")
    run([python, "-m", "pip", "install", "--upgrade", "pip"], "upgrading pip")
    remove_other_runtimes(runtime)
    extras = ",".join(wanted["extras"])
    tools = " and the development and test tools" if "dev" in wanted["extras"] else ""
    step(f"Installing obs-bgremover (editable) with {runtime.package} ({runtime.reason}){tools}")
    run([python, "-m", "pip", "install", "--editable", f".[{extras}]", *runtime.pins],
        "installing obs-bgremover")
    INSTALLED.write_text(json.dumps(wanted))


def report_provider(runtime: Runtime) -> None:
    """Load the default model in .venv and say which execution provider runs it: the one check
    that the onnxruntime build, its GPU libraries and the driver really work together."""
    step("Checking which execution provider runs the model")
    code = "from obs_bgremover.model import MattingModel; print(MattingModel().provider)"
    result = subprocess.run([venv_bin("python"), "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT)
    if result.returncode != 0:
        raise InstallError(f"the installed package cannot load its model:\n{result.stderr}")
    provider = result.stdout.strip().splitlines()[-1]
    print(f"    The general model runs on {provider}.")
    if runtime.extra == "gpu" and provider == "CPUExecutionProvider":
        print(f"{result.stdout}{result.stderr}"
              "warning: onnxruntime-gpu is installed but its GPU providers did not start (the "
              "messages above say why), so matting runs on the CPU.\n"
              "See docs/troubleshooting.md, \"GPU provider not loading\"; --cpu installs the "
              "smaller CPU build instead.")


@dataclass(frozen=True)
class ObsPython:
    """The Python that OBS Studio on this Linux machine runs scripts with."""

    version: tuple[int, int]
    library: Path  # the libpython OBS's scripting library is linked against
    interpreter: Path | None  # the python3.X of that same installation, if it is installed


def obs_scripting_library(obs: Path) -> Path | None:
    """libobs-scripting of the OBS installation ``obs`` belongs to: it, rather than the obs binary,
    is linked against libpython, and newer OBS releases load it from a plug-in."""
    prefix = obs.resolve().parent.parent
    for pattern in ("lib*/libobs-scripting.so*", "lib*/*/libobs-scripting.so*"):
        found = sorted(prefix.glob(pattern))
        if found:
            return found[0]
    return None


def interpreter_beside(library: Path, version: tuple[int, int]) -> Path | None:
    """The python3.X of the installation a libpython belongs to (/usr/lib/x86_64-linux-gnu/
    libpython3.11.so.1.0 gives /usr/bin/python3.11), so .venv gets the very Python OBS embeds."""
    name = f"python{dotted(version)}"
    for prefix in library.parents:
        if (prefix / "bin" / name).is_file():
            return prefix / "bin" / name
    return None


def linux_obs_python() -> ObsPython | None:
    """The Python that OBS on PATH runs scripts with, found from the libpython its scripting
    library is linked against; None without OBS or without its Python scripting.

    It matters because the script imports numpy and onnxruntime from .venv, whose compiled parts
    only load into the Python version they were built for.
    """
    obs = shutil.which("obs")
    scripting = obs_scripting_library(Path(obs)) if obs else None
    if scripting is None:
        return None
    try:
        listing = subprocess.run(["ldd", scripting], capture_output=True, text=True).stdout
    except OSError:
        return None
    found = LDD_LIBPYTHON.search(listing)
    if found is None:
        return None
    version, library = (3, int(found[1])), Path(found[2]).resolve()
    return ObsPython(version, library, interpreter_beside(library, version))


def venv_python(requested: str | None, obs: ObsPython | None) -> str:
    """The interpreter for a new .venv: --python if given; else the Python OBS embeds (or this
    one, if it is the same version); else, without a usable OBS, the one running this script."""
    if requested:
        # A path as the user's folder reads it (steps run from the checkout's root); a bare
        # name (python3.11) is looked up on PATH.
        return os.path.abspath(requested) if os.sep in requested or (
            os.altsep and os.altsep in requested) else requested
    if obs is None or obs.version < MIN_PYTHON:
        return sys.executable
    if obs.interpreter is not None:
        return str(obs.interpreter)
    if sys.version_info[:2] == obs.version:
        return sys.executable
    name = f"python{dotted(obs.version)}"
    raise InstallError(
        f"OBS runs Python {dotted(obs.version)} ({obs.library}), but no {name} interpreter of that "
        f"installation was found. Install it (Debian/Ubuntu: sudo apt-get install {name} "
        f"{name}-venv), or pass --python PATH to a Python {dotted(obs.version)}."
    )


def newest_python_for(obs_version: tuple[int, int]) -> tuple[int, int]:
    """The newest Python an OBS release loads on Windows and macOS (OBS_NEWEST_PYTHON)."""
    return [python for first, python in OBS_NEWEST_PYTHON if obs_version >= first][-1]


def parse_obs_version(text: str) -> tuple[int, int]:
    """An OBS version as users write it ("30.2" or "30.2.3"), as (major, minor)."""
    found = re.fullmatch(r"(\d+)\.(\d+)(\.\d+)?", text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"expected an OBS version such as 30.2, got {text!r}")
    return int(found[1]), int(found[2])


def obs_config_dir(env: Mapping[str, str], system: str = sys.platform) -> Path:
    """OBS's settings folder for a user with this environment, as libobs computes it."""
    if system == "win32":
        return Path(env["APPDATA"]) / "obs-studio"
    home = Path(env.get("HOME", "~")).expanduser()
    if system == "darwin":
        return home / "Library" / "Application Support" / "obs-studio"
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "obs-studio"


def read_ini(path: Path) -> configparser.ConfigParser:
    """One of OBS's ini files as OBS reads it: keys keep their case, no % interpolation; a
    missing file reads as empty."""
    ini = configparser.ConfigParser(interpolation=None, strict=False)
    ini.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        ini.read(path, encoding="utf-8-sig")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise InstallError(f"cannot read OBS's settings file {path}: {exc}") from exc
    return ini


def settings_ini(config: Path) -> Path:
    """The ini with the current scene collection and the Python path: user.ini from OBS 31 on (it
    starts as a copy of global.ini), global.ini before."""
    user = config / "user.ini"
    return user if user.is_file() else config / "global.ini"


def last_obs_version(config: Path) -> tuple[int, int] | None:
    """The OBS release that last ran with these settings: [General] LastVersion in global.ini,
    packed as major << 24 | minor << 16 | patch."""
    packed = read_ini(config / "global.ini").get("General", "LastVersion", fallback="")
    if not packed.isdigit() or int(packed) == 0:
        return None
    return int(packed) >> 24, (int(packed) >> 16) & 0xFF


def obs_python_setting(base_prefix: Path, system: str) -> Path | None:
    """What to enter under Tools > Scripts > Python Settings for the Python .venv was made from:
    on Windows its folder (with python3X.dll); on macOS the folder holding its Python.framework,
    in which OBS looks for Versions/3.X/lib/libpython3.X.dylib, so only framework builds (the
    python.org installer, Homebrew) qualify."""
    if system == "win32":
        return base_prefix
    versions = base_prefix.parent
    if versions.name == "Versions" and versions.parent.name == "Python.framework":
        return versions.parent.parent
    return None


def check_linux_obs_python(venv: tuple[int, int], obs: ObsPython | None) -> None:
    """Say whether OBS on this Linux machine can load the packages in .venv, and if not, why."""
    if obs is None:
        print("    OBS Studio with Python scripting was not found (no `obs` on PATH with "
              "libobs-scripting).\n    The filter runs inside OBS with the Python OBS is linked "
              f"against; .venv is Python {dotted(venv)}.\n    Run this again after installing OBS "
              "to check that they match.")
    elif obs.version < MIN_PYTHON:
        print(f"warning: OBS here is linked against Python {dotted(obs.version)} ({obs.library}); "
              f"obs-bgremover needs {dotted(MIN_PYTHON)} or newer, so the OBS filter cannot load "
              "in this OBS build.\n    Use an OBS built with Python 3.11 or newer (e.g. the "
              "packages of Debian 12 or Ubuntu 24.04). The command line tools work as installed.")
    elif venv != obs.version:
        print(f"warning: .venv is Python {dotted(venv)}, but OBS runs Python "
              f"{dotted(obs.version)} ({obs.library}):\n    inside OBS the script would fail to "
              "import numpy and onnxruntime. The command line tools work as installed.\n    To "
              "use the filter, rebuild .venv with OBS's Python:\n"
              "    rm -rf .venv && python3 install.py")
    else:
        print(f"    OBS runs Python {dotted(obs.version)} ({obs.library}); .venv is Python "
              f"{dotted(venv)}: OBS can load the script's packages.")


def check_other_obs_python(venv: tuple[int, int], obs_version: tuple[int, int] | None,
                           config: Path, system: str = sys.platform) -> None:
    """Say whether OBS on Windows or macOS can load the packages in .venv, and which Python folder
    to set in OBS (there OBS loads the Python the user points it at, up to a newest version)."""
    steps = ", ".join(f"{dotted(python)} (OBS {dotted(first)}+)" if first > (0, 0) else
                      f"{dotted(python)} (older OBS)" for first, python in OBS_NEWEST_PYTHON)
    print(f"    The newest Python OBS loads: {steps}.")
    if obs_version is None:
        print(f"    OBS's version is unknown (it has not run with {config} yet); pass "
              f"--obs-version X.Y to check .venv (Python {dotted(venv)}) against it.")
        return
    newest = newest_python_for(obs_version)
    if newest < MIN_PYTHON:
        print(f"warning: OBS {dotted(obs_version)} loads Python {dotted(newest)} at most; "
              f"obs-bgremover needs {dotted(MIN_PYTHON)} or newer, so the filter cannot work with "
              "it.\n    Update OBS to 29.1 or newer. The command line tools work as installed.")
        return
    if venv > newest:
        print(f"warning: OBS {dotted(obs_version)} loads Python {dotted(newest)} at most, but "
              f".venv is Python {dotted(venv)}.\n    Install Python {dotted(newest)} (python.org), "
              "delete .venv and run this again with --python PATH-TO-IT.")
        return
    print(f"    OBS {dotted(obs_version)} loads Python up to {dotted(newest)}; .venv is Python "
          f"{dotted(venv)}: OBS can load the script's packages.")
    base = Path(ask_python(venv_bin("python"), "sys.base_prefix"))
    setting = obs_python_setting(base, system)
    if setting is None:
        print(f"warning: {base} is not a Python.framework build, which is the only kind OBS on "
              "macOS loads.\n    Install Python from python.org, delete .venv and run this again "
              "with --python PATH-TO-IT.")
        return
    current = read_ini(settings_ini(config)).get("Python", "Path64bit", fallback="")
    now = f" (now: {current})" if current and Path(current) != setting else ""
    print(f"    In OBS, set Tools > Scripts > Python Settings to: {setting}{now}")


def check_obs_python(obs: ObsPython | None, obs_version: tuple[int, int] | None) -> None:
    """Check .venv against the Python OBS will run the script with: on Linux the one OBS is
    linked against; on Windows and macOS the one OBS is pointed at, up to a newest version."""
    step("Checking .venv against the Python OBS Studio runs the script with")
    venv = python_version(venv_bin("python"))
    if sys.platform.startswith("linux"):
        check_linux_obs_python(venv, obs)
    else:
        config = obs_config_dir(os.environ)
        check_other_obs_python(venv, obs_version or last_obs_version(config), config)


def linux_obs_environments(proc: Path = Path("/proc")) -> list[dict[str, str]]:
    """The environments of the running `obs` processes this user may read; another user's OBS,
    whose environment is unreadable, has a settings folder of its own."""
    environments = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "obs":
                continue
            raw = (entry / "environ").read_bytes()
        except OSError:  # gone in the meantime, or another user's
            continue
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        environments.append({key.decode(errors="replace"): value.decode(errors="replace")
                             for key, value in pairs})
    return environments


def obs_is_running(config: Path, system: str = sys.platform) -> bool:
    """Whether an OBS using this settings folder runs now. On Linux only an OBS whose environment
    gives that folder counts (others, e.g. with another HOME, do not touch it); on Windows and
    macOS any running OBS counts."""
    if system.startswith("linux"):
        return any(obs_config_dir(env, system).resolve() == config.resolve()
                   for env in linux_obs_environments())
    command, name = {
        "darwin": (["pgrep", "-lx", "OBS"], "obs"),
        "win32": (["tasklist", "/FI", "IMAGENAME eq obs64.exe", "/NH"], "obs64.exe"),
    }[system]
    try:
        listing = subprocess.run(command, capture_output=True, text=True).stdout
    except OSError as exc:
        raise InstallError(f"cannot tell whether OBS is running ({command[0]}: {exc}); add "
                           f"the script in OBS under Tools > Scripts instead:\n    {OBS_SCRIPT}"
                           ) from exc
    return name in listing.lower()


def current_collection(config: Path) -> Path:
    """The file of OBS's current scene collection: [Basic] SceneCollectionFile in the settings
    ini, or OBS's default "Untitled" where it is unset. A file not there is said to be named
    in the ini only where it is: it was "named in" a global.ini that did not exist."""
    ini = settings_ini(config)
    name = read_ini(ini).get("Basic", "SceneCollectionFile", fallback="")
    path = config / "basic" / "scenes" / f"{name or 'Untitled'}.json"
    if not path.is_file():
        where = (f"named in {ini}" if name
                 else f"OBS's default, as {ini} names none" if ini.is_file()
                 else f"OBS's default, as there is no {ini}")
        raise InstallError(f"OBS's current scene collection {path} ({where}) does not exist: "
                           "start OBS once, quit it, then run this again.")
    return path


def collection_scripts(data: object, path: Path) -> list:
    """The scene collection's list of loaded scripts (modules > scripts-tool), made if absent."""
    modules = data.setdefault("modules", {}) if isinstance(data, dict) else None
    scripts = modules.setdefault("scripts-tool", []) if isinstance(modules, dict) else None
    if not isinstance(scripts, list):
        raise InstallError(f"{path} is not laid out as an OBS scene collection (modules > "
                           "scripts-tool should be a list); add the script in OBS instead.")
    return scripts


def our_scripts(scripts: list) -> list[dict]:
    """The entries of a scene collection's scripts that are obs-bgremover's script: any
    checkout's, this one's or one moved, cloned again or beside it, under its name or its old
    one."""
    return [entry for entry in scripts if isinstance(entry, dict) and Path(
        str(entry.get("path", ""))).as_posix().endswith(OBS_SCRIPT_TAILS)]


def write_collection(path: Path, data: object) -> Path:
    """Write ``data`` over the scene collection ``path``, after a timestamped backup of it, which
    is returned. A folder or file that cannot be written (OBS once run with sudo leaves them
    root's) is said in one line, with the file as it was and nothing left behind; it was a
    traceback, with the backup or a ``.partial`` file beside the collection."""
    backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    partial = path.with_name(f"{path.name}.partial")
    try:
        shutil.copy2(path, backup)
        partial.write_text(json.dumps(data, indent=4, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        for leftover in (partial, backup):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        where = exc.filename or path
        raise InstallError(
            f"cannot change OBS's scene collection {path} ({where}: {exc.strerror or exc}); "
            "it was left as it was. Make its folder and file writable for you (on Linux or "
            f"macOS, where OBS once ran with sudo: sudo chown -R $USER {path.parent}), or add "
            f"the script in OBS under Tools > Scripts instead:\n    {OBS_SCRIPT}") from exc
    return backup


def add_to_obs(config: Path, script: Path = OBS_SCRIPT) -> None:
    """Add the script to OBS's current scene collection, as Tools > Scripts > + does.

    Only while OBS is not running: OBS writes the collection back when it quits, which would undo
    the change. Idempotent, and the file is backed up (timestamped) before it is changed. Another
    checkout's script (moved, cloned again, beside this one) is replaced by this one's, keeping
    its place and settings: two would register one filter twice.
    """
    step("Adding the script to OBS Studio's current scene collection")
    script = script.resolve()
    if not config.is_dir():
        raise InstallError(f"OBS Studio has not run on this account yet (no {config}): start it "
                           "once, quit it, then run this again.")
    if obs_is_running(config):
        raise InstallError("OBS Studio is running: quit it, then run  python3 install.py "
                           "--add-to-obs --no-install\n(OBS saves its scene collection when it "
                           "quits, which would undo a change made now.)")
    path = current_collection(config)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InstallError(f"cannot read OBS's scene collection {path} ({exc}); add the script "
                           f"in OBS under Tools > Scripts instead:\n    {OBS_SCRIPT}") from exc
    scripts = collection_scripts(data, path)
    name = data.get("name", path.stem)
    # Only one may stay: two would register one filter twice, and one whose checkout is gone
    # fails at every start.
    ours = our_scripts(scripts)
    if [Path(str(entry["path"])).resolve() for entry in ours] == [script]:
        print(f"    {script} is already in the scene collection {name!r}; nothing changed.")
        return
    said = ""
    if ours:  # this checkout's entry, else the first, keeps its place and its settings
        kept = next((entry for entry in ours if Path(str(entry["path"])).resolve() == script),
                    ours[0])
        replaced = [str(entry["path"]) for entry in ours
                    if Path(str(entry["path"])).resolve() != script]
        kept["path"] = script.as_posix()
        scripts[:] = [entry for entry in scripts if entry is kept or entry not in ours]
        if replaced:
            said = (f"    Replaced the script of another checkout, or its old name "
                    f"({', '.join(replaced)}).")
        else:  # this checkout's, listed twice
            said = f"    Removed {len(ours) - 1} more entries of this script."
    else:
        scripts.append({"path": script.as_posix(), "settings": {}})
    backup = write_collection(path, data)
    if said:
        print(said)
    print(f"    Added {script}\n    to the scene collection {name!r} ({path}).\n"
          f"    The file as it was: {backup}\n"
          "    Start OBS: the script loads with this collection (scripts belong to a scene "
          "collection; run this again after switching to another).")


def install_redis_server() -> None:
    """Install redis-server if it is missing: the render queue's tests start a real one."""
    install_debian_packages({"redis-server": "redis-server"},
                            "the render queue tests start one")


def install_debian_packages(programs: dict[str, str], why: str) -> None:
    """Install with apt-get the Debian packages (keys) whose programs (values) are missing.
    Without root or apt-get this only says so; the tests that need them then skip (fail when CI
    is set)."""
    missing = [package for package, program in programs.items() if not shutil.which(program)]
    if not missing:
        return
    step(f"Installing {' and '.join(missing)} ({why})")
    if not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print(f"    skipped: this needs root and apt-get; install {' '.join(missing)} yourself "
              f"(e.g. sudo apt-get install {' '.join(missing)})")
        return
    run(["apt-get", "update"], "apt-get update")
    run(["apt-get", "install", "-y", *missing], f"installing {' and '.join(missing)}")


def install_obs_studio() -> None:
    """Install OBS Studio, Xvfb and gdb if any is missing: the OBS filter's end-to-end tests
    start a real OBS on a virtual display, and show with gdb where it hung or crashed."""
    install_debian_packages({"obs-studio": "obs", "xvfb": "Xvfb", "gdb": "gdb"},
                            "the OBS filter tests run a real OBS under Xvfb")


def install_chromium() -> None:
    """Install Chromium and its WebDriver if either is missing: the web app's tests drive its
    page in a real headless browser."""
    install_debian_packages({"chromium": "chromium", "chromium-driver": "chromedriver"},
                            "the web app tests drive a real headless Chromium")


def run_tests(pytest_args: Sequence[str]) -> int:
    """Run the whole suite and return pytest's exit code; "no tests collected" counts as failure."""
    step("Running the test suite")
    code = call([venv_bin("python"), "-m", "pytest", *pytest_args])
    if code < 0:  # killed by signal -code: exits 128+N as a shell would (-9 was read as 247)
        try:
            name = f" ({signal.Signals(-code).name})"
        except ValueError:  # a number with no name on this system
            name = ""
        print(f"error: pytest was killed by signal {-code}{name}, before the suite ended (the "
              "out-of-memory killer sends SIGKILL).", file=sys.stderr)
        return 128 - code
    if code == PYTEST_NO_TESTS:
        print("error: pytest collected no tests; treating that as a failure.", file=sys.stderr)
    elif code != 0:
        print(f"error: tests failed (pytest exit code {code}).", file=sys.stderr)
    return code


def run_demo() -> None:
    """Run the main job on the built-in sample, so a new user sees it work end to end."""
    step("Running the demo: the built-in sample clip over the built-in 'bokeh-drift' background")
    program = venv_bin("obs-bgremover")
    if not program.exists():
        raise InstallError(f"{program} is missing; the install did not create the command.")
    run([program, "replace", "--sample", "--background", "bokeh-drift", "-o", DEMO_OUTPUT],
        "the demo")
    print(f"\nDemo output (the sample with its background replaced): {REPO_ROOT / DEMO_OUTPUT}")


def scripts_in_obs(config: Path) -> list[str]:
    """The paths of obs-bgremover's script that OBS's current scene collection loads (this
    checkout's or another's); none where the collection cannot be read."""
    try:
        path = current_collection(config)
        scripts = collection_scripts(json.loads(path.read_text(encoding="utf-8")), path)
    except (InstallError, OSError, ValueError):
        return []
    return [str(entry["path"]) for entry in our_scripts(scripts)]


def print_next_steps(added_to_obs: bool) -> None:
    """Tell the user how to use what was installed, without needing to activate anything."""
    rel_bin = venv_bin("obs-bgremover").relative_to(REPO_ROOT)
    activate = "Scripts\\activate" if os.name == "nt" else "source .venv/bin/activate"
    # The collection is read once for both: this checkout's script listed already (added
    # before .venv was complete, OBS started before the install finished, it failed to load:
    # adding it again was the advice, where it needs a reload), and the script loaded from
    # another place (a checkout moved or renamed since it was added, or another clone: its
    # venv is made again here, but OBS went on loading the script from where it was, which
    # then failed at every start).
    found = [] if added_to_obs else scripts_in_obs(obs_config_dir(os.environ))
    here = OBS_SCRIPT.resolve()
    listed = any(Path(path).resolve() == here for path in found)
    elsewhere = [path for path in found if Path(path).resolve() != here]
    obs = (
        "In OBS Studio the script is added (above); add the filter to a source: right-click it > "
        "Filters > + > Background Remover."
        if added_to_obs
        else "In OBS Studio the script is in the current scene collection already; if OBS is "
        "running, select it under Tools > Scripts and press Reload (or restart OBS), then add "
        "the filter to a source: right-click it > Filters > + > Background Remover."
        if listed
        else "In OBS Studio: Tools > Scripts > + (Add Scripts), then choose this file:\n"
        f"    {OBS_SCRIPT}\n"
        "or, with OBS closed, let this script add it: python3 install.py --add-to-obs --no-install"
    )
    if elsewhere:
        obs += (f"\nOBS's current scene collection loads the script from {', '.join(elsewhere)} "
                "(a checkout moved, renamed or cloned again since): with OBS closed, run  "
                "python3 install.py --add-to-obs --no-install  to load this checkout's instead.")
    print(
        "\nDone. From the project root:\n"
        f"    {rel_bin} --help\n"
        f"or activate the environment first ({activate}) and run: obs-bgremover --help\n{obs}"
    )


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse our options; with --test, everything we do not recognise is handed to pytest."""
    parser = argparse.ArgumentParser(
        description="Install obs-bgremover into .venv (editable) with the onnxruntime build that "
        "suits this machine, check it against the Python OBS runs, optionally add it to OBS, test "
        "or demo it.",
        epilog="Example: python3 install.py --test -k model -x  (arguments after -- always go to "
        "pytest untouched)",
        allow_abbrev=False,  # so a pytest option is never taken for an abbreviation of ours
    )
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter for a new .venv (default: on Linux the Python that OBS is linked "
        "against, where OBS is installed; otherwise the one running this script)",
    )
    runtime = parser.add_mutually_exclusive_group()
    runtime.add_argument(
        "--cpu", dest="runtime", action="store_const", const="cpu",
        help="install onnxruntime (CPU) even where an NVIDIA GPU is found",
    )
    runtime.add_argument(
        "--gpu", dest="runtime", action="store_const", const="gpu",
        help="install onnxruntime-gpu (CUDA) even where no usable NVIDIA GPU is found",
    )
    parser.add_argument(
        "--add-to-obs", action="store_true",
        help="add the script to OBS's current scene collection, in place of another checkout's "
        "(OBS must be closed; the file is backed up first)",
    )
    parser.add_argument(
        "--no-install", action="store_true",
        help="use .venv as it is: skip creating it and pip (e.g. with --add-to-obs)",
    )
    parser.add_argument(
        "--obs-version", type=parse_obs_version, metavar="X.Y",
        help="Windows/macOS: the OBS version to check .venv's Python against (default: the one "
        "that last ran, from OBS's settings)",
    )
    parser.add_argument("--dev", action="store_true", help="also install the dev/test tools")
    parser.add_argument(
        "--test",
        action="store_true",
        help="--dev, then run pytest; remaining arguments go to pytest; exits with its code",
    )
    parser.add_argument(
        "--demo", action="store_true",
        help="after installing, run the main job (replace) on the sample",
    )
    argv = list(argv)
    # Split at "--" ourselves: argparse keeps or drops it depending on position, and pytest would
    # read a stray "--" as the end of its own options.
    after: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, after = argv[:cut], argv[cut + 1 :]
    args, rest = parser.parse_known_args(argv)
    rest += after
    if rest and not args.test:
        parser.error(f"unrecognized arguments: {' '.join(rest)} (only --test passes arguments on)")
    return args, rest


def main(argv: Sequence[str] | None = None) -> int:
    """Run the requested steps in order and return the process exit code."""
    args, pytest_args = parse_args(sys.argv[1:] if argv is None else argv)
    stop_on_signals()
    try:
        obs = linux_obs_python() if sys.platform.startswith("linux") else None
        if not args.no_install:
            create_venv(venv_python(args.python, obs))
            runtime = choose_runtime(args.runtime)
            install_package(dev=args.dev or args.test, runtime=runtime)
            report_provider(runtime)
        elif not venv_is_usable():
            raise InstallError(f"{VENV_DIR} is missing or incomplete; run this without "
                               "--no-install first.")
        check_obs_python(obs, args.obs_version)
        if args.add_to_obs:
            add_to_obs(obs_config_dir(os.environ))
        if args.test:
            install_redis_server()
            install_obs_studio()
            install_chromium()
            code = run_tests(pytest_args)
            if code != 0:
                return code
        if args.demo:
            run_demo()
    except InstallError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        print("\ninterrupted", file=sys.stderr)
        return 128 + (stop.signum if isinstance(stop, Stopped) else signal.SIGINT)
    print_next_steps(added_to_obs=args.add_to_obs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
