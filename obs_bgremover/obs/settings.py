"""What the user picked in the filter's properties: the values, their defaults and their ranges.

One frozen `FilterSettings` is read from OBS's ``obs_data_t`` in one place (`read_settings`), with
anything unknown, of the wrong type or out of range replaced, so a scene file written by hand, by
another version or over obs-websocket can never put the filter into a state the properties window
could not; and each replacement is said (`FilterSettings.notes`), so that the log tells a user why
what runs differs from what they sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from obs_bgremover.backgrounds import ASSETS, BUILTIN
from obs_bgremover.composite import DEFAULT_BLUR, FIT_MODES
from obs_bgremover.model import MattingSettings
from obs_bgremover.obs.libobs import lib
from obs_bgremover.pipeline import PipelineSettings
from obs_bgremover.temporal import TemporalSettings

KINDS = {
    "builtin": "Built-in image or video",
    "image": "Image file",
    "video": "Video file (loops)",
    "blur": "Blur",
    "color": "Solid colour",
    "transparent": "Transparent (stack your own sources below)",
}
FIT_LABELS = {"cover": "Cover (fill, crop the overflow)",
              "contain": "Contain (whole picture, bars)", "stretch": "Stretch"}
MODEL_LABELS = {"general": "General (portrait)", "landscape": "Landscape (wide shots)",
                "custom": "Custom ONNX file"}
DEVICE_LABELS = {"auto": "Auto", "tensorrt": "TensorRT", "cuda": "CUDA", "directml": "DirectML",
                 "coreml": "CoreML", "cpu": "CPU"}

DEFAULT_KIND = "builtin"
DEFAULT_BUILTIN = "studio"
DEFAULT_COLOR = 0xFF40B100  # OBS stores colours as 0xAABBGGRR: this is #00B140, chroma green.
DEFAULT_FIT = "cover"
DEFAULT_MODEL = "general"
DEFAULT_DEVICE = "auto"

# The matting knobs' defaults are the values stored in both graphs (scripts/
# build_matting_model.py, KNOBS; a test compares them with the .onnx files), so the filter's
# untouched sliders give exactly what every other front end gives.
DEFAULT_THRESHOLD = 0.5
DEFAULT_EDGE_RADIUS = 24.0
DEFAULT_SMOOTHING = TemporalSettings().strength
DEFAULT_EVERY_N = PipelineSettings().every_n
DEFAULT_SKIP_STATIC = PipelineSettings().skip_static

# Slider ranges: (min, max, step).
BLUR_RANGE = (1, 100, 1)
THRESHOLD_RANGE = (0.05, 0.95, 0.01)
EDGE_RADIUS_RANGE = (4.0, 64.0, 1.0)
SMOOTHING_RANGE = (0.0, 0.99, 0.01)  # 1 would freeze the matte (TemporalSettings refuses it)
EVERY_N_RANGE = (1, 4, 1)


@dataclass(frozen=True)
class FilterSettings:
    """The filter's settings, every field valid."""

    kind: str = DEFAULT_KIND
    color: int = DEFAULT_COLOR
    builtin: str = DEFAULT_BUILTIN
    image: str = ""
    video: str = ""
    fit: str = DEFAULT_FIT
    blur: int = DEFAULT_BLUR
    model: str = DEFAULT_MODEL
    model_path: str = ""
    device: str = DEFAULT_DEVICE
    threshold: float = DEFAULT_THRESHOLD
    edge_radius: float = DEFAULT_EDGE_RADIUS
    smoothing: float = DEFAULT_SMOOTHING
    every_n: int = DEFAULT_EVERY_N
    skip_static: bool = DEFAULT_SKIP_STATIC
    low_latency: bool = False
    clean_edges: bool = True
    render_input: str = ""
    """The clip the "Render clip" button renders, and the folder it writes into."""
    render_folder: str = ""
    notes: tuple[str, ...] = field(default=(), compare=False)
    """One sentence per value replaced when read: unknown, of the wrong type, out of range."""

    def background_rgb(self) -> tuple[int, int, int]:
        """(red, green, blue) of the colour setting (stored by OBS as 0xAABBGGRR)."""
        return (self.color & 0xFF, (self.color >> 8) & 0xFF, (self.color >> 16) & 0xFF)

    def background_file(self) -> str | None:
        """The picture or video shown behind the person, or None for the kinds drawn from the
        input itself (blur), a colour or nothing."""
        if self.kind == "builtin":
            return str(ASSETS / BUILTIN[self.builtin])
        if self.kind == "image":
            return self.image
        if self.kind == "video":
            return self.video
        return None

    def background_spec(self) -> str:
        """The same background as a spec string of the command line (`backgrounds.
        parse_background`), for renders that must look like the filter."""
        if self.kind == "blur":
            return f"blur:{self.blur}"
        if self.kind == "color":
            return "color:#{:02X}{:02X}{:02X}".format(*self.background_rgb())
        if self.kind == "transparent":
            return "transparent"
        if self.kind == "builtin":
            return self.builtin
        return self.background_file() or ""

    def model_name(self) -> str:
        """What `MattingModel` loads: a built-in name or the custom file's path."""
        return self.model_path if self.model == "custom" else self.model

    def matting(self) -> MattingSettings:
        """The graph's knobs: what changes without reloading the model."""
        return MattingSettings(threshold=self.threshold, edge_radius=self.edge_radius)

    def pipeline(self) -> PipelineSettings:
        """What the live pipeline does around the network (smoothing, every N-th frame,
        still frames)."""
        return PipelineSettings(temporal=TemporalSettings(strength=self.smoothing),
                                every_n=self.every_n, skip_static=self.skip_static)

    def edge_colours(self) -> bool:
        """Whether the packed frame carries the person's estimated colours in the soft edge
        (`LivePipeline`'s ``edge_colours``; "Clean edge colours"), so the old background does
        not fringe hair over the new one. Not for the blur, whose background is the input's
        own, read from that same texture (it would take the person's colours into the blur
        around them), nor in low-latency mode, which draws the newest input instead of the
        matte's own frame."""
        return self.clean_edges and self.kind != "blur" and not self.low_latency

    def engine(self) -> tuple[str, str]:
        """(model, device): a change of either loads another model."""
        return (self.model_name(), self.device)

    def describe(self) -> str:
        """One log line's worth, so OBS's log shows what the filter actually runs with."""
        return (f"threshold {self.threshold:.2f}, edge {self.edge_radius:.0f} px, "
                f"smoothing {self.smoothing:.2f}, network every {self.every_n} frame(s)"
                + (", not on still frames" if self.skip_static else "")
                + (", edge colours estimated" if self.edge_colours() else "")
                + (", low latency" if self.low_latency else ""))


def _clamp(value: float, bounds: tuple[float, float, float]) -> float:
    """``value`` inside a slider's range: settings typed into a scene file or sent over the
    websocket bypass the slider."""
    return min(max(value, bounds[0]), bounds[1])


def read_settings(data: int) -> FilterSettings:
    """The filter's settings from an ``obs_data_t`` (see `settings_from_json`)."""
    raw = lib().obs_data_get_json(data)
    return settings_from_json(json.loads(raw) if raw else {})


def settings_from_json(given: dict[str, Any]) -> FilterSettings:
    """The settings an ``obs_data_t``'s JSON (the values set, without the defaults) holds: a
    value not set is the default; one of the wrong type or an unknown choice is replaced by the
    default, a number out of its slider's range by the nearest end, each said in
    `FilterSettings.notes`.

    Nothing is read with ``obs_data_get_*``: those read a value of the wrong type as 0 (or ""
    or false), which the range then turned into the minimum without a word, also once the
    value had been cleared (OBS keeps the key, with the wrong type and no value)."""
    defaults = FilterSettings()
    notes: list[str] = []

    def number(name: str, bounds: tuple[float, float, float]) -> float:
        default = getattr(defaults, name)
        value = given.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            notes.append(f"{name} {value!r} is not a number; using {default:g}")
            return default
        kept = _clamp(float(value), bounds)
        if kept != value:
            notes.append(f"{name} {value:g} is outside {bounds[0]:g}..{bounds[1]:g}; "
                         f"using {kept:g}")
        return kept

    def whole(name: str, bounds: tuple[int, int, int]) -> int:
        return round(number(name, bounds))

    def choice(name: str, choices: Iterable[str], default: str) -> str:
        value = given.get(name, default)
        if not isinstance(value, str) or value not in choices:  # {} or [] is not hashable
            notes.append(f"{name} {value!r} is not one of {', '.join(choices)}; "
                         f"using {default}")
            return default
        return value

    def text(name: str) -> str:
        value = given.get(name, "")
        if not isinstance(value, str):
            notes.append(f"{name} {value!r} is not text; using none")
            return ""
        return value

    def flag(name: str) -> bool:
        default = getattr(defaults, name)
        value = given.get(name, default)
        if not isinstance(value, bool):
            notes.append(f"{name} {value!r} is not true or false; using {str(default).lower()}")
            return default
        return value

    color = given.get("color", DEFAULT_COLOR)
    # OBS reads a colour as the 32 bits of its number, signed (a Lua script's, a websocket
    # client's: -1 is opaque white) or not; past 32 bits, masked, 2**40 was black, unsaid.
    if (isinstance(color, bool) or not isinstance(color, int)
            or not -(2**31) <= color <= 0xFFFFFFFF):
        notes.append(f"color {color!r} is not a colour (0xAABBGGRR); using the default")
        color = DEFAULT_COLOR
    return FilterSettings(
        kind=choice("background", KINDS, DEFAULT_KIND),
        color=color & 0xFFFFFFFF,
        builtin=choice("builtin", BUILTIN, DEFAULT_BUILTIN),
        image=text("image"),
        video=text("video"),
        fit=choice("fit", FIT_MODES, DEFAULT_FIT),
        blur=whole("blur", BLUR_RANGE),
        model=choice("model", MODEL_LABELS, DEFAULT_MODEL),
        model_path=text("model_path"),
        device=choice("device", DEVICE_LABELS, DEFAULT_DEVICE),
        threshold=number("threshold", THRESHOLD_RANGE),
        edge_radius=number("edge_radius", EDGE_RADIUS_RANGE),
        smoothing=number("smoothing", SMOOTHING_RANGE),
        every_n=whole("every_n", EVERY_N_RANGE),
        skip_static=flag("skip_static"),
        low_latency=flag("low_latency"),
        clean_edges=flag("clean_edges"),
        render_input=text("render_input"),
        render_folder=text("render_folder"),
        notes=tuple(notes),
    )


def write_defaults(data: int) -> None:
    """Register the defaults with OBS (shown by "Defaults", and what a new filter starts from)."""
    obs = lib()
    defaults = FilterSettings()
    for name, value in (("background", defaults.kind), ("builtin", defaults.builtin),
                        ("image", ""), ("video", ""), ("fit", defaults.fit),
                        ("model", defaults.model), ("model_path", ""),
                        ("device", defaults.device)):
        obs.obs_data_set_default_string(data, name.encode(), value.encode())
    for name, integer in (("color", defaults.color), ("blur", defaults.blur),
                          ("every_n", defaults.every_n)):
        obs.obs_data_set_default_int(data, name.encode(), integer)
    for name, real in (("threshold", defaults.threshold), ("edge_radius", defaults.edge_radius),
                       ("smoothing", defaults.smoothing)):
        obs.obs_data_set_default_double(data, name.encode(), real)
    obs.obs_data_set_default_bool(data, b"skip_static", defaults.skip_static)
    obs.obs_data_set_default_bool(data, b"low_latency", defaults.low_latency)
    obs.obs_data_set_default_bool(data, b"clean_edges", defaults.clean_edges)
