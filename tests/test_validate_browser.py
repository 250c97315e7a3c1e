"""The /validate page in a real headless browser (Debian's chromium): a person pastes an
invalid example, presses Validate, and reads the report grouped by focus node, in plain
words, with each IRI linked to its page; the console stays clean throughout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import ROOT, start_server, stop_server

SCREENSHOTS = os.environ.get("BPKG_SCREENSHOTS")  # a folder: save a PNG of each report there
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    base, proc = start_server()
    yield base
    stop_server(proc)




def console_problems(browser) -> list:
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def paste_and_validate(server, browser, example: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get_log("browser")  # drop what an earlier page left
    browser.get(server + "/validate")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Validate a submission"
    Select(browser.find_element(By.ID, "format")).select_by_visible_text("Turtle")
    box = browser.find_element(By.ID, "data")
    box.clear()
    box.send_keys(example.read_text(encoding="utf-8"))  # typed, as a paste would put it there
    browser.find_element(By.CSS_SELECTOR, "form.validate button[type=submit]").click()
    WebDriverWait(browser, 30).until(ready.presence_of_element_located((By.ID, "report")))
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        browser.find_element(By.ID, "report").screenshot(str(Path(SCREENSHOTS) / f"validate-{example.stem}.png"))
    return browser.find_element(By.ID, "report")


def test_pasted_invalid_project_is_reported_by_focus_node(server, browser):
    from selenium.webdriver.common.by import By

    report = paste_and_validate(server, browser, EXAMPLES / "project-invalid.ttl")
    verdict = report.find_element(By.CSS_SELECTOR, ".verdict")
    assert verdict.text.startswith("Not acceptable") and "4 violations" in verdict.text
    groups = report.find_elements(By.CSS_SELECTOR, "section.focus")
    headings = [g.find_element(By.TAG_NAME, "h3").text for g in groups]
    assert headings[0].startswith("project:example-labour-mobility-invalid")
    assert headings[1].startswith("project:example-labour-mobility-invalid#funding-european-union")
    first = groups[0].find_element(By.CSS_SELECTOR, "h3 a")
    assert first.get_attribute("href") == server + "/id/project/example-labour-mobility-invalid"
    assert first.get_attribute("title") == "https://w3id.org/bpkg/id/project/example-labour-mobility-invalid"
    messages = [m.text for m in groups[0].find_elements(By.CSS_SELECTOR, ".message")]
    assert "A project can only address one of the 23 GCM objectives, gcm:1 to gcm:23; this value is not a GCM " \
           "objective in the knowledge graph." in messages
    assert any("start date (2021-03) is after the end date (2019)" in m for m in messages)
    values = {a.text: a.get_attribute("href") for a in groups[0].find_elements(By.CSS_SELECTOR, ".result a")}
    assert values["gcm:24"] == server + "/id/gcm-objective/24" and values["state:XX"] == server + "/id/state/XX"
    assert "line 28" in groups[0].text and "line 34" in groups[1].text
    assert not console_problems(browser)


def test_a_value_links_to_its_page(server, browser):
    """meeting-invalid names region:silk-routes where a kind belongs: its link opens the region's page."""
    from selenium.webdriver.common.by import By

    report = paste_and_validate(server, browser, EXAMPLES / "meeting-invalid.ttl")
    assert "is not a valid xsd:date" in report.text
    report.find_element(By.LINK_TEXT, "region:silk-routes").click()
    assert browser.current_url == server + "/id/region/silk-routes"
    assert "silk routes" in browser.find_element(By.TAG_NAME, "h1").text.lower()
    assert not console_problems(browser)


def test_a_syntax_error_is_shown_with_its_line(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    lines = (EXAMPLES / "project.ttl").read_text(encoding="utf-8").splitlines(keepends=True)
    broken = next(i for i, line in enumerate(lines) if "bp:addressesGcmObjective gcm:9 ;" in line)
    lines[broken] = lines[broken].replace(" ;", "")  # a missing ';': the parser stops at the next line
    path = tmp_path / "broken-project.ttl"
    path.write_text("".join(lines), encoding="utf-8")
    report = paste_and_validate(server, browser, path)
    assert "could not be read" in report.find_element(By.TAG_NAME, "h2").text
    assert f"line {broken + 2}, column 5" in report.text
    assert "bp:addressesGcmObjective gcm:9" in browser.find_element(By.ID, "data").get_attribute("value")
    # The answer is a 400 (Chrome notes the status); nothing else, and no script error.
    problems = console_problems(browser)
    assert all(p["source"] == "network" and "status of 400" in p["message"] for p in problems), problems
