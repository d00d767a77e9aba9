"""scripts/compare_obs.py, the source of docs/comparison.md's figures, run briefly without a
peer: it starts its own OBSes, measures each part, and its figures for our filter are the
filter's real ones (a portrait's mask through OBS matches the human one, and no matte is shown
on a frame it was not computed for)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import require_obs

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_obs.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300)


def test_every_part_measures_our_filter(shared_data: Path) -> None:
    require_obs()
    done = run("--rounds", "1", "--seconds", "2", "--settle", "3", "--cycles", "2",
               "--limit", "1", "--shots", "3", "--data", str(shared_data))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["peer"] is None
    for name in ("none", "ours"):
        assert report["cost"][name]["median_frames"] > 0, report["cost"]
    assert report["removal"]["ours"] == {"runs": 1, "cycles": 2, "crashed_runs": 0,
                                         "crashed_at": [None]}
    portraits = report["masks"]["portraits"]
    assert portraits["left_out"] == 0, portraits
    assert portraits["ours"]["miou"] > 0.9, portraits
    assert set(report["masks"]["davis"]["ours"]) == {"miou", "boundary_iou"}
    still = report["flicker"]["ours"]
    assert still["pairs"] == 2 and still["person_share"] > 0.3, still
    assert still["flicker"] < 5, still  # evaluate.py's talking heads: about 1.2 between frames
    late = report["lag"]["ours"]
    assert late["grey_shots"] == 0, late  # every matte lies on its own frame


def test_a_peer_needs_its_filter_id(tmp_path: Path) -> None:
    done = run("--peer-plugin", str(tmp_path))
    assert done.returncode == 2
    assert "--peer-plugin and --peer-id go together" in done.stderr
