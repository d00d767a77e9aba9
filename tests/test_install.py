"""install.py's decisions, each on real files and real programs: the onnxruntime build (with a
fake ``nvidia-smi`` on PATH standing in for each kind of machine), the Python OBS needs (with a
fake OBS installation and ``ldd``, and this machine's real OBS where it has one), and adding the
script to OBS's scene collection in a temporary settings folder.

install.py is not a package module, so it is loaded from its file.
"""

from __future__ import annotations

import argparse
import configparser
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from support import missing

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "obs_bgremover" / "obs" / "obs_bgremover_filter.py"


@pytest.fixture(scope="module")
def installer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install", REPO / "install.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def fake_program(folder: Path, name: str, body: str) -> Path:
    """An executable shell script called ``name`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def only_on_path(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """PATH holds just these folders, so only the fakes (or nothing) answer."""
    monkeypatch.setenv("PATH", os.pathsep.join(map(str, folders)))


def obs_settings(home: Path, collection: dict | None, ini: str = "global.ini",
                 name: str = "Stream") -> Path:
    """A settings folder as OBS leaves it in ``home``: the ini naming the current collection,
    and that collection's file (unless ``collection`` is None). Returns the folder."""
    config = home / ".config" / "obs-studio"
    (config / "basic" / "scenes").mkdir(parents=True)
    (config / ini).write_text(
        f"[General]\nLastVersion=486539266\n\n[Basic]\nSceneCollection={name}\n"
        f"SceneCollectionFile={name}\n"
    )
    if collection is not None:
        (config / "basic" / "scenes" / f"{name}.json").write_text(json.dumps(collection))
    return config


COLLECTION = {
    "name": "Stream",
    "current_scene": "Scene",
    "sources": [{"name": "Camera", "id": "v4l2_input", "settings": {}}],
    "modules": {"auto-scene-switcher": {"active": False}, "scripts-tool": []},
}


# --- which onnxruntime build -------------------------------------------------------------------

def nvidia_smi(folder: Path, listing: str, cuda: str, code: int = 0) -> Path:
    """A fake nvidia-smi: ``-L`` prints ``listing``, no arguments print a header with ``cuda``."""
    header = (f"| NVIDIA-SMI 580.65.06    Driver Version: 580.65.06    CUDA Version: {cuda}  |"
              if cuda else "")
    return fake_program(folder, "nvidia-smi", f'if [ "$1" = "-L" ]; then printf "%s\\n" '
                        f'"{listing}"; else echo "{header}"; fi; exit {code}')


RTX = "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-4a7c1f3e-0000-0000-0000-000000000000)"


@pytest.mark.parametrize(
    ("listing", "cuda", "code", "extra", "pins", "says"),
    [
        (RTX, "13.0", 0, "gpu", (), "GPU 0: NVIDIA GeForce RTX 4090, driver for CUDA 13.0"),
        (RTX, "12.4", 0, "gpu", ("onnxruntime-gpu<1.27",), "driver for CUDA 12.4"),
        (RTX, "11.8", 0, "cpu", (), "update the NVIDIA driver"),
        # The driver is installed but not loaded: nvidia-smi says so and exits non-zero.
        ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", "", 9,
         "cpu", (), "no NVIDIA GPU found"),
        ("No devices were found", "", 6, "cpu", (), "no NVIDIA GPU found"),
    ],
)
def test_runtime_follows_the_gpu_and_its_driver(installer, tmp_path, monkeypatch, listing, cuda,
                                                code, extra, pins, says) -> None:
    nvidia_smi(tmp_path, listing, cuda, code)
    only_on_path(monkeypatch, tmp_path)
    runtime = installer.choose_runtime(None, "linux")
    assert (runtime.extra, runtime.pins) == (extra, pins)
    assert says in runtime.reason
    assert runtime.package == {"cpu": "onnxruntime", "gpu": "onnxruntime-gpu"}[extra]


def test_without_nvidia_smi_the_cpu_build_is_chosen(installer, tmp_path, monkeypatch) -> None:
    only_on_path(monkeypatch, tmp_path)
    runtime = installer.choose_runtime(None, "win32")
    assert runtime.extra == "cpu" and "nvidia-smi -L" in runtime.reason


def test_cpu_and_gpu_options_override_the_detection(installer, tmp_path, monkeypatch,
                                                   capsys) -> None:
    nvidia_smi(tmp_path, RTX, "12.2")
    only_on_path(monkeypatch, tmp_path)
    assert installer.choose_runtime("cpu", "linux") == installer.Runtime("cpu", "--cpu")
    # --gpu still gets the build that suits the driver.
    assert installer.choose_runtime("gpu", "linux").pins == ("onnxruntime-gpu<1.27",)
    assert "warning" not in capsys.readouterr().out
    (tmp_path / "nvidia-smi").unlink()
    assert installer.choose_runtime("gpu", "linux") == installer.Runtime("gpu", "--gpu")
    assert "warning: --gpu, but `nvidia-smi -L` lists no NVIDIA GPU" in capsys.readouterr().out


def test_macos_always_gets_the_build_with_core_ml(installer, tmp_path, monkeypatch) -> None:
    nvidia_smi(tmp_path, RTX, "13.0")
    only_on_path(monkeypatch, tmp_path)
    assert installer.choose_runtime(None, "darwin").extra == "cpu"
    with pytest.raises(installer.InstallError, match="no onnxruntime-gpu for macOS"):
        installer.choose_runtime("gpu", "darwin")


def test_setup_cfg_leaves_the_build_to_one_extra() -> None:
    """onnxruntime and onnxruntime-gpu install the same module: neither may be a plain
    requirement, each comes with its own extra."""
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    required = setup["options"]["install_requires"]
    assert "onnxruntime" not in required
    extras = setup["options.extras_require"]
    assert extras["cpu"].split() == ["onnxruntime>=1.17"]
    assert extras["gpu"].split()[0].startswith("onnxruntime-gpu")
    assert "onnxruntime" not in extras["dev"]


def test_the_venv_holds_one_onnxruntime_build(installer) -> None:
    assert len(installer.installed_runtimes()) == 1


def test_switching_builds_uninstalls_both_first(installer, monkeypatch) -> None:
    """Uninstalling only the old build would delete files of the shared module that the new
    one, if already present, needs; so both go and the chosen one is installed clean."""
    commands: list[list[str]] = []
    monkeypatch.setattr(installer, "installed_runtimes", lambda: {"onnxruntime", "onnxruntime-gpu"})
    monkeypatch.setattr(installer, "run", lambda cmd, what: commands.append(list(map(str, cmd))))
    monkeypatch.setattr(installer, "call", lambda cmd: commands.append(list(map(str, cmd))) or 0)
    installer.remove_other_runtimes(installer.Runtime("gpu", "test"))
    pip = [str(installer.venv_bin("python")), "-m", "pip"]
    assert [command[:4] for command in commands] == [pip + ["download"], pip + ["uninstall"]]
    assert commands[1] == pip + ["uninstall", "--yes", "onnxruntime", "onnxruntime-gpu"]
    commands.clear()
    monkeypatch.setattr(installer, "installed_runtimes", lambda: {"onnxruntime"})
    installer.remove_other_runtimes(installer.Runtime("cpu", "test"))
    assert commands == []


def test_a_build_that_cannot_be_fetched_leaves_the_installed_one(installer, monkeypatch) -> None:
    """Offline, --gpu once uninstalled the working CPU build and then failed to install its
    replacement: a venv without onnxruntime, a traceback from every command."""
    commands: list[list[str]] = []
    monkeypatch.setattr(installer, "installed_runtimes", lambda: {"onnxruntime"})
    monkeypatch.setattr(installer, "run", lambda cmd, what: commands.append(list(map(str, cmd))))
    monkeypatch.setattr(installer, "call", lambda cmd: 1)  # pip download, offline
    with pytest.raises(installer.InstallError, match="onnxruntime is still installed"):
        installer.remove_other_runtimes(installer.Runtime("gpu", "test"))
    assert commands == []


def test_a_rerun_with_nothing_new_to_install_runs_no_pip(installer, tmp_path, monkeypatch,
                                                         capsys) -> None:
    """A re-run reinstalled everything (10 s online) and failed offline, where pip's editable
    build could not fetch setuptools; the README says both commands can be re-run."""
    commands: list[list[str]] = []
    monkeypatch.setattr(installer, "INSTALLED", tmp_path / "installed.json")
    monkeypatch.setattr(installer, "installed_runtimes", lambda: {"onnxruntime"})
    monkeypatch.setattr(installer, "run", lambda cmd, what: commands.append(list(map(str, cmd))))
    cpu = installer.Runtime("cpu", "test")
    installer.install_package(dev=True, runtime=cpu)
    assert [command[3:5] for command in commands] == [["install", "--upgrade"],
                                                      ["install", "--editable"]]
    commands.clear()
    installer.install_package(dev=True, runtime=cpu)
    assert commands == [] and "setup.cfg has not changed" in capsys.readouterr().out
    installer.install_package(dev=False, runtime=cpu)  # fewer extras: nothing new
    assert commands == []
    installer.install_package(dev=True, runtime=installer.Runtime("cpu", "test", ("x<2",)))
    assert [command[3:5] for command in commands][-1] == ["install", "--editable"]


@pytest.mark.parametrize("record", ['{"extras": null}', '{"extras": 5}',
                                    '{"setup.cfg": "x", "extras": "cpu,dev", "pins": []}'])
def test_a_damaged_install_record_means_installing_again(installer, tmp_path, monkeypatch,
                                                        record: str) -> None:
    """JSON of another shape in the record: a TypeError at every run, or "cpu,dev" read as
    the test tools installed (a substring)."""
    commands: list[list[str]] = []
    monkeypatch.setattr(installer, "INSTALLED", tmp_path / "installed.json")
    monkeypatch.setattr(installer, "installed_runtimes", lambda: {"onnxruntime"})
    monkeypatch.setattr(installer, "run", lambda cmd, what: commands.append(list(map(str, cmd))))
    installer.INSTALLED.write_text(record)
    installer.install_package(dev=False, runtime=installer.Runtime("cpu", "test"))
    assert commands[-1][3:6] == ["install", "--editable", ".[cpu]"]


def test_a_plain_install_after_a_test_install_keeps_the_test_tools(installer, tmp_path,
                                                                   monkeypatch) -> None:
    """A plain install (setup.cfg changed since the --test) installed and recorded the plain
    extras only, so the next --test ran pip again, and failed offline."""
    commands: list[list[str]] = []
    monkeypatch.setattr(installer, "INSTALLED", tmp_path / "installed.json")
    monkeypatch.setattr(installer, "installed_runtimes", lambda: {"onnxruntime"})
    monkeypatch.setattr(installer, "run", lambda cmd, what: commands.append(list(map(str, cmd))))
    installer.install_package(dev=True, runtime=installer.Runtime("cpu", "test"))
    changed = installer.Runtime("cpu", "test", ("x<2",))  # as a changed setup.cfg would
    installer.install_package(dev=False, runtime=changed)
    assert commands[-1][5] == ".[cpu,dev]"
    commands.clear()
    installer.install_package(dev=True, runtime=changed)
    assert commands == []


def test_a_working_venv_is_reused_whatever_python_is_given(installer, monkeypatch,
                                                           capsys) -> None:
    """As the troubleshooting page says; an old --python was refused first, working venv or
    not."""
    monkeypatch.setattr(installer, "venv_is_usable", lambda: True)
    monkeypatch.setattr(installer, "python_version", lambda python: (3, 6))
    installer.create_venv("/usr/bin/python3.6")
    assert "Reusing the virtual environment" in capsys.readouterr().out


def test_a_venv_made_in_another_folder_is_made_again(installer, tmp_path, monkeypatch,
                                                     capsys) -> None:
    """A checkout moved or renamed kept its .venv, "reused", while its scripts started the old
    folder's Python: obs-bgremover no longer ran, and --demo said it could not be found."""
    made = tmp_path / "checkout" / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(made)], check=True)
    # A pip script as pip writes it (the venv is made without pip, which takes seconds), and
    # a venv with a Python counts as usable.
    (made / "bin" / "pip").write_text(f"#!{made / 'bin' / 'python'}\nimport pip\n")
    monkeypatch.setattr(installer, "venv_is_usable",
                        lambda: installer.venv_bin("python").exists())
    monkeypatch.setattr(installer, "VENV_DIR", made)
    installer.create_venv(sys.executable)
    assert "Reusing the virtual environment" in capsys.readouterr().out

    moved = tmp_path / "renamed" / ".venv"
    (tmp_path / "checkout").rename(tmp_path / "renamed")
    monkeypatch.setattr(installer, "VENV_DIR", moved)
    monkeypatch.setattr(installer, "call", lambda cmd: subprocess.call(
        [*map(str, cmd), "--without-pip"]))
    installer.create_venv(sys.executable)
    out = capsys.readouterr().out
    assert f"Removing the virtual environment in {moved}: it was made in another folder" in out
    assert not (moved / "bin" / "pip").exists()  # made anew (pip would install its own)
    assert (moved / "bin" / "python").exists()


_STOPPED_DURING_A_STEP = """
import importlib.util, signal, sys
spec = importlib.util.spec_from_file_location("install", sys.argv[1])
install = importlib.util.module_from_spec(spec)
sys.modules["install"] = install
spec.loader.exec_module(install)
install.stop_on_signals()
try:
    install.call(["sleep", "60"])
except install.Stopped as stop:
    sys.exit(128 + stop.signum)
"""


def test_a_stopped_install_stops_the_command_it_runs(tmp_path: Path) -> None:
    """SIGTERM to install.py left pip running on its own, still installing into the venv
    while a re-run started another."""
    process = subprocess.Popen([sys.executable, "-c", _STOPPED_DURING_A_STEP,
                                str(REPO / "install.py")], stdout=subprocess.DEVNULL)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + 10
    while not children.read_text().split():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    [child] = children.read_text().split()
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 128 + signal.SIGTERM
    assert not Path(f"/proc/{child}").exists(), "the command it ran goes on"


def test_provider_report_warns_when_a_gpu_build_runs_on_the_cpu(installer, capsys) -> None:
    """The venv here has the CPU build, so the model runs on the CPU provider: fine when that
    was chosen, a warning naming the troubleshooting section when the GPU build was."""
    installer.report_provider(installer.Runtime("cpu", "test"))
    out = capsys.readouterr().out
    assert "The general model runs on CPUExecutionProvider." in out and "warning" not in out
    installer.report_provider(installer.Runtime("gpu", "test"))
    out = capsys.readouterr().out
    assert "warning: onnxruntime-gpu is installed but its GPU providers did not start" in out
    assert "GPU provider not loading" in out


@pytest.mark.parametrize(
    ("replacement", "message"),
    [("None", "onnxruntime is not installed in"),  # None in sys.modules: the import fails
     ("types.ModuleType('onnxruntime')", "is incomplete")],  # a module without the library
)
def test_model_explains_a_missing_or_broken_onnxruntime(replacement, message) -> None:
    code = (f"import sys, types; sys.modules['onnxruntime'] = {replacement}; "
            "import obs_bgremover.model")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError:") and message in last and "install.py" in last, last


# --- which Python OBS runs the script with ---------------------------------------------------

@pytest.mark.parametrize(
    ("obs", "python"),
    [((28, 0), (3, 10)), ((29, 0), (3, 10)), ((29, 1), (3, 11)), ((30, 0), (3, 11)),
     ((30, 1), (3, 12)), ((31, 1), (3, 12))],
)
def test_newest_python_per_obs_version(installer, obs, python) -> None:
    assert installer.newest_python_for(obs) == python


def test_obs_versions_are_read_as_users_write_them(installer) -> None:
    assert installer.parse_obs_version("30.2") == (30, 2)
    assert installer.parse_obs_version(" 29.1.3 ") == (29, 1)
    with pytest.raises(argparse.ArgumentTypeError, match="such as 30.2"):
        installer.parse_obs_version("thirty")
    args, _ = installer.parse_args(["--obs-version", "31.0.1", "--gpu"])
    assert (args.obs_version, args.runtime) == ((31, 0), "gpu")
    with pytest.raises(SystemExit):
        installer.parse_args(["--cpu", "--gpu"])


def test_last_obs_version_comes_from_global_ini(installer, tmp_path) -> None:
    config = obs_settings(tmp_path, COLLECTION)
    assert installer.last_obs_version(config) == (29, 0)  # 486539266 is 29.0.2
    assert installer.last_obs_version(tmp_path / "nowhere") is None


def test_old_obs_on_windows_and_macos_is_unsupported(installer, tmp_path, capsys) -> None:
    installer.check_other_obs_python((3, 11), (29, 0), tmp_path, "win32")
    out = capsys.readouterr().out
    assert "3.10 (older OBS), 3.11 (OBS 29.1+), 3.12 (OBS 30.1+)" in out
    assert "warning: OBS 29.0 loads Python 3.10 at most" in out and "Update OBS to 29.1" in out


def test_a_venv_newer_than_obs_loads_is_reported(installer, tmp_path, capsys) -> None:
    installer.check_other_obs_python((3, 12), (30, 0), tmp_path, "darwin")
    out = capsys.readouterr().out
    assert "warning: OBS 30.0 loads Python 3.11 at most, but .venv is Python 3.12" in out
    assert "--python" in out


def test_unknown_obs_version_asks_for_it(installer, tmp_path, capsys) -> None:
    installer.check_other_obs_python((3, 11), None, tmp_path, "win32")
    assert "pass --obs-version X.Y" in capsys.readouterr().out


def test_windows_is_told_which_python_folder_to_set(installer, tmp_path, capsys) -> None:
    """.venv's base installation is the folder OBS needs; the setting OBS has now is shown when
    it differs."""
    config = obs_settings(tmp_path, COLLECTION, ini="user.ini")
    with (config / "user.ini").open("a") as ini:
        ini.write("\n[Python]\nPath64bit=C:/Python310\n")
    installer.check_other_obs_python((3, 11), (30, 2), config, "win32")
    out = capsys.readouterr().out
    base = installer.ask_python(installer.venv_bin("python"), "sys.base_prefix")
    assert "OBS 30.2 loads Python up to 3.12; .venv is Python 3.11" in out
    assert f"Python Settings to: {base} (now: C:/Python310)" in out


def test_macos_needs_a_framework_python(installer) -> None:
    framework = Path("/Library/Frameworks/Python.framework/Versions/3.12")
    assert installer.obs_python_setting(framework, "darwin") == Path("/Library/Frameworks")
    assert installer.obs_python_setting(Path("/Users/me/.pyenv/versions/3.12.4"), "darwin") is None
    assert installer.obs_python_setting(Path("C:/Python312"), "win32") == Path("C:/Python312")


def fake_obs_installation(root: Path, python: str = "3.12") -> Path:
    """A Debian-like OBS install under ``root`` (bin/obs, lib/<arch>/libobs-scripting.so.1,
    libpython and the matching python3.X) plus an ``ldd`` that reports that libpython. Returns
    the folder with the fake ldd."""
    fake_program(root / "bin", "obs", "exit 0")
    libs = root / "lib" / "x86_64-linux-gnu"
    libs.mkdir(parents=True)
    (libs / "libobs-scripting.so.1").write_bytes(b"")
    (libs / f"libpython{python}.so.1.0").write_bytes(b"")
    fake_program(root / "bin", f"python{python}", f"echo {python}")
    lib = libs / f"libpython{python}.so.1.0"
    return fake_program(root / "tools", "ldd", f'echo "\tlibobs.so.0 => {libs}/libobs.so.0 '
                        f'(0x1)"; echo "\tlibpython{python}.so.1.0 => {lib} (0x2)"').parent


def test_linux_obs_python_is_found_from_its_scripting_library(installer, tmp_path,
                                                              monkeypatch) -> None:
    tools = fake_obs_installation(tmp_path)
    only_on_path(monkeypatch, tools, tmp_path / "bin")
    found = installer.linux_obs_python()
    assert found == installer.ObsPython(
        (3, 12), tmp_path / "lib" / "x86_64-linux-gnu" / "libpython3.12.so.1.0",
        tmp_path / "bin" / "python3.12",
    )
    assert installer.venv_python(None, found) == str(tmp_path / "bin" / "python3.12")
    assert installer.venv_python("/opt/python", found) == "/opt/python"
    # A relative path means the user's folder, not the checkout's root the steps run from
    # (found by the version check, then "could not run ./py311").
    monkeypatch.chdir(tmp_path)
    assert installer.venv_python(f".{os.sep}py311", found) == str(tmp_path / "py311")
    assert installer.venv_python("python3.11", found) == "python3.11"  # looked up on PATH


def test_no_obs_means_no_obs_python(installer, tmp_path, monkeypatch) -> None:
    only_on_path(monkeypatch, tmp_path)
    assert installer.linux_obs_python() is None
    assert installer.venv_python(None, None) == sys.executable


def test_obs_python_without_its_interpreter(installer, tmp_path) -> None:
    """OBS's libpython without its python3.X: this interpreter serves if it is the same version,
    otherwise the user is told what to install; an OBS on a Python too old is not followed."""
    mine = sys.version_info[:2]
    lib = tmp_path / "libpython.so"
    assert installer.venv_python(None, installer.ObsPython(mine, lib, None)) == sys.executable
    other = (3, mine[1] + 1)
    with pytest.raises(installer.InstallError, match=rf"apt-get install python3\.{other[1]} "):
        installer.venv_python(None, installer.ObsPython(other, lib, None))
    old = installer.ObsPython((3, 10), lib, tmp_path / "python3.10")
    assert installer.venv_python(None, old) == sys.executable


def test_this_machines_obs_python_is_found(installer) -> None:
    """On the real OBS here: the interpreter found is the one OBS's libpython belongs to."""
    if shutil.which("obs") is None:
        missing("obs (apt-get install obs-studio, or python install.py --test)")
    found = installer.linux_obs_python()
    assert found is not None and found.interpreter is not None, "OBS has no Python scripting"
    assert f"libpython{found.version[0]}.{found.version[1]}" in found.library.name
    assert installer.python_version(found.interpreter) == found.version


def test_linux_report_says_what_to_do(installer, capsys) -> None:
    lib = Path("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0")
    obs = installer.ObsPython((3, 11), lib, Path("/usr/bin/python3.11"))
    installer.check_linux_obs_python((3, 11), obs)
    assert "OBS runs Python 3.11" in capsys.readouterr().out
    installer.check_linux_obs_python((3, 12), obs)
    out = capsys.readouterr().out
    assert "warning: .venv is Python 3.12, but OBS runs Python 3.11" in out
    assert "fail to import numpy" in out and "rm -rf .venv && python3 install.py" in out
    installer.check_linux_obs_python((3, 11), installer.ObsPython((3, 10), lib, None))
    assert "the OBS filter cannot load in this OBS build" in capsys.readouterr().out
    installer.check_linux_obs_python((3, 11), None)
    assert "OBS Studio with Python scripting was not found" in capsys.readouterr().out


# --- adding the script to OBS -----------------------------------------------------------------

def test_obs_settings_folder_per_system(installer) -> None:
    home = {"HOME": "/home/me", "APPDATA": "C:/Users/me/AppData/Roaming"}
    assert installer.obs_config_dir(home, "linux") == Path("/home/me/.config/obs-studio")
    assert installer.obs_config_dir({**home, "XDG_CONFIG_HOME": "/cfg"}, "linux") == Path(
        "/cfg/obs-studio")
    assert installer.obs_config_dir(home, "darwin") == Path(
        "/home/me/Library/Application Support/obs-studio")
    assert installer.obs_config_dir(home, "win32") == Path("C:/Users/me/AppData/Roaming/obs-studio")


def collection_file(config: Path, name: str = "Stream") -> Path:
    return config / "basic" / "scenes" / f"{name}.json"


def test_add_to_obs_adds_once_and_keeps_a_backup(installer, tmp_path, capsys) -> None:
    config = obs_settings(tmp_path, COLLECTION)
    path = collection_file(config)
    original = path.read_text()
    installer.add_to_obs(config)
    out = capsys.readouterr().out
    data = json.loads(path.read_text())
    assert data["modules"]["scripts-tool"] == [{"path": SCRIPT.as_posix(), "settings": {}}]
    assert data["modules"]["auto-scene-switcher"] == {"active": False}
    assert data["sources"] == COLLECTION["sources"]
    backups = list(path.parent.glob("Stream.json.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == original
    assert f"Added {SCRIPT}" in out and str(backups[0]) in out and "'Stream'" in out
    # OBS lists every *.json in the folder as a collection: nothing else may end so.
    assert sorted(p.name for p in path.parent.glob("*.json")) == ["Stream.json"]

    changed = path.read_text()
    installer.add_to_obs(config)
    assert "already in the scene collection 'Stream'; nothing changed" in capsys.readouterr().out
    assert path.read_text() == changed
    assert len(list(path.parent.glob("*.bak"))) == 1


def test_add_to_obs_replaces_another_checkouts_script(installer, tmp_path, capsys) -> None:
    """A checkout moved, cloned again or beside this one: its script was left in the list
    beside this one's (one filter registered twice; a missing file at every start)."""
    config = obs_settings(tmp_path, COLLECTION)
    path = collection_file(config)
    data = json.loads(path.read_text())
    old = {"path": "/old/clone/obs_bgremover/obs/script.py", "settings": {"x": 1}}
    other = {"path": "/home/me/scripts/clock.lua", "settings": {}}
    beside = {**old, "path": "/b/obs_bgremover/obs/script.py"}
    data["modules"]["scripts-tool"] = [old, other, beside]
    path.write_text(json.dumps(data))
    installer.add_to_obs(config)
    assert ("Replaced the script of another checkout, or its old name (/old/clone/"
            in capsys.readouterr().out)
    assert json.loads(path.read_text())["modules"]["scripts-tool"] == [
        {"path": SCRIPT.as_posix(), "settings": {"x": 1}}, other]
    installer.add_to_obs(config)
    assert "nothing changed" in capsys.readouterr().out
    # Its old name, script.py, which OBS took another script.py for (and the other for it).
    data["modules"]["scripts-tool"] = [
        {"path": SCRIPT.with_name("script.py").as_posix(), "settings": {}}, other]
    path.write_text(json.dumps(data))
    installer.add_to_obs(config)
    assert json.loads(path.read_text())["modules"]["scripts-tool"] == [
        {"path": SCRIPT.as_posix(), "settings": {}}, other]
    # Listed twice: "Replaced the script of another checkout ()".
    data["modules"]["scripts-tool"] = [{"path": SCRIPT.as_posix(), "settings": {}}] * 2
    path.write_text(json.dumps(data))
    installer.add_to_obs(config)
    assert "Removed 1 more entries of this script." in capsys.readouterr().out
    assert json.loads(path.read_text())["modules"]["scripts-tool"] == [
        {"path": SCRIPT.as_posix(), "settings": {}}]


def test_add_to_obs_creates_the_scripts_list(installer, tmp_path) -> None:
    """A collection that never had a script has no modules > scripts-tool yet."""
    config = obs_settings(tmp_path, {"name": "Stream", "sources": []})
    installer.add_to_obs(config)
    data = json.loads(collection_file(config).read_text())
    assert data["modules"] == {"scripts-tool": [{"path": SCRIPT.as_posix(), "settings": {}}]}


def test_add_to_obs_prefers_user_ini(installer, tmp_path) -> None:
    """OBS 31 and newer keep the current collection in user.ini; global.ini keeps a stale copy."""
    config = obs_settings(tmp_path, COLLECTION, ini="global.ini", name="Old")
    (config / "user.ini").write_text("[Basic]\nSceneCollectionFile=Current\n")
    collection_file(config, "Current").write_text(json.dumps({**COLLECTION, "name": "Current"}))
    installer.add_to_obs(config)
    assert json.loads(collection_file(config, "Current").read_text())["modules"]["scripts-tool"]
    assert json.loads(collection_file(config, "Old").read_text()) == COLLECTION


def test_add_to_obs_uses_untitled_when_no_collection_is_named(installer, tmp_path) -> None:
    config = obs_settings(tmp_path, None)
    (config / "global.ini").write_text("[General]\nFirstRun=true\n")
    collection_file(config, "Untitled").write_text(json.dumps({"name": "Untitled"}))
    installer.add_to_obs(config)
    assert json.loads(collection_file(config, "Untitled").read_text())["modules"]["scripts-tool"]


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda config: shutil.rmtree(config), "has not run on this account yet"),
        (lambda config: collection_file(config).unlink(), r"Stream\.json \(named in"),
        (lambda config: (config / "global.ini").unlink(),
         r"Untitled\.json \(OBS's default, as there is no \S+global\.ini\) does not exist"),
        (lambda config: (config / "global.ini").write_text("[General]\nFirstRun=true\n"),
         r"Untitled\.json \(OBS's default, as \S+global\.ini names none\)"),
        (lambda config: collection_file(config).write_text("{not json"),
         r"cannot read OBS's scene collection .*; add the script in OBS under Tools > Scripts"),
        (lambda config: collection_file(config).write_text('{"modules": {"scripts-tool": {}}}'),
         "is not laid out as an OBS scene collection"),
    ],
)
def test_add_to_obs_refuses_what_it_cannot_read(installer, tmp_path, prepare, message) -> None:
    config = obs_settings(tmp_path, COLLECTION)
    prepare(config)
    with pytest.raises(installer.InstallError, match=message):
        installer.add_to_obs(config)


@pytest.mark.parametrize("fails", ["shutil.copy2", "os.replace"])
def test_add_to_obs_says_what_it_cannot_write(installer, tmp_path, monkeypatch, fails) -> None:
    """A scenes folder that is not the user's (OBS once run with sudo) ended the command with a
    PermissionError's traceback, and a failure after the backup left it, or the .partial file,
    beside the collection."""
    config = obs_settings(tmp_path, COLLECTION)
    before = collection_file(config).read_text()
    module, name = fails.split(".")

    def refuse(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(getattr(installer, module), name, refuse)
    with pytest.raises(installer.InstallError, match="Permission denied.*left as it was"):
        installer.add_to_obs(config)
    monkeypatch.undo()
    assert collection_file(config).read_text() == before
    assert sorted(path.name for path in collection_file(config).parent.iterdir()) == [
        "Stream.json"]


def test_add_to_obs_refuses_while_obs_runs(installer, tmp_path, monkeypatch) -> None:
    config = obs_settings(tmp_path, COLLECTION)
    before = collection_file(config).read_text()
    monkeypatch.setattr(installer, "linux_obs_environments", lambda: [{"HOME": str(tmp_path)}])
    with pytest.raises(installer.InstallError, match="OBS Studio is running: quit it"):
        installer.add_to_obs(config)
    assert collection_file(config).read_text() == before


def test_only_an_obs_with_these_settings_counts_on_linux(installer, tmp_path, monkeypatch) -> None:
    config = tmp_path / ".config" / "obs-studio"
    for environments, running in [
        ([{"HOME": str(tmp_path)}], True),
        ([{"HOME": "/home/someone-else"}], False),
        ([{"HOME": str(tmp_path), "XDG_CONFIG_HOME": "/elsewhere"}], False),
        ([{"HOME": "/x", "XDG_CONFIG_HOME": str(tmp_path / ".config")}], True),
        ([], False),
    ]:
        monkeypatch.setattr(installer, "linux_obs_environments", lambda e=environments: e)
        assert installer.obs_is_running(config, "linux") is running, environments


def test_obs_processes_are_read_from_proc(installer, tmp_path) -> None:
    """A fake /proc: one OBS, one other program, one OBS whose environment cannot be read."""
    for pid, comm, environ in [("10", "obs\n", b"HOME=/home/me\0LANG=C\0"),
                               ("11", "bash\n", b"HOME=/root\0"), ("12", "obs\n", None)]:
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "comm").write_text(comm)
        if environ is None:
            (tmp_path / pid / "environ").mkdir()  # reading it fails, as for another user's
        else:
            (tmp_path / pid / "environ").write_bytes(environ)
    (tmp_path / "self").mkdir()
    assert installer.linux_obs_environments(tmp_path) == [{"HOME": "/home/me", "LANG": "C"}]


@pytest.mark.parametrize(
    ("system", "program", "output", "running"),
    [("darwin", "pgrep", "4242 OBS", True), ("darwin", "pgrep", "", False),
     ("win32", "tasklist", "obs64.exe   5120 Console  1  350,000 K", True),
     ("win32", "tasklist", "INFO: No tasks are running which match the specified criteria.",
      False)],
)
def test_obs_processes_on_macos_and_windows(installer, tmp_path, monkeypatch, system, program,
                                            output, running) -> None:
    fake_program(tmp_path, program, f'echo "{output}"')
    only_on_path(monkeypatch, tmp_path)
    assert installer.obs_is_running(tmp_path, system) is running
    (tmp_path / program).unlink()
    with pytest.raises(installer.InstallError, match="cannot tell whether OBS is running"):
        installer.obs_is_running(tmp_path, system)


def test_main_adds_to_obs_without_reinstalling(installer, tmp_path, monkeypatch, capsys) -> None:
    """``--add-to-obs --no-install`` checks the Python and edits the collection in seconds."""
    config = obs_settings(tmp_path, COLLECTION)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert installer.main(["--add-to-obs", "--no-install"]) == 0
    out = capsys.readouterr().out
    assert "==> Checking .venv against the Python OBS Studio runs the script with" in out
    assert "In OBS Studio the script is added" in out
    assert json.loads(collection_file(config).read_text())["modules"]["scripts-tool"]


def test_main_reports_add_to_obs_errors_without_traceback(installer, tmp_path, monkeypatch,
                                                          capsys) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert installer.main(["--add-to-obs", "--no-install"]) == 1
    err = capsys.readouterr().err
    assert "error: OBS Studio has not run on this account yet" in err and "Traceback" not in err


def test_next_steps_name_the_script_obs_loads_from_elsewhere(installer, tmp_path, monkeypatch,
                                                             capsys) -> None:
    """A checkout moved after --add-to-obs had its venv made again, and was told to add the
    script as if OBS had none: OBS went on loading it from the old place, failing at every
    start, and nothing said so."""
    old = "/home/me/old-place/obs_bgremover/obs/obs_bgremover_filter.py"
    config = obs_settings(tmp_path, {**COLLECTION, "modules": {"scripts-tool": [
        {"path": old, "settings": {}}, {"path": "/x/other.py", "settings": {}}]}})
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    installer.print_next_steps(added_to_obs=False)
    out = capsys.readouterr().out
    assert f"loads the script from {old} (a checkout moved" in out, out
    collection_file(config).write_text(json.dumps(
        {**COLLECTION, "modules": {"scripts-tool": [{"path": str(SCRIPT), "settings": {}}]}}))
    installer.print_next_steps(added_to_obs=False)
    assert "loads the script from" not in capsys.readouterr().out
    collection_file(config).write_text("{not json")
    installer.print_next_steps(added_to_obs=False)
    assert "loads the script from" not in capsys.readouterr().out


def test_next_steps_say_a_script_already_added_needs_a_reload(installer, tmp_path, monkeypatch,
                                                             capsys) -> None:
    """The script added under Tools > Scripts before install.py had finished failed to load;
    the install then said to add it again, where OBS needs to reload it."""
    config = obs_settings(tmp_path, {**COLLECTION, "modules": {"scripts-tool": [
        {"path": str(SCRIPT), "settings": {}}]}})
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    installer.print_next_steps(added_to_obs=False)
    out = capsys.readouterr().out
    assert "the script is in the current scene collection already" in out, out
    assert "press Reload (or restart OBS)" in out and "Add Scripts" not in out, out
    collection_file(config).write_text(json.dumps(COLLECTION))
    installer.print_next_steps(added_to_obs=False)
    out = capsys.readouterr().out
    assert "Add Scripts" in out and "already" not in out, out


def test_pytest_killed_by_a_signal_is_said_so(installer, monkeypatch, capsys) -> None:
    """pytest killed by the out-of-memory killer was "tests failed (pytest exit code -9)", and
    install.py exited 247 (-9 as an exit status) rather than 137, as a shell says."""
    monkeypatch.setattr(installer, "call", lambda cmd: -9)
    assert installer.run_tests([]) == 137
    assert "pytest was killed by signal 9 (SIGKILL)" in capsys.readouterr().err
