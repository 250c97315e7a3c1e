"""Latency of this endpoint against ``oxigraph serve`` on the same data and queries.

Both servers run on 127.0.0.1: ours with waitress (``bpkg serve``), Oxigraph's in-memory
server (PyPI package ``oxigraph``) with ``--union-default-graph`` so the same queries mean
the same thing, loaded with the bundled graph's quads. Each query is sent sequentially,
after warm-up, a bounded number of times; the medians and their ratio are printed.

    python bench/bench_endpoint.py [--runs 20]

Our extra cost per query is the safety design: a forked, network-less child per query
(about 6-8 ms measured) plus rdflib's parse of the query for the gate.
"""

from __future__ import annotations

import argparse
import math
import shutil
import socket
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

POINT = """PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT ?label WHERE { <https://w3id.org/bpkg/id/region/silk-routes> skos:prefLabel ?label }"""
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def median_ms(url: str, query: str, runs: int) -> float:
    headers = {"Accept": "application/sparql-results+json"}
    for _ in range(2):  # warm-up
        requests.post(url, data={"query": query}, headers=headers, timeout=60).raise_for_status()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = requests.post(url, data={"query": query}, headers=headers, timeout=60)
        r.raise_for_status()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed requests per query and server")
    args = parser.parse_args()
    oxigraph = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))
    if not Path(oxigraph).exists():
        raise SystemExit("the oxigraph server is not installed: pip install oxigraph")

    ours_port, ox_port = free_port(), free_port()
    ours = subprocess.Popen([sys.executable, "-m", "bpkg", "serve", "--port", str(ours_port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs = subprocess.Popen([oxigraph, "serve", "--bind", f"127.0.0.1:{ox_port}", "--union-default-graph"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ours_url, ox_url = f"http://127.0.0.1:{ours_port}/sparql", f"http://127.0.0.1:{ox_port}/query"
        wait_until_up(ours_url, ours)
        wait_until_up(ox_url, theirs)
        kg = bpkg.load()
        quads = kg.store.dump(format=ox.RdfFormat.N_QUADS)
        requests.post(f"http://127.0.0.1:{ox_port}/store", data=quads,
                      headers={"Content-Type": "application/n-quads"}, timeout=60).raise_for_status()

        queries = {"point": POINT, "count-all": COUNT, **library_queries()}
        print(f"{len(kg)} triples, {args.runs} runs per query; medians in ms")
        print(f"{'query':32} {'bpkg':>8} {'oxigraph':>9} {'ratio':>6}")
        ratios = []
        for name, query in queries.items():
            a, b = median_ms(ours_url, query, args.runs), median_ms(ox_url, query, args.runs)
            ratios.append(a / b)
            print(f"{name:32} {a:8.1f} {b:9.1f} {a / b:6.1f}")
        geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
        print(f"latency ratio bpkg/oxigraph: geometric mean {geo:.1f}x over {len(ratios)} queries "
              f"(min {min(ratios):.1f}x, max {max(ratios):.1f}x)")
    finally:
        for proc in (ours, theirs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
