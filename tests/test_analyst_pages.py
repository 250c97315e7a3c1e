"""The analyst's pages over HTTP (Flask's test client): results as HTML for browsers and the
same data formats as before for programs, error pages, the guide, and resource pages that
read as a page (labels, roles first, numbers in numeric order)."""

from __future__ import annotations

import re

import pytest

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_browser_gets_a_results_page_and_programs_get_data(client):
    page = client.get("/queries/role-holders?role=role:chair", headers=BROWSER)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<a href="/id/state/HU">Hungary</a>' in html and '<a href="/id/state/TR">Türkiye</a>' in html
    for form in ("csv", "tsv", "json", "xml"):
        assert f"role=role%3Achair&amp;format={form}" in html
    assert 'id="open-in-editor" href="/?query=' in html
    assert client.get("/queries/role-holders?role=role:chair", headers={"Accept": "*/*"}).mimetype != "text/html"
    csv = client.get("/queries/role-holders?role=role:chair&format=csv", headers=BROWSER)
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).count("\n") == 3
    assert client.get("/queries/states?format=html").mimetype == "text/html"


def test_a_missing_parameter_is_a_page_with_the_form(client):
    page = client.get("/queries/role-holders", headers=BROWSER)
    assert page.status_code == 400 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'role="alert"' in html and "needs parameter role" in html and 'name="role"' in html


def test_the_404_page_search_link_leads_to_a_results_page(client):
    page = client.get("/queries/search?text=Silk%20Routes", headers=BROWSER)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "/id/project/" in page.get_data(as_text=True)


@pytest.mark.parametrize("method,path,status", [("get", "/nonexistent", 404), ("get", "/id/", 404),
                                                ("delete", "/sparql", 405), ("put", "/validate", 405)])
def test_errors_are_styled_pages_for_browsers_and_text_for_programs(client, method, path, status):
    page = getattr(client, method)(path, headers=BROWSER)
    assert page.status_code == status and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'header class="site"' in html and 'action="/queries/search"' in html and 'href="/guide"' in html
    plain = getattr(client, method)(path, headers={"Accept": "application/json"})
    assert plain.status_code == status and 'header class="site"' not in plain.get_data(as_text=True)
    if status == 405:
        assert page.headers["Allow"]


def test_redirects_stay_redirects(client):
    assert client.get("/queries/", headers=BROWSER).status_code == 200
    assert client.get("/dumps", headers=BROWSER).status_code in (301, 308)


def test_the_guide_is_served(client):
    page = client.get("/guide", headers=BROWSER)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>Querying the Budapest Process graph</h1>" in html
    assert 'id="dates-and-their-precision"' in html and "<table>" in html


def test_every_page_links_the_guide_and_has_a_search_box(client):
    for path in ("/", "/queries", "/id/state/AF", "/explore"):
        html = client.get(path, headers=BROWSER).get_data(as_text=True)
        assert 'href="/guide"' in html and 'action="/queries/search"' in html, path


def test_a_state_page_starts_with_its_roles_and_reads_in_words(client):
    html = client.get("/id/state/HU", headers=BROWSER).get_data(as_text=True)
    roles = html.index('id="roles"')
    assert roles < html.index('id="properties"'), "roles come before the property table"
    table = text_of(html[roles:html.index('id="properties"')])
    # Governance page: Hungary chaired from 1993 to January 2006 and co-chairs since.
    assert "Chair role:chair Budapest Process organisation:budapest-process 1993 2006-01" in table
    assert "Co-chair role:co-chair Budapest Process organisation:budapest-process 2006-01" in table
    assert "Hungary: Chair, Budapest Process" in table, "memberships are named by what they join"
    words = text_of(html[html.index('id="properties"'):])
    assert "type rdf:type" in words and "member of org:memberOf" in words and "source prov:wasDerivedFrom" in words


def test_numbers_sort_as_numbers_on_a_page(client):
    html = client.get("/id/priority-goal/5", headers=BROWSER).get_data(as_text=True)
    related = [int(n) for n in re.findall(r'href="/id/gcm-objective/(\d+)"', html)]
    assert related[:5] == [2, 7, 10, 11, 12]
    incoming = [int(n) for n in re.findall(r'href="/id/alignment/goal-5--gcm-(\d+)"', html)]
    assert incoming == sorted(incoming) == [2, 7, 10, 11, 12]
    assert "Priority goal 5 → GCM objective 10" in html


def test_a_bad_query_in_a_browser_is_a_page_in_plain_words(client):
    page = client.get("/sparql", query_string={"query": "SELEC"}, headers=BROWSER)
    assert page.status_code == 400 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "query syntax error at line 1, column 6" in html and "[_]" not in html
    assert 'id="fix-in-editor" href="/?query=SELEC"' in html and 'header class="site"' in html
    program = client.get("/sparql", query_string={"query": "SELEC"})
    assert program.status_code == 400 and program.mimetype == "text/plain"


def test_a_prefix_used_as_a_path_points_at_the_real_page(client):
    page = client.get("/id/goal/5", headers=BROWSER)
    assert page.status_code == 404
    assert 'id="did-you-mean" href="/id/priority-goal/5"' in page.get_data(as_text=True)
    plain = client.get("/id/gcm/9", headers={"Accept": "text/turtle"}).get_data(as_text=True)
    assert "Did you mean /id/gcm-objective/9?" in plain
    assert "Did you mean" not in client.get("/id/goal/99", headers=BROWSER).get_data(as_text=True)


def test_joined_sources_are_labelled_links(client):
    html = client.get("/queries/role-holders?role=role:chair", headers=BROWSER).get_data(as_text=True)
    assert '<a href="/id/document/iom-int-budapest-process">' in html
    assert ">https://w3id.org/bpkg/id/document/" not in html, "no bare IRIs in the table"
