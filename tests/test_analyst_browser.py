"""The analyst's path in a real headless Chromium: named-query results as pages, the query
editor's configuration, the error pages, and the guide. Every host but 127.0.0.1 is
unresolvable in this browser, and each test also checks that the page fetched nothing
from anywhere but the site and logged no error."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from conftest import ROOT

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def yasgui_installed():
    if not (ROOT / "node_modules" / "@zazuko" / "yasgui" / "build" / "yasgui.min.js").exists():
        pytest.skip("YASGUI is not installed: run `npm install` in the project folder")


def _wait(browser, condition, seconds=20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, seconds).until(condition)


def _css(browser, selector):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, selector)


def stayed_on_site(browser, base: str) -> None:
    """Nothing fetched from another host, and nothing failed or threw in the console."""
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert all(url.startswith(base) or url.startswith("data:") for url in fetched), \
        [u for u in fetched if not u.startswith(base)]
    problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not problems, problems


def fresh_editor(browser, base: str) -> None:
    browser.get(base + "/")
    browser.execute_script("localStorage.clear();")
    browser.get(base + "/")
    _wait(browser, lambda d: _css(d, ".yasqe_queryButton"))
    browser.get_log("browser")


def set_query(browser, text: str) -> None:
    browser.execute_script("window.bpkgYasgui.getTab().getYasqe().setValue(arguments[0]);", text)


def editor_query(browser) -> str:
    return browser.execute_script("return window.bpkgYasgui.getTab().getYasqe().getValue();")


# -- results as a page ---------------------------------------------------------------------------

def test_a_named_query_shows_its_answer_as_a_table(browser, live_server):
    browser.get(live_server + "/queries/role-holders?role=role:chair")
    rows = _css(browser, "table.results tbody tr")
    assert len(rows) == 2
    first = rows[0].find_elements("css selector", "td a")[0]
    assert first.text == "Hungary" and first.get_attribute("href") == live_server + "/id/state/HU"
    # Downloads per format, and the same answer as CSV
    links = {a.text: a.get_attribute("href") for a in _css(browser, "a.download")}
    assert set(links) == {"CSV", "TSV", "SPARQL JSON", "SPARQL XML"}
    assert links["CSV"].endswith("format=csv")
    stayed_on_site(browser, live_server)


def test_the_results_table_sorts_by_a_column(browser, live_server):
    browser.get(live_server + "/queries/gcm-objectives")
    heading = [th for th in _css(browser, "table.results th") if th.text == "notation"][0]
    column = [th.text for th in _css(browser, "table.results th")].index("notation")
    numbers = lambda: [int(r.find_elements("css selector", "td")[column].text)  # noqa: E731
                       for r in _css(browser, "table.results tbody tr")]
    assert numbers() == list(range(1, 24))
    heading.find_element("css selector", "button").click()
    heading.find_element("css selector", "button").click()
    assert numbers() == list(range(23, 0, -1)), "numbers sort as numbers"
    stayed_on_site(browser, live_server)


def test_run_on_the_index_shows_a_page_not_a_download(browser, live_server):
    browser.get(live_server + "/queries")
    form = browser.find_element("css selector", "#regions form")
    form.find_element("css selector", "button[type=submit]").click()
    _wait(browser, lambda d: _css(d, "table.results"))
    assert "/queries/regions" in browser.current_url
    assert len(_css(browser, "table.results tbody tr")) == 7
    stayed_on_site(browser, live_server)


def test_open_in_the_editor_carries_the_query(browser, live_server):
    fresh_editor(browser, live_server)
    browser.get(live_server + "/queries/shared-gcm-objectives?goal=goal:1&otherGoal=goal:5")
    browser.find_element("id", "open-in-editor").click()
    _wait(browser, lambda d: _css(d, ".yasqe_queryButton"))
    _wait(browser, lambda d: "shared" in editor_query(d) or "VALUES" in editor_query(d))
    text = editor_query(browser)
    assert "https://w3id.org/bpkg/id/priority-goal/5" in text and "GROUP_CONCAT" in text
    stayed_on_site(browser, live_server)


# -- the editor ---------------------------------------------------------------------------------

def test_the_editor_opens_with_one_tab_and_an_introduction(browser, live_server):
    fresh_editor(browser, live_server)
    names = browser.execute_script("return Object.values(window.bpkgYasgui._tabs).map(t => t.getName());")
    assert len(names) == 1
    intro = browser.find_element("css selector", "p.intro").text
    assert "querying guide" in intro and "predeclared" in intro
    # Every named query is one choice away, and choosing one opens it in a tab.
    from selenium.webdriver.support.ui import Select

    select = Select(browser.find_element("id", "examples"))
    offered = {o.get_attribute("value") for o in select.options} - {""}
    assert offered == {p.stem for p in (ROOT / "queries").glob("*.rq")}
    select.select_by_value("role-holders")
    assert browser.execute_script("return window.bpkgYasgui.getTab().getName();") == "role-holders"
    assert "org:Membership" in editor_query(browser)
    stayed_on_site(browser, live_server)


def test_predeclared_prefixes_are_not_syntax_errors_and_iris_link_locally(browser, live_server):
    fresh_editor(browser, live_server)
    set_query(browser, "SELECT ?state WHERE { ?state a bp:State ; bp:inRegion region:silk-routes } ORDER BY ?state")
    assert not _css(browser, ".parseErrorIcon"), "bp: and region: are predeclared"
    browser.find_element("css selector", ".yasqe_queryButton").click()
    _wait(browser, lambda d: len(_css(d, ".yasr table tbody tr a.iri")) >= 5)
    links = _css(browser, ".yasr table tbody tr a.iri")
    assert links[0].text == "state:AF"  # the project's prefixes shorten IRIs: no cut-off rows
    assert links[0].get_attribute("href") == live_server + "/id/state/AF"
    # An undeclared prefix is still an error.
    set_query(browser, "SELECT * WHERE { ?s nosuchprefix:p ?o }")
    _wait(browser, lambda d: _css(d, ".parseErrorIcon"))
    stayed_on_site(browser, live_server)


def test_completion_asks_only_this_site(browser, live_server):
    fresh_editor(browser, live_server)
    set_query(browser, "SELECT * WHERE { ?s skos:prefL")
    browser.execute_script("""
        const yasqe = window.bpkgYasgui.getTab().getYasqe();
        yasqe.focus(); yasqe.setCursor(yasqe.lineCount(), 0); yasqe.autocomplete();""")
    _wait(browser, lambda d: _css(d, ".CodeMirror-hint"))
    hints = [h.text for h in _css(browser, ".CodeMirror-hint")]
    assert "skos:prefLabel" in hints
    stayed_on_site(browser, live_server)


def test_the_query_survives_leaving_through_the_navigation(browser, live_server):
    fresh_editor(browser, live_server)
    mine = "SELECT ?goal WHERE { ?goal a bp:PriorityGoal } # kept"
    set_query(browser, mine)
    browser.find_element("link text", "Queries").click()
    _wait(browser, lambda d: "/queries" in d.current_url)
    browser.find_element("css selector", "header.site a.home").click()
    _wait(browser, lambda d: _css(d, ".yasqe_queryButton"))
    assert editor_query(browser) == mine
    stayed_on_site(browser, live_server)


# -- error pages, search, guide --------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/nonexistent", "/id/goal/5"])
def test_a_missing_page_has_the_navigation_and_a_search_box(browser, live_server, path):
    browser.get(live_server + path)
    assert "Not found" in browser.find_element("css selector", "h1").text or \
        "404" in browser.find_element("css selector", "h1").text
    assert _css(browser, "header.site nav a[href$='/guide']")
    box = _css(browser, "main form.search input[name=text]") or _css(browser, "header form.search input[name=text]")
    box[0].send_keys("Silk Routes")
    box[0].submit()
    _wait(browser, lambda d: _css(d, "table.results"))
    assert "/queries/search" in browser.current_url
    assert len(_css(browser, "table.results tbody tr")) > 3
    browser.get_log("browser")  # the 404 itself is logged by the browser, by design


def test_the_guide_is_a_page(browser, live_server):
    browser.get(live_server + "/guide")
    assert browser.find_element("css selector", "h1").text == "Querying the Budapest Process graph"
    link = browser.find_element("css selector", "a[href$='/queries/role-holders?role=role:chair']")
    link.click()
    _wait(browser, lambda d: _css(d, "table.results"))
    assert len(_css(browser, "table.results tbody tr")) == 2
    stayed_on_site(browser, live_server)


def test_a_bad_search_phrase_is_a_page_not_a_download(browser, live_server):
    browser.get(live_server + "/queries/search?text=" + quote("goal 5"))
    assert _css(browser, "h1") and "search" in browser.current_url
    assert "row" in browser.find_element("id", "row-count").text
    stayed_on_site(browser, live_server)


def test_result_headers_are_not_clipped(browser, live_server):
    fresh_editor(browser, live_server)
    set_query(browser, (ROOT / "queries" / "goal-gcm-alignments.rq").read_text(encoding="utf-8"))
    browser.find_element("css selector", ".yasqe_queryButton").click()
    _wait(browser, lambda d: len(_css(d, ".yasr table tbody tr")) > 5)
    clipped = browser.execute_script("""
        return [...document.querySelectorAll('.yasr table thead th')]
            .filter(th => th.textContent.trim() && th.scrollWidth > th.clientWidth + 1)
            .map(th => th.textContent.trim());""")
    assert clipped == []
    stayed_on_site(browser, live_server)
