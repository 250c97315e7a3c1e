"""Serving on the open web (issue 12): a gate that decides on the parse, fair admission,
slow connections, no orphans, hygiene, a shutdown that answers what it accepted.

Servers run at the project's default settings (5 s deadline, 4 quick + 4 long query
slots); each test that needs its own server starts it on 127.0.0.1 and stops it by PID.
Timing assertions measure cheap requests while the runaways are *provably* running: the
test waits until the server's long lane is full (its query processes at nice 19).
"""

from __future__ import annotations

import re
import signal
import socket
import statistics
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from bpkg.sparql import Limits, Request, SparqlError, Target, decide, execute, run_isolated
from conftest import start_server, stop_server
from servers import get_from

from .conftest import assert_clear_refusal
from .test_faults import descendants

RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # never finishes in 5 s
GRAPHS = frozenset({"https://w3id.org/bpkg/graph/kg/states"})


# -- 1. the gate decides on the parse ---------------------------------------------------------

@pytest.mark.parametrize("query", [
    "PREFIX : <http://127.0.0.1:9/> ASK { SERVICE:x { ?s ?p ?o } }",
    "PREFIX : <http://127.0.0.1:9/> ASK { sErViCe:x { ?s ?p ?o } }",
    "ASK { FILTER EXISTS { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } } }",
    "SELECT * { { SELECT * { SERVICE SILENT <http://127.0.0.1:9/> { ?s ?p ?o } } } }",
    "SELECT * { ?s ?p ?o MINUS { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } } }",
])
def test_the_parse_finds_service_however_it_is_glued(query):
    with pytest.raises(SparqlError) as refused:
        decide(query, GRAPHS)
    assert refused.value.status == 400 and "SERVICE" in refused.value.message


@pytest.mark.parametrize("query,keyword", [
    ("PREFIX : <http://127.0.0.1:9/> SELECT * FROM:g { ?s ?p ?o }", "FROM"),
    ("BASE <http://127.0.0.1:9/> SELECT * FROM <g> { ?s ?p ?o }", "FROM"),
])
def test_the_parse_resolves_the_graphs_named(query, keyword):
    with pytest.raises(SparqlError) as refused:
        decide(query, GRAPHS)
    assert refused.value.message.startswith(keyword + " <http://127.0.0.1:9/g>")


def test_where_parsers_could_disagree_the_query_is_refused():
    # rdflib reads NAMED:g as a prefixed name, Oxigraph may read FROM NAMED + :g: refused either way.
    with pytest.raises(SparqlError) as refused:
        decide("PREFIX : <http://127.0.0.1:9/> SELECT * FROM NAMED:g { ?s ?p ?o }", GRAPHS)
    assert refused.value.status == 400


def test_graph_outside_the_dataset_is_refused_on_an_external_store():
    query = "PREFIX : <http://127.0.0.1:9/> SELECT * { GRAPH:g { ?s ?p ?o } }"
    assert decide(query, GRAPHS)["form"] == "SELECT"  # our own store: that graph is simply empty
    with pytest.raises(SparqlError, match="GRAPH <http://127.0.0.1:9/g>"):
        decide(query, GRAPHS, shared_store=True)


@pytest.mark.parametrize("query", ["INSERT DATA { <urn:a> <urn:b> <urn:c> }", "LOAD <http://127.0.0.1:9/>",
                                   "DeLeTe WHERE { ?s ?p ?o }"])
def test_the_parse_refuses_updates(query):
    with pytest.raises(SparqlError, match="read-only"):
        decide(query, GRAPHS)


@pytest.mark.parametrize("query,form", [
    ("select * where { ?s ?p ?o } limit 1", "SELECT"), ("AsK {}", "ASK"), ("describe <urn:x>", "DESCRIBE"),
    ("construct where { ?s ?p ?o }", "CONSTRUCT"),
    ("PREFIX servicex: <urn:x#> SELECT * { ?s servicex:p ?o }", "SELECT"),
    ("SELECT * FROM <https://w3id.org/bpkg/graph/kg/states> { ?s ?p ?o }", "SELECT"),
])
def test_the_parse_lets_queries_through_with_their_form(query, form):
    assert decide(query, GRAPHS)["form"] == form


def test_what_the_gate_cannot_parse_is_refused_even_if_the_engine_could(kg):
    # A keyword-spelt prefix the engine would read as a plain prefixed name in this position.
    with pytest.raises(SparqlError) as refused:
        execute(Target.of(kg), Request(query="PREFIX graph: <urn:x#> SELECT * { ?s graph:p ?o }"), Limits())
    assert refused.value.status == 400 and "GRAPH" in refused.value.message


def test_every_named_query_passes_the_parse(kg):
    from bpkg import queries

    target = Target.of(kg)
    for query in queries.library().values():
        assert decide(query.text, target.graph_names)["form"] in ("SELECT", "CONSTRUCT", "ASK", "DESCRIBE"), query.name


def test_glued_service_never_reaches_an_observer_over_http(live_server, observer):
    for query in (f"PREFIX : <{observer.url}> ASK {{ SERVICE:x {{ ?s ?p ?o }} }}",
                  f"PREFIX : <{observer.url}> SELECT * FROM:g {{ ?s ?p ?o }}",
                  f"PREFIX svc: <{observer.url}> ASK {{ SERVICE svc:x {{ ?s ?p ?o }} }}"):
        assert_clear_refusal(requests.get(live_server + "/sparql", params={"query": query}, timeout=30), [400])
    assert observer.heard() == []


def test_a_worker_that_cannot_drop_its_network_refuses_to_run(monkeypatch):
    from bpkg.sparql import workers

    monkeypatch.setattr(workers, "isolate_network", lambda: False)  # inherited by the forked child
    with pytest.raises(SparqlError) as refused:
        run_isolated(lambda: ({"status": 200}, b"ran"), Limits())
    assert refused.value.status == 503 and "BPKG_SPARQL_ALLOW_NETWORK" in refused.value.message
    header, body = run_isolated(lambda: ({"status": 200}, b"ran"), Limits(allow_network=True))
    assert body == b"ran"


# -- 2. fair admission, measured with runaways provably running -------------------------------

def _niced(server_pid: int) -> list[int]:
    found = []
    for pid in descendants(server_pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[16]) == 19 and fields[0] in "RSD":  # nice, state
            found.append(pid)
    return found


def _timed(fn, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


@pytest.fixture(scope="module")
def default_server():
    base, proc = start_server()
    yield base, proc
    stop_server(proc)


@pytest.mark.slow
@pytest.mark.parametrize("runaways", [8, 16])
def test_runaways_never_slow_cheap_queries_pages_or_cached_answers(default_server, runaways):
    """The issue's bounds (p50 <= 50 ms, p99 <= 250 ms) for an uncached cheap query, a cached
    one and a resource page, with the long lane full of runaways. On a machine so loaded
    that the same requests miss those bounds with no runaway at all, the bound is instead
    1.5 x (median) and 3 x (slowest) the quiet figures measured just before, in this run."""
    base, proc = default_server
    cached = "/sparql?" + urllib.parse.urlencode({"query": "SELECT (COUNT(*) AS ?n) { ?s a ?c }"})
    assert requests.get(base + cached, timeout=30).status_code == 200  # now cached
    counter = iter(range(runaways * 10**6, 10**9))
    probes = {
        "uncached": lambda: requests.get(base + "/sparql", params={"query": f"ASK {{ ?s ?p {next(counter)} }}"},
                                         timeout=30),
        "cached": lambda: requests.get(base + cached, timeout=30),
        "page": lambda: requests.get(base + "/id/state/AF.ttl", timeout=30),
    }
    quiet = {name: sorted(_timed(lambda: _assert_ok(probe()), 15)) for name, probe in probes.items()}

    answers: list[int] = []
    sources = [f"127.0.0.{2 + i}" for i in range(runaways)]  # every runaway its own client
    threads = [threading.Thread(target=lambda s=s: answers.append(
        get_from(base, s, "/sparql?" + urllib.parse.urlencode({"query": RUNAWAY}), timeout=30)[0]), daemon=True)
        for s in sources]
    for t in threads:
        t.start()
    limits = Limits()
    end = time.monotonic() + 4
    while len(_niced(proc.pid)) < limits.max_long and time.monotonic() < end:
        time.sleep(0.02)
    assert len(_niced(proc.pid)) == limits.max_long, "the long lane never filled"
    # The runaways beyond the long lane are stopped within long_after of starting; only then
    # is the quick lane theirs no more. From here on, max_long runaways run until their deadline.
    end = time.monotonic() + 5
    while len(answers) < runaways - limits.max_long and time.monotonic() < end:
        time.sleep(0.02)
    assert len(answers) == runaways - limits.max_long
    loud = {name: sorted(_timed(lambda: _assert_ok(probe()), 15)) for name, probe in probes.items()}
    still_running = len(_niced(proc.pid))
    for t in threads:
        t.join(timeout=30)
    assert still_running == limits.max_long, "the runaways ended before the measurement did"
    for name, times in loud.items():  # printed for docs/reliability.md (pytest -s)
        print(f"{runaways} runaways, {name}: quiet p50 {statistics.median(quiet[name]) * 1000:.1f} ms max "
              f"{quiet[name][-1] * 1000:.1f} ms; loud p50 {statistics.median(times) * 1000:.1f} ms max "
              f"{times[-1] * 1000:.1f} ms")
    for name, times in loud.items():
        assert statistics.median(times) <= max(0.050, 1.5 * statistics.median(quiet[name])), (name, quiet[name], times)
        assert times[-1] <= max(0.250, 3 * quiet[name][-1]), (name, quiet[name], times)  # slowest of 15: > p99
    assert sorted(set(answers)) == [503] and len(answers) == runaways  # stopped at the deadline or refused


def _assert_ok(response):
    assert response.status_code == 200, response.text[:300]


@pytest.mark.slow
def test_the_deadline_counts_from_admission_and_holds_within_a_second(default_server):
    base, _ = default_server
    start = time.monotonic()
    r = requests.get(base + "/sparql", params={"query": RUNAWAY}, timeout=30)
    took = time.monotonic() - start
    assert r.status_code == 503 and "Retry-After" in r.headers
    assert Limits().timeout <= took + 0.05 and took <= Limits().timeout + 1.0, took


def test_one_client_gets_at_most_its_share_of_the_long_lane():
    from bpkg.sparql import Admission

    admission = Admission(Limits())
    with admission.slot("a") as long1, admission.slot("a") as long2, admission.slot("a") as long3:
        long1()
        long2()
        with pytest.raises(SparqlError) as refused:
            long3()
        assert refused.value.status == 503 and refused.value.retry_after
        with admission.slot("b") as other:
            other()  # another client still gets a long slot
    assert admission.state() == {"quick": 0, "long": 0, "waiting": 0}


def test_the_wait_for_a_slot_is_bounded():
    from bpkg.sparql import Admission

    limits = Limits(max_workers=1, queue_wait=0.2)
    admission = Admission(limits)
    with admission.slot("a"):
        start = time.monotonic()
        with pytest.raises(SparqlError) as refused:
            with admission.slot("b"):
                pass
        assert refused.value.status == 503 and time.monotonic() - start < 1.0


# -- 3. slow connections ------------------------------------------------------------------------

@pytest.mark.slow
def test_five_hundred_slow_connections_do_not_stop_a_normal_client(default_server):
    base, _ = default_server
    port = int(base.rsplit(":", 1)[1])
    slow = []
    try:
        for i in range(500):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /sparql HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and then nothing more
            slow.append(s)
        start = time.monotonic()
        r = requests.get(base + "/sparql", params={"query": "ASK {}"}, timeout=5)
        print(f"500 slow connections held; a normal request answered in {(time.monotonic() - start) * 1000:.1f} ms")
        assert r.status_code == 200 and time.monotonic() - start < 1.0
        # A request whose headers never complete is closed (HEADER_TIMEOUT, 10 s, checked twice a second).
        from bpkg.web.serve import HEADER_TIMEOUT

        time.sleep(HEADER_TIMEOUT + 1.5)
        closed = 0
        for s in slow[:20]:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass
        assert closed == 20
    finally:
        for s in slow:
            s.close()


# -- 6. no orphans ----------------------------------------------------------------------------

@pytest.mark.slow
def test_query_processes_end_when_the_server_is_killed():
    base, proc = start_server()
    try:
        def runaway():
            try:
                requests.get(base + "/sparql", params={"query": RUNAWAY}, timeout=30)
            except requests.ConnectionError:
                pass  # the server is killed under it

        thread = threading.Thread(target=runaway, daemon=True)
        thread.start()
        time.sleep(1.0)
        workers = descendants(proc.pid)
        assert workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        end = time.monotonic() + 3
        while time.monotonic() < end and [p for p in workers if _alive(p)]:
            time.sleep(0.05)
        assert [p for p in workers if _alive(p)] == [], "query processes outlived a SIGKILLed server"
    finally:
        stop_server(proc)


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


# -- 9. shutdown answers what it accepted -----------------------------------------------------------

@pytest.mark.parametrize("processes", [1, 2])
def test_every_connection_accepted_before_sigterm_gets_an_answer(processes):
    base, proc = start_server("--processes", str(processes))
    port = int(base.rsplit(":", 1)[1])
    try:
        # Connected (the kernel accepted them) but not a byte sent yet when the signal arrives.
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        for s in socks:
            s.sendall(b"GET /sparql?query=ASK%7B%7D HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for s in socks:
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:200]
            s.close()
        assert proc.wait(timeout=30) == 0
    finally:
        stop_server(proc)


# -- 7. hygiene (Flask client: the same app the server runs) ------------------------------------------

@pytest.fixture()
def public_client(kg):
    from bpkg.web import create_app

    app = create_app({"KG": kg, "TESTING": True, "PUBLIC_URL": "https://sparql.example.org/bp/"})
    return app.test_client()


def test_the_host_header_is_never_written_back(public_client):
    page = public_client.get("/", headers={"Host": "evil.example", "Accept": "text/html"})
    assert b"evil.example" not in page.data and b"https://sparql.example.org/bp/sparql" in page.data
    sd = public_client.get("/sparql", headers={"Host": "evil.example", "Accept": "text/turtle"})
    assert b"evil.example" not in sd.data and b"sparql.example.org" in sd.data


@pytest.mark.parametrize("path", ["/", "/sparql?query=ASK%7B%7D", "/id/state/AF.ttl", "/queries", "/no/such/page",
                                  "/validate", "/explore"])
def test_security_headers_on_every_response(client, path):
    r = client.get(path, headers={"Accept": "text/html"})
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self' 'nonce-" in csp and "object-src 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"]


@pytest.mark.parametrize("path", ["/", "/explore", "/queries", "/validate", "/guide", "/id/state/AF"])
def test_no_inline_script_runs_without_the_responses_nonce(client, path):
    """Page scripts are files; an inline script (other than data, type application/json)
    would need this response's nonce, so markup injected into a page never runs."""
    r = client.get(path, headers={"Accept": "text/html"})
    nonce = r.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    for tag in re.findall(rb"<script\b[^>]*>", r.data):
        if b" src=" in tag or b'type="application/json"' in tag:
            continue
        assert f'nonce="{nonce}"'.encode() in tag, tag


def test_head_is_answered_like_get(client):
    get = client.get("/sparql?query=ASK%7B%7D")
    head = client.head("/sparql?query=ASK%7B%7D")
    assert head.status_code == get.status_code == 200 and head.data == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]


@pytest.mark.parametrize("how", ["get", "form", "path"])
def test_invalid_utf8_is_refused_in_every_request_style(client, how):
    if how == "get":
        r = client.get("/sparql?query=SELECT%20%22%FF%FE%22%20%7B%7D")
    elif how == "form":
        r = client.post("/sparql", data=b"query=ASK%7B%3Fs%20%3Fp%20%22%FF%22%7D",
                        content_type="application/x-www-form-urlencoded")
    else:
        r = client.get("/id/state/%FF%FE")
    assert r.status_code == 400 and b"UTF-8" in r.data


@pytest.mark.parametrize("iri", ["https://w3id.org/bpkg//evil.example/x", "https://w3id.org/bpkg/\\\\evil.example/x"])
def test_no_open_redirect_for_iris_that_merely_begin_with_the_base(client, iri):
    r = client.get("/resource", query_string={"iri": iri})
    location = r.headers.get("Location", "")
    assert not location.startswith("//") and "evil.example" not in urllib.parse.urlsplit(location).netloc
    assert r.status_code != 303


def test_report_links_stay_on_site_or_point_at_the_iri_itself(client):
    doc = ("@prefix bp: <https://w3id.org/bpkg/ontology#> .\n"
           "<https://w3id.org/bpkg//evil.example/x> a bp:Project .\n")
    page = client.post("/validate", data=doc.encode(), content_type="text/turtle", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert b'href="//evil.example' not in page.data and b'href="/evil.example' not in page.data


def test_failed_tokens_are_throttled_and_logged(kg, caplog, tmp_path):
    from bpkg.web import create_app

    app = create_app({"KG": kg, "TESTING": True, "SUBMITTER_TOKENS": "s" * 20, "CURATOR_TOKENS": "c" * 20,
                      "DATA_DIR": str(tmp_path), "AUTH_FAILURES": 5})
    client = app.test_client()
    statuses = [client.get("/submissions", headers={"Authorization": f"Bearer wrong-{i}"}).status_code
                for i in range(8)]
    assert statuses[:5] == [403] * 5 and set(statuses[5:]) == {429}
    r = client.get("/submissions", headers={"Authorization": "Bearer " + "c" * 20})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1  # even the right token waits its turn
    assert sum("failed submissions token" in rec.getMessage() for rec in caplog.records) == 5


# -- 4. bounded validation ----------------------------------------------------------------------

FLOOD = ("@prefix : <urn:x:> .\n" + "[] :p [] .\n" * 100_000).encode()[: 1024 * 1024 - 16]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _warm_validator(base: str) -> None:
    example = (Path(__file__).resolve().parents[2] / "examples" / "project.ttl").read_bytes()
    assert requests.post(base + "/validate", data=example, headers={"Content-Type": "text/turtle"},
                         timeout=120).status_code == 200  # the server's validator and baseline are built


def test_a_one_mebibyte_triple_flood_gets_413_within_a_second(live_server):
    _warm_validator(live_server)
    start = time.monotonic()
    r = requests.post(live_server + "/validate", data=FLOOD, headers={"Content-Type": "text/turtle"}, timeout=30)
    assert r.status_code == 413 and time.monotonic() - start < 1.0, (r.status_code, r.text[:200])
    assert "triples" in r.json()["message"]


def test_a_context_per_node_json_ld_document_is_refused_at_once(live_server):
    import json

    nodes = [{"@context": {"p": {"@id": f"urn:p{i}"}}, "@id": f"urn:n{i}", "p": "x"} for i in range(5000)]
    _warm_validator(live_server)
    start = time.monotonic()
    r = requests.post(live_server + "/validate", data=json.dumps({"@graph": nodes}),
                      headers={"Content-Type": "application/ld+json"}, timeout=30)
    assert r.status_code == 413 and time.monotonic() - start < 1.0, r.text[:200]
    assert "@context" in r.json()["message"]


@pytest.mark.slow
def test_eight_concurrent_floods_leave_memory_and_queries_alone(default_server):
    base, proc = default_server
    _warm_validator(base)  # the validator is built: the baseline memory
    before = _rss_kb(proc.pid)
    floods = [threading.Thread(target=lambda: requests.post(base + "/validate", data=FLOOD, timeout=60,
                                                            headers={"Content-Type": "text/turtle"}), daemon=True)
              for _ in range(8)]
    for t in floods:
        t.start()
    times = _timed(lambda: _assert_ok(requests.get(base + "/sparql", params={"query": "ASK { ?s ?p ?o }"},
                                                   timeout=30)), 10)
    for t in floods:
        t.join(timeout=60)
    after = _rss_kb(proc.pid)
    print(f"8 floods: server RSS {before / 1024:.0f} MB before, {after / 1024:.0f} MB after; "
          f"ASK during the floods p50 {statistics.median(times) * 1000:.1f} ms")
    assert after <= 1.2 * before, (before, after)
    assert statistics.median(times) <= 0.25, times


def test_a_validation_is_stopped_at_its_deadline_and_its_memory_cap():
    from bpkg.sparql import call_isolated

    start = time.monotonic()
    with pytest.raises(SparqlError) as stopped:
        call_isolated(lambda: time.sleep(30), Limits(timeout=0.5), lane="test")
    assert stopped.value.status == 503 and time.monotonic() - start < 1.5
    with pytest.raises(MemoryError):
        call_isolated(lambda: bytearray(512 * 1024 * 1024), Limits(memory_mb=256), lane="test")
    assert call_isolated(lambda: 6 * 7, Limits(), lane="test") == 42


def test_validations_of_different_documents_run_side_by_side(kg):
    """Two validations at once take far less than two in a row: nothing serialises them."""
    from bpkg import validation
    from bpkg.sparql import call_isolated

    validation.validator_for(kg).validate_bundled()
    doc = (Path(__file__).resolve().parents[2] / "examples" / "project-invalid.ttl").read_bytes()

    def slow_validation():
        report = validation.validate(kg, doc, filename="x.ttl")
        time.sleep(1.0)  # stands for a long validation, without burning the shared CPU
        return len(report.results)

    results = []
    start = time.monotonic()
    threads = [threading.Thread(target=lambda: results.append(call_isolated(slow_validation, Limits(timeout=30),
                                                                            lane="test"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1] > 0
    assert time.monotonic() - start < 2 * 1.0 + 1.0
