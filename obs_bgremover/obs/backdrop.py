"""What the filter shows behind the person, as GPU state: the background texture (a fitted picture,
the current frame of a looping video, or the input's own background blurred), and which technique
of ``effects/bgremover.effect`` draws it.

Pictures and videos are decoded and fitted on the CPU by the same classes the command line uses
(`backgrounds.open_file`), so "cover", "contain" and "stretch" mean the same everywhere. That
happens on a thread of its own (decoding and fitting a photo took OBS's graphics thread 30-50 ms,
a late frame at every change), which also waits for a video's first frame: until it is done the
previous background (a picture, a video, the blur, a colour or transparency) stays on screen,
or, at the first, nothing is drawn. A video decodes ahead on its own thread and only its newest
frame is uploaded, once. The blur runs entirely
on the GPU: the frame is reduced, weighted by "is background", to a resolution where the blur is a
few texels wide, blurred there in two separable passes, and divided by the blurred weight in the
final draw (a normalised convolution, as the command line's `BlurBackground` does on the CPU), so
the person's colours never smear into the background around them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from ctypes import byref
from pathlib import Path

import cv2
import numpy as np

from obs_bgremover.backgrounds import LoopingVideo, open_file, picture
from obs_bgremover.composite import Background
from obs_bgremover.errors import BgRemoverError
from obs_bgremover.obs import libobs
from obs_bgremover.obs.libobs import lib, log, set_image, vec4
from obs_bgremover.obs.settings import FilterSettings
from obs_bgremover.watch import BACKGROUND_EVERY_S, FileWatch

# The blur passes' Gaussian has this sigma, in texels of the reduced frame (the shader's kernel).
BLUR_SIGMA_TEXELS = 2.0
# Strength 100 is a Gaussian whose sigma is this share of the frame height, as on the CPU.
BLUR_SIGMA_AT_100 = 1 / 25
BLUR_MIN_LINES = 8
# The blur works at half the frame's height at most, as on the CPU (`BlurBackground`): a light
# blur (strength 1-13 at 720p) worked at full size, where its three passes cost llvmpipe 100-250
# ms of OBS's frame at 720p (OBS late on 70-85% of its frames, against none at strength 25-100).
BLUR_MAX_SHARE = 0.5

PARAMS = ("image", "mask", "background", "color", "blur_step", "image_alpha", "coverage")


class BackgroundUnavailable(BgRemoverError):
    """The background the settings name cannot be shown (said in OBS's log already, once per
    cause): the filter passes its input through, without a word of its own."""


def _open(path: str, fit_mode: str, size: tuple[int, int]) -> tuple[Background, np.ndarray | None]:
    """The background in ``path`` and, for a picture, its pixels fitted to ``size``; a video
    with its first frame decoded, so that the graphics thread has a frame to show at once."""
    source = open_file(path, fit_mode)
    if not isinstance(source, LoopingVideo):
        return source, picture(source, size)
    try:
        source.frame_at(0.0, size)
    except BaseException:
        source.close()
        raise
    return source, None


def _open_in_background(path: str, fit_mode: str, size: tuple[int, int]) -> Future:
    """`_open` on a thread of its own (loads are rare: one short-lived thread each)."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(_open(path, fit_mode, size))
        except BaseException as error:  # handed to the graphics thread by the future
            future.set_exception(error)

    threading.Thread(target=work, name="obs-bgremover-background", daemon=True).start()
    return future


def _close_when_done(future: Future) -> None:
    """Close what a load no longer wanted opens (a video holds a decoder thread)."""
    def close(done: Future) -> None:
        if done.exception() is None:
            done.result()[0].close()

    future.add_done_callback(close)


def texel_aligned(size: tuple[int, int]) -> bool:
    """Whether the draw about to happen puts each texel of a ``size`` texture on exactly one
    pixel: drawn unscaled, at a whole-pixel offset, into a texture of the same size (a scene
    item shown at its own size on a canvas of that size, or another filter's buffer). Reading
    such textures with point sampling gives the colours bilinear sampling gives, and costs
    llvmpipe, OBS's renderer where there is no GPU, a quarter of the texel reads. Anything else
    (a scaled or rotated item, a projector's window, a cropped item's buffer) is not aligned."""
    obs = lib()
    target = obs.gs_get_render_target()
    if not target or (obs.gs_texture_get_width(target),
                      obs.gs_texture_get_height(target)) != size:
        return False
    view = libobs.viewport()
    if (view.x, view.y, view.cx, view.cy) != (0, 0, *size):
        return False
    matrix = libobs.world_matrix()
    return ((matrix.x.x, matrix.x.y, matrix.y.x, matrix.y.y) == (1.0, 0.0, 0.0, 1.0)
            and float(matrix.t.x).is_integer() and float(matrix.t.y).is_integer())


def blur_size(size: tuple[int, int], strength: int) -> tuple[int, int]:
    """The reduced (width, height) the blur works at: where its sigma is `BLUR_SIGMA_TEXELS`."""
    width, height = size
    sigma = strength / 100 * height * BLUR_SIGMA_AT_100
    most = min(height, max(BLUR_MIN_LINES, round(height * BLUR_MAX_SHARE)))
    lines = max(BLUR_MIN_LINES, min(most, round(height * BLUR_SIGMA_TEXELS / sigma)))
    return max(1, round(width * lines / height)), lines


def blur_spacing(size: tuple[int, int], strength: int) -> float:
    """The blur passes' tap spacing, in texels of the reduced frame (`blur_size`): 1 where the
    Gaussian's sigma is `BLUR_SIGMA_TEXELS` there, less for a blur lighter than that at the
    size `BLUR_MAX_SHARE` caps, so that its sigma stays the one the strength asks for."""
    height = size[1]
    sigma = strength / 100 * height * BLUR_SIGMA_AT_100
    return min(1.0, sigma * blur_size(size, strength)[1] / height / BLUR_SIGMA_TEXELS)


class Backdrop:
    """The background of one filter instance. `draw` is called on the graphics thread with the
    textures of the frame and its matte and draws the composite; `free` releases everything."""

    def __init__(self, say: Callable[[int, str], None] = log) -> None:
        """``say``: how a line goes to OBS's log (the filter's names its source)."""
        self.say = say
        self.key: tuple | None = None
        # The settings of the background on screen (that of `key`), drawn while another loads.
        self.on_screen: FilterSettings | None = None
        self.texture: int | None = None
        self.source: Background | None = None  # an open picture or video
        self.shown: np.ndarray | None = None  # the video frame in `texture`
        self.blur_targets: list[int] = []
        self.started = time.perf_counter()
        self.loading: tuple[tuple, Future] | None = None  # (key, its load) while one runs
        self.point_sampler: int | None = None  # see `texel_aligned`
        self.aligned_draws = 0  # draws that read texels point-sampled, for the timing log
        self.watch: FileWatch | None = None  # on the background's file, if it has one
        self.edits = 0  # how often that file changed on disk: a change reloads it
        self.failed_key: tuple | None = None  # the settings whose background could not load
        # Whether the background of `key` stays on screen while `failed_key`'s, the same file
        # saved again unreadable, cannot be read.
        self.keeping = False
        # Whether the last `_load` found the background unavailable (the input passes through).
        self.unavailable = False

    def free(self) -> None:
        """Release the textures and stop a video's decoder; the caller holds the graphics
        context."""
        obs = lib()
        if self.texture:
            obs.gs_texture_destroy(self.texture)
        for target in self.blur_targets:
            obs.gs_texrender_destroy(target)
        if self.point_sampler:
            obs.gs_samplerstate_destroy(self.point_sampler)
        self.point_sampler = None
        self.texture = None
        self.blur_targets = []
        self._drop_source()
        self._cancel_loading()

    def _cancel_loading(self) -> None:
        """Forget a load still running; what it opens is closed when it is done."""
        if self.loading is not None:
            _close_when_done(self.loading[1])
            self.loading = None

    def _drop_source(self) -> None:
        if self.source is not None:
            self.source.close()
        self.source = self.shown = None
        self.key = self.on_screen = None

    def _shown(self, settings: FilterSettings, key: tuple) -> FilterSettings:
        """``settings``' background, ``key``, is the one on screen from now on."""
        self.key, self.on_screen = key, settings
        self.failed_key, self.keeping = None, False
        return settings

    def _load(self, settings: FilterSettings, size: tuple[int, int]) -> FilterSettings | None:
        """Have the picture or video the settings name, fitted to ``size``, once per change.
        Returns the settings whose background to draw: ``settings`` once theirs is ready, the
        previous background's while it loads (a switch from the blur to a picture once showed
        nothing for a few tenths of a second: the person vanished), None while there was none.
        Raises `BackgroundUnavailable` while there is no background to show; `unavailable`
        says whether it did."""
        try:
            shown = self._load_or_raise(settings, size)
        except BackgroundUnavailable:
            self.unavailable = True
            raise
        self.unavailable = False
        return shown

    def _load_or_raise(self, settings: FilterSettings, size: tuple[int, int]
                       ) -> FilterSettings | None:
        """`_load`'s work.

        A background that cannot be opened is said in OBS's log once, with the reason; the
        same settings are not retried every frame, so a broken video costs one probe, not one
        per frame. A change to the file on disk counts as new settings, as OBS's own image
        source reloads a picture saved again: a streamer who edits the picture, or puts back a
        file that was missing, sees it without touching the filter. A file on screen that is
        saved again unreadable (half written, overwritten with something else) leaves the
        picture it had on screen, as the virtual camera does ("keeping the current
        background"), rather than the room the filter hides; the log says so once, and again
        when it can be read or fails anew."""
        path = settings.background_file()
        if path == "":  # "Image file" or "Video file" chosen, no file picked yet: no failure
            key: tuple = (settings.kind, path)
            if key != self.failed_key:
                self.failed_key, self.keeping = key, False
                self.say(libobs.LOG_INFO, f"no {settings.kind} file chosen yet for the background; "
                                          "passing the input through until one is")
            raise BackgroundUnavailable("no background file chosen yet")
        if path is not None:
            if self.watch is None or self.watch.path != Path(path):
                self.watch = FileWatch(Path(path), BACKGROUND_EVERY_S)
            elif self.watch.changed():
                self.edits += 1
        key = (settings.kind, path, settings.fit, size, self.edits)
        if key == self.key:
            self.on_screen = settings  # a new colour or blur strength shows at once
            return settings
        if key == self.failed_key:
            if self.keeping:
                return self.on_screen
            raise BackgroundUnavailable(f"background {path} unavailable (said before)")
        if path is None:  # a colour, the blur, transparency: nothing to open
            self._cancel_loading()
            self._drop_source()
            return self._shown(settings, key)
        if self.loading is None or self.loading[0] != key:
            self._cancel_loading()
            self.loading = (key, _open_in_background(path, settings.fit, size))
        future = self.loading[1]
        if not future.done():
            return self.on_screen  # the previous background meanwhile
        self.loading = None
        try:
            source, rgb = future.result()
        except Exception as error:  # a decoder's own, memory: said once too, not retried
            reason = (str(error) if isinstance(error, BgRemoverError)
                      else f"cannot open background {path}: {error!r}")
            self.failed_key = key
            # The same picture or video, only saved again: what is on screen stays.
            self.keeping = (self.source is not None and self.key is not None
                            and self.key[:4] == key[:4])
            if self.keeping:
                self.say(libobs.LOG_WARNING, f"{reason}; keeping the current background")
                return self.on_screen
            self.say(libobs.LOG_WARNING, f"passing the input through: {reason}")
            raise BackgroundUnavailable(reason) from error
        recovered = self.failed_key is not None and self.failed_key[1] == path
        self._drop_source()
        self.source = source
        if rgb is not None:
            self._upload(rgb, size)
        self.started = time.perf_counter()
        if recovered:
            self.say(libobs.LOG_INFO, f"background {path} can be read now; showing it")
        return self._shown(settings, key)

    def _upload(self, rgb: np.ndarray, size: tuple[int, int]) -> None:
        if not self.texture:
            self.texture = lib().gs_texture_create(size[0], size[1], libobs.GS_RGBA, 1, None,
                                                   libobs.GS_DYNAMIC)
            if not self.texture:
                raise BgRemoverError(f"cannot create a {size[0]}x{size[1]} background texture")
        set_image(self.texture, cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA))

    def _next_video_frame(self, size: tuple[int, int]) -> bool:
        """Upload the video's frame for now, if it is not the one already in the texture;
        False while the video has no frame decoded yet. Never waits for the decoder: this
        runs on OBS's graphics thread."""
        video = self.source
        assert isinstance(video, LoopingVideo)  # called only while a video is the background
        frame = video.frame_at(time.perf_counter() - self.started, size, block=False)
        if frame is None:
            return self.shown is not None
        if frame is not self.shown:
            self._upload(frame, size)
            self.shown = frame
        return True

    def _blurred(self, params: dict[str, int], effect: int, image: int, mask: int,
                 size: tuple[int, int], strength: int, cut: bool) -> int:
        """The input's background, weighted and blurred at reduced size (see the module
        docstring); returns the texture holding (sum of colour x weight, sum of weight). With
        ``cut``, only what the input covers (the coverage texture's alpha) is averaged."""
        obs = lib()
        small = blur_size(size, strength)
        if not self.blur_targets:
            self.blur_targets = [obs.gs_texrender_create(libobs.GS_RGBA16F, libobs.GS_ZS_NONE)
                                 for _ in range(2)]
        reduce_to, across = self.blur_targets
        spacing = blur_spacing(size, strength)
        footprint = vec4(1 / small[0], 1 / small[1], 0.0, 0.0)
        self._pass(effect, b"BlurReduceCut" if cut else b"BlurReduce", reduce_to, small, image,
                   params, footprint, mask=mask)
        source = obs.gs_texrender_get_texture(reduce_to)
        self._pass(effect, b"BlurPass", across, small, source, params,
                   vec4(spacing / small[0], 0.0, 0.0, 0.0))
        source = obs.gs_texrender_get_texture(across)
        self._pass(effect, b"BlurPass", reduce_to, small, source, params,
                   vec4(0.0, spacing / small[1], 0.0, 0.0))
        return obs.gs_texrender_get_texture(reduce_to)

    def _point_sampler(self) -> int:
        if not self.point_sampler:
            info = libobs.GsSamplerInfo(libobs.GS_FILTER_POINT, libobs.GS_ADDRESS_CLAMP,
                                        libobs.GS_ADDRESS_CLAMP, libobs.GS_ADDRESS_CLAMP, 1, 0)
            self.point_sampler = lib().gs_samplerstate_create(byref(info))
            if not self.point_sampler:
                raise BgRemoverError("cannot create a point sampler")
        return self.point_sampler

    @staticmethod
    def _pass(effect: int, technique: bytes, target: int, size: tuple[int, int], source: int,
              params: dict[str, int], step: libobs.Vec4, mask: int | None = None) -> None:
        """Draw ``source`` through one technique into ``target`` at ``size``."""
        obs = lib()
        width, height = size
        obs.gs_texrender_reset(target)
        if not obs.gs_texrender_begin(target, width, height):
            raise BgRemoverError(f"cannot render the blur at {width}x{height}")
        try:
            obs.gs_clear(libobs.GS_CLEAR_COLOR, byref(vec4(0, 0, 0, 0)), 0.0, 0)
            obs.gs_ortho(0.0, float(width), 0.0, float(height), -100.0, 100.0)
            obs.gs_blend_state_push()
            obs.gs_blend_function(libobs.GS_BLEND_ONE, libobs.GS_BLEND_ZERO)
            parameter = "image" if mask is not None else "background"
            obs.gs_effect_set_texture(params[parameter], source)
            if mask is not None:
                obs.gs_effect_set_texture(params["mask"], mask)
            obs.gs_effect_set_vec4(params["blur_step"], byref(step))
            while obs.gs_effect_loop(effect, technique):
                obs.gs_draw_sprite(source, 0, width, height)
            obs.gs_blend_state_pop()
        finally:
            obs.gs_texrender_end(target)

    @staticmethod
    def _set_image_alpha(params: dict[str, int], image_alpha: float,
                         coverage: int | None) -> None:
        """Set the parameters that say where the input's own alpha is."""
        obs = lib()
        obs.gs_effect_set_float(params["image_alpha"], image_alpha)
        if coverage is not None:
            obs.gs_effect_set_texture(params["coverage"], coverage)

    def draw(self, settings: FilterSettings, effect: int, params: dict[str, int], matted: int,
             image: int | None, size: tuple[int, int], coverage: int | None = None) -> bool:
        """Composite the person over the background in the current render target: ``matted``
        holds the frame with its matte as alpha; with ``image`` (low latency), that frame, with
        an alpha of its own, is drawn instead of ``matted``'s. ``coverage``: the input as OBS
        drew it this frame, given where the input has transparency of its own; the blur then
        leaves what it leaves transparent transparent (a colour or a picture fills it, as it
        fills the room around the person). False, with nothing drawn, while the first
        background is still loading; raises when the background cannot be shown."""
        obs = lib()
        mask = matted
        image_alpha = 1.0 if image is not None else 0.0
        image = image if image is not None else matted
        shown = self._load(settings, size)
        if shown is None:
            return False
        settings = shown  # the previous background's, while the new one loads
        technique = b"DrawColor"
        background = None
        # A technique's end clears every parameter: each pass sets what it reads.
        self._set_image_alpha(params, image_alpha, coverage)  # for the blur's reduction
        if settings.kind == "transparent":
            technique = b"DrawTransparent"
        elif settings.kind == "blur":
            cut = coverage is not None
            background = self._blurred(params, effect, image, mask, size, settings.blur, cut)
            technique = b"DrawBlurCut" if cut else b"DrawBlur"
        elif self.source is not None:
            if isinstance(self.source, LoopingVideo) and not self._next_video_frame(size):
                return False  # its first frame is still decoding
            background = self.texture
            technique = b"DrawImage"
        red, green, blue = settings.background_rgb()
        obs.gs_effect_set_texture(params["image"], image)
        obs.gs_effect_set_texture(params["mask"], mask)
        self._set_image_alpha(params, image_alpha, coverage)
        obs.gs_effect_set_vec4(params["color"], byref(vec4(red / 255, green / 255, blue / 255,
                                                          1.0)))
        if background:
            obs.gs_effect_set_texture(params["background"], background)
        if texel_aligned(size):
            names = ["image", "mask"]
            if technique == b"DrawImage":  # the blur's background is reduced: it stays bilinear
                names.append("background")
            if technique == b"DrawBlurCut":
                names.append("coverage")
            sampler = self._point_sampler()
            for name in names:
                obs.gs_effect_set_next_sampler(params[name], sampler)
            self.aligned_draws += 1
        while obs.gs_effect_loop(effect, technique):
            obs.gs_draw_sprite(image, 0, size[0], size[1])
        return True
