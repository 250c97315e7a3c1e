"""The YASGUI page in a real headless Chromium (Debian's), with every host but 127.0.0.1
unresolvable, so the test also proves the page needs no internet."""

from __future__ import annotations


import pytest
import requests

from conftest import ROOT

pytestmark = pytest.mark.browser




@pytest.fixture(scope="module", autouse=True)
def yasgui_installed():
    if not (ROOT / "node_modules" / "@zazuko" / "yasgui" / "build" / "yasgui.min.js").exists():
        pytest.skip("YASGUI is not installed: run `npm install` in the project folder")



def test_root_page_runs_a_query_and_shows_rows(browser, live_server, kg):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(live_server + "/")
    wait = WebDriverWait(browser, 20)
    button = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".yasqe_queryButton")))
    button.click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".yasr table tbody tr")) > 1)
    table = browser.find_element(By.CSS_SELECTOR, ".yasr table").text

    # The default query lists states with English names; the first one must be on screen.
    first = requests.get(live_server + "/sparql", params={"query": """
        PREFIX bp: <https://w3id.org/bpkg/ontology#>
        PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
        SELECT ?label WHERE { ?s a bp:State ; skos:prefLabel ?label FILTER (LANG(?label) = "en") }
        ORDER BY ?label LIMIT 1"""}).json()["results"]["bindings"][0]["label"]["value"]
    assert first in table


def test_named_queries_are_offered(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(live_server + "/")
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".yasqe_queryButton"))
    names = {o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#examples option")}
    expected = sorted(p.stem for p in (ROOT / "queries").glob("*.rq"))
    assert expected and set(expected) <= names
