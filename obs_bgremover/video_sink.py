"""Write processed frames as a video that keeps the source's size, frame rate and sound.

A render is only useful if it drops into an editor like the original: same frame rate, same
size, the speaker's voice still in sync. So the sink takes its timing from the source video and
carries the source's sound tracks across (`obs_bgremover.sound`).

The file appears under its name only once it is complete: frames go to a hidden temporary file
beside it, renamed on a clean close and deleted on any failure, so a failed render leaves
nothing behind. The temporary name is the sink's own, so two renders to one output (two
terminals, two workers) cannot write into one file: the last to finish wins, whole.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import cast

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

from obs_bgremover.composite import fit
from obs_bgremover.errors import InputError
from obs_bgremover.media import checked_video_stream, frame_rate, open_container, stream_start
from obs_bgremover.outputs import discard, partial_name, refuse_folder, write_failed
from obs_bgremover.sound import SoundTracks


@dataclass(frozen=True)
class VideoFormat:
    """How a container's video is encoded; `alpha` formats carry transparency."""

    codec: str
    pix_fmt: str
    audio_codec: str
    options: tuple[tuple[str, str], ...] = ()
    even: bool = False
    """Whether the encoder takes even widths and heights only (libx264 at 4:2:0, which stores
    colour per 2x2 block; libvpx and ProRes take any size)."""


# Opaque output by file extension; libx264's CRF 18 is visually lossless for a render. libvpx's
# realtime mode is several times faster than its default and still looks clean at CRF 30.
VP9 = (("crf", "30"), ("b", "0"), ("deadline", "realtime"), ("cpu-used", "8"), ("row-mt", "1"))
H264 = VideoFormat("libx264", "yuv420p", "aac", (("crf", "18"), ("preset", "veryfast")), even=True)
OPAQUE = {
    ".mp4": H264,
    ".mov": H264,
    ".mkv": H264,
    ".webm": VideoFormat("libvpx-vp9", "yuv420p", "libopus", VP9),
}
# Transparent output: only these codecs keep an alpha channel that editors read.
TRANSPARENT = {
    ".webm": VideoFormat("libvpx-vp9", "yuva420p", "libopus", VP9),
    ".mov": VideoFormat("prores_ks", "yuva444p10le", "aac", (("profile", "4444"),)),
}


def video_format(path: Path, transparent: bool) -> VideoFormat:
    """The encoding for an output path, or an InputError naming the extensions that work (or
    saying that a folder has the name)."""
    refuse_folder(path, "video")
    table = TRANSPARENT if transparent else OPAQUE
    fmt = table.get(path.suffix.lower())
    if fmt is None:
        kind = "a transparent video" if transparent else "a video"
        raise InputError(
            f"cannot write {kind} to {path.name}: use one of {', '.join(sorted(table))}"
        )
    return fmt


class VideoSink:
    """Encodes RGB (or RGBA) frames at the source's frame times and muxes the source's audio.

    Use as a context manager: `write(frame)` once per source frame, in order.
    """

    def __init__(self, path: str | os.PathLike[str], source: str | os.PathLike[str],
                 transparent: bool = False, seconds: float | None = None) -> None:
        """``seconds``: where the source's sound is cut, for a render of its first seconds only
        (None: all of it)."""
        self.path = Path(path)
        self._format = video_format(self.path, transparent)
        self._channels = 4 if transparent else 3
        self._temporary = partial_name(self.path)
        try:
            self._source = open_container(source)
            try:
                self._output = open_container(self._temporary, "w")
            except OSError as err:  # a read-only or full drive
                raise write_failed(self.path, err) from err
            self._video_in = checked_video_stream(self._source, source)
            self._rate = frame_rate(self._video_in)
            self._video: av.VideoStream | None = None
            self._seconds = seconds
            self._sound: SoundTracks | None = None  # added after the video, as players expect
            self._last_pts: int | None = None
            source_base = self._video_in.time_base or 1 / self._rate
            self._time_base, self._grid = _time_base(source_base, self._rate)
            self._slack = float(source_base)  # see `_pts`
            self._ticks = max(1, round(1 / (self._rate * self._time_base)))  # a frame's length
            self._notes: list[str] = []
            self._odd: tuple[int, int] | None = None  # (height, width) of frames cropped
            self._resized: dict[tuple[int, int], int] = {}  # (width, height): first frame
            self._written = 0
            self._shift = 0  # ticks added to the times given once they went back
        except BaseException:
            self._abort()
            raise

    def _pts(self, time: float) -> int:
        """A frame's time in ticks of the output's time base. A time within one tick of the
        source's time base of the rate's grid (k / rate) is put on the grid: Matroska (OBS's
        recordings) keeps times in milliseconds, and a 60 fps MKV written at its own times came
        out as frames of 16 and 17 ms, which editors take for a variable frame rate."""
        if self._grid:
            frame = round(time * self._rate)
            if abs(time - frame / self._rate) <= self._slack:
                return frame * self._ticks
        return round(time / self._time_base)

    def _open_video(self, height: int, width: int) -> av.VideoStream:
        """The encoder, for frames of this size; an odd size is cropped by its last column or
        row where the encoder needs it even, as any render of such a file must be."""
        if self._format.even:
            if width < 2 or height < 2:
                raise InputError(f"cannot write a {width}x{height} video to {self.path.name}: "
                                 f"{self._format.codec} needs at least 2x2 pixels")
            if width % 2 or height % 2:
                self._notes.append(f"cropped from {width}x{height} to {width // 2 * 2}x"
                                   f"{height // 2 * 2}: {self._format.codec} takes even "
                                   "sizes only")
                self._odd = (height, width)
                width, height = width // 2 * 2, height // 2 * 2
        # A video codec: VideoFormat names only those.
        stream = cast(av.VideoStream, self._output.add_stream(self._format.codec, rate=self._rate))
        stream.codec_context.time_base = self._time_base
        stream.width, stream.height = width, height
        stream.pix_fmt = self._format.pix_fmt
        stream.options = dict(self._format.options)
        # Say which colours the file holds: BT.709, HD video's own, in the usual limited range.
        # Untagged, FFmpeg's converter writes BT.601 while players read an HD file as BT.709,
        # so reds and skin tones came out shifted beside the original.
        context = stream.codec_context
        context.colorspace, context.color_range = Colorspace.ITU709, ColorRange.MPEG
        context.color_primaries, context.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
        self._video = stream
        # The source's video stream starts the output's time, for its frames (given from there,
        # `VideoFile.timed`) and its sound alike. Files often start later (a cut, a capture,
        # MPEG-TS): sound left at its own times would lag by that much.
        self._sound = SoundTracks(self._source, self._output, self.path.suffix.lower(),
                                  self._format.audio_codec, stream_start(self._video_in),
                                  self._seconds)
        return stream

    @property
    def note(self) -> str | None:
        """What the sink changed about the frames (an odd size cropped, frames of another size
        fitted into the first's), in words; None for nothing."""
        notes = list(self._notes)
        if self._resized and self._video is not None:  # frames were written, so it is open
            width, height = self._video.width, self._video.height
            sizes = ", ".join(f"{w}x{h} from frame {index}"
                              for (w, h), index in self._resized.items())
            bars = "transparent" if self._channels == 4 else "black"
            notes.append(f"the picture changes size ({sizes}): fitted into the first "
                         f"frame's {width}x{height}, keeping its shape, with {bars} bars")
        return "; ".join(notes) or None

    def write(self, frame: np.ndarray, time: float | None = None) -> None:
        """Encode the next frame (uint8 RGB, or RGBA for a transparent sink) at ``time``
        seconds after the source's video stream starts (`obs_bgremover.media.VideoFile.timed`:
        the source's own frame times, so a variable frame rate stays in sync with the sound);
        None: one frame after the last at the source's average rate (the first at 0).

        A video is one size throughout, the first frame's: a later frame of another size (a
        stream whose resolution changes, as a broadcast's or a screen capture's may) is fitted
        into it keeping its shape, with bars, and `note` says so; stretched, a 16:9 picture came
        out squeezed into the first frame's square. A time no later than the last one (times
        that start again, as in files joined end to end) follows the last frame at the
        average rate, and the later times with it; once, such frames were written a tick
        apart, all at once."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != self._channels:
            raise InputError(
                f"frame for {self.path.name} must be uint8 (height, width, {self._channels}), "
                f"got {frame.dtype} {frame.shape}"
            )
        video = self._video
        if video is None:
            video = self._open_video(*frame.shape[:2])
        size = (video.height, video.width)
        if frame.shape[:2] == self._odd:
            frame = np.ascontiguousarray(frame[: video.height, : video.width])
        elif frame.shape[:2] != size:
            self._resized.setdefault((frame.shape[1], frame.shape[0]), self._written)
            frame = fit(frame, size[::-1], "contain")
        layout = "rgba" if self._channels == 4 else "rgb24"
        video_frame = av.VideoFrame.from_ndarray(frame, format=layout)
        # The encoder converts the frame into the colours its tags name (on its own threads,
        # 3 ms a 1080p frame faster than a conversion here).
        video_frame.colorspace, video_frame.color_range = Colorspace.ITU709, ColorRange.MPEG
        if time is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._ticks
        else:
            pts = self._pts(time) + self._shift
            if self._last_pts is not None and pts <= self._last_pts:
                # Strictly increasing, as encoders need: from here on, a frame later.
                self._shift += self._last_pts + self._ticks - pts
                pts = self._last_pts + self._ticks
        video_frame.pts, video_frame.time_base = pts, self._time_base
        try:
            self._output.mux(video.encode(video_frame))
            self._last_pts = pts
            self._written += 1
            assert self._sound is not None  # made with the video stream, in `_open_video`
            self._sound.until(float((pts + self._ticks) * self._time_base))
        except av.FFmpegError as err:
            raise self._failed(err) from err

    def close(self) -> None:
        """Flush the encoders and move the finished file into place."""
        try:
            if self._video is None:
                raise InputError(f"no frames were written to {self.path.name}")
            self._output.mux(self._video.encode(None))
            assert self._sound is not None  # made with the video stream, in `_open_video`
            self._sound.close()
            self._output.close()
            self._source.close()
            os.replace(self._temporary, self.path)
        except av.FFmpegError as err:
            self._abort()
            raise self._failed(err) from err
        except OSError as err:  # the name taken meanwhile by a folder, a drive gone
            self._abort()
            raise write_failed(self.path, err) from err
        except BaseException:
            self._abort()
            raise

    def _failed(self, err: av.FFmpegError) -> InputError:
        """An encoder or muxer refusal, said as an error rather than a traceback: the codecs
        chosen here are meant to fit their container, so this names FFmpeg's own reason."""
        return InputError(f"FFmpeg could not write {self.path.name}: {err.strerror or err}")

    def _abort(self) -> None:
        for container in ("_output", "_source"):
            handle = getattr(self, container, None)
            if handle is not None:
                try:
                    handle.close()
                except av.FFmpegError:
                    pass
        discard(self._temporary)

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self._abort()


def _time_base(source: Fraction, rate: Fraction) -> tuple[Fraction, bool]:
    """The output's time base, and whether frame times are put on the rate's grid (`_pts`).
    A coarse source base (Matroska's and WebM's milliseconds), which cannot hold the times of
    a nominal rate (24, 30, 60, 30000/1001, ...), gives way to the longest step of which both
    it and a frame's length are whole multiples: 1/3000 s for 60 fps, 1/30000 for 29.97.
    A finer one (MP4's, MPEG-TS's 1/90000) holds them already and stays; so does any base
    beside the mean rate of a variable-rate clip (a phone's 1797/60 fps), whose grid means
    nothing, and whose common step with 1/90000 was finer than MP4 and QuickTime take."""
    rate = Fraction(rate)
    if source.denominator > 1000 or rate.denominator not in (1, 1001):
        return source, False
    length = 1 / rate
    return Fraction(math.gcd(source.numerator, length.numerator),
                    math.lcm(source.denominator, length.denominator)), True
