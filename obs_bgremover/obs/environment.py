"""Where the project's own Python is, for the processes the OBS glue starts.

Inside OBS, ``sys.executable`` is OBS itself, so a child process (the network, a render worker)
is started with the interpreter of the project's ``.venv``, the one `install.py` made.
"""

from __future__ import annotations

from pathlib import Path

from obs_bgremover.errors import BgRemoverError

REPO_ROOT = Path(__file__).resolve().parents[2]


def project_python() -> Path:
    """The project's ``.venv`` interpreter; a `BgRemoverError` saying how to make one if absent."""
    for candidate in (REPO_ROOT / ".venv" / "bin" / "python",
                      REPO_ROOT / ".venv" / "Scripts" / "python.exe"):
        if candidate.is_file():
            return candidate
    raise BgRemoverError(f"no project environment in {REPO_ROOT / '.venv'}; run python3 "
                         "install.py in the project folder")
