"""Submissions (``/submissions``, ``bpkg submissions``): durable intake in SQLite, separate
submitter and curator roles, review, publication as named graphs, revocation.

Roles and the review run on the Flask test client against a temporary data directory;
publication, the CLI and durability under ``kill -9`` run against a real ``bpkg serve``
on 127.0.0.1 (requests and SPARQLWrapper as clients).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from rdflib import Dataset, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, PROV, RDFS

from bpkg import submissions
from bpkg.web import create_app
from conftest import ROOT, start_server, stop_server

EXAMPLES = ROOT / "examples"
VALID = sorted(p for p in EXAMPLES.glob("*.ttl") if not p.stem.endswith("-invalid"))
INVALID = sorted(EXAMPLES.glob("*-invalid.ttl"))
SUBMITTER = "submitter-token-for-the-tests-01"
OTHER_SUBMITTER = "submitter-token-for-the-tests-02"
CURATOR = "curator-token-for-the-tests-0001"
TOKENS = {"BPKG_SUBMITTER_TOKENS": f"{SUBMITTER},{OTHER_SUBMITTER}", "BPKG_CURATOR_TOKENS": CURATOR}
AS_SUBMITTER = {"Authorization": f"Bearer {SUBMITTER}", "X-Submitter": "Test focal point"}
AS_OTHER = {"Authorization": f"Bearer {OTHER_SUBMITTER}", "X-Submitter": "Another office"}
AS_CURATOR = {"Authorization": f"Bearer {CURATOR}"}
TURTLE = {"Content-Type": "text/turtle"}
SPDX = Namespace("http://spdx.org/rdf/terms#")
PROJECT = "https://w3id.org/bpkg/id/project/example-labour-mobility"


def make_app(kg, data_dir, **config):
    return create_app({"TESTING": True, "KG": kg, "DATA_DIR": str(data_dir), "SUBMITTER_TOKENS": TOKENS[
        "BPKG_SUBMITTER_TOKENS"], "CURATOR_TOKENS": CURATOR, "SPARQL_POOL": False, **config})


@pytest.fixture()
def client(kg, tmp_path):
    return make_app(kg, tmp_path).test_client()


def post(client, path: Path | bytes, headers=AS_SUBMITTER):
    body = path.read_bytes() if isinstance(path, Path) else path
    return client.post("/submissions", data=body, headers={**headers, **TURTLE})


# -- configuration and roles (Flask test client) ---------------------------------------------

@pytest.mark.parametrize("config", [
    {},
    {"SUBMITTER_TOKENS": SUBMITTER},
    {"CURATOR_TOKENS": CURATOR},
    {"SUBMITTER_TOKENS": "short", "CURATOR_TOKENS": CURATOR},
    {"SUBMITTER_TOKENS": CURATOR, "CURATOR_TOKENS": CURATOR},
], ids=["none", "only-submitters", "only-curators", "short-token", "same-token-both-roles"])
def test_off_unless_both_roles_are_configured_well(kg, tmp_path, config):
    client = create_app({"TESTING": True, "KG": kg, **config}).test_client()
    for headers in (AS_SUBMITTER, AS_CURATOR, {"Authorization": "Bearer short"}):
        assert post(client, EXAMPLES / "project.ttl", headers).status_code == 404
        assert client.get("/submissions", headers=headers).status_code == 404
    assert client.get("/submissions/review").status_code == 404


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": SUBMITTER}, 401),  # no scheme
    ({"Authorization": f"Basic {SUBMITTER}"}, 401),
    ({"Authorization": "Bearer "}, 401),
    ({"Authorization": "Bearer wrong-token-wrong-token-0123"}, 403),
    ({"Authorization": f"Bearer {SUBMITTER}x"}, 403),
], ids=["none", "no-scheme", "basic", "empty", "wrong", "longer"])
def test_missing_or_wrong_token_is_refused_and_keeps_nothing(client, headers, status):
    response = post(client, EXAMPLES / "project.ttl", {**headers, "X-Submitter": "x"})
    assert response.status_code == status
    assert response.json["error"] in ("unauthorised", "forbidden")
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/submissions", headers=AS_CURATOR).json["count"] == 0


def test_roles_are_separate(client):
    sid = post(client, EXAMPLES / "project.ttl").json["id"]
    for action in ("accept", "reject", "revoke"):
        refused = client.post(f"/submissions/{sid}/{action}", headers=AS_SUBMITTER, json={"reason": "x"})
        assert refused.status_code == 403 and "curator" in refused.json["message"]
        assert client.post(f"/submissions/{sid}/{action}", json={"reason": "x"}).status_code == 401
    assert client.get(f"/submissions/{sid}/diff", headers=AS_SUBMITTER).status_code == 403
    assert client.get(f"/submissions/{sid}/document", headers=AS_SUBMITTER).status_code == 403
    # A curator reviews; sending is the submitters' part.
    assert post(client, EXAMPLES / "meeting.ttl", {**AS_CURATOR, "X-Submitter": "x"}).status_code == 403
    assert client.get(f"/submissions/{sid}", headers=AS_CURATOR).json["status"] == "pending"


def test_submitters_see_only_their_own(client):
    mine = post(client, EXAMPLES / "project.ttl").json["id"]
    theirs = post(client, EXAMPLES / "meeting.ttl", AS_OTHER).json["id"]
    assert [s["id"] for s in client.get("/submissions", headers=AS_SUBMITTER).json["submissions"]] == [mine]
    assert [s["id"] for s in client.get("/submissions", headers=AS_OTHER).json["submissions"]] == [theirs]
    assert client.get(f"/submissions/{theirs}", headers=AS_SUBMITTER).status_code == 404
    listing = client.get("/submissions", headers=AS_CURATOR).json
    assert {s["id"] for s in listing["submissions"]} == {mine, theirs} and listing["counts"]["pending"] == 2
    # The token itself is stored nowhere: only a keyed hash names it.
    assert all(SUBMITTER not in json.dumps(s) for s in listing["submissions"])


@pytest.mark.parametrize("submitter", [None, "", "   ", "x" * 201, "bad\x00name"], ids=["absent", "empty", "blank",
                                                                                         "long", "control"])
def test_the_submitter_must_be_a_short_text(client, submitter):
    headers = {"Authorization": AS_SUBMITTER["Authorization"]}
    if submitter is not None:
        headers["X-Submitter"] = submitter
    response = post(client, EXAMPLES / "project.ttl", headers)
    assert response.status_code == 400 and "submitter" in response.json["message"].lower()
    assert client.get("/submissions", headers=AS_CURATOR).json["count"] == 0


def test_unreadable_submissions_get_the_validators_errors(kg, tmp_path):
    client = make_app(kg, tmp_path, VALIDATE_MAX_BYTES=4096).test_client()
    syntax = post(client, b"PREFIX bp: <https://w3id.org/bpkg/ontology#>\nbp:x bp:y bp:w .\nbp:z")
    assert syntax.status_code == 400 and syntax.json["line"] == 3
    assert client.post("/submissions", data=b"<a> <b> <c> .", headers=AS_SUBMITTER).status_code == 415
    big = post(client, b"#" * 5000)
    assert big.status_code == 413 and "4,096" in big.json["message"]
    assert client.get("/submissions", headers=AS_CURATOR).json["count"] == 0


@pytest.mark.parametrize("example", INVALID, ids=lambda p: p.stem)
def test_an_invalid_submission_is_refused_with_its_report(client, example):
    response = post(client, example)
    assert response.status_code == 422
    assert response.json["id"] is None and response.json["report"]["conforms"] is False
    assert client.get("/submissions", headers=AS_CURATOR).json["count"] == 0


def test_a_full_inbox_refuses_more(kg, tmp_path):
    client = make_app(kg, tmp_path, SUBMISSIONS_MAX_PENDING=1).test_client()
    first = post(client, EXAMPLES / "project.ttl")
    assert first.status_code == 201
    second = post(client, EXAMPLES / "meeting.ttl")
    assert second.status_code == 409 and "1" in second.json["message"]
    # Reviewing makes room.
    client.post(f"/submissions/{first.json['id']}/reject", headers=AS_CURATOR, json={"reason": "a test"})
    assert post(client, EXAMPLES / "meeting.ttl").status_code == 201


def test_a_locked_database_is_a_503_and_keeps_nothing(kg, tmp_path, monkeypatch):
    client = make_app(kg, tmp_path).test_client()
    monkeypatch.setattr(submissions, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(tmp_path / submissions.DB_NAME, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        response = post(client, EXAMPLES / "project.ttl")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert client.get("/submissions", headers=AS_CURATOR).json["count"] == 0


def test_review_states_and_their_rules(client):
    sid = post(client, EXAMPLES / "practice.ttl").json["id"]
    no_reason = client.post(f"/submissions/{sid}/reject", headers=AS_CURATOR)
    assert no_reason.status_code == 400 and "reason" in no_reason.json["message"]
    assert client.post(f"/submissions/{sid}/revoke", headers=AS_CURATOR).status_code == 409  # not accepted
    rejected = client.post(f"/submissions/{sid}/reject", headers=AS_CURATOR,
                           json={"reason": "the source page does not say this"})
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert rejected.json["reason"] == "the source page does not say this"
    assert client.post(f"/submissions/{sid}/accept", headers=AS_CURATOR).status_code == 409
    mine = client.get(f"/submissions/{sid}", headers=AS_SUBMITTER).json  # the submitter reads the verdict
    assert mine["status"] == "rejected" and mine["reason"] == "the source page does not say this"
    assert [e["action"] for e in mine["history"]] == ["submitted", "rejected"]
    assert [s["id"] for s in client.get("/submissions?state=rejected", headers=AS_CURATOR).json["submissions"]] == [sid]
    assert client.get("/submissions?state=pending", headers=AS_CURATOR).json["count"] == 0
    assert client.get("/submissions?state=bogus", headers=AS_CURATOR).status_code == 400
    for sid in ("20250101T000000Z-00000000", "../../etc/passwd", "x" * 300):
        assert client.get("/submissions/" + sid, headers=AS_CURATOR).status_code == 404


def test_diff_against_the_published_graph(client):
    sid = post(client, EXAMPLES / "project.ttl").json["id"]
    diff = client.get(f"/submissions/{sid}/diff", headers=AS_CURATOR).json
    assert len(diff["added"]) == len(Graph().parse(EXAMPLES / "project.ttl")) and diff["already_published"] == 0
    assert PROJECT in diff["new_entities"]
    assert "https://w3id.org/bpkg/id/state/AF" in diff["existing_entities"]
    assert "https://w3id.org/bpkg/id/state/AF" not in diff["new_entities"]
    document = client.get(f"/submissions/{sid}/document", headers=AS_CURATOR)
    assert document.data == (EXAMPLES / "project.ttl").read_bytes()  # verbatim
    assert document.headers["Content-Disposition"] == "attachment"


def test_accept_publishes_and_revoke_withdraws(client):
    ask = f"ASK {{ <{PROJECT}> ?p ?o }}"

    def answer():
        response = client.get("/sparql", query_string={"query": ask}, headers={"Accept": "application/sparql-results+json"})
        return response.json["boolean"], response.headers["ETag"]

    before, tag_before = answer()
    sid = post(client, EXAMPLES / "project.ttl").json["id"]
    assert answer() == (False, tag_before)  # pending data is not published
    accepted = client.post(f"/submissions/{sid}/accept", headers=AS_CURATOR)
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    published, tag = answer()
    assert published and tag != tag_before
    assert client.get("/sparql", query_string={"query": ask}, headers={"If-None-Match": tag_before,
                      "Accept": "application/sparql-results+json"}).status_code == 200
    assert client.post(f"/submissions/{sid}/revoke", headers=AS_CURATOR, json={"reason": "duplicate"}).status_code == 200
    withdrawn, tag_after = answer()
    assert not withdrawn and tag_after not in (tag, tag_before)


def test_accept_revalidates_against_the_graph_as_it_is_then(client):
    """Two offices send the same new state; once one is accepted, the other one's statements
    are about a published entity it does not own: its accept is refused and it stays pending."""
    first = post(client, EXAMPLES / "guard" / "state.ttl").json["id"]
    second_doc = (EXAMPLES / "guard" / "state.ttl").read_bytes() + \
        b'\nstate:NZ skos:altLabel "Aotearoa"@en .\n'
    second = post(client, second_doc, AS_OTHER)
    assert second.status_code == 201, second.json
    assert client.post(f"/submissions/{first}/accept", headers=AS_CURATOR).status_code == 200
    refused = client.post(f"/submissions/{second.json['id']}/accept", headers=AS_CURATOR)
    assert refused.status_code == 422
    messages = [r["message"] for r in refused.json["report"]["results"]]
    assert any("state:NZ (New Zealand)" in m and "skos:altLabel" in m for m in messages), messages
    still = client.get(f"/submissions/{second.json['id']}", headers=AS_CURATOR).json
    assert still["status"] == "pending" and still["history"][-1]["action"] == "accept-refused"
    # The office that introduced the state may add to it.
    more = post(client, second_doc)
    assert more.status_code == 201, more.json
    assert client.post(f"/submissions/{more.json['id']}/accept", headers=AS_CURATOR).status_code == 200


def test_accepted_data_survives_a_new_app_on_the_same_data_dir(kg, tmp_path):
    client = make_app(kg, tmp_path).test_client()
    sid = post(client, EXAMPLES / "meeting.ttl").json["id"]
    client.post(f"/submissions/{sid}/accept", headers=AS_CURATOR)
    again = make_app(kg, tmp_path).test_client()
    assert again.get(f"/submissions/{sid}", headers=AS_CURATOR).json["status"] == "accepted"
    response = again.get("/graph/submission/" + sid, headers={"Accept": "text/turtle"})
    assert response.status_code == 200
    assert isomorphic(Graph().parse(data=response.data, format="turtle"), Graph().parse(EXAMPLES / "meeting.ttl"))
    # The bundled files are never written.
    assert not any(p.stat().st_mtime > time.time() - 60 for p in (ROOT / "kg").rglob("*.ttl"))


def test_the_review_page_is_served_without_data(client):
    page = client.get("/submissions/review")
    assert page.status_code == 200 and b"Curator token" in page.data and b"review.js" in page.data
    assert b"sessionStorage" not in page.data  # the page itself holds no script and no data
    script = client.get("/static/review.js")
    assert script.status_code == 200 and b"Bearer" in script.data


# -- a real server: publication, CLI, concurrency ----------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    base, proc = start_server("--data-dir", str(data_dir), env=TOKENS)
    yield base, data_dir
    stop_server(proc)


def submit(base: str, body: bytes, headers=AS_SUBMITTER) -> requests.Response:
    return requests.post(base + "/submissions", data=body, headers={**headers, **TURTLE}, timeout=60)


def select(base: str, query: str) -> list[dict]:
    from SPARQLWrapper import JSON, SPARQLWrapper

    client = SPARQLWrapper(base + "/sparql")
    client.setQuery(query)
    client.setReturnFormat(JSON)
    return client.queryAndConvert()["results"]["bindings"]


def cli(data_dir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpkg", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "BPKG_DATA_DIR": str(data_dir)})


def test_accepted_data_is_served_everywhere_and_revoked_data_nowhere(served):
    base, _ = served
    body = (EXAMPLES / "project.ttl").read_bytes()
    sid = submit(base, body).json()["id"]
    graph = submissions.graph_of(sid)
    label_query = f"SELECT ?label WHERE {{ <{PROJECT}> <http://www.w3.org/2004/02/skos/core#prefLabel> ?label }}"
    void_before = requests.get(base + "/.well-known/void", headers={"Accept": "text/turtle"}, timeout=30)
    assert select(base, label_query) == []

    accepted = requests.post(f"{base}/submissions/{sid}/accept", headers=AS_CURATOR, timeout=60)
    assert accepted.status_code == 200, accepted.text
    assert [r["label"]["value"] for r in select(base, label_query)] == ["Example project on labour mobility"]
    in_graph = select(base, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
    assert int(in_graph[0]["n"]["value"]) == len(Graph().parse(data=body, format="turtle"))
    # Provenance as RDF: who sent it, when, the document's hash, the report, who accepted it.
    prov = Graph().parse(data=requests.get(base + "/graph/submission/" + sid + "/provenance",
                                           headers={"Accept": "text/turtle"}, timeout=30).text, format="turtle")
    node = URIRef(graph)
    assert prov.value(prov.value(node, PROV.wasAttributedTo), RDFS.label) == Literal("Test focal point")
    assert prov.value(node, PROV.generatedAtTime) is not None
    checksum = prov.value(prov.value(node, PROV.wasDerivedFrom), SPDX.checksum)
    assert str(prov.value(checksum, SPDX.checksumValue)) == hashlib.sha256(body).hexdigest()
    acceptance = prov.value(node, PROV.wasGeneratedBy)
    assert prov.value(acceptance, PROV.endedAtTime) is not None
    assert str(prov.value(prov.value(acceptance, PROV.wasAssociatedWith), DCTERMS.identifier)).startswith("token-")
    # Dumps, resource pages and the dataset description follow.
    dump = Dataset()
    dump.parse(data=requests.get(base + "/dumps/bpkg.nq", timeout=60).text, format="nquads")
    assert (URIRef(PROJECT), None, None, URIRef(graph)) in dump
    page = requests.get(base + "/id/project/example-labour-mobility", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "Example project on labour mobility" in page.text
    void_after = requests.get(base + "/.well-known/void", headers={"Accept": "text/turtle"}, timeout=30)
    assert void_after.headers["ETag"] != void_before.headers["ETag"]
    assert "dct:modified" in void_after.text

    revoked = requests.post(f"{base}/submissions/{sid}/revoke", headers=AS_CURATOR, json={"reason": "test"}, timeout=60)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert select(base, label_query) == []
    assert requests.get(base + "/id/project/example-labour-mobility", timeout=30).status_code == 404
    assert PROJECT not in requests.get(base + "/dumps/bpkg.nq", timeout=60).text


def test_the_cli_reviews_what_the_server_took_in(served, tmp_path):
    base, data_dir = served
    sid = submit(base, (EXAMPLES / "practice.ttl").read_bytes()).json()["id"]
    listed = cli(data_dir, "submissions", "list", "--state", "pending")
    assert listed.returncode == 0 and sid in listed.stdout and "1 pending" in listed.stdout
    shown = cli(data_dir, "submissions", "show", sid)
    assert shown.returncode == 0 and "pending" in shown.stdout and "submitted by token-" in shown.stdout
    diff = cli(data_dir, "submissions", "diff", sid)
    assert diff.returncode == 0 and "triple(s) added" in diff.stdout and "practice:example-peer-learning" in diff.stdout
    version = cli(data_dir, "stats").stdout.splitlines()[0]
    accepted = cli(data_dir, "submissions", "accept", sid, "--as", "curator-on-the-shell")
    assert accepted.returncode == 0, accepted.stderr
    assert "published as the named graph" in accepted.stdout
    assert cli(data_dir, "stats").stdout.splitlines()[0] != version
    # The running server picks the accept up by itself.
    query = "ASK { <https://w3id.org/bpkg/id/practice/example-peer-learning> ?p ?o }"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if requests.get(base + "/sparql", params={"query": query}, headers={"Accept": "application/sparql-results+json"},
                        timeout=30).json()["boolean"]:
            break
        time.sleep(0.3)
    else:
        pytest.fail("the server did not pick up the accept made on the command line")
    again = cli(data_dir, "submissions", "accept", sid)
    assert again.returncode == 2 and "only a pending submission" in again.stderr
    exported = cli(data_dir, "submissions", "export", "--out", str(tmp_path))
    assert exported.returncode == 0
    written = tmp_path / f"submission-{sid}.ttl"
    assert isomorphic(Graph().parse(written), Graph().parse(EXAMPLES / "practice.ttl"))
    assert cli(data_dir, "submissions", "reject", sid).returncode == 2  # a reason is required
    assert cli(data_dir, "submissions", "revoke", sid, "--reason", "moved into kg/").returncode == 0


def test_concurrent_submissions_are_all_kept(served):
    """16 clients at once, each with its own valid document, and the invalid examples in the
    same burst: every valid one kept whole and listed, each invalid one refused."""
    base, _ = served
    jobs = [(_numbered(1000 + i), f"Office {i}", True) for i in range(16)] + \
        [(p.read_bytes(), f"Office {p.stem}", False) for p in INVALID]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        responses = list(pool.map(lambda job: submit(base, job[0], {**AS_SUBMITTER, "X-Submitter": job[1]}), jobs))
    kept = []
    for (body, office, valid), response in zip(jobs, responses):
        if not valid:
            assert response.status_code == 422, (office, response.text)
            continue
        assert response.status_code == 201, (office, response.text)
        doc = response.json()
        assert doc["submitter"] == office and doc["sha256"] == hashlib.sha256(body).hexdigest()
        kept.append((body, doc))
    assert len({doc["id"] for _, doc in kept}) == len(kept) == 16
    listed = {s["id"] for s in requests.get(base + "/submissions", headers=AS_CURATOR, timeout=30).json()["submissions"]}
    assert {doc["id"] for _, doc in kept} <= listed
    for body, doc in kept:
        turtle = requests.get(f"{base}/submissions/{doc['id']}", params={"format": "turtle"}, headers=AS_CURATOR,
                              timeout=30)
        assert isomorphic(Graph().parse(data=turtle.text, format="turtle"), Graph().parse(data=body, format="turtle"))


# -- durability: kill -9 in the middle of a burst ---------------------------------------------

def _numbered(i: int) -> bytes:
    """project.ttl as a distinct document (its own project IRI), so that each one can be told apart."""
    return (EXAMPLES / "project.ttl").read_text(encoding="utf-8").replace(
        "example-labour-mobility", f"example-labour-mobility-{i}").replace(
        "example-project-factsheet", f"example-project-factsheet-{i}").encode("utf-8")


def test_every_acknowledged_submission_survives_kill_9(tmp_path):
    """16 clients submit; once at least 8 have been acknowledged the server is killed with
    SIGKILL, whatever is in flight. After a restart on the same directory every 201 is there,
    whole, and the database holds nothing partial."""
    base, proc = start_server("--data-dir", str(tmp_path), env=TOKENS)
    acknowledged: dict[str, str] = {}  # id -> sha256
    enough = threading.Event()
    lock = threading.Lock()

    def client(k: int):
        for j in range(10):
            body = _numbered(k * 100 + j)
            try:
                response = submit(base, body)
            except requests.RequestException:
                return  # the server is gone: what was not acknowledged may or may not be kept
            if response.status_code == 201:
                with lock:
                    acknowledged[response.json()["id"]] = hashlib.sha256(body).hexdigest()
                    if len(acknowledged) >= 8:
                        enough.set()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    try:
        assert enough.wait(120), "the burst was not acknowledged in time"
        proc.kill()  # SIGKILL: no shutdown, no flush
        proc.wait(timeout=10)
    finally:
        for t in threads:
            t.join(timeout=120)
    with lock:
        acked = dict(acknowledged)
    assert len(acked) >= 8

    with sqlite3.connect(tmp_path / submissions.DB_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    base, proc = start_server("--data-dir", str(tmp_path), env=TOKENS)
    try:
        listing = requests.get(base + "/submissions", headers=AS_CURATOR, timeout=30).json()
    finally:
        stop_server(proc)
    kept = {s["id"]: s for s in listing["submissions"]}
    assert set(acked) <= set(kept)
    for sid, sha in acked.items():
        assert kept[sid]["sha256"] == sha and kept[sid]["status"] == "pending"
    inbox = submissions.Inbox(tmp_path, create=False)
    for record in inbox.records():  # acknowledged or not, nothing is half there
        document = inbox.document(record.id)
        assert hashlib.sha256(document).hexdigest() == record.sha256
        assert len(Graph().parse(data=document, format="turtle")) == record.triples == len(record.quads())
