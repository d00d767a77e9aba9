"""A test helper OBS loads as a second script: it presses properties buttons on request.

obs-websocket 5.1 can press buttons of inputs only, not of filters, so the tests ask this script
instead: they write ``{"source", "filter", "button"}`` as ``$HOME/button-requests/NAME.json``;
the script, on an OBS timer (the UI thread, as a real click), builds the filter's properties
through libobs, calls ``obs_property_button_clicked`` on the button, and writes whether it was
found and clicked to ``NAME.done``.
"""

import json
import os
from pathlib import Path

import obspython as obs

REQUESTS = Path(os.environ["HOME"]) / "button-requests"
POLL_MS = 100


def press(source_name: str, filter_name: str, button: str) -> str:
    source = obs.obs_get_source_by_name(source_name)
    if source is None:
        return f"no source {source_name!r}"
    try:
        target = obs.obs_source_get_filter_by_name(source, filter_name)
        if target is None:
            return f"no filter {filter_name!r} on {source_name!r}"
        try:
            props = obs.obs_source_properties(target)
            try:
                prop = obs.obs_properties_get(props, button)
                if prop is None:
                    return f"no property {button!r}"
                obs.obs_property_button_clicked(prop, target)
                return "clicked"
            finally:
                obs.obs_properties_destroy(props)
        finally:
            obs.obs_source_release(target)
    finally:
        obs.obs_source_release(source)


def poll() -> None:
    for request in sorted(REQUESTS.glob("*.json")):
        try:
            values = json.loads(request.read_text())
            outcome = press(values["source"], values["filter"], values["button"])
        except Exception as error:  # reported to the test, never raised into OBS
            outcome = f"error: {error}"
        request.with_suffix(".done").write_text(outcome)
        request.unlink()


def script_load(settings) -> None:
    REQUESTS.mkdir(parents=True, exist_ok=True)
    obs.timer_add(poll, POLL_MS)


def script_unload() -> None:
    obs.timer_remove(poll)
