"""Faults: bad data at start, a query worker killed mid-query, SIGTERM with requests in
flight, and concurrent validations. Each test starts its own ``bpkg serve`` on 127.0.0.1
(except the last, which uses the shared live server) and stops it by PID.

The server reads its data from ``BPKG_KG_PATHS`` (a JSON list of files or folders, read by
``create_app`` through Flask's ``from_prefixed_env``); the tests point it at a temporary
copy of ontology/ + kg/ and break the copy, never the bundled files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import ROOT, free_port, start_server, stop_server
from servers import children, descendants, query_processes

from .conftest import assert_clear_refusal

EXAMPLES = sorted((ROOT / "examples").glob("*.ttl"))
COUNT_ALL = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
# N^3 solutions (N > 6,000 triples), counted one at a time: never finishes within the default
# deadline, so it is certainly in flight for the deadline's 5 s, on any machine and under load.
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


# -- helpers ------------------------------------------------------------------------------

def data_copy(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for part in ("ontology", "kg"):
        shutil.copytree(ROOT / part, root / part)
    return root


def paths_env(*paths: Path) -> dict:
    return {"BPKG_KG_PATHS": json.dumps([str(p) for p in paths])}


def refused_start(env: dict) -> tuple[int, str]:
    """Run ``bpkg serve`` expecting it to refuse: (exit code, stderr). Fails if the port ever answered."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "bpkg", "serve", "--port", str(port)], cwd=ROOT,
                                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 120
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                with socket.socket() as s:
                    s.settimeout(0.2)
                    assert s.connect_ex(("127.0.0.1", port)) != 0, "the server accepted a connection"
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                stop_server(proc)
                pytest.fail("the server started on broken data")
        log.seek(0)
        return proc.returncode, log.read().decode(errors="replace")


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1
    return int(fields[11]) + int(fields[12])  # utime + stime


def busy_workers(server_pid: int, window: float = 0.5) -> list[int]:
    """The server's query processes that burn CPU right now: the ones running a query (never a
    front process, which burns some too while it serves)."""
    before = {p: cpu_ticks(p) for p in query_processes(server_pid)}
    time.sleep(window)
    return [p for p, ticks in before.items() if ticks >= 0 and cpu_ticks(p) > ticks]


def count(base: str, query: str, timeout: float = 60) -> int:
    r = requests.get(base + "/sparql", params={"query": query}, timeout=timeout)
    assert r.status_code == 200, r.text
    return int(r.json()["results"]["bindings"][0]["n"]["value"])


def in_background(fn):
    box = {}

    def run():
        try:
            box["response"] = fn()
        except Exception as exc:  # noqa: BLE001 (reported by the test)
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


# -- bad data at start --------------------------------------------------------------------

def test_an_intact_copy_is_served(tmp_path):
    """The control: the same mechanism with good data starts, and serves the copy (not kg/)."""
    root = data_copy(tmp_path)
    (root / "kg" / "marker.ttl").write_text('<urn:x:marker> <urn:x:p> "from the copy" .\n')
    base, proc = start_server(env=paths_env(root / "ontology", root / "kg"))
    try:
        r = requests.get(base + "/sparql", params={"query": "ASK { <urn:x:marker> ?p ?o }"}, timeout=30)
        assert r.json()["boolean"] is True
    finally:
        stop_server(proc)


@pytest.mark.parametrize("case", ["syntax-error", "truncated", "not-utf8", "dangling-link", "missing-path",
                                  "violation", "ill-typed", "deleted-file"])
def test_bad_data_stops_the_start(tmp_path, case):
    root = data_copy(tmp_path)
    kg = root / "kg"
    paths = [root / "ontology", kg]
    if case == "syntax-error":
        target = kg / "states.ttl"
        lines = target.read_text().splitlines(keepends=True)
        lines[23] = '    bp:isoAlpha3 ;;; "AFG" ;\n'  # line 24
        target.write_text("".join(lines))
        expected = ["states.ttl:24"]
    elif case == "truncated":
        target = kg / "projects.ttl"
        text = target.read_text()
        target.write_text(text[: len(text) // 2])
        expected = ["projects.ttl:"]
    elif case == "not-utf8":
        target = kg / "organisations.ttl"
        target.write_bytes(target.read_bytes().replace(b"\n", b"\n\xff\xfe", 1))
        expected = ["organisations.ttl", "UTF-8"]
    elif case == "dangling-link":
        (kg / "memberships.ttl").unlink()
        (kg / "memberships.ttl").symlink_to(tmp_path / "nowhere.ttl")
        expected = ["memberships.ttl", "No such file"]
    elif case == "violation":  # parses, but the validator rejects it
        (kg / "projects-more.ttl").write_bytes((ROOT / "examples" / "project-invalid.ttl").read_bytes())
        expected = ["kg/projects-more.ttl:", "project:example-labour-mobility-invalid"]
    elif case == "ill-typed":
        target = kg / "events.ttl"
        target.write_text(target.read_text().replace('"2019-02-19"^^xsd:date', '"2019-02-30"^^xsd:date', 1))
        assert "2019-02-30" in target.read_text()
        expected = ["kg/events.ttl:", "2019-02-30"]
    elif case == "deleted-file":
        (kg / "states.ttl").unlink()
        expected = ["MANIFEST:", "states.ttl", "missing"]
    else:
        paths.append(root / "kg-extra" / "events.ttl")
        expected = ["events.ttl", "no such file"]
    # A private cache: a conformance result remembered elsewhere must not hide the breakage.
    code, stderr = refused_start({**paths_env(*paths), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert code != 0
    for text in expected:
        assert text in stderr, stderr
    assert "not started" in stderr and "Traceback" not in stderr


# -- a query worker killed mid-query -------------------------------------------------------

@pytest.fixture()
def own_server():
    base, proc = start_server()
    yield base, proc
    stop_server(proc)


def test_a_query_worker_killed_mid_query_costs_that_request_only(own_server):
    base, proc = own_server
    assert count(base, "SELECT (COUNT(*) AS ?n) WHERE { VALUES ?x { 1 2 } }") == 2
    thread, box = in_background(lambda: requests.get(base + "/sparql", params={"query": RUNAWAY}, timeout=60))
    time.sleep(1.0)
    victims = busy_workers(proc.pid)
    assert thread.is_alive() and victims, "no busy query worker found while the slow query ran"
    assert proc.pid not in victims
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    thread.join(timeout=60)
    r = box["response"]
    # An outside SIGKILL (operator, OOM killer) is not the query's fault: 503, try again.
    assert_clear_refusal(r, statuses=[503])
    assert r.headers.get("Retry-After")
    assert "stopped from outside" in r.text, r.text
    # The next requests are served, by a new worker.
    assert requests.get(base + "/sparql", params={"query": "ASK {}"}, timeout=30).json()["boolean"] is True
    total = count(base, COUNT_ALL)
    assert total > 1000
    assert proc.poll() is None


def test_killing_every_worker_at_once_is_survived(own_server):
    base, proc = own_server
    count(base, COUNT_ALL)
    fronts = children(proc.pid)
    for pid in query_processes(proc.pid):  # not the fronts: each must replace its own workers
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    answers = [requests.get(base + "/sparql", params={"query": COUNT_ALL}, timeout=30) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 6
    assert proc.poll() is None and children(proc.pid) == fronts


# -- SIGTERM with requests in flight ---------------------------------------------------------

def test_sigterm_lets_requests_in_flight_finish_then_exits_0(own_server):
    base, proc = own_server
    invalid = ROOT / "examples" / "project-invalid.ttl"
    post = lambda: requests.post(base + "/validate", data=invalid.read_bytes(),  # noqa: E731
                                 headers={"Content-Type": "text/turtle"}, timeout=60)
    assert post().status_code == 200  # warm the validator, so the in-flight one below is a normal request
    idle = requests.Session()
    assert idle.get(base + "/sparql", params={"query": "ASK {}"}, timeout=30).status_code == 200  # kept alive
    slow, slow_box = in_background(lambda: requests.get(base + "/sparql", params={"query": RUNAWAY}, timeout=90))
    time.sleep(0.8)
    # The validation's connection is made (accepted by the kernel) before the signal, and its
    # request sent just after: deterministic, where a thread racing the signal was not.
    port = int(base.rsplit(":", 1)[1])
    early = socket.create_connection(("127.0.0.1", port), timeout=60)
    body = invalid.read_bytes()
    validation, validation_box = in_background(lambda: _raw_post(early, "/validate", body, "text/turtle"))
    workers = descendants(proc.pid)
    assert slow.is_alive(), "the query finished before the signal: nothing was in flight"
    proc.send_signal(signal.SIGTERM)

    # New connections are refused soon after the signal, while the slow query still runs.
    refused = False
    for _ in range(60):
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", int(base.rsplit(":", 1)[1]))) != 0:
                refused = True
                break
        time.sleep(0.1)
    assert refused, "the server still accepts connections after SIGTERM"

    slow.join(timeout=90)
    validation.join(timeout=60)
    assert "error" not in slow_box and "error" not in validation_box, (slow_box, validation_box)
    # The query in flight ran on to its own end, the default deadline, and its client got the
    # documented answer for that, not a dropped connection or a shutdown error.
    r = slow_box["response"]
    assert r.status_code == 503 and "deadline" in r.text and r.headers.get("Retry-After"), r.text
    status, v = validation_box["response"]
    assert status == 200 and json.loads(v)["conforms"] is False
    assert proc.wait(timeout=60) == 0
    time.sleep(0.5)
    assert [p for p in workers if Path(f"/proc/{p}").exists() and cpu_ticks(p) >= 0
            and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()] == [], "query workers outlived the server"


def _raw_post(sock: socket.socket, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    """POST over an already connected socket; (status, body) of the answer."""
    time.sleep(0.2)  # the signal goes first
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nAccept: application/json\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


def test_sigterm_when_idle_exits_0_at_once():
    base, proc = start_server()
    requests.get(base + "/sparql", params={"query": "ASK {}"}, timeout=30)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


# -- concurrent validations -----------------------------------------------------------------

def test_sixteen_concurrent_validations_over_http_are_independent(live_server):
    """tests/test_validation.py proves this in process; here through waitress's threads."""
    jobs = [(f"{i:02d}-{path.name}", path.read_bytes()) for i, path in enumerate((EXAMPLES * 2)[:16])]

    def send(job):
        name, data = job
        r = requests.post(live_server + "/validate", files={"file": (name, data, "text/turtle")}, timeout=120)
        assert r.status_code == 200, r.text
        return r.json()

    expected = [send(job) for job in jobs]  # one at a time
    barrier = threading.Barrier(16)

    def together(job):
        barrier.wait(timeout=60)
        return send(job)

    with ThreadPoolExecutor(max_workers=16) as pool:
        reports = list(pool.map(together, jobs))
    for (name, _), report, alone in zip(jobs, reports, expected):
        assert report["source"] == name
        assert report == alone, name
        assert report["conforms"] is ("invalid" not in name), name
    assert sum(not r["conforms"] for r in reports) == 8
