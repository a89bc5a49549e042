"""The web app in a real browser (Debian's headless Chromium driven by Playwright): a picture uploaded, restored,
a hint painted and restored again, a video restored and played, then the study's practice and three trials, whose
three answers land in SQLite; every request the page makes goes to the local server."""
import re
import shutil
import socket
import sqlite3
import threading
import time
from urllib.parse import urlsplit

import numpy as np
import pytest

from web_helpers import SAMPLE, build_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def server(tiny_model, tiny_pairs, tmp_path):
    app, state = build_app(tiny_model, tmp_path, tiny_pairs, trials=3, practice=1, show_seconds=0.2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", tmp_path / "study.sqlite"
    server.should_exit = True
    thread.join(10)


def test_restore_with_a_painted_hint_then_the_study(server, tmp_path):
    from palette_kit.testing import synthetic_photo
    from palette_kit.video.synthetic import pan_zoom, write_video

    base, database = server
    video = tmp_path / "clip.mp4"
    write_video(video, pan_zoom(synthetic_photo(np.random.default_rng(0), 60, 80), 3, 32, 48), audio=False)
    requests = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: requests.append(request.url))
        page.goto(base + "/")
        page.set_input_files("#files", str(SAMPLE))
        after = page.locator(".card .after")
        sync_api.expect(after).to_have_attribute("src", re.compile(r"/api/files/"), timeout=60_000)
        first = after.get_attribute("src")
        box = page.locator(".card .paint").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=5)
        page.mouse.up()
        page.locator(".card .run").click()
        page.wait_for_function("first => { const img = document.querySelector('.card .after'); "
                               "return img.getAttribute('src') !== first && img.complete && img.naturalWidth > 0; }",
                               arg=first, timeout=60_000)
        assert page.locator(".card .download").get_attribute("href").endswith("?download=1")
        assert "error" not in (page.locator(".card .status").get_attribute("class") or "")

        page.set_input_files("#files", str(video))  # a video: its result plays in the page
        page.wait_for_function("() => { const v = document.querySelector('.card .result-video'); "
                               "return v && v.getAttribute('src') && v.readyState >= 1 && v.videoWidth === 48; }",
                               timeout=60_000)

        page.goto(base + "/#study")
        page.locator("#study-start").click()
        for _ in range(1 + 3):  # the practice trial, then the three recorded ones
            page.locator("#choose-left:not([disabled])").wait_for(timeout=30_000)
            page.locator("#choose-left").click()
        page.locator("#study-done").wait_for(state="visible", timeout=30_000)
        browser.close()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM answers").fetchone()[0] == 3
    hosts = {urlsplit(url).netloc for url in requests}
    assert requests and hosts == {urlsplit(base).netloc}, hosts
