"""The filter's ``struct obs_source_info`` and the C callbacks libobs calls, forwarding to `Filter`.

This is the OBS glue, the one place with process-wide state: libobs holds raw pointers into the
struct and the callback objects for the life of the process (OBS may call them after the script
that made them was unloaded), and a script reload runs the script again in the same interpreter
while libobs refuses to register the same id twice. So everything lives in one `_Registration`
kept on ``sys``, made once.
"""

from __future__ import annotations

import ctypes
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from ctypes import byref, sizeof
from typing import Any, TypeVar

from obs_bgremover import heap
from obs_bgremover.errors import BgRemoverError
from obs_bgremover.obs import libobs, properties
from obs_bgremover.obs.filter import Filter
from obs_bgremover.obs.libobs import lib, log
from obs_bgremover.obs.models import end_models
from obs_bgremover.obs.render_clip import WORKERS
from obs_bgremover.obs.settings import read_settings, write_defaults

FILTER_ID = b"obs_bgremover_filter"
DISPLAY_NAME = b"Background Remover"

# Where the registration survives a script reload (see the module docstring).
_STATE_ATTR = "_obs_bgremover_filter_state"

R = TypeVar("R")
D = TypeVar("D")


def _guarded(default: D) -> Callable[[Callable[..., R]], Callable[..., R | D]]:
    """Wrap a callback so no exception escapes into libobs: log it and return ``default``."""

    def wrap(function: Callable[..., R]) -> Callable[..., R | D]:
        def guarded(*args: Any) -> R | D:
            try:
                return function(*args)
            except Exception:
                log(libobs.LOG_ERROR, f"{function.__name__} failed:\n{traceback.format_exc()}")
                return default

        guarded.__name__ = function.__name__
        return guarded

    return wrap


class _Registration:
    """The struct, the callback objects libobs points into, and the live filter instances
    (keyed by the integer OBS hands back to every callback as its ``data``)."""

    def __init__(self) -> None:
        self.instances: dict[int, Filter] = {}
        self.next_key = 1
        # Set while the script is unloaded: the filter stays registered with libobs, and one
        # added meanwhile must start no network until the script is back (see `shutdown`).
        self.unloaded = False
        self.name = ctypes.create_string_buffer(DISPLAY_NAME)
        self.property_callbacks = {
            "kind": libobs.MODIFIED(_guarded(False)(properties.on_kind_changed)),
            "model": libobs.MODIFIED(_guarded(False)(properties.on_model_changed)),
            "render": libobs.CLICKED(_guarded(False)(self.render_clicked)),
            "stop": libobs.CLICKED(_guarded(False)(self.stop_clicked)),
        }
        self.callbacks = [
            libobs.GET_NAME(_guarded(None)(self.get_name)),
            libobs.CREATE(_guarded(None)(self.create)),
            libobs.DESTROY(_guarded(None)(self.destroy)),
            libobs.GET_SIZE(_guarded(0)(self.get_width)),
            libobs.GET_SIZE(_guarded(0)(self.get_height)),
            libobs.GET_DEFAULTS(_guarded(None)(write_defaults)),
            libobs.GET_PROPERTIES(_guarded(None)(self.get_properties)),
            libobs.UPDATE(_guarded(None)(self.update)),
            libobs.VIDEO_RENDER(self.video_render),
            libobs.FILTER_VIDEO(self.filter_video),
        ]
        (name, create, destroy, width, height, defaults, props, update, render,
         filter_video) = self.callbacks
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
            filter_video=filter_video,
        )

    def get_name(self, type_data: int | None) -> int:
        return ctypes.addressof(self.name)

    def create(self, settings: int, source: int) -> int:
        # While unloaded, the settings below are kept for `register` to reopen the filter.
        instance = Filter(source, closed=self.unloaded)
        key = self.next_key
        self.next_key += 1
        self.instances[key] = instance
        try:
            instance.update(read_settings(settings))
        except Exception:
            instance.say(libobs.LOG_ERROR,
                         f"filter starts passing through:\n{traceback.format_exc()}")
        return key

    def destroy(self, key: int | None) -> None:
        instance = self.instances.pop(key or 0, None)
        if instance is not None:
            instance.destroy()
            del instance  # its frames are freed with it, before the trim
            heap.trim()

    def update(self, key: int | None, settings: int) -> None:
        instance = self.instances.get(key or 0)
        if instance is not None:
            try:
                instance.update(read_settings(settings))
            except Exception:
                instance.say(libobs.LOG_ERROR, f"update failed, the settings before stay:\n"
                                               f"{traceback.format_exc()}")

    def video_render(self, key: int | None, effect: int | None) -> None:
        """Render one frame; on any error pass the input through, logging the first of a
        series only (a broken frame repeats 30 times a second)."""
        instance = self.instances.get(key or 0)
        if instance is None:
            return
        try:
            instance.render()
        except Exception:
            if not instance.failed:
                instance.say(libobs.LOG_ERROR,
                             f"render failed, passing through:\n{traceback.format_exc()}")
                instance.failed = True
            try:
                instance.pass_through()
            except Exception:
                pass

    def filter_video(self, key: int | None, frame: int | None) -> int | None:
        """An async source's frame on its way to being drawn: read, never changed. It must be
        returned whatever happens (returning NULL would drop it), so errors are logged here."""
        instance = self.instances.get(key or 0)
        if instance is not None and frame:
            try:
                instance.take_frame(frame)
            except Exception:
                if not instance.failed:
                    log(libobs.LOG_ERROR, f"reading a frame failed:\n{traceback.format_exc()}")
                    instance.failed = True
        return frame

    def get_width(self, key: int | None) -> int:
        instance = self.instances.get(key or 0)
        return instance.base_size()[0] if instance else 0

    def get_height(self, key: int | None) -> int:
        instance = self.instances.get(key or 0)
        return instance.base_size()[1] if instance else 0

    def get_properties(self, key: int | None) -> int:
        instance = self.instances.get(key or 0)
        running = f"Runs on: {instance.provider}" if instance else ""
        status = instance.render_clip.status if instance else ""
        return properties.build(key or 0, running, status, self.property_callbacks)

    def render_clicked(self, props: int, prop: int, key: int | None) -> bool:
        """The "Render clip" button: queue the job (never wait for it); True redraws the
        window with the new status line.

        The settings are read from the source now, not from the last ``update`` call: libobs
        defers a video source's update to its next video tick, so a click that follows a change
        at once (a user typing a path and pressing the button) would render with the old ones.
        """
        instance = self.instances.get(key or 0)
        if instance is None:
            return False
        instance.read_label()  # its lines name the source, as the filter's own do
        data = lib().obs_source_get_settings(instance.source)
        try:
            settings = read_settings(data)
        finally:
            lib().obs_data_release(data)
        try:
            record = instance.render_clip.start(settings, settings.render_input,
                                                settings.render_folder)
            instance.say(libobs.LOG_INFO, f"render clip: job {record.id} queued -> "
                                          f"{record.output}")
        except BgRemoverError as error:
            instance.render_clip.fail(str(error))
            instance.say(libobs.LOG_WARNING, f"render clip: {error}")
        return True

    def stop_clicked(self, props: int, prop: int, key: int | None) -> bool:
        """The "Stop rendering" button: stop this filter's queued or running render (the
        worker drops it within a second or two, leaving no file); True redraws the window."""
        instance = self.instances.get(key or 0)
        if instance is None:
            return False
        instance.read_label()
        record = instance.render_clip.stop()
        if record is not None:
            instance.say(libobs.LOG_INFO,
                         f"render clip: job {record.id}: {instance.render_clip.status}")
        return True


def register() -> bool:
    """Register the filter with libobs once per process; True if this call registered it.

    After the script was unloaded (a reload, a switch of scene collection) the filter is
    registered already, and the unload (`shutdown`) stopped every instance's pipeline: those
    start again here, so filters keep working. Called again while loaded, it does nothing."""
    registered = getattr(sys, _STATE_ATTR, None)
    if registered is not None:
        if not registered.unloaded:
            return False
        registered.unloaded = False
        for instance in list(registered.instances.values()):
            try:
                instance.reopen()
            except Exception:  # one filter's trouble must not keep the others off
                log(libobs.LOG_ERROR, f"restarting a filter failed:\n{traceback.format_exc()}")
        return False
    registration = _Registration()
    lib().obs_register_source_s(byref(registration.info), sizeof(registration.info))
    setattr(sys, _STATE_ATTR, registration)
    return True


def shutdown() -> None:
    """Stop every instance's worker thread (called when the script unloads, before OBS
    finalises Python), so no thread is left running inside the interpreter; ask a render worker
    this OBS started to finish its job and stop. The network processes are ended before the
    workers are joined, so none is left waiting for a frame in inference; OBS waits for all
    this, and the log says how long it took."""
    start = time.perf_counter()
    registration = getattr(sys, _STATE_ATTR, None)
    if registration is not None:
        registration.unloaded = True
    instances = list(registration.instances.values()) if registration else []
    # Detached first, so that no frame meets a pipeline whose network was just ended (it would
    # start another one to recover).
    pipelines = [instance.detach_pipeline() for instance in instances]
    processes = end_models()
    for instance, pipeline in zip(instances, pipelines, strict=True):
        try:
            instance.render_clip.close()
            if pipeline is not None:
                pipeline.close()
            instance.finish_stopping()
        except Exception:
            log(libobs.LOG_WARNING, f"closing a filter failed:\n{traceback.format_exc()}")
    if WORKERS.stop():  # ours served the queue: what waits in it would wait for good
        for instance in instances:
            with suppress(Exception):  # the queue may be gone; OBS is quitting anyway
                dropped = instance.render_clip.drop_queued()
                if dropped is not None:
                    instance.say(libobs.LOG_WARNING,  # the reason: "not rendered: OBS quit..."
                                 f"render job {dropped.id} ({dropped.input}) was {dropped.error}")
    log(libobs.LOG_INFO, f"stopped {len(instances)} filter(s) and {processes} network "
                         f"process(es) in {time.perf_counter() - start:.2f} s")
