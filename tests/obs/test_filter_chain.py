"""The filter among other filters, and OBS's own processing, on a webcam-like source in real OBS:
a looping clip of a real portrait (an async source, whose frames the filter reads from memory
when it comes first) with OBS's own Crop/Pad filter before it and after it, paused, and
deinterlaced by OBS. Either way the output is the cropped picture
with its background replaced: a filter that read the source's frames behind Crop/Pad's back
would show the whole picture, or squeeze it into the cropped size (obs-backgroundremoval's users
met Crop/Pad misbehaving with it: royshil/obs-backgroundremoval#243).

The tests in this module share one OBS and run in order.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from clip_writer import write_clip
from obs_views import (
    OBS_ACTIONS,
    SCENE,
    SHARE_REQUIRED,
    close_share,
    log_count,
    obs_action,
    poll,
    regions,
    screenshot,
)
from obsws_python.error import OBSSDKRequestError

from obs_bgremover.obs.registration import FILTER_ID
from obs_bgremover.pictures import read_image

EXTRA_OBS_SCRIPTS = [OBS_ACTIONS]
SOURCE = "Portrait clip"
FILTER = "Background Remover"
CROP = "Crop"
# Crop/Pad's edges, in pixels of the 600x800 portrait: off-centre on purpose, so a crop taken
# from the wrong side or a picture squeezed into the cropped size shows.
LEFT, TOP, RIGHT, BOTTOM = 40, 160, 120, 40
GREEN = (0, 255, 0)
GREEN_OBS = 0xFF00FF00  # 0xAABBGGRR
# Screenshots taken once the filter shows the right picture, each of which must still show it.
LATER_SHOTS = 20


def shot(obs_studio, source: str = SOURCE) -> np.ndarray:
    """The source's screenshot; a 1x1 black one until the clip's first frame has arrived (OBS
    cannot render a source of no size yet)."""
    try:
        return screenshot(obs_studio, source)
    except OBSSDKRequestError:
        return np.zeros((1, 1, 3), np.uint8)


@pytest.fixture(scope="module")
def cropped(obs_studio, portrait: tuple[Path, Path],
            tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clip playing, with Crop/Pad alone on it: its screenshot (RGB), and where it shows
    the cropped picture, the person and the background (sure regions, as `regions` makes).

    obs-websocket's screenshot of a source keeps the source's own size and aspect (600x800):
    Crop/Pad's 440x600 output lies in its top-left corner, unscaled, and the rest is black."""
    folder = tmp_path_factory.mktemp("chain")
    picture = read_image(portrait[0])
    clip = write_clip(folder / "portrait.mp4", [picture] * 10, 10)
    client = obs_studio.client
    client.create_scene(SCENE)
    client.create_input(SCENE, SOURCE, "ffmpeg_source",
                        {"local_file": str(clip), "looping": True}, True)
    client.set_current_program_scene(SCENE)
    client.create_source_filter(SOURCE, CROP, "crop_filter", {
        "relative": True, "left": LEFT, "top": TOP, "right": RIGHT, "bottom": BOTTOM})
    height, width = picture.shape[:2]
    mask = cv2.imread(str(portrait[1]), cv2.IMREAD_GRAYSCALE)
    placed = np.zeros_like(mask)
    placed[: height - TOP - BOTTOM, : width - LEFT - RIGHT] = mask[TOP : height - BOTTOM,
                                                                   LEFT : width - RIGHT]
    cv2.imwrite(str(folder / "mask.png"), placed)
    # Playing, and cropped: OBS may draw a first frame or two before Crop/Pad's settings apply
    # (the picture then reaches the bottom-right corner, black once cropped).
    reference = poll(lambda: shot(obs_studio), lambda s: s.std() > 10 and s[-1, -1].max() < 16)
    assert reference.std() > 10, "the clip never played"
    shown = np.zeros(reference.shape[:2], bool)
    scale = reference.shape[1] / width
    shown[: round((height - TOP - BOTTOM) * scale), : round((width - LEFT - RIGHT) * scale)] = True
    inside = cv2.erode(shown.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    background, person = regions(folder / "mask.png", (reference.shape[1], reference.shape[0]))
    outside = cv2.dilate(shown.astype(np.uint8), np.ones((25, 25), np.uint8)) == 0
    assert np.all(reference[outside] < 16), "Crop/Pad's output is not where it was expected"
    assert close_share(reference, background & inside, np.array(GREEN)) < 0.05
    return reference, background & inside, person


def assert_cropped_and_replaced(obs_studio, cropped) -> None:
    reference, background, person = cropped
    image = poll(lambda: shot(obs_studio),
                 lambda s: s.shape == reference.shape
                 and close_share(s, background, np.array(GREEN)) >= SHARE_REQUIRED)
    assert image.shape == reference.shape, "the output is not the size Crop/Pad gives"
    assert close_share(image, background, np.array(GREEN)) >= SHARE_REQUIRED
    assert close_share(image, person, reference) >= SHARE_REQUIRED, "not the cropped person"
    assert "Traceback" not in obs_studio.log_text()


def test_crop_before_the_filter(obs_studio, cropped) -> None:
    obs_studio.client.create_source_filter(
        SOURCE, FILTER, FILTER_ID.decode(), {"background": "color", "color": GREEN_OBS})
    filters = [f["filterName"] for f in obs_studio.client.get_source_filter_list(SOURCE).filters]
    assert filters == [CROP, FILTER]
    assert_cropped_and_replaced(obs_studio, cropped)


def test_crop_after_the_filter(obs_studio, cropped) -> None:
    client = obs_studio.client
    client.set_source_filter_index(SOURCE, FILTER, 0)
    filters = [f["filterName"] for f in client.get_source_filter_list(SOURCE).filters]
    assert filters == [FILTER, CROP]
    assert_cropped_and_replaced(obs_studio, cropped)


def test_a_paused_clip_is_matted_when_the_filter_is_added(obs_studio, cropped) -> None:
    """A paused or ended media source sends no frames. The filter, first on it, reads an async
    source's frames from memory as they come, so added then it once left the room on screen
    until the clip played again; it now reads the paused picture back from the GPU."""
    client = obs_studio.client
    client.trigger_media_input_action(SOURCE, "OBS_WEBSOCKET_MEDIA_INPUT_ACTION_PAUSE")
    client.remove_source_filter(SOURCE, FILTER)
    reference, background, _ = cropped
    unfiltered = poll(lambda: shot(obs_studio),
                      lambda s: close_share(s, background, np.array(GREEN)) < 0.05)
    assert close_share(unfiltered, background, np.array(GREEN)) < 0.05
    client.create_source_filter(
        SOURCE, FILTER, FILTER_ID.decode(), {"background": "color", "color": GREEN_OBS})
    client.set_source_filter_index(SOURCE, FILTER, 0)
    assert client.get_media_input_status(SOURCE).media_state == "OBS_MEDIA_STATE_PAUSED"
    assert_cropped_and_replaced(obs_studio, cropped)


def combing(image: np.ndarray, where: np.ndarray) -> float:
    """How much each line differs from the mean of its neighbours, at ``where``: high where
    two fields of different moments are woven into one picture."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    comb = np.abs(2 * grey[1:-1] - grey[:-2] - grey[2:]) / 2
    return float(comb[where[1:-1]].mean())


def test_a_clip_obs_deinterlaces_is_matted_deinterlaced(obs_studio, portrait, tmp_path) -> None:
    """A capture card's 1080i: OBS's deinterlacing works when it draws the source, so frames
    read from memory are still combed. The filter once matted and showed those, undoing the
    deinterlacing the user had set; it now takes the source as OBS draws it."""
    picture = cv2.resize(read_image(portrait[0]), (640, 852), interpolation=cv2.INTER_AREA)
    woven = picture.copy()
    woven[1::2] = np.roll(picture, 12, axis=1)[1::2]  # the second field, 12 px further on
    clip = write_clip(tmp_path / "interlaced.mp4", [woven] * 10, 10, encoder={"crf": "8"})
    cv2.imwrite(str(tmp_path / "mask.png"), cv2.resize(
        cv2.imread(str(portrait[1]), cv2.IMREAD_GRAYSCALE), (640, 852)))
    background, person = regions(tmp_path / "mask.png", (640, 852))
    client = obs_studio.client
    client.create_input(SCENE, "Interlaced", "ffmpeg_source",
                        {"local_file": str(clip), "looping": True}, True)
    client.create_source_filter("Interlaced", FILTER, FILTER_ID.decode(),
                                {"background": "color", "color": GREEN_OBS})
    combed = poll(lambda: shot(obs_studio, "Interlaced"),
                  lambda s: s.shape[:2] == person.shape and combing(s, person) > 8)
    assert combed.shape[:2] == person.shape and combing(combed, person) > 8, "no combing to see"
    assert obs_action(obs_studio, source="Interlaced", deinterlace_mode=1) == "deinterlace mode 1"
    shown = poll(lambda: shot(obs_studio, "Interlaced"), lambda s: combing(s, person) < 3)
    assert combing(shown, person) < 3, f"still combed: {combing(shown, person):.1f}"
    assert close_share(shown, background, np.array(GREEN)) >= SHARE_REQUIRED, "not replaced"
    # And from then on: the source's raw frames, which OBS hands every filter on an async
    # source, once went on reaching the network beside the deinterlaced ones, and about every
    # other screenshot was combed again.
    later = [combing(shot(obs_studio, "Interlaced"), person) for _ in range(LATER_SHOTS)]
    assert max(later) < 3, f"combed again in {sum(c >= 3 for c in later)} of {len(later)}"


def test_a_source_back_in_sight_never_shows_its_old_picture(obs_studio, portrait,
                                                            tmp_path) -> None:
    """A scene cut away from and back to: the filter kept its last composite and showed it
    until the first new matte, a few tenths of a second of the picture from when the scene
    was left (here the clip's second picture, where it restarts on its first; with a webcam,
    a moment from minutes before)."""
    first = read_image(portrait[0])
    second = np.ascontiguousarray(first[:, ::-1])  # the person on the other side
    clip = write_clip(tmp_path / "two.mp4", [first] * 30 + [second] * 20, 10)
    mask = cv2.imread(str(portrait[1]), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "first.png"), mask)
    cv2.imwrite(str(tmp_path / "second.png"), mask[:, ::-1])
    client = obs_studio.client
    for scene in ("Comeback", "Away"):
        client.create_scene(scene)
    client.create_input("Comeback", "Two portraits", "ffmpeg_source",
                        {"local_file": str(clip), "looping": True, "restart_on_activate": True},
                        True)
    client.create_source_filter("Two portraits", FILTER, FILTER_ID.decode(),
                                {"background": "color", "color": GREEN_OBS})
    client.set_current_program_scene("Comeback")
    shape = poll(lambda: shot(obs_studio, "Two portraits"), lambda s: s.std() > 10).shape
    size = (shape[1], shape[0])
    picture = cv2.resize(second, size, interpolation=cv2.INTER_AREA)
    background_first, _ = regions(tmp_path / "first.png", size)
    _, person_second = regions(tmp_path / "second.png", size)
    only_second = person_second & background_first  # the second picture's person alone

    def second_shown(image: np.ndarray) -> bool:
        return image.shape == shape and close_share(image, only_second, picture) >= 0.5

    assert second_shown(poll(lambda: shot(obs_studio, "Two portraits"), second_shown))
    client.set_current_program_scene("Away")
    time.sleep(2)
    client.set_current_program_scene("Comeback")
    back = time.monotonic()
    shots = []
    while time.monotonic() - back < 2:  # the clip shows its first picture for 3 s
        shots.append(shot(obs_studio, "Two portraits"))
    stale = [index for index, image in enumerate(shots) if second_shown(image)]
    assert not stale, f"the picture from before the cut in shots {stale} of {len(shots)}"
    # Then the first picture's matte: green where only the second picture had the person.
    assert close_share(shots[-1], only_second, np.array(GREEN)) >= 0.75, "no new matte"


def test_a_source_too_large_for_the_gpu_is_passed_through_said_once(obs_studio) -> None:
    """A 20000x20 colour source: the filter tried to make its textures again at every frame,
    and each try logged OBS's own GL errors, some 90 lines a second. (And what the filter says
    of the settings it is created with names its source, which OBS gives it only after.)"""
    client = obs_studio.client
    client.create_scene("Wide")
    client.create_input("Wide", "Very wide", "color_source_v3",
                        {"width": 20000, "height": 20, "color": 0xFF0000FF}, True)
    client.create_source_filter("Very wide", FILTER, FILTER_ID.decode(),
                                {"background": "color", "color": GREEN_OBS, "every_n": 99})
    client.set_current_program_scene("Wide")
    said = "Very wide: passing the input through: the GPU cannot hold textures of 20000x20"
    poll(lambda: log_count(obs_studio, said), bool)
    assert log_count(obs_studio, "Very wide: setting every_n 99 is outside 1..4; using 4") == 1
    errors = log_count(obs_studio, "device_texture_create (GL) failed")
    time.sleep(2)
    assert log_count(obs_studio, said) == 1, obs_studio.log_text()[-3000:]
    assert log_count(obs_studio, "device_texture_create (GL) failed") == errors, "tried again"
    client.set_input_settings("Very wide", {"width": 64, "height": 64}, True)
    image = poll(lambda: shot(obs_studio, "Very wide"),  # square, as the screenshot scales it
                 lambda s: s.shape[0] == s.shape[1] and s.std() == 0 and s[0, 0, 1] > 200)
    assert image.shape[0] == image.shape[1] and image[0, 0, 1] > 200, "not matted at 64x64"
    client.remove_input("Very wide")


def test_a_filtered_scene_holding_a_filtered_clip_keeps_answering(obs_studio,
                                                                  shared_data: Path) -> None:
    """The filter on a scene (or group) and on a media source inside it: screenshots of the
    scene, as scene switchers and stream decks take them, froze OBS for good within 20-30 s
    (the screenshot's thread drew the scene holding the GIL and waited for the clip's lock,
    which the thread calling our filter_video on the clip held while it waited for the GIL)."""
    client = obs_studio.client
    client.create_scene("Nested")
    client.create_input("Nested", "Talking head", "ffmpeg_source", {
        "local_file": str(shared_data / "talking-heads" / "speaker1.mp4"), "looping": True},
        True)
    for source in ("Talking head", "Nested"):
        client.create_source_filter(source, FILTER, FILTER_ID.decode(),
                                    {"background": "color", "color": GREEN_OBS})
    client.set_current_program_scene("Nested")
    start, shots = time.monotonic(), 0
    while time.monotonic() - start < 40:
        shot(obs_studio, "Nested")  # a frozen OBS does not answer: obs-websocket times out
        shots += 1
    assert shots > 40
    client.remove_scene("Nested")
