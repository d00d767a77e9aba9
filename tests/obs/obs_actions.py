"""A test helper OBS loads as a second script: it does, on request, what obs-websocket 5.1
cannot. It presses a filter's properties button (obs-websocket presses those of inputs only),
and sets a source's deinterlacing (which obs-websocket does not reach).

The tests write a request as ``$HOME/obs-actions/NAME.json``: ``{"source", "filter",
"button"}`` or ``{"source", "deinterlace_mode"}``. The script, on an OBS timer (the UI thread,
as a real click), carries it out through libobs and writes what happened to ``NAME.done``.
"""

import json
import os
from pathlib import Path

import obspython as obs

REQUESTS = Path(os.environ["HOME"]) / "obs-actions"
POLL_MS = 100


def press(source, filter_name: str, button: str) -> str:
    target = obs.obs_source_get_filter_by_name(source, filter_name)
    if target is None:
        return f"no filter {filter_name!r}"
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


def deinterlace(source, mode: int) -> str:
    obs.obs_source_set_deinterlace_mode(source, mode)
    return f"deinterlace mode {obs.obs_source_get_deinterlace_mode(source)}"


def carry_out(values: dict) -> str:
    source = obs.obs_get_source_by_name(values["source"])
    if source is None:
        return f"no source {values['source']!r}"
    try:
        if "button" in values:
            return press(source, values["filter"], values["button"])
        return deinterlace(source, values["deinterlace_mode"])
    finally:
        obs.obs_source_release(source)


def poll() -> None:
    for request in sorted(REQUESTS.glob("*.json")):
        try:
            outcome = carry_out(json.loads(request.read_text()))
        except Exception as error:  # reported to the test, never raised into OBS
            outcome = f"error: {error}"
        request.with_suffix(".done").write_text(outcome)
        request.unlink()


def script_load(settings) -> None:
    REQUESTS.mkdir(parents=True, exist_ok=True)
    obs.timer_add(poll, POLL_MS)


def script_unload() -> None:
    obs.timer_remove(poll)
