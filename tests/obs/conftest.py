"""A real OBS Studio for the end-to-end tests, one per test module (`headless_obs` starts it:
Xvfb, a throw-away HOME, obs-websocket), and the portrait scene most of them look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from headless_obs import SCRIPT, ObsStudio, running_obs
from obs_views import SCENE, SOURCE, labelled, poll, screenshot
from support import require_obs


@pytest.fixture(scope="module")
def obs_studio(request: pytest.FixtureRequest) -> Iterator[ObsStudio]:
    """A fresh OBS with our script loaded, for one test module; torn down after it. A module's
    ``EXTRA_OBS_SCRIPTS`` (paths) are loaded after ours."""
    require_obs()
    with running_obs((SCRIPT, *getattr(request.module, "EXTRA_OBS_SCRIPTS", ()))) as studio:
        yield studio


PORTRAIT = "00015"


@pytest.fixture(scope="module")
def portrait(shared_data: Path) -> tuple[Path, Path]:
    """A real portrait from the shared data and its human-made person mask."""
    folder = shared_data / "portraits-dev"
    return labelled(folder / "images" / f"{PORTRAIT}.jpg", folder / "masks" / f"{PORTRAIT}.png")


@pytest.fixture(scope="module")
def scene(obs_studio: ObsStudio, portrait: tuple[Path, Path]):
    """The portrait as image source SOURCE in a scene of its own, shown on program; returns its
    unfiltered screenshot (RGB)."""
    client = obs_studio.client
    client.create_scene(SCENE)
    client.create_input(SCENE, SOURCE, "image_source", {"file": str(portrait[0])}, True)
    client.set_current_program_scene(SCENE)
    # The picture has loaded once the screenshot is not a blank frame.
    shot = poll(lambda: screenshot(obs_studio, SOURCE), lambda s: s.std() > 10, timeout=10)
    if shot.std() <= 10:
        pytest.fail("the image source never showed the portrait")
    return shot
