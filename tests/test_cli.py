"""The ``obs-bgremover`` command end to end: real files in, real PNGs out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_bgremover import __version__
from obs_bgremover.cli import main
from obs_bgremover.composite import DEFAULT_BLUR


def read_alpha(path: Path) -> np.ndarray:
    alpha = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert alpha is not None, f"{path} is not a readable PNG"
    return alpha


def matte(*args: object) -> int:
    return main(["matte", *map(str, args)])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"obs-bgremover {__version__}"


def test_backgrounds_says_what_a_bare_blur_takes(capsys: pytest.CaptureFixture[str]) -> None:
    """``blur[:STRENGTH]`` with the strength left out: the listing says what it gets."""
    assert main(["backgrounds"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("blur")]
    assert listed and f"{DEFAULT_BLUR} when left out" in listed[0], listed


def test_python_dash_m_runs_the_command(repo_root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    result = subprocess.run(
        [sys.executable, "-m", "obs_bgremover", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert result.stdout.strip() == f"obs-bgremover {__version__}"


# Starts the command in a Python where importing the command's modules meets a Ctrl-C, as
# one pressed in the half second those imports take does.
_CTRL_C_IN_IMPORTS = """
import runpy, sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "obs_bgremover.cli":
            raise KeyboardInterrupt

sys.meta_path.insert(0, CtrlC())
sys.argv = ["obs-bgremover", "backgrounds"]
runpy.run_module("obs_bgremover", run_name="__main__")
"""


# The same Ctrl-C inside onnxruntime's own extension, which fails its import as an ImportError
# ("initialization failed") caused by it.
_CTRL_C_IN_ONNXRUNTIME = """
import runpy, sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "onnxruntime":
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as stop:
                raise ImportError("initialization failed") from stop

sys.meta_path.insert(0, CtrlC())
sys.argv = ["obs-bgremover", "backgrounds"]
runpy.run_module("obs_bgremover", run_name="__main__")
"""


@pytest.mark.parametrize("script", [_CTRL_C_IN_IMPORTS, _CTRL_C_IN_ONNXRUNTIME],
                         ids=["our-imports", "onnxruntime"])
def test_ctrl_c_while_starting_exits_130_without_a_traceback(repo_root: Path,
                                                             script: str) -> None:
    """Inside onnxruntime's initialisation, the Ctrl-C was said as "onnxruntime is not
    installed", with how to reinstall it."""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
    )
    assert (result.returncode, result.stderr, result.stdout) == (130, "", "")


def test_a_missing_onnxruntime_is_said_in_one_line(repo_root: Path) -> None:
    """An interrupted switch between onnxruntime's builds can leave neither: every command,
    ``--help`` too, ended in a 25-line traceback."""
    without = ("import runpy, sys; sys.modules['onnxruntime'] = None; "
               "sys.argv = ['obs-bgremover', '--help']; "
               "runpy.run_module('obs_bgremover', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", without], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(repo_root)})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"obs-bgremover: error: onnxruntime is not installed in "
                                    f"{sys.prefix}: obs-bgremover needs one build of it. Run "
                                    "`python3 install.py`")
    assert result.stderr.count("\n") == 1


def test_matte_image(tmp_path: Path, model_path: Path, frames, capsys) -> None:
    image = tmp_path / "portrait.jpg"
    cv2.imwrite(str(image), frames[0])
    out = tmp_path / "out"
    assert matte(image, "-o", out, "--model", model_path, "--device", "cpu") == 0
    assert sorted(p.name for p in out.iterdir()) == ["portrait.png"]
    alpha = read_alpha(out / "portrait.png")
    assert alpha.dtype == np.uint8 and alpha.shape == (48, 64)
    summary = capsys.readouterr().out
    assert "wrote 1 alpha PNG to" in summary and "CPUExecutionProvider" in summary
    assert "ms/frame median" in summary


def test_matte_folder(tmp_path: Path, model_path: Path, capsys) -> None:
    """Every image the folder reader takes (TIFF too, which it once skipped without a word),
    and the other files named as skipped."""
    folder = tmp_path / "images"
    folder.mkdir()
    sizes = {"c.png": (40, 30), "a.png": (48, 64), "b.png": (61, 77), "d.tif": (30, 20)}
    for name, (height, width) in sizes.items():
        cv2.imwrite(str(folder / name), np.full((height, width, 3), 90, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"hidden")
    out = tmp_path / "out"
    assert matte(folder, "-o", out, "--model", model_path) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png", "d.png"]
    assert capsys.readouterr().out.rstrip().endswith("; skipped 1 other file(s): notes.txt")
    for name, size in sizes.items():
        alpha = read_alpha(out / f"{Path(name).stem}.png")
        assert alpha.dtype == np.uint8 and alpha.shape == size


def test_matte_into_a_folder_of_earlier_mattes_says_so(tmp_path: Path, model_path: Path,
                                                        video: Path, capsys) -> None:
    """A longer clip matted there before left its later frames beside this run's: read back as
    a sequence, the mattes ran on into the other clip's."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("00003.png", "00007.png", "notes.png"):
        cv2.imwrite(str(out / name), np.zeros((4, 4), np.uint8))
    assert matte(video, "-o", out, "--model", model_path) == 0  # five frames: 00000-00004
    err = capsys.readouterr().err
    assert f"note: {out} also holds 2 PNG(s) this run did not write: 00007.png, notes.png" in err


def test_matte_video(tmp_path: Path, model_path: Path, video: Path) -> None:
    out = tmp_path / "out"
    assert matte(video, "-o", out, "--model", model_path) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"0000{i}.png" for i in range(5)]
    assert {read_alpha(p).shape for p in out.iterdir()} == {(48, 64)}


def test_matte_into_a_folder_on_another_drive(tmp_path: Path, model_path: Path,
                                             video: Path) -> None:
    """An output folder that is a mount point or a link to another drive (a container's
    volume, a USB stick): the mattes were staged beside it, then failed to move across drives
    ("Invalid cross-device link") after the whole run."""
    other_drive = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        assert os.stat(other_drive).st_dev != os.stat(tmp_path).st_dev
        out = tmp_path / "out"
        out.symlink_to(other_drive)
        assert matte(video, "-o", out, "--model", model_path) == 0
        assert sorted(p.name for p in other_drive.iterdir()) == [f"0000{i}.png" for i in range(5)]
    finally:
        shutil.rmtree(other_drive)


def test_matte_sample(tmp_path: Path, model_path: Path) -> None:
    out = tmp_path / "out"
    assert matte("--sample", "-o", out, "--model", model_path) == 0
    written = sorted(out.iterdir())
    assert len(written) == 70 and written[-1].name == "00069.png"
    assert read_alpha(written[0]).shape == (480, 854)


def test_knob_flags_reach_the_graph(tmp_path: Path, stand_in_model: Path) -> None:
    image = tmp_path / "grey.png"
    cv2.imwrite(str(image), np.full((4, 6, 3), 100, np.uint8))
    assert matte(image, "-o", tmp_path / "out", "--model", stand_in_model, "--threshold", 0.25) == 0
    np.testing.assert_array_equal(read_alpha(tmp_path / "out" / "grey.png"), 50)


@pytest.mark.parametrize("bad", ["text_as_video", "unknown_model", "empty_folder",
                                 "damaged_image_half_way"])
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, model_path: Path, video: Path, bad: str, capsys
) -> None:
    args = {
        "text_as_video": [tmp_path / "fake.mp4", "--model", model_path],
        "unknown_model": [video, "--model", "portrait"],
        "empty_folder": [tmp_path / "empty", "--model", model_path],
        "damaged_image_half_way": [tmp_path / "shots", "--model", model_path],
    }[bad]
    (tmp_path / "fake.mp4").write_text("this is not a video\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "shots").mkdir()
    for name in ("a.png", "c.png"):
        cv2.imwrite(str(tmp_path / "shots" / name), np.full((48, 64, 3), 90, np.uint8))
    # A JPEG cut short in its headers, as an interrupted copy leaves it: it looks like a JPEG.
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))[1].tobytes()
    (tmp_path / "shots" / "b.jpg").write_bytes(jpeg[:120])
    before = set(tmp_path.iterdir())
    out = tmp_path / "out"
    assert matte(*args, "-o", out) == 2
    err = capsys.readouterr().err
    assert err.startswith("obs-bgremover: error: ") and "Traceback" not in err
    assert set(tmp_path.iterdir()) == before


def test_output_into_the_input_folder_is_refused(tmp_path: Path, model_path: Path, capsys) -> None:
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.full((8, 8, 3), 90, np.uint8))
    before = image.read_bytes()
    for given in (tmp_path, image):
        assert matte(given, "-o", tmp_path, "--model", model_path) == 2
        assert "holds the input" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"] and image.read_bytes() == before


def test_a_video_s_mattes_may_go_beside_it(tmp_path: Path, model_path: Path,
                                           video: Path) -> None:
    """Its PNGs (00000.png, ...) cannot overwrite the video: ``matte clip.mp4 -o .`` was
    refused as if they could."""
    folder = tmp_path / "takes"
    folder.mkdir()
    clip = folder / "clip.mp4"
    shutil.copy(video, clip)
    assert matte(clip, "-o", folder, "--model", model_path) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        *(f"0000{i}.png" for i in range(5)), "clip.mp4"]


def test_output_folder_that_is_a_file_is_refused(tmp_path: Path, model_path: Path, capsys) -> None:
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.full((8, 8, 3), 90, np.uint8))
    taken = tmp_path / "out" / "masks.png"
    taken.parent.mkdir()
    taken.write_bytes(b"mine")
    assert matte(image, "-o", taken, "--model", model_path) == 2
    assert "is a file" in capsys.readouterr().err
    assert taken.read_bytes() == b"mine"


def test_input_and_sample_are_exclusive(tmp_path: Path, video: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        matte(video, "--sample", "-o", tmp_path / "out")
    assert caught.value.code == 2
    with pytest.raises(SystemExit):
        matte("-o", tmp_path / "out")


@pytest.mark.parametrize("args", [["matte", "", "-o", "out"], ["matte", "--sample", "-o", ""],
                                  ["replace", "in.png", "-b", "dusk", "-o", ""],
                                  ["render", "", "-b", "dusk", "-o", "out.mp4"]])
def test_an_empty_path_is_refused(args: list[str], tmp_path: Path, monkeypatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """An unset shell variable (``-o "$OUT"``) is an empty argument, which read as the current
    folder: matte wrote its PNGs there, or matted every picture in it."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2 and "an empty path" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["camera", "--every-n", "0"], "argument --every-n: must be a whole number, at least 1, got 0"),
    (["camera", "--every-n", "two"],
     "argument --every-n: must be a whole number, at least 1, got two"),
    (["camera", "--every-n", "2.5"],
     "argument --every-n: must be a whole number, at least 1, got 2.5"),
    (["camera", "--every-n", ""], "argument --every-n: an empty value"),
    (["matte", "in.png", "-o", "out", "--band", "wide"],
     "argument --band: must be a number in 0..512, got 'wide'"),
    (["matte", "in.png", "-o", "out", "--threshold", "2"],
     "argument --threshold: must be a number above 0 and below 1, got 2.0"),
    (["replace", "in.png", "-b", "dusk", "-o", "out.png", "--edge-radius", "-1"],
     "argument --edge-radius: must be a number in 0..256, got -1.0"),
])
def test_a_flag_out_of_range_is_named_as_typed(args: list[str], message: str, tmp_path: Path,
                                               monkeypatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The refusal named the setting behind the flag (``every_n must be ...``), which no user
    types, and came only after the model had loaded."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
