"""``matcher serve`` end to end in headless Chromium: upload, Match, live progress, result, reload, download.

Set ``MATCHER_SCREENSHOT=docs/img/serve.png`` to keep the screenshot of the finished page.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synth.patch_io import read_patch
from synth.render import render

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "targets" / "saw_lowpass.wav"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1100,1900",
)
BUDGET = 60
WAIT_S = 300.0
"""Generous bound on any wait (the machine is shared); the test waits for conditions, not for a time."""

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/install-system-deps.sh installs them)",
)


@pytest.fixture
def server(tmp_path):
    """``matcher serve --port 0`` in a subprocess; yields the URL it prints once ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "matcher.cli", "serve", "--port", "0", "--data", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"serve printed {line!r}"
        yield match.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def driver(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield drv
    finally:
        drv.quit()


def wait_until(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # the local test server
        return response.read()


def page_state(driver) -> dict:
    return driver.execute_script(
        "const a = [...document.querySelectorAll('audio')];"
        "return {resultShown: !document.getElementById('result').hidden,"
        " audio: a.map(x => [x.id, x.readyState, x.duration, x.error ? x.error.code : null]),"
        " images: [...document.querySelectorAll('#result img')].map(i => [i.id, i.complete, i.naturalWidth]),"
        " rows: document.querySelectorAll('#params tbody tr').length,"
        " status: document.getElementById('status').textContent,"
        " error: document.getElementById('error').textContent,"
        " external: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href')).filter(u => /^(https?:)?\\/\\//.test(u))}"
    )


def result_ready(driver) -> dict | None:
    state = page_state(driver)
    assert "failed" not in state["status"], state["status"]
    audio_ok = len(state["audio"]) == 2 and all(r >= 1 and d and d > 0 for _, r, d, _ in state["audio"])
    images_ok = all(complete and width > 0 for _, complete, width in state["images"])
    return state if state["resultShown"] and audio_ok and images_ok else None


def test_upload_match_watch_listen_reload_and_download(server, driver, tmp_path):
    from selenium.webdriver.common.by import By

    driver.get(server)
    wait_until(lambda: driver.execute_script("return document.getElementById('voice').options.length > 0"), "the options")
    assert driver.find_element(By.ID, "optimizer").get_attribute("value") == "hybrid"
    assert driver.find_element(By.ID, "budget").get_attribute("value") == "2000"
    budget = driver.find_element(By.ID, "budget")
    budget.clear()
    budget.send_keys(str(BUDGET))
    driver.find_element(By.ID, "file").send_keys(str(EXAMPLE))
    # Record every change of the progress text and every redraw of the plot, in the page itself.
    driver.execute_script(
        "window.__evals = []; window.__plots = new Set();"
        "new MutationObserver(() => { window.__evals.push(document.getElementById('evals').textContent);"
        "  window.__plots.add(document.getElementById('plot').toDataURL()); })"
        ".observe(document.getElementById('evals'), {childList: true, characterData: true, subtree: true});"
    )
    driver.find_element(By.ID, "match").click()

    def progress_seen() -> list[int]:
        return [int(v) for v in dict.fromkeys(driver.execute_script("return window.__evals")) if int(v) > 0]

    wait_until(lambda: len(progress_seen()) >= 2 or driver.execute_script("return !document.getElementById('result').hidden"), "progress")
    progress, n_plots = progress_seen(), driver.execute_script("return window.__plots.size")
    assert len(progress) >= 2, f"progress text changed only to {progress}"
    assert progress == sorted(progress) and progress[-1] <= BUDGET
    assert n_plots >= 2
    # Reloaded while the search runs (or just after), the page finds its job and follows it to the end.
    job_id = driver.execute_script("return location.hash").removeprefix("#job=")
    assert re.fullmatch(r"[0-9a-f]{12}", job_id), job_id
    driver.refresh()
    wait_until(lambda: job_id in driver.find_element(By.ID, "job-name").text, "the job after a reload")

    state = wait_until(lambda: result_ready(driver), "the result with both players")
    assert state["rows"] >= 13 and state["error"] == ""
    for name, ready, duration, error in state["audio"]:
        assert error is None and duration > 0, name
    assert abs(state["audio"][0][2] - 1.0) < 0.05  # the target example is 1 s long
    assert state["external"] == []

    if os.environ.get("MATCHER_SCREENSHOT"):
        driver.save_screenshot(os.environ["MATCHER_SCREENSHOT"])
    driver.save_screenshot(str(tmp_path / "serve.png"))
    assert (tmp_path / "serve.png").stat().st_size > 10_000

    # The downloaded patch renders to exactly the match the page plays.
    patch_url = driver.find_element(By.ID, "dl-patch").get_attribute("href")
    match_url = driver.execute_script("return document.getElementById('match-audio').src")
    (tmp_path / "patch.json").write_bytes(fetch(patch_url))
    voice, params, doc = read_patch(tmp_path / "patch.json")
    played, played_sr = sf.read(io.BytesIO(fetch(match_url)), dtype="float32")
    assert played_sr == doc["sr"]
    np.testing.assert_array_equal(render(params, played_sr, len(played), voice), played)
    assert fetch(driver.find_element(By.ID, "dl-synth").get_attribute("href")).startswith(b"#!/usr/bin/env python3")

    # A reloaded page finds its finished job again.
    driver.refresh()
    wait_until(lambda: result_ready(driver), "the result after a reload")
    assert job_id in driver.find_element(By.ID, "job-name").text

    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_bad_upload_shows_the_one_line_message_in_the_page(server, driver, tmp_path):
    from selenium.webdriver.common.by import By

    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio\n")
    driver.get(server)
    wait_until(lambda: driver.execute_script("return document.getElementById('voice').options.length > 0"), "the options")
    driver.find_element(By.ID, "file").send_keys(str(bad))
    driver.find_element(By.ID, "match").click()
    message = wait_until(lambda: driver.find_element(By.ID, "error").text, "the error message")
    assert message.startswith("notes.wav: not a readable audio file (")
    assert driver.find_element(By.ID, "job").get_attribute("hidden") is not None
