"""Render mode end to end: real huey consumers (in the ``render`` command's process, and
``obs-bgremover worker`` processes on a real redis-server), real clips, real output files.

Renders are kept small (short clips, low resolution, low frame rates) so the file runs in well
under a minute and a half on two cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clip_writer import write_clip
from huey.constants import EmptyData
from support import (
    animation,
    command,
    frame_times,
    heic_file,
    on_its_side,
    phone_jpeg,
    poll,
    synthetic_frames,
)

from obs_bgremover import cli
from obs_bgremover.errors import InputError
from obs_bgremover.render import RenderQueue, RenderSettings, open_huey, tasks
from obs_bgremover.render.job import (
    _fitted,
    fit_size,
    frame_at,
    render_preview,
    render_video,
    scaling_note,
)
from obs_bgremover.render.probe import probe
from obs_bgremover.render.queue import DATA_ENV, swap_data

GREEN = (0x00, 0xB1, 0x40)


@pytest.fixture(autouse=True)
def data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own SQLite queue."""
    folder = tmp_path / "data"
    monkeypatch.setenv(DATA_ENV, str(folder))
    return folder


def talking_frames(shared_data: Path, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """The first frames of a real talking head, resized."""
    frames = []
    with av.open(str(shared_data / "talking-heads" / "speaker5.mp4")) as container:
        for frame in container.decode(video=0):
            frames.append(cv2.resize(frame.to_ndarray(format="rgb24"), size))
            if len(frames) == count:
                return frames
    raise AssertionError("speaker5.mp4 is shorter than expected")


def describe(path: Path) -> dict[str, object]:
    """What a player sees in a video: size, frame rate, frame count, durations, audio."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video)]
        audio_end = 0.0
        if audio is not None:
            container.seek(0)
            for packet in container.demux(audio):
                if packet.pts is not None:
                    audio_end = max(audio_end,
                                    float((packet.pts + packet.duration) * packet.time_base))
        return {
            "size": (video.codec_context.width, video.codec_context.height),
            "rate": video.average_rate,
            "frames": frames,
            "duration": len(frames) / video.average_rate,
            "audio_end": audio_end if audio is not None else None,
            "codec": video.codec_context.name,
        }


def render(*args: str) -> int:
    return cli.main(["render", *args, "--device", "cpu"])


def top_corners(image: np.ndarray) -> list[np.ndarray]:
    """The top corners' RGB: background in a talking head (the bottom ones are the jacket)."""
    return [image[2, x, :3].astype(int) for x in (2, -3)]


def assert_no_leftovers(folder: Path, expected: set[str]) -> None:
    """Only the expected files, and no staging folders or temporary files, are in ``folder``."""
    assert {path.name for path in folder.iterdir()} == expected


def test_sqlite_render_of_a_talking_head(shared_data: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    source = shared_data / "talking-heads" / "speaker5.mp4"
    output = tmp_path / "out" / "speaker.mp4"
    assert render(str(source), "-b", "color:#00B140", "-o", str(output)) == 0
    printed = capsys.readouterr().out
    assert "rendering in this process" in printed
    assert f"wrote {output} (524x524)" in printed and "scaled" not in printed
    result, original = describe(output), describe(source)
    assert result["codec"] == "h264"
    assert result["size"] == original["size"] == (524, 524)
    assert result["rate"] == original["rate"] == 25
    assert len(result["frames"]) == len(original["frames"])
    assert result["audio_end"] == pytest.approx(original["audio_end"], abs=0.05)
    for frame in result["frames"][:: len(result["frames"]) // 4]:
        for corner in top_corners(frame):
            assert np.abs(corner - GREEN).max() < 20, corner
    assert_no_leftovers(output.parent, {"speaker.mp4"})
    # The status outlives the process that rendered: a new queue on the same file lists it.
    assert cli.main(["jobs"]) == 0
    listing = capsys.readouterr().out
    assert "done" in listing and "100%" in listing and str(source.resolve()) in listing


def test_preview_gives_a_composite_and_a_cutout(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "talking-heads" / "speaker5.mp4"
    output = tmp_path / "preview.png"
    assert render(str(source), "-b", "color:#00B140", "-o", str(output), "--preview-at",
                  "2.5") == 0
    composite = cv2.imread(str(output), cv2.IMREAD_UNCHANGED)
    cutout = cv2.imread(str(tmp_path / "preview-cutout.png"), cv2.IMREAD_UNCHANGED)
    assert composite.shape == (524, 524, 3)
    assert cutout.shape == (524, 524, 4)
    for corner in top_corners(composite[..., ::-1]):
        assert np.abs(corner - GREEN).max() < 20
    alpha = cutout[..., 3]
    assert alpha[:5, :5].max() == 0 and alpha[262, 262] == 255
    assert_no_leftovers(tmp_path, {"data", "preview.png", "preview-cutout.png"})


def test_phone_footage_is_rendered_upright(shared_data: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # A portrait photo and a portrait clip, each stored on its side as phones store them.
    upright = cv2.cvtColor(cv2.imread(str(shared_data / "portraits-dev" / "images" / "00015.jpg")),
                           cv2.COLOR_BGR2RGB)  # 600x800
    truth = cv2.imread(str(shared_data / "portraits-dev" / "masks" / "00015.png"), 0) > 127
    photo = phone_jpeg(tmp_path / "photo.jpg", upright)
    clip = write_clip(tmp_path / "clip.mp4", [on_its_side(upright, 90)] * 3, 5, rotation=90)
    previews = tmp_path / "photo-green.png", tmp_path / "clip-green.png"
    video = tmp_path / "clip-green.mp4"
    for source, preview in zip((photo, clip), previews, strict=True):
        assert render(str(source), "-b", "color:#00B140", "-o", str(preview),
                      "--preview-at", "0.2") == 0
    assert render(str(clip), "-b", "color:#00B140", "-o", str(video)) == 0
    printed = capsys.readouterr().out
    assert printed.count("(600x800)") == 3
    composites = [*(cv2.imread(str(path))[..., ::-1] for path in previews),
                  describe(video)["frames"][-1]]
    for composite in composites:
        assert composite.shape == upright.shape
        # Turned, the network would have seen a person lying down: the cut follows the truth.
        green = np.all(np.abs(composite.astype(int) - GREEN) <= 20, axis=2)
        assert (green == ~truth).mean() > 0.97


def test_a_render_onto_its_own_input_or_background_is_refused(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copy(shared_data / "talking-heads" / "speaker5.mp4", clip)
    wall = tmp_path / "shot-cutout.png"
    cv2.imwrite(str(wall), np.full((90, 160, 3), 200, np.uint8))
    files = {path: path.read_bytes() for path in (clip, wall)}
    preview = ("--preview-at", "1")
    # A preview shot.png also writes its cut-out, shot-cutout.png: here the background.
    for output, more, role in ((clip, (), "input"), (wall, preview, "background"),
                               (tmp_path / "shot.png", preview, "background")):
        assert render(str(clip), "-b", str(wall), "-o", str(output), *more) == 2
        assert f"is the {role} itself" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in files} == files
    assert not (tmp_path / "shot.png").exists()


@pytest.mark.parametrize(
    ("folder", "more", "kind"),
    [("clip-studio.mp4", (), "video"), ("shot.png", ("--preview-at", "1"), "image"),
     ("shot-cutout.png", ("--preview-at", "1"), "image")],
    ids=["video", "preview", "preview-cutout"],
)
def test_a_folder_in_an_outputs_place_is_refused_before_any_work(
    folder: str, more: tuple[str, ...], kind: str, shared_data: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Once the whole clip was rendered, then the final rename failed with a traceback and an
    "internal error"."""
    (tmp_path / folder).mkdir()

    def work(*args: object) -> None:
        raise AssertionError("the job did some work")  # fails the job: pytest.fail would hang it

    for name in ("render_video", "render_preview"):
        monkeypatch.setattr(tasks, name, work)
    output = tmp_path / (folder if kind == "video" else "shot.png")
    assert render(str(shared_data / "talking-heads" / "speaker5.mp4"), "-b", "studio",
                  "-o", str(output), *more) == 2
    err = capsys.readouterr().err
    assert f"output {tmp_path / folder} is a folder; name the {kind} file to write" in err
    assert "Traceback" not in err and "internal error" not in err
    assert_no_leftovers(tmp_path, {"data", folder})


@pytest.mark.parametrize(("input_name", "more", "message"), [
    ("notes.mp4", (), "is not a video or image FFmpeg can read"),
    ("speaker5.mp4", ("--preview-at", "99"), "cannot preview"),
    ("speaker5.mp4", ("--preview-at", "-1"), "cannot preview"),
], ids=["text-as-video", "preview-past-the-end", "preview-before-the-start"])
def test_an_input_a_render_would_fail_on_is_refused_before_it_is_queued(
    input_name: str, more: tuple[str, ...], message: str, shared_data: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found only in the job, which then stayed in `jobs` as failed."""
    source = shared_data / "talking-heads" / input_name
    if input_name == "notes.mp4":
        source = tmp_path / input_name
        source.write_text("milk, eggs, bread\n" * 100)
    output = tmp_path / ("shot.png" if more else "out.mp4")
    assert render(str(source), "-b", "studio", "-o", str(output), *more) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "queued" not in captured.out, captured.err
    assert cli.main(["jobs"]) == 0
    assert "no jobs" in capsys.readouterr().out


@pytest.mark.parametrize(("output", "more", "message"), [
    ("out.gif", ("-b", "studio"), "cannot render a video to out.gif: use .mp4"),
    ("out.mp4", ("-b", "transparent"), "cannot render a transparent video to out.mp4: use .webm "
                                       "or .mov"),
    # Background specs are read in any case: this one is transparent too.
    ("out.mp4", ("-b", "Transparent"), "cannot render a transparent video to out.mp4"),
    ("shot.jpg", ("-b", "studio", "--preview-at", "1"), "cannot write a preview to shot.jpg: "
                                                        "use .png"),
], ids=["gif", "transparent-mp4", "transparent-in-capitals", "jpeg-preview"])
def test_an_output_a_render_cannot_write_is_refused_before_it_is_queued(
    output: str, more: tuple[str, ...], message: str, shared_data: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found only in the job, once a consumer had started, and left in `jobs` as failed."""
    assert render(str(shared_data / "talking-heads" / "speaker5.mp4"), "-o",
                  str(tmp_path / output), *more) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "queued" not in captured.out
    assert cli.main(["jobs"]) == 0
    assert "failed" not in capsys.readouterr().out
    assert_no_leftovers(tmp_path, {"data"} if (tmp_path / "data").exists() else set())


def test_an_output_folder_that_takes_no_files_is_refused_before_it_is_queued(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only drive, another user's folder (/proc here, where root too is refused): the
    job was queued and failed with "internal error: PermissionError", naming nothing."""
    assert render(str(shared_data / "talking-heads" / "speaker5.mp4"), "-b", "dusk", "-o",
                  "/proc/out.mp4") == 2
    captured = capsys.readouterr()
    assert "cannot write into the output folder /proc (it takes no new files)" in captured.err
    assert "queued" not in captured.out


@pytest.mark.parametrize(("case", "message"), [
    ("output-is-input", "is the input itself"),
    ("output-is-background", "is the background itself"),
    ("file-in-the-outputs-folder", "is a file"),
    ("bad-colour", "colour '#GGGGGG' is not of the form #RRGGBB"),
    ("empty-background", "is empty (0 bytes)"),
    # A built-in's name mistyped: relative, so this folder's, where it is not.
    ("mistyped-builtin", "background 'studoi' is neither a built-in"),
    ("model-is-a-folder", "is not a file"),
])
def test_a_job_its_files_would_fail_is_refused_before_it_is_queued(
    case: str, message: str, shared_data: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each was queued, then failed in the job and stayed in `jobs` as failed."""
    source = tmp_path / "clip.mp4"
    shutil.copy(shared_data / "talking-heads" / "speaker5.mp4", source)
    (tmp_path / "empty.png").touch()
    (tmp_path / "models").mkdir()
    (tmp_path / "notes").write_text("a file")
    output, more = {
        "output-is-input": (source, ("-b", "studio")),
        "output-is-background": (tmp_path / "moving.mp4", ("-b", str(tmp_path / "moving.mp4"))),
        "file-in-the-outputs-folder": (tmp_path / "notes" / "out.mp4", ("-b", "studio")),
        "bad-colour": (tmp_path / "out.mp4", ("-b", "color:#GGGGGG")),
        "empty-background": (tmp_path / "out.mp4", ("-b", str(tmp_path / "empty.png"))),
        "mistyped-builtin": (tmp_path / "out.mp4", ("-b", "studoi")),
        "model-is-a-folder": (tmp_path / "out.mp4",
                              ("-b", "studio", "--model", str(tmp_path / "models"))),
    }[case]
    if case == "output-is-background":
        shutil.copy(source, output)
    before = sorted(tmp_path.rglob("*"))
    assert render(str(source), "-o", str(output), *more) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "queued" not in captured.out, captured.err
    assert cli.main(["jobs"]) == 0
    assert "no jobs" in capsys.readouterr().out
    assert sorted(path for path in tmp_path.rglob("*") if "data" not in path.parts) == [
        path for path in before if "data" not in path.parts]


@pytest.mark.parametrize(("flags", "message"), [
    (("--max-seconds", "inf"), "the length limit must be above 0 and at most 86400 s, got inf"),
    (("--max-seconds", "1e308"), "the length limit must be above 0 and at most 86400 s"),
    (("--preview-at", "nan"), "cannot preview"),
    # In its own process: this one's numbers may already be flushed to zero when that small.
    (("--edge-eps", "1e-320", "--preview-at", "0.2"),
     "argument --edge-eps: 1e-320 is too close to 0"),
], ids=["endless", "overflowing", "nan-preview", "tiny-knob"])
def test_a_number_a_render_cannot_use_is_refused_before_it_is_queued(
    flags: tuple[str, ...], message: str, shared_data: Path, tmp_path: Path
) -> None:
    """Each was queued and failed with a traceback ("internal error"); the tiny knob's record
    came back as 0.0, which failed to load and broke `jobs` for every later job."""
    source = shared_data / "talking-heads" / "speaker5.mp4"
    output = tmp_path / ("shot.png" if "--preview-at" in flags else "out.mp4")
    result = command("render", source, "-b", "studio", "-o", output, *flags,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = result.communicate(timeout=60)
    assert result.returncode == 2 and message in err and "queued" not in out, err
    assert "Traceback" not in err
    assert cli.main(["jobs"]) == 0


def test_a_record_this_version_cannot_read_breaks_nothing_else_and_can_be_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One record holding a knob of 0.0 made `jobs`, `jobs --delete` and every worker's keeper
    fail for the whole queue, until queue.db was removed by hand."""
    queue = RenderQueue(open_huey("sqlite"))
    good = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                        RenderSettings("dusk"))
    bad = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "bad.mp4",
                       RenderSettings("dusk"))
    stored = json.loads(bad.to_json())
    stored["settings"]["matting"]["edge_eps"] = 0.0
    queue.huey.storage.put_data(f"job:{bad.id}", json.dumps(stored).encode())
    assert [record.id for record in queue.jobs()] == [good.id]
    assert [job.job_id for job in queue.unreadable()] == [bad.id]
    assert queue.reclaim() == []
    queue.run(bad.id, 1)  # a worker that takes it leaves it be
    assert cli.main(["jobs"]) == 0
    captured = capsys.readouterr()
    assert good.id in captured.out
    assert (f"job {bad.id}'s record cannot be read (edge_eps must be a number above 0, got "
            f"0.0); 'obs-bgremover jobs --delete {bad.id}' removes it") in captured.err
    assert cli.main(["jobs", "--stop", bad.id]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert cli.main(["jobs", "--delete", bad.id]) == 0
    assert queue.unreadable() == [] and [record.id for record in queue.jobs()] == [good.id]
    # A plain field of another type: a string "created" made the listing's sort fail.
    stored = json.loads(good.to_json())
    stored["created"] = "yesterday"
    queue.huey.storage.put_data(f"job:{good.id}", json.dumps(stored).encode())
    assert queue.jobs() == [] and [job.job_id for job in queue.unreadable()] == [good.id]
    assert "created is 'yesterday', not a float" in str(queue.unreadable()[0])
    # A state or a kind this version does not know (a later one's), which every front end
    # would have to guess at.
    for field, value in (("status", "paused"), ("kind", "gif")):
        stored = json.loads(good.to_json())
        stored[field] = value
        queue.huey.storage.put_data(f"job:{good.id}", json.dumps(stored).encode())
        assert queue.jobs() == [] and f"'{value}' is not a valid" in str(queue.unreadable()[0])


def test_a_jobs_own_background_and_model_files_travel_as_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the input and output were made absolute: a worker started in another folder
    looked for `-b mine.png` there, and failed the job."""
    monkeypatch.chdir(tmp_path)
    queue = RenderQueue(open_huey("sqlite"))
    record = queue.submit("video", "clip.mp4", "out.mp4",
                          RenderSettings("mine.png", model="models/mine.onnx"))
    assert record.settings.background == str(tmp_path / "mine.png")
    assert record.settings.model == str(tmp_path / "models" / "mine.onnx")
    for spec in ("Studio", "blur:30", "color:#00B140", "transparent"):
        record = queue.submit("video", "clip.mp4", "out.mp4", RenderSettings(spec))
        assert (record.settings.background, record.settings.model) == (spec, "general")


def test_a_25_second_input_is_cut_to_10(shared_data: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    frames = talking_frames(shared_data, 25, (320, 240))
    source = write_clip(tmp_path / "long.mp4", frames * 5, 5, audio_seconds=25.0)
    output = tmp_path / "cut.mp4"
    assert render(str(source), "-b", "studio", "-o", str(output)) == 0
    assert "cut to the first 10 s of 25.0 s" in capsys.readouterr().out
    result = describe(output)
    assert len(result["frames"]) == 50 and result["duration"] == 10
    assert result["size"] == (320, 240) and result["rate"] == 5
    # Audio is copied packet by packet: it may run on by the packet that crosses 10 s (23 ms).
    assert result["audio_end"] == pytest.approx(10, abs=0.1)


def test_a_preview_just_past_the_end_says_the_length_as_precisely(tmp_path: Path) -> None:
    """"cannot preview ... at 0.2917 s (it is 0.29 s long)" refused a time that read as
    inside the clip."""
    source = write_clip(tmp_path / "clip.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 7, 24)
    with pytest.raises(InputError, match=r"at 0.2917 s \(it is 0.291667 s long\)"):
        render_preview(source, tmp_path / "shot.png", 0.2917, RenderSettings("dusk"))


def test_a_limit_under_a_frames_length_renders_the_first_frame(tmp_path: Path) -> None:
    """--max-seconds 0.001 was accepted, then failed the job: "no frames were written"."""
    source = write_clip(tmp_path / "clip.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 5, 10)
    result = render_video(source, tmp_path / "out.mp4", RenderSettings("dusk", max_seconds=0.001))
    assert result.frames == 1 and len(describe(tmp_path / "out.mp4")["frames"]) == 1


def test_a_4k_input_is_scaled_to_fit_1080p(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    source = write_clip(tmp_path / "uhd.mp4", synthetic_frames(3, 2160, 3840), 25)
    output = tmp_path / "fit.mp4"
    assert render(str(source), "-b", "blur", "-o", str(output)) == 0
    assert "scaled from 3840x2160 to 1920x1080 to fit 1920x1080" in capsys.readouterr().out
    result = describe(output)
    assert result["size"] == (1920, 1080) and len(result["frames"]) == 3


def test_a_picture_that_changes_shape_part_way_is_fitted_not_stretched() -> None:
    """Recordings joined end to end (a Matroska file may change size part way): the second
    part's frames were stretched into the first's size, as `replace` no longer does. The
    rounding of `fit_size` to even sizes still only stretches."""
    grey = np.full((32, 64, 3), 200, np.uint8)
    odd = np.full((63, 63, 3), 100, np.uint8)
    (_, rounded), (_, changed) = list(_fitted([(0.0, odd), (0.1, grey)], (62, 62)))
    assert rounded.shape == (62, 62, 3) and np.all(rounded == 100)
    assert changed.shape == (62, 62, 3)
    assert changed[:12].max() == 0 and changed[-12:].max() == 0  # bars above and below
    assert np.all(changed[20:42] == 200)  # the picture between


def test_a_variable_frame_rate_clip_keeps_its_frame_times(tmp_path: Path) -> None:
    # As a phone films in failing light: 30 fps, then 15.
    times = [index / 30 for index in range(12)] + [0.4 + index / 15 for index in range(6)]
    source = write_clip(tmp_path / "phone.mp4", synthetic_frames(18), 30, times=times,
                        audio_seconds=0.8)
    output = tmp_path / "render.mp4"
    assert render(str(source), "-b", "studio", "-o", str(output)) == 0
    # Frames placed by their number over the average rate (22.5 fps) would come 0.13 s late
    # at the change, out of sync with the sound.
    assert frame_times(output) == pytest.approx(times, abs=0.002)


def test_a_matroska_clip_whose_video_starts_late_is_rendered_whole(tmp_path: Path) -> None:
    """Its ``DURATION`` tag is where the video ends (4 s), not its length (3 s); read as the
    length, the render failed the whole clip as damaged."""
    source = write_clip(tmp_path / "trimmed.mkv", synthetic_frames(15), 5, start=1.0,
                        audio_seconds=4.0)
    output = tmp_path / "render.mp4"
    assert render(str(source), "-b", "studio", "-o", str(output)) == 0
    assert len(frame_times(output)) == 15


def test_a_preview_in_the_last_frames_second_half_shows_that_frame(tmp_path: Path) -> None:
    """The web app accepts any time before the clip's end; after the last frame's middle it
    once failed with "has no frame at", though that frame is on screen until the end."""
    frames = synthetic_frames(10)
    info = probe(write_clip(tmp_path / "clip.mp4", frames, 5))
    assert info.duration == pytest.approx(2.0)
    assert np.abs(frame_at(info, 1.95).astype(int) - frames[-1]).mean() < 10


def test_a_portrait_input_fits_the_box_stood_on_its_end() -> None:
    # A phone's portrait clip has as many pixels as a landscape 1080p one: it keeps them.
    assert fit_size(1080, 1920) == (1080, 1920) and scaling_note(1080, 1920) is None
    assert scaling_note(2160, 3840) == "scaled from 2160x3840 to 1080x1920 to fit 1080x1920"
    assert scaling_note(1921, 1080) == "scaled from 1921x1080 to 1920x1078 to fit 1920x1080"


def test_transparent_output_is_webm_with_alpha(shared_data: Path, tmp_path: Path) -> None:
    source = write_clip(tmp_path / "clip.mp4", talking_frames(shared_data, 5, (160, 120)), 5)
    output = tmp_path / "alpha.webm"
    assert render(str(source), "-b", "transparent", "-o", str(output)) == 0
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "vp9"
        assert stream.metadata.get("alpha_mode") == "1"


def _text(path: Path) -> Path:
    path.write_text("this is a shopping list, not a video\n" * 20)
    return path


def _song_with_cover(path: Path) -> Path:
    """A second of sound with a cover picture, which FFmpeg lists as a video stream."""
    with av.open(str(path), "w") as output:
        sound = output.add_stream("aac", rate=48000, layout="mono")
        cover = output.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(synthetic_frames(1, 64, 64)[0], format="rgb24")
        output.mux(cover.encode(picture))
        output.mux(cover.encode())
        for start in range(0, 48000, 1024):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
            chunk.sample_rate, chunk.pts = 48000, start
            output.mux(sound.encode(chunk))
        output.mux(sound.encode())
    return path


def _cut_in_half(source: Path, path: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp, data: _text(tmp / "notes.mp4"), "is not a video or image FFmpeg can read"),
        # An MP4 written front to back has its index at the end: cut, it does not open.
        (lambda tmp, data: _cut_in_half(write_clip(tmp / "whole.mp4", synthetic_frames(20), 5),
                                        tmp / "cut.mp4"),
         "is a damaged or truncated MP4/MOV file"),
        # A "fast start" MP4 has its index first: cut, it opens, but its frames stop early.
        (lambda tmp, data: _cut_in_half(
            write_clip(tmp / "whole.mp4", talking_frames(data, 60, (160, 120)), 10,
                       container={"movflags": "faststart"}), tmp / "cut.mp4"),
         "is damaged or cut short (an interrupted download or copy?): its frames stop after"),
        (lambda tmp, data: animation(tmp / "clip.gif", "gif", synthetic_frames(3), 5),
         "is an animated GIF image: a video render needs a video"),
        # Once "truncated: its video stops after 0.00 s": the cover taken for the video.
        (lambda tmp, data: _song_with_cover(tmp / "song.mp4"), "has no video stream"),
    ],
    ids=["text-named-mp4", "truncated-mp4", "truncated-faststart-mp4", "gif", "song-with-cover"],
)
def test_bad_inputs_fail_with_their_message_and_no_output(
    make: object, message: str, shared_data: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Refused by the command before anything is queued; and by the job itself, where a worker
    takes it from a queue (another front end's, or a file this machine could not see)."""
    source = make(tmp_path, shared_data)
    output = tmp_path / "out" / "result.mp4"
    output.parent.mkdir()
    assert render(str(source), "-b", "studio", "-o", str(output)) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "queued" not in captured.out
    if "truncated" not in message and "cut short" not in message:
        assert "accepted: a video in MP4, MOV, M4V, MKV, WebM or AVI" in captured.err
    queue = RenderQueue(open_huey("sqlite"))
    record = queue.submit("video", source, output, RenderSettings("studio"))
    queue.run(record.id, record.attempt)
    assert queue.get(record.id).status == "failed" and message in queue.get(record.id).error
    assert_no_leftovers(output.parent, set())


def test_a_picture_render_does_not_take_is_named_as_users_know_it(tmp_path: Path) -> None:
    """FFmpeg's name for a BMP is "piped bmp sequence", which the error once quoted."""
    bitmap = tmp_path / "shot.bmp"
    assert cv2.imwrite(str(bitmap), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match=r"shot.bmp is a BMP image, which is not accepted"):
        probe(bitmap, images=True)


def test_a_heic_photo_is_refused_by_name(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    photo = heic_file(tmp_path / "photo.heic")
    output = tmp_path / "out" / "preview.png"
    output.parent.mkdir()
    assert render(str(photo), "-b", "studio", "-o", str(output), "--preview-at", "0") == 2
    assert "is a HEIF (HEIC) picture, which cannot be read here" in capsys.readouterr().err
    assert_no_leftovers(output.parent, set())


@contextmanager
def _rendering(source: Path, output: Path, queue: str = "sqlite", reported: bool = False,
               stdout: int = subprocess.DEVNULL) -> Iterator[tuple[subprocess.Popen[str],
                                                                    RenderQueue]]:
    """A ``render`` command of ``source`` into ``output`` (its folder made) on ``queue`` with
    no worker, once its job runs (with ``reported``, has reported progress), for the block to
    stop; killed after the block. Fails if the command ends first or a minute goes by."""
    output.parent.mkdir()
    process = command("render", source, "-b", "dusk", "-o", output, "--queue", queue,
                      stdout=stdout, stderr=subprocess.PIPE, text=True)
    try:
        jobs = RenderQueue(open_huey(queue))
        deadline = time.monotonic() + 60
        while not any(record.status == "running" and (record.progress > 0 or not reported)
                      for record in jobs.jobs()):
            assert process.poll() is None and time.monotonic() < deadline, "never caught running"
            time.sleep(0.05)
        yield process, jobs
    finally:
        process.kill()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["ctrl-c", "sigterm", "terminal-closed"])
def test_a_render_stopped_in_its_own_process_ends_its_job_cleanly(
    stop: signal.Signals, shared_data: Path, tmp_path: Path, data_folder: Path
) -> None:
    """Stopping ``render`` while it renders in its own process once aborted Python (a worker
    thread still inside the network at exit), leaving a staging folder beside the output and a
    running job that the next worker rendered unasked. A closed terminal (SIGHUP) was ignored:
    huey's consumer had taken the signal over for a main loop of its own, which does not run."""
    source = write_clip(tmp_path / "clip.mp4",
                        talking_frames(shared_data, KILL_TEST_FRAMES, (640, 360)), 10)
    output = tmp_path / "out" / "result.mp4"
    with _rendering(source, output, reported=True) as (process, queue):
        process.send_signal(stop)
        err = process.communicate(timeout=30)[1]
    assert process.returncode == 128 + stop, err
    assert "Traceback" not in err and "FATAL" not in err
    [record] = queue.jobs()
    assert (record.status, record.error) == (
        "stopped", "stopped with the render command that was running it")
    assert_no_leftovers(output.parent, set())


def test_a_render_in_its_own_process_leaves_the_next_job_to_the_queue(
    shared_data: Path, tmp_path: Path
) -> None:
    """A ``render`` with no worker renders its job in its own process; its worker thread then
    took the next job of the queue, which the command rendered too, unasked, before it exited:
    a 2 s render waited for minutes after saying "done". That job stays queued, for a worker,
    untouched: huey's thread takes the next message the moment a task returns, and the job was
    started, then let go as the command saw its own done ("stopped 1 running job(s)")."""
    frames = talking_frames(shared_data, KILL_TEST_FRAMES, (640, 360))
    mine, other = (write_clip(tmp_path / name, frames[:count], 10)
                   for name, count in (("mine.mp4", 20), ("other.mp4", KILL_TEST_FRAMES)))
    output = tmp_path / "out" / "mine.mp4"
    with _rendering(mine, output, stdout=subprocess.PIPE) as (process, queue):
        queued = queue.submit("video", other, output.parent / "other.mp4",
                              RenderSettings("dusk"))
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert f"wrote {output}" in out and "stopped" not in out, out
    left = queue.get(queued.id)
    assert (left.status, left.attempt, left.worker) == ("queued", 1, ""), left
    assert_no_leftovers(output.parent, {"mine.mp4"})


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c-twice"])
def test_a_stopped_worker_hands_its_job_to_the_waiting_render(
    stop: str, shared_data: Path, tmp_path: Path
) -> None:
    """SIGTERM is how service managers stop a worker. It once aborted Python mid-render, the
    job waited out its lease, and a ``render`` waiting for it waited forever. A second Ctrl-C
    (the first waits for the job to finish) aborted it too, its staging folder left for good:
    Python 3.11 reported its render thread as ended once huey's join of it was interrupted."""
    source = write_clip(tmp_path / "clip.mp4",
                        talking_frames(shared_data, KILL_TEST_FRAMES, (640, 360)), 10)
    output = tmp_path / "out" / "result.mp4"
    output.parent.mkdir()
    worker = _worker("sqlite", tmp_path / "worker.log")
    queue = RenderQueue(open_huey("sqlite"))
    render = None
    try:
        deadline = time.monotonic() + 60
        while not queue.workers():
            assert worker.poll() is None and time.monotonic() < deadline, "no worker started"
            time.sleep(0.05)
        render = command("render", source, "-b", "dusk", "-o", output,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not any(record.status == "running" and record.progress > 0
                      for record in queue.jobs()):
            assert worker.poll() is None and time.monotonic() < deadline, "never caught running"
            time.sleep(0.05)
        if stop == "sigterm":
            worker.send_signal(signal.SIGTERM)
        else:
            worker.send_signal(signal.SIGINT)
            # The second once the first is taken (huey logs it), not a second later: on a fast
            # machine the job was done by then, and there was nothing left to stop.
            while "Received SIGINT" not in (tmp_path / "worker.log").read_text():
                assert worker.poll() is None and time.monotonic() < deadline, "no first stop"
                time.sleep(0.01)
            worker.send_signal(signal.SIGINT)
        worker.wait(10)
        log = (tmp_path / "worker.log").read_text()
        assert worker.returncode == 0, log
        assert "stopped 1 running job(s); they start over with the next worker" in log
        out, err = render.communicate(timeout=60)
    finally:
        for process in (worker, render):
            if process is not None:
                process.kill()
    assert render.returncode == 0, err
    assert "the queue's workers stopped: rendering in this process" in out
    [record] = queue.jobs()
    assert (record.status, record.attempt) == ("done", 2)
    assert_no_leftovers(output.parent, {"result.mp4"})


def test_jobs_stops_and_deletes_jobs_and_names_what_it_cannot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = RenderQueue(open_huey("sqlite"))
    job = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "out.mp4",
                       RenderSettings("dusk")).id
    assert cli.main(["jobs", "--delete", job]) == 2
    assert f"job {job} is queued; it can be deleted once it has finished" in (
        capsys.readouterr().err)
    assert cli.main(["jobs", "--stop", job]) == 0
    assert "stopped from the command line" in capsys.readouterr().out
    assert (queue.get(job).status, queue.get(job).error) == (
        "stopped", "stopped from the command line")
    assert cli.main(["jobs", "--stop", job]) == 2
    assert f"job {job} has finished (stopped); there is nothing to stop" in capsys.readouterr().err
    assert cli.main(["jobs", "--stop", "0123456789ab"]) == 2
    assert "there is no job 0123456789ab on the SQLite queue" in capsys.readouterr().err
    assert cli.main(["jobs", "--delete", job]) == 0
    assert "no jobs on the SQLite queue" in capsys.readouterr().out
    assert queue.get(job) is None
    # An id given twice is done once (the second stop failed: "it has finished").
    again = queue.submit("video", tmp_path / "clip.mp4", tmp_path / "again.mp4",
                         RenderSettings("dusk")).id
    assert cli.main(["jobs", "--stop", again, again]) == 0
    assert cli.main(["jobs", "--delete", again, again]) == 0
    capsys.readouterr()
    # Several at once, as `[--delete ID ...]` says (one option each was needed).
    two = [queue.submit("video", tmp_path / "clip.mp4", tmp_path / f"out{index}.mp4",
                        RenderSettings("dusk")).id for index in range(2)]
    assert cli.main(["jobs", "--stop", *two]) == 0
    assert cli.main(["jobs", "--delete", *two]) == 0
    assert [queue.get(job) for job in two] == [None, None]


def test_jobs_touches_no_job_when_one_of_its_ids_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``jobs --delete A TYPO B`` deleted A, then failed on TYPO: B stayed, and the same
    command with TYPO corrected failed on A, deleted already."""
    queue = RenderQueue(open_huey("sqlite"))
    jobs = [queue.submit("video", tmp_path / "clip.mp4", tmp_path / f"out{index}.mp4",
                         RenderSettings("dusk")).id for index in range(3)]
    assert cli.main(["jobs", "--stop", jobs[0], "0123456789ab", jobs[1]]) == 2
    assert "there is no job 0123456789ab" in capsys.readouterr().err
    assert [queue.get(job).status for job in jobs] == ["queued"] * 3
    assert cli.main(["jobs", "--stop", *jobs[:2]]) == 0
    assert cli.main(["jobs", "--delete", jobs[0], "0123456789ab", jobs[1]]) == 2
    assert cli.main(["jobs", "--delete", jobs[0], jobs[2]]) == 2  # the last one is queued
    assert f"job {jobs[2]} is queued" in capsys.readouterr().err
    assert [queue.get(job).status for job in jobs] == ["stopped", "stopped", "queued"]
    # Stopped and deleted in one command, as before.
    assert cli.main(["jobs", "--stop", jobs[2], "--delete", *jobs]) == 0
    assert [queue.get(job) for job in jobs] == [None] * 3


@pytest.mark.parametrize("lease", ["0", "-5", "nan", "inf", "1e9"])
def test_a_lease_a_worker_cannot_keep_is_refused(lease: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """0 spun the keeper and let any other worker take the job at once, nan never ran out
    (a dead worker's job stayed "running"), inf killed the keeper with an OverflowError."""
    assert cli.main(["worker", "--lease", lease]) == 2
    assert f"--lease must be from 1 to 86400 seconds, got {float(lease):g}" in (
        capsys.readouterr().err)


def test_deleting_a_web_job_from_the_command_line_removes_its_folder(tmp_path: Path) -> None:
    """`serve` keeps each job's files in a folder of their own, which only its pages removed: a
    job deleted with ``jobs --delete`` left it for good. A render's output stays."""
    queue = RenderQueue(open_huey("sqlite"))
    web_job = tmp_path / "web" / "jobs" / "0123456789ab"
    web_job.mkdir(parents=True)
    (web_job / "preview.png").write_bytes(b"png")
    rendered = tmp_path / "mine.mp4"
    rendered.write_bytes(b"mp4")
    jobs = [queue.submit("preview", tmp_path / "clip.mp4", web_job / "preview.png",
                         RenderSettings("dusk"), own_folder=True).id,
            queue.submit("video", tmp_path / "clip.mp4", rendered, RenderSettings("dusk")).id]
    assert cli.main(["jobs", "--stop", *jobs]) == 0
    assert cli.main(["jobs", "--delete", *jobs]) == 0
    assert not web_job.exists() and rendered.read_bytes() == b"mp4"


# -- Redis: several worker processes, one killed --------------------------------------------------


KILL_TEST_FRAMES = 100  # 10 s at 10 fps: the longest a render keeps


def _worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    return command("worker", "--queue", url, "--lease", "3", stdout=log.open("wb"),
                   stderr=subprocess.STDOUT)


def test_redis_workers_finish_every_job_once_when_one_is_killed(
    redis_url: str, shared_data: Path, tmp_path: Path
) -> None:
    # Long enough (a few progress reports) to be caught in the middle on a fast machine.
    source = write_clip(tmp_path / "clip.mp4",
                        talking_frames(shared_data, KILL_TEST_FRAMES, (640, 360)), 10)
    out = tmp_path / "out"
    workers = [_worker(redis_url, tmp_path / f"worker{n}.log") for n in (1, 2)]
    try:
        queue = RenderQueue(open_huey(redis_url))
        settings = RenderSettings("color:#00B140", device="cpu")
        ids = [queue.submit("video", source, out / f"job{n}.mp4", settings).id for n in range(3)]
        deadline = time.monotonic() + 60
        while True:  # wait until a worker is in the middle of a job: that one is killed
            running = [record for record in queue.jobs()
                       if record.status == "running" and record.progress > 0]
            if running:
                break
            assert not all(queue.get(job).status == "done" for job in ids), \
                "every job finished before one could be caught in the middle"
            assert time.monotonic() < deadline, "no worker started a job"
            time.sleep(0.05)
        killed = running[0]
        # Whichever worker got there first: a worker that starts late may find every job taken.
        victim, survivor = sorted(workers, key=lambda w: not killed.worker.endswith(f":{w.pid}"))
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        while not all(queue.get(job).status == "done" for job in ids):
            assert time.monotonic() < deadline, [queue.get(job) for job in ids]
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(10)
    records = {job: queue.get(job) for job in ids}
    assert records[killed.id].attempt == 2
    assert records[killed.id].worker.endswith(f":{survivor.pid}")
    assert all(record.attempt == 1 for job, record in records.items() if job != killed.id)
    done = [key for key in queue.huey.storage.result_items() if key.startswith("done:")]
    assert sorted(done) == sorted(f"done:{job}" for job in ids)
    assert_no_leftovers(out, {f"job{n}.mp4" for n in range(3)})
    for n in range(3):
        assert len(describe(out / f"job{n}.mp4")["frames"]) == KILL_TEST_FRAMES


def test_a_redis_restart_is_said_once_by_a_worker_that_serves_on(
    redis_url: str, tmp_path: Path
) -> None:
    """huey's consumer threads logged a traceback of some 50 lines at every poll of a queue
    that failed: a Redis restart of 8 s wrote 1700 lines into a worker's log."""
    log = tmp_path / "worker.log"
    worker = _worker(redis_url, log)
    server = None
    try:
        queue = RenderQueue(open_huey(redis_url))
        assert poll(queue.workers, bool, timeout=30)
        queue.huey.storage.conn.shutdown(nosave=True)
        time.sleep(3)  # the consumer's threads poll every second at most
        port = redis_url.rsplit(":", 1)[1].split("/")[0]
        server = subprocess.Popen([shutil.which("redis-server"), "--port", port, "--bind",
                                   "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
                                  stdout=subprocess.DEVNULL)
        assert "answers again" in poll(log.read_text, lambda text: "answers again" in text,
                                       timeout=30)
        source = write_clip(tmp_path / "clip.mp4", [np.zeros((64, 64, 3), np.uint8)] * 3, 10)
        job = queue.submit("video", source, tmp_path / "out.mp4",
                           RenderSettings("color:#00B140", device="cpu")).id
        assert poll(lambda: queue.get(job), lambda record: record.status in tasks.FINISHED,
                    timeout=60).status == "done"
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(30)
        if server is not None:
            server.terminate()
            server.wait(10)
    said = log.read_text()
    assert "Traceback" not in said, said
    assert said.count("cannot keep the Redis queue") == 1 and said.count("answers again") == 1


def test_a_render_in_its_own_process_whose_redis_stops_ends_cleanly(
    redis_url: str, shared_data: Path, tmp_path: Path
) -> None:
    """A Redis server stopped while ``render`` rendered its job itself: the command said so,
    then aborted ("FATAL: exception not rethrown", status 134) with its render thread still
    inside the network, leaving its staging folder beside the output for good."""
    source = write_clip(tmp_path / "clip.mp4",
                        talking_frames(shared_data, KILL_TEST_FRAMES, (640, 360)), 10)
    output = tmp_path / "out" / "result.mp4"
    with _rendering(source, output, redis_url, reported=True) as (process, queue):
        queue.huey.storage.conn.shutdown(nosave=True)
        err = process.communicate(timeout=30)[1]
    assert process.returncode == 2, err
    assert f"error: the render queue {redis_url} failed" in err
    assert "Traceback" not in err and "FATAL" not in err
    assert_no_leftovers(output.parent, set())


def test_a_redis_queue_swaps_records_and_queues_previews_in_order(redis_url: str,
                                                                   tmp_path: Path) -> None:
    """A record is written only over the version read, on Redis as on SQLite. Huey's Redis
    storage has no priorities (SQLite's previews go first): a preview is queued in turn."""
    huey = open_huey(redis_url)
    huey.storage.put_data("job:x", b"read")
    assert not swap_data(huey, "job:x", b"another", b"new")
    assert swap_data(huey, "job:x", b"read", b"new") and huey.storage.peek_data("job:x") == b"new"
    assert not swap_data(huey, "job:gone", b"read", b"new")
    assert huey.storage.peek_data("job:gone") is EmptyData
    queue = RenderQueue(huey)
    jobs = [queue.submit(kind, tmp_path / "clip.mp4", tmp_path / f"out.{suffix}",
                         RenderSettings("studio")).id
            for kind, suffix in (("video", "mp4"), ("preview", "png"))]
    assert [task.args[0] for task in huey.pending()] == jobs


def test_a_queue_that_fails_is_said_in_one_line(
    redis_url: str, data_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Redis server that stopped or filled up, an SQLite file that cannot be opened: the
    commands ended in their libraries' tracebacks, and a Redis password was printed."""
    source = write_clip(tmp_path / "clip.mp4", [np.zeros((64, 64, 3), np.uint8)] * 3, 10)
    output = tmp_path / "out.mp4"
    data_folder.parent.mkdir(parents=True, exist_ok=True)
    data_folder.write_text("a file where the data folder goes")
    assert cli.main(["jobs"]) == 2
    assert capsys.readouterr().err == (
        f"obs-bgremover: error: cannot make the data folder {data_folder} "
        "($OBS_BGREMOVER_DATA or the user's data folder): File exists\n")
    data_folder.unlink()
    (data_folder / "queue.db").mkdir(parents=True)
    assert cli.main(["jobs"]) == 2
    assert capsys.readouterr().err == (
        f"obs-bgremover: error: cannot open the SQLite queue {data_folder / 'queue.db'}: "
        "unable to open database file\n")

    full = open_huey(redis_url).storage.conn
    full.config_set("maxmemory", 1)
    full.config_set("maxmemory-policy", "noeviction")
    assert render(str(source), "-b", "dusk", "-o", str(output), "--queue", redis_url) == 2
    assert capsys.readouterr().err == (
        f"obs-bgremover: error: the render queue {redis_url} failed: command not allowed when "
        "used memory > 'maxmemory'.\n")
    assert not output.exists()

    assert cli.main(["jobs", "--queue", "redis://127.0.0.1:notaport/0"]) == 2
    assert capsys.readouterr().err.startswith(
        "obs-bgremover: error: queue redis://127.0.0.1:notaport/0 is not a Redis URL redis can "
        "use: ")
    assert cli.main(["jobs", "--queue", redis_url.replace("/0", "/abc")]) == 2
    assert "the database after the last / must be a number, got 'abc'" in (
        capsys.readouterr().err)
    assert cli.main(["jobs", "--queue", redis_url.removesuffix("/0")]) == 0
    assert capsys.readouterr().out.endswith(f"{redis_url.removeprefix('redis://')}\n")
    full.config_set("requirepass", "right")
    wrong = redis_url.replace("redis://", "redis://:secret@")
    assert cli.main(["jobs", "--queue", wrong]) == 2
    err = capsys.readouterr().err
    assert "secret" not in err and redis_url.replace("redis://", "redis://:***@") in err


def test_a_render_whose_job_is_removed_from_the_queue_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Redis FLUSHALL while ``render`` waited for a worker: 'NoneType' object has no
    attribute 'status'."""
    source = write_clip(tmp_path / "clip.mp4", [np.zeros((64, 64, 3), np.uint8)] * 3, 10)
    queue = RenderQueue(open_huey("sqlite"), lease_s=60)
    queue.name = "a worker elsewhere"
    queue.announce()  # so `render` waits for it rather than rendering in its own process

    def remove_the_job() -> None:
        while not queue.jobs():
            time.sleep(0.05)
        queue.huey.storage.delete_data(f"job:{queue.jobs()[0].id}")

    remover = threading.Thread(target=remove_the_job)
    remover.start()
    assert render(str(source), "-b", "dusk", "-o", str(tmp_path / "out.mp4")) == 2
    remover.join()
    assert re.search(r"error: job \w{12} is no longer on the SQLite queue .*: its record was "
                     "removed\n$", capsys.readouterr().err)


def test_a_job_removed_before_render_renders_it_here_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same removal just before ``render`` rendered the job in its own process (no worker
    served the queue): its clean-up read the missing record's status, and the
    AttributeError hid what had happened."""
    source = write_clip(tmp_path / "clip.mp4", [np.zeros((64, 64, 3), np.uint8)] * 3, 10)
    submit = RenderQueue.submit

    def submit_then_lose(queue: RenderQueue, *args: object, **kwargs: object) -> object:
        record = submit(queue, *args, **kwargs)
        queue.huey.storage.delete_data(f"job:{record.id}")
        return record

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RenderQueue, "submit", submit_then_lose)
        assert render(str(source), "-b", "dusk", "-o", str(tmp_path / "out.mp4")) == 2
    assert re.search(r"error: job \w{12} is no longer on the SQLite queue .*: its record was "
                     "removed\n$", capsys.readouterr().err)
    assert not (tmp_path / "out.mp4").exists()
