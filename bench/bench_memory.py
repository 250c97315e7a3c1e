"""Memory of ``bpkg serve``, all its processes (the server and its query workers), idle and
under a query workload, beside ``oxigraph serve`` in memory on the same data.

Figures per process tree, from ``/proc/<pid>/smaps_rollup`` (Linux):

* **PSS** (proportional set size): each page shared by n processes counts 1/n in each, so
  the sum over the tree is what the server really costs the machine;
* **USS** (private pages): what would be freed if that process alone ended;
* **RSS**: resident pages, shared ones counted in every process (overstates a forked tree).

A forked worker shares the server's pages until one side writes to them; the difference
between idle and after-the-workload PSS is the memory the workload un-shared. A worker that
is being replaced while a sample is taken (exiting, not yet reaped) cannot be read, and the
pages it still shares are then under-counted in that sample: peaks are sampled every 0.5 s.

The workload: ``clients`` threads for ``seconds``, each cycling through every named query
(``bench/workload.py``) with a new trailing comment per request, so every request is a
cache miss evaluated in a worker. The server starts on a warm conformance cache: for the
bundled graph the bench validates it first (as a first start would); a synthetic graph
(``bench/generate.py``) is served with ``--kg ... --no-conformance-check`` (validating 2M
triples takes longer than a benchmark may), as ``bench_http.py`` serves it.

    python bench/bench_memory.py                       # bundled graph, 10 s workload
    python bench/bench_memory.py --size 2m --seconds 20

From code: ``server_memory(pid) -> dict`` and ``measure(size, ...) -> dict``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_startup  # noqa: E402
import generate  # noqa: E402
import peers  # noqa: E402
import workload  # noqa: E402
from tests.servers import stop_server  # noqa: E402 (bench_startup put the checkout on the path)

ROOT = generate.ROOT
ACCEPT = "application/sparql-results+json"
_FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _rollup(pid: int) -> dict[str, int] | None:
    """kB per field of /proc/<pid>/smaps_rollup (None when the process has gone)."""
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in _FIELDS:
                    values[name] = int(rest.split()[0])
    except OSError:
        return None
    return values


def server_memory(pid: int) -> dict:
    """PSS, USS and RSS in MiB summed over ``pid`` and its descendants, and per process."""
    per = []
    for member in process_tree(pid):
        rollup = _rollup(member)
        if rollup is None:
            continue
        per.append({"pid": member, "pss_mib": rollup["Pss"] / 1024, "rss_mib": rollup["Rss"] / 1024,
                    "uss_mib": (rollup["Private_Clean"] + rollup["Private_Dirty"]) / 1024})
    return {"processes": len(per), **{key: round(sum(p[key] for p in per), 1)
                                      for key in ("pss_mib", "uss_mib", "rss_mib")}, "per_process": per}


def _request(port: int, path: str, query: str, timeout: float = 60) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", f"{path}?{urllib.parse.urlencode({'query': query})}", headers={"Accept": ACCEPT})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def run_workload(port: int, path: str, pid: int, clients: int, seconds: float) -> dict:
    """Every named query, uncached, from ``clients`` threads for ``seconds``; memory sampled
    every 0.5 s (peak PSS of the tree)."""
    texts = [workload.queries.bound_text(q, v) for _, q, v in workload.cases()]
    stop_at = time.monotonic() + seconds
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()

    def client(i: int) -> None:
        n = 0
        while time.monotonic() < stop_at:
            text = texts[(i + n) % len(texts)] + f"\n# {i}-{n}-{time.monotonic_ns()}"
            n += 1
            try:
                ok = _request(port, path, text) == 200
            except OSError:
                ok = False
            with lock:
                counts["requests"] += 1
                counts["errors"] += not ok

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    peak = 0.0
    while any(t.is_alive() for t in threads):
        peak = max(peak, server_memory(pid)["pss_mib"])
        time.sleep(0.5)
    return {**counts, "peak_pss_mib": round(peak, 1)}


def _trim(memory: dict) -> dict:
    return {k: v for k, v in memory.items() if k != "per_process"}


def measure_ours(size: str = "bundled", clients: int = 4, seconds: float = 10.0, kg=None) -> dict:
    import bpkg

    paths = None if size == "bundled" else [ROOT / "ontology", generate.ensure(size)]
    kg = kg or bpkg.load(paths)
    with tempfile.TemporaryDirectory(prefix="bpkg-memory-") as tmp:
        if paths is None:
            from bpkg.validation import require_conformance

            require_conformance(kg, cache_dir=Path(tmp) / "bpkg")  # validates, as a first start does
        args = ("--no-conformance-check",) if paths else ()  # as bench_http serves a generated graph
        with bench_startup.Served({"XDG_CACHE_HOME": tmp}, paths, args=args) as server:
            ready = server.first_answer(timeout=900)
            time.sleep(1.0)
            idle = server_memory(server.pid)
            load = run_workload(server.port, "/sparql", server.pid, clients, seconds)
            time.sleep(0.5)
            after = server_memory(server.pid)
    return {"ready_s": round(ready, 2), "idle": _trim(idle), "workload": load, "after": _trim(after),
            "after_per_process": after["per_process"]}


def measure_oxigraph(kg, clients: int = 4, seconds: float = 10.0) -> dict | None:
    """``oxigraph serve`` in memory, loaded as ``bpkg load --store`` loads a store."""
    from bpkg.remote import RemoteStore, load_into

    binary = peers.oxigraph()
    if not binary.is_file():
        return None
    port = bench_startup.free_port()
    proc = subprocess.Popen([str(binary), "serve", "--bind", f"127.0.0.1:{port}", "--union-default-graph"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _request(port, "/query", "ASK {}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        load_into(RemoteStore.from_url(f"http://127.0.0.1:{port}", timeout=900), kg, log=lambda *_: None)
        time.sleep(1.0)
        idle = server_memory(proc.pid)
        load = run_workload(port, "/query", proc.pid, clients, seconds)
        after = server_memory(proc.pid)
    finally:
        stop_server(proc)
    return {"idle": _trim(idle), "workload": load, "after": _trim(after)}


def measure(size: str = "bundled", clients: int = 4, seconds: float = 10.0, oxigraph: bool = True) -> dict:
    """Our server's process tree, idle and after the workload, and Oxigraph's beside it."""
    import bpkg

    paths = None if size == "bundled" else [ROOT / "ontology", generate.ensure(size)]
    kg = bpkg.load(paths)
    result = {"size": size, "triples": len(kg), "clients": clients, "seconds": seconds,
              "machine": bench_startup.machine(), "ours": measure_ours(size, clients, seconds, kg)}
    if oxigraph:
        result["oxigraph"] = measure_oxigraph(kg, clients, seconds)
    return result


def _line(name: str, figures: dict) -> str:
    idle, after, load = figures["idle"], figures["after"], figures["workload"]
    return (f"{name:9s} idle PSS {idle['pss_mib']:7.1f} MiB (USS {idle['uss_mib']:7.1f}, RSS {idle['rss_mib']:7.1f}, "
            f"{idle['processes']} proc) | after {load['requests']} requests ({load['errors']} errors): "
            f"PSS {after['pss_mib']:7.1f} MiB (USS {after['uss_mib']:7.1f}, RSS {after['rss_mib']:7.1f}), "
            f"peak PSS {load['peak_pss_mib']:7.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="memory of bpkg serve (all processes) vs oxigraph serve")
    parser.add_argument("--size", default="bundled", help="bundled, 5k, 50k, 500k or 2m (default bundled)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0, help="of workload (default 10)")
    parser.add_argument("--no-oxigraph", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = measure(args.size, args.clients, args.seconds, oxigraph=not args.no_oxigraph)
    print(f"{args.size}: {result['triples']:,} triples, {args.clients} clients x {args.seconds:g} s, uncached")
    print(_line("bpkg", result["ours"]))
    if result.get("oxigraph"):
        print(_line("oxigraph", result["oxigraph"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
