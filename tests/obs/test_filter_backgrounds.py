"""Every background kind of the filter in real OBS, switched live with SetSourceFilterSettings on
a real portrait: the built-in image the filter starts with, a colour, a blur, transparency, the
fit modes, a looping video, low latency; and the failures (a missing background file, a corrupt
model) that must leave OBS running with the input passed through.

The tests in this module share one OBS and one filter, and run in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest
from obs_views import (
    SHARE_REQUIRED,
    SOURCE,
    close_share,
    labelled,
    log_count,
    poll,
    regions,
    screenshot,
)
from support import hdr_clip

from obs_bgremover.backgrounds import ASSETS, BUILTIN
from obs_bgremover.composite import BlurBackground, Compositor, TransparentBackground, fit
from obs_bgremover.obs.registration import FILTER_ID
from obs_bgremover.pictures import read_image

FILTER = "Background Remover"
RED = (255, 0, 0)
RED_OBS = 0xFF0000FF  # 0xAABBGGRR
# The GPU blur must be about as smooth as the CPU one (Laplacian energy; the portrait's own
# background is already soft, and 8-bit steps keep some energy in any blur) and far smoother
# than the input.
BLUR_DETAIL_VS_CPU = 1.25
BLUR_DETAIL_LEFT = 0.5
# Alpha levels that count as "transparent" and "opaque" in a screenshot with alpha.
CLEAR, OPAQUE = 16, 240
# How much closer to the CPU estimate of the person's colours than to the input's the soft
# edge's colours must be (both differ by the screenshot's scaling).
EDGE_COLOURS_CLOSER = 0.5


@pytest.fixture(scope="module")
def sure(scene: np.ndarray, portrait: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray]:
    """(background, person): the ground truth's sure regions at the screenshot's size."""
    return regions(portrait[1], (scene.shape[1], scene.shape[0]))


def shot(obs_studio, alpha: bool = False) -> np.ndarray:
    return screenshot(obs_studio, SOURCE, alpha)


def set_filter(obs_studio, **settings: object) -> None:
    obs_studio.client.set_source_filter_settings(SOURCE, FILTER, settings, True)


def builtin_plate(name: str, size: tuple[int, int], mode: str = "cover") -> np.ndarray:
    return fit(read_image(ASSETS / BUILTIN[name]), size, mode)


def test_defaults_show_the_builtin_studio_image(obs_studio, scene, sure) -> None:
    """Added with no settings at all, the filter shows the built-in "studio" picture, fitted
    to cover the source, in the background, and the person unchanged. Before its first matte
    (the model's process starting, the network's first run) it shows nothing: it once passed
    the input through, the room it is there to hide on screen for a second."""
    background, person = sure
    obs_studio.client.create_source_filter(SOURCE, FILTER, FILTER_ID.decode(), {})
    expected = builtin_plate("studio", (scene.shape[1], scene.shape[0]))
    shots: list[np.ndarray] = []

    def shoot() -> np.ndarray:
        shots.append(shot(obs_studio, alpha=True))
        return shots[-1][..., :3]

    image = poll(shoot, lambda s: close_share(s, background, expected) >= SHARE_REQUIRED)
    assert close_share(image, background, expected) >= SHARE_REQUIRED
    waiting = [rgba for rgba in shots if close_share(rgba[..., :3], background, expected) < 0.5]
    assert waiting, "the first matte came before the first screenshot: nothing was tested"
    for rgba in waiting:
        assert (rgba[..., 3] <= CLEAR).mean() > 0.99, "the unfiltered input was shown"
    assert close_share(image, person, scene) >= SHARE_REQUIRED
    assert close_share(image, background, scene) < 0.5, "the background was not replaced"


def test_colour(obs_studio, scene, sure) -> None:
    background, person = sure
    set_filter(obs_studio, background="color", color=RED_OBS)
    image = poll(partial(shot, obs_studio),
                 lambda s: close_share(s, background, np.array(RED)) >= SHARE_REQUIRED)
    assert close_share(image, background, np.array(RED)) >= SHARE_REQUIRED
    assert close_share(image, person, scene) >= SHARE_REQUIRED


def detail(image: np.ndarray, where: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.mean(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[where]))


def test_blur_is_the_cameras_background_blurred(obs_studio, scene, sure, portrait) -> None:
    """The blur keeps the background's colours (it is close to the command line's CPU blur of
    the same strength) but not its detail, and the person stays sharp."""
    background, person = sure
    truth = cv2.imread(str(portrait[1]), cv2.IMREAD_GRAYSCALE)
    truth = cv2.resize(truth, (scene.shape[1], scene.shape[0]), interpolation=cv2.INTER_AREA)
    expected = BlurBackground(60).plate(scene, truth, 0.0)
    set_filter(obs_studio, background="blur", blur=60)
    image = poll(partial(shot, obs_studio),
                 lambda s: close_share(s, background, expected) >= 0.9)
    assert close_share(image, background, expected) >= 0.9
    assert detail(image, background) < BLUR_DETAIL_VS_CPU * detail(expected, background)
    assert detail(image, background) < BLUR_DETAIL_LEFT * detail(scene, background)
    assert close_share(image, person, scene) >= SHARE_REQUIRED


def test_transparent_keeps_the_matte_as_alpha(obs_studio, scene, sure) -> None:
    background, person = sure
    set_filter(obs_studio, background="transparent")
    image = poll(partial(shot, obs_studio, True),
                 lambda s: np.mean(s[..., 3][background] <= CLEAR) >= SHARE_REQUIRED)
    assert np.mean(image[..., 3][background] <= CLEAR) >= SHARE_REQUIRED
    assert np.mean(image[..., 3][person] >= OPAQUE) >= SHARE_REQUIRED
    assert close_share(image[..., :3], person, scene) >= SHARE_REQUIRED


def edge_offsets(image: np.ndarray, scene: np.ndarray) -> tuple[float, float]:
    """How far a transparent screenshot's colours in the soft edge are from the CPU estimate
    of the person's own colours for its matte, and from the input's colours (mean levels)."""
    alpha = np.ascontiguousarray(image[..., 3])
    band = (alpha > CLEAR) & (alpha < OPAQUE)
    assert np.count_nonzero(band) > 500, "no soft edge to look at"
    shown = image[..., :3][band].astype(np.float32)
    estimate = Compositor(TransparentBackground())(scene, alpha)[..., :3][band]
    return float(np.abs(shown - estimate).mean()), float(np.abs(shown - scene[band]).mean())


def test_soft_edges_show_the_persons_own_colours(obs_studio, scene) -> None:
    """In the soft edge (hair), the filter shows the person's estimated colours, as `replace`
    composites them, not the frame's own, which carry the old background (a fringe of the room
    around hair over any new background): the transparent output's colours there are close
    to the CPU estimate for its own matte, and far from the input's. "Clean edge colours"
    off shows the input's."""
    off_estimate, off_input = edge_offsets(shot(obs_studio, True), scene)
    assert off_estimate < EDGE_COLOURS_CLOSER * off_input, (off_estimate, off_input)
    set_filter(obs_studio, clean_edges=False)
    try:
        def raw(image: np.ndarray) -> bool:
            off_estimate, off_input = edge_offsets(image, scene)
            return off_input < EDGE_COLOURS_CLOSER * off_estimate

        assert raw(poll(partial(shot, obs_studio, True), raw))
    finally:
        set_filter(obs_studio, clean_edges=True)


def test_what_the_source_leaves_transparent_stays_so(obs_studio, scene, sure, portrait,
                                                     tmp_path) -> None:
    """A partly transparent source (a PNG cut-out, a browser source): its transparent part once
    came out as an opaque black block wherever the network saw the person in it. Transparent
    output keeps it transparent; a colour fills it, as it fills the room around the person."""
    _, person = sure
    picture = cv2.imread(str(portrait[0]))
    alpha = np.full(picture.shape[:2], 255, np.uint8)
    alpha[:, : picture.shape[1] * 2 // 5] = 0
    cut = tmp_path / "cut-out.png"
    cv2.imwrite(str(cut), np.dstack([picture, alpha]))
    strip = np.zeros_like(person)
    strip[:, : strip.shape[1] * 2 // 5 - 8] = True
    assert (person & strip).sum() > 1000, "the strip must cover part of the person"
    obs_studio.client.set_input_settings(SOURCE, {"file": str(cut)}, True)
    try:
        set_filter(obs_studio, background="transparent")
        image = poll(partial(shot, obs_studio, True),
                     lambda s: np.mean(s[..., 3][person & strip] <= CLEAR) >= SHARE_REQUIRED)
        assert np.mean(image[..., 3][person & strip] <= CLEAR) >= SHARE_REQUIRED
        assert np.mean(image[..., 3][person & ~strip] >= OPAQUE) >= SHARE_REQUIRED
        set_filter(obs_studio, background="color", color=RED_OBS)
        image = poll(partial(shot, obs_studio),
                     lambda s: close_share(s, person & strip, np.array(RED)) >= SHARE_REQUIRED)
        assert close_share(image, person & strip, np.array(RED)) >= SHARE_REQUIRED
        assert close_share(image, person & ~strip, scene) >= SHARE_REQUIRED
        # Low latency draws the input itself, with its own alpha: it once made a see-through
        # hole there. The setting shows from the next frame on.
        set_filter(obs_studio, low_latency=True)
        time.sleep(1.0)
        image = shot(obs_studio, True)
        assert np.mean(image[..., 3][person & strip] >= OPAQUE) >= SHARE_REQUIRED
        assert close_share(image[..., :3], person & strip, np.array(RED)) >= SHARE_REQUIRED
    finally:
        set_filter(obs_studio, low_latency=False)
        obs_studio.client.set_input_settings(SOURCE, {"file": str(portrait[0])}, True)
        poll(partial(shot, obs_studio), lambda s: close_share(s, person, scene) >= SHARE_REQUIRED)


def test_the_blur_leaves_what_the_source_leaves_transparent_so(obs_studio, scene, sure, portrait,
                                                              tmp_path) -> None:
    """The blur is the source's own background, and a source has none where it is transparent
    (a PNG cut-out, a browser source): what it leaves transparent stays so, and what it half
    covers stays half covered, in its own colours. The blur once painted the transparent part
    opaque black, with a dark band where the source was half transparent."""
    background, person = sure
    picture = cv2.imread(str(portrait[0]))
    height, width = picture.shape[:2]
    alpha = np.full((height, width), 255, np.uint8)
    alpha[:, : width * 2 // 5] = 0
    alpha[: height // 6, width * 3 // 5:] = 128  # wall, half covered
    cut = tmp_path / "cut-out.png"
    cv2.imwrite(str(cut), np.dstack([picture, alpha]))
    rows, columns = np.indices(person.shape)
    strip = columns < person.shape[1] * 2 // 5 - 8
    band = ((rows < person.shape[0] // 6 - 8) & (columns > person.shape[1] * 3 // 5 + 8)
            & background)
    solid = (columns > person.shape[1] * 2 // 5 + 8) & ~band & (rows > person.shape[0] // 6 + 8)
    assert (person & strip).sum() > 1000 and band.sum() > 1000, "the shapes miss their aim"
    obs_studio.client.set_input_settings(SOURCE, {"file": str(cut)}, True)
    try:
        set_filter(obs_studio, background="blur", blur=60)
        image = poll(partial(shot, obs_studio, True),
                     lambda s: np.mean(s[..., 3][strip] <= CLEAR) >= SHARE_REQUIRED)
        assert np.mean(image[..., 3][strip] <= CLEAR) >= SHARE_REQUIRED, "not transparent"
        assert np.mean(image[..., 3][solid & (person | background)] >= OPAQUE) >= SHARE_REQUIRED
        assert close_share(image[..., :3], person & solid, scene) >= SHARE_REQUIRED
        half = image[..., 3][band].astype(int)
        assert np.mean(np.abs(half - 128) <= 24) >= SHARE_REQUIRED, np.percentile(half, [5, 50, 95])
        # No dark band: the half-covered wall keeps about its own brightness, blurred.
        lightness = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY).astype(float)
        wall = cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY).astype(float)
        assert np.median(lightness[band]) > 0.8 * np.median(wall[band]), "a dark band"
    finally:
        obs_studio.client.set_input_settings(SOURCE, {"file": str(portrait[0])}, True)
        poll(partial(shot, obs_studio), lambda s: close_share(s, person, scene) >= SHARE_REQUIRED)


def test_fit_contain_shows_the_whole_picture(obs_studio, scene, sure) -> None:
    """The 16:9 studio picture behind a 3:4 portrait: "contain" shows all of it, with black bars
    above and below, where "cover" cropped its sides."""
    background, _ = sure
    set_filter(obs_studio, background="builtin", builtin="studio", fit="contain")
    expected = builtin_plate("studio", (scene.shape[1], scene.shape[0]), "contain")
    image = poll(partial(shot, obs_studio),
                 lambda s: close_share(s, background, expected) >= SHARE_REQUIRED)
    assert close_share(image, background, expected) >= SHARE_REQUIRED
    bars = background.copy()
    bars[scene.shape[0] // 5:] = False  # the top fifth lies in the bar
    assert close_share(image, bars, np.array((0, 0, 0))) >= SHARE_REQUIRED


def test_video_background_plays(obs_studio, scene, sure) -> None:
    """A built-in looping video: its frames move behind the person, who stays."""
    background, person = sure
    set_filter(obs_studio, background="builtin", builtin="bokeh-drift", fit="cover")
    studio = builtin_plate("studio", (scene.shape[1], scene.shape[0]))
    first_frame = poll(partial(shot, obs_studio),
                       lambda s: close_share(s, background, studio) < 0.5)
    assert close_share(first_frame, background, studio) < 0.5, "still the studio picture"
    time.sleep(1.0)  # the loop moves on; a still picture would give the same screenshot
    later = shot(obs_studio)
    moved = np.mean(np.abs(later.astype(np.int16) - first_frame)[background])
    assert moved > 2.0, f"the video background did not move (mean change {moved:.2f})"
    assert close_share(later, person, scene) >= SHARE_REQUIRED


def test_a_new_background_takes_over_from_the_last_without_a_gap(obs_studio, scene, sure,
                                                                 tmp_path) -> None:
    """From a colour to a large picture (it decodes for a while) or to a video (a phone's HDR
    clip, whose first frame takes over a second of tone-mapping set-up): nothing was drawn
    until the new background was ready, so the person vanished for a few tenths of a second at
    each switch, or over a second. The colour stays until the new background shows."""
    background, person = sure
    large = tmp_path / "large.png"
    noise = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), np.uint8)
    cv2.imwrite(str(large), noise)
    frames = [np.full((240, 320, 3), (0, 90, 200), np.uint8)] * 3
    phone = hdr_clip(tmp_path / "phone.mp4", frames, "hlg")
    red = np.array(RED)
    for new in ({"background": "image", "image": str(large)},
                {"background": "video", "video": str(phone)}):
        set_filter(obs_studio, background="color", color=RED_OBS)
        poll(partial(shot, obs_studio), lambda s: close_share(s, background, red) >= SHARE_REQUIRED)
        set_filter(obs_studio, **new)
        shots = [shot(obs_studio)]
        deadline = time.monotonic() + 20
        while close_share(shots[-1], background, red) >= 0.5 and time.monotonic() < deadline:
            shots.append(shot(obs_studio))
        assert close_share(shots[-1], background, red) < 0.5, f"{new} never showed"
        shown = [close_share(image, person, scene) >= SHARE_REQUIRED for image in shots]
        assert all(shown), f"{new}: the person vanished in {shown.count(False)} of {len(shots)}"


def test_low_latency_still_replaces_the_background(obs_studio, scene, sure) -> None:
    background, person = sure
    set_filter(obs_studio, background="color", color=RED_OBS, low_latency=True)
    image = poll(partial(shot, obs_studio),
                 lambda s: close_share(s, background, np.array(RED)) >= SHARE_REQUIRED)
    assert close_share(image, background, np.array(RED)) >= SHARE_REQUIRED
    assert close_share(image, person, scene) >= SHARE_REQUIRED
    assert "low latency on" in obs_studio.log_text()
    set_filter(obs_studio, low_latency=False)


def assert_passes_through(obs_studio, scene, background) -> None:
    image = poll(partial(shot, obs_studio),
                 lambda s: close_share(s, background, scene) >= SHARE_REQUIRED)
    assert close_share(image, background, scene) >= SHARE_REQUIRED, "the input is not shown"
    assert obs_studio.client.get_version().obs_version, "OBS stopped answering"


def assert_said_why(obs_studio, problem: Path) -> None:
    """Wait until the filter logs that it passes its input through because of ``problem``,
    naming the source it is on (with the filter on several sources, a line that does not say
    which is no help); fail if it does not within the poll's timeout. A test waits for that
    line before it looks at the output: new settings reach the filter at its next video tick,
    and until then it shows what the previous test left, which may be the input too."""
    said = f"{SOURCE}: passing the input through"
    lines = poll(lambda: [line for line in obs_studio.log_text().splitlines()
                          if said in line and str(problem) in line], bool)
    assert lines, f"no word of {problem} in the log:\n{obs_studio.log_text()[-2000:]}"


def test_missing_background_file_passes_through(obs_studio, scene, sure, tmp_path) -> None:
    background, _ = sure
    missing_file = tmp_path / "no-such-background.png"
    set_filter(obs_studio, background="image", image=str(missing_file))
    assert_said_why(obs_studio, missing_file)
    assert_passes_through(obs_studio, scene, background)
    assert "Traceback" not in obs_studio.log_text()


def test_a_background_file_is_shown_once_it_appears_and_again_when_saved(
    obs_studio, scene, sure, tmp_path
) -> None:
    """As OBS's own image source does: a picture put back (a drive mounted late, a file
    restored) or saved again from an editor shows without touching the filter's settings."""
    background, person = sure
    picture = tmp_path / "backdrop.png"
    set_filter(obs_studio, background="image", image=str(picture))
    assert_said_why(obs_studio, picture)
    for rgb in ((0, 0, 255), (0, 200, 0)):
        cv2.imwrite(str(picture), np.full((90, 160, 3), rgb[::-1], np.uint8))
        image = poll(partial(shot, obs_studio),
                     lambda s, rgb=rgb: close_share(s, background, np.array(rgb))
                     >= SHARE_REQUIRED)
        assert close_share(image, background, np.array(rgb)) >= SHARE_REQUIRED, rgb
        assert close_share(image, person, scene) >= SHARE_REQUIRED


def test_a_background_saved_unreadable_keeps_the_last_good_one(obs_studio, scene, sure,
                                                               tmp_path) -> None:
    """A picture on screen saved again as something unreadable (half written, overwritten):
    the picture stays, as the virtual camera keeps its background, and the log says so once;
    again when the file can be read, and again when it fails anew. It once put the room on
    screen, after a recovery without a word."""
    background, person = sure
    picture = tmp_path / "edited.png"
    keeping = f"cannot use background {picture}"
    said = partial(log_count, obs_studio)
    set_filter(obs_studio, background="image", image=str(picture))
    readable = f"background {picture} can be read now"
    for attempt, rgb in enumerate(((255, 0, 0), (0, 0, 255)), start=1):
        recoveries = said(readable)
        cv2.imwrite(str(picture), np.full((90, 160, 3), rgb[::-1], np.uint8))
        image = poll(partial(shot, obs_studio),
                     lambda s, rgb=rgb: close_share(s, background, np.array(rgb))
                     >= SHARE_REQUIRED)
        assert close_share(image, background, np.array(rgb)) >= SHARE_REQUIRED, rgb
        if attempt > 1:
            assert said(readable) == recoveries + 1, "the recovery was not said"
        picture.write_bytes(b"not a picture at all")
        poll(lambda: said(keeping), lambda n, attempt=attempt: n >= attempt)
        assert said(f"{keeping}") == attempt, obs_studio.log_text()[-2000:]
        for _ in range(5):  # the picture stays, frame after frame
            image = shot(obs_studio)
            assert close_share(image, background, np.array(rgb)) >= SHARE_REQUIRED, rgb
            assert close_share(image, person, scene) >= SHARE_REQUIRED
            time.sleep(0.2)
    lines = [line for line in obs_studio.log_text().splitlines() if str(picture) in line]
    kept = [line for line in lines if keeping in line]
    assert len(kept) == 2 and all("keeping the current background" in line for line in kept)
    assert not [line for line in lines if "passing the input through" in line
                and "does not exist" not in line], lines
    assert "Traceback" not in obs_studio.log_text()


def test_corrupt_model_passes_through_then_recovers(obs_studio, scene, sure, tmp_path) -> None:
    background, _ = sure
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not an ONNX model" * 100)
    set_filter(obs_studio, background="color", color=RED_OBS, model="custom",
               model_path=str(corrupt))
    assert_said_why(obs_studio, corrupt)
    assert_passes_through(obs_studio, scene, background)
    set_filter(obs_studio, model="general")
    image = poll(partial(shot, obs_studio),
                 lambda s: close_share(s, background, np.array(RED)) >= SHARE_REQUIRED)
    assert close_share(image, background, np.array(RED)) >= SHARE_REQUIRED, "did not recover"
    assert "Traceback" not in obs_studio.log_text()


def test_disable_enable_and_a_new_resolution(obs_studio, scene, sure, shared_data,
                                             portrait) -> None:
    """Disabled, the filter shows the input; enabled again, it works again; when the source
    changes to a picture of another size (a webcam switching mode), the filter follows it."""
    client = obs_studio.client
    background, _ = sure
    set_filter(obs_studio, background="color", color=RED_OBS)
    client.set_source_filter_enabled(SOURCE, FILTER, False)
    assert_passes_through(obs_studio, scene, background)
    client.set_source_filter_enabled(SOURCE, FILTER, True)
    image = poll(partial(shot, obs_studio),
                 lambda s: close_share(s, background, np.array(RED)) >= SHARE_REQUIRED)
    assert close_share(image, background, np.array(RED)) >= SHARE_REQUIRED, "not back on"

    # A new size is no new setting: "new settings matted after" (timed from the pipeline's
    # start) once said so at every resize, e.g. "after 29192 ms".
    shown = log_count(obs_studio, "new settings matted after")
    folder = shared_data / "davis-person" / "lucia"
    frame, mask = labelled(folder / "frames" / "00040.jpg", folder / "masks" / "00040.png")
    client.set_input_settings(SOURCE, {"file": str(frame)}, True)
    wide = poll(partial(shot, obs_studio), lambda s: s.shape[0] < s.shape[1])
    assert wide.shape[0] < wide.shape[1], "the source did not change to the wide picture"
    wide_background, _ = regions(mask, (wide.shape[1], wide.shape[0]))
    image = poll(partial(shot, obs_studio),
                 lambda s: close_share(s, wide_background, np.array(RED)) >= SHARE_REQUIRED)
    assert close_share(image, wide_background, np.array(RED)) >= SHARE_REQUIRED
    assert "Traceback" not in obs_studio.log_text()
    client.set_input_settings(SOURCE, {"file": str(portrait[0])}, True)
    poll(partial(shot, obs_studio), lambda s: s.shape == scene.shape)
    poll(partial(shot, obs_studio),
         lambda s: close_share(s, background, np.array(RED)) >= SHARE_REQUIRED)
    assert log_count(obs_studio, "new settings matted after") == shown, "said at a resize"


def network_processes(obs_studio) -> list[int]:
    """The network processes OBS started (children running obs_bgremover.model_process)."""
    found = subprocess.run(["pgrep", "-P", str(obs_studio.process.pid), "-f", "model_process"],
                           capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def test_a_killed_network_process_is_replaced(obs_studio, scene, sure) -> None:
    """The network's process dies (the out-of-memory killer, a crash): OBS keeps running, the
    filter says so once and starts another one, and the background is replaced again."""
    background, _ = sure
    set_filter(obs_studio, background="color", color=RED_OBS)
    poll(partial(shot, obs_studio),
         lambda s: close_share(s, background, np.array(RED)) >= SHARE_REQUIRED)
    before = network_processes(obs_studio)
    assert len(before) == 1, f"expected one network process, found {before}"
    warned = log_count(obs_studio, "the network stopped; starting it again")
    os.kill(before[0], signal.SIGKILL)
    shots: list[np.ndarray] = []

    def replaced_after_a_look() -> list[int]:
        shots.append(shot(obs_studio))
        return network_processes(obs_studio)

    replaced = poll(replaced_after_a_look, lambda pids: pids and pids != before)
    assert replaced and replaced != before, "no new network process"
    for _ in range(10):  # and the new pipeline's first mattes
        shots.append(shot(obs_studio))
    # While the network restarts, the last composite stays: the room once showed, with an
    # error and a two-part traceback in the log at every kill.
    for image in shots:
        assert close_share(image, background, np.array(RED)) >= SHARE_REQUIRED, "not red"
    assert log_count(obs_studio, "the network stopped; starting it again") == warned + 1
    log = obs_studio.log_text()
    assert "render failed" not in log and "Traceback" not in log, log[-3000:]
    # The new process serves a new pipeline: the picture must change again, so use a new colour.
    set_filter(obs_studio, color=0xFFFF0000)  # blue
    image = poll(partial(shot, obs_studio),
                 lambda s: close_share(s, background, np.array((0, 0, 255))) >= SHARE_REQUIRED)
    assert close_share(image, background, np.array((0, 0, 255))) >= SHARE_REQUIRED
    assert obs_studio.client.get_version().obs_version
