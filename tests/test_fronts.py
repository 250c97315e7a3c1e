"""``bpkg serve --processes N``: several front processes on one port that behave as one
server (bpkg.web.fronts). Each check goes through fresh connections, so the kernel spreads
them over the fronts; what one front learns (a published submission, a wrong token, a
long-running query) every front must know."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from bpkg.sparql import Limits, SparqlError
from conftest import ROOT, bpkg_cli, start_server, stop_server
from servers import descendants

SUBMITTER = "submitter-token-for-the-tests-01"
CURATOR = "curator-token-for-the-tests-0001"
TOKENS = {"BPKG_SUBMITTER_TOKENS": SUBMITTER, "BPKG_CURATOR_TOKENS": CURATOR}
PROJECT = "https://w3id.org/bpkg/id/project/example-labour-mobility"
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # never finishes in 5 s
FRESH_CONNECTIONS = 32  # all on one of two fronts: 1 chance in 2**31


@pytest.fixture(scope="module")
def two_fronts(tmp_path_factory):
    base, proc = start_server("--processes", "2", "--data-dir", str(tmp_path_factory.mktemp("data")), env=TOKENS)
    yield base, proc
    stop_server(proc)


def _fronts(supervisor: int) -> list[int]:
    with open(f"/proc/{supervisor}/task/{supervisor}/children") as f:
        return [int(p) for p in f.read().split()]


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _get(base: str, path: str, source: str = "127.0.0.1", headers: dict | None = None) -> tuple[int, str]:
    """One request on a connection of its own (from ``source``, a loopback address)."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _ask(base: str, query: str) -> str:
    status, body = _get(base, "/sparql?" + urllib.parse.urlencode({"query": query}),
                        headers={"Accept": "application/sparql-results+json"})
    assert status == 200, body
    return body


def test_every_front_answers(two_fronts):
    base, proc = two_fronts
    fronts = _fronts(proc.pid)
    assert len(fronts) == 2
    before = {pid: _cpu_ticks(pid) for pid in fronts}
    for i in range(FRESH_CONNECTIONS):
        for _ in range(10):
            assert '"boolean": false' in _ask(base, f'ASK {{ ?s ?p "no such value {i}" }}')
    used = [pid for pid in fronts if _cpu_ticks(pid) > before[pid]]
    assert used == fronts, "a front answered nothing"


def test_a_submission_accepted_through_one_front_is_served_by_every_front(two_fronts):
    base, _ = two_fronts
    body = (ROOT / "examples" / "project.ttl").read_bytes()
    sent = requests.post(base + "/submissions", data=body, timeout=60, headers={
        "Authorization": f"Bearer {SUBMITTER}", "X-Submitter": "Test focal point", "Content-Type": "text/turtle"})
    assert sent.status_code in (200, 201, 202), sent.text
    sid = sent.json()["id"]
    known = f"ASK {{ <{PROJECT}> ?p ?o }}"
    assert requests.post(f"{base}/submissions/{sid}/accept", headers={"Authorization": f"Bearer {CURATOR}"},
                         timeout=60).status_code == 200
    # No wait: the next request, on whichever front it lands, sees the published data.
    assert all('"boolean": true' in _ask(base, known) for _ in range(FRESH_CONNECTIONS))
    assert requests.post(f"{base}/submissions/{sid}/revoke", headers={"Authorization": f"Bearer {CURATOR}"},
                         json={"reason": "test"}, timeout=60).status_code == 200
    assert all('"boolean": false' in _ask(base, known) for _ in range(FRESH_CONNECTIONS))


def test_wrong_tokens_are_counted_across_fronts(two_fronts):
    base, _ = two_fronts
    wrong = {"Authorization": "Bearer not-a-token-of-this-server-0000"}
    statuses = [_get(base, "/submissions", source="127.0.0.7", headers=wrong)[0] for _ in range(12)]
    allowed = 10  # AUTH_FAILURES, the default
    assert statuses[:allowed] == [403] * allowed and set(statuses[allowed:]) == {429}, statuses


def _runaways(base: str, sources: list[str]) -> list[tuple[int, str]]:
    answers: list[tuple[int, str]] = []
    path = "/sparql?" + urllib.parse.urlencode({"query": RUNAWAY})
    threads = [threading.Thread(target=lambda s=s: answers.append(_get(base, path, source=s))) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return answers


@pytest.mark.slow
def test_one_client_gets_its_share_of_the_long_lane_of_the_whole_server(two_fronts):
    base, _ = two_fronts
    share = Limits().long_per_client
    answers = _runaways(base, ["127.0.0.8"] * (share + 2))
    assert all(status == 503 for status, _ in answers)  # stopped at the deadline or refused
    refused = [body for _, body in answers if f"already has {share} long-running" in body]
    assert len(refused) == 2, answers


@pytest.mark.slow
def test_the_long_lane_holds_for_the_whole_server(two_fronts):
    base, _ = two_fronts
    lane = Limits().max_long
    answers = _runaways(base, [f"127.0.1.{i}" for i in range(1, lane + 3)])
    refused = [body for _, body in answers if f"{lane} long-running queries already" in body]
    assert len(answers) == lane + 2 and len(refused) == 2, answers


def test_a_front_that_dies_is_replaced(two_fronts):
    base, proc = two_fronts
    victim = _fronts(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (victim in _fronts(proc.pid) or len(_fronts(proc.pid)) < 2):
        time.sleep(0.1)
    assert victim not in _fronts(proc.pid) and len(_fronts(proc.pid)) == 2
    assert all('"boolean": true' in _ask(base, "ASK {}") for _ in range(FRESH_CONNECTIONS))


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_nothing_outlives_the_server(stop):
    base, proc = start_server("--processes", "2")
    try:
        assert '"boolean": true' in _ask(base, "ASK {}")
        below = descendants(proc.pid)
        assert len(below) >= 4  # two fronts, each with its query workers
    finally:
        os.kill(proc.pid, stop)
        code = proc.wait(timeout=30)
    if stop == signal.SIGTERM:
        assert code == 0  # every front finished cleanly
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in below):
        time.sleep(0.1)
    assert not [pid for pid in below if os.path.exists(f"/proc/{pid}")], "a process outlived the server"
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/sparql", params={"query": "ASK {}"}, timeout=5)


@pytest.mark.parametrize("args, says", [
    (["--processes", "0"], "from 1 to 256"),
    (["--processes", "2", "--dev"], "--dev"),
    (["--processes", "2", "--update-sandbox"], "--update-sandbox"),
])
def test_impossible_process_counts_are_refused(args, says):
    done = bpkg_cli("serve", "--port", "0", *args, env={"BPKG_SPARQL_UPDATE_TOKEN": "x" * 16}, timeout=120)
    assert done.returncode == 2 and says in done.stderr and "not started" in done.stderr, done.stderr


def test_a_dead_front_s_place_in_the_long_lane_is_free_again():
    from bpkg.sparql.admission import SharedLongLane

    limits = Limits()
    lane = SharedLongLane(limits)
    pid = os.fork()
    if pid == 0:  # a front that takes places and is killed before it leaves them
        lane.enter("10.0.0.1")
        lane.enter("10.0.0.2")
        os._exit(0)
    os.waitpid(pid, 0)
    clients = [f"10.0.1.{i}" for i in range(limits.max_long)]
    for client in clients:
        lane.enter(client)
    assert len(lane) == limits.max_long
    with pytest.raises(SparqlError) as full:
        lane.enter("10.0.2.1")
    assert full.value.status == 503
    for client in clients:
        lane.leave(client)
    assert len(lane) == 0
