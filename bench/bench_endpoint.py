"""Latency of this endpoint against ``oxigraph serve`` on the same data and queries.

All servers run on 127.0.0.1: ours twice with waitress (``bpkg serve``), once with the
result cache off (``cold``: every request is gated and evaluated in a query worker) and
once as shipped (``cached``: after the warm-up every request is a cache hit), and
Oxigraph's in-memory server (PyPI package ``oxigraph``) with ``--union-default-graph``
so the same queries mean the same thing, loaded with the bundled graph's quads. Each
query is sent sequentially, after warm-up, a bounded number of times; the medians and
their ratios are printed.

    python bench/bench_endpoint.py [--runs 20]

Our extra cost per uncached query is the safety design: the lexical gate in the server
and a round trip to a pre-forked, network-less query worker.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bpkg  # noqa: E402
from tests.servers import free_port  # noqa: E402 (one copy, shared with the tests)

POINT = """PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?label WHERE { <https://w3id.org/bpkg/id/region/silk-routes> skos:prefLabel ?label }"""
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def wait_until_up(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early: {proc.args}")
        try:
            requests.get(url, params={"query": "ASK {}"}, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit(f"server did not start: {proc.args}")


def library_queries() -> dict[str, str]:
    """The shipped named queries that need no parameters."""
    found = {}
    for rq in sorted((ROOT / "queries").glob("*.rq")):
        text = rq.read_text(encoding="utf-8")
        if "?_" not in text:
            found[rq.stem] = text
    return found


def medians_ms(urls: list[str], query: str, runs: int) -> list[float]:
    """Median latency per server; the servers take turns request by request, so a burst
    of load from elsewhere on the machine hits all of them alike."""
    headers = {"Accept": "application/sparql-results+json"}
    for url in urls:
        for _ in range(2):  # warm-up
            requests.post(url, data={"query": query}, headers=headers, timeout=60).raise_for_status()
    times: list[list[float]] = [[] for _ in urls]
    for _ in range(runs):
        for i, url in enumerate(urls):
            t0 = time.perf_counter()
            r = requests.post(url, data={"query": query}, headers=headers, timeout=60)
            r.raise_for_status()
            times[i].append((time.perf_counter() - t0) * 1000)
    return [statistics.median(t) for t in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed requests per query and server")
    args = parser.parse_args()
    oxigraph = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))
    if not Path(oxigraph).exists():
        raise SystemExit("the oxigraph server is not installed: pip install oxigraph")

    cold_port, cached_port, ox_port = free_port(), free_port(), free_port()
    cold = subprocess.Popen([sys.executable, "-m", "bpkg", "serve", "--port", str(cold_port)], cwd=ROOT,
                            env={**os.environ, "BPKG_SPARQL_CACHE_ENTRIES": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cached = subprocess.Popen([sys.executable, "-m", "bpkg", "serve", "--port", str(cached_port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs = subprocess.Popen([oxigraph, "serve", "--bind", f"127.0.0.1:{ox_port}", "--union-default-graph"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cold_url, cached_url = f"http://127.0.0.1:{cold_port}/sparql", f"http://127.0.0.1:{cached_port}/sparql"
        ox_url = f"http://127.0.0.1:{ox_port}/query"
        wait_until_up(cold_url, cold)
        wait_until_up(cached_url, cached)
        wait_until_up(ox_url, theirs)
        kg = bpkg.load()
        quads = kg.store.dump(format=ox.RdfFormat.N_QUADS)
        requests.post(f"http://127.0.0.1:{ox_port}/store", data=quads,
                      headers={"Content-Type": "application/n-quads"}, timeout=60).raise_for_status()

        queries = {"point": POINT, "count-all": COUNT, **library_queries()}
        print(f"{len(kg)} triples, {args.runs} runs per query; medians in ms")
        print(f"{'query':28} {'cold':>7} {'cached':>7} {'oxigraph':>9} {'cold/ox':>8} {'cached/ox':>9}")
        ratios: dict[str, list[float]] = {"cold": [], "cached": []}
        for name, query in queries.items():
            a, c, b = medians_ms([cold_url, cached_url, ox_url], query, args.runs)
            ratios["cold"].append(a / b)
            ratios["cached"].append(c / b)
            print(f"{name:28} {a:7.1f} {c:7.1f} {b:9.1f} {a / b:8.2f} {c / b:9.2f}")
        for label, values in ratios.items():
            geo = math.exp(sum(map(math.log, values)) / len(values))
            print(f"latency ratio bpkg ({label})/oxigraph: geometric mean {geo:.2f}x, median "
                  f"{statistics.median(values):.2f}x over {len(values)} queries "
                  f"(min {min(values):.2f}x, max {max(values):.2f}x)")
    finally:
        for proc in (cold, cached, theirs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
