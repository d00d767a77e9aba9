"""A test helper OBS loads as a second script: it reloads ours on request, as Tools > Scripts >
Reload does (obs-websocket cannot): OBS calls the script's ``script_unload``, then re-imports
its module with ``PyImport_ReloadModule``. The tests create ``$HOME/reload-request``; the
script, on an OBS timer (the UI thread, where OBS reloads scripts), does the same two steps and
writes the outcome to ``$HOME/reload-request.done``.
"""

import importlib
import os
import sys
from pathlib import Path

import obspython as obs

REQUEST = Path(os.environ["HOME"]) / "reload-request"
SCRIPT_MODULE = "obs_bgremover_filter"  # OBS imports a script under its file's stem
POLL_MS = 100


def poll() -> None:
    if not REQUEST.exists():
        return
    try:
        module = sys.modules[SCRIPT_MODULE]
        module.script_unload()
        importlib.reload(module)
        outcome = "reloaded"
    except Exception as error:  # reported to the test, never raised into OBS
        outcome = f"error: {error}"
    REQUEST.with_suffix(".done").write_text(outcome)
    REQUEST.unlink()


def script_load(settings) -> None:
    obs.timer_add(poll, POLL_MS)


def script_unload() -> None:
    obs.timer_remove(poll)
