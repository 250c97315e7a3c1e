"""The Content-Security-Policy in a real browser (headless Chromium): the query UI runs a
query and the pictures draw, with no CSP violation in the console; an injected inline
script (no nonce) is blocked."""

from __future__ import annotations

import pytest

from conftest import ROOT

pytestmark = pytest.mark.browser


def _csp_complaints(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser")
            if "Content Security Policy" in e["message"] or "Content-Security-Policy" in e["message"]]


def test_the_query_ui_works_under_the_csp(browser, live_server):
    if not (ROOT / "node_modules" / "@zazuko" / "yasgui" / "build" / "yasgui.min.js").exists():
        pytest.skip("YASGUI is not installed: run `npm install` in the project folder")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")
    browser.get(live_server + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".yasqe_queryButton"))).click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".yasr table tbody tr")) > 1)
    assert _csp_complaints(browser) == []


def test_the_pictures_draw_under_the_csp(browser, live_server):
    if not (ROOT / "node_modules" / "vega" / "build" / "vega.min.js").exists():
        pytest.skip("vega is not installed: run `npm install` in the project folder")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")
    browser.get(live_server + "/explore")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.marks"))
    assert _csp_complaints(browser) == []


def test_an_inline_script_without_the_nonce_is_blocked(browser, live_server):
    browser.get(live_server + "/validate")
    browser.get_log("browser")
    ran = browser.execute_script("""
        window.__injected = false;
        const s = document.createElement('script');
        s.textContent = 'window.__injected = true;';
        document.body.appendChild(s);
        return window.__injected;""")
    assert ran is False
    assert _csp_complaints(browser)
