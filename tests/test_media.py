"""Reading images, folders and videos through the real decoders, and writing alpha PNGs."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace
from clip_writer import write_alpha_clip, write_clip
from PIL import Image, ImageCms
from support import (
    display_p3_profile,
    hdr_clip,
    heic_file,
    held_last_frame,
    on_its_side,
    oriented_clip,
    phone_jpeg,
    synthetic_frames,
    without_track_lengths,
)

from obs_bgremover.errors import InputError
from obs_bgremover.media import Shown, display_size, open_frames
from obs_bgremover.pictures import read_image, write_alpha_png


def write_png(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_read_image_gives_rgb(tmp_path: Path) -> None:
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    image = read_image(write_png(tmp_path / "red.png", rgb))
    assert image.dtype == np.uint8 and image.shape == (4, 5, 3)
    np.testing.assert_array_equal(image, rgb)


def test_a_transparent_picture_is_flattened_over_black_or_kept(tmp_path: Path) -> None:
    """OpenCV's colour decoding alone showed the colours hidden under transparency (here red
    under the transparent left half), which no viewer shows."""
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., :3] = (200, 10, 10)
    rgba[:, 15:, 3] = 255
    rgba[5, 20, 3] = 128
    path = tmp_path / "cutout.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    flat = read_image(path)
    assert flat.shape == (20, 30, 3) and not flat[:, :15].any()
    assert (flat[:, 15:][rgba[:, 15:, 3] == 255] == (200, 10, 10)).all()
    assert tuple(flat[5, 20]) == (100, 5, 5)
    assert np.array_equal(read_image(path, keep_alpha=True), rgba)
    deep = tmp_path / "deep.png"  # 16 bits a channel
    cv2.imwrite(str(deep), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA).astype(np.uint16) * 257)
    assert np.array_equal(read_image(deep, keep_alpha=True), rgba)
    opaque = tmp_path / "opaque.png"
    rgba[..., 3] = 255
    cv2.imwrite(str(opaque), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    assert read_image(opaque, keep_alpha=True).shape == (20, 30, 3)


WRITE_PAST_A_LIMIT = """
import resource, signal, sys
import numpy as np
from obs_bgremover.errors import InputError
from obs_bgremover.pictures import write_image
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))  # as a full drive stops a write
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
try:
    write_image(sys.argv[1], noise)
except InputError as err:
    print(err)
"""


def test_an_image_that_cannot_be_written_whole_leaves_the_old_file(tmp_path: Path) -> None:
    """Written in place, the old file was cut to what fitted (a PNG that no longer decoded),
    and the error said only "120054 requested and 20000 written"."""
    old = tmp_path / "out.png"
    cv2.imwrite(str(old), np.full((8, 8, 3), 90, np.uint8))
    before = old.read_bytes()
    said = subprocess.run([sys.executable, "-c", WRITE_PAST_A_LIMIT, str(old)],
                          capture_output=True, text=True, check=True).stdout
    assert said.startswith(f"cannot write {old}: File too large"), said
    assert old.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["out.png"]


def test_a_photo_in_another_colour_space_is_read_in_srgb(tmp_path: Path) -> None:
    """An iPhone's JPEG is in Display P3: taken as sRGB, as OpenCV alone takes it, a photo
    came out desaturated. A muted P3 red is a stronger red in sRGB; grey stays grey; a photo
    that says it is sRGB, or says nothing, is read as it is."""
    pixels = np.array([[[200, 100, 100], [128, 128, 128]]], np.uint8).repeat(8, 0).repeat(8, 1)
    wide, plain, srgb = tmp_path / "p3.jpg", tmp_path / "plain.png", tmp_path / "srgb.png"
    Image.fromarray(pixels).save(wide, quality=100, subsampling=0,
                                 icc_profile=display_p3_profile())
    Image.fromarray(pixels).save(plain)
    Image.fromarray(pixels).save(srgb, icc_profile=ImageCms.ImageCmsProfile(
        ImageCms.createProfile("sRGB")).tobytes())
    red, grey = read_image(wide)[4, [4, 12]]
    assert red[0] - red[1] >= 115 and abs(int(red[0]) - 216) <= 3
    assert np.abs(grey.astype(int) - 128).max() <= 3 and len(set(grey)) == 1
    assert np.array_equal(read_image(plain), pixels)
    assert np.array_equal(read_image(srgb), pixels)


def untagged_clip(path: Path, rgb: np.ndarray, matrix: Colorspace) -> Path:
    """Two frames of ``rgb`` in the YUV of ``matrix``, in a file that names no colours, as
    many screen recorders and encoders write them."""
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=25)
        stream.height, stream.width = rgb.shape[:2]
        stream.pix_fmt = "yuv444p"
        stream.options = {"qp": "0"}
        for _ in range(2):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv444p", dst_colorspace=matrix, dst_color_range=ColorRange.MPEG)
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return path


@pytest.mark.parametrize(("size", "matrix"), [((720, 1280), Colorspace.ITU709),
                                              ((480, 640), Colorspace.ITU601)],
                         ids=["hd-bt709", "sd-bt601"])
def test_an_untagged_video_is_read_in_the_colours_players_take_for_its_size(
        tmp_path: Path, size: tuple[int, int], matrix: Colorspace) -> None:
    """Players read an HD file that names no colour matrix as BT.709, a smaller one as BT.601;
    FFmpeg's converter alone takes BT.601 for both: an untagged 720p clip's red came out 23
    levels darker, its skin tones shifted, in an output tagged BT.709."""
    rgb = np.zeros((*size, 3), np.uint8)
    rgb[:, : size[1] // 2] = (250, 10, 10)
    rgb[:, size[1] // 2:] = (200, 150, 100)
    clip = untagged_clip(tmp_path / "untagged.mp4", rgb, matrix)
    with av.open(str(clip)) as container:
        assert next(container.decode(video=0)).colorspace == 2  # unspecified
    for _, frame in open_frames(clip):
        assert np.abs(frame.astype(int) - rgb).max() <= 3


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not a picture")
    with pytest.raises(InputError, match="cannot read image .*fake.png"):
        read_image(fake)


def test_image_is_one_frame_named_after_its_stem(tmp_path: Path, frames) -> None:
    source = open_frames(write_png(tmp_path / "portrait.jpg", frames[0]))
    assert source.count == 1
    [(name, frame)] = list(source)
    assert name == "portrait" and frame.shape == (48, 64, 3)


def test_folder_gives_its_images_in_sorted_order(tmp_path: Path, frames) -> None:
    for name in ("b.PNG", "a.jpg", "c.Jpeg", "d.bmp", "e.webp"):
        write_png(tmp_path / name, frames[0])
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    source = open_frames(tmp_path)
    assert source.count == 5
    assert [name for name, _ in source] == ["a", "b", "c", "d", "e"]


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match=f"folder {tmp_path} has no images"):
        open_frames(tmp_path)


def test_folder_with_a_fake_image_names_it(tmp_path: Path, frames) -> None:
    write_png(tmp_path / "a.png", frames[0])
    (tmp_path / "b.png").write_text("not a picture")
    with pytest.raises(InputError, match="not images OpenCV can decode: b.png"):
        open_frames(tmp_path)


@pytest.mark.parametrize("names", [("a.jpg", "a.png"), ("Photo.JPG", "photo.webp")])
def test_folder_with_clashing_names_is_refused(
    tmp_path: Path, frames, names: tuple[str, str]
) -> None:
    """Names differing only in case clash too: on Windows's and macOS's disks one PNG would
    overwrite the other."""
    for name in names:
        cv2.imwrite(str(tmp_path / name), frames[0])
    with pytest.raises(InputError, match=f"images of the same name, {', '.join(names)}"):
        open_frames(tmp_path)


def test_video_frames_are_numbered(video: Path, frames) -> None:
    source = open_frames(video)
    decoded = list(source)
    assert [name for name, _ in decoded] == ["00000", "00001", "00002", "00003", "00004"]
    assert source.count in (5, None)
    for (_, frame), original in zip(decoded, frames, strict=True):
        assert frame.dtype == np.uint8 and frame.shape == (48, 64, 3)
        # lossy H.264, but the colours must come back in RGB order
        assert np.abs(frame.astype(int) - original).mean() < 10


def test_a_matroska_video_s_frames_are_counted_from_its_length(tmp_path: Path) -> None:
    """Matroska states no frame count: a progress bar over an OBS recording (.mkv) showed
    neither a percentage nor the time left."""
    path = write_clip(tmp_path / "clip.mkv", synthetic_frames(30, 48, 64), 30)
    assert open_frames(path).count == 30


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_video_stored_on_its_side_is_read_upright(tmp_path: Path, frames, rotation: int
                                                    ) -> None:
    stored = [on_its_side(frame, rotation) for frame in frames]
    phone = write_clip(tmp_path / "phone.mp4", stored, 5, rotation=rotation)
    decoded = [frame for _, frame in open_frames(phone)]
    for frame, original in zip(decoded, frames, strict=True):
        assert frame.shape == original.shape
        assert np.abs(frame.astype(int) - original).mean() < 10


@pytest.mark.parametrize(("rotation", "hflip", "vflip"), [
    (0, True, False), (0, False, True), (90, True, False), (180, True, False),
    (270, True, False), (90, False, True),
])
def test_a_mirrored_video_is_read_as_shown(tmp_path: Path, frames, rotation: int, hflip: bool,
                                           vflip: bool) -> None:
    """A display matrix holds flips as well as turns (a mirrored selfie clip, an editor's
    flip). Read by its angle alone, a clip marked "flip left to right" came out upside down."""
    stored = []
    for frame in frames:
        mirrored = frame[:, ::-1] if hflip else frame
        stored.append(on_its_side(mirrored[::-1] if vflip else mirrored, rotation))
    clip = oriented_clip(tmp_path / "mirrored.mp4", stored, 5, rotation, hflip, vflip)
    decoded = [frame for _, frame in open_frames(clip)]
    for frame, original in zip(decoded, frames, strict=True):
        assert frame.shape == original.shape
        assert np.abs(frame.astype(int) - original).mean() < 10
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert display_size(next(container.decode(stream)), stream) == (64, 48)


def test_a_video_of_non_square_pixels_is_read_as_shown(tmp_path: Path) -> None:
    """16:9 DV stores 720x480 pixels that players show 853 wide: read as stored, a round face
    came out narrow, in replace, matte and render alike."""
    shown = np.zeros((48, 86, 3), np.uint8)
    cv2.circle(shown, (43, 24), 20, (250, 250, 250), -1)
    stored = cv2.resize(shown, (72, 48), interpolation=cv2.INTER_AREA)
    clip = write_clip(tmp_path / "dv.mp4", [stored] * 3, 5, pixel_aspect=Fraction(32, 27),
                      pix_fmt="yuv444p")
    for _, frame in open_frames(clip):
        assert frame.shape == (48, 85, 3)
        assert np.abs(frame.astype(int) - cv2.resize(shown, (85, 48))).mean() < 10


def test_a_phone_photo_is_read_upright(tmp_path: Path) -> None:
    upright = np.zeros((80, 40, 3), np.uint8)
    upright[:20] = (250, 20, 20)  # a red head on top
    photo = read_image(phone_jpeg(tmp_path / "photo.jpg", upright))
    assert photo.shape == upright.shape
    assert np.abs(photo.astype(int) - upright).mean() < 5


@pytest.mark.parametrize("transfer", ["hlg", "pq"])
def test_an_hdr_clip_is_read_as_a_player_shows_it(shared_data: Path, tmp_path: Path,
                                                  transfer: str) -> None:
    frames = [read_image(path) for path in
              sorted((shared_data / "davis-person" / "lucia" / "frames").iterdir())[:2]]
    clip = hdr_clip(tmp_path / f"{transfer}.mp4", frames, transfer)
    for (_, frame), original in zip(open_frames(clip), frames, strict=True):
        # Near the same frame through 8-bit SDR H.264 (5.3 levels; here 5.3 for HLG, 6.4-7.1
        # for PQ); read as plain RGB, HDR is grey and flat: 12 (HLG) and 19 (PQ) levels off.
        assert np.abs(frame.astype(int) - original).mean() < 8.5


def test_video_is_recognised_by_content_not_extension(video: Path) -> None:
    renamed = shutil.copy(video, video.with_suffix(".dat"))
    assert len(list(open_frames(renamed))) == 5


def test_text_file_named_like_a_video_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video\n" * 20)
    with pytest.raises(InputError, match="cannot read .*clip.mp4") as caught:
        open_frames(fake)
    assert "expected an image (.png, .jpg" in str(caught.value)
    assert "or a video" in str(caught.value)


def write_sound(path: Path) -> Path:
    """A file with a sound track alone."""
    with av.open(str(path), "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        samples = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        samples.sample_rate = 8000
        container.mux(stream.encode(samples))
        container.mux(stream.encode())
    return path


def test_audio_without_video_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no video stream"):
        open_frames(write_sound(tmp_path / "sound.wav"))


def test_a_video_replaced_by_sound_after_its_check_is_named(tmp_path: Path) -> None:
    """A clip swapped for a file without video between its check and its reading (a job
    that waited in the queue) failed with "'NoneType' object has no attribute 'thread_type'"."""
    clip = write_clip(tmp_path / "clip.mp4", synthetic_frames(3), 10)
    source = open_frames(clip)
    write_sound(clip)
    with pytest.raises(InputError, match="clip.mp4 has no video stream any more"):
        list(source.timed())


def test_a_heic_photo_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"photo.heic is a HEIF \(HEIC\) picture.*JPEG or PNG"):
        open_frames(heic_file(tmp_path / "photo.heic"))


def test_missing_or_empty_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="input .*missing.mp4 does not exist"):
        open_frames(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match=r"input .*empty.mp4 is empty \(0 bytes\)"):
        open_frames(tmp_path / "empty.mp4")
    # A FIFO (or a device) was said not to exist, though it is there.
    os.mkfifo(tmp_path / "fifo.mp4")
    with pytest.raises(InputError, match="input .*fifo.mp4 is not a regular file"):
        open_frames(tmp_path / "fifo.mp4")


def test_alpha_png_is_single_channel_uint8(tmp_path: Path) -> None:
    alpha = np.arange(48 * 64, dtype=np.uint32).reshape(48, 64).astype(np.uint8)
    write_alpha_png(tmp_path / "alpha.png", alpha)
    written = cv2.imread(str(tmp_path / "alpha.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint8 and written.shape == (48, 64)
    np.testing.assert_array_equal(written, alpha)


def test_alpha_png_refuses_wrong_arrays(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"got float32 array of shape \(4, 4\)"):
        write_alpha_png(tmp_path / "alpha.png", np.zeros((4, 4), np.float32))
    assert not (tmp_path / "alpha.png").exists()


def test_davis_sequence_reads_as_a_sorted_folder(shared_data: Path) -> None:
    source = open_frames(shared_data / "davis-person" / "lucia" / "frames")
    assert source.count == 70
    name, frame = next(iter(source))
    assert name == "00000" and frame.shape == (480, 854, 3)


def test_an_interlaced_video_is_read_without_its_comb(tmp_path: Path) -> None:
    """A camcorder's or a broadcast's interlaced frame weaves two fields filmed a field apart;
    read as it is stored, a moving edge has a comb of alternate lines, which the network takes
    for detail and the output kept."""
    still = np.zeros((48, 64, 3), np.uint8)
    still[:, 20:40] = 200
    woven = still.copy()
    woven[1::2] = np.roll(still, 6, axis=1)[1::2]  # the bar, a field later, 6 px further on
    clip = write_clip(tmp_path / "interlaced.mp4", [woven] * 3, 5,
                      encoder={"flags": "+ildct+ilme", "crf": "8"})
    for _, frame in open_frames(clip):
        grey = frame[..., 1].astype(int)
        comb = np.abs(2 * grey[1:-1] - grey[:-2] - grey[2:]).mean() / 2
        assert comb < 2, f"combed: {comb:.1f}"
        assert np.abs(frame[::2].astype(int) - still[::2]).mean() < 10, "not the first field"


# Codecs a transparent clip comes in, each in its container: QuickTime Animation, PNG and
# ProRes 4444 in MOV (editors' exports), FFV1 in Matroska (archives), VP9 and VP8 in WebM (the
# web's, and what `replace -b transparent` writes).
TRANSPARENT_CLIPS = [("qtrle", ".mov"), ("png", ".mov"), ("prores_ks", ".mov"),
                     ("ffv1", ".mkv"), ("libvpx-vp9", ".webm"), ("libvpx", ".webm")]


def left_half_transparent(frames: list[np.ndarray]) -> list[np.ndarray]:
    """RGB frames as straight RGBA with the left half transparent, its colours kept under it
    (as an editor keeps what a mask hides)."""
    cut = [cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA) for frame in frames]
    for rgba in cut:
        rgba[:, : rgba.shape[1] // 2, 3] = 0
    return cut


@pytest.mark.parametrize(("codec", "suffix"), TRANSPARENT_CLIPS,
                         ids=[codec for codec, _ in TRANSPARENT_CLIPS])
def test_a_video_s_transparency_is_kept(tmp_path: Path, frames, codec: str, suffix: str) -> None:
    """What a transparent clip hides once came back, as if opaque: every frame was converted
    to RGB, and FFmpeg's own VP8 and VP9 decoders do not read a WebM's alpha at all. The same
    clip made opaque stays RGB."""
    clip = write_alpha_clip(tmp_path / f"cutout{suffix}", left_half_transparent(frames), 10,
                            codec)
    decoded = list(open_frames(clip).timed())
    assert [time for time, _ in decoded] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    for (_, frame), original in zip(decoded, frames, strict=True):
        assert frame.shape == (48, 64, 4)
        assert not frame[:, :24, 3].any()
        assert (frame[:, 40:, 3] == 255).all()
        assert np.abs(frame[:, 40:, :3].astype(int) - original[:, 40:]).mean() < 10
    opaque = write_alpha_clip(tmp_path / f"opaque{suffix}",
                              [cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA) for frame in frames], 10,
                              codec)
    assert [frame.shape for _, frame in open_frames(opaque)] == [(48, 64, 3)] * 5


def test_a_webm_s_alpha_tag_is_read_in_any_case(tmp_path: Path, frames) -> None:
    """A WebM remuxed by FFmpeg says ``ALPHA_MODE`` where an encoder's says ``alpha_mode``: its
    alpha was ignored, and what it hides came back."""
    clip = write_alpha_clip(tmp_path / "cutout.webm", left_half_transparent(frames), 10,
                            "libvpx")
    remuxed = tmp_path / "remuxed.webm"
    with av.open(str(clip)) as source, av.open(str(remuxed), "w") as output:
        stream = output.add_stream_from_template(source.streams.video[0])
        stream.metadata["ALPHA_MODE"] = "1"  # as the ffmpeg command copies the source's tags
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                output.mux(packet)
    with av.open(str(remuxed)) as container:
        assert "ALPHA_MODE" in container.streams.video[0].metadata
    decoded = [frame for _, frame in open_frames(remuxed)]
    assert len(decoded) == 5
    for frame in decoded:
        assert frame.shape == (48, 64, 4) and not frame[:, :24, 3].any()


@pytest.mark.parametrize(("codec", "clip", "shape", "transparent"), [
    ("png", {"rotation": 90}, (64, 48, 4), np.s_[40:]),
    ("png", {"pixel_aspect": Fraction(2)}, (48, 128, 4), np.s_[:, :56]),
    ("prores_ks", {"encoder": {"flags": "+ildct"}}, (48, 64, 4), np.s_[:, :24]),
], ids=["on-its-side", "non-square-pixels", "interlaced"])
def test_a_transparent_video_s_alpha_is_shown_as_its_picture(
        tmp_path: Path, frames, codec: str, clip: dict, shape: tuple[int, ...],
        transparent: slice | tuple[slice, ...]) -> None:
    """Turned, widened and deinterlaced with its picture, the alpha still covers what it hid."""
    path = write_alpha_clip(tmp_path / "cutout.mov", left_half_transparent(frames), 10, codec,
                            **clip)
    for _, frame in open_frames(path):
        assert frame.shape == shape
        assert not frame[transparent][..., 3].any()
        assert frame[..., 3].mean() == pytest.approx(127.5, abs=6)


def test_an_hdr_frame_with_alpha_is_tone_mapped_with_it(video: Path, frames) -> None:
    """A ProRes 4444 frame in PQ: tone-mapped into SDR, its alpha kept; flattened for a
    background."""
    (rgba,) = left_half_transparent(frames[:1])
    frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva444p12le")
    frame.color_trc, frame.color_primaries, frame.colorspace = 16, 9, 9  # PQ, BT.2020
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        kept, flat = Shown(stream, keep_alpha=True)(frame), Shown(stream)(frame)
    assert kept.shape == (48, 64, 4) and flat.shape == (48, 64, 3)
    assert not kept[:, :32, 3].any() and (kept[:, 32:, 3] == 255).all()
    assert not flat[:, :32].any() and np.array_equal(flat[:, 32:], kept[:, 32:, :3])


def test_a_held_last_frame_counts_to_the_length(tmp_path: Path) -> None:
    """A screen recording writes a frame only when the picture changes, and its last one is
    held to the end: its frames' times stop early, its track does not. Counted as one frame
    at the average rate, it was refused as cut short after the whole run."""
    clip = held_last_frame(tmp_path / "screen.mp4", synthetic_frames(10), 10, hold=2.0)
    times = [time for time, _ in open_frames(clip).timed()]
    assert times == pytest.approx([index / 10 for index in range(10)])


def cut_copy(whole: Path, name: str, share: float) -> Path:
    """The first ``share`` of ``whole``'s bytes, beside it, as an interrupted copy leaves it."""
    data = whole.read_bytes()
    cut = whole.with_name(name)
    cut.write_bytes(data[: int(len(data) * share)])
    return cut


def test_sound_longer_than_the_picture_is_no_cut_without_track_lengths(tmp_path: Path) -> None:
    """A Matroska file without per-track lengths declares only the container's, its longest
    track's: here its sound's, 2 s beside 1 s of picture. Taken for the picture's, the whole
    file was refused as cut short; a file cut short is still named."""
    whole = without_track_lengths(
        write_clip(tmp_path / "whole.mkv", synthetic_frames(10), 10, audio_seconds=2.0))
    assert len(list(open_frames(whole).timed())) == 10
    with pytest.raises(InputError, match=r"cut.mkv is damaged or cut short .* of the 2\.\d\d s "):
        list(open_frames(cut_copy(whole, "cut.mkv", 1 / 3)).timed())


def test_an_avi_cut_short_is_named(tmp_path: Path) -> None:
    """An AVI copy stopped half way keeps its header's count of frames, while FFmpeg takes
    its length from what is left of its index: half the video was rendered without a word."""
    noise = np.random.default_rng(0)  # frames large beside the header, which a cut must keep
    frames = [noise.integers(0, 256, (120, 160, 3), np.uint8) for _ in range(40)]
    whole = write_clip(tmp_path / "whole.avi", frames, 20)
    assert len(list(open_frames(whole).timed())) == 40
    with pytest.raises(InputError, match=r"cut.avi is damaged or cut short .* of the 2\.00 s "):
        list(open_frames(cut_copy(whole, "cut.avi", 1 / 2)).timed())


def test_times_that_start_again_follow_on(tmp_path: Path) -> None:
    """Two MPEG-TS recordings joined end to end (as ``cat`` or a capture card's restart
    leaves them) start their times again half way, and may change size there. The second
    part follows on from the first at the average rate, in its own size."""
    first = write_clip(tmp_path / "a.ts", synthetic_frames(5), 10)
    second = write_clip(tmp_path / "b.ts", synthetic_frames(5, 36, 64), 10)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    decoded = list(open_frames(joined).timed())
    assert [time for time, _ in decoded] == pytest.approx([index / 10 for index in range(10)])
    assert [frame.shape for _, frame in decoded] == [(48, 64, 3)] * 5 + [(36, 64, 3)] * 5


def test_decoded_frames_are_freed_as_soon_as_they_are_read(shared_data: Path) -> None:
    """A frame read is freed with its last reference, not left for Python's cycle collector:
    a frame whose display matrix was read is tied into a reference cycle, and each frame's
    own converter started a thread per core, so every frame of a render, with its picture and
    its threads, stayed until a full collection (a render worker grew by about 10 MB and
    dozens of idle threads a job). The stream's first frame is read for its display matrix."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        count = sum(1 for _ in open_frames(shared_data / "talking-heads" / "speaker5.mp4"))
        gc.collect()
        left = [item for item in gc.garbage if isinstance(item, av.VideoFrame)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert count > 100
    assert len(left) <= 1, f"{len(left)} of {count} frames were left for the cycle collector"
