"""The sweep report in a real browser: headless Chromium loads every image and every sound, offline."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from experiments.sox_suite import sox_available
from tests.experiments.test_bench import tiny_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required")

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/install-system-deps.sh installs them)",
)


@pytest.fixture
def driver():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield drv
    finally:
        drv.quit()


def test_report_images_and_audio_load_in_headless_chromium(tmp_path, driver):
    from experiments.sweep_report import write_report

    run = tiny_run(tmp_path / "run")
    page, _ = write_report(run, n_examples=2)
    driver.get(page.resolve().as_uri())

    deadline = time.time() + 30
    while True:
        state = driver.execute_script(
            "return {images: [...document.images].map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]),"
            " audio: [...document.querySelectorAll('audio')].map(a => [a.getAttribute('src'), a.readyState, a.duration, a.error ? a.error.code : null]),"
            " external: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href')).filter(u => /^(https?:)?\\/\\//.test(u))}"
        )
        images_ok = all(complete and width > 0 for _, complete, width in state["images"])
        audio_ok = all(ready >= 1 and duration and duration > 0 for _, ready, duration, _ in state["audio"])
        if (images_ok and audio_ok) or time.time() > deadline:
            break
        time.sleep(0.2)
    n_sounds = (2 if sox_available() else 1) * 3  # per target: the target and 2 optimisers' matches
    assert len(state["images"]) == 4 + n_sounds  # 4 plots + a spectrogram per sound
    assert len(state["audio"]) == n_sounds
    for src, complete, width in state["images"]:
        assert complete and width > 0, f"image {src} did not load"
    for src, ready, duration, error in state["audio"]:
        assert error is None and duration and duration > 0, f"audio {src}: readyState {ready}, duration {duration}, error {error}"
    assert state["external"] == []
