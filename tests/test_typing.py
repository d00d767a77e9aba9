"""The package type-checks with mypy, configured in setup.cfg's ``[mypy]`` sections: an
annotation that no longer matches the code (a None where a value is taken for granted, a
PyAV or OpenCV call the libraries' own types refuse) fails here, before a user meets it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_package_type_checks_with_mypy() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "setup.cfg"),
         "obs_bgremover"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"
