"""Fixtures of the web app's tests: servers (see `webserver.Server`) stopped after each test, a
real talking-head clip cut short, and a real headless Chromium driven by Selenium.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from support import missing
from webserver import Server, cut_clip, servers

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``serve`` with these arguments (its data in this test's tmp_path); stopped after."""
    with servers(tmp_path) as start:
        yield start


@pytest.fixture(scope="session")
def talking_head(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real talking-head clip with sound (speaker5, 524x524, 25 fps), cut to 2 s so that a
    render takes a few seconds."""
    folder = tmp_path_factory.mktemp("clips")
    return cut_clip(shared_data / "talking-heads" / "speaker5.mp4", folder / "speaker.mp4", 2.0)


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    """Where the browser saves downloads."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(tmp_path: Path, downloads: Path) -> Iterator[webdriver.Chrome]:
    """Headless Debian Chromium through chromedriver, with a fresh profile, saving downloads
    into `downloads`."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        missing("chromium and chromium-driver (python3 install.py --test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1280,800",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # its console, for the tests
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # The window size includes a bar even when headless: make the page itself 1280x800.
    driver.set_window_size(1280, 1600 - driver.execute_script("return innerHeight"))
    try:
        yield driver
    finally:
        driver.quit()
