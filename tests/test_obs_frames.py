"""The OBS filter's reader of async frames, without OBS: a real portrait in the pixel formats
webcams and media files deliver (I420, NV12, YUY2, UYVY, BGRA), laid out as libobs lays out a
``struct obs_source_frame`` (with padded rows), comes back as the RGB OBS itself would show."""

from __future__ import annotations

import ctypes
from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_bgremover.obs import libobs
from obs_bgremover.obs.frames import copy_frame

# OBS's matrix for BT.601 limited range (video_format_get_parameters), the coefficients
# OpenCV's YUV conversions use too, so OpenCV gives the reference picture.
BT601_LIMITED = [
    1.164384, 0.0, 1.596027, -0.874202,
    1.164384, -0.391762, -0.812968, 0.531668,
    1.164384, 2.017232, 0.0, -1.085631,
    0.0, 0.0, 0.0, 1.0,
]
PADDING = 64  # bytes added to every row, as decoders align their lines


@pytest.fixture(scope="module")
def portrait(shared_data: Path) -> np.ndarray:
    image = cv2.imread(str(shared_data / "portraits-dev" / "images" / "00015.jpg"))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)[:480, :600]


def i420_planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    height, width = rgb.shape[:2]
    packed = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    luma = packed[:height]
    chroma = packed[height:].reshape(-1)
    quarter = (height // 2) * (width // 2)
    return (luma, chroma[:quarter].reshape(height // 2, width // 2),
            chroma[quarter:].reshape(height // 2, width // 2))


def make_frame(video_format: int, planes: list[np.ndarray], width: int, height: int):
    """An obs_source_frame pointing at padded copies of ``planes`` (kept alive by the return)."""
    frame = libobs.ObsSourceFrame()
    frame.format, frame.width, frame.height = video_format, width, height
    frame.color_matrix[:] = BT601_LIMITED
    padded = []
    for index, plane in enumerate(planes):
        rows = plane.reshape(plane.shape[0], -1)
        buffer = np.zeros((rows.shape[0], rows.shape[1] + PADDING), np.uint8)
        buffer[:, : rows.shape[1]] = rows
        padded.append(buffer)
        frame.data[index] = buffer.ctypes.data
        frame.linesize[index] = buffer.shape[1]
    return frame, padded


def reference(rgb: np.ndarray) -> np.ndarray:
    """What OpenCV (BT.601 limited, like the matrix above) makes of the picture's I420 form."""
    return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420)


def assert_close(got: np.ndarray, expected: np.ndarray, tolerance: float = 3.0) -> None:
    assert got.shape == expected.shape and got.dtype == np.uint8
    error = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    assert error.mean() < tolerance, f"mean error {error.mean():.2f}"
    assert np.percentile(error, 99) <= 6 * tolerance


def test_i420(portrait) -> None:
    height, width = portrait.shape[:2]
    frame, keep = make_frame(libobs.VIDEO_FORMAT_I420, list(i420_planes(portrait)), width, height)
    assert_close(copy_frame(frame).to_rgb(), reference(portrait))


def test_nv12(portrait) -> None:
    height, width = portrait.shape[:2]
    luma, u, v = i420_planes(portrait)
    interleaved = np.stack([u, v], axis=-1).reshape(height // 2, width)
    frame, keep = make_frame(libobs.VIDEO_FORMAT_NV12, [luma, interleaved], width, height)
    assert_close(copy_frame(frame).to_rgb(), reference(portrait))


@pytest.mark.parametrize("video_format,order", [
    (libobs.VIDEO_FORMAT_YUY2, "YUYV"), (libobs.VIDEO_FORMAT_UYVY, "UYVY"),
    (libobs.VIDEO_FORMAT_YVYU, "YVYU"),
])
def test_packed_422(portrait, video_format: int, order: str) -> None:
    height, width = portrait.shape[:2]
    luma, u, v = i420_planes(portrait)
    # 4:2:2 from the 4:2:0 planes: each chroma row serves two lines.
    u, v = np.repeat(u, 2, axis=0), np.repeat(v, 2, axis=0)
    channels = {"Y": None, "U": u, "V": v}
    pairs = np.empty((height, width // 2, 4), np.uint8)
    y_slots = [i for i, c in enumerate(order) if c == "Y"]
    pairs[..., y_slots[0]] = luma[:, 0::2]
    pairs[..., y_slots[1]] = luma[:, 1::2]
    pairs[..., order.index("U")] = channels["U"]
    pairs[..., order.index("V")] = channels["V"]
    frame, keep = make_frame(video_format, [pairs.reshape(height, width * 2)], width, height)
    assert_close(copy_frame(frame).to_rgb(), reference(portrait))


def test_bgra_is_taken_as_it_is(portrait) -> None:
    height, width = portrait.shape[:2]
    bgra = cv2.cvtColor(portrait, cv2.COLOR_RGB2BGRA)
    frame, keep = make_frame(libobs.VIDEO_FORMAT_BGRA, [bgra.reshape(height, -1)], width, height)
    np.testing.assert_array_equal(copy_frame(frame).to_rgb(), portrait)


def test_unhandled_frames_are_left_to_the_gpu(portrait) -> None:
    """A format the reader does not know, or a flipped frame, gives None: the filter then
    reads that source back from the GPU."""
    height, width = portrait.shape[:2]
    frame, keep = make_frame(libobs.VIDEO_FORMAT_I420, list(i420_planes(portrait)), width, height)
    frame.flip = True
    assert copy_frame(frame) is None
    frame.flip, frame.format = False, 18  # VIDEO_FORMAT_P010, 10-bit
    assert copy_frame(frame) is None


def test_the_copy_outlives_the_frame(portrait) -> None:
    """libobs frees the frame once filter_video returns: the copy must not point into it."""
    height, width = portrait.shape[:2]
    frame, keep = make_frame(libobs.VIDEO_FORMAT_I420, list(i420_planes(portrait)), width, height)
    raw = copy_frame(frame)
    for buffer in keep:
        buffer[:] = 0
    ctypes.memset(ctypes.addressof(frame), 0, ctypes.sizeof(frame))
    assert_close(raw.to_rgb(), reference(portrait))
