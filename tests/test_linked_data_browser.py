"""The linked-data pages in a real headless browser (Debian's chromium): they load, show the
label they should, and log nothing to the console (no failed requests, no script errors)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from servers import ROOT, free_port

SCREENSHOTS = os.environ.get("BPKG_SCREENSHOTS")  # a folder: save a PNG of each page there

pytestmark = pytest.mark.browser

PAGES = [
    ("/id/state/AF", "Afghanistan"),
    ("/id/membership/AF-participating-or-observer-state-1", "participating or observer state"),
    ("/ontology", "Budapest Process ontology"),
    ("/shapes", "Rules for the data"),
    ("/dataset", "Budapest Process knowledge graph"),
    ("/resource?iri=http://metadata.un.org/sdg/10.7", "Facilitate orderly, safe, regular and responsible migration"),
]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    code = ("import sys; from waitress import serve; from bpkg.web import create_app; "
            "serve(create_app(), host='127.0.0.1', port=int(sys.argv[1]), threads=4, _quiet=True)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):  # bounded: at most ~30 s for the graph to load
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                requests.get(base + "/context.jsonld", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("server did not start within 30 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()




@pytest.mark.parametrize(("path", "label"), PAGES, ids=[p for p, _ in PAGES])
def test_page_loads_without_console_errors(server, browser, path, label):
    from selenium.webdriver.common.by import By

    browser.get_log("browser")  # drop what an earlier page left
    browser.get(server + path)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert label.lower() in text.lower(), f"{path}: {label!r} not on the page"
    assert browser.find_element(By.TAG_NAME, "h1").text.strip()
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SCREENSHOTS) / (path.strip("/").replace("/", "_").replace("?", "_") + ".png")))
    problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not problems, f"{path}: console says {problems}"


def test_hash_iri_lands_on_its_part(server, browser):
    """A dependent node's IRI opens its parent's page scrolled to the part."""
    from selenium.webdriver.common.by import By

    browser.get(server + "/id/membership/AF-participating-or-observer-state-1#interval")
    part = browser.find_element(By.ID, "interval")
    assert "time:Interval" in part.text or "Interval" in part.text


def test_ontology_term_anchor_exists(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/ontology#State")
    assert "state" in browser.find_element(By.ID, "State").text.lower()
