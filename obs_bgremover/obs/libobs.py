"""The part of libobs the filter uses, bound with ctypes.

Why ctypes and not ``obspython``: Python's SWIG binding cannot register a source
(``obs_register_source`` and ``struct obs_source_info`` are not exposed) and rejects every buffer
that ``gs_stagesurface_map`` and ``gs_texture_set_image`` need. So the filter talks to libobs
directly, and every function it calls is declared here, once, with its ``argtypes`` and
``restype`` (64-bit pointers are truncated to C ints otherwise). Nothing outside ``obs/`` imports
this module.

The library is opened lazily by `lib()`, so this module imports (and its constants and structure
can be checked) on a machine without OBS.
"""

from __future__ import annotations

import ctypes
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_bool,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import TypeVar

import numpy as np

# enum obs_source_type
OBS_SOURCE_TYPE_FILTER = 1
# output_flags
OBS_SOURCE_VIDEO = 1 << 0
OBS_SOURCE_ASYNC = 1 << 2
OBS_SOURCE_SRGB = 1 << 15
# enum obs_deinterlace_mode
OBS_DEINTERLACE_MODE_DISABLE = 0
# enum video_format (media-io/video-io.h), the async frame formats the filter reads itself
VIDEO_FORMAT_I420 = 1
VIDEO_FORMAT_NV12 = 2
VIDEO_FORMAT_YVYU = 3
VIDEO_FORMAT_YUY2 = 4
VIDEO_FORMAT_UYVY = 5
VIDEO_FORMAT_RGBA = 6
VIDEO_FORMAT_BGRA = 7
VIDEO_FORMAT_BGRX = 8
VIDEO_FORMAT_Y800 = 9
VIDEO_FORMAT_I444 = 10
VIDEO_FORMAT_I422 = 12
MAX_AV_PLANES = 8
# enum gs_color_format
GS_RGBA = 3
GS_RGBA16F = 9
# enum gs_zstencil_format
GS_ZS_NONE = 0
# texture flags
GS_DYNAMIC = 1 << 1
# enum gs_blend_type
GS_BLEND_ZERO = 0
GS_BLEND_ONE = 1
# gs_clear flags
GS_CLEAR_COLOR = 1 << 0
# enum gs_sample_filter, enum gs_address_mode
GS_FILTER_POINT = 0
GS_ADDRESS_CLAMP = 0
# enum obs_allow_direct_render
OBS_ALLOW_DIRECT_RENDERING = 1
# enum obs_base_effect
OBS_EFFECT_DEFAULT = 0
# enum obs_combo_type / obs_combo_format / obs_path_type
OBS_COMBO_TYPE_LIST = 2
OBS_COMBO_FORMAT_STRING = 3
OBS_PATH_FILE = 0
OBS_PATH_DIRECTORY = 2
# enum obs_text_type / obs_group_type
OBS_TEXT_INFO = 3
OBS_GROUP_NORMAL = 1
# blog levels
LOG_ERROR = 100
LOG_WARNING = 200
LOG_INFO = 300

# Callback signatures of struct obs_source_info (libobs/obs-source.h).
GET_NAME = CFUNCTYPE(c_void_p, c_void_p)  # returns a const char* we keep alive
CREATE = CFUNCTYPE(c_void_p, c_void_p, c_void_p)
DESTROY = CFUNCTYPE(None, c_void_p)
GET_SIZE = CFUNCTYPE(c_uint32, c_void_p)
GET_DEFAULTS = CFUNCTYPE(None, c_void_p)
GET_PROPERTIES = CFUNCTYPE(c_void_p, c_void_p)
UPDATE = CFUNCTYPE(None, c_void_p, c_void_p)
VOID_DATA = CFUNCTYPE(None, c_void_p)
VIDEO_TICK = CFUNCTYPE(None, c_void_p, c_float)
VIDEO_RENDER = CFUNCTYPE(None, c_void_p, c_void_p)
FILTER_VIDEO = CFUNCTYPE(c_void_p, c_void_p, c_void_p)  # returns the frame it was given
# Property callbacks (libobs/obs-properties.h): modified (props, property, settings) and
# clicked (props, property, data); both return whether the window must be rebuilt.
MODIFIED = CFUNCTYPE(c_bool, c_void_p, c_void_p, c_void_p)
CLICKED = CFUNCTYPE(c_bool, c_void_p, c_void_p, c_void_p)


class ObsSourceInfo(Structure):
    """The prefix of ``struct obs_source_info`` up to ``filter_video``, field by field.

    libobs copies only ``size`` bytes and zeroes the rest, and the struct only ever grows at its
    end, so this prefix stays valid on newer OBS versions.
    """

    _fields_ = [
        ("id", c_char_p),
        ("type", c_int),
        ("output_flags", c_uint32),
        ("get_name", GET_NAME),
        ("create", CREATE),
        ("destroy", DESTROY),
        ("get_width", GET_SIZE),
        ("get_height", GET_SIZE),
        ("get_defaults", GET_DEFAULTS),
        ("get_properties", GET_PROPERTIES),
        ("update", UPDATE),
        ("activate", VOID_DATA),
        ("deactivate", VOID_DATA),
        ("show", VOID_DATA),
        ("hide", VOID_DATA),
        ("video_tick", VIDEO_TICK),
        ("video_render", VIDEO_RENDER),
        ("filter_video", FILTER_VIDEO),
    ]


class ObsSourceFrame(Structure):
    """The prefix of ``struct obs_source_frame`` (libobs/obs.h) up to ``flip``: an async
    source's decoded frame in system memory."""

    _fields_ = [
        ("data", c_void_p * MAX_AV_PLANES),
        ("linesize", c_uint32 * MAX_AV_PLANES),
        ("width", c_uint32),
        ("height", c_uint32),
        ("timestamp", c_uint64),
        ("format", c_int),
        ("color_matrix", c_float * 16),
        ("full_range", c_bool),
        ("max_luminance", c_uint16),
        ("color_range_min", c_float * 3),
        ("color_range_max", c_float * 3),
        ("flip", c_bool),
    ]


class Vec4(Structure):
    """``struct vec4``: four floats, 16-byte aligned in C; libobs copies it by value."""

    _fields_ = [("x", c_float), ("y", c_float), ("z", c_float), ("w", c_float)]


class Matrix4(Structure):
    """``struct matrix4``: four `Vec4` rows (x, y and z axes, then the translation t)."""

    _fields_ = [("x", Vec4), ("y", Vec4), ("z", Vec4), ("t", Vec4)]


class GsRect(Structure):
    """``struct gs_rect``: a viewport, in pixels of the render target."""

    _fields_ = [("x", c_int), ("y", c_int), ("cx", c_int), ("cy", c_int)]


class GsSamplerInfo(Structure):
    """``struct gs_sampler_info``: how a texture is filtered and addressed."""

    _fields_ = [("filter", c_int), ("address_u", c_int), ("address_v", c_int),
                ("address_w", c_int), ("max_anisotropy", c_int), ("border_color", c_uint32)]


P = c_void_p
U8P = POINTER(c_uint8)

# name -> (restype, argtypes)
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "blog": (None, [c_int, c_char_p, c_char_p]),
    "bfree": (None, [P]),
    "obs_register_source_s": (None, [POINTER(ObsSourceInfo), c_size_t]),
    "obs_get_version_string": (c_char_p, []),
    # sources and filters
    "obs_filter_get_target": (P, [P]),
    "obs_filter_get_parent": (P, [P]),
    "obs_source_get_base_width": (c_uint32, [P]),
    "obs_source_get_base_height": (c_uint32, [P]),
    "obs_source_get_name": (c_char_p, [P]),
    "obs_source_skip_video_filter": (None, [P]),
    "obs_source_update_properties": (None, [P]),
    "obs_source_get_settings": (P, [P]),
    "obs_source_get_output_flags": (c_uint32, [P]),
    "obs_source_get_deinterlace_mode": (c_int, [P]),
    "obs_source_process_filter_begin": (c_bool, [P, c_int, c_int]),
    "obs_source_process_filter_end": (None, [P, P, c_uint32, c_uint32]),
    "obs_get_base_effect": (P, [c_int]),
    "obs_get_video_frame_time": (c_uint64, []),
    "obs_enter_graphics": (None, []),
    "obs_leave_graphics": (None, []),
    # settings
    "obs_data_release": (None, [P]),
    "obs_data_get_string": (c_char_p, [P, c_char_p]),
    "obs_data_get_json": (c_char_p, [P]),
    "obs_data_set_default_bool": (None, [P, c_char_p, c_bool]),
    "obs_data_set_default_string": (None, [P, c_char_p, c_char_p]),
    "obs_data_set_default_int": (None, [P, c_char_p, c_int64]),
    "obs_data_set_default_double": (None, [P, c_char_p, c_double]),
    # properties
    "obs_properties_create": (P, []),
    "obs_properties_add_list": (P, [P, c_char_p, c_char_p, c_int, c_int]),
    "obs_property_list_add_string": (c_size_t, [P, c_char_p, c_char_p]),
    "obs_properties_add_color": (P, [P, c_char_p, c_char_p]),
    "obs_properties_add_path": (P, [P, c_char_p, c_char_p, c_int, c_char_p, c_char_p]),
    "obs_properties_add_int_slider": (P, [P, c_char_p, c_char_p, c_int, c_int, c_int]),
    "obs_properties_add_float_slider": (P, [P, c_char_p, c_char_p, c_double, c_double, c_double]),
    "obs_property_set_long_description": (None, [P, c_char_p]),
    "obs_properties_add_bool": (P, [P, c_char_p, c_char_p]),
    "obs_properties_add_text": (P, [P, c_char_p, c_char_p, c_int]),
    "obs_properties_add_button2": (P, [P, c_char_p, c_char_p, CLICKED, P]),
    "obs_properties_add_group": (P, [P, c_char_p, c_char_p, c_int, P]),
    "obs_properties_get": (P, [P, c_char_p]),
    "obs_property_set_visible": (None, [P, c_bool]),
    "obs_property_set_modified_callback": (None, [P, MODIFIED]),
    # texrender
    "gs_texrender_create": (P, [c_int, c_int]),
    "gs_texrender_destroy": (None, [P]),
    "gs_texrender_reset": (None, [P]),
    "gs_texrender_begin": (c_bool, [P, c_uint32, c_uint32]),
    "gs_texrender_end": (None, [P]),
    "gs_texrender_get_texture": (P, [P]),
    # staging
    "gs_stagesurface_create": (P, [c_uint32, c_uint32, c_int]),
    "gs_stagesurface_destroy": (None, [P]),
    "gs_stage_texture": (None, [P, P]),
    "gs_stagesurface_map": (c_bool, [P, POINTER(U8P), POINTER(c_uint32)]),
    "gs_stagesurface_unmap": (None, [P]),
    # textures
    "gs_texture_create": (P, [c_uint32, c_uint32, c_int, c_uint32, POINTER(U8P), c_uint32]),
    "gs_texture_destroy": (None, [P]),
    "gs_texture_set_image": (None, [P, U8P, c_uint32, c_bool]),
    "gs_texture_get_width": (c_uint32, [P]),
    "gs_texture_get_height": (c_uint32, [P]),
    "gs_samplerstate_create": (P, [POINTER(GsSamplerInfo)]),
    "gs_samplerstate_destroy": (None, [P]),
    # drawing state
    "gs_clear": (None, [c_uint32, POINTER(Vec4), c_float, c_uint8]),
    "gs_ortho": (None, [c_float, c_float, c_float, c_float, c_float, c_float]),
    "gs_blend_state_push": (None, []),
    "gs_blend_state_pop": (None, []),
    "gs_blend_function": (None, [c_int, c_int]),
    "gs_draw_sprite": (None, [P, c_uint32, c_uint32, c_uint32]),
    "gs_get_render_target": (P, []),
    "gs_get_viewport": (None, [POINTER(GsRect)]),
    "gs_matrix_get": (None, [POINTER(Matrix4)]),
    # effects
    "gs_effect_create_from_file": (P, [c_char_p, POINTER(c_char_p)]),
    "gs_effect_destroy": (None, [P]),
    "gs_effect_get_param_by_name": (P, [P, c_char_p]),
    "gs_effect_set_texture": (None, [P, P]),
    "gs_effect_set_vec4": (None, [P, POINTER(Vec4)]),
    "gs_effect_set_float": (None, [P, c_float]),
    "gs_effect_set_next_sampler": (None, [P, P]),
    "gs_effect_loop": (c_bool, [P, c_char_p]),
}


def _library_names() -> list[str]:
    """Where libobs lives per platform (its soname on Linux, the DLL on Windows, the framework
    binary on macOS)."""
    if sys.platform.startswith("win"):
        return ["obs.dll", "obs"]
    if sys.platform == "darwin":
        return [
            "@rpath/libobs.framework/libobs",
            "/Applications/OBS.app/Contents/Frameworks/libobs.framework/libobs",
        ]
    return ["libobs.so.0", "libobs.so"]


# Functions that may wait for a lock that another of OBS's threads holds while it waits for the
# GIL to call one of our callbacks: these must release the GIL while they wait. Entering the
# graphics context waits for the graphics thread; drawing the filter's input renders other
# sources, which takes their locks (an async source's, held by the thread that calls our
# filter_video on it: a filtered scene holding a filtered media source froze OBS for good).
_WAITING = ("obs_enter_graphics", "obs_leave_graphics", "obs_source_process_filter_begin",
            "obs_source_process_filter_end", "obs_source_skip_video_filter")


def _load() -> ctypes.CDLL:
    """libobs with every function declared. Calls keep the GIL (``PyDLL``), except `_WAITING`.

    Why: a plain ``CDLL`` call gives up the GIL and takes it back afterwards, and the filter's
    render callback makes dozens of calls a frame on OBS's graphics thread. Each time it takes the
    GIL back it may find it held by the pipeline's worker thread, which runs at a lower priority
    (see `obs_bgremover.priority`) and may not be scheduled for a while: OBS then misses its
    frame. Keeping the GIL through these short calls removed those late frames at 720p30. The
    calls made while holding it never wait for another thread; those that may wait are the
    few `_WAITING` calls of a frame.
    """
    errors = []
    for name in _library_names():
        try:
            library = ctypes.PyDLL(name)
            releasing = ctypes.CDLL(name)
        except OSError as error:
            errors.append(f"{name}: {error}")
            continue
        for function in _WAITING:
            setattr(library, function, getattr(releasing, function))
        for function, (restype, argtypes) in _SIGNATURES.items():
            binding = getattr(library, function)
            binding.restype = restype
            binding.argtypes = argtypes
        return library
    raise OSError("cannot load libobs (" + "; ".join(errors) + ")")


_LIB: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    """The loaded libobs, with every function the filter uses declared. Raises OSError outside
    OBS (no libobs on the library path)."""
    global _LIB
    if _LIB is None:
        _LIB = _load()
    return _LIB


def log(level: int, message: str) -> None:
    """Write to OBS's log through ``blog``: ``print`` from a render callback goes nowhere useful
    and ``script_log`` from there shows as "[Unknown Script]"."""
    try:
        lib().blog(level, b"[obs-bgremover] %s", message.encode("utf-8", "replace"))
    except OSError:
        print(f"[obs-bgremover] {message}", file=sys.stderr)


def get_string(data: int, name: bytes) -> str:
    """A string setting of an ``obs_data_t`` ("" when unset)."""
    value = lib().obs_data_get_string(data, name)
    return value.decode("utf-8", "replace") if value else ""


def set_image(texture: int, pixels: np.ndarray) -> None:
    """Copy a uint8 image (rows of R8 or RGBA pixels) into a ``GS_DYNAMIC`` texture."""
    pixels = np.ascontiguousarray(pixels)
    lib().gs_texture_set_image(texture, pixels.ctypes.data_as(U8P), pixels.strides[0], False)


S = TypeVar("S", bound=Structure)


def _aligned(kind: type[S]) -> S:
    """A zeroed ``kind`` at a 16-byte aligned address: libobs copies its vector types with SSE
    loads and stores that fault on the 8-byte alignment ctypes gives a plain structure."""
    buffer = ctypes.create_string_buffer(ctypes.sizeof(kind) + 16)
    offset = (-ctypes.addressof(buffer)) % 16
    value = kind.from_buffer(buffer, offset)
    value._buffer = buffer  # keeps the memory alive as long as the value
    return value


def vec4(x: float, y: float, z: float, w: float) -> Vec4:
    """A `Vec4`, aligned as libobs needs it."""
    value = _aligned(Vec4)
    value.x, value.y, value.z, value.w = x, y, z, w
    return value


def world_matrix() -> Matrix4:
    """The matrix that places what is drawn now (a scene item's transform, say)."""
    matrix = _aligned(Matrix4)
    lib().gs_matrix_get(matrix)
    return matrix


def viewport() -> GsRect:
    rect = GsRect()
    lib().gs_get_viewport(byref(rect))
    return rect


def effect_path(name: str) -> Path:
    """The absolute path of one of our ``.effect`` shaders."""
    return Path(__file__).resolve().parent / "effects" / name
