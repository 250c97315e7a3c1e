"""The analysts' pictures: ``bpkg plot`` (static PNG/SVG) and the /explore page (Vega-Lite).

Counts are read from the live graph through the named queries, so that a change of data
changes the expected figure; the one fixed number is the issue's own (28 alignments).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from bpkg import plots
from bpkg.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = os.environ.get("BPKG_SCREENSHOTS")  # a folder: save a PNG of the page there
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

needs_geometry = pytest.mark.skipif(not plots.WORLD_ATLAS.is_file(),
                                    reason=f"world-atlas not installed at {plots.WORLD_ATLAS} (run `npm install`)")


@pytest.fixture(scope="module")
def data(kg):
    return {name: plots.figure_data(kg, name) for name in plots.FIGURES}


def svg_ids(path: Path, prefix: str) -> list[str]:
    return re.findall(r'id="(' + re.escape(prefix) + r'[^"]*)"', path.read_text(encoding="utf-8"))


def plot(tmp_path, figure, suffix, *extra) -> Path:
    out = tmp_path / f"{figure}{suffix}"
    assert cli(["plot", figure, "--out", str(out), *extra]) == 0
    assert out.stat().st_size > 1000
    return out


# -- data prepared from the named queries ------------------------------------------------------

def test_map_data_is_the_state_map_query(kg, data):
    rows = plots.query_rows(kg, "state-map")
    assert {s["state"] for s in data["map"]["states"]} == {r["state"] for r in rows}
    assert len(data["map"]["states"]) == 56
    roles = {r["key"]: r for r in data["map"]["roles"]}
    # observer-state has no instance but keeps its own colour in the legend
    assert roles["observer-state"]["count"] == 0 and roles["observer-state"]["colour"]
    assert len({r["colour"] for r in data["map"]["roles"]}) == 4
    assert sum(r["count"] for r in data["map"]["roles"]) == 56
    assert roles["participating-state"]["count"] == sum(1 for r in rows if r["role"] and r["role"].endswith("/participating-state"))
    assert all(s["numeric"] for s in data["map"]["states"]), "every state has an ISO numeric code"


def test_map_keeps_unknown_roles_visible():
    rows = [{"state": "https://w3id.org/bpkg/id/state/XX", "label": "Nowhere", "iso2": None, "role": None}]
    record = plots.prepare_map(rows, [])["states"][0]
    assert record["roleClass"] == "unknown" and record["period"] == "dates not known"


def test_matrix_data_is_the_alignment_query(kg, data):
    rows = plots.query_rows(kg, "goal-gcm-alignments")
    matrix = data["matrix"]
    assert {(c["goal"], c["objective"]) for c in matrix["cells"]} == {(r["goal"], r["objective"]) for r in rows}
    assert len(matrix["cells"]) == 28
    assert len(matrix["goals"]) == 6 and len(matrix["objectives"]) == 23
    assert [o["notation"] for o in matrix["objectives"] if o["crossCutting"]] == ["1", "3", "23"]
    assert sum(g["total"] for g in matrix["goals"]) == sum(o["total"] for o in matrix["objectives"]) == 28
    assert all(c["sources"] for c in matrix["cells"]), "every alignment cell names its source"


def test_timeline_data_is_the_projects_meetings_and_timeline_queries(kg, data):
    timeline = data["timeline"]
    projects = plots.query_rows(kg, "projects")
    dated = {r["project"] for r in projects if r["start"]}
    assert {p["project"] for p in timeline["projects"]} == dated
    assert len(timeline["undatedProjects"]) == len(projects) - len(dated)
    open_ended = {r["project"] for r in projects if r["start"] and not r["end"]}
    assert {p["project"] for p in timeline["projects"] if not p["endKnown"]} == open_ended
    meetings = [r for r in plots.query_rows(kg, "meetings") if r["start"]]
    lanes = [m["lane"] for m in timeline["markers"]]
    assert lanes.count("Ministerial conferences") + lanes.count("Other meetings") == len(meetings)
    assert lanes.count("Ministerial conferences") == sum(1 for r in meetings if r["kind"].endswith("ministerial-conference"))
    starts = [r for r in plots.query_rows(kg, "timeline") if r["kind"] == "membership start"]
    assert sum(m.get("count", 0) for m in timeline["markers"]) == len(starts) > 0


@pytest.mark.parametrize(("text", "end", "expected"), [
    ("2014", False, "2014-01-01"), ("2014", True, "2014-12-31"),
    ("2016-02", True, "2016-02-29"), ("2013-05", False, "2013-05-01"),
    ("2019-02-19", True, "2019-02-19"), ("", False, None), ("not a date", False, None),
])
def test_dates_of_mixed_precision(text, end, expected):
    assert plots.day(text, end=end) == expected


# -- static figures from the CLI -------------------------------------------------------------

def test_matrix_svg_marks_every_alignment(tmp_path, data):
    svg = plot(tmp_path, "matrix", ".svg")
    cells = svg_ids(svg, "alignment-")
    assert len(cells) == 28 == len(set(cells))
    assert "alignment-goal-5--gcm-10" in cells
    assert len(svg_ids(svg, "cross-cutting-")) == 3
    png = plot(tmp_path, "matrix", ".png")
    assert png.read_bytes().startswith(PNG_MAGIC)


@needs_geometry
def test_map_svg_marks_every_state(tmp_path, data):
    svg = plot(tmp_path, "map", ".svg")
    marked = svg_ids(svg, "state-")
    assert sorted(marked) == sorted(f"state-{s['iso2']}" for s in data["map"]["states"])
    assert len(marked) == 56
    text = svg.read_text(encoding="utf-8")
    assert "Observer state (0)" not in text and "Participating state (5)" in text  # no empty legend entries
    assert plot(tmp_path, "map", ".png").read_bytes().startswith(PNG_MAGIC)


@needs_geometry
def test_map_region_highlight(tmp_path):
    svg = plot(tmp_path, "map", ".svg", "--region", "region:silk-routes")
    assert "highlighted: Silk Routes" in svg.read_text(encoding="utf-8")


def test_timeline_svg_has_a_bar_per_dated_project(tmp_path, data):
    svg = plot(tmp_path, "timeline", ".svg")
    assert sorted(svg_ids(svg, "project-")) == sorted(f"project-{p['id']}" for p in data["timeline"]["projects"])
    text = svg.read_text(encoding="utf-8")
    assert text.count("end not known") == sum(1 for p in data["timeline"]["projects"] if not p["endKnown"]) > 0
    assert plot(tmp_path, "timeline", ".png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("figure", sorted(plots.FIGURES))
def test_empty_result_draws_a_no_data_figure(tmp_path, figure):
    prepare, names = plots.FIGURES[figure]
    data = prepare(*([] for _ in names))
    assert plots.is_empty(data)
    out = plots.save(plots.DRAW[figure](data), tmp_path / f"{figure}.svg")
    text = out.read_text(encoding="utf-8")
    assert "No data" in text and 'id="no-data"' in text
    assert plots.save(plots.DRAW[figure](data), tmp_path / f"{figure}.png").stat().st_size > 1000


@pytest.mark.parametrize(("args", "message"), [
    (["plot", "matrix", "--out", "figure.pdf"], "must end in .png or .svg"),
    (["plot", "matrix", "--out", "/no/such/folder/m.svg"], "does not exist"),
    (["plot", "map", "--out", "m.svg", "--region", "region:atlantis"], "is not a region"),
    (["plot", "map", "--out", "m.svg", "--region", "nope:x"], "--region"),
])
def test_cli_refuses_bad_arguments(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert cli(args) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


# -- the JSON behind the page ------------------------------------------------------------------

@pytest.mark.parametrize("figure", sorted(plots.FIGURES))
def test_explore_json_matches_the_named_queries(client, kg, figure):
    response = client.get(f"/explore/data/{figure}.json")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    expected = plots.figure_data(kg, figure)
    body.pop("view", None)
    outside = body.pop("outside", [])
    pages = [s.pop("page") for s in body.get("states", [])] if figure == "map" else []
    assert body == expected
    if figure == "map":  # framed on the dialogue's regions; every state links to its page
        assert outside == ["Australia"]
        assert pages[0] == "/id/state/" + body["states"][0]["iso2"]
    again = client.get(f"/explore/data/{figure}.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


EMPTY_GRAPH = """PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
<https://w3id.org/bpkg/id/scheme/nothing> skos:prefLabel "Nothing"@en .
"""


@pytest.fixture(scope="module")
def empty_graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("empty") / "nothing.ttl"
    path.write_text(EMPTY_GRAPH, encoding="utf-8")
    return path


@pytest.mark.parametrize("figure", sorted(plots.FIGURES))
def test_explore_json_of_an_empty_graph_is_empty_not_an_error(empty_graph, figure):
    import bpkg
    from bpkg.web import create_app

    client = create_app({"TESTING": True, "KG": bpkg.load([empty_graph])}).test_client()
    response = client.get(f"/explore/data/{figure}.json")
    assert response.status_code == 200
    assert plots.is_empty(response.get_json())


def test_explore_errors_are_clear_4xx(client):
    response = client.get("/explore/data/pie.json")
    assert response.status_code == 404 and "no figure named 'pie'" in response.get_json()["error"]
    assert client.get("/explore/assets/package.json").status_code == 404
    assert client.get("/explore/assets/..%2Fpackage.json").status_code == 404


def test_explore_page_links_its_local_assets(client):
    html = client.get("/explore").get_data(as_text=True)
    for container in ("map", "matrix", "timeline"):
        assert f'id="{container}"' in html
    assert 'href="/explore"' in client.get("/ontology", headers={"Accept": "text/html"}).get_data(as_text=True), \
        "the site's navigation links to the explore page"
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts and all(s.startswith("/") for s in scripts), "every script is served by us"
    for src in scripts:
        assert client.get(src).status_code == 200, src


# -- the page in a real browser ------------------------------------------------------------------

@pytest.fixture(scope="module")
def explore_server():
    from conftest import start_server, stop_server

    base, proc = start_server()
    yield base
    stop_server(proc)




@pytest.mark.browser
def test_explore_page_says_no_data_for_an_empty_graph(empty_graph, browser):
    from conftest import start_server, stop_server
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, proc = start_server(env={"BPKG_KG_PATHS": json.dumps([str(empty_graph)])})
    try:
        browser.get_log("browser")
        browser.get(base + "/explore")
        boxes = "return document.querySelectorAll('.chart .no-data').length"
        WebDriverWait(browser, 30, poll_frequency=0.25).until(lambda d: d.execute_script(boxes) == 3)
        for container in ("map", "matrix", "timeline"):
            assert browser.find_element(By.ID, container).text.startswith("No data: ")
        problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert not problems, f"console says {problems}"
    finally:
        stop_server(proc)


@pytest.mark.browser
@needs_geometry
def test_explore_page_draws_three_figures(explore_server, browser, kg):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")
    browser.get(explore_server + "/explore")
    rendered = "return ['map', 'matrix', 'timeline'].every(id => document.getElementById(id).dataset.rendered)"
    WebDriverWait(browser, 30, poll_frequency=0.25).until(lambda d: d.execute_script(rendered))
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SCREENSHOTS) / "explore.png"))
    for container in ("map", "matrix", "timeline"):
        assert browser.find_elements(By.CSS_SELECTOR, f"#{container} svg.marks"), f"no chart in #{container}"
    # Vega labels every mark item for screen readers with its tooltip fields: count those.
    labels = "return [...document.querySelectorAll(arguments[0])].map(e => e.getAttribute('aria-label') || '')"
    states = {re.search(r"IRI: (state:\w+)", t).group(1) for t in browser.execute_script(labels, "#map path") if "State: " in t}
    assert len(states) == len(plots.query_rows(kg, "state-map")) == 56
    cells = [t for t in browser.execute_script(labels, "#matrix path") if "Source: " in t]
    assert len(cells) == 28
    assert any("Ministerial Conference" in t for t in browser.execute_script(labels, "#timeline path"))
    # Picking a region dims every state outside it.
    from selenium.webdriver.support.ui import Select

    options = browser.find_elements(By.CSS_SELECTOR, "#map select option")
    # Only regions with states are offered: picking an empty one would highlight nothing.
    assert len(options) == 1 + len([r for r in plots.query_rows(kg, "regions") if int(r["memberCount"])])
    Select(browser.find_element(By.CSS_SELECTOR, "#map select")).select_by_value(
        "https://w3id.org/bpkg/id/region/silk-routes")
    members = {r["state"] for r in plots.query_rows(kg, "states-in-region", region="region:silk-routes")}
    opaque = ("return [...document.querySelectorAll('#map path')].filter(p => p.getAttribute('opacity') !== '0.25')"
              ".map(p => p.getAttribute('aria-label') || '').filter(t => t.includes('State: '))")
    WebDriverWait(browser, 10, poll_frequency=0.25).until(lambda d: len(d.execute_script(opaque)) < 56)
    shown = {re.search(r"IRI: state:(\w+)", t).group(1) for t in browser.execute_script(opaque)}
    assert shown == {m.rsplit("/", 1)[1] for m in members}
    if SCREENSHOTS:
        browser.save_screenshot(str(Path(SCREENSHOTS) / "explore-silk-routes.png"))
    # The legend has no empty class, the frame names what it leaves out, and a state is a link.
    legend = browser.find_element(By.ID, "map").text
    assert "Observer state" not in legend.replace("Participating or observer state", "")
    assert "Outside this view: Australia" in browser.find_element(By.CSS_SELECTOR, "p.map-outside").text
    afghanistan = [p for p in browser.find_elements(By.CSS_SELECTOR, "#map path")
                   if "State: Afghanistan" in (p.get_attribute("aria-label") or "")][0]
    windows = set(browser.window_handles)
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: 1, clientY: 1}))",
                           afghanistan)
    WebDriverWait(browser, 10).until(lambda d: set(d.window_handles) - windows or "/id/state/" in d.current_url)
    opened = (set(browser.window_handles) - windows) or {browser.current_window_handle}
    home = browser.current_window_handle
    browser.switch_to.window(opened.pop())
    WebDriverWait(browser, 10).until(lambda d: "/id/state/" in d.current_url)
    assert browser.current_url == explore_server + "/id/state/AF", "a click on a state opens its page"
    if browser.current_window_handle != home:
        browser.close()
        browser.switch_to.window(home)
    problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not problems, f"console says {problems}"


def test_explore_and_validate_are_linked_from_the_query_ui_and_every_page(client):
    for path in ("/", "/id/state/AF", "/queries"):
        page = client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
        assert 'href="/explore"' in page and 'href="/validate"' in page, path
