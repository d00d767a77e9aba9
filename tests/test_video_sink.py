"""VideoSink: a real talking-head clip in, a real encoded file out, checked by decoding it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clip_writer import write_clip
from support import frame_times, packet_span, synthetic_frames

from obs_bgremover.errors import InputError
from obs_bgremover.media import open_frames
from obs_bgremover.video_sink import VideoSink


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> Path:
    return shared_data / "talking-heads" / "speaker1.mp4"


def frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    return [frame for _, frame in list(open_frames(path))[:limit]]


def probe(path: Path) -> tuple[av.video.stream.VideoStream, float, list[str], float]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = [stream.codec_context.name for stream in container.streams.audio]
        count = sum(1 for _ in container.decode(video=0))
        return video, float(video.average_rate), audio, count


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_keeps_size_frame_rate_frames_and_sound(clip: Path, tmp_path: Path, suffix: str) -> None:
    source = frames(clip)
    out = tmp_path / f"render{suffix}"
    with VideoSink(out, clip) as sink:
        for frame in source:
            sink.write(255 - frame)
    with av.open(str(clip)) as original:
        rate = float(original.streams.video[0].average_rate)
        height, width = source[0].shape[:2]
        duration = original.duration / 1e6
    video, out_rate, audio, count = probe(out)
    assert (video.height, video.width) == (height, width)
    assert out_rate == pytest.approx(rate, rel=1e-3)
    assert count == len(source)
    assert len(audio) == 1
    with av.open(str(out)) as rendered:
        assert rendered.duration / 1e6 == pytest.approx(duration, abs=0.1)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left behind


def test_frames_are_the_ones_written(clip: Path, tmp_path: Path) -> None:
    source = frames(clip, 10)
    out = tmp_path / "inverted.mp4"
    with VideoSink(out, clip) as sink:
        for frame in source:
            sink.write(255 - frame)
    decoded = frames(out)
    assert len(decoded) == 10
    error = np.abs(decoded[5].astype(int) - (255 - source[5]).astype(int)).mean()
    assert error < 4  # lossy H.264 at CRF 18


@pytest.mark.parametrize("suffix", [".webm", ".mov"])
def test_transparent_video_keeps_alpha(clip: Path, tmp_path: Path, suffix: str) -> None:
    source = frames(clip, 5)
    out = tmp_path / f"cutout{suffix}"
    with VideoSink(out, clip, transparent=True) as sink:
        for frame in source:
            alpha = np.zeros(frame.shape[:2], np.uint8)
            alpha[:, : frame.shape[1] // 2] = 255
            sink.write(np.dstack([frame, alpha]))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        decoder = av.codec.CodecContext.create(
            "libvpx-vp9" if suffix == ".webm" else stream.codec_context.name, "r")
        packet = next(p for p in container.demux(stream) if p.size)
        (frame,) = decoder.decode(packet)
        alpha = frame.to_ndarray(format="rgba")[..., 3]
    width = alpha.shape[1]
    assert alpha[:, : width // 2 - 8].mean() > 250
    assert alpha[:, width // 2 + 8 :].mean() < 5


@pytest.mark.parametrize(("suffix", "transparent"),
                         [(".mp4", False), (".webm", False), (".webm", True), (".mov", True)])
def test_colours_are_written_as_bt709_and_say_so(clip: Path, tmp_path: Path, suffix: str,
                                                 transparent: bool) -> None:
    # Saturated patches, where BT.601 and BT.709 differ most: a green written with one matrix
    # and read with the other comes out 28 levels darker.
    colours = [(230, 30, 30), (30, 200, 40), (30, 40, 220), (0, 177, 64), (200, 120, 80)]
    picture = np.repeat(np.array(colours, np.uint8)[None].repeat(16, 1), 32, 0)  # 32x80
    if transparent:
        picture = np.dstack([picture, np.full(picture.shape[:2], 255, np.uint8)])
    out = tmp_path / f"patches{suffix}"
    with VideoSink(out, clip, transparent) as sink:
        sink.write(picture)
    with av.open(str(out)) as container:
        decoded = next(container.decode(video=0))
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_range) == (1, 1)  # BT.709, limited range
        # Converted as its tags say, which is what a player does.
        shown = decoded.reformat(format="rgb24", src_colorspace=1, src_color_range=1)
    centres = shown.to_ndarray()[16, 8::16].astype(int)
    assert np.abs(centres - colours).max() <= 3


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_a_clip_that_starts_late_keeps_its_sound_in_sync(tmp_path: Path, suffix: str) -> None:
    # Cut from a longer recording: picture and sound start 2 s in.
    late = write_clip(tmp_path / "late.mp4", synthetic_frames(25), 25, audio_seconds=1.0,
                      start=2.0)
    out = tmp_path / f"synced{suffix}"
    with VideoSink(out, late, seconds=0.6) as sink:
        for frame in synthetic_frames(15):
            sink.write(frame)
    video_start, _ = packet_span(out, "video")
    audio_start, audio_end = packet_span(out, "audio")
    # AAC's first packet starts one packet (23 ms) early, as in any MP4.
    assert abs(audio_start - video_start) < 0.03
    assert audio_end == pytest.approx(0.6, abs=0.03)


@pytest.mark.parametrize(("suffix", "transparent"), [(".mp4", False), (".webm", True)])
def test_frames_of_another_size_are_fitted_into_the_first_s(tmp_path: Path, suffix: str,
                                                            transparent: bool) -> None:
    """A stream may change size half way (a broadcast, a screen capture; 524x524 then
    640x360): the later frames were stretched to the first size without a word. They keep
    their shape now, with bars (transparent ones with alpha), and the note says so."""
    source = write_clip(tmp_path / "source.mp4", synthetic_frames(4), 25)
    colour = (200, 200, 200, 255) if transparent else (200, 200, 200)
    square = np.full((64, 64, len(colour)), colour, np.uint8)
    wide = np.full((36, 64, len(colour)), colour, np.uint8)
    out = tmp_path / f"render{suffix}"
    with VideoSink(out, source, transparent) as sink:
        for index, frame in enumerate([square, square, wide, wide]):
            sink.write(frame, index / 25)
    assert sink.note == ("the picture changes size (64x36 from frame 2): fitted into the first "
                         f"frame's 64x64, keeping its shape, with "
                         f"{'transparent' if transparent else 'black'} bars")
    decoded = frames(out)
    assert [frame.shape[:2] for frame in decoded] == [(64, 64)] * 4
    last = decoded[-1]
    bars, picture = np.r_[0:8, 56:64], np.s_[18:46]  # the picture is rows 14 to 49
    if transparent:
        assert last[bars, :, 3].max() < 8 and last[picture][..., 3].min() > 247
    else:
        assert last[bars].max() < 16
    assert np.abs(last[picture][..., :3].astype(int) - 200).max() < 8


def test_times_that_start_again_follow_on_at_the_average_rate(tmp_path: Path) -> None:
    """Two recordings joined end to end start their times again half way; the second half
    was written a tick apart, all at once (0.60 s of video instead of 1.2 s). It follows on
    at the source's rate, keeping its own spacing."""
    source = write_clip(tmp_path / "source.mp4", synthetic_frames(4), 25)
    out = tmp_path / "joined.mp4"
    times = [index / 25 for index in range(15)] * 2
    with VideoSink(out, source) as sink:
        for frame, time in zip(synthetic_frames(30), times, strict=True):
            sink.write(frame, time)
    assert frame_times(out) == pytest.approx([index / 25 for index in range(30)], abs=1e-3)


def test_a_constant_rate_kept_in_milliseconds_stays_constant(tmp_path: Path) -> None:
    """Matroska, OBS's recording format, keeps frame times in milliseconds: a 60 fps MKV came
    out as frames of 16 and 17 ms, a variable frame rate to editors."""
    source = write_clip(tmp_path / "recording.mkv", synthetic_frames(30), 60)
    timed = list(open_frames(source).timed())
    assert max(abs(time - index / 60) for index, (time, _) in enumerate(timed)) > 1e-4
    out = tmp_path / "result.mp4"
    with VideoSink(out, source) as sink:
        for time, frame in timed:
            sink.write(frame, time)
    assert frame_times(out) == pytest.approx([index / 60 for index in range(30)], abs=1e-6)


def test_a_variable_rate_keeps_its_own_time_base(tmp_path: Path) -> None:
    """A phone's variable rate has a mean rate of odd terms (60000/1967 here): the step both
    it and the source's 1/90000 divide was finer than the source's, up to a timescale in the
    hundreds of MHz that MP4 and QuickTime handle badly."""
    times = [index / 30 + (0.011 if index % 3 == 0 else 0) for index in range(40)]
    source = write_clip(tmp_path / "phone.mp4", synthetic_frames(40), 30, times=times)
    out = tmp_path / "result.mp4"
    with VideoSink(out, source) as sink:
        for time, frame in open_frames(source).timed():
            sink.write(frame, time)
    with av.open(str(out)) as container:
        assert container.streams.video[0].time_base == Fraction(1, 90000)
    assert frame_times(out) == pytest.approx([time - times[0] for time in times], abs=1e-4)


def test_unsupported_container_is_refused_before_anything_is_written(clip: Path,
                                                                     tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.mp4.*\.mov|\.mov.*\.webm"):
        VideoSink(tmp_path / "cutout.mp4", clip, transparent=True)
    with pytest.raises(InputError, match="avi"):
        VideoSink(tmp_path / "render.avi", clip)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_render_leaves_no_file(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "render.mp4"
    with pytest.raises(RuntimeError), VideoSink(out, clip) as sink:
        sink.write(frames(clip, 1)[0])
        raise RuntimeError("decoder died")
    assert list(tmp_path.iterdir()) == []


def test_two_renders_to_one_output_each_write_a_whole_file(clip: Path, tmp_path: Path) -> None:
    """Two terminals or two workers: once both wrote into one temporary file, and the first
    to finish renamed it (a file that did not decode) while the other failed on the rename."""
    out = tmp_path / "render.mp4"
    source = frames(clip, 12)
    first, second = VideoSink(out, clip), VideoSink(out, clip)
    for frame in source:
        first.write(frame)
        second.write(255 - frame)
    first.close()
    assert probe(out)[3] == len(source)
    second.close()
    assert probe(out)[3] == len(source)
    assert frames(out, 1)[0].mean() == pytest.approx(255 - source[0].mean(), abs=3)
    assert [path.name for path in tmp_path.iterdir()] == [out.name]


def test_an_output_that_is_a_folder_is_refused_before_work(clip: Path, tmp_path: Path) -> None:
    (tmp_path / "render.mp4").mkdir()
    with pytest.raises(InputError, match="render.mp4 is a folder"):
        VideoSink(tmp_path / "render.mp4", clip)
    assert [path.name for path in tmp_path.iterdir()] == ["render.mp4"]


def test_wrong_frame_shape_is_named_and_the_sink_goes_on(clip: Path, tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "render.mp4", clip)
    with pytest.raises(InputError, match="uint8"):
        sink.write(np.zeros((4, 4), np.float32))
    sink.write(frames(clip, 1)[0])
    sink.close()
    assert (tmp_path / "render.mp4").is_file()


def test_closing_without_frames_is_an_error_and_leaves_nothing(clip: Path,
                                                               tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no frames"):
        VideoSink(tmp_path / "render.mp4", clip).close()
    assert list(tmp_path.iterdir()) == []


def _with_sound(path: Path, *tracks: dict[str, object], seconds: float = 1.0) -> Path:
    """Synthetic frames at 25 fps, and in each track a tone: ``codec``, ``layout``, ``rate``,
    ``start`` (seconds), ``metadata``, as cameras, phones and OBS record them."""
    with av.open(str(path), "w") as output:
        video = output.add_stream("libvpx-vp9" if path.suffix == ".webm" else "libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sounds = []
        for track in tracks:
            stream = output.add_stream(track["codec"], rate=track["rate"], layout=track["layout"])
            stream.metadata.update(track.get("metadata", {}))
            sounds.append((stream, track))
        for picture in synthetic_frames(round(25 * seconds)):
            output.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        output.mux(video.encode())
        for stream, track in sounds:
            rate, channels = track["rate"], av.AudioLayout(track["layout"]).nb_channels
            first = round(track.get("start", 0.0) * rate)
            samples = np.arange(round((seconds - track.get("start", 0.0)) * rate)) / rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * samples)).astype(np.float32)
            for at in range(0, tone.size, 1024):
                chunk = np.repeat(tone[None, at : at + 1024], channels, axis=0)
                sound = av.AudioFrame.from_ndarray(chunk, "fltp", track["layout"])
                sound.sample_rate, sound.pts = rate, first + at
                output.mux(stream.encode(sound))
            output.mux(stream.encode())
    return path


def _sound_of(path: Path) -> list[tuple[str, int, int, str | None]]:
    """(codec, channels, samples decoded, language) of each sound track, every packet decoded:
    a track a player cannot read fails here."""
    with av.open(str(path)) as container:
        tracks = []
        for stream in container.streams.audio:
            samples = sum(frame.samples for frame in container.decode(stream))
            tracks.append((stream.codec_context.name, stream.codec_context.channels, samples,
                           stream.metadata.get("language")))
            container.seek(0)
        return tracks


@pytest.mark.parametrize(
    ("source", "track", "output", "transparent", "expected"),
    [
        # A WebM's Opus: MOV lists Opus, then refuses it at the first packet.
        ("clip.webm", {"codec": "libopus", "layout": "stereo", "rate": 48000}, ".mov", True,
         ("aac", 2)),
        # A webcam's AVI: PCM with no channel layout, which MP4 refused after the last frame.
        ("webcam.avi", {"codec": "pcm_s16le", "layout": "stereo", "rate": 48000}, ".mp4",
         False, ("aac", 2)),
        ("lossless.mkv", {"codec": "flac", "layout": "stereo", "rate": 44100}, ".mov", False,
         ("aac", 2)),
        # AC3 copied into MP4 plays silent in browsers; its 5.1 is kept (it was mixed down).
        ("film.mkv", {"codec": "ac3", "layout": "5.1", "rate": 48000}, ".mp4", False,
         ("aac", 6)),
        ("film.mp4", {"codec": "aac", "layout": "5.1", "rate": 48000}, ".webm", False,
         ("opus", 6)),
        # A layout Opus does not take: its channels in one it takes (they were mixed down).
        ("film.mkv", {"codec": "ac3", "layout": "5.1(side)", "rate": 48000}, ".webm", False,
         ("opus", 6)),
        # A camera's PCM in an order of its own, which no encoder takes: 7.1 (was stereo).
        ("camera.mov", {"codec": "pcm_s16le", "layout": "FL+FR+FC+LFE+SL+SR+BL+BR",
                        "rate": 48000}, ".mp4", False, ("aac", 8)),
        # An IP camera's 8 kHz mu-law: mono stays mono.
        ("camera.mov", {"codec": "pcm_mulaw", "layout": "mono", "rate": 8000}, ".mp4", False,
         ("aac", 1)),
        # A camera's PCM goes into MOV unchanged, as editors like it.
        ("camera.mov", {"codec": "pcm_s16le", "layout": "stereo", "rate": 48000}, ".mov",
         False, ("pcm_s16le", 2)),
    ],
    ids=["opus-to-mov", "avi-pcm-to-mp4", "flac-to-mov", "ac3-5.1-to-mp4", "aac-5.1-to-webm",
         "ac3-5.1-side-to-webm", "pcm-8-channels-to-mp4", "mulaw-to-mp4", "pcm-to-mov"],
)
def test_sound_goes_into_every_output_in_a_form_players_read(
    source: str, track: dict[str, object], output: str, transparent: bool,
    expected: tuple[str, int], tmp_path: Path,
) -> None:
    clip = _with_sound(tmp_path / source, track)
    out = tmp_path / f"result{output}"
    with VideoSink(out, clip, transparent) as sink:
        for picture in synthetic_frames(25):
            sink.write(np.dstack([picture, np.full(picture.shape[:2], 255, np.uint8)])
                       if transparent else picture)
    [(codec, channels, samples, _)] = _sound_of(out)
    assert (codec, channels) == expected
    assert samples >= 0.9 * track["rate"] * 0.9


@pytest.mark.parametrize("layout", ["5.1(side)", "5.0(side)"])
@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_side_surround_is_re_encoded_with_its_channels_named(layout: str, suffix: str,
                                                             tmp_path: Path) -> None:
    """A DVD's or Blu-ray's AC3 5.1 is 5.1(side), which AAC stores only with a program config
    element: read back, it was "6 channels" without positions, which players cannot place.
    In AAC's standard 5.1 (5.0) every channel keeps a position, the surround pair its sound."""
    clip = _with_sound(tmp_path / "film.mkv", {"codec": "ac3", "layout": layout, "rate": 48000})
    out = tmp_path / f"result{suffix}"
    with VideoSink(out, clip) as sink:
        for picture in synthetic_frames(25):
            sink.write(picture)
    with av.open(str(out)) as container:
        [stream] = container.streams.audio
        decoded = [frame for frame in container.decode(stream)]
    assert stream.codec_context.name == "aac"
    assert decoded[0].layout.name == layout.removesuffix("(side)")
    sound = np.concatenate([frame.to_ndarray() for frame in decoded], axis=1)
    for channel, samples in zip(decoded[0].layout.channels, sound, strict=True):
        if channel.name != "LFE":  # AAC keeps only the low end of the LFE channel
            assert np.sqrt(np.mean(samples ** 2)) > 0.15, channel.name


@pytest.mark.parametrize("suffix", [".mp4", ".webm"], ids=["copied", "re-encoded"])
def test_sound_that_starts_after_the_picture_stays_there(suffix: str, tmp_path: Path) -> None:
    """Re-encoded sound was once timed from 0: it came out half a second early."""
    clip = _with_sound(tmp_path / "late.mp4",
                       {"codec": "aac", "layout": "mono", "rate": 48000, "start": 0.5})
    out = tmp_path / f"result{suffix}"
    with VideoSink(out, clip) as sink:
        for picture in synthetic_frames(25):
            sink.write(picture)
    # AAC's first packet starts one packet (21 ms) before its sound.
    assert packet_span(out, "audio")[0] == pytest.approx(0.5, abs=0.03)


def test_every_sound_track_is_kept_with_its_language(tmp_path: Path) -> None:
    """OBS records the mix, the microphone and the desktop on tracks of their own."""
    clip = _with_sound(
        tmp_path / "obs-recording.mkv",
        {"codec": "aac", "layout": "stereo", "rate": 48000, "metadata": {"language": "eng"}},
        {"codec": "aac", "layout": "mono", "rate": 48000, "metadata": {"language": "fra"}},
    )
    out = tmp_path / "result.mp4"
    with VideoSink(out, clip) as sink:
        for picture in synthetic_frames(25):
            sink.write(picture)
    assert [(codec, channels, language) for codec, channels, _, language in _sound_of(out)] == [
        ("aac", 2, "eng"), ("aac", 1, "fra")]
    with av.open(str(out)) as container:
        assert container.streams[0].type == "video", "the picture is the first stream"


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_a_recording_s_track_names_are_kept(tmp_path: Path, suffix: str) -> None:
    """OBS writes the names given to its recording's tracks as Matroska titles; MP4 and MOV
    name a track by its handler alone, and the names were dropped there."""
    clip = _with_sound(
        tmp_path / "obs-recording.mkv",
        {"codec": "aac", "layout": "stereo", "rate": 48000, "metadata": {"title": "Mic"}},
        {"codec": "aac", "layout": "stereo", "rate": 48000, "metadata": {"title": "Desktop"}},
    )
    out = tmp_path / f"result{suffix}"
    with VideoSink(out, clip) as sink:
        for picture in synthetic_frames(25):
            sink.write(picture)
    with av.open(str(out)) as container:
        names = [stream.metadata.get("title", stream.metadata.get("handler_name"))
                 for stream in container.streams.audio]
    assert names == ["Mic", "Desktop"]
