"""The filter's properties window, built through ctypes ``obs_properties_*`` calls.

Only the properties that matter for the chosen background and model are shown (a callback on
those two lists hides the rest), the device list holds only what this onnxruntime build can run,
and the window says which execution provider actually runs and how a "Render clip" job is doing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from obs_bgremover.backgrounds import BUILTIN
from obs_bgremover.model import available_devices
from obs_bgremover.obs import libobs
from obs_bgremover.obs.libobs import get_string, lib
from obs_bgremover.obs.settings import (
    BLUR_RANGE,
    DEFAULT_DEVICE,
    DEVICE_LABELS,
    EDGE_RADIUS_RANGE,
    EVERY_N_RANGE,
    FIT_LABELS,
    KINDS,
    MODEL_LABELS,
    SMOOTHING_RANGE,
    THRESHOLD_RANGE,
)

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp *.gif);;All files (*.*)"
VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.webm *.avi *.m4v);;All files (*.*)"
MODEL_FILTER = "ONNX models (*.onnx);;All files (*.*)"

# Which properties each background kind (and the custom model) uses; the others are hidden.
SHOWN_FOR_KIND = {
    "builtin": {"builtin", "fit", "clean_edges"},
    "image": {"image", "fit", "clean_edges"},
    "video": {"video", "fit", "clean_edges"},
    "blur": {"blur"},
    "color": {"color", "clean_edges"},
    "transparent": {"clean_edges"},
}
KIND_DEPENDENT = set().union(*SHOWN_FOR_KIND.values())


def _add_list(props: int, name: str, label: str, choices: dict[str, str]) -> int:
    """A drop-down of string values, shown by their labels."""
    obs = lib()
    prop = obs.obs_properties_add_list(props, name.encode(), label.encode(),
                                       libobs.OBS_COMBO_TYPE_LIST,
                                       libobs.OBS_COMBO_FORMAT_STRING)
    for value, text in choices.items():
        obs.obs_property_list_add_string(prop, text.encode(), value.encode())
    return prop


def _add_slider(props: int, name: str, label: str, bounds: tuple[float, float, float],
                tooltip: str) -> None:
    """A float slider (an int one when every bound is whole and typed int) with a tooltip."""
    obs = lib()
    if all(isinstance(bound, int) for bound in bounds):
        prop = obs.obs_properties_add_int_slider(props, name.encode(), label.encode(), *bounds)
    else:
        prop = obs.obs_properties_add_float_slider(props, name.encode(), label.encode(),
                                                   *map(float, bounds))
    obs.obs_property_set_long_description(prop, tooltip.encode())


def _add_info(props: int, name: str, text: str) -> None:
    """A read-only line of text."""
    lib().obs_properties_add_text(props, name.encode(), text.encode(), libobs.OBS_TEXT_INFO)


def _set_visible(props: int, names: set[str], shown: set[str]) -> None:
    obs = lib()
    for name in names:
        obs.obs_property_set_visible(obs.obs_properties_get(props, name.encode()), name in shown)


def on_kind_changed(props: int, prop: int, settings: int) -> bool:
    """Show the properties of the chosen background kind only; True makes OBS redraw."""
    kind = get_string(settings, b"background")
    _set_visible(props, KIND_DEPENDENT, SHOWN_FOR_KIND.get(kind, set()))
    return True


def on_model_changed(props: int, prop: int, settings: int) -> bool:
    """Show the model file picker for a custom model only."""
    _set_visible(props, {"model_path"},
                 {"model_path"} if get_string(settings, b"model") == "custom" else set())
    return True


def _add_background(props: int, on_kind: object) -> None:
    obs = lib()
    kind = _add_list(props, "background", "Background", KINDS)
    obs.obs_property_set_modified_callback(kind, on_kind)
    _add_list(props, "builtin", "Built-in background", {name: name for name in BUILTIN})
    obs.obs_properties_add_path(props, b"image", b"Image file", libobs.OBS_PATH_FILE,
                                IMAGE_FILTER.encode(), None)
    obs.obs_properties_add_path(props, b"video", b"Video file", libobs.OBS_PATH_FILE,
                                VIDEO_FILTER.encode(), None)
    _add_list(props, "fit", "Fit", FIT_LABELS)
    _add_slider(props, "blur", "Blur strength", BLUR_RANGE,
                "How strongly the camera's own background is blurred (100: sigma 4% of the "
                "height). The person's colours never smear into it.")
    obs.obs_properties_add_color(props, b"color", b"Colour")
    clean_edges = obs.obs_properties_add_bool(props, b"clean_edges", b"Clean edge colours")
    obs.obs_property_set_long_description(
        clean_edges,
        b"In hair and other soft edges, replace the old background's colour by an estimate of "
        b"the person's own, so no fringe of the room shows over the new background (a few "
        b"milliseconds of CPU per matte; not with Low latency, which draws the newest frame).")


def _add_matting(props: int, on_model: object, running: str) -> None:
    """Model, device and the knobs worth turning live; the devices listed are only those
    this onnxruntime build has (plus Auto), so a pick cannot fail for lack of a provider."""
    obs = lib()
    model = _add_list(props, "model", "Model", MODEL_LABELS)
    obs.obs_property_set_modified_callback(model, on_model)
    obs.obs_properties_add_path(props, b"model_path", b"Model file", libobs.OBS_PATH_FILE,
                                MODEL_FILTER.encode(), None)
    devices = [DEFAULT_DEVICE, *available_devices()]
    _add_list(props, "device", "Device", {d: DEVICE_LABELS[d] for d in devices})
    _add_info(props, "running", running)
    _add_slider(props, "threshold", "Threshold", THRESHOLD_RANGE,
                "How sure the network must be that a pixel is the person: higher cuts closer.")
    _add_slider(props, "edge_radius", "Edge softness (px)", EDGE_RADIUS_RANGE,
                "Radius of the filter that makes the edge follow the picture (hair, shoulders).")
    _add_slider(props, "smoothing", "Temporal smoothing", SMOOTHING_RANGE,
                "Share of the previous matte kept where the picture is still: less flicker; "
                "moving parts always take the new matte.")
    _add_slider(props, "every_n", "Run the network every N frames", EVERY_N_RANGE,
                "Higher saves CPU/GPU; the matte is reused (and smoothed) in between.")
    skip_static = obs.obs_properties_add_bool(props, b"skip_static",
                                              b"Skip the network while the picture is still")
    obs.obs_property_set_long_description(
        skip_static,
        b"Reuse the last matte while the picture has not changed since the network last ran: "
        b"saves CPU/GPU for a streamer sitting still; any movement runs it again at once.")
    low_latency = obs.obs_properties_add_bool(props, b"low_latency", b"Low latency")
    obs.obs_property_set_long_description(
        low_latency,
        b"Show each frame at once with the newest matte, instead of delaying the picture until "
        b"its own matte is ready: less delay, but the matte trails fast movement.")


def _add_render_clip(props: int, on_render: object, on_stop: object, key: int,
                     status: str) -> None:
    """The "Render clip" group: a file, a folder, the buttons and the job's status."""
    obs = lib()
    group = obs.obs_properties_create()
    obs.obs_properties_add_path(group, b"render_input", b"Clip", libobs.OBS_PATH_FILE,
                                VIDEO_FILTER.encode(), None)
    obs.obs_properties_add_path(group, b"render_folder", b"Output folder",
                                libobs.OBS_PATH_DIRECTORY, None, None)
    obs.obs_properties_add_button2(group, b"render_clip", b"Render clip (first 10 s)", on_render,
                                   key)
    obs.obs_properties_add_button2(group, b"render_stop", b"Stop rendering", on_stop, key)
    _add_info(group, "render_status", status)
    obs.obs_properties_add_group(props, b"render", b"Render clip with these settings",
                                 libobs.OBS_GROUP_NORMAL, group)


def build(key: int, running: str, render_status: str,
          callbacks: Mapping[str, Callable[..., object]]) -> int:
    """A new ``obs_properties_t`` for the filter instance ``key``. ``callbacks`` holds the
    ctypes callback objects (kept alive by the caller): ``kind``, ``model``, ``render`` and
    ``stop``."""
    props = lib().obs_properties_create()
    _add_background(props, callbacks["kind"])
    _add_matting(props, callbacks["model"], running)
    _add_render_clip(props, callbacks["render"], callbacks["stop"], key, render_status)
    return props
