"""The "Background Remover" video filter: OBS texture -> numpy -> live pipeline -> GPU composite.

Per frame, on OBS's graphics thread (`Filter.render`):

1. the filter's input is rendered into our own ``gs_texrender`` (the target's own
   ``obs_source_video_render`` draws black for non-async sources such as images);
2. that texture is copied into one of ``STAGES`` rotating staging surfaces, and a surface staged
   at least ``STAGE_LAG`` frames ago is mapped: mapping the one staged this frame would wait for
   the GPU. A frame is staged only while the pipeline can take one (at most one frame in
   inference and one on its way), so a slow network does not cost the render thread a copy per
   frame that would be dropped anyway;
3. the mapped pixels go, as RGB, to a `LivePipeline`, which mattes them on its own thread;
4. the newest finished result (its frame and its alpha, which belong together) is uploaded as an
   RGBA and an R8 texture, only when it is new, and ``effects/bgremover.effect`` composites the
   person over the background on the GPU.

Until the first matte arrives, and whenever anything fails, the input is passed through unchanged:
no exception ever leaves a callback (OBS would abort), each is logged with ``blog`` instead.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from ctypes import POINTER, byref, c_char_p, c_uint8, c_uint32, sizeof
from dataclasses import dataclass
from typing import Any, TypeVar

import cv2
import numpy as np

from obs_bgremover.backgrounds import BUILTIN, open_file
from obs_bgremover.errors import BgRemoverError
from obs_bgremover.model import MODEL_NAMES, MattingModel, MattingSettings, available_devices
from obs_bgremover.obs import libobs
from obs_bgremover.obs.libobs import lib, log, vec4
from obs_bgremover.pipeline import LivePipeline, PipelineSettings
from obs_bgremover.temporal import TemporalSettings

FILTER_ID = b"obs_bgremover_filter"
DISPLAY_NAME = b"Background Remover"
EFFECT_FILE = "bgremover.effect"

# How often (in rendered frames) the per-stage timings are written to OBS's log.
TIMING_EVERY = 300
TIMED_STAGES = ("render", "stage", "map", "submit", "upload", "draw")

# Staging surfaces in rotation; one is mapped no sooner than STAGE_LAG frames after staging.
STAGES = 3
STAGE_LAG = 2
# Frames allowed between staging and a result: one in inference, one staged or waiting.
MAX_IN_FLIGHT = 2

KINDS = {"color": "Solid colour", "builtin": "Built-in image", "image": "Image file"}
BUILTIN_IMAGES = [name for name, file in BUILTIN.items() if not file.endswith(".mp4")]
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp);;All files (*.*)"

DEFAULT_KIND = "builtin"
DEFAULT_BUILTIN = "studio"
DEFAULT_COLOR = 0xFF40B100  # OBS stores colours as 0xAABBGGRR: this is #00B140, chroma green.

MODEL_LABELS = {"general": "General (portrait)", "landscape": "Landscape (wide shots)"}
DEVICE_LABELS = {"auto": "Auto", "tensorrt": "TensorRT", "cuda": "CUDA", "directml": "DirectML",
                 "coreml": "CoreML", "cpu": "CPU"}
DEFAULT_MODEL = "general"
DEFAULT_DEVICE = "auto"

# The matting knobs' defaults are the values stored in both graphs (scripts/
# build_matting_model.py, KNOBS; a test compares them with the .onnx files), so the filter's
# untouched sliders give exactly what every other front end gives.
DEFAULT_THRESHOLD = 0.5
DEFAULT_EDGE_RADIUS = 24.0
DEFAULT_SMOOTHING = TemporalSettings().strength
DEFAULT_EVERY_N = PipelineSettings().every_n

# Slider ranges: (min, max, step).
THRESHOLD_RANGE = (0.05, 0.95, 0.01)
EDGE_RADIUS_RANGE = (4.0, 64.0, 1.0)
SMOOTHING_RANGE = (0.0, 0.99, 0.01)  # 1 would freeze the matte (TemporalSettings refuses it)
EVERY_N_RANGE = (1, 4, 1)

# Where the registration survives a script reload: the module is run again in the same
# interpreter, and libobs refuses to register the same id twice.
_STATE_ATTR = "_obs_bgremover_filter_state"


@dataclass(frozen=True)
class FilterSettings:
    """What the user picked in the properties, read in one place (`read_settings`)."""

    kind: str = DEFAULT_KIND
    color: int = DEFAULT_COLOR
    builtin: str = DEFAULT_BUILTIN
    image: str = ""
    model: str = DEFAULT_MODEL
    device: str = DEFAULT_DEVICE
    threshold: float = DEFAULT_THRESHOLD
    edge_radius: float = DEFAULT_EDGE_RADIUS
    smoothing: float = DEFAULT_SMOOTHING
    every_n: int = DEFAULT_EVERY_N

    def background_rgb(self) -> tuple[int, int, int]:
        """(red, green, blue) of the colour setting (stored by OBS as 0xAABBGGRR)."""
        return (self.color & 0xFF, (self.color >> 8) & 0xFF, (self.color >> 16) & 0xFF)

    def image_file(self) -> str | None:
        """The background picture's path, or None for a solid colour."""
        if self.kind == "builtin":
            from obs_bgremover.backgrounds import ASSETS

            return str(ASSETS / BUILTIN[self.builtin])
        if self.kind == "image":
            return self.image
        return None

    def matting(self) -> MattingSettings:
        """The graph's knobs: what changes without reloading the model."""
        return MattingSettings(threshold=self.threshold, edge_radius=self.edge_radius)

    def pipeline(self) -> PipelineSettings:
        """What the live pipeline does around the network (smoothing, every N-th frame)."""
        return PipelineSettings(temporal=TemporalSettings(strength=self.smoothing),
                                every_n=self.every_n)

    def engine(self) -> tuple[str, str]:
        """(model, device): a change of either loads another model."""
        return (self.model, self.device)

    def describe(self) -> str:
        """One log line's worth, so OBS's log shows what the filter actually runs with."""
        return (f"threshold {self.threshold:.2f}, edge {self.edge_radius:.0f} px, "
                f"smoothing {self.smoothing:.2f}, network every {self.every_n} frame(s)")


def _clamp(value: float, bounds: tuple[float, float, float]) -> float:
    """``value`` inside a slider's range: settings typed into a scene file or sent over the
    websocket bypass the slider."""
    return min(max(value, bounds[0]), bounds[1])


def read_settings(data: int) -> FilterSettings:
    """The filter's settings from an ``obs_data_t``, unknown values replaced by defaults."""
    obs = lib()

    def text(name: bytes) -> str:
        value = obs.obs_data_get_string(data, name)
        return value.decode("utf-8", "replace") if value else ""

    def number(name: bytes, bounds: tuple[float, float, float]) -> float:
        return _clamp(float(obs.obs_data_get_double(data, name)), bounds)

    kind = text(b"background")
    builtin = text(b"builtin")
    model = text(b"model")
    device = text(b"device")
    return FilterSettings(
        kind=kind if kind in KINDS else DEFAULT_KIND,
        color=int(obs.obs_data_get_int(data, b"color")) & 0xFFFFFFFF,
        builtin=builtin if builtin in BUILTIN_IMAGES else DEFAULT_BUILTIN,
        image=text(b"image"),
        model=model if model in MODEL_NAMES else DEFAULT_MODEL,
        device=device if device in DEVICE_LABELS else DEFAULT_DEVICE,
        threshold=number(b"threshold", THRESHOLD_RANGE),
        edge_radius=number(b"edge_radius", EDGE_RADIUS_RANGE),
        smoothing=number(b"smoothing", SMOOTHING_RANGE),
        every_n=int(_clamp(int(obs.obs_data_get_int(data, b"every_n")), EVERY_N_RANGE)),
    )


_models: dict[tuple[str, str], MattingModel] = {}
_models_lock = threading.Lock()


def shared_model(name: str, device: str) -> MattingModel:
    """One loaded model per (name, device) for every filter instance: onnxruntime sessions are
    safe to run from several threads, and loading costs memory and start-up time."""
    with _models_lock:
        if (name, device) not in _models:
            _models[(name, device)] = MattingModel(name, device)
        return _models[(name, device)]


class Filter:
    """One instance of the filter on one source; OBS's callbacks forward to its methods."""

    def __init__(self, source: int) -> None:
        self.source = source
        self.settings = FilterSettings()
        self.pipeline: LivePipeline | None = None
        # Held by `render` for a whole frame and by `_swap_pipeline` for the swap only, so a
        # pipeline replaced from the UI thread is never closed under a frame still using it.
        self.pipeline_lock = threading.Lock()
        self.pipeline_since = 0.0  # when the current pipeline started (perf_counter)
        self.size = (0, 0)
        self.texrender: int | None = None
        self.stages: list[int] = []
        self.free_stages: list[int] = []
        self.pending: deque[tuple[int, int]] = deque()  # (staging surface, frame number)
        self.frame_count = 0
        self.effect: int | None = None
        self.params: dict[str, int] = {}
        self.frame_tex: int | None = None
        self.mask_tex: int | None = None
        self.background_tex: int | None = None
        self.background_for: tuple[str | None, tuple[int, int]] | None = None
        # The pipeline and index of the matte in our textures: a new pipeline numbers its
        # results from 0 again, and until its first one the previous matte stays on screen
        # rather than the unfiltered input flashing up at every settings change.
        self.shown: tuple[LivePipeline, int] | None = None
        self.failed = False  # set after a render error, so one bad frame is logged once
        self.timings = dict.fromkeys(TIMED_STAGES, 0.0)
        self.timed_frames = 0

    # settings ---------------------------------------------------------------------------------

    def update(self, settings: FilterSettings) -> None:
        """Apply new settings live. The background texture is rebuilt on the graphics thread
        at the next frame; a change of the knobs, the smoothing or every-N starts a new
        pipeline on the same loaded model (the smoothing state belongs to the old settings);
        a change of model or device loads that model (shared between instances). A failure
        leaves the filter passing its input through, with one line in OBS's log: this runs in
        OBS's callbacks, which must not raise."""
        old = self.settings
        self.settings = settings
        self.failed = False
        unchanged = (old.engine(), old.matting(), old.pipeline()) == (
            settings.engine(), settings.matting(), settings.pipeline())
        if self.pipeline is not None and unchanged:
            return
        try:
            model = shared_model(*settings.engine())
            live = LivePipeline(model.with_settings(settings.matting()), settings.pipeline())
        except Exception as error:
            self.close_pipeline()
            log(libobs.LOG_ERROR, f"passing the input through: {type(error).__name__}: {error}")
            return
        self._swap_pipeline(live)
        log(libobs.LOG_INFO, f"model {model.name} runs on {model.provider}: "
                             f"{settings.describe()}")

    def _swap_pipeline(self, live: LivePipeline | None) -> None:
        """Make ``live`` the pipeline, then stop the old one outside the lock (stopping waits
        for a frame in inference, which must not hold up the render thread)."""
        with self.pipeline_lock:
            old, self.pipeline = self.pipeline, live
            self.pipeline_since = time.perf_counter()
            if live is None:
                self.shown = None  # passing through: no stale matte once a pipeline is back
        if old is not None:
            old.close()

    def close_pipeline(self) -> None:
        self._swap_pipeline(None)

    # graphics ---------------------------------------------------------------------------------

    def _free_graphics(self) -> None:
        """Destroy every graphics object we made; the caller holds the graphics context."""
        obs = lib()
        if self.texrender:
            obs.gs_texrender_destroy(self.texrender)
        for stage in self.stages:
            obs.gs_stagesurface_destroy(stage)
        for texture in (self.frame_tex, self.mask_tex, self.background_tex):
            if texture:
                obs.gs_texture_destroy(texture)
        self.texrender = None
        self.stages = []
        self.frame_tex = self.mask_tex = self.background_tex = None
        self.background_for = None
        self.size = (0, 0)

    def destroy(self) -> None:
        """Stop the worker and release the GPU objects (outside the render loop, so the graphics
        context has to be entered)."""
        self.close_pipeline()
        obs = lib()
        obs.obs_enter_graphics()
        try:
            self._free_graphics()
            if self.effect:
                obs.gs_effect_destroy(self.effect)
                self.effect = None
        finally:
            obs.obs_leave_graphics()

    def _ensure_effect(self) -> int:
        if self.effect is None:
            obs = lib()
            error = c_char_p()
            path = str(libobs.effect_path(EFFECT_FILE)).encode()
            effect = obs.gs_effect_create_from_file(path, byref(error))
            if not effect:
                message = error.value.decode(errors="replace") if error.value else "unknown error"
                raise BgRemoverError(f"cannot compile {EFFECT_FILE}: {message}")
            self.effect = effect
            self.params = {
                name: obs.gs_effect_get_param_by_name(effect, name.encode())
                for name in ("image", "mask", "background", "color")
            }
        return self.effect

    def _ensure_size(self, width: int, height: int) -> None:
        """(Re)create the size-dependent objects when the input's resolution changes."""
        if self.size == (width, height):
            return
        obs = lib()
        self._free_graphics()
        self.texrender = obs.gs_texrender_create(libobs.GS_RGBA, libobs.GS_ZS_NONE)
        self.stages = [
            obs.gs_stagesurface_create(width, height, libobs.GS_RGBA) for _ in range(STAGES)
        ]
        self.frame_tex = obs.gs_texture_create(width, height, libobs.GS_RGBA, 1, None,
                                               libobs.GS_DYNAMIC)
        self.mask_tex = obs.gs_texture_create(width, height, libobs.GS_R8, 1, None,
                                              libobs.GS_DYNAMIC)
        if not (self.texrender and all(self.stages) and self.frame_tex and self.mask_tex):
            raise BgRemoverError(f"cannot create GPU objects for {width}x{height}")
        self.free_stages = list(self.stages)
        self.pending.clear()
        self.shown = None
        self.size = (width, height)

    def _render_input(self, width: int, height: int) -> bool:
        """Draw the filter's input into our texrender; False when there is nothing to draw."""
        obs = lib()
        obs.gs_texrender_reset(self.texrender)
        if not obs.gs_texrender_begin(self.texrender, width, height):
            return False
        drawn = False
        try:
            obs.gs_clear(libobs.GS_CLEAR_COLOR, byref(vec4(0, 0, 0, 0)), 0.0, 0)
            obs.gs_ortho(0.0, float(width), 0.0, float(height), -100.0, 100.0)
            obs.gs_blend_state_push()
            obs.gs_blend_function(libobs.GS_BLEND_ONE, libobs.GS_BLEND_ZERO)
            if obs.obs_source_process_filter_begin(
                self.source, libobs.GS_RGBA, libobs.OBS_ALLOW_DIRECT_RENDERING
            ):
                default = obs.obs_get_base_effect(libobs.OBS_EFFECT_DEFAULT)
                obs.obs_source_process_filter_end(self.source, default, width, height)
                drawn = True
            obs.gs_blend_state_pop()
        finally:
            obs.gs_texrender_end(self.texrender)
        return drawn

    def _stage_and_submit(self, texture: int, width: int) -> None:
        """Hand the oldest staged frame to the pipeline once it is old enough to map without
        a stall, then stage this frame if the pipeline can take another."""
        obs = lib()
        frame = self.frame_count
        self.frame_count += 1
        if self.pending and frame - self.pending[0][1] >= STAGE_LAG:
            surface, _ = self.pending.popleft()
            self.free_stages.append(surface)
            self._submit(surface, width)
        if self.free_stages and self._wants_frame():
            start = time.perf_counter()
            surface = self.free_stages.pop()
            obs.gs_stage_texture(surface, texture)
            self.pending.append((surface, frame))
            self._time("stage", start)

    def _wants_frame(self) -> bool:
        """Whether a frame staged now would be matted rather than replaced by a newer one."""
        stats = self.pipeline.stats()
        unfinished = stats.submitted - stats.processed - stats.dropped - stats.errors
        return unfinished + len(self.pending) < MAX_IN_FLIGHT

    def _submit(self, surface: int, width: int) -> None:
        """Map a staging surface, give its pixels (as RGB) to the pipeline, unmap it."""
        obs = lib()
        start = time.perf_counter()
        data = POINTER(c_uint8)()
        linesize = c_uint32()
        if not obs.gs_stagesurface_map(surface, byref(data), byref(linesize)):
            return
        start = self._time("map", start)
        try:
            rows = np.ctypeslib.as_array(data, shape=(self.size[1], linesize.value))
            rgba = rows[:, : width * 4].reshape(self.size[1], width, 4)
            self.pipeline.submit(cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB))
        finally:
            obs.gs_stagesurface_unmap(surface)
            self._time("submit", start)

    def _upload_result(self) -> bool:
        """Upload the newest matte and its frame if they are new; False while the textures
        hold no matte of this resolution (before the first one, after a resize)."""
        result = self.pipeline.latest()
        if result is None or result.alpha.shape != (self.size[1], self.size[0]):
            return self.shown is not None
        if self.shown is None or self.shown[0] is not self.pipeline:
            log(libobs.LOG_INFO, f"new settings shown after "
                                 f"{1000 * (time.perf_counter() - self.pipeline_since):.0f} ms")
            self.shown = None
        if self.shown is None or result.index != self.shown[1]:
            obs = lib()
            rgba = cv2.cvtColor(result.frame, cv2.COLOR_RGB2RGBA)
            alpha = np.ascontiguousarray(result.alpha)
            obs.gs_texture_set_image(self.frame_tex, rgba.ctypes.data_as(POINTER(c_uint8)),
                                     rgba.strides[0], False)
            obs.gs_texture_set_image(self.mask_tex, alpha.ctypes.data_as(POINTER(c_uint8)),
                                     alpha.strides[0], False)
            self.shown = (self.pipeline, result.index)
        return True

    def _ensure_background(self) -> int | None:
        """The background picture as a texture of the output's size, or None for a colour."""
        path = self.settings.image_file()
        key = (path, self.size)
        if key == self.background_for:
            return self.background_tex
        obs = lib()
        if self.background_tex:
            obs.gs_texture_destroy(self.background_tex)
            self.background_tex = None
        self.background_for = key
        if path is None:
            return None
        width, height = self.size
        with open_file(path) as background:
            dummy = np.zeros((height, width, 3), np.uint8)
            plate = background.plate(dummy, dummy[..., 0], 0.0)
        rgba = np.ascontiguousarray(cv2.cvtColor(plate, cv2.COLOR_RGB2RGBA))
        data = (POINTER(c_uint8) * 1)(rgba.ctypes.data_as(POINTER(c_uint8)))
        self.background_tex = obs.gs_texture_create(width, height, libobs.GS_RGBA, 1, data, 0)
        return self.background_tex

    def _draw_composite(self) -> None:
        obs = lib()
        effect = self._ensure_effect()
        background = None
        try:
            background = self._ensure_background()
        except BgRemoverError as error:
            if not self.failed:
                log(libobs.LOG_WARNING, f"background unavailable, using the colour: {error}")
                self.failed = True
        red, green, blue = self.settings.background_rgb()
        obs.gs_effect_set_texture(self.params["image"], self.frame_tex)
        obs.gs_effect_set_texture(self.params["mask"], self.mask_tex)
        obs.gs_effect_set_vec4(self.params["color"], byref(vec4(red / 255, green / 255,
                                                                 blue / 255, 1.0)))
        technique = b"DrawColor"
        if background:
            obs.gs_effect_set_texture(self.params["background"], background)
            technique = b"DrawImage"
        width, height = self.size
        while obs.gs_effect_loop(effect, technique):
            obs.gs_draw_sprite(self.frame_tex, 0, width, height)

    def render(self) -> None:
        """One frame: see the module's docstring. Passes the input through until a matte is
        ready."""
        with self.pipeline_lock:
            self._render_frame()

    def _render_frame(self) -> None:
        obs = lib()
        target = obs.obs_filter_get_target(self.source)
        width = obs.obs_source_get_base_width(target) if target else 0
        height = obs.obs_source_get_base_height(target) if target else 0
        if self.pipeline is None or not width or not height:
            obs.obs_source_skip_video_filter(self.source)
            return
        self._ensure_size(width, height)
        start = time.perf_counter()
        if not self._render_input(width, height):
            obs.obs_source_skip_video_filter(self.source)
            return
        self._time("render", start)
        texture = obs.gs_texrender_get_texture(self.texrender)
        self._stage_and_submit(texture, width)
        start = time.perf_counter()
        ready = self._upload_result()
        self._time("upload", start)
        start = time.perf_counter()
        if ready:
            self._draw_composite()
        else:
            default = obs.obs_get_base_effect(libobs.OBS_EFFECT_DEFAULT)
            obs.gs_effect_set_texture(obs.gs_effect_get_param_by_name(default, b"image"), texture)
            while obs.gs_effect_loop(default, b"Draw"):
                obs.gs_draw_sprite(texture, 0, width, height)
        self._time("draw", start)
        self._report_timings()

    def _time(self, stage: str, start: float) -> float:
        """Add the milliseconds since ``start`` to ``stage``; returns now, to chain stages."""
        now = time.perf_counter()
        self.timings[stage] += 1000 * (now - start)
        return now

    def _report_timings(self) -> None:
        """Every TIMING_EVERY frames, log the mean milliseconds per stage on the render thread
        and the pipeline's own figures, so slow frames can be traced to a stage from OBS's log."""
        self.timed_frames += 1
        if self.timed_frames < TIMING_EVERY:
            return
        means = ", ".join(f"{k} {v / self.timed_frames:.2f}" for k, v in self.timings.items())
        stats = self.pipeline.stats() if self.pipeline else None
        live = (f"; inference {stats.matte_ms:.1f} ms at {stats.fps:.1f} fps, latency "
                f"{stats.latency_ms:.1f} ms, dropped {stats.dropped}/{stats.submitted}"
                if stats else "")
        log(libobs.LOG_INFO, f"{self.size[0]}x{self.size[1]} per frame (ms): {means}{live}")
        self.timings = dict.fromkeys(TIMED_STAGES, 0.0)
        self.timed_frames = 0

    def base_size(self) -> tuple[int, int]:
        obs = lib()
        target = obs.obs_filter_get_target(self.source)
        if not target:
            return (0, 0)
        return (obs.obs_source_get_base_width(target), obs.obs_source_get_base_height(target))


# callbacks --------------------------------------------------------------------------------------

_instances: dict[int, Filter] = {}
_next_key = [1]

T = TypeVar("T")


def _guarded(default: T) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Wrap a callback so no exception escapes into libobs: log it and return ``default``."""

    def wrap(function: Callable[..., T]) -> Callable[..., T]:
        def guarded(*args: Any) -> T:
            try:
                return function(*args)
            except Exception:
                log(libobs.LOG_ERROR, f"{function.__name__} failed:\n{traceback.format_exc()}")
                return default

        guarded.__name__ = function.__name__
        return guarded

    return wrap


_NAME = ctypes.create_string_buffer(DISPLAY_NAME)


@_guarded(None)
def _get_name(type_data: int | None) -> int:
    return ctypes.addressof(_NAME)


@_guarded(None)
def _create(settings: int, source: int) -> int | None:
    instance = Filter(source)
    key = _next_key[0]
    _next_key[0] += 1
    _instances[key] = instance
    try:
        instance.update(read_settings(settings))
    except Exception:
        log(libobs.LOG_ERROR, f"filter starts passing through:\n{traceback.format_exc()}")
    return key


@_guarded(None)
def _destroy(key: int | None) -> None:
    instance = _instances.pop(key or 0, None)
    if instance is not None:
        instance.destroy()


@_guarded(None)
def _update(key: int | None, settings: int) -> None:
    instance = _instances.get(key or 0)
    if instance is not None:
        instance.update(read_settings(settings))


def _render_failed(key: int | None) -> None:
    """Pass the input through after a render error, logging only the first of a series."""
    instance = _instances.get(key or 0)
    if instance is None:
        return
    lib().obs_source_skip_video_filter(instance.source)


def _video_render(key: int | None, effect: int | None) -> None:
    instance = _instances.get(key or 0)
    if instance is None:
        return
    try:
        instance.render()
    except Exception:
        if not instance.failed:
            log(libobs.LOG_ERROR, f"render failed, passing through:\n{traceback.format_exc()}")
            instance.failed = True
        try:
            _render_failed(key)
        except Exception:
            pass


@_guarded(0)
def _get_width(key: int | None) -> int:
    instance = _instances.get(key or 0)
    return instance.base_size()[0] if instance else 0


@_guarded(0)
def _get_height(key: int | None) -> int:
    instance = _instances.get(key or 0)
    return instance.base_size()[1] if instance else 0


@_guarded(None)
def _get_defaults(settings: int) -> None:
    obs = lib()
    obs.obs_data_set_default_string(settings, b"background", DEFAULT_KIND.encode())
    obs.obs_data_set_default_int(settings, b"color", DEFAULT_COLOR)
    obs.obs_data_set_default_string(settings, b"builtin", DEFAULT_BUILTIN.encode())
    obs.obs_data_set_default_string(settings, b"image", b"")
    obs.obs_data_set_default_string(settings, b"model", DEFAULT_MODEL.encode())
    obs.obs_data_set_default_string(settings, b"device", DEFAULT_DEVICE.encode())
    obs.obs_data_set_default_double(settings, b"threshold", DEFAULT_THRESHOLD)
    obs.obs_data_set_default_double(settings, b"edge_radius", DEFAULT_EDGE_RADIUS)
    obs.obs_data_set_default_double(settings, b"smoothing", DEFAULT_SMOOTHING)
    obs.obs_data_set_default_int(settings, b"every_n", DEFAULT_EVERY_N)


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


def _add_matting_properties(props: int) -> None:
    """Model, device and the knobs worth turning live; the devices listed are only those
    this onnxruntime build has (plus Auto), so a pick cannot fail for lack of a provider."""
    _add_list(props, "model", "Model", MODEL_LABELS)
    devices = [DEFAULT_DEVICE, *available_devices()]
    _add_list(props, "device", "Device", {d: DEVICE_LABELS[d] for d in devices})
    _add_slider(props, "threshold", "Threshold", THRESHOLD_RANGE,
                "How sure the network must be that a pixel is the person: higher cuts closer.")
    _add_slider(props, "edge_radius", "Edge softness (px)", EDGE_RADIUS_RANGE,
                "Radius of the filter that makes the edge follow the picture (hair, shoulders).")
    _add_slider(props, "smoothing", "Temporal smoothing", SMOOTHING_RANGE,
                "Share of the previous matte kept where the picture is still: less flicker; "
                "moving parts always take the new matte.")
    _add_slider(props, "every_n", "Run the network every N frames", EVERY_N_RANGE,
                "Higher saves CPU/GPU; the matte is reused (and smoothed) in between.")


@_guarded(None)
def _get_properties(key: int | None) -> int | None:
    obs = lib()
    props = obs.obs_properties_create()
    _add_list(props, "background", "Background", KINDS)
    obs.obs_properties_add_color(props, b"color", b"Colour")
    _add_list(props, "builtin", "Built-in image", {name: name for name in BUILTIN_IMAGES})
    obs.obs_properties_add_path(props, b"image", b"Image file", libobs.OBS_PATH_FILE,
                                IMAGE_FILTER.encode(), None)
    _add_matting_properties(props)
    return props


class _Registration:
    """The struct and callback objects libobs points into: they must live as long as the
    process, because OBS may call them after the script that made them was unloaded."""

    def __init__(self) -> None:
        self.callbacks = [
            libobs.GET_NAME(_get_name),
            libobs.CREATE(_create),
            libobs.DESTROY(_destroy),
            libobs.GET_SIZE(_get_width),
            libobs.GET_SIZE(_get_height),
            libobs.GET_DEFAULTS(_get_defaults),
            libobs.GET_PROPERTIES(_get_properties),
            libobs.UPDATE(_update),
            libobs.VIDEO_RENDER(_video_render),
        ]
        name, create, destroy, width, height, defaults, props, update, render = self.callbacks
        self.info = libobs.ObsSourceInfo(
            id=FILTER_ID,
            type=libobs.OBS_SOURCE_TYPE_FILTER,
            output_flags=libobs.OBS_SOURCE_VIDEO | libobs.OBS_SOURCE_SRGB,
            get_name=name,
            create=create,
            destroy=destroy,
            get_width=width,
            get_height=height,
            get_defaults=defaults,
            get_properties=props,
            update=update,
            video_render=render,
        )
        self.instances = _instances


def register() -> bool:
    """Register the filter with libobs once per process; True if this call registered it.

    A script reload runs the script again but finds the registration kept on ``sys``.
    """
    if getattr(sys, _STATE_ATTR, None) is not None:
        return False
    registration = _Registration()
    lib().obs_register_source_s(byref(registration.info), sizeof(registration.info))
    setattr(sys, _STATE_ATTR, registration)
    return True


def shutdown() -> None:
    """Stop every instance's worker thread (called when the script unloads, before OBS
    finalises Python), so no thread is left running inside the interpreter."""
    for instance in list(_instances.values()):
        try:
            instance.close_pipeline()
        except Exception:
            log(libobs.LOG_WARNING, f"closing a pipeline failed:\n{traceback.format_exc()}")


