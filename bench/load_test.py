"""A bounded load test of ``bpkg serve`` on 127.0.0.1, quiet and with runaway queries.

Two phases against one freshly started server (stopped by PID at the end):

1. **quiet**: N client threads, each with its own keep-alive session, for S seconds, each
   picking at random (seeded) a named query (``/queries/NAME`` with its documented example
   parameters), a raw SPARQL query, a resource page (``/id/...``, HTML or Turtle) or a
   validation (``POST /validate`` of an example submission);
2. **runaway**: the same, plus one runaway query started every second (a cartesian COUNT
   that never finishes) by another client (source address 127.0.0.2, as an attacker would
   be), which the server must stop with a 503: at its deadline, or at once when that
   client already has its share of the long lane (see bpkg/sparql/admission.py).

Reported per phase: requests, errors (any non-200 answer or failed request among the
normal ones; must be 0), p50/p99/max latency; for the runaways: how many, their statuses
and the longest time to their 503; p99(runaway phase) / p99(quiet), which must stay
within 3x, and requests(runaway phase) / requests(quiet), which must stay at 0.5 or more.

    python bench/load_test.py                       # 32 clients x 30 s per phase, default deadline (5 s)
    python bench/load_test.py --clients 8 --seconds 5 --json out.json

The server runs at its default settings: a runaway holds a quick slot for half a second,
then runs in the long lane at the lowest CPU priority until its deadline, so the other
queries keep both cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import requests
import requests.adapters

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import servers  # noqa: E402 (one copy, shared with the tests)

RUNAWAY_CLIENT = "127.0.0.2"  # another client than the 32 others (Linux routes all of 127/8 to loopback)
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
RAW_QUERIES = [
    "PREFIX skos: <http://www.w3.org/2004/02/skos/core#> SELECT ?label WHERE "
    "{ <https://w3id.org/bpkg/id/region/silk-routes> skos:prefLabel ?label }",
    "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY DESC(?n)",
    "PREFIX bp: <https://w3id.org/bpkg/ontology#> SELECT ?state WHERE "
    "{ ?state bp:inRegion <https://w3id.org/bpkg/id/region/silk-routes> }",
    "CONSTRUCT { <https://w3id.org/bpkg/id/state/AF> ?p ?o } WHERE { <https://w3id.org/bpkg/id/state/AF> ?p ?o }",
    "ASK { ?s a <https://w3id.org/bpkg/ontology#Project> }",
]
PAGES = ["/id/state/AF", "/id/state/HU", "/id/region/silk-routes", "/id/gcm-objective/9",
         "/id/project/imm-silk-routes"]
EXAMPLES = sorted((ROOT / "examples").glob("*.ttl"))


# -- the server --------------------------------------------------------------------------

def start_server(deadline: float | None) -> tuple[str, subprocess.Popen]:
    """The server at its default settings, or with ``--timeout deadline``."""
    try:
        return servers.start_server(*(["--timeout", str(deadline)] if deadline is not None else []), seconds=90)
    except RuntimeError as exc:
        raise SystemExit(f"the server did not start: {exc}") from None


def stop_server(proc: subprocess.Popen) -> None:
    servers.stop_server(proc, grace=30)  # SIGTERM first: the server finishes what is in flight


# -- the mix -------------------------------------------------------------------------------

def named_query_urls(base: str) -> list[str]:
    """Every library query, bound to its documented example parameters."""
    index = requests.get(base + "/queries", headers={"Accept": "application/json"}, timeout=30).json()
    urls = []
    for entry in index["queries"]:
        params = {p["name"]: p["example"] for p in entry["params"] if p.get("example")}
        if all(p.get("example") or not p.get("required") for p in entry["params"]):
            urls.append((entry["url"], params))
    return urls


@dataclass
class Mix:
    base: str
    named: list
    payloads: list = field(default_factory=lambda: [(p.name, p.read_bytes()) for p in EXAMPLES])

    def request(self, session: requests.Session, rng: random.Random) -> tuple[str, requests.Response]:
        kind = rng.choices(["named", "raw", "page", "validate"], weights=[3, 3, 3, 1])[0]
        if kind == "named":
            path, params = rng.choice(self.named)
            return kind, session.get(self.base + path, params=params,
                                     headers={"Accept": "application/sparql-results+json"}, timeout=60)
        if kind == "raw":
            return kind, session.get(self.base + "/sparql", params={"query": rng.choice(RAW_QUERIES)},
                                     headers={"Accept": "application/sparql-results+json, text/turtle"}, timeout=60)
        if kind == "page":
            accept = rng.choice(["text/html", "text/turtle"])
            return kind, session.get(self.base + rng.choice(PAGES), headers={"Accept": accept}, timeout=60)
        name, data = rng.choice(self.payloads)
        return kind, session.post(self.base + "/validate", data=data,
                                  headers={"Content-Type": "text/turtle", "Accept": "application/json"}, timeout=60)


class SourceAddress(requests.adapters.HTTPAdapter):
    """Connections from one loopback address: each simulated client is its own client to the
    server's fair admission, as distinct users are."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


def client_address(number: int) -> str:
    return f"127.0.1.{1 + number % 250}"


# -- one phase -----------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_phase(mix: Mix, clients: int, seconds: float, runaways: bool, deadline: float, seed: int,
              max_requests_per_client: int = 100_000) -> dict:
    latencies: list[float] = []
    kinds: dict[str, list[float]] = {}
    errors: list[str] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        with requests.Session() as session:
            session.mount("http://", SourceAddress(client_address(number)))
            for _ in range(max_requests_per_client):
                if time.monotonic() >= end:
                    return
                started = time.perf_counter()
                try:
                    kind, r = mix.request(session, rng)
                    ok, what = r.status_code == 200, f"{kind} {r.status_code} {r.text[:120]!r}"
                except requests.RequestException as exc:
                    kind, ok, what = "failed", False, f"{type(exc).__name__}: {exc}"
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    kinds.setdefault(kind, []).append(took)
                    if not ok:
                        errors.append(what)

    runaway_results: list[tuple[int, float, str]] = []

    def one_runaway() -> None:
        started = time.perf_counter()
        host, port = mix.base.split("//")[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=(deadline or 5) + 60,
                                          source_address=(RUNAWAY_CLIENT, 0))
        try:
            conn.request("GET", "/sparql?" + urlencode({"query": RUNAWAY}))
            r = conn.getresponse()
            outcome = (r.status, time.perf_counter() - started, r.read()[:120].decode(errors="replace"))
        except OSError as exc:
            outcome = (0, time.perf_counter() - started, str(exc))
        finally:
            conn.close()
        with lock:
            runaway_results.append(outcome)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    runaway_threads = []
    if runaways:
        for _ in range(int(seconds)):  # one per second, bounded
            t = threading.Thread(target=one_runaway, daemon=True)
            t.start()
            runaway_threads.append(t)
            time.sleep(1.0)
    for t in threads + runaway_threads:
        t.join(timeout=seconds + (deadline or 5) + 120)
    phase = {
        "requests": len(latencies), "errors": len(errors), "error_samples": errors[:5],
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1), "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
        "per_kind": {k: {"requests": len(v), "p50_ms": round(percentile(v, 0.5) * 1000, 1),
                         "p99_ms": round(percentile(v, 0.99) * 1000, 1)} for k, v in sorted(kinds.items())},
    }
    if runaways:
        phase["runaways"] = {
            "sent": len(runaway_results),
            "statuses": sorted({status for status, _, _ in runaway_results}),
            "stopped_at_deadline": sum(1 for status, _, text in runaway_results if status == 503 and "deadline" in text),
            "refused": sum(1 for status, _, text in runaway_results if status == 503 and "deadline" not in text),
            "max_s": round(max((t for _, t, _ in runaway_results), default=float("nan")), 2),
        }
    return phase


def run(clients: int, seconds: float, deadline: float, seed: int = 1, base: str | None = None) -> dict:
    proc = None
    if base is None:
        base, proc = start_server(deadline)
    try:
        mix = Mix(base, named_query_urls(base))
        session = requests.Session()
        for _ in range(2):  # warm up: the validator, the query workers, the page templates
            for rng_seed in range(20):
                mix.request(session, random.Random(rng_seed))
        quiet = run_phase(mix, clients, seconds, runaways=False, deadline=deadline, seed=seed)
        loud = run_phase(mix, clients, seconds, runaways=True, deadline=deadline, seed=seed + 1)
    finally:
        if proc is not None:
            stop_server(proc)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M%z"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "load_average_at_end": os.getloadavg()[0],
        "clients": clients, "seconds_per_phase": seconds, "deadline_s": deadline,
        "quiet": quiet, "runaway": loud,
        "p99_ratio": round(loud["p99_ms"] / quiet["p99_ms"], 2) if quiet["p99_ms"] else None,
        "throughput_ratio": round(loud["requests"] / quiet["requests"], 2) if quiet["requests"] else None,
    }


def as_markdown(result: dict) -> str:
    rows = ["| phase | requests | errors | p50 | p99 | max | runaways (503 at deadline + refused / sent, slowest) |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for name in ("quiet", "runaway"):
        p = result[name]
        ra = p.get("runaways")
        extra = f"{ra['stopped_at_deadline']} + {ra['refused']} / {ra['sent']}, {ra['max_s']} s" if ra else "–"
        rows.append(f"| {name} | {p['requests']} | {p['errors']} | {p['p50_ms']} ms | {p['p99_ms']} ms | "
                    f"{p['max_ms']} ms | {extra} |")
    rows.append(f"\np99 ratio (runaway / quiet): {result['p99_ratio']}; throughput ratio: {result['throughput_ratio']}; "
                f"{result['clients']} clients x {result['seconds_per_phase']} s per phase, deadline "
                f"{result['deadline_s'] or 'default (5)'} s; {result['date']}; "
                f"{result['machine']}; load average at the end {result['load_average_at_end']:.2f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--deadline", type=float, default=None,
                        help="the server's per-query deadline (s; default: the server's own, 5 s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(args.clients, args.seconds, args.deadline, args.seed)
    print(as_markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ok = (result["quiet"]["errors"] == 0 and result["runaway"]["errors"] == 0
          and result["runaway"]["runaways"]["statuses"] == [503]
          and result["p99_ratio"] is not None and result["p99_ratio"] <= 3
          and result["throughput_ratio"] is not None and result["throughput_ratio"] >= 0.5)
    print("PASS" if ok else "FAIL: errors, a runaway not stopped, p99 ratio above 3 or throughput ratio below 0.5")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
