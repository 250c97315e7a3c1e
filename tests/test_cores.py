"""Where the server's processes run (bpkg.sparql.cores): each front on a core of its own, a
query that runs alone in its front on the front's core, and everything else free to run
anywhere, so that a query never waits for one core while another is idle.

The checks read each process's CPU affinity from the kernel; a front is chosen by
stopping the others meanwhile (SIGSTOP, as tests/test_fronts.py does)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import requests

from conftest import ROOT, start_server, stop_server
from servers import children, descendants, only, resume_and_stop, session_on

CPUS = frozenset(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="placement on cores needs a machine of at least 2 cores")
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"  # never finishes in 5 s
# A query stays in the quick lane for a minute (it would move to the long lane, and off the
# front's core, after a second): what is checked below is the placement of quick queries.
QUICK_FOR_A_MINUTE = {"BPKG_SPARQL_LONG_AFTER": "60", "BPKG_SPARQL_TIMEOUT": "60"}


def affinity(pid: int) -> frozenset[int]:
    return frozenset(os.sched_getaffinity(pid))


@pytest.fixture(scope="module")
def server():
    base, proc = start_server("--processes", "2", env=QUICK_FOR_A_MINUTE)
    yield base, proc
    resume_and_stop(proc)


def test_each_front_runs_on_a_core_of_its_own(server):
    _, proc = server
    fronts = children(proc.pid)
    assert len(fronts) == 2
    homes = [affinity(front) for front in fronts]
    assert all(len(home) == 1 for home in homes) and homes[0] != homes[1], homes
    assert affinity(proc.pid) == CPUS  # the supervisor answers nothing: it is not pinned


def test_a_query_alone_runs_on_its_front_s_core_and_two_at_once_run_anywhere(server):
    base, proc = server
    front = children(proc.pid)[0]
    home = affinity(front)
    session = session_on(front, proc.pid, base)
    assert session.get(base + "/sparql", params={"query": "ASK { ?s ?p 'alone' }"}, timeout=30).status_code == 200
    assert home in [affinity(worker) for worker in children(front)]  # the worker that answered

    # A long query alone: on the front's core while it runs.
    runaway = threading.Thread(target=lambda: requests.get(
        base + "/sparql", params={"query": RUNAWAY}, timeout=90), daemon=True)
    with only(front, proc.pid):
        runaway.start()
        busy = _running_worker(front)
    assert affinity(busy) == home
    # A second query at once through the same front: neither is held to the core now.
    second = session.get(base + "/sparql", params={"query": "ASK { ?s ?p 'not alone' }"}, timeout=30)
    assert second.status_code == 200
    assert affinity(busy) == CPUS
    os.kill(busy, signal.SIGKILL)  # the runaway ends (its client gets 503)
    runaway.join(timeout=30)


def _running_worker(front: int, seconds: float = 20) -> int:
    """The query worker of ``front`` that is on the CPU now (running the runaway)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for pid in children(front):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[0] == "R":
                        return pid
            except OSError:
                continue
        time.sleep(0.01)
    raise AssertionError("no query worker of the front started the query")


def test_a_process_forked_by_a_pinned_front_starts_on_any_core():
    """A validation run or a one-shot query (spawn_query_process) is not held to the core
    of the front that forked it."""
    script = textwrap.dedent("""
        import json, os
        from bpkg.sparql.cores import SERVER_CPUS, pin_front
        from bpkg.sparql.workers import spawn_query_process
        pin_front(1)
        r, w = os.pipe()
        pid = spawn_query_process(w, lambda: os.write(w, json.dumps(sorted(os.sched_getaffinity(0))).encode()),
                                  memory_mb=512, allow_network=True)
        os.waitpid(pid, 0)
        print(json.dumps({"front": sorted(os.sched_getaffinity(0)), "child": json.loads(os.read(r, 1000)),
                          "server": sorted(SERVER_CPUS)}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert len(seen["front"]) == 1 and seen["child"] == seen["server"] == sorted(CPUS), seen


def test_placement_can_be_left_to_the_kernel():
    base, proc = start_server("--processes", "2", env={"BPKG_PIN_CPUS": "false"})
    try:
        assert requests.get(base + "/sparql", params={"query": "ASK {}"}, timeout=30).status_code == 200
        assert all(affinity(pid) == CPUS for pid in descendants(proc.pid))
    finally:
        stop_server(proc)
