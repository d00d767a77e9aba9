"""The "Background Remover" video filter: OBS texture -> numpy -> live pipeline -> GPU composite.

Per frame, on OBS's graphics thread (`Filter.render`), for images, scenes and anything after
another filter (an async source's frames, when this filter comes first on it, are read from
memory in `Filter.take_frame` instead, and steps 1-3 are skipped: see `frames`):

1. the filter's input is rendered into our own ``gs_texrender`` (the target's own
   ``obs_source_video_render`` draws black for non-async sources such as images);
2. that texture is copied into one of ``STAGES`` rotating staging surfaces, and a surface staged
   at least ``STAGE_LAG`` frames ago is mapped: mapping the one staged this frame would wait for
   the GPU. A frame is staged only while the pipeline can take one (at most one frame in
   inference and one on its way), so a slow network does not cost the render thread a copy per
   frame that would be dropped anyway;
3. the mapped pixels go, as RGB, to a `LivePipeline`, which mattes them on its own thread with
   the network in a process of its own (`model_process`);
4. the newest finished result (its frame and its alpha, which belong together) is uploaded, only
   when it is new, as one RGBA texture with the alpha in its fourth channel (packed on the
   pipeline's worker, so the graphics thread only copies), and `Backdrop` composites the person
   over the background on the GPU with ``effects/bgremover.effect``. In low-latency mode the
   frame drawn is this frame's own input instead, with the newest matte.

Until the first matte arrives the source is drawn as nothing (transparent), so that the room
it hides never shows; whenever anything fails (the model, the background), the input is passed
through unchanged: no exception ever leaves a callback (OBS would abort), each is logged with
``blog`` instead, once per cause.
"""

from __future__ import annotations

import threading
import time
import traceback
import weakref
from collections import deque
from concurrent import futures
from concurrent.futures import Future
from ctypes import POINTER, byref, c_char_p, c_uint8, c_uint32

import cv2
import numpy as np

from obs_bgremover.errors import BgRemoverError, NetworkStopped
from obs_bgremover.model import available_devices
from obs_bgremover.model_process import RemoteModel
from obs_bgremover.obs import libobs
from obs_bgremover.obs.backdrop import PARAMS, Backdrop, BackgroundUnavailable
from obs_bgremover.obs.frames import RawFrame, copy_frame
from obs_bgremover.obs.libobs import lib, log, set_image, vec4
from obs_bgremover.obs.models import WORKER_NICE, Loaded, engine, release_unused, shared_model
from obs_bgremover.obs.render_clip import RenderClip
from obs_bgremover.obs.settings import FilterSettings
from obs_bgremover.pipeline import LivePipeline

EFFECT_FILE = "bgremover.effect"

# How often (in rendered frames) the per-stage timings are written to OBS's log.
TIMING_EVERY = 300
TIMED_STAGES = ("render", "stage", "map", "submit", "copy", "upload", "draw")

# Staging surfaces in rotation; one is mapped no sooner than STAGE_LAG frames after staging.
STAGES = 3
STAGE_LAG = 2
# Frames allowed between staging and a result: one in inference, one staged or waiting.
MAX_IN_FLIGHT = 2
# Textures the mattes are uploaded into, in turn (see Filter.slots).
UPLOAD_SLOTS = 3
# Seconds without a frame from an async source, while the current settings have no matte to
# show, after which its picture is read back from the GPU instead (see `Filter._starved`).
STARVED_S = 0.5
# Nanoseconds of video time without a draw after which the source counts as having been out of
# sight (its scene not shown), and what it showed then as stale (see `Filter._unseen`): longer
# than any stall a busy OBS recovers from without skipping frames.
UNSEEN_NS = 1_000_000_000
# How long a new filter's log lines wait for the name of the source it is on: OBS gives a filter
# its source only after creating it, and the lines of its first settings named none.
UNNAMED_WAIT_S = 2.0
# How long a filter passes its input through for want of the script (unloaded) before it says
# so: a reload unloads it for a moment only.
UNLOADED_SAY_S = 2.0
# How long a settings change waits for the first matte of the one before it (see `_apply`):
# longer than a first matte takes on a busy CPU (0.2-0.75 s seen on 2 cores), short enough that
# a pipeline that never shows one (a hidden source, a failing model) holds nothing up for long.
DEFER_MAX_S = 1.0


# Every filter instance not destroyed, for `models.release_unused` to ask which models they use.
_filters: weakref.WeakSet[Filter] = weakref.WeakSet()


def _engines_in_use() -> set[tuple[str, str]]:
    return set().union(*(instance.engines() for instance in list(_filters)))


def straight_colours(rgba: np.ndarray) -> np.ndarray:
    """A staged frame as the pipeline takes it: RGB where the input is opaque, else straight
    RGBA (`LivePipeline.submit`). OBS draws a partly transparent source (a PNG cut-out, a
    browser source, an opacity filter) in premultiplied colours; taken as opaque, its
    transparent parts turned black wherever the network saw a person. Run on the pipeline's
    worker: the check reads every pixel, which OBS's graphics thread cannot spare."""
    if cv2.minMaxLoc(cv2.extractChannel(rgba, 3))[0] == 255:
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
    return cv2.cvtColor(rgba, cv2.COLOR_mRGBA2RGBA)


class _Transparency:
    """`straight_colours` for a filter's pipeline, noting whether the newest frame it made had
    transparency of its own (written on the pipeline's worker, read on the graphics thread:
    the blur then keeps that transparency, see `Backdrop.draw`)."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, rgba: np.ndarray) -> np.ndarray:
        frame = straight_colours(rgba)
        self.seen = frame.shape[2] == 4
        return frame


class Filter:
    """One instance of the filter on one source; OBS's callbacks forward to its methods."""

    def __init__(self, source: int, closed: bool = False) -> None:
        """``closed``: start as `detach_pipeline` leaves a filter, keeping the settings it is
        given until `reopen` (one added while the script is unloaded)."""
        self.source = source
        self.provider = "not loaded"  # the execution provider that runs the network, for the UI
        self.settings = FilterSettings()
        self.pipeline: LivePipeline | None = None
        # Held by `render` for a whole frame and by `_swap_pipeline` for the swap only, so a
        # pipeline replaced from the UI thread is never closed under a frame still using it.
        self.pipeline_lock = threading.Lock()
        self.pipeline_since = 0.0  # when the current pipeline started (perf_counter)
        self.frame_arrived = 0.0  # when the source last sent `take_frame` a frame (perf_counter)
        # Pipelines replaced by a settings change: stopped, not yet waited for (see
        # `_replace_pipeline`).
        self.stopping: list[LivePipeline] = []
        self.size = (0, 0)
        self.unmade: tuple[int, int] | None = None  # a size the GPU failed at (`_ensure_size`)
        self.texrender: int | None = None
        self.stages: list[int] = []
        self.free_stages: list[int] = []
        self.pending: deque[tuple[int, int]] = deque()  # (staging surface, frame number)
        self.frame_count = 0
        self.effect: int | None = None
        self.params: dict[str, int] = {}
        # RGBA textures (frame, matte as alpha) in rotation: a texture the GPU may still be
        # drawing from is never written, which would make the upload wait for it. `slot` holds
        # the shown one.
        self.slots: list[int] = []
        self.slot = 0
        self.backdrop = Backdrop(self.say)
        self.transparency = _Transparency()  # of the frames read back from the GPU
        # The pipeline and index of the matte in our textures: a new pipeline numbers its
        # results from 0 again, and until its first one the previous matte stays on screen
        # rather than the unfiltered input flashing up at every settings change.
        self.shown: tuple[LivePipeline, int] | None = None
        # `pipeline_since` of the pipeline whose first matte was logged ("new settings
        # matted after"; not "shown": a background that fails is said after it), once per
        # pipeline, not again after a resize.
        self.announced = 0.0
        # A settings change left for the current pipeline's first matte (see `_apply`).
        self.deferred = False
        self.failed = False  # set after a render error, so one bad frame is logged once
        # False once an async frame turns out unreadable (see take_frame), until the size
        # changes.
        self.direct_frames = True
        self.said_behind: int | None = None  # the filter `_say_behind` last named
        self.recovering: threading.Thread | None = None  # see _recover
        self.recovered = 0.0  # `pipeline_since` of the pipeline `_recover` last replaced
        # Counts `update`s (and detaches): a model that finishes loading for settings a newer
        # update replaced starts nothing. `update_lock` makes the check and the swap one step.
        self.generation = 0
        self.update_lock = threading.Lock()
        self.closed = closed  # see detach_pipeline
        self.closed_since = time.monotonic()  # when `closed` was last set (see `_say_unloaded`)
        self.said_unloaded = False
        self.loading: Future[Loaded] | None = None  # the newest update's
        self.running_engine: tuple[str, str] | None = None  # `engine` of `pipeline`
        self.said_device: str | None = None  # see `_say_device`
        self.render_clip = RenderClip(lambda: lib().obs_source_update_properties(source))
        self.timings = dict.fromkeys(TIMED_STAGES, 0.0)
        self.worst = dict.fromkeys(TIMED_STAGES, 0.0)  # ms, each stage's longest in the window
        self.timed_frames = 0
        self.slowest = 0.0  # ms, the longest `render` in the current timing window
        # The video frame (`obs_get_video_frame_time`) whose input is in `texrender` and whose
        # matte is in `slots`: a second draw of it reuses them (see `_render_frame`).
        self.prepared_frame: int | None = None
        self.drawn_at: int | None = None  # the video frame time of the last draw
        self.label = ""  # the name of the source the filter is on, once OBS has set it
        self.created = time.monotonic()
        self.unsaid: list[tuple[int, str]] = []  # lines waiting for `label` (see `say`)
        self.say_lock = threading.Lock()  # `say` runs on OBS's threads and ours
        # (pipeline, submission number): that pipeline's results before it are from before the
        # source went out of sight, and are not shown.
        self.unseen: tuple[LivePipeline, int] | None = None
        self.draws = 0  # draws in the timing window: more than its frames in several views
        _filters.add(self)

    def engines(self) -> set[tuple[str, str]]:
        """The (model, device) pairs this filter uses: its pipeline's, and its settings' while
        that one loads (none once taken away: reopening loads again)."""
        if self.closed:
            return set()
        return {engine(self.settings)} | ({self.running_engine} if self.running_engine else set())

    # settings ---------------------------------------------------------------------------------

    def update(self, settings: FilterSettings) -> None:
        """Apply new settings live. The background texture is rebuilt on the graphics thread
        at the next frame; a change of the knobs, the smoothing or every-N starts a new
        pipeline on the same loaded model (the smoothing state belongs to the old settings);
        a change of model or device loads that model (shared between instances) on a thread of
        its own, and the current pipeline goes on until it is ready. A failure leaves the filter
        passing its input through, with one line in OBS's log: this runs in OBS's callbacks,
        which must not raise. A value replaced when read (`FilterSettings.notes`) is said once,
        not again at every later change of another setting."""
        self.read_label()
        said = self.settings.notes
        for note in settings.notes:
            if note not in said:
                self.say(libobs.LOG_WARNING, f"setting {note}")
        self._apply(settings)

    def rebuild(self) -> None:
        """Start a new pipeline on the current settings, even though they did not change: after
        the network's process stopped, or after a script reload (`reopen`)."""
        self._apply(None)

    def reopen(self) -> None:
        """Undo `detach_pipeline` (the script was loaded again) and start a pipeline; follow
        the render job the unload stopped following."""
        with self.update_lock:
            self.closed = False
            self.said_unloaded = False
        self.read_label()  # a source not drawn yet had its lines unnamed
        self.rebuild()
        self.render_clip.resume()

    def _apply(self, settings: FilterSettings | None) -> None:
        """`update` (new ``settings``) or `rebuild` (None: the current ones, read under the
        lock, so that a rebuild on another thread never brings back settings an update just
        replaced)."""
        with self.update_lock:
            old = self.settings
            if settings is not None:
                self.settings = settings
            new = self.settings
            if self.closed:
                return  # kept, for `reopen`
            self.failed = False
            if old.low_latency != new.low_latency:
                self.say(libobs.LOG_INFO, f"low latency {'on' if new.low_latency else 'off'}")
            unchanged = (old.engine(), old.matting(), old.pipeline(), old.edge_colours()) == (
                new.engine(), new.matting(), new.pipeline(), new.edge_colours())
            if settings is not None and unchanged and self.pipeline is not None:
                return
            if settings is not None and old.engine() == new.engine() and self._first_matte_due():
                self.deferred = True
                return
            self.deferred = False
            self.generation += 1
            generation = self.generation
            if new.model == "custom" and not new.model_path:
                self._no_model_yet(old.engine() != new.engine())
                return
            self._say_device(new.device)
            key = engine(new)
            model = self.loading = shared_model(*key)
        if model.done():
            self._start_pipeline(model, new, generation)
            return
        until = ("the filter goes on as it was" if self.pipeline is not None
                 else "the source shows nothing")
        self.say(libobs.LOG_INFO, "loading model {} on {}; {} until then".format(*key, until))
        # A thread, not a callback on the shared future, which would keep this filter alive.
        threading.Thread(target=self._start_pipeline, args=(model, new, generation, True),
                         name="obs-bgremover-start", daemon=True).start()

    def _first_matte_due(self) -> bool:
        """Whether the current pipeline has not shown its first matte yet, with the previous
        settings' composite on screen meanwhile, for less than `DEFER_MAX_S`. A slider dragged
        in the properties sends a change every frame: each one replaced a pipeline before its
        first matte, and the composite from before the drag stayed on screen, the person frozen,
        for as long as the drag lasted. Such a change waits for that first matte instead
        (`apply_deferred`), so the picture moves on at the pace of a first matte."""
        shown, pipeline = self.shown, self.pipeline
        return (pipeline is not None and not self.failed and shown is not None
                and shown[0] is not pipeline
                and time.perf_counter() - self.pipeline_since < DEFER_MAX_S)

    def apply_deferred(self) -> None:
        """Start the pipeline of a settings change `_apply` left waiting, once its wait is over:
        from `render`, outside `pipeline_lock` (the swap takes it)."""
        if self.deferred and not self._first_matte_due():
            with self.update_lock:
                if not self.deferred:
                    return
            self.rebuild()

    def _no_model_yet(self, say: bool) -> None:
        """"Custom ONNX file" chosen and no file picked yet: nothing to load, and no failure
        either (the user is about to pick one). The pipeline running goes on until then; a
        filter without one passes its input through. Called under `update_lock`."""
        self.loading = None
        if self.pipeline is None:
            self.provider = "nothing: no model file chosen yet"
            self.failed = True
        if say:
            self.say(libobs.LOG_INFO, "no custom model file chosen yet; " + (
                "the filter goes on as it was until one is" if self.pipeline is not None
                else "passing the input through until one is"))

    def _say_device(self, device: str) -> None:
        """Say once, when the settings name it, that ``device`` is not in this onnxruntime
        build and the network runs on the best device there is (`device_used`)."""
        if device == "auto" or device in available_devices():
            self.said_device = None
        elif device != self.said_device:
            self.said_device = device
            self.say(libobs.LOG_WARNING,
                     f"device {device} is not available in this onnxruntime build (available: "
                     f"{', '.join(available_devices())}); the network runs on the best of "
                     "those instead")

    def _start_pipeline(self, loaded: Future[Loaded],
                        settings: FilterSettings, generation: int, wait: bool = False) -> None:
        """Start the pipeline for ``settings`` on their model, ``loaded`` (after waiting for
        it to load, with ``wait``). Nothing happens if a newer update, or `detach_pipeline`,
        came since: the newest settings win, and a removed filter starts nothing. A model that
        failed to load leaves the filter passing its input through."""
        if wait:
            futures.wait([loaded])
        try:
            with self.update_lock:
                if generation != self.generation:
                    return
                try:
                    model = loaded.result().with_settings(settings.matting())
                    # A model in OBS's own process gets the low priority on its pipeline's
                    # thread; a network process is shared, and a pipeline that closes gives up
                    # its turn there.
                    remote = isinstance(model, RemoteModel)
                    live = LivePipeline(model, settings.pipeline(),
                                        nice=0 if remote else WORKER_NICE, rgba=True,
                                        edge_colours=settings.edge_colours(),
                                        on_close=(model.abandon
                                                  if isinstance(model, RemoteModel) else None))
                except Exception as error:
                    self.provider = f"nothing: {error}"
                    self.say(libobs.LOG_ERROR,
                             f"passing the input through: {type(error).__name__}: {error}")
                    self.failed = True
                    live = None
                else:
                    self.provider = model.provider
                    self.say(libobs.LOG_INFO, f"model {model.name} runs on {model.provider}: "
                                              f"{settings.describe()}")
                self._replace_pipeline(live)
                self.running_engine = engine(settings) if live is not None else None
            release_unused(_engines_in_use)
        except Exception:  # on a thread of ours, nothing above it would tell OBS's log
            self.say(libobs.LOG_ERROR, f"starting the pipeline failed:\n{traceback.format_exc()}")

    def _swap_pipeline(self, live: LivePipeline | None) -> LivePipeline | None:
        """Make ``live`` the pipeline; the old one, still running, is the caller's to close
        outside the lock (stopping waits for a frame in inference, which must not hold up the
        render thread)."""
        with self.pipeline_lock:
            old, self.pipeline = self.pipeline, live
            self.pipeline_since = time.perf_counter()
            if live is None:
                self.shown = None  # passing through: no stale matte once a pipeline is back
        return old

    def _replace_pipeline(self, live: LivePipeline | None) -> None:
        """Make ``live`` the pipeline and stop the old one (outside the lock), without waiting
        for its frame in inference: OBS applies a settings change on its graphics thread, which
        must not wait for the network at each step of a slider. Such pipelines are closed once
        they have ended, or by `finish_stopping`."""
        old = self._swap_pipeline(live)
        if old is None:
            return
        old.stop()
        with self.pipeline_lock:
            ended = [pipeline for pipeline in self.stopping if not pipeline.running]
            self.stopping = [pipeline for pipeline in self.stopping if pipeline not in ended]
            self.stopping.append(old)
        for pipeline in ended:
            pipeline.close()  # returns at once

    def finish_stopping(self) -> None:
        """Wait for the pipelines a settings change stopped (each finishes one frame at most)."""
        with self.pipeline_lock:
            stopping, self.stopping = self.stopping, []
        for pipeline in stopping:
            pipeline.close()

    def detach_pipeline(self) -> LivePipeline | None:
        """Take the pipeline away, still running, for the caller to close: the input passes
        through from the next frame on, and nothing starts another one until `reopen` (not a
        model still loading for this filter, nor an update or a rebuild that comes later)."""
        with self.update_lock:
            self.closed = True
            self.closed_since = time.monotonic()
            self.deferred = False  # `reopen` starts the newest settings anyway
            self.generation += 1
            self.running_engine = None
            return self._swap_pipeline(None)

    # graphics ---------------------------------------------------------------------------------

    def _free_graphics(self) -> None:
        """Destroy every graphics object we made; the caller holds the graphics context."""
        obs = lib()
        if self.texrender:
            obs.gs_texrender_destroy(self.texrender)
        for stage in self.stages:
            if stage:
                obs.gs_stagesurface_destroy(stage)
        for texture in self.slots:
            if texture:
                obs.gs_texture_destroy(texture)
        self.backdrop.free()
        self.texrender = None
        self.stages = []
        self.slots = []
        self.size = (0, 0)

    def destroy(self) -> None:
        """Stop the worker and release the GPU objects (outside the render loop, so the graphics
        context has to be entered). The network processes no other filter uses end, unless no
        filter uses any: the last filter removed kept its own running, as the script's
        description keeps the default model's before the first filter, so that one added again
        (the same filter re-made, moved to another source) shows as soon as a first one does;
        starting the process again left the source blank for 0.5-1.3 s on a 2-core CPU. They
        end when a filter starts on another model, or when the script unloads."""
        self.render_clip.close()
        pipeline = self.detach_pipeline()
        if pipeline is not None:
            pipeline.close()
        self.finish_stopping()
        self._say_waiting()  # a filter removed before any OBS call named its source
        _filters.discard(self)
        if _engines_in_use():
            release_unused(_engines_in_use)
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
                for name in PARAMS
            }
        return self.effect

    def _ensure_size(self, width: int, height: int) -> bool:
        """(Re)create the size-dependent objects when the input's resolution changes; False at a
        size the GPU cannot make them at (a 20000x20 colour source), which is said once and not
        tried again until the size changes: every try logged OBS's own errors, 90 lines a
        second."""
        if self.size == (width, height):
            return True
        if self.unmade == (width, height):
            return False
        obs = lib()
        self._free_graphics()
        self.prepared_frame = None
        self.texrender = obs.gs_texrender_create(libobs.GS_RGBA, libobs.GS_ZS_NONE)
        self.stages = [
            obs.gs_stagesurface_create(width, height, libobs.GS_RGBA) for _ in range(STAGES)
        ]
        self.slots = [
            obs.gs_texture_create(width, height, libobs.GS_RGBA, 1, None, libobs.GS_DYNAMIC)
            for _ in range(UPLOAD_SLOTS)
        ]
        if not (self.texrender and all(self.stages) and all(self.slots)):
            self._free_graphics()
            self.unmade = (width, height)
            self.say(libobs.LOG_ERROR, "passing the input through: the GPU cannot hold "
                                       f"textures of {width}x{height}")
            return False
        self.free_stages = list(self.stages)
        self.pending.clear()
        self.shown = None
        self.size = (width, height)
        # A new resolution is most often a new file or camera mode, whose frames may be in a
        # format `frames` reads even if the last one's were not.
        self.direct_frames = True
        return True

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
        assert self.pipeline is not None  # asked only with a pipeline, under pipeline_lock
        return self.pipeline.in_flight() + len(self.pending) < MAX_IN_FLIGHT

    def _submit(self, surface: int, width: int) -> None:
        """Map a staging surface, give a copy of its pixels to the pipeline, unmap it; the
        pipeline's worker makes them RGB or straight RGBA (`straight_colours`)."""
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
            assert self.pipeline is not None  # `render` has one, under pipeline_lock
            self.pipeline.submit(rgba.copy(), self.transparency)
        finally:
            obs.gs_stagesurface_unmap(surface)
            self._time("submit", start)

    def _upload_result(self) -> bool:
        """Upload the newest matte and its frame if they are new; False while the textures
        hold no matte of this resolution (before the first one, after a resize).

        When the network's process has stopped, the last composite stays on screen (or
        nothing, before the first) while another one starts (`_recover`): the room the filter
        hides must not flash up, and the one warning `_recover` logs says all there is to say."""
        pipeline = self.pipeline
        assert pipeline is not None  # `render` has one, under pipeline_lock
        try:
            result = pipeline.latest()
        except NetworkStopped:
            self._recover()
            return self.shown is not None
        except Exception as error:  # a frame's error on the worker: see `_fails`
            self._fails(error)
            return False
        stale = (self.unseen is not None and self.unseen[0] is pipeline
                 and result is not None and result.index < self.unseen[1])
        if result is None or stale or result.alpha.shape != (self.size[1], self.size[0]):
            return self.shown is not None
        if self.shown is None or self.shown[0] is not pipeline:
            if self.announced != self.pipeline_since:  # not after a resize: nothing was set
                shown_after = 1000 * (time.perf_counter() - self.pipeline_since)
                self.say(libobs.LOG_INFO, f"new settings matted after {shown_after:.0f} ms")
                self.announced = self.pipeline_since
            self.shown = None
        if self.shown is None or result.index != self.shown[1]:
            slot = (self.slot + 1) % len(self.slots)
            assert result.rgba is not None  # the pipeline was made with rgba=True
            set_image(self.slots[slot], result.rgba)
            self.slot = slot
            self.shown = (pipeline, result.index)
        return True

    def _fails(self, error: Exception) -> None:
        """The network answered a frame with an error, or with an alpha not of the frame's
        size: a custom model that loads and then does not work. A new network process would
        fail the same way (one such model was restarted 23 times a second, the source invisible
        meanwhile), and the composite of the settings before, on screen until this pipeline's
        first matte, flickered with the input: the input passes through, said once, and the
        mattes show again if frames start to succeed (as after a frame that failed alone)."""
        self.shown = None
        if not self.failed:
            self.failed = True
            where = "" if isinstance(error, BgRemoverError) else "\n" + "".join(
                traceback.format_exception(error))  # unexpected: its trace, for a report
            self.say(libobs.LOG_ERROR, "passing the input through: the network fails on "
                                       f"frames: {type(error).__name__}: {error}{where}")

    def _recover(self) -> None:
        """After the network's process stopped (killed, out of memory), start another one, once
        per pipeline. Until it is up, the last composite stays on screen (`_upload_result`).
        `rebuild` runs on a thread of its own here: the caller holds `pipeline_lock`, which the
        swap to the new pipeline takes, and another filter may have started the process
        already, so that the swap would come at once."""
        if ((self.recovering is not None and self.recovering.is_alive())
                or (self.loading is not None and not self.loading.done())
                or self.recovered == self.pipeline_since):  # its errors until the swap
            return
        self.recovered = self.pipeline_since
        self.say(libobs.LOG_WARNING, "the network stopped; starting it again")
        self.recovering = threading.Thread(target=self._rebuild_logged,
                                           name="obs-bgremover-recover", daemon=True)
        self.recovering.start()

    def _rebuild_logged(self) -> None:
        try:
            self.rebuild()
        except Exception:  # on a thread of ours, nothing above it would tell OBS's log
            self.say(libobs.LOG_ERROR, f"restarting the network failed:\n{traceback.format_exc()}")

    def _reads_frames_directly(self, target: int) -> bool:
        """Whether the network's input comes from `take_frame` (this filter is the first on an
        async source whose frames it can read) rather than from the GPU. Not where OBS
        deinterlaces the source (a capture card's 1080i): its frames are still interlaced in
        memory, and only OBS's drawing of the source weaves or blends their fields."""
        obs = lib()
        return (self.direct_frames and target == obs.obs_filter_get_parent(self.source)
                and bool(obs.obs_source_get_output_flags(target) & libobs.OBS_SOURCE_ASYNC)
                and obs.obs_source_get_deinterlace_mode(target)
                == libobs.OBS_DEINTERLACE_MODE_DISABLE)

    def _say_behind(self, target: int) -> None:
        """Say once, naming it, when another filter comes before this one on a webcam or a media
        source: the picture is then drawn and read back from the GPU at every frame, which
        under software rendering costs tens of milliseconds of OBS's frame (the frames read
        from memory, with this filter first, cost well under one), and nothing told a user
        who had put a Color Correction first why OBS lagged. Said again if the order changes
        and another filter comes before it."""
        obs = lib()
        parent = obs.obs_filter_get_parent(self.source)
        behind = (target if parent and target and target != parent
                  and obs.obs_source_get_output_flags(parent) & libobs.OBS_SOURCE_ASYNC
                  else None)
        if behind == self.said_behind:
            return
        self.said_behind = behind
        if behind:
            name = (obs.obs_source_get_name(behind) or b"another filter").decode("utf-8",
                                                                                  "replace")
            self.say(libobs.LOG_INFO, f"\"{name}\" comes before this filter, so the source's "
                     "picture is read back from the GPU at every frame; with Background Remover "
                     "first in the list, its frames are read from memory, at a fraction of the "
                     "cost")

    def _starved(self) -> bool:
        """Whether the current settings have no matte on screen and the source has sent no
        frame for `STARVED_S`. A paused or ended media source sends none, so a filter added to
        it, or new settings, would otherwise leave the room on screen until it plays again; its
        last picture is read back from the GPU instead, until a matte is shown."""
        waiting = self.shown is None or self.shown[0] is not self.pipeline
        quiet = time.perf_counter() - max(self.frame_arrived, self.pipeline_since)
        return waiting and quiet > STARVED_S

    def take_frame(self, frame: int) -> None:
        """An async source's frame, before OBS draws it (``filter_video``): when the pipeline
        can take one, its planes are copied and handed over, to be converted to RGB on the
        worker thread. A format `frames` does not read turns this off until the source's size
        changes; its frames then come from the GPU like any other source's.

        OBS hands every filter on an async source that source's frames, wherever the filter
        stands: only the first one, where OBS does not deinterlace, may take them
        (`_reads_frames_directly`). Behind a Colour Correction or with deinterlacing on, the
        raw frames once reached the network beside the input read back from the GPU, and the
        screen flipped between the two.

        Surfaces still staged from the GPU (read while the source sent no frames, `_starved`)
        are given up: this frame is newer, and from now on frames come this way, so nothing
        would submit or free them. Two left staged counted as frames in flight for good: no
        frame was taken again, and the source stayed blank (a clip shown again after its
        settings changed while its scene item was hidden)."""
        self.frame_arrived = time.perf_counter()
        with self.pipeline_lock:
            if (self.pipeline is None
                    or not self._reads_frames_directly(lib().obs_filter_get_target(self.source))):
                return
            while self.pending:
                self.free_stages.append(self.pending.popleft()[0])
            if not self._wants_frame():
                return
            start = time.perf_counter()
            raw = copy_frame(libobs.ObsSourceFrame.from_address(frame))
            if raw is None:
                self.direct_frames = False
                self.say(libobs.LOG_INFO, "this source's frames are read back from the GPU")
                return
            self.pipeline.submit(raw, RawFrame.to_rgb)
            self._time("copy", start)

    def _draw_composite(self, texture: int | None) -> bool:
        """Draw the composite; False when the background cannot be shown (logged once) or is
        still loading, for the caller to pass the input through instead."""
        matted = self.slots[self.slot]
        # The input drawn this frame, where it has transparency of its own (frames read from
        # an async source's memory are opaque: `frames` drops any alpha).
        coverage = texture if texture is not None and self.transparency.seen else None
        try:
            # In low-latency mode only the alpha of the uploaded texture is used.
            return self.backdrop.draw(self.settings, self._ensure_effect(), self.params, matted,
                                      texture if self.settings.low_latency else None, self.size,
                                      coverage)
        except BackgroundUnavailable:  # said by the backdrop, once per cause
            return False
        except BgRemoverError as error:
            if not self.failed:
                self.say(libobs.LOG_WARNING, f"passing the input through: {error}")
                self.failed = True
            return False

    def render(self) -> None:
        """One frame: see the module's docstring. Draws nothing until a matte is ready."""
        start = time.perf_counter()
        if not self.label:  # OBS sets the filter's source after creating it
            self.read_label()
        with self.pipeline_lock:
            self._render_frame()
        self.apply_deferred()
        self.slowest = max(self.slowest, 1000 * (time.perf_counter() - start))

    def _render_frame(self) -> None:
        """Draw the composite. A source shown in several views draws its filters once per view
        and frame (studio mode's preview beside the program, a projector, the multiview): only
        the first draw of a frame renders the input, stages it for the network and uploads a
        matte; the others draw from the same textures, so every view shows the same composite
        and a second view costs one draw, not a second readback."""
        obs = lib()
        target = obs.obs_filter_get_target(self.source)
        width = obs.obs_source_get_base_width(target) if target else 0
        height = obs.obs_source_get_base_height(target) if target else 0
        if self.pipeline is None or not width or not height:
            self._show_nothing_yet()
            return
        if not self._ensure_size(width, height):
            self.pass_through()
            return
        direct = self._reads_frames_directly(target) and not self._starved()
        if not direct:
            self._say_behind(target)
        else:
            self.said_behind = None
        frame = obs.obs_get_video_frame_time()
        if self.drawn_at is not None and frame - self.drawn_at > UNSEEN_NS:
            self._unseen()
        self.drawn_at = frame
        again = frame == self.prepared_frame
        texture = None
        if not direct or self.settings.low_latency:
            start = time.perf_counter()
            if not again and not self._render_input(width, height):
                self.prepared_frame = None
                self.pass_through()
                return
            self._time("render", start)
            texture = obs.gs_texrender_get_texture(self.texrender)
            if not direct and not again:
                self._stage_and_submit(texture, width)
        start = time.perf_counter()
        ready = self.shown is not None if again else self._upload_result()
        self.prepared_frame = frame
        self._time("upload", start)
        start = time.perf_counter()
        if not (ready and self._draw_composite(texture)):
            if texture is None or self._on_its_way():
                self._show_nothing_yet()
                return
            default = obs.obs_get_base_effect(libobs.OBS_EFFECT_DEFAULT)
            obs.gs_effect_set_texture(obs.gs_effect_get_param_by_name(default, b"image"), texture)
            while obs.gs_effect_loop(default, b"Draw"):
                obs.gs_draw_sprite(texture, 0, width, height)
        self._time("draw", start)
        self.draws += 1
        if not again:
            self._report_timings()

    def say(self, level: int, message: str) -> None:
        """One line in OBS's log, naming the source this filter is on (`label`): with the
        filter on several sources, their lines (the timing line above all) could not be told
        apart. A new filter's lines wait up to `UNNAMED_WAIT_S` for the name (said at the
        first OBS call that reads it, `read_label`), and go out without it after that."""
        with self.say_lock:
            self.unsaid.append((level, message))
            if not self.label and time.monotonic() - self.created < UNNAMED_WAIT_S:
                return
        self._say_waiting()

    def _say_waiting(self) -> None:
        """Log the lines waiting in `unsaid`, in order, named if the source's name is known."""
        with self.say_lock:
            waiting, self.unsaid = self.unsaid, []
        for level, message in waiting:
            log(level, f"{self.label}: {message}" if self.label else message)

    def read_label(self) -> None:
        """Read `label` afresh (the source may have been renamed): at a settings change, at
        the first draw and with each timing line, not at every frame. Only on OBS's own calls,
        where the filter's source is alive: `say` also runs on our threads, which may outlive
        it."""
        obs = lib()
        parent = obs.obs_filter_get_parent(self.source)
        name = obs.obs_source_get_name(parent) if parent else None
        if name:
            self.label = name.decode("utf-8", "replace")
            self._say_waiting()

    def _unseen(self) -> None:
        """The source was out of sight for a while (its scene not shown): the composite on
        screen, and any result still in the pipeline, show the picture from then, which came
        back for a few tenths of a second (a clip restarting showed its last picture, a webcam
        a moment from minutes before). Nothing is drawn until a matte of a frame from now is
        ready, and smoothing starts afresh, as after a cut. Called under `pipeline_lock`."""
        self.shown = None
        if self.pipeline is not None:
            self.unseen = (self.pipeline, self.pipeline.stats().submitted)
            self.pipeline.reset()

    def _on_its_way(self) -> bool:
        """Whether the composite is merely not ready: the model loading, the first matte of
        this size in the network, the first background loading. Not after a failure (logged,
        `failed`), nor once the filter is taken away (the script unloaded)."""
        if self.failed or self.closed or self.backdrop.unavailable:
            return False
        return self.pipeline is not None or self.loading is not None

    def _show_nothing_yet(self) -> None:
        """A frame without a composite. While one is on its way (`_on_its_way`) the source is
        drawn as nothing, transparent, as if hidden: passing the input through showed the room
        the filter is there to hide for up to a second, at every start of OBS, every new filter
        and every change of the camera's resolution. After a failure the input passes through,
        so that a broken setting never blanks a stream."""
        if not self._on_its_way():
            if self.closed:
                self._say_unloaded()
            self.pass_through()

    def _say_unloaded(self) -> None:
        """Say once that the input passes through because the script is not loaded (a scene
        collection without it, the script removed): a filter added there did nothing, and
        nothing in the log said why. Not for the moment a reload unloads it."""
        if not self.said_unloaded and time.monotonic() - self.closed_since >= UNLOADED_SAY_S:
            self.said_unloaded = True
            self.say(libobs.LOG_WARNING, "passing the input through: the obs-bgremover script "
                     "is not loaded in this scene collection (Tools > Scripts adds it)")

    def pass_through(self) -> None:
        """Draw the input unchanged. A filter being removed has no target or parent any more
        (OBS renders it one last time after unlinking it), and libobs's skip then dereferences
        NULL: draw nothing in that case."""
        obs = lib()
        if obs.obs_filter_get_target(self.source) and obs.obs_filter_get_parent(self.source):
            obs.obs_source_skip_video_filter(self.source)

    def _time(self, stage: str, start: float) -> float:
        """Add the milliseconds since ``start`` to ``stage``; returns now, to chain stages."""
        now = time.perf_counter()
        elapsed = 1000 * (now - start)
        self.timings[stage] += elapsed
        self.worst[stage] = max(self.worst[stage], elapsed)
        return now

    def _report_timings(self) -> None:
        """Every TIMING_EVERY frames, log the mean milliseconds per stage on the render thread
        and the pipeline's own figures, so slow frames can be traced to a stage from OBS's log."""
        self.timed_frames += 1
        if self.timed_frames < TIMING_EVERY:
            return
        self.read_label()  # the source may have been renamed since
        means = ", ".join(f"{k} {v / self.timed_frames:.2f}" for k, v in self.timings.items())
        worst = ", ".join(f"{k} {v:.1f}" for k, v in self.worst.items() if v)
        live, pipeline = "", self.pipeline
        if pipeline:
            stats = pipeline.stats()
            edges = (f"edge colours {stats.edge_colours_ms:.1f} ms, "
                     if stats.edge_colours_ms else "")
            live = (f"; inference {stats.matte_ms:.1f} ms at {stats.fps:.1f} fps, {edges}latency "
                    f"{stats.latency_ms:.1f} ms, dropped {stats.dropped}/{stats.submitted}, "
                    f"network ran on {stats.network_calls}/{stats.processed}")
        self.say(libobs.LOG_INFO, f"{self.size[0]}x{self.size[1]} per frame (ms): {means}, slowest "
                                  f"frame {self.slowest:.1f} (longest: {worst}), views per frame "
                                  f"{self.draws / self.timed_frames:.2f}, texel-aligned draws "
                                  f"{self.backdrop.aligned_draws}/{self.draws}{live}")
        self.backdrop.aligned_draws = 0
        self.draws = 0
        self.timings = dict.fromkeys(TIMED_STAGES, 0.0)
        self.worst = dict.fromkeys(TIMED_STAGES, 0.0)
        self.timed_frames = 0
        self.slowest = 0.0

    def base_size(self) -> tuple[int, int]:
        obs = lib()
        target = obs.obs_filter_get_target(self.source)
        if not target:
            return (0, 0)
        return (obs.obs_source_get_base_width(target), obs.obs_source_get_base_height(target))
