"""What the OBS tests look at: screenshots of a source over obs-websocket, the ground truth's
sure regions at a screenshot's size, and polling until OBS shows what a setting should give."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import pytest
import support

T = TypeVar("T")

# The portrait scene of the `scene` fixture.
SCENE = "Portrait scene"
SOURCE = "Portrait"
SHOT_WIDTH = 640
MATTE_TIMEOUT = 20.0
# Screenshot pixels are compared after lossless PNG transfer, but scaling and the soft edge of
# the matte still move values a little; these are generous on purpose.
COLOR_TOLERANCE = 40
SHARE_REQUIRED = 0.95


def screenshot(obs_studio, name: str, alpha: bool = False) -> np.ndarray:
    """An RGB (or RGBA) screenshot of a source, SHOT_WIDTH wide (OBS keeps the aspect ratio)."""
    reply = obs_studio.client.get_source_screenshot(name, "png", SHOT_WIDTH, None, -1)
    data = base64.b64decode(reply.image_data.split(",", 1)[1])
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    rgba = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return rgba if alpha else np.ascontiguousarray(rgba[..., :3])


def labelled(image: Path, mask: Path) -> tuple[Path, Path]:
    """A picture from the shared data and its human-made person mask; fails if either is
    missing."""
    for path in (image, mask):
        if not path.is_file():
            pytest.fail(f"{path} is missing from the shared data")
    return image, mask


def regions(mask_file: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixels well inside the background and well inside the person, at ``size`` (w, h): the
    ground truth eroded so the edge, where any matte is soft, is left out."""
    truth = cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE)
    truth = cv2.resize(truth, size, interpolation=cv2.INTER_AREA)
    kernel = np.ones((25, 25), np.uint8)
    person = cv2.erode((truth > 127).astype(np.uint8), kernel) > 0
    background = cv2.erode((truth <= 127).astype(np.uint8), kernel) > 0
    return background, person


def close_share(image: np.ndarray, where: np.ndarray, expected: np.ndarray) -> float:
    """Share of the pixels at ``where`` within COLOR_TOLERANCE of ``expected`` on every
    channel (``expected``: one colour, or an image of the same size)."""
    expected = expected[where] if expected.ndim == 3 else expected
    diff = np.abs(image[where].astype(np.int16) - np.asarray(expected, np.int16))
    return float(np.mean(np.all(diff <= COLOR_TOLERANCE, axis=-1)))


def poll(measure: Callable[[], T], done: Callable[[T], bool],
         timeout: float = MATTE_TIMEOUT) -> T:
    """`support.poll`, waiting as long as a new matte may take unless told otherwise."""
    return support.poll(measure, done, timeout)


# The helper script that does what obs-websocket cannot (a module's ``EXTRA_OBS_SCRIPTS``).
OBS_ACTIONS = Path(__file__).with_name("obs_actions.py")


def obs_action(obs_studio, **request: object) -> str:
    """Have `OBS_ACTIONS`, loaded into this OBS, carry out ``request``; what it reported."""
    request_file = obs_studio.home / "obs-actions" / f"{time.monotonic_ns()}.json"
    request_file.write_text(json.dumps(request))
    done = request_file.with_suffix(".done")
    poll(done.exists, bool, timeout=10)
    if not done.exists():
        pytest.fail("the obs_actions script did not answer")
    return done.read_text()


def log_count(obs_studio, text: str) -> int:
    """How often ``text`` occurs in OBS's log so far."""
    return obs_studio.log_text().count(text)


def stop_cleanly(obs_studio) -> str:
    """Stop OBS and return its log, failing the test unless it exited with 0 and logged no
    Python traceback. The one exception is OBS's own crash in Qt after our script has unloaded
    and the scene was cleared (`ObsStudio.crashed_in_qt_teardown`, its stacks printed): nothing
    of ours runs by then, so the test is marked xfail with that reason rather than failed."""
    code = obs_studio.stop()
    log = obs_studio.log_text()
    assert "Traceback" not in log, log[-3000:]
    if code != 0 and obs_studio.crashed_in_qt_teardown():
        pytest.xfail("OBS segfaulted in its own Qt main thread (a queued widget repaint) after "
                     "our script had unloaded and the scene was cleared; stacks printed above")
    assert code == 0, f"OBS exited with {code}:\n{log[-3000:]}"
    return log
