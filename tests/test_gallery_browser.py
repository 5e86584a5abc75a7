"""The gallery page in a real headless browser (Debian's chromium + chromium-driver, driven by
selenium, a test-only dependency that .ci/run installs).

The journal is made by the CLI itself against the emulator: single runs (saved with a local
image input and a remote one, failed with a code and message, expired), then a batch (two
saved items, one failed), then `--gallery`. The page is opened from file:// and must:
play every saved video's metadata, show the journal's text, show a prompt holding <script>
as text without running anything, and send no request off the machine.

Set QWEN_GALLERY_SCREENSHOT=docs/gallery.png to refresh the README's screenshot from this test.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import urlsplit

import pytest

from qianwen_video.store import gallery, journal
from tests.emulator import Emulator
from tests.harness import KEY, ROOT, env_for, run
from tests.test_gallery import png

# Chromium as root in a container: no sandbox; and nothing of its own on the network.
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1240", "--hide-scrollbars", "--mute-audio")
WAIT = 20.0  # seconds the browser gets to load metadata / images (they are local files)
INJECTED = '<script>window.__injected = 1</script><img src=x onerror="window.__injected = 2">'


def _chrome(profile: Path):
    """A headless Chromium driver with a fresh profile, or a skip that says what is missing and how
    to get it."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (python3 -m pip install selenium; .ci/run installs it)")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if os.path.exists(p)), None)
    if not binary or not driver:
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                    "chromium-driver; .ci/run installs them when it runs as root with apt-get)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=" + str(profile))
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


class _Decoy:
    """A local HTTP server that counts every request: nothing on the page may ever reach it."""

    def __init__(self) -> None:
        hits: List[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _make_journal(emu, decoy: _Decoy, cwd: Path) -> Dict[str, Dict[str, Any]]:
    env = env_for(emu)
    fast = ["--output", "out", "--poll-interval", "0.05"]
    (cwd / "portrait.png").write_bytes(png(96, 96))
    runs = [
        ({"prompt": "She turns toward the window and smiles, soft morning light, shallow depth of field",
          "img_url": "portrait.png", "resolution": "720P", "duration": 5, "seed": 1234}, 0),
        ({"prompt": "A neon sign in the rain reads " + INJECTED + ", slow push-in",
          "img_url": decoy.url + "/decoy.png?Signature=not-for-the-page", "resolution": "1080P", "duration": 3},
         0),
    ]
    for request, code in runs:
        result = run(["--request", json.dumps(request)] + fast, env, cwd)
        assert result.code == code, result.stderr
    emu.script_task(["PENDING", "FAILED"], code="DataInspectionFailed",
                    message="Input data may contain inappropriate content.")
    failed = run(["--request", json.dumps({"prompt": "A crowded night market, handheld", "size": "1280*720",
                                           "duration": 5})] + fast, env, cwd)
    assert failed.code == 1
    emu.script_task(["PENDING", "UNKNOWN"])
    expired = run(["--request", json.dumps({"prompt": "Fog rolling over a harbour at dawn"})] + fast, env, cwd)
    assert expired.code == 1
    shots = ["Product shot: a ceramic mug on a walnut table, slow dolly-in",
             "Product shot: the same mug, steam rising, top-down",
             "Product shot: the mug in a sunlit kitchen, wide"]
    (cwd / "mugs.jsonl").write_text("".join(json.dumps({"prompt": p, "model": "happyhorse-1.0-t2v", "duration": 3,
                                                        "resolution": "720P", "ratio": "16:9"}) + "\n"
                                            for p in shots), encoding="utf-8")
    emu.script_task(["PENDING", "RUNNING", "FAILED"], code="InternalError.Algo",
                    message="An internal error has occured during execution, please try again later.")
    batch = run(["--batch", "mugs.jsonl"] + fast, env, cwd)
    assert batch.code == 1, batch.stderr  # one item failed
    written = run(["--gallery", "--output", "out"], env, cwd)
    assert written.code == 0, written.stderr
    tasks = journal.Journal(cwd / "out").tasks()
    states = sorted(gallery.state_of(t, os.path.isfile) for t in tasks.values())
    assert states == ["expired", "failed", "failed", "saved", "saved", "saved", "saved"], tasks
    return tasks


def _network_requests(driver) -> List[str]:
    urls = []
    for line in driver.get_log("performance"):
        message = json.loads(line["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _wait(driver, script: str, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("%s within %gs: %r" % (what, WAIT, driver.execute_script(
                "return Array.from(document.querySelectorAll('video')).map(v => [v.currentSrc, v.readyState, "
                "v.error && v.error.code])")))
        time.sleep(0.05)  # polling the browser's state: it loads in its own process


def test_the_gallery_in_a_real_browser(tmp_path):
    driver = _chrome(tmp_path / "chromium-profile")  # first: a skip costs nothing
    decoy = _Decoy()
    try:
        with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
            tasks = _make_journal(emu, decoy, tmp_path)
        _check_page(driver, tmp_path / "out", tasks, decoy)
        _check_csp_blocks_injected_loads(driver, tmp_path / "out", decoy)
    finally:
        driver.quit()
        decoy.close()


def _check_page(driver, out: Path, tasks: Dict[str, Dict[str, Any]], decoy: _Decoy) -> None:
    from selenium.webdriver.common.by import By

    page = (out / gallery.INDEX_NAME).resolve()
    decoy.hits.clear()  # the CLI never fetches a remote input either, but only the browser counts here
    driver.get(page.as_uri())
    saved = {tid: t for tid, t in tasks.items() if gallery.state_of(t, os.path.isfile) == "saved"}

    # Every saved video reaches loadedmetadata (readyState >= HAVE_METADATA), from its own file.
    _wait(driver, "var v = document.querySelectorAll('video'); return v.length > 0 && "
                  "Array.from(v).every(e => e.readyState >= 1);", "every video's metadata loaded")
    videos = driver.execute_script(
        "return Array.from(document.querySelectorAll('article')).filter(a => a.querySelector('video')).map(a => "
        "{var v = a.querySelector('video'); return {task: a.dataset.task, src: v.currentSrc, state: v.readyState, "
        "duration: v.duration, width: v.videoWidth, preload: v.preload, controls: v.controls};})")
    assert sorted(v["task"] for v in videos) == sorted(saved)
    for video in videos:
        assert Path(urlsplit(video["src"]).path) == Path(saved[video["task"]]["local_path"]).resolve()
        assert video["src"].startswith("file:///") and video["state"] >= 1 and video["width"] == 160
        assert abs(video["duration"] - 1.0) < 0.2 and video["preload"] == "metadata" and video["controls"]

    # Newest first, the batch's items together in item order.
    order = driver.execute_script("return Array.from(document.querySelectorAll('article')).map(a => a.dataset.task)")
    in_batch = sorted((t for t in tasks.values() if t.get("batch")), key=lambda t: t["batch_item"])
    singles = sorted((t for t in tasks.values() if not t.get("batch")), key=lambda t: -t["submitted_at"])
    assert order == [t["task_id"] for t in in_batch + singles]
    (heading,) = driver.find_elements(By.CSS_SELECTOR, "section.batch h2")
    assert heading.text.startswith("Batch mugs")

    # The text shown is the journal's.
    for task_id, task in tasks.items():
        card = driver.find_element(By.CSS_SELECTOR, 'article[data-task="%s"]' % task_id)
        shown = {e.get_attribute("class").split()[0][2:]: e.text for e in card.find_elements(By.CSS_SELECTOR, "dd")}
        assert card.find_element(By.CSS_SELECTOR, ".prompt").text == task["prompt"]
        assert shown["model"] == task["model"] and shown["mode"] == task["mode"] and shown["task"] == task_id
        assert shown.get("resolution", "") == " ".join(str(task[k]) for k in ("resolution", "size", "ratio") if k in task)
        assert shown.get("duration") == ("%s s" % task["duration"] if "duration" in task else None)
        assert shown.get("seed") == (str(task["seed"]) if "seed" in task else None)
        assert shown.get("item") == (str(task["batch_item"]) if "batch_item" in task else None)
        stamp = card.find_element(By.CSS_SELECTOR, "time")
        assert stamp.get_attribute("datetime") == time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime(task["submitted_at"]))
        assert stamp.text == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(task["submitted_at"]))
        if task_id in saved:
            assert shown["file"] == os.path.relpath(task["local_path"], str(out))
        if task["status"] == "FAILED":
            assert card.get_attribute("data-status") == "failed"
            assert card.find_element(By.CSS_SELECTOR, ".code").text == task["code"]
            assert card.find_element(By.CSS_SELECTOR, ".message").text == task["message"]
        if task["status"] == "UNKNOWN":
            assert card.get_attribute("data-status") == "expired" and "UNKNOWN" in card.text
        for record in task.get("inputs", []):
            assert shown["inputs"].split() == [record["field"], os.path.relpath(record["path"], str(out))]
        for record in task.get("remote_inputs", []):
            assert shown["inputs"].split() == [record["field"], decoy.url + "/decoy.png"]  # no signature either

    # The local image input is a thumbnail, loaded from its file.
    _wait(driver, "var i = document.querySelector('img.thumb'); i.scrollIntoView(); "
                  "return i.complete && i.naturalWidth === 96;", "the thumbnail loaded")

    # A prompt holding <script> and an onerror handler is text; neither ran.
    assert INJECTED in driver.find_element(By.TAG_NAME, "main").text
    assert driver.execute_script("return typeof window.__injected") == "undefined"

    # The filters work (their inline script runs under the CSP, from file://).
    search = driver.find_element(By.ID, "q")
    search.send_keys("steam rising")
    visible = [a.get_attribute("data-task") for a in driver.find_elements(By.TAG_NAME, "article") if a.is_displayed()]
    assert visible == [t["task_id"] for t in in_batch if "steam" in t["prompt"]]
    search.clear()
    driver.execute_script("var s = document.getElementById('f-status'); s.value = 'failed';"
                          "s.dispatchEvent(new Event('change', {bubbles: true}));")
    visible = [a.get_attribute("data-task") for a in driver.find_elements(By.TAG_NAME, "article") if a.is_displayed()]
    assert sorted(visible) == sorted(t for t, v in tasks.items() if v["status"] == "FAILED")
    driver.execute_script("var s = document.getElementById('f-status'); s.value = '';"
                          "s.dispatchEvent(new Event('change', {bubbles: true}));")

    # Nothing left the machine: every request the page made was for a local file.
    requests = _network_requests(driver)
    assert page.as_uri() in requests
    # (chrome: is the browser's own start page, data: its media controls' icons)
    assert [u for u in requests if urlsplit(u).scheme not in ("file", "chrome", "data")] == []
    assert [u for u in requests if urlsplit(u).scheme == "file"] and not decoy.hits
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    # Chromium lists no resource timing entry for a file: load, so any entry at all is a network load.
    assert all(name.startswith("file:///") for name in resources), resources
    violations = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert violations == []  # the page never even tried to load anything its policy forbids

    driver.execute_script("window.scrollTo(0, 0)")
    shot = out.parent / "gallery.png"
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10000
    target = os.environ.get("QWEN_GALLERY_SCREENSHOT")
    if target:
        shutil.copyfile(str(shot), str(ROOT / target))


def _check_csp_blocks_injected_loads(driver, out: Path, decoy: _Decoy) -> None:
    """Markup that slipped past escaping could still load nothing: the policy blocks it."""
    text = (out / gallery.INDEX_NAME).read_text(encoding="utf-8")
    probe = out / "probe.html"
    probe.write_text(text.replace("</main>", '<img src="%s/img.png"><video src="%s/v.mp4" preload="auto"></video>'
                                  '<script>window.__ran = 1; fetch("%s/fetch")</script></main>'
                                  % (decoy.url, decoy.url, decoy.url)), encoding="utf-8")
    driver.get_log("browser")  # drop earlier entries
    driver.get(probe.as_uri())
    deadline, violations = time.monotonic() + WAIT, []
    while len(violations) < 3 and time.monotonic() < deadline:
        violations += [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
        time.sleep(0.05)
    assert len(violations) >= 3, violations  # the image, the video and the inline script
    assert driver.execute_script("return typeof window.__ran") == "undefined"
    assert decoy.hits == []
