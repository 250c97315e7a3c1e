"""Serving, side by side: our endpoint against ``oxigraph serve`` (in memory) and
``rdflib-endpoint`` on the same data and queries, every result cache defeated.

For each size (``bundled``, and ``2m`` with ``--sizes bundled 2m``):

* **the servers**, each on 127.0.0.1 on a free port, stopped by PID: ``python -m bpkg serve``
  (waitress, the query worker pool; the graph given with ``--kg``) at its defaults (**ours**:
  a front process per core, each on its own core), with one front process (**ours-1p**) and
  with the kernel placing every process (**ours-unpinned**, ``BPKG_PIN_CPUS=false``), ``oxigraph serve
  --union-default-graph`` loaded with the same quads, and ``rdflib-endpoint serve`` from
  the peers' venv (``bench/peers.py``; at the bundled size only: at 2M it loads for many
  minutes); and, at the bundled size, **the design's floor**: ``bench/bare_server.py``, an
  endpoint built as ``bpkg serve`` is (front processes, the query handed to a query
  process, the engine's JSON) with none of bpkg's code, under waitress (**bare-waitress**)
  and under granian, a Rust HTTP server for WSGI (**bare-granian**);
* **the queries**: seven (a point lookup, four named queries with their example values, the
  3-way join and the GROUP BY of ``workload.py``), plus ``ASK {}`` for the fixed cost. Every
  request carries a new trailing comment, so no server can answer it from a result cache;
  the first answer of each server is checked to have the same number of rows;
* **the load**: 1 and 8 client threads, each with a keep-alive connection (``client.py``,
  which spends a few microseconds per request rather than http.client's hundred), for
  ``--seconds`` per server, query and client count; p50, p99 and requests/s;
* **where the time goes** (ours): CPU per request of the server's front process(es), of its query
  processes and of the client, read from /proc; and, in process, the stages of one query:
  the engine alone, the query process's whole job (gate, engine, serialisation), the
  hand-off to a pooled worker and back, and the server's own logic (cache key, slot);
* **memory**: PSS of the server and all its processes, idle and after the load (and the
  Oxigraph server's, for comparison);
* **start-up**: ``bpkg serve`` from exec to the first answered query, bundled, with the conformance
  cache warm and, the first time, empty (``bench_startup.measure``).

    python bench/bench_http.py --quick                    # bundled only, 1 s per case
    python bench/bench_http.py --sizes bundled 2m --json bench/out/http.json
    python bench/bench_http.py --json bench/out/http.json --keep-other-sizes   # bundled again, 2m kept

The client threads share the 2 cores with the servers; the ratios are the figure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import bench_memory  # noqa: E402
import bench_startup  # noqa: E402
import client  # noqa: E402
import generate  # noqa: E402
import peers  # noqa: E402
import ready  # noqa: E402
import workload  # noqa: E402

import bpkg  # noqa: E402
from bpkg import queries  # noqa: E402
from bpkg.remote import RemoteStore, load_into  # noqa: E402
from bpkg.settings import processes_by_default  # noqa: E402
from tests.servers import free_port, stop_server  # noqa: E402 (one copy, shared with the tests)

ROOT = generate.ROOT
OUT = generate.OUT
ASK = "ASK {}"
NAMED = ("projects-by-state", "states", "gcm-objectives", "timeline")


def cases() -> list[tuple[str, str]]:
    """The seven queries (label, text), every parameter bound to its documented example."""
    named = {label: queries.bound_text(q, v) for label, q, v in workload.cases()}
    return [("point", workload.POINT), *((name, named[name]) for name in NAMED),
            ("x-join3", workload.JOIN3), ("x-groupby", workload.GROUPBY)]


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
        return ready.first_answer(self.proc, self.port, self.path, "ASK { ?s ?p ?o }", self.started, timeout,
                                  self.name, interval=0.02, log=self.log.name)

    def stop(self) -> None:
        stop_server(self.proc, grace=30)
        self.log.close()


def get(port: int, path: str, query: str) -> tuple[int, bytes]:
    conn = client.Connection(port, timeout=120)
    try:
        status, body, _ = conn.send(client.get_request(port, path, query))
        return status, body
    finally:
        conn.close()


def rows_in(body: bytes) -> int | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return len(data["results"]["bindings"]) if "results" in data else 1


# -- /proc: CPU of a process (memory: bench_memory.server_memory) ------------------------------

def cpu_seconds(pid: int, reaped_children: bool = False) -> float:
    """User + system CPU of ``pid``; with ``reaped_children``, only that of its children that
    have ended and been waited for (a query process replaced after its 1,000th job)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    first = 13 if reaped_children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int, processes: int) -> tuple[float, float]:
    """(CPU of the processes answering HTTP, CPU of the query processes) of our server so far:
    the front processes are ``pid`` itself or, with --processes N, its children; every other
    descendant is a query process, and those that ended count through their parent."""
    tree = bench_memory.process_tree(pid)
    fronts = [pid] if processes == 1 else [p for p in tree[1:] if _parent(p) == pid]
    front = sum(cpu_seconds(p) for p in fronts)
    queries = sum(cpu_seconds(p) for p in tree if p != pid and p not in fronts)
    queries += sum(cpu_seconds(p, reaped_children=True) for p in fronts)
    return front, queries


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def tree_memory(pid: int) -> dict:
    return {k: v for k, v in bench_memory.server_memory(pid).items() if k != "per_process"}


# -- the servers -------------------------------------------------------------------------------

def data_paths(size: str) -> list[Path] | None:
    return None if size == "bundled" else [ROOT / "ontology", generate.ensure(size)]


AUTO = processes_by_default()  # bpkg serve's number of front processes here
# Our server at its defaults (a front process per core, each on its own core), and what each
# part of that default is worth: (arguments, environment, front processes).
OURS = {"ours": ([], {}, AUTO), "ours-1p": (["--processes", "1"], {}, 1),
        "ours-unpinned": ([], {"BPKG_PIN_CPUS": "false"}, AUTO)}
# The design's floor (bench/bare_server.py), by its HTTP server: as many fronts as ours.
BARE = {"bare-waitress": "waitress", "bare-granian": "granian"}


def start_ours(paths: list[Path] | None, name: str = "ours") -> Server:
    port = free_port()
    args, env, _ = OURS[name]
    argv = [sys.executable, "-m", "bpkg", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    if paths:  # a generated graph: shaped like kg/, too large for the in-memory validator at 2M
        argv += ["--no-conformance-check", "--kg", *map(str, paths)]
    return Server(name, argv, port, "/sparql", {"BPKG_DATA_DIR": str(OUT / "no-submissions"), **env})


def oxigraph_binary() -> str | None:
    for candidate in (peers.oxigraph(), Path(sys.executable).with_name("oxigraph")):
        if candidate.is_file():
            return str(candidate)
    return shutil.which("oxigraph")


def dump_nquads(kg, target: Path) -> Path:
    import pyoxigraph as ox

    if not target.is_file():
        target.write_bytes(ox.serialize(kg.store.quads_for_pattern(None, None, None, None), format=ox.RdfFormat.N_QUADS))
    return target


def start_oxigraph(kg) -> Server | None:
    """``oxigraph serve`` in memory on a free port, loaded with ``kg``'s quads (None: no binary)."""
    binary = oxigraph_binary()
    if not binary:
        return None
    port = free_port()
    server = Server("oxigraph", [binary, "serve", "--bind", f"127.0.0.1:{port}", "--union-default-graph"], port, "/query")
    try:
        server.wait_ready(60)
        load_into(RemoteStore.from_url(f"http://127.0.0.1:{port}", timeout=1800), kg, log=lambda *_: None)
    except BaseException:
        server.stop()
        raise
    return server


def start_bare(kg, size: str, report: dict) -> dict[str, Server]:
    """The design's floor (``bare_server.py``), from the peers' venv, which has granian."""
    if size != "bundled":
        report["skipped"].append(f"the bare servers at {size}: the engine's time dominates there")
        return {}
    if not peers.python().is_file():
        report["skipped"].append("the bare servers: no peers' venv (python bench/peers.py makes it)")
        return {}
    dump = dump_nquads(kg, OUT / f"http-{size}.nq")
    servers = {}
    try:
        for name, http in BARE.items():
            port = free_port()
            servers[name] = Server(name, [str(peers.python()), str(HERE / "bare_server.py"), "--http", http,
                                          "--port", str(port), "--fronts", str(AUTO), str(dump)], port, "/sparql")
            servers[name].wait_ready(120)
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def start_peers(kg, size: str, rdflib_python: Path | None, report: dict) -> dict[str, Server]:
    servers = {}
    oxigraph = start_oxigraph(kg)
    if oxigraph:
        servers["oxigraph"] = oxigraph
    else:
        report["skipped"].append("oxigraph: no binary (python bench/peers.py installs it)")
    if size != "bundled":
        report["skipped"].append(f"rdflib-endpoint at {size}: it loads a graph this size for many minutes")
    elif rdflib_python and rdflib_python.is_file():
        dump = dump_nquads(kg, OUT / f"http-{size}.nq")
        port = free_port()
        servers["rdflib-endpoint"] = Server("rdflib-endpoint", [str(rdflib_python), "-m", "rdflib_endpoint", "serve",
                                                                str(dump), "--host", "127.0.0.1", "--port", str(port)],
                                            port, "/")
        servers["rdflib-endpoint"].wait_ready(600)
    else:
        report["skipped"].append(f"rdflib-endpoint: no python at {rdflib_python}")
    return servers


# -- measuring ---------------------------------------------------------------------------------

def loaded(server: Server, text: str, clients: int, seconds: float) -> dict:
    """One load run; for our servers also the CPU per request of each kind of process."""
    processes = OURS[server.name][2] if server.name in OURS else None
    before = (*server_cpu(server.proc.pid, processes), time.process_time()) if processes else None
    result = client.load_test(server.port, server.path, text, clients, seconds, bust=True)
    if before and result["requests"]:
        n = result["requests"]
        front, queries = server_cpu(server.proc.pid, processes)
        result["cpu_us"] = {"server": round((front - before[0]) / n * 1e6),
                            "query processes": round((queries - before[1]) / n * 1e6),
                            "client": round((time.process_time() - before[2]) / n * 1e6)}
    return result


def stages(kg, texts: list[tuple[str, str]], runs: int = 300) -> dict:
    """Per query, in process: median µs of (1) the engine alone, (2) a query process's whole
    job (scan, parse decision, engine, serialisation), (3) the same through a pooled worker
    (the hand-off there and back), (4) the server's answer() (cache key, slot, hand-off)."""
    from bpkg.sparql import Limits, Request, Target, WorkerPool, evaluate_job, job_for, shutdown_pools
    from bpkg.web import create_app
    from bpkg.web.sparql import answer, serving

    target, limits = Target.of(kg), Limits()
    pool = WorkerPool(target, 1, limits.memory_mb).start()
    app = create_app({"KG": kg})
    state = serving(app)
    accept = client.ACCEPT

    def median_us(fn, budget_s: float = 3.0) -> float:
        """Median of up to ``runs`` runs after a warm-up, within ``budget_s`` (at least 3 runs)."""
        warm_until = time.perf_counter() + budget_s / 3
        for i in range(20):
            fn(-i - 1)
            if time.perf_counter() > warm_until:
                break
        times, stop = [], time.perf_counter() + budget_s
        for i in range(runs):
            t0 = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - t0)
            if t0 > stop and len(times) >= 3:
                break
        return round(statistics.median(times) * 1e6, 1)

    out = {}
    try:
        for label, text in texts:
            fresh = lambda i: f"{text}\n# run {i}"  # noqa: E731 (new text, as over HTTP)
            out[label] = {
                "engine": median_us(lambda i: _drain(kg.store.query(fresh(i), use_default_graph_as_union=True))),
                "query process job": median_us(lambda i: evaluate_job(target, job_for(Request(fresh(i), accept), limits))),
                "through a pooled worker": median_us(lambda i: pool.run(job_for(Request(fresh(i), accept), limits), limits)),
                "server logic + worker": median_us(lambda i: answer(state, Request(fresh(i), accept), "bench")),
            }
    finally:
        pool.close()
        shutdown_pools()
    return out


def _drain(answer) -> None:
    if not isinstance(answer, bool) and hasattr(answer, "__iter__"):
        for _ in answer:
            pass


def measure_size(size: str, seconds: float, client_counts: list[int], rdflib_python: Path | None) -> dict:
    paths = data_paths(size)
    kg = bpkg.load(paths)
    report = {"size": size, "triples": len(kg), "seconds": seconds, "clients": client_counts, "skipped": [],
              "cases": [], "memory": {},
              "measured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M+00:00")}
    texts = [("ASK {}", ASK), *cases()]
    servers: dict[str, Server] = {}
    try:
        for name in OURS:
            servers[name] = start_ours(paths, name)
            report[f"{name}_ready_s"] = servers[name].wait_ready(1800)
        servers.update(start_bare(kg, size, report))
        servers.update(start_peers(kg, size, rdflib_python, report))
        time.sleep(1)
        for name in OURS:
            report["memory"][f"{name} idle"] = tree_memory(servers[name].proc.pid)
        if "oxigraph" in servers:
            report["memory"]["oxigraph idle"] = tree_memory(servers["oxigraph"].proc.pid)
        for label, text in texts:
            case = {"query": label, "results": {}}
            for name, server in servers.items():
                status, body = get(server.port, server.path, text)
                entry = case["results"][name] = {"status": status, "rows": rows_in(body) if status == 200 else None}
                for n in client_counts:
                    r = entry[f"c{n}"] = loaded(server, text, n, seconds)
                    print(f"[http {size}] {label:18s} {name:16s} c={n} rows={entry['rows']!s:>5} {r['rps']:8.1f} req/s "
                          f"p50={r['p50_ms'] or 0:7.3f} ms p99={r['p99_ms'] or 0:7.3f} ms errors={r['errors']}"
                          + (f" cpu/request {r['cpu_us']}" if "cpu_us" in r else ""), flush=True)
            counts = {r["rows"] for r in case["results"].values()}
            case["same_rows"] = len(counts) == 1 and None not in counts
            report["cases"].append(case)
        for name in OURS:
            report["memory"][f"{name} after the load"] = tree_memory(servers[name].proc.pid)
        if "oxigraph" in servers:
            report["memory"]["oxigraph after the load"] = tree_memory(servers["oxigraph"].proc.pid)
    finally:
        for server in servers.values():
            server.stop()
    report["stages_us"] = stages(kg, texts, runs=100 if size != "bundled" else 300)
    return report


def summary(report: dict) -> dict:
    """The issue's figures: geometric means over the seven queries of p50(ours)/p50(peer)
    per client count, ASK p50, and the throughput of 8 clients over 1."""
    out = {}
    cases = [c for c in report["cases"] if c["query"] != ASK]
    # (ours, a peer), then the design's floor against Oxigraph, and what bpkg's own code adds to it
    pairs = [(ours, peer) for ours in OURS for peer in ("oxigraph", "rdflib-endpoint")]
    pairs += [pair for bare in BARE for pair in ((bare, "oxigraph"), ("ours", bare))]
    for mine, peer in pairs:
        for n in report["clients"]:
            ratios = [c["results"][mine][f"c{n}"]["p50_ms"] / c["results"][peer][f"c{n}"]["p50_ms"]
                      for c in cases if peer in c["results"] and mine in c["results"]
                      and c["results"][mine][f"c{n}"]["p50_ms"] and c["results"][peer][f"c{n}"]["p50_ms"]]
            if ratios:
                out[f"p50 {mine}/{peer}, {n} client{'s' if n > 1 else ''}"] = math.exp(statistics.mean(map(math.log, ratios)))
    ask = next((c for c in report["cases"] if c["query"] == ASK), None)
    if ask:
        out["ASK {} p50 ms, 1 client"] = ask["results"]["ours"]["c1"]["p50_ms"]
        for ours in OURS:
            if ours != "ours":
                out[f"ASK {{}} p50 ms, 1 client, {ours}"] = ask["results"][ours]["c1"]["p50_ms"]
    if len(report["clients"]) > 1:
        lo, hi = min(report["clients"]), max(report["clients"])
        for who in (*OURS, "oxigraph"):
            ratios = [c["results"][who][f"c{hi}"]["rps"] / c["results"][who][f"c{lo}"]["rps"]
                      for c in cases if who in c["results"] and c["results"][who][f"c{lo}"]["rps"]]
            if ratios:
                out[f"throughput {hi} clients / {lo}, {who}"] = math.exp(statistics.mean(map(math.log, ratios)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="our endpoint vs oxigraph serve vs rdflib-endpoint, uncached")
    parser.add_argument("--sizes", nargs="+", default=["bundled"], help="bundled and/or 5k, 50k, 500k, 2m")
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--seconds", type=float, default=5.0, help="per server, query and client count (default 5)")
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="bundled only, 1 s per case, one cold start")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep-other-sizes", action="store_true",
                        help="keep the sizes already in --json that this run does not measure (each says when it was measured)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.seconds, args.cold_starts = ["bundled"], 1.0, 1
    OUT.mkdir(parents=True, exist_ok=True)
    peers.ensure()
    report = {"sizes": {}, "cold_start_s": {}}
    if args.keep_other_sizes and args.json and args.json.is_file():
        earlier = json.loads(args.json.read_text(encoding="utf-8"))["sizes"]
        written = datetime.datetime.fromtimestamp(args.json.stat().st_mtime, datetime.timezone.utc)
        report["sizes"] = {size: r for size, r in earlier.items() if size not in args.sizes}
        for r in report["sizes"].values():  # measured before sizes said when: the file was written at the run's end
            r.setdefault("measured_at", written.strftime("%Y-%m-%dT%H:%M+00:00"))
    for size in args.sizes:
        report["sizes"][size] = measure_size(size, args.seconds, args.clients, peers.python())
        report["sizes"][size]["summary"] = summary(report["sizes"][size])
        print(json.dumps(report["sizes"][size]["summary"], indent=2), flush=True)
    sizes = ["bundled", *generate.SIZES]  # smallest first, however they were measured
    report["sizes"] = dict(sorted(report["sizes"].items(), key=lambda item: sizes.index(item[0])))
    start = bench_startup.measure(args.cold_starts)  # each cold run with an empty conformance cache of its own
    report["cold_start_s"]["bundled"] = {"runs": start["warm_s"], "median": start["warm_median_s"],
                                         "first_runs": start["cold_s"], "first_median": start["cold_median_s"]}
    print(f"[start-up] bundled: warm {start['warm_s']}, first (validates) {start['cold_s']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
