"""Run every benchmark and write docs/benchmarks.md (one command, bounded, stops by itself).

    python bench/run_all.py            # full: engines at 5k/50k/500k, HTTP at 50k 8×10 s, cold starts (~10 min)
    python bench/run_all.py --quick    # a smoke run (~2 min): 5k/50k engines, HTTP at 5k 4×2 s
    python bench/run_all.py --include-2m
    python bench/run_all.py --render-only   # rewrite the page from bench/out/*.json

The peers (rdflib-endpoint, the Oxigraph server) are set up on first use in bench/.peers/
(git-ignored) by bench/peers.py.

Figures go to bench/out/ (git-ignored) as JSON; the page is made from them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import peers  # noqa: E402
ROOT = HERE.parent
OUT = HERE / "out"
PAGE = ROOT / "docs" / "benchmarks.md"
SEPARATE = "\n## Measured separately\n"
ENGINES_JSON, HTTP_JSON, MACHINE_JSON = OUT / "engines.json", OUT / "http.json", OUT / "machine.json"
TARGETS = {"http_p50_vs_oxigraph": 1.5, "vs_rdflib_endpoint": 10.0, "engine_vs_native_at_largest": 1.3, "cold_start_s": 2.0}


def machine(endpoint_python: str) -> dict:
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = {}
    for name in ("rdflib", "pyoxigraph", "oxigraph", "flask", "waitress", "SPARQLWrapper"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        versions["rdflib-endpoint"] = subprocess.run(
            [endpoint_python, "-c", "import importlib.metadata as m; print(m.version('rdflib-endpoint'))"],
            capture_output=True, text=True, timeout=30).stdout.strip() or "not installed"
    except OSError:
        versions["rdflib-endpoint"] = "not installed"
    return {"date": dt.datetime.now().astimezone().isoformat(timespec="minutes"), "nproc": os.cpu_count(),
            "memory_gib": round(int(mem) / 1024 / 1024, 1), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions}


def run(argv: list[str], limit: float) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, cwd=ROOT, timeout=limit, check=False)


# -- the page ------------------------------------------------------------------------

def ms(seconds: float | None, timeout: float | None = None) -> str:
    if seconds is None:
        return f"> {timeout:g} s (stopped)" if timeout else "error"
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def ratio(a: float | None, b: float | None) -> str:
    if not (a and b):
        return "–"
    return f"×{a / b:.1f}" if a / b >= 0.1 else f"×{a / b:.3f}"


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    return statistics.geometric_mean(values) if values else None


def same_text(q: dict) -> str:
    if q.get("differs"):
        return "NO: " + ", ".join(q["differs"]) + " differ"
    missing = [f"{k} stopped" for k in q.get("timeouts", {}) if k != "ours+executor"]
    missing += [f"{k} failed" for k in q.get("errors", {}) if k != "ours+executor"]
    notes = "; ".join(missing + [f"executor: {e.split(': ', 2)[-1]}" for k, e in q.get("errors", {}).items()
                                 if k == "ours+executor"])
    compared = 3 - len(set(q.get("timeouts", {})) | set(q.get("errors", {})) - {"ours+executor"})
    if compared < 2:
        return f"not compared ({notes})"
    return f"yes ({notes})" if notes else "yes"


def render(m: dict, engines: dict | None, http: dict | None) -> str:
    v = m["versions"]
    lines = ["# Benchmarks", "",
             "Made by `python bench/run_all.py` (figures in `bench/out/*.json`). Synthetic data from "
             "`bench/generate.py`, shaped like `kg/` (states with ISO codes and regions, memberships with "
             "OWL-Time intervals, goals, GCM objectives, SDG targets, alignments, projects with funders, "
             "implementers and target countries, meetings), plus the ontology; seeded, so reproducible.", "",
             f"- date: {m['date']}",
             f"- machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB RAM, {m['platform']}",
             f"- Python {m['python']}; rdflib {v['rdflib']}, pyoxigraph {v['pyoxigraph']}, oxigraph server "
             f"{v['oxigraph']}, Flask {v['flask']}, waitress {v['waitress']}, SPARQLWrapper {v['SPARQLWrapper']}, "
             f"rdflib-endpoint {v['rdflib-endpoint']} (separate venv)",
             "- other work shared the 2 cores during the run: absolute figures are pessimistic; read the ratios.", ""]
    verdicts = []
    if engines:
        lines += ["## Engines", "",
                  "Per query: one warm-up, then up to "
                  f"{engines['runs']} timed runs (fewer once a query/engine pair used {engines['budget_s']:g} s), "
                  "median, every row materialised. **rdflib** = rdflib `Dataset` in memory; **ours** = "
                  "`bpkg.load()` + `bpkg.queries.evaluate_in_process()` (the project's store and query library, in process); "
                  "**pyoxigraph** = a bare `pyoxigraph.Store`; **ours+executor** = `bpkg.queries.execute()`, "
                  "the safe executor the CLI and web use (screen, fork, rdflib-parser gate, JSON "
                  "serialisation). Results of the first three compared as multisets after normalising "
                  "literals (plain = xsd:string, numbers by value).", ""]
        for size in engines["sizes"]:
            load = size["load_s"]
            lines += [f"### {size['size']} ({size['triples']['ours']:,} triples)", "",
                      f"Load: rdflib {ms(load['rdflib'])}, ours {ms(load['ours'])} (`bpkg.load`: the project's loader, "
                      f"everything it builds), pyoxigraph {ms(load['pyoxigraph'])}.", "",
                      "| query | rows | rdflib | ours | pyoxigraph | ours+executor | rdflib / ours | ours / pyoxigraph | same results |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
            for q in size["queries"]:
                t, late = q["median_s"], q.get("timeouts", {})
                lines.append(f"| {q['query']} | {q['rows']} | {ms(t.get('rdflib'), late.get('rdflib'))} | "
                             f"{ms(t.get('ours'), late.get('ours'))} | {ms(t.get('pyoxigraph'), late.get('pyoxigraph'))} | "
                             f"{ms(t.get('ours+executor'), late.get('ours+executor'))} | "
                             f"{ratio(t.get('rdflib'), t.get('ours'))} | {ratio(t.get('ours'), t.get('pyoxigraph'))} | "
                             f"{same_text(q)} |")
            g = geomean([q["median_s"]["ours"] / q["median_s"]["pyoxigraph"] for q in size["queries"]
                         if q["median_s"].get("ours") and q["median_s"].get("pyoxigraph")])
            c = size["cache"]
            lines += ["", f"Geometric mean ours / pyoxigraph: ×{g:.2f}. Result cache (`bpkg.cache`, query "
                      f"`{c['query']}`, {c['bytes']:,} bytes of JSON): miss (executor + put) {ms(c['miss_s'])}, "
                      f"hit (key + get) {c['hit_s'] * 1e6:.1f} µs, ×{c['speedup']:.0f}.", ""]
        largest = engines["sizes"][-1]
        worst = max(((q["median_s"]["ours"] / q["median_s"]["pyoxigraph"], q["query"]) for q in largest["queries"]
                     if q["median_s"].get("ours") and q["median_s"].get("pyoxigraph")), default=(None, None))
        g = geomean([q["median_s"]["ours"] / q["median_s"]["pyoxigraph"] for q in largest["queries"]
                     if q["median_s"].get("ours") and q["median_s"].get("pyoxigraph")])
        ok = g is not None and g <= TARGETS["engine_vs_native_at_largest"]
        verdicts.append(f"| engine time ≤ 1.3× native pyoxigraph at {largest['size']}"
                        f"{'' if largest['size'] == '2m' else ' (2M not run: `--include-2m`)'} | geometric mean "
                        f"×{g:.2f}, worst ×{worst[0]:.2f} ({worst[1]}) | {'met' if ok else 'missed'} |")
        mismatches = [f"{s['size']}:{q['query']}" for s in engines["sizes"] for q in s["queries"] if q.get("differs")]
        uncompared = [f"{s['size']}:{q['query']}" for s in engines["sizes"] for q in s["queries"]
                      if set(q.get("timeouts", {})) - {"ours+executor"}]
        verdicts.append(f"| same results as rdflib on every named query | "
                        f"{'all equal' if not mismatches else 'differ: ' + ', '.join(mismatches)}"
                        f"{'; not compared (an engine stopped at the deadline): ' + ', '.join(uncompared) if uncompared else ''} | "
                        f"{'met' if not mismatches else 'missed'} |")
    if http:
        lines += ["## HTTP", "",
                  f"{http['triples']:,} triples ({http['size']}); {http['clients']} client threads with keep-alive "
                  f"connections for {http['seconds']:g} s per server and query (after a warm-up request), GET, "
                  "`Accept: application/sparql-results+json`. **ours** = `bpkg serve` (waitress, 8 threads, the "
                  "query worker pool and the result cache: a repeated query is a cache hit after the first); "
                  "\"uncached\" cases give each request a new text (a trailing comment), so they measure the miss "
                  "path for every server; **oxigraph** = `oxigraph serve --union-default-graph`, in memory; "
                  "**rdflib-endpoint** = `rdflib-endpoint serve dump.nq`.", "",
                  "| query | server | rows | req/s | p50 | p99 | errors | p50 / oxigraph | p50 rdflib-endpoint / this |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for case in http["cases"]:
            r = case["results"]
            base, slow = r.get("oxigraph", {}).get("p50_ms"), r.get("rdflib-endpoint", {}).get("p50_ms")
            for name, x in r.items():
                lines.append(f"| {case['query']} | {name} | {x['rows']} | {x['rps']:.0f} | {x['p50_ms']:.2f} ms | "
                             f"{x['p99_ms']:.2f} ms | {x['errors']} | {ratio(x['p50_ms'], base)} | {ratio(slow, x['p50_ms'])} |")
        nm = http.get("not_modified") or {}
        if "p50_ms" in nm:
            lines += ["", f"Revalidation (`If-None-Match` with the ETag, ours, projects-by-state): status "
                      f"{nm['status']}, {nm['rps']:.0f} req/s, p50 {nm['p50_ms']:.2f} ms, p99 {nm['p99_ms']:.2f} ms."]
        lines += ["", "Cold start of `bpkg serve` (process start to the first answered query): " + "; ".join(
            f"{size}: {', '.join(f'{t:.2f} s' for t in c['runs'])}" for size, c in http["cold_start_s"].items()) + ".", ""]
        for case in http["cases"]:
            r = case["results"]
            if "ours" not in r:
                continue
            if case["query"].startswith("projects-by-state") and "oxigraph" in r:
                x = r["ours"]["p50_ms"] / r["oxigraph"]["p50_ms"]
                verdicts.append(f"| HTTP named-query p50 ≤ 1.5× oxigraph serve ({case['query']}) | ×{x:.1f} | "
                                f"{'met' if x <= 1.5 else f'missed by ×{x / 1.5:.1f}'} |")
            if case["query"].startswith(("x-join3", "x-groupby")) and "rdflib-endpoint" in r:
                x = r["rdflib-endpoint"]["p50_ms"] / r["ours"]["p50_ms"]
                verdicts.append(f"| ≥ 10× faster than rdflib-endpoint ({case['query']}) | ×{x:.1f} | "
                                f"{'met' if x >= 10 else f'missed by ×{10 / x:.1f}'} |")
        bundled = http["cold_start_s"].get("bundled")
        if bundled:
            verdicts.append(f"| cold start of the bundled graph < 2 s | {bundled['median']:.2f} s (median of "
                            f"{len(bundled['runs'])}) | {'met' if bundled['median'] < 2 else 'missed'} |")
    lines += ["## Targets (issue 7)", "", "| target | measured | verdict |", "|---|---|---|", *verdicts, "",
              "## Why targets are missed, and what would meet them", "", *explanations(engines, http), ""]
    return "\n".join(lines)


def explanations(engines: dict | None, http: dict | None) -> list[str]:
    """The causes, with this run's own numbers."""
    out = []
    if engines:
        overhead = []
        for size in engines["sizes"]:
            extra = [q["median_s"]["ours+executor"] - q["median_s"]["ours"] for q in size["queries"]
                     if q["median_s"].get("ours+executor") and q["median_s"].get("ours")]
            if extra:
                overhead.append(f"{size['size']}: {statistics.median(extra) * 1000:.0f} ms")
        largest = engines["sizes"][-1]
        g = geomean([q["median_s"]["ours"] / q["median_s"]["pyoxigraph"] for q in largest["queries"]
                     if q["median_s"].get("ours") and q["median_s"].get("pyoxigraph")])
        out.append(f"- **The engine is not the bottleneck.** In process, our store answers within ×{g:.2f} (geometric "
                   f"mean) of a bare pyoxigraph store at {largest['size']}; the difference is `bpkg.queries.evaluate_in_process` "
                   "building a dict per row. Queries where the ratio is high are sub-millisecond ones, where a fixed "
                   "~0.1 ms of Python dominates.")
        slow = sorted({q["query"] for size in engines["sizes"] for q in size["queries"]
                       if (q["median_s"].get("pyoxigraph") or 1e9) > 5 * (q["median_s"].get("rdflib") or 1e9)})
        if slow:
            out.append(f"- **Queries slower on Oxigraph than on rdflib:** {', '.join(slow)} (see the tables; "
                       f"stopped at the {engines.get('deadline_s', 30):g} s deadline where marked). The shape "
                       "`OPTIONAL {{ SELECT ?x (GROUP_CONCAT(...)) ... GROUP BY ?x }}` looks evaluated by Oxigraph "
                       "once per outer row (not verified); computing the aggregate in a plain sub-select joined outside the "
                       "OPTIONAL, or restricting it with the same VALUES, avoids that. The endpoint stops such "
                       "a query at its deadline (the executor's error is noted in the table).".replace("{{", "{").replace("}}", "}"))
        out.append("- **What a query costs on top, through the safe executor** (`bpkg.queries.execute`, a one-shot "
                   "forked child per query, as the CLI runs it), median over the queries: " + ", ".join(overhead) +
                   ". The fork grows with the process: `bpkg.load` keeps an rdflib Dataset for validation "
                   "(~1 kB per triple) beside the pyoxigraph store, and here the benchmark process also holds "
                   "the rdflib baseline. The web server avoids the per-query fork with its pre-forked worker pool.")
    if http:
        cases = {c["query"]: c["results"] for c in http["cases"]}
        miss = cases.get("projects-by-state, uncached", {})
        hit = cases.get("projects-by-state", {})
        if "ours" in miss and "oxigraph" in miss:
            out.append(f"- **HTTP, uncached:** our p50 is {miss['ours']['p50_ms']:.1f} ms against "
                       f"{miss['oxigraph']['p50_ms']:.1f} ms for `oxigraph serve` (×"
                       f"{miss['ours']['p50_ms'] / miss['oxigraph']['p50_ms']:.0f}). Oxigraph parses, evaluates and "
                       "serialises in Rust in one process; we add Flask and waitress (Python, sharing the GIL across 8 "
                       "threads), the lexical gate, a round trip to a query worker, and JSON serialisation in Python "
                       "(row caps need our own writer). On 2 cores shared with the client threads, the Python "
                       "parts are the cost. To get closer: fewer waitress threads than cores are busy, more "
                       "workers, or serialising with pyoxigraph's own writer when no row cap can be hit.")
        if "ours" in hit and "oxigraph" in hit:
            out.append(f"- **HTTP, repeated queries** hit the result cache (`bpkg.cache`): p50 "
                       f"{hit['ours']['p50_ms']:.2f} ms vs {hit['oxigraph']['p50_ms']:.2f} ms for `oxigraph serve`; "
                       "what is left is Flask and waitress per request. Revalidation with `If-None-Match` answers "
                       "304 without running anything.")
        cold = http["cold_start_s"]
        big = [k for k in cold if k != "bundled"]
        if big:
            sizes = ", ".join(f"{k}: {cold[k]['median']:.0f} s" for k in big)
            out.append(f"- **Cold start with large graphs** ({sizes}) is `bpkg.load`: each file is parsed "
                       "once, by pyoxigraph, straight into its named graph, and the derived shortcuts are "
                       "computed by Oxigraph; the rdflib view that validation needs is built on first use, not "
                       "at start. What is left is parsing itself (compare 'Load' per size).")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--include-2m", action="store_true")
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--rdflib-endpoint-python",
                        help="the python of a venv with rdflib-endpoint (default: bench/.peers/venv, see bench/peers.py)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    if args.rdflib_endpoint_python is None:
        if not args.render_only:
            peers.ensure()
        args.rdflib_endpoint_python = str(peers.python())
    if not args.render_only:
        MACHINE_JSON.write_text(json.dumps(machine(args.rdflib_endpoint_python), indent=2))
        engine_args = ["--quick"] if args.quick else []
        engine_args += ["--include-2m"] if args.include_2m else []
        run([py, str(HERE / "generate.py"), "5k", "50k", *([] if args.quick else ["500k"]),
             *(["2m"] if args.include_2m else [])], 600)
        run([py, str(HERE / "bench_engines.py"), *engine_args, "--json", str(ENGINES_JSON)], 3600 if args.include_2m else 1500)
        run([py, str(HERE / "bench_http.py"), *(["--quick"] if args.quick else []),
             "--rdflib-endpoint-python", args.rdflib_endpoint_python, "--json", str(HTTP_JSON)], 1200)
    load = lambda p: json.loads(p.read_text()) if p.is_file() else None  # noqa: E731
    m = load(MACHINE_JSON) or machine(args.rdflib_endpoint_python)
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    # Figures measured by the other bench/ scripts are kept, below SEPARATE.
    kept = PAGE.read_text(encoding="utf-8").partition(SEPARATE)[1:] if PAGE.is_file() else ("", "")
    PAGE.write_text(render(m, load(ENGINES_JSON), load(HTTP_JSON)) + "".join(kept), encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
