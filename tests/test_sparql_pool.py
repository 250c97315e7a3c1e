"""The pool of long-lived query workers behind the web endpoint.

Each test makes its own small pool over the bundled graph and stops it (by PID) after;
the deadline, crash and replacement behaviour is what the endpoint relies on.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from bpkg.sparql import Limits, Request, SparqlError, Target, WorkerPool, execute
from servers import descendants, query_processes

ASK = Request(query="ASK { ?s ?p ?o }", format="json")
# 6,500^4 solutions counted one at a time: no machine finishes it within the default deadline.
RUNAWAY = Request(query="SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }")


@pytest.fixture()
def pool(kg):
    pool = WorkerPool(Target.of(kg), size=2, memory_mb=2048).start()
    yield pool
    pids = pool.pids
    pool.close()
    for pid in pids:
        assert not _running(pid), f"worker {pid} outlived close()"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(condition, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_workers_answer_and_are_reused(kg, pool):
    target = Target.of(kg)
    before = pool.pids
    for _ in range(5):
        assert execute(target, ASK, Limits(), pool).body == b'{"head": {}, "boolean": true}'
    assert pool.pids == before and len(before) == 2


def test_a_runaway_is_killed_at_its_deadline_and_replaced(kg, pool):
    target = Target.of(kg)
    before = set(pool.pids)
    with pytest.raises(SparqlError) as stopped:
        execute(target, RUNAWAY, Limits(), pool)
    assert stopped.value.status == 503 and "deadline" in stopped.value.message
    assert _wait_for(lambda: len(pool.pids) == 2)
    assert len(before - set(pool.pids)) == 1, "exactly the stuck worker is replaced"
    assert execute(target, ASK, Limits(), pool).rows == 0


def test_a_worker_that_dies_mid_query_costs_only_that_request(kg, pool):
    target = Target.of(kg)
    outcome = {}

    def runaway():
        try:
            execute(target, RUNAWAY, Limits(), pool)
        except SparqlError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=runaway)
    thread.start()
    time.sleep(0.5)
    busy = [w.pid for w in list(pool._all.values()) if w not in pool._idle]
    assert len(busy) == 1
    os.kill(busy[0], signal.SIGSEGV)  # what an engine crash looks like from outside
    thread.join(timeout=20)
    assert outcome["error"].status == 400 and "signal" in outcome["error"].message
    assert execute(target, ASK, Limits(), pool).body.endswith(b"true}")
    assert _wait_for(lambda: len(pool.pids) == 2 and busy[0] not in pool.pids)


def test_a_worker_that_died_while_idle_is_not_the_next_query_s_problem(kg, pool):
    for pid in pool.pids:
        os.kill(pid, signal.SIGKILL)
    assert _wait_for(lambda: not any(_running(pid) and os.waitpid(pid, os.WNOHANG) == (0, 0) for pid in pool.pids), 5)
    assert execute(Target.of(kg), ASK, Limits(), pool).body.endswith(b"true}")


def test_bounded_queue_busy_pool_answers_503(kg):
    pool = WorkerPool(Target.of(kg), size=1, memory_mb=2048).start()
    try:
        thread = threading.Thread(target=lambda: pytest.raises(SparqlError, execute, Target.of(kg), RUNAWAY,
                                                               Limits(), pool))
        thread.start()
        time.sleep(0.3)
        # The bounded wait for a worker is what this test is about: the ASK may wait 0.5 s
        # (its deadline counts the wait), well inside the runaway's default 5 s, so the one
        # worker is certainly still busy when the wait ends.
        with pytest.raises(SparqlError) as busy:
            execute(Target.of(kg), ASK, Limits(timeout=0.5), pool)
        assert busy.value.status == 503 and "busy" in busy.value.message
        thread.join(timeout=10)
    finally:
        pool.close()


def test_workers_have_no_network_even_if_the_gate_were_bypassed(kg, monkeypatch):
    """The hard guarantee: a SERVICE handed straight to the engine in a worker (its gate
    taken out) reaches nothing."""
    from bpkg.sparql import workers

    def ungated(target, job):  # the engine at once: no scan, no parse
        rows = list(target.store.query(job["query"]))
        return {"status": 200, "content_type": "text/plain", "form": "SELECT", "rows": len(rows), "truncated": None}, b""

    monkeypatch.setattr(workers, "evaluate_job", ungated)
    pool = WorkerPool(Target.of(kg), size=1, memory_mb=2048).start()  # forked with the gate taken out
    import http.server

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/sparql-results+json")
            self.end_headers()
            self.wfile.write(b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"literal","value":"1"}}]}}')

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/sparql"
        header, _ = pool.run({"query": f"SELECT ?x WHERE {{ SERVICE <{url}> {{ ?x ?y ?z }} }}"}, Limits(timeout=10))
        if header["status"] == 200 and os.geteuid() != 0:
            pytest.skip("this kernel does not let an unprivileged process unshare its network namespace")
        assert header["status"] == 400, header
        assert seen == []
    finally:
        pool.close()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_workers_do_not_outlive_the_server(stop):
    """``bpkg serve`` forks its workers at start; however the server ends, they end too
    (SIGKILL leaves no chance to clean up: the workers see their channel close)."""
    import requests
    from conftest import start_server

    base, proc = start_server()
    try:
        assert requests.get(base + "/sparql", params={"query": "ASK {}"}, timeout=10).status_code == 200
        workers = descendants(proc.pid)  # the fronts and their query workers
        assert len(query_processes(proc.pid)) >= 1
    finally:
        os.kill(proc.pid, stop)
        proc.wait(timeout=10)
    assert _wait_for(lambda: not any(_running(pid) for pid in workers), 5), "workers outlived the server"


def test_a_collection_in_a_query_process_leaves_the_server_s_pages_shared():
    """A forked query process shares the server's memory until a page is written. CPython's
    collector writes into every object it visits, so a full collection in the child would
    copy every page holding the server's objects (at 2M triples, hundreds of MB per worker
    once queries run); what the child inherits is frozen out of its reach instead."""
    import gc

    from bpkg.sparql.workers import spawn_query_process

    long_lived = [{"n": [i]} for i in range(200_000)]  # about 40 MB of the server's own objects

    def private_dirty_kib() -> int:
        with open("/proc/self/smaps_rollup") as f:
            return sum(int(line.split()[1]) for line in f if line.startswith("Private_Dirty"))

    read_fd, write_fd = os.pipe()

    def body():
        before = private_dirty_kib()
        gc.collect()
        os.write(write_fd, str(private_dirty_kib() - before).encode())

    pid = spawn_query_process(write_fd, body, memory_mb=2048, allow_network=True)
    os.close(write_fd)
    try:
        copied_kib = int(os.read(read_fd, 64).decode())
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    assert len(long_lived) == 200_000
    assert copied_kib < 4 * 1024, f"a collection in the query process copied {copied_kib} KiB of the server's pages"


def test_a_worker_that_has_made_too_much_memory_its_own_is_replaced(kg):
    """The engine writes to the store's pages as it reads them, so each worker copies what it
    scans; past Limits.worker_private_mb it answers, then a fresh fork (sharing all) takes over."""
    target = Target.of(kg)
    count = Request(query="SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", format="json")
    for budget, replaced in ((1, True), (Limits.worker_private_mb, False)):
        pool = WorkerPool(target, size=1, memory_mb=2048, private_mb=budget).start()
        try:
            before = pool.pids
            first = execute(target, count, Limits(), pool).body
            assert _wait_for(lambda: len(pool.pids) == 1)
            assert (_wait_for(lambda: pool.pids != before, seconds=5) if replaced else pool.pids == before), budget
            assert execute(target, count, Limits(), pool).body == first and str(len(kg)).encode() in first
        finally:
            pool.close()
