"""HTTP benchmark: our endpoint vs ``oxigraph serve`` vs ``rdflib-endpoint``, same data, same
queries, bounded concurrency; and the cold start of our server.

* **ours**: ``python -m bpkg serve`` (the production server: waitress, the query worker
  pool and the result cache), the graph chosen with ``BPKG_KG_PATHS``; queries to
  ``/sparql``. Cases marked "uncached" give every request a new text (a trailing comment),
  so they measure the miss path; the others are mostly cache hits after the first.
* **oxigraph**: ``oxigraph serve --union-default-graph`` in memory, loaded by
  ``bpkg.remote.load_into`` (a Graph Store Protocol PUT per named graph, as
  ``bpkg load --store`` does).
* **rdflib-endpoint**: ``rdflib-endpoint serve dump.nq`` run by the python of a separate
  venv (``--rdflib-endpoint-python``; it brings FastAPI/uvicorn, which we do not need).

Every server listens on 127.0.0.1 on a free port and is stopped by PID. Per server and query:
``--clients`` threads, each with one keep-alive connection, send GET requests for
``--seconds`` (after a 1 s warm-up); p50/p99 latency and requests/s are reported. The
first response of each server is checked to have the same number of rows as the others.
The client threads share the 2 cores with the server: absolute numbers are pessimistic,
the ratios are the figure.

    python bench/bench_http.py --quick
    python bench/bench_http.py --size 50k --seconds 10 --json out.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402
from tests.servers import free_port  # noqa: E402 (one copy, shared with the tests)
import workload  # noqa: E402

import bpkg  # noqa: E402
from bpkg import queries  # noqa: E402
from bpkg.remote import RemoteStore, load_into  # noqa: E402

ROOT = generate.ROOT
OUT = generate.OUT
DEFAULT_ENDPOINT_PYTHON = "/work/bench-venv/bin/python"
ACCEPT = "application/sparql-results+json"


class Server:
    """A server process on 127.0.0.1, stopped by its PID."""

    def __init__(self, name: str, argv: list[str], port: int, path: str, env: dict | None = None):
        self.name, self.port, self.path = name, port, path
        self.log = (OUT / f"http-{name}.log").open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
                                     env={**os.environ, **(env or {})})

    def wait_ready(self, timeout: float) -> float:
        """Seconds from start until an ASK query answers 200."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                status, _ = get(self.port, self.path, "ASK { ?s ?p ?o }", timeout=2)
                if status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer within {timeout:g} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _url(path: str, query: str) -> str:
    return f"{path}?{urllib.parse.urlencode({'query': query})}"


def get(port: int, path: str, query: str, timeout: float = 30, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", _url(path, query), headers={"Accept": ACCEPT, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def load_test(port: int, path: str, query: str, clients: int, seconds: float, headers: dict | None = None,
              bust: bool = False) -> dict:
    """``clients`` keep-alive connections hammering one query for ``seconds``. With ``bust``
    every request carries a different trailing comment, so no result cache can answer it
    (the uncached path: same query, new text)."""
    url = _url(path, query)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start_gate.wait()
        n = 0
        while time.perf_counter() < stop_at[0]:
            n += 1
            target = _url(path, f"{query}\n# client {i} request {n}") if bust else url
            t0 = time.perf_counter()
            try:
                conn.request("GET", target, headers={"Accept": ACCEPT, **(headers or {})})
                response = conn.getresponse()
                response.read()
                if response.status not in (200, 304):
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            latencies[i].append(time.perf_counter() - t0)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start_gate.wait()
    for t in threads:
        t.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - began
    flat = sorted(x for per in latencies for x in per)
    if not flat:
        return {"requests": 0, "errors": sum(errors), "rps": 0.0, "p50_ms": None, "p99_ms": None}
    return {"requests": len(flat), "errors": sum(errors), "rps": len(flat) / elapsed,
            "p50_ms": statistics.median(flat) * 1000, "p99_ms": flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000}


def rows_in(body: bytes) -> int | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return len(data["results"]["bindings"]) if "results" in data else 1


def http_cases() -> list[tuple[str, str, bool]]:
    """(label, query text, bust): a point query, one parameterised named query (repeated, and
    with a new text each time so that no cache helps), the join, the aggregate."""
    named = {label: (q, v) for label, q, v in workload.cases()}
    q, v = named["projects-by-state"]
    text = queries.bound_text(q, v)
    return [("point", workload.POINT, False), ("projects-by-state", text, False),
            ("projects-by-state, uncached", text, True),
            ("x-join3", workload.JOIN3, False), ("x-join3, uncached", workload.JOIN3, True),
            ("x-groupby", workload.GROUPBY, False), ("x-groupby, uncached", workload.GROUPBY, True)]


def revalidation(server: Server, text: str, clients: int, seconds: float) -> dict:
    """The 304 path: a client that sends back the ETag it was given."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", _url(server.path, text), headers={"Accept": ACCEPT})
    response = conn.getresponse()
    response.read()
    tag = response.getheader("ETag")
    conn.close()
    if not tag:
        return {"error": "no ETag in the response"}
    status, _ = get(server.port, server.path, text, headers={"If-None-Match": tag})
    result = {"status": status, **load_test(server.port, server.path, text, clients, seconds, {"If-None-Match": tag})}
    print(f"[http] If-None-Match      {server.name:16s} status={status} {result['rps']:8.1f} req/s  "
          f"p50={result['p50_ms'] or 0:8.2f} ms  p99={result['p99_ms'] or 0:8.2f} ms", flush=True)
    return result


def data_paths(size: str) -> list[Path] | None:
    return None if size == "bundled" else [ROOT / "ontology", generate.ensure(size)]


def dump_nquads(kg, target: Path) -> Path:
    import pyoxigraph as ox

    if not target.is_file():
        target.write_bytes(ox.serialize(kg.store.quads_for_pattern(None, None, None, None), format=ox.RdfFormat.N_QUADS))
    return target


def start_ours(paths: list[Path] | None, threads: int = 8) -> Server:
    env = {"BPKG_KG_PATHS": json.dumps([str(p) for p in paths])} if paths else {}
    port = free_port()
    return Server("ours", [sys.executable, "-m", "bpkg", "serve", "--host", "127.0.0.1", "--port", str(port),
                           "--threads", str(threads)], port, "/sparql", env)


def oxigraph_binary() -> str | None:
    beside = Path(sys.executable).with_name("oxigraph")
    return str(beside) if beside.is_file() else shutil.which("oxigraph")


def cold_start(paths: list[Path] | None, repeats: int, timeout: float) -> list[float]:
    times = []
    for _ in range(repeats):
        server = start_ours(paths)
        try:
            times.append(server.wait_ready(timeout))
        finally:
            server.stop()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="our endpoint vs oxigraph serve vs rdflib-endpoint over HTTP")
    parser.add_argument("--size", default="50k", help="bundled, 5k, 50k or 500k (default 50k)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="per server and query (default 10)")
    parser.add_argument("--rdflib-endpoint-python", default=DEFAULT_ENDPOINT_PYTHON,
                        help=f"the python of a venv with rdflib-endpoint installed (default {DEFAULT_ENDPOINT_PYTHON})")
    parser.add_argument("--cold-start-sizes", nargs="*", default=["bundled", "500k"])
    parser.add_argument("--quick", action="store_true", help="5k data, 4 clients, 2 s per case, cold start bundled only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.clients, args.seconds, args.cold_start_sizes = "5k", 4, 2.0, ["bundled"]
    OUT.mkdir(parents=True, exist_ok=True)
    paths = data_paths(args.size)
    kg = bpkg.load(paths)
    report = {"size": args.size, "triples": len(kg), "clients": args.clients, "seconds": args.seconds,
              "servers": {}, "cases": [], "cold_start_s": {}, "skipped": []}
    servers: dict[str, Server] = {}
    try:
        servers["ours"] = start_ours(paths)
        report["servers"]["ours"] = {"ready_s": servers["ours"].wait_ready(600)}
        binary = oxigraph_binary()
        if binary:
            port = free_port()
            servers["oxigraph"] = Server("oxigraph", [binary, "serve", "--bind", f"127.0.0.1:{port}",
                                                      "--union-default-graph"], port, "/query")
            servers["oxigraph"].wait_ready(60)
            load_into(RemoteStore.from_url(f"http://127.0.0.1:{port}", timeout=600), kg, log=lambda *_: None)
            report["servers"]["oxigraph"] = {"ready_s": time.perf_counter() - servers["oxigraph"].started}
        else:
            report["skipped"].append("oxigraph: binary not found (pip install oxigraph)")
        if Path(args.rdflib_endpoint_python).is_file():
            dump = dump_nquads(kg, OUT / f"http-{args.size}.nq")
            port = free_port()
            servers["rdflib-endpoint"] = Server(
                "rdflib-endpoint", [args.rdflib_endpoint_python, "-m", "rdflib_endpoint", "serve", str(dump),
                                    "--host", "127.0.0.1", "--port", str(port)], port, "/")
            report["servers"]["rdflib-endpoint"] = {"ready_s": servers["rdflib-endpoint"].wait_ready(600)}
        else:
            report["skipped"].append(f"rdflib-endpoint: no python at {args.rdflib_endpoint_python}")

        for label, text, bust in http_cases():
            case = {"query": label, "results": {}}
            for name, server in servers.items():
                status, body = get(server.port, server.path, text, timeout=120)
                rows = rows_in(body) if status == 200 else None
                case["results"][name] = {"status": status, "rows": rows,
                                         **load_test(server.port, server.path, text, args.clients, args.seconds,
                                                     bust=bust)}
                r = case["results"][name]
                print(f"[http {args.size}] {label:28s} {name:16s} rows={rows!s:>6} {r['rps']:8.1f} req/s  "
                      f"p50={r['p50_ms'] or 0:8.2f} ms  p99={r['p99_ms'] or 0:8.2f} ms  errors={r['errors']}", flush=True)
            counts = {r["rows"] for r in case["results"].values()}
            case["same_rows"] = len(counts) == 1 and None not in counts
            report["cases"].append(case)
        report["not_modified"] = revalidation(servers["ours"], http_cases()[1][1], args.clients, args.seconds)
    finally:
        for server in servers.values():
            server.stop()

    for size in args.cold_start_sizes:
        repeats = 3 if size == "bundled" else 1
        times = cold_start(data_paths(size), repeats, timeout=900)
        report["cold_start_s"][size] = {"runs": times, "median": statistics.median(times)}
        print(f"[cold start] {size}: {', '.join(f'{t:.2f} s' for t in times)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
