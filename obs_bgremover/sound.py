"""The source's sound tracks carried into a rendered video, in sync with its picture.

Every sound track goes across, with its language and title: an OBS recording keeps the mix, the
microphone and the desktop on tracks of their own, and an editor needs all of them. A track is
copied unchanged (remuxed) where the output's players read its codec in that container, and
re-encoded to the container's own sound codec otherwise. A muxer's list of codecs it accepts is
not enough to decide: MOV lists Opus and FLAC and then refuses them at the first packet, MP4
takes PCM that older players decode as noise, and AC3 in MP4 plays silent in a browser.

Copied or re-encoded, each track keeps its timestamps, moved with the video stream's start (the
time the video's frames are counted from, `obs_bgremover.media.stream_start`): sound that begins
after the picture, or pauses, stays where it was instead of being packed from the start.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av

from obs_bgremover.media import time_base

# Sound codecs copied as they are, by output extension: those the usual players of that container
# read. Matroska (.mkv) holds whatever its muxer takes.
COPIED = {
    ".mp4": frozenset({"aac", "mp3"}),
    ".mov": frozenset({"aac", "mp3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be"}),
    ".webm": frozenset({"opus", "vorbis"}),
}
# The usual layouts of each number of channels, tried in turn for a track whose own layout the
# encoder does not take.
STANDARD_LAYOUTS = {3: ("2.1", "3.0"), 4: ("quad", "4.0"), 5: ("5.0", "5.0(side)"),
                    6: ("5.1", "5.1(side)"), 7: ("6.1",), 8: ("7.1",)}
# Layouts that AAC stores only with a program config element instead of a channel
# configuration: FFmpeg reads such a track back as channels without positions ("6 channels"),
# so players cannot place them. A DVD's or Blu-ray's AC3 5.1 is 5.1(side); written as 5.1, its
# surround pair takes the standard layout's places, as the same track re-encoded to Opus does.
AAC_STANDARD = {"5.0(side)": "5.0", "5.1(side)": "5.1"}
# Stream metadata that names a track, in MP4/MOV (handler_name) and Matroska (title) alike.
NAMING = ("language", "title", "handler_name")
# Outputs that store a track's name as its handler's alone: a Matroska track's title (OBS
# writes the names given to its recording's tracks, "Mic", "Desktop") is carried over there.
NAMED_BY_HANDLER = (".mp4", ".mov")


@dataclass
class _Track:
    source: av.audio.stream.AudioStream
    output: av.audio.stream.AudioStream
    encode: bool
    """Whether the track is re-encoded rather than copied."""
    shift: int
    """The video stream's start in this track's time base, taken off every timestamp."""


@functools.cache
def _encodes(codec: str, layout: str, rate: int) -> bool:
    """Whether ``codec``'s encoder takes sound in ``layout``: AAC takes the usual surround
    layouts, Opus some of them (5.1 but not 5.1(side), for one)."""
    context = cast(av.AudioCodecContext, av.CodecContext.create(codec, "w"))  # a sound encoder
    formats = context.codec.audio_formats
    assert formats is not None  # every sound encoder lists the sample formats it takes
    try:
        context.layout, context.sample_rate = layout, rate
        context.format = formats[0]
        context.open()
    except (av.FFmpegError, ValueError):
        return False
    return True


def _layout(context: av.audio.codeccontext.AudioCodecContext, codec: str, rate: int) -> str:
    """The channel layout a re-encoded track is written in. PyAV resamples the decoded sound
    to it, moving each channel to its place by name. The channels stay as they were (surround
    kept, as a copied track keeps it): in the track's own layout, else in the usual layout of
    as many channels that ``codec`` takes (PCM in a MOV is often in an order of its own,
    "8 channels (FL+FR+FC+LFE+SL+SR+BL+BR)", which no encoder takes: it was mixed down to
    stereo). Failing those, mixed down to stereo; a track without a layout (PCM in an AVI) is
    mono or stereo."""
    channels = context.layout.nb_channels
    own = AAC_STANDARD.get(context.layout.name, context.layout.name) if codec == "aac" else (
        context.layout.name)
    names = [own, *STANDARD_LAYOUTS.get(channels, ())] if channels else []
    return next((name for name in names if _encodes(codec, name, rate)),
                "mono" if context.channels == 1 else "stereo")


def _copies(codec: str, suffix: str, output: av.container.OutputContainer) -> bool:
    allowed = COPIED.get(suffix)
    return codec in (output.supported_codecs if allowed is None else allowed)


class SoundTracks:
    """The source's sound tracks in an output being written: `until` interleaves them with the
    video written so far, `close` writes the rest."""

    def __init__(self, source: av.container.InputContainer,
                 output: av.container.OutputContainer, suffix: str, codec: str,
                 start: Fraction, seconds: float | None = None) -> None:
        """``suffix``: the output's extension; ``codec``: the encoder for a track that cannot be
        copied; ``start``: the video stream's start, in seconds, which the output's time 0
        stands for; ``seconds``: where the sound is cut (None: all of it)."""
        self._output = output
        self._seconds = seconds
        self._tracks: dict[int, _Track] = {}
        self._past_cut: set[int] = set()
        for stream in source.streams.audio:
            context = stream.codec_context
            copied = _copies(context.name, suffix, output)
            if copied:
                added = output.add_stream_from_template(stream)
            else:
                # Opus runs at 48 kHz only; PyAV resamples the decoded sound to the encoder's
                # rate and layout (`_layout`).
                rate = 48000 if codec == "libopus" else (context.sample_rate or 48000)
                added = cast(av.AudioStream, output.add_stream(  # ``codec`` is a sound encoder
                    codec, rate=rate, layout=_layout(context, codec, rate)))
            for key in NAMING:
                if key in stream.metadata:
                    added.metadata[key] = stream.metadata[key]
            if suffix in NAMED_BY_HANDLER and "title" in stream.metadata:
                added.metadata.setdefault("handler_name", stream.metadata["title"])
            self._tracks[stream.index] = _Track(stream, added, not copied,
                                                round(start / time_base(stream)))
        streams = [track.source for track in self._tracks.values()]
        # PyAV's types know a list's packets for those of some stream, not of sound streams.
        self._packets = cast("Iterator[av.Packet[av.AudioStream]]",
                             source.demux(streams) if streams else iter(()))

    def until(self, seconds: float | None) -> None:
        """Write the sound up to ``seconds`` after the output's start (None: all of it);
        nothing that starts at or after the cut, if there is one.

        A copied packet that starts before the video keeps a negative time, as an AAC track's
        first packet does in any MP4, and the muxer handles it; a re-encoded one is left out,
        so that its encoder's track starts with the picture, not before it."""
        for packet in self._packets:
            track = self._tracks.get(packet.stream.index)
            if track is None or packet.dts is None:
                continue
            start = packet.time_base * (packet.dts - track.shift)
            if self._seconds is not None and start >= self._seconds:
                # Another track's packets may still come before the cut; once every track is
                # past it, the rest of the file is not read.
                self._past_cut.add(packet.stream.index)
                if len(self._past_cut) == len(self._tracks):
                    self._packets = iter(())
                    return
                continue
            if not track.encode:
                packet.dts -= track.shift
                if packet.pts is not None:
                    packet.pts -= track.shift
                packet.stream = track.output
                self._output.mux(packet)
            elif start >= 0:
                for decoded in packet.decode():
                    if decoded.pts is not None:
                        decoded.pts -= track.shift
                    self._output.mux(track.output.encode(decoded))
            if seconds is not None and start >= seconds:
                return

    def close(self) -> None:
        """Write the rest of the sound, and what the encoders hold back."""
        self.until(None)
        for track in self._tracks.values():
            if track.encode:
                self._output.mux(track.output.encode(None))
