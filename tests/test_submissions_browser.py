"""The curators' review page (/submissions/review) in headless Chromium against a real server:
the token typed in, the pending list, a submission's report and diff, and an accept that
publishes it. What a submitter wrote is shown as text, never as markup."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, start_server, stop_server

SUBMITTER = "submitter-token-for-the-browser-1"
CURATOR = "curator-token-for-the-browser-01"


def test_a_curator_reviews_and_accepts_in_the_browser(browser, tmp_path):
    base, proc = start_server("--data-dir", str(tmp_path), env={"BPKG_SUBMITTER_TOKENS": SUBMITTER,
                                                                "BPKG_CURATOR_TOKENS": CURATOR})
    try:
        sent = requests.post(base + "/submissions", data=(ROOT / "examples" / "meeting.ttl").read_bytes(),
                             headers={"Authorization": f"Bearer {SUBMITTER}", "Content-Type": "text/turtle",
                                      "X-Submitter": "<b>Office</b> of the focal point"}, timeout=120)
        assert sent.status_code == 201, sent.text
        sid = sent.json()["id"]
        wait = WebDriverWait(browser, 60)
        browser.get(base + "/submissions/review")
        assert "Budapest Process knowledge graph" in browser.find_element(By.CSS_SELECTOR, "header.site").text
        browser.find_element(By.ID, "token").send_keys(CURATOR)
        browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
        link = wait.until(ec.element_to_be_clickable((By.LINK_TEXT, sid)))
        row = link.find_element(By.XPATH, "./ancestor::tr")
        assert "<b>Office</b> of the focal point" in row.text  # shown as typed: not markup
        assert not row.find_elements(By.TAG_NAME, "b")
        link.click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "diff"), "triple(s) added"))
        assert "Conforms" in browser.find_element(By.ID, "report").text
        browser.find_element(By.ID, "accept").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "message"), "accepted"))
        wait.until(ec.text_to_be_present_in_element((By.ID, "detail-title"), "accepted"))
        assert browser.find_element(By.ID, "revoke").is_enabled()
        assert not browser.find_element(By.ID, "accept").is_enabled()
        query = "ASK { <https://w3id.org/bpkg/id/meeting/2030-05-14-example-working-group-meeting> ?p ?o }"
        answer = requests.get(base + "/sparql", params={"query": query},
                              headers={"Accept": "application/sparql-results+json"}, timeout=30)
        assert answer.json()["boolean"] is True
        assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        stop_server(proc)
