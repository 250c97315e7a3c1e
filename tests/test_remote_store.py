"""Serving from an external SPARQL store: a real ``oxigraph serve`` on 127.0.0.1, loaded with
``bpkg load --store``, must give every named query the same rows as the embedded store."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pyoxigraph as ox
import pytest

from bpkg import queries
from bpkg.remote import Endpoints, RemoteStore, StoreError, inject_values

ROOT = Path(__file__).resolve().parent.parent


def _oxigraph_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("oxigraph")
    return str(beside_python) if beside_python.is_file() else shutil.which("oxigraph")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bpkg(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpkg", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def oxigraph_url(tmp_path_factory):
    binary = _oxigraph_binary()
    if not binary:
        pytest.skip("the `oxigraph` server binary is not installed (pip install oxigraph, the test extra)")
    port = _free_port()
    log = (tmp_path_factory.mktemp("oxigraph") / "server.log").open("wb")
    proc = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(url + "/query?query=ASK%7B%7D", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"oxigraph serve did not start on {url} (exit code {proc.poll()})")
                time.sleep(0.1)
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def loaded(oxigraph_url, kg):
    done = _bpkg("load", "--store", oxigraph_url)
    assert done.returncode == 0, done.stderr
    assert "counts checked in the store" in done.stdout
    return RemoteStore.from_url(oxigraph_url)


def test_an_empty_store_says_to_load_first(oxigraph_url):
    # Runs before `loaded` (file order; the server is shared by this module).
    with pytest.raises(StoreError, match="bpkg load --store"):
        RemoteStore.from_url(oxigraph_url).query("ASK { ?s ?p ?o }")


def _rows(result) -> Counter:
    if result.triples is not None:
        return Counter(str(t) for t in result.triples)
    if result.boolean is not None:
        return Counter([result.boolean])
    return Counter(tuple(str(row[v]) if row[v] is not None else None for v in result.variables) for row in result.rows)


def _cases():
    for q in queries.library().values():
        examples = {p.name: p.example for p in q.params if p.example}
        yield pytest.param(q.name, examples, id=f"{q.name}-example")
        if all(not p.required for p in q.params) and q.params:
            yield pytest.param(q.name, {}, id=f"{q.name}-no-params")


@pytest.mark.parametrize("name, values", list(_cases()))
def test_named_query_gives_the_same_rows_remotely(loaded, kg, name, values):
    query = queries.get(name)
    embedded = queries.run(kg, query, values)
    # The same library code, with the remote store where the embedded one was.
    remote = queries.run(SimpleNamespace(store=loaded), query, values)
    assert remote.variables == embedded.variables
    assert _rows(remote) == _rows(embedded)
    assert remote.rows or remote.triples or remote.boolean is not None or not embedded.rows


def test_the_store_holds_every_graph_with_the_same_counts(loaded, kg):
    counts = loaded.counts()
    assert set(counts) == {str(g) for g in kg.graph_names}
    assert sum(counts.values()) == len(kg)
    assert len(loaded) == len(kg)


def test_ask_construct_and_protocol_dataset(loaded, kg):
    assert bool(loaded.query("ASK { ?s a <https://w3id.org/bpkg/ontology#State> }")) is True
    triples = loaded.query("CONSTRUCT { ?s a ?c } WHERE { ?s a ?c } LIMIT 5")
    triples = list(triples)
    assert len(triples) == 5 and all(isinstance(t, ox.Triple) for t in triples)
    states = ox.NamedNode("https://w3id.org/bpkg/graph/kg/states")
    only_states = loaded.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", default_graph=[states], named_graphs=[])
    assert int(next(iter(only_states))["n"].value) == len(kg.dataset.graph(states.value))


def test_load_by_sparql_update_gives_the_same_counts(oxigraph_url, loaded, kg):
    done = _bpkg("load", "--store", oxigraph_url + "/query", "--method", "update")
    assert done.returncode == 0, done.stderr
    assert sum(loaded.counts().values()) == len(kg)


def test_store_from_environment(oxigraph_url, loaded):
    store = RemoteStore.from_env({"BPKG_STORE": oxigraph_url})
    assert store.endpoints.query == oxigraph_url + "/query"
    assert RemoteStore.from_env({}) is None


def test_unreachable_store_is_a_clear_usage_error():
    done = _bpkg("load", "--store", f"http://127.0.0.1:{_free_port()}")
    assert done.returncode == 2
    assert "cannot reach the store" in done.stderr and "Traceback" not in done.stderr


def test_not_a_url_is_a_clear_usage_error():
    done = _bpkg("load", "--store", "file:///etc/passwd")
    assert done.returncode == 2 and "http(s) URL" in done.stderr


def test_wrong_endpoint_path_is_named(oxigraph_url):
    done = _bpkg("load", "--store", oxigraph_url + "/query", "--gsp-url", oxigraph_url + "/nowhere")
    assert done.returncode == 2
    assert "/nowhere" in done.stderr and "Traceback" not in done.stderr


def test_updates_never_go_through_the_query_engine(loaded):
    with pytest.raises(StoreError, match="only read queries"):
        loaded.query("CLEAR ALL")
    assert len(loaded) > 0


@pytest.mark.parametrize("url, expected", [
    ("http://h:7878", ("http://h:7878/query", "http://h:7878/update", "http://h:7878/store")),
    ("http://h:7878/query", ("http://h:7878/query", "http://h:7878/update", "http://h:7878/store")),
    ("http://h:7200/repositories/bpkg", ("http://h:7200/repositories/bpkg", "http://h:7200/repositories/bpkg/statements",
                                         "http://h:7200/repositories/bpkg/rdf-graphs/service")),
    ("http://h:8890/sparql", ("http://h:8890/sparql", "http://h:8890/sparql", "http://h:8890/sparql-graph-crud")),
    ("http://h/ds/other", ("http://h/ds/other", None, None)),
])
def test_endpoint_layouts(url, expected):
    e = Endpoints.from_url(url)
    assert (e.query, e.update, e.gsp) == expected


def test_values_injection_binds_inside_the_where_group():
    sub = {ox.Variable("x"): ox.NamedNode("urn:a")}
    assert inject_values('SELECT ?x { ?s ?p "{" }', sub).startswith('SELECT ?x { VALUES (?x) { (<urn:a>) }')
    construct = inject_values("CONSTRUCT { ?s ?p ?x } WHERE { ?s ?p ?x }", sub)
    assert construct.startswith("CONSTRUCT { ?s ?p ?x } WHERE { VALUES")
    with pytest.raises(StoreError):
        inject_values("CONSTRUCT WHERE { ?s ?p ?x }", sub)


# -- bpkg serve --store: everything reads through the external store -----------------------------

@pytest.fixture(scope="module")
def served_from_store(loaded, oxigraph_url):
    from conftest import start_server, stop_server

    base, proc = start_server("--store", oxigraph_url)
    yield base
    stop_server(proc)


def test_served_named_query_comes_from_the_store(served_from_store):
    import requests

    rows = requests.get(served_from_store + "/queries/states-in-region",
                        params={"region": "region:silk-routes", "format": "csv"}, timeout=30).text.splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ["Afghanistan", "Bangladesh", "Iran", "Iraq", "Pakistan"]


def test_served_sparql_counts_the_store(served_from_store, kg):
    import requests

    answer = requests.get(served_from_store + "/sparql", params={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"},
                          headers={"Accept": "application/sparql-results+json"}, timeout=30).json()
    assert int(answer["results"]["bindings"][0]["n"]["value"]) == len(kg)


def test_served_resource_page_and_validation_context_come_from_the_store(served_from_store):
    import requests

    page = requests.get(served_from_store + "/id/state/AF", headers={"Accept": "text/turtle"}, timeout=30)
    assert page.status_code == 200 and "Afghanistan" in page.text
    report = requests.post(served_from_store + "/validate", data=(ROOT / "examples" / "project-invalid.ttl").read_bytes(),
                           headers={"Content-Type": "text/turtle", "Accept": "application/json"}, timeout=60).json()
    assert report["conforms"] is False
    assert any("gcm-objective/24" in (r.get("value") or "") for r in report["results"])


def test_serving_from_an_unreachable_store_refuses_to_start():
    done = _bpkg("serve", "--store", f"http://127.0.0.1:{_free_port()}/query", "--port", str(_free_port()))
    assert done.returncode == 2
    assert "error:" in done.stderr and "not started" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("template", [
    "PREFIX : <{url}> ASK {{ SERVICE:x {{ ?s ?p ?o }} }}",
    "PREFIX p: <{url}> ASK {{ sErViCe p:x {{ ?s ?p ?o }} }}",
    "ASK {{ FILTER EXISTS {{ SERVICE <{url}x> {{ ?s ?p ?o }} }} }}",
    "PREFIX : <{url}> SELECT * FROM:g {{ ?s ?p ?o }}",
    "SELECT * {{ GRAPH <{url}g> {{ ?s ?p ?o }} }}",
])
def test_the_gate_guards_the_external_store_too(served_from_store, observer, template):
    """The external store would run SERVICE itself: the gate refuses it before the store sees it."""
    import requests

    r = requests.get(served_from_store + "/sparql", params={"query": template.format(url=observer.url)}, timeout=30)
    assert r.status_code == 400, r.text[:300]
    assert observer.heard() == []
