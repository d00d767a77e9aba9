"""Async video frames (webcams, media files) taken straight from OBS's CPU memory, as RGB.

An async source's frames arrive decoded in system memory, in the source's own pixel format, and
OBS would only upload and convert them on the GPU to draw them. Reading them back from the GPU is
what costs a filter most under software rendering (tens of milliseconds a frame at 720p), so the
filter takes them in its ``filter_video`` callback instead: `copy_frame` copies the planes (a
memcpy, on OBS's graphics thread) and `RawFrame.to_rgb` converts them on the pipeline's worker
thread, with the frame's own colour matrix, so the picture drawn with the matte has the colours
OBS would have shown.
"""

from __future__ import annotations

from ctypes import c_uint8
from dataclasses import dataclass

import cv2
import numpy as np

from obs_bgremover.obs import libobs

# Formats handled: planes as (rows, bytes per row) for a frame of height h, and how to convert.
_PLANAR_420 = (libobs.VIDEO_FORMAT_I420, libobs.VIDEO_FORMAT_NV12)
_PACKED_422 = {  # byte order within one pair of pixels: where Y0, U, Y1, V sit
    libobs.VIDEO_FORMAT_YUY2: (0, 1, 2, 3),
    libobs.VIDEO_FORMAT_YVYU: (0, 3, 2, 1),
    libobs.VIDEO_FORMAT_UYVY: (1, 0, 3, 2),
}
_PACKED_RGB = {
    libobs.VIDEO_FORMAT_RGBA: cv2.COLOR_RGBA2RGB,
    libobs.VIDEO_FORMAT_BGRA: cv2.COLOR_BGRA2RGB,
    libobs.VIDEO_FORMAT_BGRX: cv2.COLOR_BGRA2RGB,
}
SUPPORTED = (*_PLANAR_420, *_PACKED_422, *_PACKED_RGB, libobs.VIDEO_FORMAT_I422,
             libobs.VIDEO_FORMAT_I444, libobs.VIDEO_FORMAT_Y800)


def _plane_rows(video_format: int, height: int) -> list[int]:
    """Rows of each plane of a frame ``height`` lines tall."""
    if video_format == libobs.VIDEO_FORMAT_I420:
        return [height, (height + 1) // 2, (height + 1) // 2]
    if video_format == libobs.VIDEO_FORMAT_NV12:
        return [height, (height + 1) // 2]
    if video_format in (libobs.VIDEO_FORMAT_I422, libobs.VIDEO_FORMAT_I444):
        return [height, height, height]
    return [height]


@dataclass(frozen=True)
class RawFrame:
    """A copy of one async frame: its planes, format, size and YUV -> RGB matrix."""

    planes: tuple[np.ndarray, ...]
    video_format: int
    width: int
    height: int
    matrix: np.ndarray
    """3x4: RGB (0..255) = matrix[:, :3] @ YUV (0..255) + matrix[:, 3], OBS's own matrix."""

    def _yuv(self) -> np.ndarray:
        """The frame as full-resolution Y, U, V channels (chroma upsampled bilinearly, as the
        GPU does)."""
        width, height, planes = self.width, self.height, self.planes
        luma = planes[0][:, :width]
        if self.video_format in _PACKED_422:
            y0, u, y1, v = _PACKED_422[self.video_format]
            pairs = planes[0][:, : 2 * width].reshape(height, width // 2, 4)
            luma = pairs[:, :, [y0, y1]].reshape(height, width)
            chroma = pairs[:, :, [u, v]]
        elif self.video_format == libobs.VIDEO_FORMAT_NV12:
            chroma = planes[1][:, : 2 * ((width + 1) // 2)].reshape(len(planes[1]), -1, 2)
        elif self.video_format == libobs.VIDEO_FORMAT_I444:
            return cv2.merge([luma, planes[1][:, :width], planes[2][:, :width]])
        else:  # I420, I422: separate U and V planes
            chroma_width = (width + 1) // 2
            chroma = cv2.merge([planes[1][:, :chroma_width], planes[2][:, :chroma_width]])
        chroma = cv2.resize(chroma, (width, height), interpolation=cv2.INTER_LINEAR)
        return cv2.merge([np.ascontiguousarray(luma), *cv2.split(chroma)])

    def to_rgb(self) -> np.ndarray:
        """The frame as RGB uint8 (height, width, 3)."""
        if self.video_format in _PACKED_RGB:
            return cv2.cvtColor(self.planes[0][:, : 4 * self.width].reshape(
                self.height, self.width, 4), _PACKED_RGB[self.video_format])
        if self.video_format == libobs.VIDEO_FORMAT_Y800:
            grey = np.ascontiguousarray(self.planes[0][:, : self.width])
            neutral = np.full_like(grey, 128)
            return cv2.transform(cv2.merge([grey, neutral, neutral]), self.matrix)
        return cv2.transform(self._yuv(), self.matrix)


def copy_frame(frame: libobs.ObsSourceFrame) -> RawFrame | None:
    """A `RawFrame` copied from an ``obs_source_frame``, or None for a format or layout this
    does not handle (the filter then reads the frame back from the GPU instead)."""
    video_format, width, height = frame.format, frame.width, frame.height
    if video_format not in SUPPORTED or frame.flip or not width or not height:
        return None
    if video_format in _PACKED_422 and width % 2:
        return None
    planes = []
    for index, rows in enumerate(_plane_rows(video_format, height)):
        pointer, linesize = frame.data[index], frame.linesize[index]
        if not pointer or not linesize:
            return None
        buffer = (c_uint8 * (rows * linesize)).from_address(pointer)
        planes.append(np.frombuffer(buffer, np.uint8).reshape(rows, linesize).copy())
    values = np.array(frame.color_matrix, np.float32).reshape(4, 4)[:3]
    matrix = np.hstack([values[:, :3], 255.0 * values[:, 3:]]).astype(np.float32)
    return RawFrame(tuple(planes), video_format, width, height, matrix)
