"""`obs-bgremover replace` end to end: real model, real files in, real files out."""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clip_writer import write_alpha_clip, write_clip
from support import animation, command, frame_times, packet_span, synthetic_frames

from obs_bgremover.backgrounds import ASSETS
from obs_bgremover.cli import main
from obs_bgremover.media import open_container, open_frames
from obs_bgremover.pictures import read_image

GREEN = (0, 177, 64)


@pytest.fixture(scope="module")
def portrait(shared_data: Path) -> tuple[Path, np.ndarray]:
    image = shared_data / "portraits-dev" / "images" / "00015.jpg"
    mask = cv2.imread(str(shared_data / "portraits-dev" / "masks" / "00015.png"), 0) > 127
    return image, mask


def inner(mask: np.ndarray, pixels: int = 12) -> np.ndarray:
    """The mask shrunk by a few pixels: where the answer does not depend on the exact edge."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * pixels + 1,) * 2, np.uint8)) > 0


def test_image_shows_the_new_background_behind_the_person(portrait, tmp_path: Path) -> None:
    image, truth = portrait
    out = tmp_path / "green.png"
    assert main(["replace", str(image), "-b", "color:#00B140", "-o", str(out)]) == 0
    result, original = read_image(out), read_image(image)
    background = inner(~truth)
    person = inner(truth)
    on_green = np.all(np.abs(result.astype(int) - GREEN) <= 8, axis=2)
    assert on_green[background].mean() > 0.97
    unchanged = np.abs(result.astype(int) - original).max(axis=2) <= 8
    assert unchanged[person].mean() > 0.97


def test_transparent_image_is_rgba_with_the_matte(portrait, tmp_path: Path) -> None:
    image, truth = portrait
    out = tmp_path / "cutout.png"
    assert main(["replace", str(image), "-b", "transparent", "-o", str(out)]) == 0
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert rgba.shape[2] == 4
    assert (rgba[..., 3][inner(truth)] == 255).mean() > 0.97
    assert (rgba[..., 3][inner(~truth)] == 0).mean() > 0.97


def test_what_an_image_leaves_transparent_stays_so_or_shows_the_background(
        portrait, tmp_path: Path) -> None:
    """A portrait with its left half erased (alpha 0, the colours kept under it, as a layer
    editor leaves them): the person's erased half once came back, opaque."""
    image, truth = portrait
    rgba = cv2.cvtColor(read_image(image), cv2.COLOR_RGB2RGBA)
    half = rgba.shape[1] // 2
    rgba[:, :half, 3] = 0
    erased = tmp_path / "erased.png"
    cv2.imwrite(str(erased), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    assert truth[:, :half].mean() > 0.2  # the erased half holds a good part of the person
    cutout, green = tmp_path / "cutout.png", tmp_path / "green.png"
    assert main(["replace", str(erased), "-b", "transparent", "-o", str(cutout)]) == 0
    assert main(["replace", str(erased), "-b", "color:#00B140", "-o", str(green)]) == 0
    alpha = cv2.imread(str(cutout), cv2.IMREAD_UNCHANGED)[..., 3]
    assert not alpha[:, :half].any()
    assert (alpha[:, half:][inner(truth)[:, half:]] == 255).mean() > 0.97
    on_green = np.all(np.abs(read_image(green).astype(int) - GREEN) <= 8, axis=2)
    assert on_green[:, :half].all()


def test_what_an_image_hides_does_not_show_through_a_blur(portrait, tmp_path: Path) -> None:
    """The blurred background is made from the input's own picture: the colours an input kept
    under its transparent part (red here) showed as a red strip and bled into the blur. Two
    inputs that differ only in what they hide now come out alike."""
    image, _ = portrait
    rgba = cv2.cvtColor(read_image(image), cv2.COLOR_RGB2RGBA)
    third = rgba.shape[1] // 3
    rgba[:, :third, 3] = 0
    outputs = []
    for hidden in ((255, 0, 0), (0, 0, 255)):
        rgba[:, :third, :3] = hidden
        erased, out = tmp_path / f"erased-{hidden}.png", tmp_path / f"blurred-{hidden}.png"
        cv2.imwrite(str(erased), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
        assert main(["replace", str(erased), "-b", "blur", "-o", str(out)]) == 0
        outputs.append(read_image(out).astype(int))
    # The network sees the hidden colours (the matte of the visible part may shift a little
    # with them); the composite must not show them.
    difference = np.abs(outputs[0] - outputs[1])
    assert difference[:, :third].mean() < 1 and difference.mean() < 1


@pytest.mark.parametrize(("codec", "suffix"), [("prores_ks", ".mov"), ("libvpx-vp9", ".webm")])
def test_what_a_video_leaves_transparent_stays_so_or_shows_the_background(
        portrait, tmp_path: Path, codec: str, suffix: str) -> None:
    """A clip of the portrait with its left half erased, as an editor exports it (ProRes 4444)
    or as the web and our own transparent renders carry it (VP9 WebM), then our transparent
    render of it put over green: read without their alpha, the person's erased half came back,
    opaque, and over green."""
    image, truth = portrait
    rgba = cv2.cvtColor(read_image(image), cv2.COLOR_RGB2RGBA)
    half = rgba.shape[1] // 2
    rgba[:, :half, 3] = 0
    erased = write_alpha_clip(tmp_path / f"erased{suffix}", [rgba] * 3, 10, codec)
    cutout, green = tmp_path / "cutout.webm", tmp_path / "green.mp4"
    assert main(["replace", str(erased), "-b", "transparent", "-o", str(cutout)]) == 0
    assert main(["replace", str(cutout), "-b", "color:#00B140", "-o", str(green)]) == 0
    left, right = np.s_[:, : half - 8], np.s_[:, half + 8 :]
    for (_, shown), (_, cut) in zip(open_frames(green), open_frames(cutout), strict=True):
        on_green = np.all(np.abs(shown.astype(int) - GREEN) <= 8, axis=2)
        assert on_green[left].all()
        alpha = cut[..., 3]
        assert not alpha[left].any()
        assert (alpha[right][inner(truth)[right]] >= 250).mean() > 0.97


def test_a_background_picture_s_transparent_part_is_black(portrait, tmp_path: Path) -> None:
    """Not the colour hidden under it (here red), which no viewer shows."""
    image, truth = portrait
    wall = np.zeros((40, 40, 4), np.uint8)
    wall[..., 2] = 255  # red in BGRA
    wall[:, :20] = (255, 0, 0, 255)  # opaque blue on the left
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), wall)
    out = tmp_path / "out.png"
    assert main(["replace", str(image), "-b", str(path), "--fit", "stretch", "-o", str(out)]) == 0
    result = read_image(out).astype(int)
    background = inner(~truth)
    right = np.zeros_like(background)
    right[:, result.shape[1] // 2 + 8:] = True
    assert (result[background & right].max(axis=1) <= 8).mean() > 0.97


def test_video_keeps_frame_rate_size_frames_and_sound(shared_data: Path, tmp_path: Path) -> None:
    clip = shared_data / "talking-heads" / "speaker2.mp4"
    out = tmp_path / "render.mp4"
    assert main(["replace", str(clip), "-b", "flow", "-o", str(out)]) == 0
    with av.open(str(clip)) as original, av.open(str(out)) as rendered:
        a, b = original.streams.video[0], rendered.streams.video[0]
        assert (b.width, b.height) == (a.width, a.height)
        assert float(b.average_rate) == pytest.approx(float(a.average_rate), rel=1e-3)
        assert len(rendered.streams.audio) == 1
        assert rendered.duration / 1e6 == pytest.approx(original.duration / 1e6, abs=0.1)
        count = sum(1 for _ in rendered.decode(video=0))
    with av.open(str(clip)) as original:
        assert count == sum(1 for _ in original.decode(video=0))


def test_an_odd_sized_video_loses_its_last_row_and_column_in_h264(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [read_image(path)[:479, :853] for path in
              sorted((shared_data / "davis-person" / "lucia" / "frames").iterdir())[:3]]
    clip = write_clip(tmp_path / "odd.mkv", frames, 25, pix_fmt="yuv444p")
    out = tmp_path / "odd.mp4"
    assert main(["replace", str(clip), "-b", "dusk", "-o", str(out)]) == 0
    assert "cropped from 853x479 to 852x478" in capsys.readouterr().out
    with av.open(str(out)) as rendered:
        assert len([frame for frame in rendered.decode(video=0)]) == 3
        assert (rendered.streams.video[0].width, rendered.streams.video[0].height) == (852, 478)


def test_a_variable_frame_rate_video_keeps_its_frame_times(tmp_path: Path) -> None:
    times = [index / 30 for index in range(12)] + [0.4 + index / 15 for index in range(6)]
    source = write_clip(tmp_path / "phone.mp4", synthetic_frames(18), 30, times=times)
    out = tmp_path / "out.webm"
    assert main(["replace", str(source), "-b", "dusk", "-o", str(out)]) == 0
    assert frame_times(out) == pytest.approx(times, abs=0.002)


def cut_between_key_frames(source: Path, path: Path, skip: int) -> Path:
    """``source`` without its first ``skip`` video packets (and the sound before them), as a
    copy cut without re-encoding: the file starts with frames that do not decode."""
    with av.open(str(source)) as original, av.open(str(path), "w") as cut:
        video, audio = original.streams.video[0], original.streams.audio[0]
        streams = {"video": cut.add_stream_from_template(video),
                   "audio": cut.add_stream_from_template(audio)}
        start, seen = None, 0
        for packet in original.demux(video, audio):
            if packet.dts is None:
                continue
            if packet.stream.type == "video":
                seen += 1
                if seen <= skip:
                    continue
                start = packet.pts * packet.time_base if start is None else start
            elif start is None:
                continue
            packet.stream = streams[packet.stream.type]
            cut.mux(packet)
    return path


def test_a_clip_cut_between_key_frames_keeps_its_sound_in_sync(tmp_path: Path) -> None:
    # Key frames at 0, 1 and 2 s: cut at 0.4 s, the picture only resumes at 1 s.
    whole = write_clip(tmp_path / "whole.mp4", synthetic_frames(50, 96, 128), 25,
                       encoder={"g": "25", "bf": "0"}, audio_seconds=2.0)
    cut = cut_between_key_frames(whole, tmp_path / "cut.mp4", skip=10)
    out = tmp_path / "out.mp4"
    assert main(["replace", str(cut), "-b", "dusk", "-o", str(out)]) == 0
    # The sound starts 0.6 s before the first picture, as in the cut file (AAC's first
    # packet starts 23 ms early).
    assert packet_span(out, "video")[0] - packet_span(out, "audio")[0] == pytest.approx(
        0.6, abs=0.03)


def test_sample_renders_with_a_builtin_background(tmp_path: Path) -> None:
    out = tmp_path / "sample.webm"
    assert main(["replace", "--sample", "-b", "transparent", "-o", str(out)]) == 0
    with av.open(str(out)) as rendered:
        assert rendered.streams.video[0].metadata.get("alpha_mode") == "1"


@pytest.mark.parametrize(
    ("background", "message"),
    [
        ("color:#12345", "#RRGGBB"),
        ("color:blue?", "#RRGGBB"),
        ("no-such-background", "no-such-background"),
        ("blur:0", "blur"),
        ("", "the background is empty"),  # was "( is a folder, not a file)"
    ],
)
def test_bad_background_is_named_and_nothing_is_written(
    portrait, tmp_path: Path, capsys: pytest.CaptureFixture[str], background: str, message: str
) -> None:
    image, _ = portrait
    out = tmp_path / "out" / "result.png"
    assert main(["replace", str(image), "-b", background, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_undecodable_video_background_is_refused(portrait, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    image, _ = portrait
    fake = tmp_path / "loop.mp4"
    fake.write_text("not a video")
    out = tmp_path / "result.png"
    assert main(["replace", str(image), "-b", str(fake), "-o", str(out)]) == 2
    assert "loop.mp4" in capsys.readouterr().err
    assert not out.exists()


def test_transparent_video_into_mp4_is_refused_before_work(shared_data: Path, tmp_path: Path,
                                                           capsys) -> None:
    clip = shared_data / "talking-heads" / "speaker2.mp4"
    out = tmp_path / "cutout.mp4"
    assert main(["replace", str(clip), "-b", "transparent", "-o", str(out)]) == 2
    assert ".webm" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_is_not_a_video_output_whatever_its_name(shared_data: Path, tmp_path: Path,
                                                          capsys) -> None:
    """A folder without a video's extension was told to "use one of .mkv, .mov, ..."."""
    clip = shared_data / "talking-heads" / "speaker2.mp4"
    for name in ("results", "results.mp4"):
        (tmp_path / name).mkdir()
        assert main(["replace", str(clip), "-b", "studio", "-o", str(tmp_path / name)]) == 2
        assert (f"output {tmp_path / name} is a folder; name the video file to write"
                in capsys.readouterr().err)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["results", "results.mp4"]


def test_a_bad_image_output_is_refused_before_work(portrait, tmp_path: Path, capsys) -> None:
    """Refused before the model loads (here it could not) and before any folder is made: the
    refusal once came after the matting, leaving the output's new folders behind."""
    image, _ = portrait
    (tmp_path / "taken.png").mkdir()
    (tmp_path / "results").mkdir()  # was told to "use .png, .jpg, ..."
    missing_model = str(tmp_path / "no-such-model.onnx")
    for background, output, said in (
            ("studio", tmp_path / "new" / "deep" / "x.tif", "use .png, .jpg"),
            ("transparent", tmp_path / "new" / "x.jpg", "needs .png or .webp"),
            ("studio", tmp_path / "new" / "x", "use .png, .jpg"),
            ("studio", tmp_path / "taken.png", "is a folder"),
            ("studio", tmp_path / "results", "is a folder")):
        assert main(["replace", str(image), "-b", background, "-o", str(output),
                     "--model", missing_model]) == 2
        assert said in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["results", "taken.png"]


def test_a_folder_is_not_a_replace_input(shared_data: Path, tmp_path: Path, capsys) -> None:
    folder = shared_data / "davis-person" / "lucia" / "frames"
    assert main(["replace", str(folder), "-b", "dusk", "-o", str(tmp_path / "x.png")]) == 2
    assert "folder" in capsys.readouterr().err


def test_output_that_is_the_input_or_the_background_is_refused(
    portrait, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Writing there would replace the very file the job reads, under any name that reaches it.
    image, _ = portrait
    own = tmp_path / "me.jpg"
    shutil.copy(image, own)
    link = tmp_path / "link.jpg"
    link.symlink_to(own)
    wall = tmp_path / "wall.jpg"
    shutil.copy(ASSETS / "studio.jpg", wall)
    files = {path: path.read_bytes() for path in (own, wall)}
    for background, output, role in ((str(wall), own, "input"), (str(wall), link, "input"),
                                     (str(wall), wall, "background")):
        assert main(["replace", str(own), "-b", background, "-o", str(output)]) == 2
        assert f"is the {role} itself" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in files} == files


def test_an_output_that_cannot_be_made_is_named_without_errno(
    portrait, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, _ = portrait
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    out = tmp_path / "notes.txt" / "result.png"
    assert main(["replace", str(image), "-b", "studio", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot make the folder {out.parent}: {out.parent} is a file" in err
    assert "[Errno" not in err


@pytest.mark.parametrize("name", ["x.png", "x.mp4"])
def test_a_folder_that_takes_no_files_is_refused_before_work(
    name: str, portrait, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """/proc answers "No such file or directory" for any new file in it: a video was refused
    with FFmpeg's words for it at its first frame, an image after its matting."""
    image, _ = portrait
    source = image if name.endswith(".png") else write_clip(
        tmp_path / "clip.mp4", synthetic_frames(3, 48, 64), 10)
    missing_model = str(tmp_path / "no-such-model.onnx")  # refused before the model loads
    assert main(["replace", str(source), "-b", "studio", "-o", f"/proc/{name}",
                 "--model", missing_model]) == 2
    assert ("cannot write into the output folder /proc (it takes no new files)"
            in capsys.readouterr().err)


@pytest.mark.parametrize("kind", ["image", "video"])
def test_a_read_only_drive_is_named_by_the_output(
    kind: str, portrait, tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a read-only drive even removing the partial file that was never made fails; that
    error replaced the one naming the output, and the user was told about a hidden
    ``.result.1a2b3c4d.part.png``. (A stand-in for the drive: tests cannot mount one.)"""
    image, _ = portrait
    source = image if kind == "image" else write_clip(
        tmp_path / "clip.mp4", synthetic_frames(3, 48, 64), 10)

    def refused(path: object) -> OSError:
        return OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def read_only_open(path: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "r" not in mode:
            raise refused(path)
        return open(path, mode, *args, **kwargs)

    def read_only_container(path: object, mode: str = "r", **options: object) -> object:
        if mode != "r":
            raise refused(path)
        return open_container(path, mode, **options)

    def read_only_unlink(path: Path, missing_ok: bool = False) -> None:
        raise refused(path)

    # The drive took the trial file before the work (it went read-only since, as drives do
    # after an error), so the refusal comes from the writing itself.
    monkeypatch.setattr("obs_bgremover.cli.refuse_unwritable", lambda folder: None)
    monkeypatch.setattr("obs_bgremover.pictures.open", read_only_open, raising=False)
    monkeypatch.setattr("obs_bgremover.video_sink.open_container", read_only_container)
    monkeypatch.setattr(Path, "unlink", read_only_unlink)
    out = tmp_path / ("result.png" if kind == "image" else "result.mp4")
    assert main(["replace", str(source), "-b", "studio", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}: Read-only file system" in err and ".part" not in err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["ctrl-c", "sigterm", "terminal-closed"])
def test_a_stopped_video_leaves_no_partial_output(stop: signal.Signals, tmp_path: Path) -> None:
    """`timeout`, `kill` and service managers stop with SIGTERM, a closed terminal or a lost
    SSH session with SIGHUP; each must clean up as Ctrl-C does, not leave a hidden ``.part``
    file per stopped run."""
    clip = write_clip(tmp_path / "long.mp4", synthetic_frames(30, 240, 320), 30, repeat=40)
    process = command("replace", clip, "-b", "dusk", "-o", tmp_path / "out.mp4",
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and not any(
            part.stat().st_size for part in tmp_path.glob(".out.*.part.mp4")
        ):
            time.sleep(0.05)
        assert process.poll() is None, "the render ended before it could be stopped"
        process.send_signal(stop)
        err = process.communicate(timeout=30)[1]
    finally:
        process.kill()
    assert process.returncode == 128 + stop, err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["long.mp4"]


@pytest.mark.parametrize("start", [0.0, 0.5], ids=["from-0", "video-from-0.5s"])
def test_a_video_cut_short_is_named_and_nothing_written(
    start: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Matroska file keeps its header, and its declared length, when a download or copy is
    cut off; its decodable part once came out as a shorter video without a word. A video that
    starts after 0 (trimmed, or muxed with a sync offset) is whole: its ``DURATION`` tag is
    where it ends, and was once taken for its length, which refused every such file."""
    whole = write_clip(tmp_path / "whole.mkv", synthetic_frames(90, 120, 160), 30, start=start)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(0.6 * len(data))])
    out = tmp_path / "out" / "result.mp4"
    assert main(["replace", str(cut), "-b", "dusk", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{cut} is damaged or cut short" in err and "of the 3.00 s it declares" in err
    assert not out.parent.exists(), "the folder made for the output stays behind"
    assert main(["replace", str(whole), "-b", "dusk", "-o", str(out)]) == 0


def test_an_error_starts_a_line_of_its_own_after_the_progress_line(
        tmp_path: Path, monkeypatch) -> None:
    """On a terminal the progress line was left open when a run failed, so the error ran on
    from it: ``replace 70/?obs-bgremover: error: ...``."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    whole = write_clip(tmp_path / "whole.mkv", synthetic_frames(90, 120, 160), 30)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: int(0.6 * whole.stat().st_size)])
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["replace", str(cut), "-b", "dusk", "-o", str(tmp_path / "out.mp4")]) == 2
    written = terminal.getvalue()
    assert written.startswith("\rreplace ") and "\nobs-bgremover: error: " in written


def test_a_video_whose_first_track_is_a_thumbnail_is_read_by_its_main_track(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Players pick a file's best video stream; taking the first listed gave a one-frame video
    of a thumbnail track muxed before the real one."""
    frames = synthetic_frames(12, 120, 160)
    clip = tmp_path / "with-thumbnail.mkv"
    with av.open(str(clip), "w") as output:
        thumbnail = output.add_stream("mjpeg")
        thumbnail.width, thumbnail.height, thumbnail.pix_fmt = 64, 48, "yuvj420p"
        video = output.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        for stream, pictures in ((thumbnail, [np.zeros((48, 64, 3), np.uint8)]),
                                 (video, frames)):
            for picture in pictures:
                output.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
            output.mux(stream.encode())
    out = tmp_path / "result.mp4"
    assert main(["replace", str(clip), "-b", "dusk", "-o", str(out)]) == 0
    assert "(12 frames" in capsys.readouterr().out
    with av.open(str(out)) as result:
        assert (result.streams.video[0].width, result.streams.video[0].height) == (160, 120)


def test_an_animated_gif_is_a_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As a background it loops; as the input it is a clip, its frames at their own times."""
    frames = synthetic_frames(6, 48, 64)
    gif = animation(tmp_path / "wave.gif", "gif", frames, fps=5)
    out = tmp_path / "wave.mp4"
    assert main(["replace", str(gif), "-b", "dusk", "-o", str(out)]) == 0
    assert "(6 frames" in capsys.readouterr().out
    assert frame_times(out) == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], abs=0.01)


def test_file_names_that_are_not_utf8_are_read(portrait, tmp_path: Path) -> None:
    """A Latin-1 name (old archives, network shares) is legal on Linux; OpenCV's signature
    check crashed the process on it (exit 139), as the input, the background or an animation."""
    image, _ = portrait
    photo = tmp_path / os.fsdecode(b"caf\xe9.jpg")
    shutil.copy(image, photo)
    gif = animation(tmp_path / os.fsdecode(b"vag\xe9.gif"), "gif", synthetic_frames(3, 48, 64))
    for source, background, out in ((photo, photo, "photo.png"), (gif, gif, "wave.mp4")):
        process = command("replace", source, "-b", background, "-o", tmp_path / out,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert (tmp_path / out).is_file()


def test_relative_names_with_a_colon_are_files(tmp_path: Path, monkeypatch) -> None:
    """FFmpeg took ``take:2.webm`` for a protocol named "take" ("Protocol not found"), as the
    input, the background and the output alike; a camera's time-stamped names have colons."""
    monkeypatch.chdir(tmp_path)
    write_clip(tmp_path / "take:2.mp4", synthetic_frames(4, 48, 64), 10)
    write_clip(tmp_path / "loop:1.mp4", synthetic_frames(3, 48, 64), 10)
    assert main(["replace", "take:2.mp4", "-b", "loop:1.mp4", "-o", "out:1.mp4"]) == 0
    assert len(frame_times(tmp_path / "out:1.mp4")) == 4
