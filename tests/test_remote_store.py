"""Serving from an external SPARQL store: real ``oxigraph serve`` and Virtuoso servers on
127.0.0.1, loaded with ``bpkg load --store``, must give every named query the same answers
as the embedded store (so the three engines agree), and serve them through ``bpkg serve --store``."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import SimpleNamespace

import pyoxigraph as ox
import pytest

from bpkg import queries
from bpkg.remote import Endpoints, RemoteStore, StoreError, inject_values
from servers import ROOT, bpkg_cli, free_port, start_server, stop_server


def _oxigraph_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("oxigraph")
    return str(beside_python) if beside_python.is_file() else shutil.which("oxigraph")


@dataclass
class Engine:
    """A running external store: the query URL bpkg is given, and how to open it for writing."""

    name: str
    url: str
    grant_writes: object = None  # callable(bool): let the anonymous endpoint user write, or not

    @contextlib.contextmanager
    def writable(self):
        if self.grant_writes:
            self.grant_writes(True)
        try:
            yield
        finally:
            if self.grant_writes:
                self.grant_writes(False)


def _wait_until_answering(proc, url: str, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url + "?query=ASK%7B%7D", timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start on {url} (exit code {proc.poll()})")
            time.sleep(0.1)


@contextlib.contextmanager
def _oxigraph(tmp: Path):
    binary = _oxigraph_binary()
    if not binary:
        pytest.skip("the `oxigraph` server binary is not installed (pip install oxigraph, the test extra)")
    port = free_port()
    with (tmp / "server.log").open("wb") as log:
        proc = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_answering(proc, f"http://127.0.0.1:{port}/query", "oxigraph serve", 15)
            yield Engine("oxigraph", f"http://127.0.0.1:{port}")
        finally:
            stop_server(proc, 10)


# A fresh database in a scratch folder, both ports on the loopback only. CaseMode 2 is what
# Virtuoso's packaged virtuoso.ini sets; with the built-in default (1) the endpoint answers
# ASK with a one-column table (__ASK_RETVAL) instead of a boolean.
VIRTUOSO_INI = """\
[Database]
DatabaseFile = virtuoso.db
ErrorLogFile = virtuoso.log
TransactionFile = virtuoso.trx
xa_persistent_file = virtuoso.pxa

[TempDatabase]
DatabaseFile = virtuoso-temp.db
TransactionFile = virtuoso-temp.trx

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
CaseMode = 2
NumberOfBuffers = 4000
MaxDirtyBuffers = 3000
DirsAllowed = .

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = .
ServerThreads = 4
"""


@contextlib.contextmanager
def _virtuoso(tmp: Path):
    server, isql = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    if not (server and isql):
        pytest.skip("Virtuoso is not installed (Debian: apt-get install virtuoso-opensource-7-bin, "
                    "which `scripts/setup.sh --test` does when run as root)")
    sql_port, http_port = free_port(), free_port()
    (tmp / "virtuoso.ini").write_text(VIRTUOSO_INI.format(sql_port=sql_port, http_port=http_port))
    password = "p" + secrets.token_hex(12)  # the new database's dba password is "dba": replace it first

    def sql(statement: str, login: str) -> None:
        done = subprocess.run([isql, str(sql_port), "dba", login], input=statement + "\n", capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0 and "Error" not in done.stdout + done.stderr, done.stdout + done.stderr

    def grant_writes(allow: bool) -> None:
        # SPARQL_UPDATE for the endpoint's anonymous user "SPARQL": what `bpkg load` needs;
        # revoked again afterwards, so that bpkg serves from a read-only endpoint.
        sql('GRANT SPARQL_UPDATE TO "SPARQL";' if allow else 'REVOKE SPARQL_UPDATE FROM "SPARQL";', password)

    with (tmp / "server.log").open("wb") as log:
        proc = subprocess.Popen([server, "+foreground", "+configfile", "virtuoso.ini"], cwd=tmp, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            # A new database is created on first start: seconds, more on a busy machine.
            _wait_until_answering(proc, f"http://127.0.0.1:{http_port}/sparql", "virtuoso-t", 120)
            sql(f"SET PASSWORD dba {password};", "dba")
            yield Engine("virtuoso", f"http://127.0.0.1:{http_port}/sparql", grant_writes)
        finally:
            stop_server(proc, 30)  # a clean shutdown writes a checkpoint: give it time


@pytest.fixture(scope="module", params=["oxigraph", "virtuoso"])
def engine(request, tmp_path_factory):
    start = {"oxigraph": _oxigraph, "virtuoso": _virtuoso}[request.param]
    with start(tmp_path_factory.mktemp(request.param)) as running:
        yield running


@pytest.fixture(scope="module")
def store_url(engine):
    return engine.url


@pytest.fixture(scope="module")
def loaded(engine, kg):
    with engine.writable():
        done = bpkg_cli("load", "--store", engine.url)
    assert done.returncode == 0, done.stderr
    assert "counts checked in the store" in done.stdout
    return RemoteStore.from_url(engine.url)


def test_an_empty_store_says_to_load_first(store_url):
    # Runs before `loaded` (file order; the server is shared by this module).
    with pytest.raises(StoreError, match="bpkg load --store"):
        RemoteStore.from_url(store_url).query("ASK { ?s ?p ?o }")


XSD = "http://www.w3.org/2001/XMLSchema#"
NUMERIC = {XSD + t for t in ("integer", "decimal", "double", "float", "int", "long", "short", "byte",
                             "nonNegativeInteger", "positiveInteger", "unsignedInt")}


def _term(term):
    """A term as a comparable value: engines may write the same number or boolean differently
    (Virtuoso: "1"^^xsd:boolean or 1 for true, 5 as xsd:int), and a plain literal is an xsd:string."""
    if isinstance(term, ox.BlankNode):
        return "_:"  # labels are each engine's own
    if not isinstance(term, ox.Literal):
        return str(term) if term is not None else None
    datatype = term.datatype.value
    if datatype in NUMERIC:
        with contextlib.suppress(InvalidOperation):
            return ("number", Decimal(term.value).normalize())
    if datatype == XSD + "boolean":  # Virtuoso computes EXISTS and comparisons as 0/1 integers
        return ("number", Decimal(1 if term.value in ("true", "1") else 0))
    return ("literal", term.value, (term.language or "").lower(), "" if term.language else datatype)


def _rows(result) -> Counter:
    if result.triples is not None:
        return Counter((str(t.subject), str(t.predicate), _term(t.object)) for t in result.triples)
    if result.boolean is not None:
        return Counter([result.boolean])
    return Counter(tuple(_term(row[v]) for v in result.variables) for row in result.rows)


def _cases():
    for q in queries.library().values():
        examples = {p.name: p.example for p in q.params if p.example}
        yield pytest.param(q.name, examples, id=f"{q.name}-example")
        if all(not p.required for p in q.params) and q.params:
            yield pytest.param(q.name, {}, id=f"{q.name}-no-params")


@pytest.mark.parametrize("name, values", list(_cases()))
def test_named_query_gives_the_same_rows_remotely(loaded, kg, name, values):
    query = queries.get(name)
    embedded = queries.evaluate_in_process(kg, query, values)
    # The same library code, with the remote store where the embedded one was.
    remote = queries.evaluate_in_process(SimpleNamespace(store=loaded), query, values)
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
    assert bool(loaded.query("ASK { ?s a <https://w3id.org/bpkg/ontology#NoSuchClass> }")) is False
    triples = loaded.query("CONSTRUCT { ?s a ?c } WHERE { ?s a ?c } LIMIT 5")
    triples = list(triples)
    assert len(triples) == 5 and all(isinstance(t, ox.Triple) for t in triples)
    states = ox.NamedNode("https://w3id.org/bpkg/graph/kg/states")
    only_states = loaded.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", default_graph=[states], named_graphs=[])
    assert int(next(iter(only_states))["n"].value) == len(kg.dataset.graph(states.value))


def test_load_by_sparql_update_gives_the_same_counts(engine, loaded, kg):
    with engine.writable():
        done = bpkg_cli("load", "--store", engine.url, "--method", "update")
    assert done.returncode == 0, done.stderr
    assert sum(loaded.counts().values()) == len(kg)


def test_store_from_environment(store_url, loaded):
    store = RemoteStore.from_env({"BPKG_STORE": store_url})
    assert store.endpoints == Endpoints.from_url(store_url)
    assert RemoteStore.from_env({}) is None


def test_unreachable_store_is_a_clear_usage_error():
    done = bpkg_cli("load", "--store", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert "cannot reach the store" in done.stderr and "Traceback" not in done.stderr


def test_not_a_url_is_a_clear_usage_error():
    done = bpkg_cli("load", "--store", "file:///etc/passwd")
    assert done.returncode == 2 and "http(s) URL" in done.stderr


def test_wrong_endpoint_path_is_named(store_url):
    root = store_url.removesuffix("/sparql")
    done = bpkg_cli("load", "--store", store_url, "--gsp-url", root + "/nowhere")
    assert done.returncode == 2
    assert "/nowhere" in done.stderr and "Traceback" not in done.stderr


def test_an_ask_answered_with_a_table_is_refused_not_read_as_true():
    """Virtuoso with its built-in CaseMode answers ASK as a one-column table, empty for false."""
    import http.server
    import threading

    class AskAsTable(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = b'{"head":{"vars":["__ASK_RETVAL"]},"results":{"bindings":[]}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/sparql-results+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), AskAsTable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = RemoteStore.from_url(f"http://127.0.0.1:{server.server_port}/sparql", graphs=["urn:g"])
        with pytest.raises(StoreError, match="CaseMode = 2"):
            store.query("ASK { ?s a <urn:Nothing> }")
    finally:
        server.shutdown()
        server.server_close()


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
def served_from_store(loaded, store_url):
    base, proc = start_server("--store", store_url)
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
    done = bpkg_cli("serve", "--store", f"http://127.0.0.1:{free_port()}/query", "--port", str(free_port()))
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
