"""The SPARQL 1.1 Protocol over real HTTP: SPARQLWrapper for the query forms in every
format, raw ``requests`` for the edge cases (statuses, negotiation, limits, CORS)."""

from __future__ import annotations

import csv
import io
import json
import random
import urllib.parse
import xml.dom.minidom

import pytest
import requests
from rdflib import Graph, Literal, URIRef
from SPARQLWrapper import CSV, JSON, JSONLD, N3, RDFXML, TSV, TURTLE, XML, SPARQLWrapper

from bpkg.sparql import Limits, SparqlError
from bpkg.web import create_app

DEFAULTS = Limits()  # the live server runs at the project's default settings

SILK = "https://w3id.org/bpkg/id/region/silk-routes"
LABEL_QUERY = f"""PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?label WHERE {{ <{SILK}> skos:prefLabel ?label FILTER (LANG(?label) = "en") }}"""
ASK_QUERY = f"ASK {{ <{SILK}> a <https://w3id.org/bpkg/ontology#Region> }}"
CONSTRUCT_QUERY = f"""PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
CONSTRUCT {{ <{SILK}> skos:prefLabel ?label }} WHERE {{ <{SILK}> skos:prefLabel ?label }}"""
DESCRIBE_QUERY = f"DESCRIBE <{SILK}>"
SKOS_LABEL = URIRef("http://www.w3.org/2004/02/skos/core#prefLabel")
EXPECTED_LABEL = Literal("Silk Routes", lang="en")


def wrapper(base, query, fmt, method="GET"):
    sw = SPARQLWrapper(base + "/sparql")
    sw.setQuery(query)
    sw.setReturnFormat(fmt)
    sw.setMethod(method)
    return sw.query()


# -- SPARQLWrapper: SELECT / ASK / CONSTRUCT / DESCRIBE ------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_select_json(live_server, method):
    data = wrapper(live_server, LABEL_QUERY, JSON, method).convert()
    assert data["head"]["vars"] == ["label"]
    assert data["results"]["bindings"] == [{"label": {"type": "literal", "value": "Silk Routes", "xml:lang": "en"}}]


def test_select_xml(live_server):
    doc = wrapper(live_server, LABEL_QUERY, XML).convert()
    assert isinstance(doc, xml.dom.minidom.Document)
    literal = doc.getElementsByTagName("literal")[0]
    assert literal.firstChild.data == "Silk Routes" and literal.getAttribute("xml:lang") == "en"


def test_select_csv_and_tsv(live_server):
    rows = list(csv.reader(io.StringIO(wrapper(live_server, LABEL_QUERY, CSV).convert().decode())))
    assert rows == [["label"], ["Silk Routes"]]
    tsv = wrapper(live_server, LABEL_QUERY, TSV).convert().decode().splitlines()
    assert tsv == ["?label", '"Silk Routes"@en']


@pytest.mark.parametrize("fmt", [JSON, XML])
def test_ask(live_server, fmt):
    result = wrapper(live_server, ASK_QUERY, fmt).convert()
    value = result["boolean"] if fmt == JSON else result.getElementsByTagName("boolean")[0].firstChild.data == "true"
    assert value is True


@pytest.mark.parametrize("query", [CONSTRUCT_QUERY, DESCRIBE_QUERY], ids=["construct", "describe"])
@pytest.mark.parametrize("fmt,rdflib_format", [(TURTLE, "turtle"), (N3, "turtle"), (RDFXML, "xml"),
                                               (XML, "xml"), (JSONLD, "json-ld")])
def test_graph_results_through_sparqlwrapper(live_server, query, fmt, rdflib_format):
    response = wrapper(live_server, query, fmt).response
    graph = Graph().parse(data=response.read(), format=rdflib_format)
    assert (URIRef(SILK), SKOS_LABEL, EXPECTED_LABEL) in graph


@pytest.mark.parametrize("accept,rdflib_format", [
    ("text/turtle", "turtle"), ("application/n-triples", "nt"), ("application/ld+json", "json-ld"),
    ("application/rdf+xml", "xml"), ("application/trig", "trig"), ("application/n-quads", "nquads")])
def test_graph_results_in_every_format(live_server, accept, rdflib_format):
    r = requests.post(live_server + "/sparql", data={"query": CONSTRUCT_QUERY}, headers={"Accept": accept})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(accept)
    graph = Graph().parse(data=r.content, format=rdflib_format)
    assert (URIRef(SILK), SKOS_LABEL, EXPECTED_LABEL) in graph


# -- negotiation ----------------------------------------------------------------------------

def get(base, query, **params):
    headers = params.pop("headers", {})
    return requests.get(base + "/sparql", params={"query": query, **params}, headers=headers, timeout=10)


@pytest.mark.parametrize("accept,expected", [
    ("application/json", "application/sparql-results+json"),
    ("application/sparql-results+xml;q=0.5, text/csv;q=0.9", "text/csv"),
    ("text/tab-separated-values, */*;q=0.1", "text/tab-separated-values"),
    ("text/*;q=0.8, application/sparql-results+xml;q=0.7", "text/csv"),
    ("*/*", "application/sparql-results+json"),
    ("application/sparql-results+json;q=0, */*;q=0.5", "application/sparql-results+xml"),
])
def test_content_negotiation_with_q_values(live_server, accept, expected):
    r = get(live_server, LABEL_QUERY, headers={"Accept": accept})
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == expected


def test_format_parameter_wins_over_accept(live_server):
    r = get(live_server, LABEL_QUERY, format="csv", headers={"Accept": "application/sparql-results+xml"})
    assert r.headers["Content-Type"].startswith("text/csv")
    r = get(live_server, CONSTRUCT_QUERY, format="application/n-triples")
    assert r.headers["Content-Type"].startswith("application/n-triples")


@pytest.mark.parametrize("query,accept", [(LABEL_QUERY, "image/png"), (CONSTRUCT_QUERY, "text/csv"),
                                          (ASK_QUERY, "application/rdf+xml")])
def test_406_when_nothing_acceptable(live_server, query, accept):
    r = get(live_server, query, headers={"Accept": accept})
    assert r.status_code == 406
    assert "available" in r.text


def test_406_for_a_format_that_does_not_fit_the_query_form(live_server):
    assert get(live_server, CONSTRUCT_QUERY, format="csv").status_code == 406


def test_unknown_parameters_are_ignored(live_server):
    r = get(live_server, LABEL_QUERY, output="json", results="json", foo="bar", format="nonsense")
    assert r.status_code == 200 and r.json()["results"]["bindings"]


# -- dataset parameters ----------------------------------------------------------------------

GRAPH = "https://w3id.org/bpkg/graph/kg/schemes/regions"


def test_default_graph_uri_selects_a_bundled_graph(live_server):
    assert get(live_server, ASK_QUERY, **{"default-graph-uri": GRAPH}).json()["boolean"] is True
    other = "https://w3id.org/bpkg/graph/kg/states"
    assert get(live_server, ASK_QUERY, **{"default-graph-uri": other}).json()["boolean"] is False


def test_named_graph_uri(live_server):
    query = f"SELECT ?g WHERE {{ GRAPH ?g {{ <{SILK}> a ?type }} }}"
    rows = get(live_server, query, **{"named-graph-uri": GRAPH}).json()["results"]["bindings"]
    assert {row["g"]["value"] for row in rows} == {GRAPH}


def test_graph_outside_the_dataset_is_empty_not_fetched(live_server):
    r = get(live_server, "ASK { ?s ?p ?o }", **{"default-graph-uri": "http://example.org/elsewhere"})
    assert r.status_code == 200 and r.json()["boolean"] is False


def test_from_a_bundled_graph_is_allowed(live_server):
    r = get(live_server, f"ASK FROM <{GRAPH}> {{ <{SILK}> ?p ?o }}")
    assert r.status_code == 200 and r.json()["boolean"] is True


# -- errors ------------------------------------------------------------------------------------

def test_syntax_error_is_400_with_position(live_server):
    r = get(live_server, "SELECT * WHERE {\n  ?s ?p ")
    assert r.status_code == 400
    assert "line 2, column" in r.text and "Traceback" not in r.text


@pytest.mark.parametrize("send", [
    lambda b: requests.post(b + "/sparql", data="INSERT DATA { <urn:a> <urn:b> <urn:c> }",
                            headers={"Content-Type": "application/sparql-update"}),
    lambda b: requests.post(b + "/sparql", data={"update": "CLEAR ALL"}),
    lambda b: requests.post(b + "/sparql", data={"query": "DROP ALL"}),
    lambda b: requests.get(b + "/sparql", params={"update": "CLEAR ALL"}),
], ids=["direct", "form", "update-as-query", "get"])
def test_updates_are_refused(live_server, send):
    r = send(live_server)
    assert r.status_code == 400
    assert "update" in r.text.lower()
    assert get(live_server, ASK_QUERY).json()["boolean"] is True  # nothing was dropped


def test_request_body_over_the_limit_is_413(live_server):
    r = requests.post(live_server + "/sparql", data="#" * (300 * 1024) + "\nASK {}",
                      headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 413


def test_query_over_the_length_cap_is_413(live_server):
    query = "ASK {}" + " " * 25_000
    r = requests.post(live_server + "/sparql", data=query, headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 413 and "limit" in r.text


@pytest.mark.parametrize("method,kwargs,status", [
    ("PUT", {"params": {"query": "ASK {}"}}, 405),
    ("POST", {"data": "ASK {}", "headers": {"Content-Type": "text/plain"}}, 415),
    ("POST", {"data": "ASK {}", "headers": {"Content-Type": "application/sparql-query; charset=UTF-16"}}, 415),
    ("POST", {"data": b"ASK { ?s ?p \xff }", "headers": {"Content-Type": "application/sparql-query"}}, 400),
    ("GET", {"params": [("query", "ASK {}"), ("query", "ASK {}")]}, 400),
    ("POST", {"data": {"nothing": "here"}}, 400),
])
def test_protocol_errors_are_4xx_in_plain_text(live_server, method, kwargs, status):
    r = requests.request(method, live_server + "/sparql", timeout=10, **kwargs)
    assert r.status_code == status
    assert "Traceback" not in r.text


@pytest.mark.parametrize("junk", ["", "   ", "SELECT", "}}}}", "PREFIX : <", "\x00", "ASK { FILTER(", "😀" * 10,
                                  "SELECT * { ?s ?p ?o } LIMIT -1", "SELECT (1/0 AS ?x) {}", "DESCRIBE"])
def test_junk_never_gets_a_5xx(live_server, junk):
    r = requests.post(live_server + "/sparql", data={"query": junk}, timeout=10)
    assert r.status_code < 500, r.text


def test_row_limit_is_applied_and_announced(live_server):
    # Every triple twice: about 13,000 rows from the bundled graph, more than the default cap.
    r = get(live_server, "SELECT * { ?s ?p ?o VALUES ?copy { 1 2 } }")
    assert r.status_code == 200
    assert len(r.json()["results"]["bindings"]) == DEFAULTS.max_rows == 10_000
    assert r.headers["X-BPKG-Truncated"] == "rows" and r.headers["X-BPKG-Row-Limit"] == "10000"
    small = get(live_server, LABEL_QUERY)
    assert "X-BPKG-Truncated" not in small.headers


# -- CORS and the service description ----------------------------------------------------------

def test_cors_preflight_and_headers(live_server):
    pre = requests.options(live_server + "/sparql", headers={
        "Origin": "http://example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert get(live_server, ASK_QUERY).headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("how", ["GET", "HEAD", "POST form", "POST direct", "error"])
def test_every_query_answer_carries_the_sites_headers(live_server, how):
    """Queries are answered below Flask (bpkg/web/query_path.py): the same security and CORS
    headers as every page, HEAD like GET, errors in plain text."""
    url, accept = live_server + "/sparql", {"Accept": "application/sparql-results+json"}
    if how == "GET":
        r = requests.get(url, params={"query": ASK_QUERY}, headers=accept, timeout=10)
    elif how == "HEAD":
        r = requests.head(url, params={"query": ASK_QUERY}, headers=accept, timeout=10)
    elif how == "POST form":
        r = requests.post(url, data={"query": ASK_QUERY}, headers=accept, timeout=10)
    elif how == "POST direct":
        r = requests.post(url, data=ASK_QUERY.encode(), timeout=10,
                          headers={**accept, "Content-Type": "application/sparql-query"})
    else:
        r = requests.get(url, params={"query": "ASK {"}, headers=accept, timeout=10)
    assert r.status_code == (400 if how == "error" else 200)
    # An answer is data: nothing in it may run, load or be framed, whatever a browser makes of it.
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none';")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"]
    assert r.headers["Access-Control-Allow-Origin"] == "*" and "Accept" in r.headers["Vary"]
    if how == "error":
        assert r.headers["Content-Type"].startswith("text/plain") and "syntax error" in r.text
    elif how == "HEAD":
        assert r.content == b"" and int(r.headers["Content-Length"]) > 0
    else:
        assert r.json()["boolean"] is True and r.headers["X-BPKG-Dataset-Version"]


def _query_string_cases(count: int) -> list[str]:
    """Query strings built to trip a hand-written reader: escapes valid and broken, in either
    case, "=" and "+" and "&" everywhere, UTF-8 whole and cut, raw non-ASCII, long runs."""
    rng = random.Random(20261204)
    pieces = ["%", "%2", "%3D", "%3d", "%26", "%2B", "%zz", "%C3%A9", "%c3", "%A9", "%E2%82%AC", "%F0%9F%98%80",
              "%ff", "%00", "=", "==", "+", "&", "&&", "query", "format", "update", " ", "a", "Z09", "é",
              "=3D", "=\r\n", "%0D%0A", "_", "?", "#", "%25", "%%", "{", "}"]
    return [("query=" if rng.random() < 0.7 else "") + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
            for _ in range(count)]


def test_a_get_query_string_is_read_as_urllib_reads_it():
    """The query path reads GET query strings by hand (urllib's parse_qsl and unquote loop in
    Python over every escape, most of a long query's own cost): the same parameters, and
    the same refusal of what is not UTF-8, as parse_qsl(keep_blank_values=True, errors="strict")."""
    from bpkg.web.query_path import _get_request

    for raw in _query_string_cases(20000):
        try:
            pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, errors="strict")
            expected = {}
            for name, value in pairs:
                expected.setdefault(name, []).append(value)
        except UnicodeDecodeError:
            expected = "refused"
        try:
            req = _get_request({"QUERY_STRING": raw, "HTTP_HOST": "127.0.0.1"})
            got = "no query" if req is None else req.query
        except SparqlError as refusal:
            got = "refused" if "UTF-8" in refusal.message else "refused otherwise"
        if expected == "refused":
            assert got == "refused", raw
        elif "update" in expected:
            assert got == "refused otherwise", raw
        elif "query" not in expected:
            assert got == "no query", raw
        elif len(expected["query"]) > 1:
            assert got == "refused otherwise", raw
        else:
            assert got == expected["query"][0], raw


def test_a_posted_form_is_read_as_werkzeug_reads_it():
    """HTML forms (YASGUI's default) are read by hand as GET query strings are: the same
    query, parameters and refusals as werkzeug's form parser followed by the site's UTF-8
    check, with parameters in the URL as well as in the body."""
    import io

    from bpkg.web.query_path import QueryPath, _form_request

    app = create_app({})
    path = QueryPath(app, app.wsgi_app)
    bodies = [case.replace("é", "%C3%A9") if i % 4 else case for i, case in enumerate(_query_string_cases(4000))]
    urls = ["", "format=json", "default-graph-uri=" + urllib.parse.quote(GRAPH, safe=""), "%ff", "query=x"]
    rng = random.Random(4)

    def outcome(read, body: bytes, url: str):
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/sparql", "QUERY_STRING": url, "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
                   "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=UTF-8", "CONTENT_LENGTH": str(len(body))}
        try:
            req = read(environ)[1]
        except SparqlError as refusal:
            return refusal.status, refusal.message
        return req.query, req.format, req.default_graphs, req.named_graphs, req.base_iri

    fast = []

    def read_by_hand(environ):
        fast.append(True)
        by_hand = _form_request(environ, path.max_request)  # a refusal raises here: read by hand too
        fast[-1] = by_hand is not None
        return by_hand or path._post_request(environ)

    for body in bodies:
        body, url = body.encode(), rng.choice(urls)
        assert outcome(read_by_hand, body, url) == outcome(path._post_request, body, url), (body, url)
    assert sum(fast) > len(bodies) // 2  # most cases are read by hand (raw non-ASCII goes to werkzeug)


def test_a_query_with_every_kind_of_escape_is_answered_as_written(live_server):
    """End to end: "=" sent raw and escaped, lowercase hex, a multi-byte character, "+" as a space."""
    text = 'SELECT ?x WHERE { BIND("a=b é€ c" AS ?x) FILTER(1 = 1) }'
    encoded = urllib.parse.quote(text, safe="=").replace("%C3%A9", "%c3%a9").replace("%20", "+")
    r = requests.get(f"{live_server}/sparql?query={encoded}", headers={"Accept": "application/sparql-results+json"},
                     timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["results"]["bindings"][0]["x"]["value"] == "a=b é€ c"


SD = "http://www.w3.org/ns/sparql-service-description#"


def test_service_description_in_turtle(live_server):
    r = requests.get(live_server + "/sparql", headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/turtle")
    sd = Graph().parse(data=r.text, format="turtle")
    endpoint = URIRef(live_server + "/sparql")
    assert (endpoint, URIRef(SD + "endpoint"), endpoint) in sd
    formats = set(sd.objects(endpoint, URIRef(SD + "resultFormat")))
    assert URIRef("http://www.w3.org/ns/formats/SPARQL_Results_CSV") in formats
    assert URIRef("http://www.w3.org/ns/formats/JSON-LD") in formats
    names = {str(n) for n in sd.objects(None, URIRef(SD + "name"))}
    assert GRAPH in names
    assert sd.value(endpoint, URIRef("https://w3id.org/bpkg/service#maxResultRows")).toPython() == DEFAULTS.max_rows
    assert sd.value(endpoint, URIRef("https://w3id.org/bpkg/service#queryTimeoutSeconds")).toPython() == DEFAULTS.timeout
    assert (endpoint, URIRef(SD + "supportedLanguage"), URIRef(SD + "SPARQL11Update")) not in sd


def _settings_shown(description: str, endpoint: URIRef) -> dict:
    sd = Graph().parse(data=description, format="turtle")
    label, value = URIRef("http://www.w3.org/2000/01/rdf-schema#label"), URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#value")
    return {str(sd.value(node, label)): sd.value(node, value).toPython()
            for node in sd.objects(endpoint, URIRef("https://w3id.org/bpkg/service#setting"))}


def test_service_description_lists_the_public_settings_and_no_secret(live_server):
    """What a client may plan around (limits, switches) with the values in force, from the one
    settings list (bpkg.settings); tokens, paths and addresses never."""
    shown = _settings_shown(requests.get(live_server + "/sparql", headers={"Accept": "text/turtle"}).text,
                            URIRef(live_server + "/sparql"))
    assert shown["SPARQL_MAX_ROWS"] == DEFAULTS.max_rows and shown["SPARQL_TIMEOUT"] == DEFAULTS.timeout
    assert shown["VALIDATE_MAX_BYTES"] == 1024 * 1024 and shown["SPARQL_UPDATE_ENABLED"] is False
    assert not [name for name in shown if "TOKEN" in name or name in ("KG_PATHS", "DATA_DIR", "STORE", "PUBLIC_URL")]


def test_service_description_shows_the_settings_in_force_not_the_defaults(kg):
    # The settings are what this test is about: an operator's own limits must be the ones
    # announced (and applied), so two are set away from their defaults here.
    client = create_app({"TESTING": True, "KG": kg, "SPARQL_MAX_ROWS": 500, "SPARQL_TIMEOUT": 8}).test_client()
    r = client.get("/sparql", headers={"Accept": "text/turtle"})
    shown = _settings_shown(r.get_data(as_text=True), URIRef("http://localhost/sparql"))
    assert shown["SPARQL_MAX_ROWS"] == 500 and shown["SPARQL_TIMEOUT"] == 8
    cut = client.get("/sparql", query_string={"query": "SELECT * { ?s ?p ?o }"},
                     headers={"Accept": "application/sparql-results+json"})
    assert len(cut.get_json()["results"]["bindings"]) == 500 and cut.headers["X-BPKG-Row-Limit"] == "500"


def test_service_description_links_the_dataset_description(live_server):
    sd = Graph().parse(data=requests.get(live_server + "/sparql", headers={"Accept": "text/turtle"}).text, format="turtle")
    void_url = sd.value(URIRef(live_server + "/sparql"), URIRef("http://www.w3.org/2000/01/rdf-schema#seeAlso"))
    assert str(void_url) == live_server + "/.well-known/void"
    void = requests.get(str(void_url), headers={"Accept": "text/turtle"})
    assert void.status_code == 200 and "void:triples" in void.text


def test_service_description_is_the_ui_for_browsers(live_server):
    r = requests.get(live_server + "/sparql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "yasgui" in r.text.lower()


def test_sandbox_is_absent_by_default(live_server):
    r = requests.post(live_server + "/sandbox/aaaaaaaaaaaaaaaaaaaa/sparql", data="CLEAR ALL",
                      headers={"Content-Type": "application/sparql-update"})
    assert r.status_code == 404


def test_curl_style_json_round_trip(live_server):
    """What the README shows: a plain POST of a query, JSON back, stable column names."""
    r = requests.post(live_server + "/sparql", data=LABEL_QUERY,
                      headers={"Content-Type": "application/sparql-query", "Accept": "application/json"})
    assert json.loads(r.text)["results"]["bindings"][0]["label"]["value"] == "Silk Routes"
