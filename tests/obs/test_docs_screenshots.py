"""The user guide's OBS screenshots, taken here: the filter's properties window as OBS draws it
(which also proves that every property, list and callback builds in the real UI) and the result
on a real DAVIS frame (CC BY 4.0, the only shared footage that may ship in docs/).

Images go to a temporary folder, or to the folder in $OBS_BGREMOVER_DOCS_IMAGES: with it set to
docs/images, ``.venv/bin/python -m pytest tests/obs/test_docs_screenshots.py`` regenerates the
ones the user guide shows.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest
from obs_views import SCENE, SHARE_REQUIRED, close_share, labelled, poll, regions, screenshot
from support import missing

from obs_bgremover.backgrounds import ASSETS, BUILTIN
from obs_bgremover.composite import fit
from obs_bgremover.obs.registration import FILTER_ID
from obs_bgremover.pictures import read_image

SOURCE = "Webcam"
FILTER = "Background Remover"
FRAME = "00040"
DIALOG_SETTLE_S = 2.0


@pytest.fixture(scope="module")
def lucia(shared_data: Path) -> tuple[Path, Path]:
    folder = shared_data / "davis-person" / "lucia"
    return labelled(folder / "frames" / f"{FRAME}.jpg", folder / "masks" / f"{FRAME}.png")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("OBS_BGREMOVER_DOCS_IMAGES")
    return Path(folder) if folder else tmp_path_factory.mktemp("screenshots")


def save(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def grab_screen(display: str) -> np.ndarray:
    """The whole X screen (RGB), cropped to what is drawn on it (Xvfb's root is black)."""
    try:
        import mss
    except ImportError:
        missing("mss (pip install -e .[dev])")
    with mss.MSS(display=display) as screen:
        raw = np.asarray(screen.grab(screen.monitors[0]))
    rgb = cv2.cvtColor(raw, cv2.COLOR_BGRA2RGB)
    drawn = np.argwhere(rgb.max(axis=2) > 0)
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0) + 1
    return rgb[top:bottom, left:right]


def test_result_on_a_davis_frame(obs_studio, lucia, out_dir) -> None:
    client = obs_studio.client
    client.create_scene(SCENE)
    client.create_input(SCENE, SOURCE, "image_source", {"file": str(lucia[0])}, True)
    client.set_current_program_scene(SCENE)
    original = poll(partial(screenshot, obs_studio, SOURCE), lambda s: s.std() > 10)
    client.create_source_filter(SOURCE, FILTER, FILTER_ID.decode(),
                                {"background": "builtin", "builtin": "dusk"})
    size = (original.shape[1], original.shape[0])
    background, person = regions(lucia[1], size)
    dusk = fit(read_image(ASSETS / BUILTIN["dusk"]), size)
    shot = poll(partial(screenshot, obs_studio, SOURCE),
                lambda s: close_share(s, background, dusk) >= SHARE_REQUIRED)
    assert close_share(shot, background, dusk) >= SHARE_REQUIRED
    assert close_share(shot, person, original) >= 0.9
    save(out_dir / "obs-filter-main.png", shot)


def test_properties_window(obs_studio, out_dir) -> None:
    """OBS's own Filters window with our properties on the right: it opens, our lists and
    callbacks build without an error, and it is captured from the X screen."""
    obs_studio.client.send("OpenInputFiltersDialog", {"inputName": SOURCE})
    time.sleep(DIALOG_SETTLE_S)  # no event says when Qt has finished drawing the window
    window = grab_screen(obs_studio.display)
    assert window.shape[0] > 300 and window.shape[1] > 400, window.shape
    assert window.std() > 10, "the captured screen is blank"
    log = obs_studio.log_text()
    ours = [line for line in log.splitlines() if "[obs-bgremover]" in line]
    assert not [line for line in ours if "failed" in line], "\n".join(ours)
    assert "Traceback" not in log, log[-3000:]
    save(out_dir / "obs-filter-properties.png", window)
