"""End to end with a real OBS: ``install.py --add-to-obs`` refuses while OBS runs with the
settings it would change, then puts the script into the scene collection OBS itself wrote, and the
next OBS start loads the script and creates the filter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FILTER_KIND = "obs_bgremover_filter"  # stored in users' collections, so it never changes


def add_to_obs(home: Path) -> subprocess.CompletedProcess[str]:
    """``install.py --add-to-obs --no-install`` for a user whose home is ``home``."""
    env = {**os.environ, "HOME": str(home)}
    env.pop("XDG_CONFIG_HOME", None)
    return subprocess.run(
        [sys.executable, str(REPO / "install.py"), "--add-to-obs", "--no-install"],
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_add_to_obs_then_obs_loads_the_script(obs_studio) -> None:
    refused = add_to_obs(obs_studio.home)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "OBS Studio is running: quit it" in refused.stderr

    obs_studio.stop()  # OBS writes its settings and the collection back as it quits
    scenes = obs_studio.home / ".config" / "obs-studio" / "basic" / "scenes"
    [collection] = scenes.glob("*.json")
    data = json.loads(collection.read_text())
    data["modules"]["scripts-tool"] = []  # the collection of a user who has not added it yet
    collection.write_text(json.dumps(data))
    # OBS falls back to its own NAME.json.bak (which still lists the script) when NAME.json does
    # not parse: without it, only a well-formed file written by install.py can load the script.
    collection.with_name(f"{collection.name}.bak").unlink()

    added = add_to_obs(obs_studio.home)
    assert added.returncode == 0, added.stdout + added.stderr
    assert "Added " in added.stdout
    again = add_to_obs(obs_studio.home)
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout
    [backup] = scenes.glob("*.bak")
    assert json.loads(backup.read_text()) == data
    script = REPO / "obs_bgremover" / "obs" / "obs_bgremover_filter.py"
    assert json.loads(collection.read_text())["modules"]["scripts-tool"] == [
        {"path": script.as_posix(), "settings": {}}
    ]

    logs = obs_studio.home / ".config" / "obs-studio" / "logs"
    earlier = set(logs.glob("*.txt"))
    obs_studio.start()
    assert set(logs.glob("*.txt")) - earlier, "OBS wrote no log for the second start"
    log = obs_studio.log_text()
    assert "Loaded python script: obs_bgremover_filter.py" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]

    client = obs_studio.client
    client.create_scene("Added by install.py")
    client.create_input("Added by install.py", "Colour", "color_source_v3", {}, True)
    client.create_source_filter("Colour", "Background Remover", FILTER_KIND, {})
    filters = client.get_source_filter_list("Colour").filters
    assert [f["filterKind"] for f in filters] == [FILTER_KIND]
