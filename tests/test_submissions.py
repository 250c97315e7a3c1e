"""Staging (``/submissions``): off by default, token-protected, only conforming submissions
staged, each in its own named graph that ``/sparql`` can query, exportable for review.

The access rules run on the Flask test client; staging and querying run against a real
``bpkg serve`` on 127.0.0.1 (requests and SPARQLWrapper as clients).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from rdflib import Dataset, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import PROV, RDFS, SH

from bpkg.web import create_app
from conftest import ROOT, start_server, stop_server

EXAMPLES = ROOT / "examples"
VALID = sorted(p for p in EXAMPLES.glob("*.ttl") if not p.stem.endswith("-invalid"))
INVALID = sorted(EXAMPLES.glob("*-invalid.ttl"))
TOKEN = "staging-token-for-the-tests-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Submitter": "Test focal point"}
TURTLE = {"Content-Type": "text/turtle"}
SPDX = Namespace("http://spdx.org/rdf/terms#")
STAGING = "https://w3id.org/bpkg/graph/staging/"
PROJECT = "https://w3id.org/bpkg/id/project/example-labour-mobility"


# -- access (Flask test client) ------------------------------------------------------------

@pytest.fixture()
def staging_client(kg):
    return create_app({"TESTING": True, "KG": kg, "SUBMISSIONS_TOKEN": TOKEN}).test_client()


def test_off_by_default(client):
    body = (EXAMPLES / "project.ttl").read_bytes()
    assert client.post("/submissions", data=body, headers={**AUTH, **TURTLE}).status_code == 404
    assert client.get("/submissions", headers=AUTH).status_code == 404
    assert client.get("/submissions/20250101T000000Z-00000000", headers=AUTH).status_code == 404


def test_a_short_token_does_not_enable_it(kg):
    client = create_app({"TESTING": True, "KG": kg, "SUBMISSIONS_TOKEN": "short"}).test_client()
    assert client.get("/submissions", headers={"Authorization": "Bearer short"}).status_code == 404


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": TOKEN}, 401),  # no scheme
    ({"Authorization": f"Basic {TOKEN}"}, 401),
    ({"Authorization": "Bearer "}, 401),
    ({"Authorization": "Bearer wrong-token-wrong-token-0123"}, 403),
    ({"Authorization": f"Bearer {TOKEN}x"}, 403),
], ids=["none", "no-scheme", "basic", "empty", "wrong", "longer"])
def test_missing_or_wrong_token_is_refused_and_stages_nothing(staging_client, headers, status):
    body = (EXAMPLES / "project.ttl").read_bytes()
    response = staging_client.post("/submissions", data=body, headers={**headers, **TURTLE, "X-Submitter": "x"})
    assert response.status_code == status
    assert response.json["error"] in ("unauthorised", "forbidden")
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert staging_client.get("/submissions", headers=AUTH).json["count"] == 0


@pytest.mark.parametrize("submitter", [None, "", "   ", "x" * 201, "bad\x00name"], ids=["absent", "empty", "blank",
                                                                                         "long", "control"])
def test_the_submitter_must_be_a_short_text(staging_client, submitter):
    headers = {"Authorization": AUTH["Authorization"], **TURTLE}
    if submitter is not None:
        headers["X-Submitter"] = submitter
    response = staging_client.post("/submissions", data=(EXAMPLES / "project.ttl").read_bytes(), headers=headers)
    assert response.status_code == 400
    assert "submitter" in response.json["message"].lower()
    assert staging_client.get("/submissions", headers=AUTH).json["count"] == 0


def test_unreadable_submissions_get_the_validators_errors(kg):
    client = create_app({"TESTING": True, "KG": kg, "SUBMISSIONS_TOKEN": TOKEN,
                         "VALIDATE_MAX_BYTES": 4096}).test_client()
    syntax = client.post("/submissions", data=b"PREFIX bp: <https://w3id.org/bpkg/ontology#>\nbp:x bp:y bp:w .\nbp:z",
                         headers={**AUTH, **TURTLE})
    assert syntax.status_code == 400 and syntax.json["line"] == 3
    assert client.post("/submissions", data=b"<a> <b> <c> .", headers=AUTH).status_code == 415
    big = client.post("/submissions", data=b"#" * 5000, headers={**AUTH, **TURTLE})
    assert big.status_code == 413 and "4,096" in big.json["message"]
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><rdf:RDF/>'
    assert client.post("/submissions", data=bomb, headers={**AUTH, "Content-Type": "application/rdf+xml"}
                       ).status_code == 400
    assert client.get("/submissions", headers=AUTH).json["count"] == 0


def test_form_upload_with_submitter_field(staging_client):
    path = EXAMPLES / "practice.ttl"
    response = staging_client.post("/submissions", headers={"Authorization": AUTH["Authorization"]},
                                   data={"file": (path.open("rb"), path.name), "submitter": "Curator, Vienna"},
                                   content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    assert response.json["submitter"] == "Curator, Vienna" and response.json["source"] == "practice.ttl"


def test_a_full_staging_area_refuses_more(kg):
    client = create_app({"TESTING": True, "KG": kg, "SUBMISSIONS_TOKEN": TOKEN,
                         "SUBMISSIONS_MAX_STAGED": 1}).test_client()
    first = client.post("/submissions", data=(EXAMPLES / "project.ttl").read_bytes(), headers={**AUTH, **TURTLE})
    assert first.status_code == 201
    second = client.post("/submissions", data=(EXAMPLES / "meeting.ttl").read_bytes(), headers={**AUTH, **TURTLE})
    assert second.status_code == 409 and "1 submissions" in second.json["message"]
    assert [s["id"] for s in client.get("/submissions", headers=AUTH).json["submissions"]] == [first.json["id"]]


# -- staging and querying (a real server) --------------------------------------------------

@pytest.fixture(scope="module")
def server():
    base, proc = start_server("--timeout", "10", env={"BPKG_SUBMISSIONS_TOKEN": TOKEN})
    yield base
    stop_server(proc)


def submit(base: str, path: Path, **headers) -> requests.Response:
    return requests.post(base + "/submissions", data=path.read_bytes(), headers={**AUTH, **TURTLE, **headers},
                         timeout=60)


def select(base: str, query: str) -> list[dict]:
    from SPARQLWrapper import JSON, SPARQLWrapper

    client = SPARQLWrapper(base + "/sparql")
    client.setQuery(query)
    client.setReturnFormat(JSON)
    return client.queryAndConvert()["results"]["bindings"]


def ask(base: str, query: str) -> bool:
    response = requests.get(base + "/sparql", params={"query": query},
                            headers={"Accept": "application/sparql-results+json"}, timeout=30)
    response.raise_for_status()
    return response.json()["boolean"]


def all_quads(base: str) -> int:
    rows = select(base, "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
    return int(rows[0]["n"]["value"])


def listed(base: str) -> list[dict]:
    response = requests.get(base + "/submissions", headers=AUTH, timeout=30)
    response.raise_for_status()
    return response.json()["submissions"]


def test_a_valid_submission_is_staged_and_queryable_in_its_own_graph(server):
    before = all_quads(server)
    response = submit(server, EXAMPLES / "project.ttl")
    assert response.status_code == 201, response.text
    staged = response.json()
    graph = staged["graph"]
    assert graph == STAGING + staged["id"] and staged["status"] == "staged" and staged["report"]["conforms"]
    assert response.headers["Location"].endswith("/submissions/" + staged["id"])
    expected = len(Graph().parse(EXAMPLES / "project.ttl"))
    assert staged["triples"] == expected
    rows = select(server, f"""PREFIX bp: <https://w3id.org/bpkg/ontology#>
        SELECT ?label WHERE {{ GRAPH <{graph}> {{ <{PROJECT}> a bp:Project ;
            <http://www.w3.org/2004/02/skos/core#prefLabel> ?label }} }}""")
    assert [r["label"]["value"] for r in rows] == ["Example project on labour mobility"]
    assert all_quads(server) == before + expected
    # Unreviewed data stays out of the default graph (the bundled union) ...
    assert not ask(server, f"ASK {{ <{PROJECT}> ?p ?o }}")
    assert ask(server, "ASK { <https://w3id.org/bpkg/id/state/AF> ?p ?o }")
    # ... FROM may name it, and the service description lists it among the named graphs.
    assert ask(server, f"ASK FROM <{graph}> {{ <{PROJECT}> ?p ?o }}")
    description = Graph().parse(data=requests.get(server + "/sparql", headers={"Accept": "text/turtle"},
                                                  timeout=30).text, format="turtle")
    names = set(description.objects(None, URIRef("http://www.w3.org/ns/sparql-service-description#name")))
    assert URIRef(graph) in names and URIRef("https://w3id.org/bpkg/graph/kg/states") in names
    assert staged["id"] in {s["id"] for s in listed(server)}


def test_queries_that_name_no_graph_are_answered_from_the_bundled_graph(server):
    """The default graph is the bundled union with or without staging, so such queries keep
    the bundled graph's version (pool and result cache); naming graphs gets the snapshot."""
    submit(server, EXAMPLES / "practice.ttl").raise_for_status()

    def version(query):
        response = requests.get(server + "/sparql", params={"query": query}, timeout=30,
                                headers={"Accept": "application/sparql-results+json"})
        response.raise_for_status()
        return response.headers["X-BPKG-Dataset-Version"]

    plain = version("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert "staging" not in plain
    assert "staging" in version("SELECT ?g WHERE { GRAPH ?g { } }")
    assert "staging" in version("select ?s from <https://w3id.org/bpkg/graph/kg/states> where { ?s ?p ?o } limit 1")
    assert "staging" not in version("SELECT ?s WHERE { ?s ?p 'GRAPH' } LIMIT 1")  # a string is no keyword


@pytest.mark.parametrize("example", INVALID, ids=lambda p: p.stem)
def test_an_invalid_twin_is_rejected_and_changes_nothing(server, example):
    before, staged_before = all_quads(server), listed(server)
    response = submit(server, example)
    assert response.status_code == 422
    doc = response.json()
    assert doc["status"] == "rejected" and doc["id"] is None
    assert doc["report"]["conforms"] is False and doc["report"]["counts"]["violation"] >= 4
    assert all(r["line"] for r in doc["report"]["results"] if r["severity"] == "Violation")
    assert all_quads(server) == before
    assert listed(server) == staged_before
    assert not select(server, f"SELECT ?g WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER STRSTARTS(STR(?s), "
                              f"'{PROJECT}-invalid') }} LIMIT 1")


def test_concurrent_submissions_are_independent(server):
    """Valid and invalid examples at once: each valid one in its own graph with exactly its
    own triples, each invalid one rejected, nothing else changed."""
    before = all_quads(server)
    jobs = (VALID + INVALID) * 2
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda p: submit(server, p, **{"X-Submitter": f"Office {p.stem}"}), jobs))
    staged = []
    for path, response in zip(jobs, responses):
        if path in INVALID:
            assert response.status_code == 422, (path.name, response.text)
            continue
        assert response.status_code == 201, (path.name, response.text)
        doc = response.json()
        assert doc["submitter"] == f"Office {path.stem}" and doc["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        staged.append((path, doc))
    assert len({doc["id"] for _, doc in staged}) == len(staged) == 2 * len(VALID)
    for path, doc in staged:
        turtle = requests.get(server + "/submissions/" + doc["id"], params={"format": "turtle"}, headers=AUTH,
                              timeout=30)
        assert isomorphic(Graph().parse(data=turtle.text, format="turtle"), Graph().parse(path)), path.name
        rows = select(server, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{doc['graph']}> {{ ?s ?p ?o }} }}")
        assert int(rows[0]["n"]["value"]) == doc["triples"] == len(Graph().parse(path))
    assert all_quads(server) == before + sum(doc["triples"] for _, doc in staged)


def test_export_returns_what_was_staged(server):
    path = EXAMPLES / "membership.ttl"
    doc = submit(server, path, **{"X-Submitter": "Secretariat"}).json()
    here = server + "/submissions/" + doc["id"]
    submitted = Graph().parse(path)

    turtle = requests.get(here, headers={**AUTH, "Accept": "text/turtle"}, timeout=30)
    assert turtle.headers["Content-Type"].startswith("text/turtle")
    assert isomorphic(Graph().parse(data=turtle.text, format="turtle"), submitted)
    jsonld = requests.get(here, headers={**AUTH, "Accept": "application/ld+json"}, timeout=30)
    assert isomorphic(Graph().parse(data=jsonld.text, format="json-ld"), submitted)

    nquads = requests.get(here, params={"format": "nquads"}, headers=AUTH, timeout=30)
    dataset = Dataset()
    dataset.parse(data=nquads.text, format="nquads")
    graphs = {str(g.identifier): g for g in dataset.graphs() if len(g)}
    assert set(graphs) == {doc["graph"], "https://w3id.org/bpkg/graph/staging-reports"}
    assert isomorphic(graphs[doc["graph"]], submitted)

    report = Graph().parse(data=requests.get(here + "/report", headers=AUTH, timeout=30).text, format="turtle")
    staged_graph = URIRef(doc["graph"])
    submitter = report.value(staged_graph, PROV.wasAttributedTo)
    assert report.value(submitter, RDFS.label) == Literal("Secretariat")
    assert report.value(staged_graph, PROV.generatedAtTime).toPython().year >= 2024
    document = report.value(staged_graph, PROV.wasDerivedFrom)
    checksum = report.value(document, SPDX.checksum)
    assert str(report.value(checksum, SPDX.checksumValue)) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report.value(document, URIRef("http://www.w3.org/ns/dcat#mediaType")) == URIRef(
        "https://www.iana.org/assignments/media-types/text/turtle")
    validation_report = next(report.subjects(SH.conforms, None))
    assert report.value(validation_report, SH.conforms).toPython() is True

    metadata = requests.get(here, headers=AUTH, timeout=30).json()
    assert metadata["report"]["conforms"] and metadata["triples"] == len(submitted)
    assert requests.get(here, headers={**AUTH, "Accept": "image/png"}, timeout=30).status_code == 406
    assert requests.get(here, timeout=30).status_code == 401  # export needs the token too


def test_removal_takes_it_out_of_sparql(server):
    doc = submit(server, EXAMPLES / "meeting.ttl").json()
    graph, here = doc["graph"], server + "/submissions/" + doc["id"]
    assert ask(server, f"ASK {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
    assert requests.delete(here, headers=AUTH, timeout=30).status_code == 204
    assert requests.get(here, headers=AUTH, timeout=30).status_code == 404
    assert not ask(server, f"ASK {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
    refused = requests.get(server + "/sparql", params={"query": f"ASK FROM <{graph}> {{ ?s ?p ?o }}"}, timeout=30)
    assert refused.status_code == 400  # no longer a graph of this dataset


def test_unknown_ids_are_404(server):
    for sid in ("20250101T000000Z-00000000", "../../etc/passwd", "x" * 300):
        assert requests.get(server + "/submissions/" + sid, headers=AUTH, timeout=30).status_code == 404


def test_listing_gives_each_status_and_graph(server):
    listing = requests.get(server + "/submissions", headers=AUTH, timeout=30).json()
    assert listing["count"] == len(listing["submissions"])
    assert all(s["status"] == "staged" and s["graph"].startswith(STAGING) for s in listing["submissions"])
