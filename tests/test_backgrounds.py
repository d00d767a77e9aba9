"""The built-in backgrounds, the spec parser and the looping video, through the real decoders."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clip_writer import write_alpha_clip, write_clip
from support import animation, hdr_clip, heic_file, on_its_side, synthetic_frames

from obs_bgremover.backgrounds import (
    ASSETS,
    BUILTIN,
    LoopingVideo,
    background_file,
    is_transparent,
    list_backgrounds,
    open_file,
    parse_background,
    picture,
)
from obs_bgremover.composite import (
    BlurBackground,
    ColorBackground,
    ImageBackground,
    TransparentBackground,
)
from obs_bgremover.errors import InputError
from obs_bgremover.pictures import read_image

FPS = 25  # the clips' rate: the five-frame clip lasts 0.2 s


def nearest(image: np.ndarray, frames: list[np.ndarray]) -> int:
    """Index of the source frame an (H.264-decoded, resized) image looks most like."""
    size = (image.shape[1], image.shape[0])
    return int(np.argmin([np.abs(cv2.resize(f, size).astype(int) - image).mean() for f in frames]))


def decoder_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("LoopingVideo")]


def test_builtins_are_four_images_and_three_videos() -> None:
    names = list_backgrounds()
    assert names == list(BUILTIN) and len(names) == 7
    suffixes = sorted(Path(BUILTIN[name]).suffix for name in names)
    assert suffixes == [".jpg"] * 4 + [".mp4"] * 3
    assert all((ASSETS / BUILTIN[name]).is_file() for name in names)
    assert sum((ASSETS / BUILTIN[name]).stat().st_size for name in names) < 5_000_000


@pytest.mark.parametrize("name", list(BUILTIN))
def test_every_builtin_gives_a_plate_of_the_frame_size(name: str) -> None:
    frame = np.zeros((180, 320, 3), np.uint8)
    with parse_background(name) as background:
        plate = background.plate(frame, frame[..., 0], 0.5)
    assert plate.shape == frame.shape and plate.dtype == np.uint8
    assert plate.std() > 1  # a picture, not a flat fill


@pytest.mark.parametrize("name", [n for n in BUILTIN if BUILTIN[n].endswith(".mp4")])
def test_builtin_videos_loop_without_a_seam(name: str) -> None:
    with av.open(str(ASSETS / BUILTIN[name])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    steps = [cv2.absdiff(a, b).mean() for a, b in zip(frames, frames[1:], strict=False)]
    seam = cv2.absdiff(frames[0], frames[-1]).mean()
    assert seam <= 2 * np.median(steps) + 0.5
    with LoopingVideo(ASSETS / BUILTIN[name]) as video:
        assert 6 <= video.period <= 8


def test_simple_specs() -> None:
    assert isinstance(parse_background("transparent"), TransparentBackground)
    assert parse_background("blur").strength == 50
    blur = parse_background("blur:80")
    assert isinstance(blur, BlurBackground) and blur.strength == 80
    colour = parse_background("color:#00b140")
    assert isinstance(colour, ColorBackground) and colour.rgb == (0, 0xB1, 0x40)


def test_names_and_keywords_in_any_case_and_paths(tmp_path: Path) -> None:
    """``Dusk``, ``COLOR:#FF0000``, ``TRANSPARENT`` and ``BLUR:30`` were refused as neither a
    built-in nor a file, and a `pathlib.Path` raised AttributeError (it has no ``strip``). A
    file's path is taken as it is."""
    colour = parse_background("COLOR:#FF0000")
    assert isinstance(colour, ColorBackground) and colour.rgb == (255, 0, 0)
    assert parse_background("BLUR:30").strength == 30
    assert isinstance(parse_background("Blur"), BlurBackground)
    assert isinstance(parse_background("TRANSPARENT"), TransparentBackground)
    assert is_transparent(" Transparent ") and not is_transparent("dusk")
    with parse_background(" Dusk ") as dusk:
        assert isinstance(dusk, ImageBackground)
    assert background_file("Bokeh-Drift") == ASSETS / BUILTIN["bokeh-drift"]
    wall = tmp_path / "My Wall.PNG"
    cv2.imwrite(str(wall), np.full((24, 32, 3), 90, np.uint8))
    for spec in (wall, str(wall)):
        with parse_background(spec, "stretch") as background:
            assert isinstance(background, ImageBackground)
        assert background_file(spec) == wall
    with parse_background(write_clip(tmp_path / "Loop.MP4", synthetic_frames(5), FPS)) as video:
        assert isinstance(video, LoopingVideo)
    with pytest.raises(InputError, match=r"background file .*missing.png does not exist"):
        parse_background(tmp_path / "missing.png")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("color:#12345", r"colour '#12345' is not of the form #RRGGBB"),
        ("color:blue?", r"colour 'blue\?' is not of the form #RRGGBB"),
        ("blur:0", r"blur strength '0' is not a whole number in 1..100"),
        ("blur:soft", r"blur strength 'soft' is not a whole number in 1..100"),
        # A strength left out was taken for the default without a word.
        ("blur:", r"blur strength '' is not a whole number in 1..100"),
        # str.isdigit takes superscripts, which int() refuses: once a ValueError, a web 500.
        ("blur:²", r"blur strength '²' is not a whole number in 1..100"),
        ("beach", r"background 'beach' is neither a built-in \(studio, .*\) nor a file "
                  r"\(beach does not exist\); expected"),
    ],
)
def test_bad_specs_are_named(
    spec: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=message):
        parse_background(spec)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_or_an_empty_file_is_named_as_such(tmp_path: Path) -> None:
    """Both were "neither a built-in nor a file", or FFmpeg's "invalid data"."""
    (tmp_path / "walls").mkdir()
    (tmp_path / "wall.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"walls is a folder, not a file\); expected"):
        parse_background(str(tmp_path / "walls"))
    with pytest.raises(InputError, match=r"wall.png is empty \(0 bytes\); expected"):
        parse_background(str(tmp_path / "wall.png"))


def test_image_file_is_read_once_at_any_size(tmp_path: Path) -> None:
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), np.full((37, 91, 3), (10, 20, 30), np.uint8))
    background = parse_background(str(path), "stretch")
    assert isinstance(background, ImageBackground) and background.image.shape == (37, 91, 3)
    plate = picture(background, (60, 50))
    assert plate.shape == (50, 60, 3) and (plate == (30, 20, 10)).all()  # BGR file, RGB plate


@pytest.mark.parametrize("name", ["fake.png", "fake.jpg", "notes.mp4"])
def test_unreadable_file_is_named_with_what_is_accepted(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("not a picture, not a video")
    with pytest.raises(InputError, match=f"{name}: it is no image, and FFmpeg cannot read it "
                                         "as a video .*expected an image .* or a video"):
        parse_background(str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert decoder_threads() == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [("folder", "is a folder, not a file"),
     ("a" * 300 + ".png", r"cannot be read \(File name too long\)"),
     ("pipe.png", "is not a regular file")],
    ids=["folder", "name-too-long", "fifo"],
)
def test_a_path_that_is_no_file_says_why(name: str, problem: str, tmp_path: Path) -> None:
    """The OBS filter's file picker can be given either; the long name once escaped as an
    OSError, which the filter logged as a traceback and retried every frame. A FIFO was said
    not to exist."""
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(InputError, match=f"background file .* {problem}; expected an image"):
        open_file(tmp_path / name)


def test_a_heic_photo_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"is a HEIF \(HEIC\) picture"):
        parse_background(str(heic_file(tmp_path / "wall.heic")))


def test_a_video_cut_short_is_refused_as_it_is_as_an_input(tmp_path: Path) -> None:
    """An interrupted download of a "fast start" MP4 (its index first) opens, and what was left
    of it looped without a word, where the same file as an input is refused."""
    noise = np.random.default_rng(0).integers(0, 256, (40, 48, 64, 3), dtype=np.uint8)
    whole = write_clip(tmp_path / "whole.mp4", list(noise), 10,
                       container={"movflags": "faststart"})  # frames of about one size each
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cut.mp4 is damaged or cut short .* its frames stop "
                                         r"after .* of the 4.00 s it declares; expected an image"):
        parse_background(str(cut))
    with parse_background(str(whole)):  # the whole file is fine
        pass


def test_truncated_jpeg_is_named(tmp_path: Path) -> None:
    source = (ASSETS / "studio.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(source[:200])
    with pytest.raises(InputError, match="cut.jpg.*expected an image"):
        parse_background(str(path))


def test_video_frames_are_chosen_by_time_and_wrap(tmp_path: Path) -> None:
    frames = synthetic_frames(5)
    with LoopingVideo(write_clip(tmp_path / "clip.mp4", frames, FPS)) as video:
        assert video.period == pytest.approx(0.2)
        seen = [nearest(video.frame_at(t, (64, 48)), frames) for t in (0.0, 0.05, 0.1, 0.19)]
        assert seen == [0, 1, 2, 4]
        # Past the end it starts again, and a jump of whole periods lands on the same frame.
        assert nearest(video.frame_at(0.21, (64, 48)), frames) == 0
        assert nearest(video.frame_at(0.45, (64, 48)), frames) == 1
        assert nearest(video.frame_at(10.13, (64, 48)), frames) == 3


def test_a_raw_stream_without_times_loops_at_its_rate(tmp_path: Path) -> None:
    """A raw H.264 file (an encoder's or a camera's elementary stream) has no times at all.
    It reads as an input at its frame rate; as a background it was refused as "no video frame
    in it". Its frames play at its rate, and the loop starts again (reopened: it cannot seek)."""
    frames = synthetic_frames(5)
    raw = write_clip(tmp_path / "clip.h264", frames, FPS)
    with LoopingVideo(raw) as video:
        assert video.period == pytest.approx(0.2)
        seen = [nearest(video.frame_at(t, (64, 48)), frames)
                for t in (0.0, 0.05, 0.1, 0.19, 0.21, 0.45)]
    assert seen == [0, 1, 2, 4, 0, 1]


def test_a_time_that_is_no_number_is_refused(tmp_path: Path) -> None:
    """A NaN falls nowhere in the loop: the video once played on in search of it for ever,
    at full speed on a core. It is refused, and the video goes on as before."""
    frames = synthetic_frames(5)
    with LoopingVideo(write_clip(tmp_path / "clip.mp4", frames, FPS)) as video:
        assert nearest(video.frame_at(0.1, (64, 48)), frames) == 2
        for bad in (float("nan"), float("inf"), -float("inf")):
            answer: list[object] = []

            def ask(t: float = bad, answer: list[object] = answer) -> None:
                try:
                    answer.append(video.frame_at(t, (64, 48)))
                except InputError as err:
                    answer.append(err)

            asking = threading.Thread(target=ask, daemon=True)
            asking.start()
            asking.join(10)
            assert not asking.is_alive(), f"frame_at({bad}) never returned"
            assert isinstance(answer[0], InputError)
            assert "a time must be a finite number of seconds" in str(answer[0])
        assert nearest(video.frame_at(0.15, (64, 48)), frames) == 3


def test_video_frames_have_the_requested_size_even_when_it_changes(tmp_path: Path) -> None:
    frames = synthetic_frames(5)
    with LoopingVideo(write_clip(tmp_path / "clip.mp4", frames, FPS)) as video:
        assert video.frame_at(0.0, (32, 24)).shape == (24, 32, 3)
        assert video.frame_at(0.04, (100, 30)).shape == (30, 100, 3)
        for step in range(20):  # through several loops at a camera's 30 fps
            assert video.frame_at(0.1 + step / 30, (128, 72)).shape == (72, 128, 3)


def test_a_video_stored_on_its_side_plays_upright(tmp_path: Path) -> None:
    frames = synthetic_frames(5)
    stored = [on_its_side(frame, -90) for frame in frames]
    with LoopingVideo(write_clip(tmp_path / "phone.mp4", stored, FPS, rotation=-90)) as video:
        shown = video.frame_at(0.0, (64, 48))
    assert np.abs(shown.astype(int) - frames[0]).mean() < 10


def test_a_render_thread_never_waits_for_the_decoder(shared_data: Path, tmp_path: Path) -> None:
    # An HDR clip: its decoder spends over a second setting up tone mapping before the first
    # frame, long enough to see that a non-blocking call does not wait for it.
    frames = [read_image(path) for path in
              sorted((shared_data / "davis-person" / "lucia" / "frames").iterdir())[:3]]
    with LoopingVideo(hdr_clip(tmp_path / "hdr.mp4", frames, "hlg")) as video:
        start = time.perf_counter()
        assert video.frame_at(0.0, (160, 90), block=False) is None
        assert time.perf_counter() - start < 0.1
        first = video.frame_at(0.0, (160, 90))  # blocks until decoded
        assert first.shape == (90, 160, 3)
        assert video.frame_at(0.01, (160, 90), block=False) is first


def test_video_thread_stops_on_close(tmp_path: Path) -> None:
    video = LoopingVideo(write_clip(tmp_path / "clip.mp4", synthetic_frames(5), FPS))
    assert decoder_threads() == ["LoopingVideo(clip.mp4)"]
    video.frame_at(0.0, (64, 48))
    video.close()
    assert decoder_threads() == []


@pytest.mark.parametrize("name, codec", [("loop.gif", "gif"), ("loop.png", "apng")])
def test_an_animated_gif_or_png_plays_as_a_loop(tmp_path: Path, name: str, codec: str) -> None:
    """As OBS's image source plays them; a still picture of the first frame was all it gave."""
    frames = [np.full((48, 64, 3), (250 * (i % 2), 40 * i, 0), np.uint8) for i in range(4)]
    with parse_background(str(animation(tmp_path / name, codec, frames))) as background:
        assert isinstance(background, LoopingVideo) and background.period == pytest.approx(0.4)
        seen = [nearest(background.frame_at(t, (64, 48)), frames) for t in (0, 0.1, 0.25, 0.45)]
    assert seen == [0, 1, 2, 0]


@pytest.mark.parametrize("name, codec", [("still.gif", "gif"), ("still.png", "apng")])
def test_a_one_frame_gif_or_png_is_a_picture(tmp_path: Path, name: str, codec: str) -> None:
    frame = np.full((48, 64, 3), (0, 200, 0), np.uint8)
    with parse_background(str(animation(tmp_path / name, codec, [frame]))) as background:
        assert isinstance(background, ImageBackground)


@pytest.mark.parametrize(("codec", "name"), [("qtrle", "wall.mov"), ("prores_ks", "wall.mov"),
                                             ("libvpx-vp9", "wall.webm")])
def test_a_video_background_s_transparent_part_is_black(tmp_path: Path, codec: str,
                                                        name: str) -> None:
    """As a picture's is, and as OBS shows it on an empty scene: not the colour hidden under
    it (here green), which came back when the frames were converted to RGB alone."""
    wall = np.zeros((48, 64, 4), np.uint8)
    wall[:, :32] = (0, 250, 0, 0)  # green, transparent
    wall[:, 32:] = (250, 0, 0, 255)  # opaque red
    with parse_background(str(write_alpha_clip(tmp_path / name, [wall] * 5, FPS, codec)),
                          "stretch") as background:
        plate = background.plate(np.zeros((24, 32, 3), np.uint8), np.zeros((24, 32), np.uint8),
                                 0.1).astype(int)
    assert plate.shape == (24, 32, 3)
    assert plate[:, :14].max() <= 2
    assert np.abs(plate[:, 18:] - (250, 0, 0)).max() <= 8
