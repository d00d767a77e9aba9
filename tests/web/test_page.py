"""The page end to end, as a user goes through it: a real ``serve`` with real render workers, a
real talking-head clip dropped into a real headless Chromium, previews, a render with progress,
the result played in the page and downloaded, and the jobs page.

Each step is photographed, into the test's tmp_path; with ``OBS_BGREMOVER_DOCS_IMAGES=docs/images``
(as for the OBS screenshots) the pictures replace ``docs/images/web-*.png``, which docs/web.md
shows. Only DAVIS footage (CC BY 4.0) may appear in the project's own files, so for those pictures
the clip is made of the DAVIS ``lucia`` frames with a tone for sound instead; every check reads
what it expects from the clip itself.
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from webserver import Server

from obs_bgremover.backgrounds import parse_background, picture
from obs_bgremover.render import open_huey
from obs_bgremover.render.queue import DATA_ENV

# A preview is meant to show "within a few seconds"; this allows for a busy test machine.
PREVIEW_LIMIT_S = 10.0
DOCS_IMAGES = os.environ.get("OBS_BGREMOVER_DOCS_IMAGES")


def davis_clip_with_sound(frames: Path, output: Path) -> Path:
    """The DAVIS frames as an H.264 clip at 24 fps with a 440 Hz tone as its AAC sound, played
    forward, back and forward again (8.7 s for lucia's 70 frames): rendered once, the clip was
    done within the page's first look at its progress on a quiet machine, and the picture of a
    render under way could not be taken."""
    once = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            for path in sorted(frames.glob("*.jpg"))]
    images = once + once[-2:0:-1] + once
    height, width = images[0].shape[:2]
    rate, seconds = 48000, len(images) / 24
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate))
    with av.open(str(output), "w") as container:
        video = container.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        for image in images:
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
        for start in range(0, len(tone), 1024):
            chunk = tone[start:start + 1024].astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return output


@pytest.fixture
def clip(shared_data: Path, tmp_path: Path) -> Path:
    """A real talking head (speaker5: 524x524, 25 fps, 4.9 s, with sound); for the docs' pictures
    the DAVIS clip instead (see the module docstring)."""
    if DOCS_IMAGES:
        return davis_clip_with_sound(shared_data / "davis-person" / "lucia" / "frames",
                                     tmp_path / "lucia.mp4")
    return shared_data / "talking-heads" / "speaker5.mp4"


def describe(clip: Path) -> tuple[int, int, int, float]:
    """(width, height, frames, seconds) of a clip's video, by decoding it."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.width, stream.height, frames, frames / float(stream.average_rate)


@pytest.fixture
def screenshot(browser: WebDriver, tmp_path: Path) -> Callable[..., Path]:
    """Save the page as ``web-NAME.png``, scrolled to show the bottom of an element."""
    folder = Path(DOCS_IMAGES or tmp_path)

    def take(name: str, bottom_of: str | None = None) -> Path:
        if bottom_of is not None:
            browser.execute_script(f"document.getElementById('{bottom_of}')"
                                   ".scrollIntoView({block: 'end'});")
        path = folder / f"web-{name}.png"
        browser.save_screenshot(str(path))
        return path

    return take


def open_with_clip(browser: WebDriver, server: Server, clip: Path,
                   timeout: float = 30) -> WebDriverWait:
    """Open the page and drop ``clip`` on it; the wait (of ``timeout`` seconds) for what the
    test does next, once the backgrounds are offered."""
    wait = WebDriverWait(browser, timeout)
    browser.get(server.url)
    drop(browser, clip)
    wait.until(lambda _: browser.find_element(By.ID, "background-step").is_displayed())
    return wait


def drop(browser: WebDriver, path: Path) -> None:
    """Drop a file on the upload area as a drag from the desktop would: a drop event whose
    DataTransfer holds the file (put into the page through a file input of the test's own)."""
    browser.execute_script("const input = document.createElement('input');"
                           "input.type = 'file'; input.id = 'test-file'; input.hidden = true;"
                           "document.body.append(input);")
    browser.find_element(By.ID, "test-file").send_keys(str(path))
    browser.execute_script(
        "const data = new DataTransfer();"
        "data.items.add(document.getElementById('test-file').files[0]);"
        "document.getElementById('dropzone').dispatchEvent("
        "  new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));")


def loaded_width(browser: WebDriver, element_id: str) -> int:
    """The width of an image as decoded in the page (0 until it has loaded)."""
    return browser.execute_script(
        f"const image = document.getElementById('{element_id}');"
        "return image.complete ? image.naturalWidth : 0;")


def text(browser: WebDriver, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def wait_for_preview(browser: WebDriver, previous: str) -> float:
    """Seconds until a new preview shows (its image decoded), after the one showing before."""
    start = time.monotonic()
    WebDriverWait(browser, 30).until(lambda _: (
        browser.find_element(By.ID, "background-step").get_attribute("data-preview") == "done"
        and browser.find_element(By.ID, "preview").get_attribute("src") != previous
        and loaded_width(browser, "preview") and loaded_width(browser, "alpha")))
    return time.monotonic() - start


def top_corners(image: np.ndarray) -> list[np.ndarray]:
    """RGB of the top corners: background in a talking head."""
    return [image[2, x, :3].astype(int) for x in (2, -3)]


def last_preview(server: Server) -> np.ndarray:
    job = server.get("/api/jobs?kind=preview").json()[-1]
    png = server.get(job["result_url"]).body
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def check_video(path: Path, source: Path) -> None:
    """The downloaded render: the clip's length, size and sound, with the studio background in
    its top corners."""
    width, height, count, seconds = describe(source)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (width, height)
        assert container.streams.audio, "the sound was lost"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video)]
    assert len(frames) == count
    with parse_background("studio") as background:
        plate = picture(background, (width, height))
    for got, want in zip(top_corners(frames[len(frames) // 2]), top_corners(plate), strict=True):
        assert np.abs(got - want).max() < 25, (got, want)


def test_upload_preview_render_download(
    serve: Callable[..., Server], browser: WebDriver, downloads: Path, clip: Path,
    screenshot: Callable[..., Path], tmp_path: Path,
) -> None:
    width, height, count, seconds = describe(clip)
    server = serve()
    wait = WebDriverWait(browser, 30)
    browser.get(server.url)
    assert "Only the first 10 s" in text(browser, "upload-step")
    assert "larger than 1920x1080 (standing: 1080x1920) is scaled down" in text(browser,
                                                                            "upload-step")
    screenshot("1-upload")

    drop(browser, clip)
    wait.until(lambda _: browser.find_element(By.ID, "background-step").is_displayed())
    assert re.fullmatch(rf"{clip.name}: {width}x{height}, {seconds:.1f} s, [\d.]+ fps, with sound",
                        text(browser, "upload-status")), text(browser, "upload-status")
    wait.until(lambda _: loaded_width(browser, "frame") == width)
    tiles = browser.find_elements(By.CSS_SELECTOR, "#backgrounds .tile")
    assert [tile.text for tile in tiles] == [
        "studio", "bokeh", "waves", "dusk", "flow (video)", "bokeh-drift (video)",
        "gradient-shift (video)", "Your own image or video", "Blur", "Colour", "Transparent"]
    wait.until(lambda _: browser.execute_script(
        "return [...document.querySelectorAll('#backgrounds img')]"
        ".every((image) => image.complete && image.naturalWidth === 192)"))

    # Your own image: a red one, uploaded from the tile.
    red = tmp_path / "red.png"
    cv2.imwrite(str(red), np.full((90, 160, 3), (0, 0, 255), np.uint8))
    browser.find_element(By.ID, "own-file").send_keys(str(red))
    wait_for_preview(browser, "")
    assert text(browser, "preview-caption") == 'With your file "red.png"'
    for corner in top_corners(last_preview(server)):
        assert np.abs(corner - (255, 0, 0)).max() < 25, corner

    # A built-in background, at the frame the slider picks.
    previous = browser.find_element(By.ID, "preview").get_attribute("src")
    browser.find_element(By.CSS_SELECTOR, '[data-background="studio"]').click()
    assert wait_for_preview(browser, previous) < PREVIEW_LIMIT_S
    previous = browser.find_element(By.ID, "preview").get_attribute("src")
    browser.execute_script("const slider = document.getElementById('at'); slider.value = 2;"
                           "slider.dispatchEvent(new Event('change'));")
    assert wait_for_preview(browser, previous) < PREVIEW_LIMIT_S
    # The slider moves in steps of the clip's own frames: 2 s, or the frame time nearest it.
    at = float(browser.find_element(By.ID, "frame").get_attribute("src").split("?at=")[1])
    assert at == pytest.approx(2, abs=0.05)
    assert text(browser, "at-label") == "2.00 s"
    assert server.get("/api/jobs?kind=preview").json()[-1]["at"] == pytest.approx(at)
    screenshot("2-preview", bottom_of="render-step")

    browser.find_element(By.ID, "render").click()
    running = re.compile(rf"^([1-9]\d?) % · \d+ of {count} frames · about \d+ s left$")
    wait.until(lambda _: running.match(text(browser, "render-status")))
    screenshot("3-render", bottom_of="render-step")
    WebDriverWait(browser, 90).until(
        lambda _: browser.find_element(By.ID, "result-step").is_displayed())
    assert text(browser, "render-status") == f"Done: 100 % · {count} of {count} frames."
    # It plays: a second in, it is paused for the picture.
    browser.execute_script("const video = document.getElementById('result');"
                           "video.muted = true; video.play();")
    wait.until(lambda _: browser.execute_script(
        "return document.getElementById('result').currentTime") > 1)
    browser.execute_script("document.getElementById('result').pause();")
    duration = browser.execute_script("return document.getElementById('result').duration")
    assert duration == pytest.approx(seconds, abs=0.1)
    screenshot("4-result", bottom_of="result-step")

    browser.find_element(By.ID, "download").click()
    saved = downloads / f"{clip.stem}-studio.mp4"
    wait.until(lambda _: saved.exists() and not list(downloads.glob("*.crdownload")))
    check_video(saved, clip)

    # The jobs page, with a job that failed: its clip was damaged on the server's disk.
    broken = server.upload(clip, "broken.mp4").json()
    source = server.data / "web" / "uploads" / broken["id"] / "source"
    source.write_bytes(source.read_bytes()[:100_000])
    failed = server.wait(server.job(broken["id"], "dusk")["id"])
    browser.get(server.url + "/jobs")
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, f'tr[data-job="{failed["id"]}"]'))
    rows = browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
    assert [row.get_attribute("data-status") for row in rows] == ["failed", "done"]
    assert '"broken.mp4" is a damaged or truncated MP4/MOV file' in rows[0].text
    assert str(server.data) not in rows[0].text
    assert "Download" in rows[1].text
    screenshot("5-jobs")


def test_a_queued_job_is_stopped_from_the_jobs_page(
    serve: Callable[..., Server], browser: WebDriver, clip: Path
) -> None:
    server = serve("--workers", "0")  # nobody renders it: it stays queued until stopped
    upload = server.upload(clip, clip.name).json()["id"]
    row = f'tr[data-job="{server.job(upload, "dusk")["id"]}"]'
    browser.get(server.url + "/jobs")
    wait = WebDriverWait(browser, 30, ignored_exceptions=[NoSuchElementException,
                                                        StaleElementReferenceException])

    def click(selector: str) -> bool:  # the row appears, and its button changes: find it afresh
        browser.find_element(By.CSS_SELECTOR, selector).click()
        return True

    wait.until(lambda _: click(f"{row} button.stop"))
    wait.until(lambda _: browser.find_element(By.CSS_SELECTOR, row)
               .get_attribute("data-status") == "stopped")
    assert "Stopped from the web page" in browser.find_element(By.CSS_SELECTOR, row).text
    # Not in red, as a failure is: the user stopped it.
    reason = browser.find_element(By.CSS_SELECTOR, f"{row} p")
    assert reason.get_attribute("class") == "note"
    wait.until(lambda _: click(f"{row} button.delete"))
    wait.until(lambda _: not browser.find_elements(By.CSS_SELECTOR, row))
    assert server.get("/api/jobs").json() == []


def test_a_reload_comes_back_to_the_clip_the_background_and_the_render(
    serve: Callable[..., Server], browser: WebDriver, clip: Path
) -> None:
    """The page kept its steps in memory only: a reload (or the address opened again) went back
    to an empty first step, and a render under way was left to the jobs page."""
    server = serve("--workers", "0")  # the render stays queued: the page waits for it
    wait = open_with_clip(browser, server, clip)
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    browser.execute_script("const slider = document.getElementById('at'); slider.value = 2;"
                           "slider.dispatchEvent(new Event('change'));")
    label = text(browser, "at-label")
    browser.find_element(By.ID, "render").click()
    wait.until(lambda _: text(browser, "render-status") == "Waiting for a render worker…")
    status = text(browser, "upload-status")

    browser.refresh()
    wait.until(lambda _: browser.find_element(By.ID, "background-step").is_displayed())
    assert text(browser, "upload-status") == status
    assert text(browser, "at-label") == label
    selected = browser.find_elements(By.CSS_SELECTOR, "#backgrounds .tile.selected")
    assert [tile.get_attribute("data-background") for tile in selected] == ["dusk"]
    wait.until(lambda _: text(browser, "render-status") == "Waiting for a render worker…")
    assert not browser.find_element(By.ID, "render").is_enabled()
    (video,) = server.get("/api/jobs?kind=video").json()  # the same render, not a second one
    server.request("POST", f"/api/jobs/{video['id']}/stop")
    wait.until(lambda _: "Stopped from the web page" in text(browser, "render-status"))
    assert "error" not in browser.find_element(By.ID, "render-status").get_attribute("class")


def test_a_render_is_stopped_from_the_page_that_follows_it(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """A render could be stopped from the jobs page alone; and Render, pressed from the
    keyboard, turned off under the focus, which went back to the top of the page."""
    server = serve("--workers", "0")  # the render stays queued
    wait = open_with_clip(browser, server, talking_head)
    stop = browser.find_element(By.ID, "stop-render")
    assert not stop.is_displayed()
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    browser.execute_script("document.getElementById('render').focus();")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait.until(lambda _: text(browser, "render-status") == "Waiting for a render worker…")
    assert stop.is_displayed() and stop.accessible_name == "Stop the render"
    assert browser.switch_to.active_element == stop
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait.until(lambda _: text(browser, "render-status") == "Stopped from the web page")
    assert not stop.is_displayed()
    render = browser.find_element(By.ID, "render")
    assert render.is_enabled() and browser.switch_to.active_element == render
    (video,) = server.get("/api/jobs?kind=video").json()
    assert video["status"] == "stopped"

def test_a_render_survives_a_restart_of_the_server(
    serve: Callable[..., Server], browser: WebDriver, shared_data: Path,
) -> None:
    """A restarted ``serve`` queues its running renders again and finishes them; the page that
    started one once took the first failed poll for a failed render ("Failed to fetch") and
    offered to render again, while the job went on to finish."""
    clip = shared_data / "talking-heads" / "speaker5.mp4"
    count = describe(clip)[2]
    server = serve()
    browser.get(server.url)
    drop(browser, clip)
    wait = WebDriverWait(browser, 30)
    wait.until(lambda _: browser.find_element(By.ID, "background-step").is_displayed())
    browser.find_element(By.CSS_SELECTOR, '[data-background="studio"]').click()
    wait_for_preview(browser, "")
    browser.find_element(By.ID, "render").click()
    wait.until(lambda _: re.match(r"^[1-9]\d? % ", text(browser, "render-status")))
    server.stop()
    wait.until(lambda _: "cannot be reached" in text(browser, "render-status"))
    assert not browser.find_element(By.ID, "render").is_enabled(), "offered to render again"
    server.start()
    WebDriverWait(browser, 90).until(
        lambda _: browser.find_element(By.ID, "result-step").is_displayed())
    assert text(browser, "render-status") == f"Done: 100 % · {count} of {count} frames."


def test_a_render_says_its_own_background_after_another_pick(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """A background picked during a render (or after it) put "with dusk" beside the render of
    studio under way, its progress and its result: nothing on the page said it was studio."""
    server = serve("--workers", "0")  # the render stays queued
    wait = open_with_clip(browser, server, talking_head)
    browser.find_element(By.CSS_SELECTOR, '[data-background="studio"]').click()
    browser.find_element(By.ID, "render").click()
    wait.until(lambda _: text(browser, "render-status") == "Waiting for a render worker…")
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    assert address(browser)["background"] == "dusk"
    assert text(browser, "render-job") == f"Render of {talking_head.name} with studio"
    browser.refresh()  # the address has dusk, and the render of studio
    wait.until(lambda _: text(browser, "render-status") == "Waiting for a render worker…")
    assert text(browser, "render-job") == f"Render of {talking_head.name} with studio"
    (video,) = server.get("/api/jobs?kind=video").json()
    server.request("POST", f"/api/jobs/{video['id']}/stop")
    wait.until(lambda _: "Stopped from the web page" in text(browser, "render-status"))
    drop(browser, talking_head)  # a new clip: no render followed, nothing said of one
    wait.until(lambda _: not browser.find_element(By.ID, "render-job").is_displayed())


def test_a_pick_while_the_server_restarts_shows_once_it_is_back(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """A background picked while the server was away failed for good ("the server cannot be
    reached"), and still had to be picked again once it was back."""
    server = serve()
    wait = open_with_clip(browser, server, talking_head)
    browser.find_element(By.CSS_SELECTOR, '[data-background="studio"]').click()
    wait_for_preview(browser, "")
    previous = browser.find_element(By.ID, "preview").get_attribute("src")
    server.stop()
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    wait.until(lambda _: text(browser, "preview-status")
               == "The server cannot be reached; asking again…")
    assert "error" not in browser.find_element(By.ID, "preview-status").get_attribute("class")
    server.start()
    wait_for_preview(browser, previous)
    assert text(browser, "preview-caption") == "With dusk"

def address(browser: WebDriver) -> dict[str, str]:
    """What the page keeps in its address, after the ``#``."""
    return dict(urllib.parse.parse_qsl(browser.execute_script("return location.hash.slice(1)")))


def test_a_new_clip_during_a_render_is_not_mixed_with_that_render(
    serve: Callable[..., Server], browser: WebDriver, shared_data: Path, talking_head: Path,
) -> None:
    """A clip dropped while the previous one rendered: the page showed the new clip but kept
    Render disabled and the old render's progress, and once the old render finished, "Your new
    clip" played the old clip (and Download saved it). (A new background picked meanwhile
    turned Render back on.)"""
    first = shared_data / "talking-heads" / "speaker5.mp4"
    _, _, count, seconds = describe(talking_head)
    server = serve()
    wait = open_with_clip(browser, server, first)
    browser.find_element(By.CSS_SELECTOR, '[data-background="blur"]').click()
    browser.find_element(By.ID, "render").click()
    wait.until(lambda _: re.match(r"^\d+ % ", text(browser, "render-status")))
    old = address(browser)["render"]
    # A pick while it renders: Render came back on, and a second render began beside it.
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    time.sleep(0.5)
    assert not browser.find_element(By.ID, "render").is_enabled()

    drop(browser, talking_head)
    wait.until(lambda _: text(browser, "upload-status").startswith(f"{talking_head.name}: "))
    new = address(browser)
    assert "render" not in new and new["upload"] != server.get(f"/api/jobs/{old}").json()["upload"]
    assert browser.find_element(By.ID, "render").is_enabled()
    time.sleep(1)  # the old render's progress, polled every 0.4 s, would be back by now
    assert not browser.find_element(By.ID, "render-status").is_displayed()
    assert not browser.find_element(By.ID, "render-progress").is_displayed()
    assert not browser.find_element(By.ID, "result-step").is_displayed()

    browser.find_element(By.ID, "render").click()
    WebDriverWait(browser, 90).until(
        lambda _: browser.find_element(By.ID, "result-step").is_displayed())
    mine = address(browser)["render"]
    assert mine != old and address(browser)["upload"] == new["upload"]
    assert server.get(f"/api/jobs/{mine}").json()["clip"] == talking_head.name
    assert text(browser, "render-status") == f"Done: 100 % · {count} of {count} frames."
    # The old render finishes too, on the server, and changes nothing here.
    assert server.wait(old, timeout=90)["status"] == "done"
    time.sleep(1)
    assert f"/api/jobs/{mine}/" in browser.find_element(By.ID, "result").get_attribute("src")
    assert f"/api/jobs/{mine}/" in browser.find_element(By.ID, "download").get_attribute("href")
    assert text(browser, "render-status") == f"Done: 100 % · {count} of {count} frames."
    assert address(browser) == {**new, "render": mine}
    wait.until(lambda _: browser.execute_script(
        "return document.getElementById('result').duration") > 0)
    duration = browser.execute_script("return document.getElementById('result').duration")
    assert duration == pytest.approx(seconds, abs=0.1)


@contextmanager
def uploading_slowly(browser: WebDriver, clip: Path) -> Iterator[None]:
    """Drop ``clip`` on a line of 64 kB a second (10 s for a talking head), and wait until its
    upload is under way; the line is fast again afterwards."""
    browser.set_network_conditions(offline=False, latency=0, download_throughput=-1,
                                   upload_throughput=64 * 1024)  # bytes a second
    try:
        drop(browser, clip)
        WebDriverWait(browser, 10).until(lambda _: re.search(
            rf"{re.escape(clip.name)}… [1-9]\d? %", text(browser, "upload-status")))
        yield
    finally:
        browser.delete_network_conditions()


def test_a_clip_dropped_during_an_upload_stops_that_upload(
    serve: Callable[..., Server], browser: WebDriver, shared_data: Path, talking_head: Path,
) -> None:
    """A second clip dropped while the first uploaded took the page over, but the first went
    on uploading and stayed on the server, in no page (500 MB clips, for nothing)."""
    server = serve("--workers", "0")
    browser.get(server.url)
    with uploading_slowly(browser, shared_data / "talking-heads" / "speaker1.mp4"):
        drop(browser, talking_head)
        WebDriverWait(browser, 60).until(
            lambda _: text(browser, "upload-status").startswith(f"{talking_head.name}: "))
    time.sleep(1)
    assert [upload["name"] for upload in server.get("/api/uploads").json()] == [
        talking_head.name]
    assert list((server.data / "web" / "tmp").iterdir()) == []


def test_an_upload_is_cancelled_from_the_page(
    serve: Callable[..., Server], browser: WebDriver, shared_data: Path, tmp_path: Path,
) -> None:
    """A clip uploading (hundreds of MB on a slow line) had no way to stop it but leaving the
    page; a bar full at 100 % stayed once it was up."""
    server = serve("--workers", "0", "--max-upload-mb", "1")
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    browser.get(server.url)
    cancel = browser.find_element(By.ID, "cancel-upload")
    assert not cancel.is_displayed()
    with uploading_slowly(browser, shared_data / "talking-heads" / "speaker1.mp4"):
        drop(browser, big)  # too large: refused at once, and the upload goes on
        assert "more than this server takes" in text(browser, "upload-error")
        assert "speaker1.mp4…" in text(browser, "upload-status")
        assert cancel.is_displayed() and cancel.accessible_name == "Cancel the upload"
        cancel.click()
        WebDriverWait(browser, 10).until(lambda _: not cancel.is_displayed())
    assert text(browser, "upload-error") == "The upload of speaker1.mp4 was cancelled."
    assert not browser.find_element(By.ID, "upload-progress").is_displayed()
    assert not browser.find_element(By.ID, "background-step").is_displayed()
    time.sleep(1)
    assert server.get("/api/uploads").json() == []
    assert list((server.data / "web" / "tmp").iterdir()) == []

def test_a_newer_pick_stops_the_preview_it_replaces(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """Previews replaced by a newer pick were left to render: nine tiles clicked in a row
    rendered nine previews, and the one wanted came last."""
    server = serve("--workers", "0")  # the previews stay queued, unless stopped
    wait = open_with_clip(browser, server, talking_head, timeout=15)

    def previews() -> dict[str, str]:
        """The status of each preview, by its background."""
        jobs = server.get("/api/jobs?kind=preview").json()
        assert all(job["error"] in ("", "Stopped from the web page") for job in jobs), jobs
        return {job["background"]: job["status"] for job in jobs}

    # Three picks at once: the first two are replaced before they are even queued (their
    # requests cross on the way, and the server may queue them in any order).
    browser.execute_script("for (const name of ['studio', 'bokeh', 'dusk'])"
                           "  document.querySelector(`[data-background='${name}']`).click();")
    wait.until(lambda _: previews() == {"studio": "stopped", "bokeh": "stopped", "dusk": "queued"})
    # And one more once the last one is queued.
    browser.find_element(By.CSS_SELECTOR, '[data-background="blur"]').click()
    wait.until(lambda _: previews() == {"studio": "stopped", "bokeh": "stopped",
                                        "dusk": "stopped", "blur": "queued"})
    assert text(browser, "preview-status") == "Rendering a preview…"
    assert browser.find_element(By.ID, "background-step").get_attribute("data-preview") == "running"


def test_the_jobs_page_keeps_the_keyboard_focus_on_a_refresh(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """The jobs page redrew its whole table every 1.5 s: the focus on a Stop or Delete button
    went back to the page (Enter then did nothing), and the buttons did not say which job."""
    server = serve("--workers", "0")
    upload = server.upload(talking_head, talking_head.name).json()["id"]
    job = server.job(upload, "dusk")["id"]
    row = f'tr[data-job="{job}"]'
    browser.get(server.url + "/jobs")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, f"{row} button.stop"))
    stop = browser.find_element(By.CSS_SELECTOR, f"{row} button.stop")
    assert stop.accessible_name == f"Stop job {job} ({talking_head.name})"
    browser.execute_script("arguments[0].focus();", stop)

    # Another job appears: the table was refreshed, and more than once by the time it is seen.
    other = server.job(upload, "studio")["id"]
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, f'tr[data-job="{other}"]'))
    time.sleep(2)
    rows = browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
    assert [element.get_attribute("data-job") for element in rows] == [other, job]
    assert browser.switch_to.active_element == stop, "the focus was lost"

    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait.until(lambda _: browser.find_element(By.CSS_SELECTOR, row)
               .get_attribute("data-status") == "stopped")
    assert "Stopped from the web page" in browser.find_element(By.CSS_SELECTOR, row).text
    # Stop became Delete under the keyboard: the focus is on it.
    delete = browser.find_element(By.CSS_SELECTOR, f"{row} button.delete")
    wait.until(lambda _: browser.switch_to.active_element == delete)
    assert delete.accessible_name == f"Delete job {job} ({talking_head.name})"
    time.sleep(2)
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait.until(lambda _: not browser.find_elements(By.CSS_SELECTOR, row))
    assert [queued["id"] for queued in server.get("/api/jobs").json()] == [other]


def test_the_jobs_page_shows_the_newest_jobs_and_older_ones_on_request(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """The jobs page asked for every job at every refresh: a second and 760 KB at 2000 jobs.
    It shows the newest 50 and more on request."""
    server = serve("--workers", "0")
    upload = server.upload(talking_head, talking_head.name).json()["id"]
    renders = [server.job(upload, "dusk")["id"] for _ in range(52)]
    previews = [server.job(upload, "dusk", kind="preview")["id"] for _ in range(3)]
    browser.get(server.url + "/jobs")
    wait = WebDriverWait(browser, 30)
    older = browser.find_element(By.ID, "older-jobs")

    def shown() -> list[str]:  # in one step: a refresh removes rows
        return browser.execute_script(
            "return [...document.querySelectorAll('#jobs tbody tr')].map(r => r.dataset.job)")

    wait.until(lambda _: shown() == renders[:1:-1] and older.is_displayed())
    browser.find_element(By.ID, "show-previews").click()
    wait.until(lambda _: shown() == [*previews[::-1], *renders[:4:-1]])
    assert older.is_displayed()
    older.click()
    wait.until(lambda _: shown() == [*previews[::-1], *renders[::-1]])
    assert not older.is_displayed()


def test_the_slider_and_the_backgrounds_say_what_they_are(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """The frame slider had no name (its label named the <output> in it), and the background
    picked was told by its colour alone."""
    server = serve("--workers", "0")
    wait = WebDriverWait(browser, 30)
    browser.get(server.url)
    # The drop area is no control of its own: the Choose button is the way in by keyboard.
    dropzone = browser.find_element(By.ID, "dropzone")
    assert dropzone.aria_role in ("generic", "none") and dropzone.get_attribute("tabindex") is None
    choose = browser.find_element(By.ID, "choose")
    assert (choose.aria_role, choose.accessible_name) == ("button", "Choose a video…")

    drop(browser, talking_head)
    wait.until(lambda _: browser.find_element(By.ID, "background-step").is_displayed())
    slider = browser.find_element(By.ID, "at")
    assert (slider.aria_role, slider.accessible_name) == ("slider", "Frame at")
    browser.execute_script("const slider = document.getElementById('at'); slider.value = 1;"
                           "slider.dispatchEvent(new Event('change'));")
    assert slider.get_attribute("aria-valuetext") == text(browser, "at-label") == "1.00 s"

    def pressed() -> dict[str, str]:
        return {tile.text: tile.get_attribute("aria-pressed")
                for tile in browser.find_elements(By.CSS_SELECTOR, "#backgrounds button.tile")}

    assert set(pressed().values()) == {"false"}
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    assert [name for name, value in pressed().items() if value == "true"] == ["dusk"]
    assert browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').aria_role == "button"
    colour = browser.find_element(By.ID, "colour")
    assert colour.accessible_name == "Colour"
    browser.execute_script("const colour = document.getElementById('colour');"
                           "colour.value = '#ff0000'; colour.dispatchEvent(new Event('change'));")
    assert set(pressed().values()) == {"false"}
    assert colour.accessible_name == "Colour (selected)"


def test_the_colour_tile_picks_the_colour_it_shows(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """A colour was picked only by a change in the colour picker: a click on the tile, its
    picker closed on the green it showed, picked nothing, and Render stayed off."""
    server = serve("--workers", "0")
    open_with_clip(browser, server, talking_head)
    colour = browser.find_element(By.ID, "colour")
    browser.find_element(By.ID, "colour-tile").click()
    ActionChains(browser).send_keys(Keys.ENTER).perform()  # the picker closed as it opened
    assert address(browser).get("background") == "color:#00b140"
    assert colour.accessible_name == "Colour (selected)"
    assert browser.find_element(By.ID, "render").is_enabled()
    # By keyboard too, after another pick.
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    assert colour.accessible_name == "Colour"
    browser.execute_script("document.getElementById('colour').focus();")
    ActionChains(browser).send_keys(Keys.SPACE).pause(0.3).send_keys(Keys.ESCAPE).perform()
    assert address(browser).get("background") == "color:#00b140"
    assert colour.accessible_name == "Colour (selected)"


def test_the_pages_fit_a_phone(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """At a phone's 390 px the clip, the preview and the cut-out were three pictures 92 px wide
    side by side, and the jobs page scrolled sideways, its Stop and Delete buttons out of sight."""
    server = serve("--workers", "0")
    server.job(server.upload(talking_head, talking_head.name).json()["id"], "dusk")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    wait = open_with_clip(browser, server, talking_head)
    widths = browser.execute_script("return [...document.querySelectorAll('.picture')]"
                                    ".map((picture) => picture.getBoundingClientRect().width)")
    assert min(widths) >= 300, widths
    page_width = "return [innerWidth, document.documentElement.scrollWidth]"
    width, scrolled = browser.execute_script(page_width)
    assert (width, scrolled) == (390, 390)
    browser.get(server.url + "/jobs")
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr button.stop"))
    assert browser.execute_script(page_width) == [390, 390]


def test_a_background_too_large_is_refused_before_it_is_sent(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path, tmp_path: Path,
) -> None:
    """A clip too large was refused at once, but a background was sent whole (500 MB, by
    default) for the server to refuse."""
    server = serve("--workers", "0", "--max-upload-mb", "1")
    big = tmp_path / "wall.png"
    big.write_bytes(os.urandom(1536 * 1024))
    wait = open_with_clip(browser, server, talking_head)
    browser.find_element(By.ID, "own-file").send_keys(str(big))
    wait.until(lambda _: "wall.png" in text(browser, "preview-status"))
    assert text(browser, "preview-status") == (
        '"wall.png" is 1.5 MB, more than this server takes (1.0 MB). '
        "Use a smaller picture or a shorter video.")
    assert "error" in browser.find_element(By.ID, "preview-status").get_attribute("class")
    time.sleep(0.5)  # an upload under way would have shown by now
    sent = browser.execute_script("return performance.getEntriesByType('resource')"
                                  ".map((entry) => entry.name)"
                                  ".filter((name) => name.includes('purpose=background'))")
    assert sent == []
    assert [upload["purpose"] for upload in server.get("/api/uploads").json()] == ["clip"]


def test_the_pages_leave_no_error_in_the_console(
    serve: Callable[..., Server], browser: WebDriver,
) -> None:
    """Every page opened left "favicon.ico: 404 (Not Found)" in the browser's console."""
    server = serve("--workers", "0")
    for page in ("/", "/jobs"):
        browser.get(server.url + page)
        WebDriverWait(browser, 30).until(lambda _: browser.execute_script(
            "return document.readyState === 'complete'"))
        time.sleep(0.5)
        errors = [entry["message"] for entry in browser.get_log("browser")
                  if entry["level"] == "SEVERE"]
        assert errors == [], page


def test_a_new_clip_takes_the_focus_off_stop_to_render(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """A clip dropped while Stop had the focus hid Stop under it, and the focus went back to
    the top of the page."""
    server = serve("--workers", "0")  # the render stays queued
    wait = open_with_clip(browser, server, talking_head)
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    browser.execute_script("document.getElementById('render').focus();")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    stop = browser.find_element(By.ID, "stop-render")
    wait.until(lambda _: browser.switch_to.active_element == stop)
    drop(browser, talking_head)  # with the mouse: the focus stays where it was
    wait.until(lambda _: not stop.is_displayed())
    assert browser.switch_to.active_element == browser.find_element(By.ID, "render")


def test_the_blur_has_a_strength(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """The page offered the blur at its default strength alone, where OBS and the command line
    take 1 to 100."""
    server = serve()
    wait = open_with_clip(browser, server, talking_head)
    strength = browser.find_element(By.ID, "blur-strength")
    assert not strength.is_displayed()
    browser.find_element(By.CSS_SELECTOR, '[data-background="blur"]').click()
    assert (strength.aria_role, strength.accessible_name) == ("slider", "Blur strength")
    assert address(browser)["background"] == "blur"  # the default, as before
    wait_for_preview(browser, "")
    previous = browser.find_element(By.ID, "preview").get_attribute("src")
    strength.send_keys(Keys.END)  # 100
    assert text(browser, "blur-label") == "100"
    assert address(browser)["background"] == "blur:100"
    wait_for_preview(browser, previous)
    assert text(browser, "preview-caption") == "With blur 100"
    assert server.get("/api/jobs?kind=preview").json()[-1]["background"] == "blur:100"
    browser.refresh()  # comes back with its strength
    wait.until(lambda _: browser.find_element(By.ID, "background-step").is_displayed())
    strength = browser.find_element(By.ID, "blur-strength")
    assert strength.get_attribute("value") == "100" and strength.is_displayed()
    assert browser.find_element(By.ID, "blur-tile").get_attribute("aria-pressed") == "true"
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    assert not strength.is_displayed()


def test_a_long_file_name_stays_in_the_page(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path, tmp_path: Path,
) -> None:
    """A clip named without spaces ("aaaa…_final_FINAL_v2.mp4") ran out of its step, and the
    page scrolled sideways."""
    server = serve("--workers", "0")
    clip = tmp_path / ("a" * 150 + "_final_FINAL_v2.mp4")
    clip.write_bytes(talking_head.read_bytes())
    browser.get(server.url)
    drop(browser, clip)
    WebDriverWait(browser, 30).until(
        lambda _: browser.find_element(By.ID, "background-step").is_displayed())
    assert clip.name in text(browser, "upload-status")
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= innerWidth")


def test_a_render_is_deleted_from_the_jobs_page_once_asked(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """A finished render and its video went at one click, where an upload asks first."""
    server = serve()
    upload = server.upload(talking_head, "talk.mp4").json()["id"]
    job = server.wait(server.job(upload, "dusk")["id"])
    assert job["status"] == "done", job
    browser.get(server.url + "/jobs")
    row = f'tr[data-job="{job["id"]}"]'
    delete = WebDriverWait(browser, 30).until(
        lambda _: browser.find_element(By.CSS_SELECTOR, f"{row} button.delete"))
    for accept in (False, True):
        delete.click()
        alert = WebDriverWait(browser, 10).until(expected_conditions.alert_is_present())
        assert alert.text == ('Delete the render of "talk.mp4" with dusk? Its video is deleted '
                              "with it.")
        if accept:
            alert.accept()
        else:
            alert.dismiss()
            time.sleep(0.5)
            assert server.get(f"/api/jobs/{job['id']}").status == 200, "deleted unasked"
    WebDriverWait(browser, 10).until(lambda _: not browser.find_elements(By.CSS_SELECTOR, row))
    assert server.get("/api/jobs?kind=video").json() == []


def upload_row(upload: str) -> str:
    return f'#uploads tr[data-upload="{upload}"]'


def confirm_delete(browser: WebDriver, upload: str, accept: bool) -> str:
    """Click an upload's Delete button, answer the question it puts, and return the question."""
    button = browser.find_element(By.CSS_SELECTOR, f"{upload_row(upload)} button.delete")
    button.click()
    alert = WebDriverWait(browser, 10).until(expected_conditions.alert_is_present())
    question = alert.text
    if accept:
        alert.accept()
    else:
        alert.dismiss()
    return question


def test_the_jobs_page_lists_the_uploads_and_deletes_one_with_its_jobs(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """The pages could neither list the uploads nor delete one: clips of hundreds of MB stayed
    on the server's disk, unseen, unless deleted through the API."""
    server = serve("--workers", "0")
    clip = server.upload(talking_head, "talk.mp4").json()
    _, png = cv2.imencode(".png", np.full((90, 160, 3), (0, 128, 0), np.uint8))
    wall = server.upload(png.tobytes(), "wall.png", "background").json()
    # Jobs made from the clip, two with the picture as background; stopped, so finished.
    own = server.job(clip["id"], "dusk")["id"]
    walled = [server.job(clip["id"], f"upload:{wall['id']}", kind)["id"]
              for kind in ("video", "preview")]
    for job in (own, *walled):
        server.request("POST", f"/api/jobs/{job}/stop")
    browser.get(server.url + "/jobs")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#uploads tbody tr")) == 2)
    rows = browser.find_elements(By.CSS_SELECTOR, "#uploads tbody tr")
    assert [row.get_attribute("data-upload") for row in rows] == [wall["id"], clip["id"]]
    cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    megabytes = f"{clip['bytes'] / 1048576:.1f} MB"
    kilobytes = f"{max(1, int(wall['bytes'] / 1024 + 0.5))} KB"  # not "0.0 MB"
    assert cells[0][1:] == ["wall.png", "image background", kilobytes, "", "Delete"]
    assert cells[1][1:] == ["talk.mp4", "video clip", megabytes, f"{clip['duration']:.1f} s",
                            "Delete"]
    delete = browser.find_element(By.CSS_SELECTOR, f"{upload_row(wall['id'])} button")
    assert delete.accessible_name == f"Delete upload {wall['id']} (wall.png)"
    assert not browser.find_element(By.ID, "uploads-empty").is_displayed()

    # Dismissed: nothing is deleted.
    question = confirm_delete(browser, clip["id"], accept=False)
    assert question == ('Delete the clip "talk.mp4"?\nThe jobs made from it are deleted too, '
                        "with their results: 2 renders and 1 preview.")
    time.sleep(2)
    assert len(server.get("/api/uploads").json()) == 2
    assert len(server.get("/api/jobs").json()) == 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "#uploads tbody tr")) == 2

    # Accepted: the picture goes, with the jobs using it, and its row leaves the page.
    question = confirm_delete(browser, wall["id"], accept=True)
    assert question == ('Delete the background "wall.png"?\nThe jobs using it as background '
                        "are deleted too, with their results: 1 render and 1 preview.")
    wait.until(lambda _: not browser.find_elements(By.CSS_SELECTOR,
                                                   upload_row(wall["id"])))
    assert [upload["id"] for upload in server.get("/api/uploads").json()] == [clip["id"]]
    assert [job["id"] for job in server.get("/api/jobs").json()] == [own]
    wait.until(lambda _: [row.get_attribute("data-job") for row in browser.find_elements(
        By.CSS_SELECTOR, "#jobs tbody tr")] == [own])
    assert not browser.find_element(By.ID, "jobs-error").is_displayed()

    # And the clip, with the job left: both tables are empty.
    assert confirm_delete(browser, clip["id"], accept=True).endswith(": 1 render.")
    wait.until(lambda _: browser.find_element(By.ID, "uploads-empty").is_displayed())
    assert browser.find_element(By.ID, "uploads-empty").text == "No uploads."
    wait.until(lambda _: browser.find_element(By.ID, "jobs-empty").is_displayed())
    assert server.get("/api/uploads").json() == server.get("/api/jobs").json() == []


def test_an_upload_in_use_is_not_deleted_from_the_jobs_page(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """An upload that an unfinished job uses cannot be deleted: the page says why, in the
    server's words, and the upload stays."""
    server = serve("--workers", "0")  # nobody renders the job: it stays queued
    upload = server.upload(talking_head, "talk.mp4").json()["id"]
    job = server.job(upload, "dusk")["id"]
    refused = server.request("DELETE", f"/api/uploads/{upload}")
    assert refused.status == 409 and job in refused.detail
    browser.get(server.url + "/jobs")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, upload_row(upload)))
    assert "with their results: 1 render." in confirm_delete(browser, upload, accept=True)
    wait.until(lambda _: text(browser, "jobs-error") == refused.detail)
    time.sleep(2)  # refreshed since, and the sentence is still there
    assert text(browser, "jobs-error") == refused.detail
    assert browser.find_elements(By.CSS_SELECTOR, upload_row(upload))
    assert [kept["id"] for kept in server.get("/api/uploads").json()] == [upload]
    assert [kept["id"] for kept in server.get("/api/jobs").json()] == [job]


def test_a_clip_deleted_from_the_jobs_page_sends_the_page_back_to_its_first_step(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
) -> None:
    """A clip deleted on the jobs page while the page showed it left the page on it: every
    pick and Render failed in the server's words, "there is no upload 3f9c…", an id the page
    never shows, with no way on but dropping a clip."""
    server = serve("--workers", "0")
    wait = open_with_clip(browser, server, talking_head)
    name = talking_head.name
    (upload,) = server.get("/api/uploads").json()
    assert server.request("DELETE", f"/api/uploads/{upload['id']}").status == 204
    for control in ('[data-background="dusk"]', "#render"):  # a pick, then Render
        browser.find_element(By.CSS_SELECTOR, control).click()
        wait.until(lambda _: not browser.find_element(By.ID, "background-step").is_displayed())
        assert not browser.find_element(By.ID, "render-step").is_displayed()
        assert text(browser, "upload-error") == (
            f"The clip {name} is no longer on the server: it was deleted on the jobs page. "
            "Drop it here again.")
        assert text(browser, "drop-prompt") == "Drop a video here"
        assert "upload" not in address(browser)
        assert browser.switch_to.active_element == browser.find_element(By.ID, "choose")
        if control == "#render":
            break
        # Dropped again, the clip is back; and deleted again before Render.
        drop(browser, talking_head)
        wait.until(lambda _: browser.find_element(By.ID, "render-step").is_displayed())
        assert not browser.find_element(By.ID, "upload-error").is_displayed()
        (upload,) = server.get("/api/uploads").json()
        wait.until(lambda _: server.get("/api/jobs").json())  # the preview of the pick kept
        for job in server.get("/api/jobs").json():
            server.request("POST", f"/api/jobs/{job['id']}/stop")
        assert server.request("DELETE", f"/api/uploads/{upload['id']}").status == 204


def test_a_preview_whose_job_is_gone_is_not_taken_for_a_deleted_clip(
    serve: Callable[..., Server], browser: WebDriver, talking_head: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any 404 while the page waited for its preview was taken for its clip deleted: a preview
    job gone from the queue (deleted on the jobs page as it finished, a queue replaced) sent the
    page back to its first step, saying that a clip still on the server had been deleted."""
    server = serve("--workers", "0")
    wait = open_with_clip(browser, server, talking_head)
    browser.find_element(By.CSS_SELECTOR, '[data-background="dusk"]').click()
    wait.until(lambda _: server.get("/api/jobs").json())
    (job,) = server.get("/api/jobs").json()
    monkeypatch.setenv(DATA_ENV, str(server.data))
    open_huey().storage.delete_data(f"job:{job['id']}")  # its record gone, as with its Delete
    wait.until(lambda _: text(browser, "preview-status") == f"there is no job {job['id']}")
    assert browser.find_element(By.ID, "background-step").is_displayed()
    assert not browser.find_element(By.ID, "upload-error").is_displayed()
    assert len(server.get("/api/uploads").json()) == 1
