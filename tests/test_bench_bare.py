"""bench/bare_server.py, the design's floor in docs/benchmarks.md, must do the work it
stands for: every query evaluated by the engine in a query process of a front pinned
as bpkg's fronts are, the same answers as bpkg's. A floor that skipped any of it would
make bpkg look slower than its design and the target look out of reach when it is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pyoxigraph as ox
import pytest

from conftest import ROOT
from servers import children, descendants, free_port, stop_server

COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def _get(port: int, query: str) -> dict:
    url = f"http://127.0.0.1:{port}/sparql?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


@pytest.fixture
def bare(kg, tmp_path):
    dump = tmp_path / "kg.nq"
    dump.write_bytes(ox.serialize(kg.store.quads_for_pattern(None, None, None, None), format=ox.RdfFormat.N_QUADS))
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_server.py"), "--http", "waitress",
                             "--port", str(port), "--fronts", "2", str(dump)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            _get(port, "ASK {}")
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "bare_server.py did not start"
            time.sleep(0.2)
    yield port, proc
    stop_server(proc)


def test_the_floor_answers_as_bpkg_does_from_query_processes(bare, kg):
    port, proc = bare
    expected = kg.store.query(COUNT, use_default_graph_as_union=True)
    assert _get(port, COUNT)["results"]["bindings"][0]["n"]["value"] == str(next(expected)["n"].value)
    assert _get(port, "ASK { ?s a <http://example.org/nothing-is-this> }") == {"head": {}, "boolean": False}
    fronts = children(proc.pid)
    assert len(fronts) == 2
    for front in fronts:
        assert len(children(front)) == 4  # its query processes: the engine runs there
    if len(os.sched_getaffinity(0)) > 1:
        assert {frozenset(os.sched_getaffinity(front)) for front in fronts} == \
            {frozenset({core}) for core in sorted(os.sched_getaffinity(0))[:2]}


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_nothing_of_the_floor_outlives_it(bare):
    port, proc = bare
    everything = descendants(proc.pid)
    assert len(everything) == 2 + 2 * 4
    stop_server(proc)
    deadline = time.monotonic() + 30
    while any(map(_running, everything)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in everything if _running(p)]
