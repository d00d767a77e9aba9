"""The file users add in OBS (``obs_bgremover_filter.py``) where the project's packages do not
import: no ``.venv`` yet, one made with another Python, or one left half made. It runs here in
a copy of the checkout, under a Python without site-packages (as OBS's own has none of ours),
with a stand-in for ``obspython`` that records what the script logs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FAKE_OBSPYTHON = """
LOG_ERROR = 100
logged = []
def script_log(level, message):
    logged.append(message)
"""

RUN_SCRIPT = """
import json, runpy, sys
sys.path.insert(0, sys.argv[1])
import obspython
module = runpy.run_path(sys.argv[2], run_name="obs_bgremover_filter")
module["script_load"](None)
module["script_unload"]()
print(json.dumps({"logged": obspython.logged, "description": module["script_description"]()}))
"""


def run_script_in(checkout: Path, tmp_path: Path) -> dict:
    """What the script logs and describes when OBS loads it from ``checkout``."""
    fake = tmp_path / "fake-obs"
    fake.mkdir(exist_ok=True)
    (fake / "obspython.py").write_text(FAKE_OBSPYTHON)
    script = checkout / "obs_bgremover" / "obs" / "obs_bgremover_filter.py"
    done = subprocess.run([sys.executable, "-I", "-S", "-c", RUN_SCRIPT, str(fake), str(script)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout of the package without a .venv."""
    root = tmp_path / "checkout"
    shutil.copytree(REPO / "obs_bgremover", root / "obs_bgremover",
                    ignore=shutil.ignore_patterns("assets", "web", "__pycache__"))
    return root


def test_a_checkout_without_venv_says_to_run_the_installer(checkout, tmp_path) -> None:
    """OBS started (or the script added) before install.py had made .venv: the log had a bare
    ``ModuleNotFoundError: No module named 'numpy'`` traceback and Tools > Scripts no
    description."""
    seen = run_script_in(checkout, tmp_path)
    [line] = seen["logged"]
    assert line.startswith(f"obs-bgremover: cannot load the filter: no environment in "
                           f"{checkout / '.venv'}: run  python3 install.py  in {checkout}"), line
    assert "press Reload" in line and "No module named 'numpy'" in line, line
    assert "<b>Error:</b> no environment in" in seen["description"], seen["description"]


def test_a_venv_of_another_python_says_to_rebuild_it(checkout, tmp_path) -> None:
    (checkout / ".venv").mkdir()
    (checkout / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.9.18\n")
    [line] = run_script_in(checkout, tmp_path)["logged"]
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (f"{checkout / '.venv'} was made with Python 3.9, but OBS runs Python {running}: run  "
            f"rm -rf .venv && python3 install.py  in {checkout}") in line, line


def test_a_half_made_venv_says_to_run_the_installer_again(checkout, tmp_path) -> None:
    (checkout / ".venv").mkdir()
    version = ".".join(map(str, sys.version_info[:3]))
    (checkout / ".venv" / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {version}\n")
    [line] = run_script_in(checkout, tmp_path)["logged"]
    assert f"{checkout / '.venv'} is incomplete: run  python3 install.py  in {checkout}" in line
