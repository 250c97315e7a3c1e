"""SELECT results written by pyoxigraph's JSON writer against our TableWriter, in process.

What a query process does for one SPARQL JSON answer, at the default caps (10,000 rows,
16 MiB), three ways, interleaved run by run:

* tablewriter: evaluate and write every row with ``formats.TableWriter`` (the path before
  the engine's writer was used);
* evaluate:    ``bpkg.sparql.evaluate.evaluate_job``, the path now (the engine's writer when the
  table is under both caps, TableWriter when it is not);
* engine:      ``QuerySolutions.serialize`` alone, no caps (the floor).

Prints medians and the ratios tablewriter/evaluate and evaluate/engine, and checks that
tablewriter and evaluate give the same bytes. Sizes: the bundled graph and synthetic data
from bench/generate.py (generated on first use). About half a minute.

    python bench/bench_serialise.py                # bundled 50k 500k
    python bench/bench_serialise.py bundled 50k
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pyoxigraph as ox  # noqa: E402

import bpkg  # noqa: E402
from bpkg import formats  # noqa: E402
from bpkg.namespaces import PREFIXES  # noqa: E402
from bpkg.sparql import Limits, Target  # noqa: E402
from bpkg.sparql import Request, evaluate_job, job_for  # noqa: E402
from workload import JOIN3  # noqa: E402

RUNS = 5
ALL = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"  # every triple: under the caps at the bundled size, cut above
JSON_FORMAT = next(f for f in formats.TABULAR if f.name == "json")


def job(query: str, limits: Limits) -> dict:
    return job_for(Request(query, format="json"), limits)


def tablewriter(target: Target, query: str, limits: Limits) -> bytes:
    answer = target.store.query(query, prefixes=PREFIXES, use_default_graph_as_union=True)
    writer = formats.TableWriter(JSON_FORMAT, [v.value for v in answer.variables], limits.max_bytes)
    for solution in answer:
        if writer.rows >= limits.max_rows or not writer.add(solution):
            break
    return writer.finish()


def engine(target: Target, query: str) -> bytes:
    answer = target.store.query(query, prefixes=PREFIXES, use_default_graph_as_union=True)
    return answer.serialize(format=ox.QueryResultsFormat.JSON)


def paths(label: str) -> list[Path] | None:
    if label == "bundled":
        return None
    folder = ROOT / "bench" / "out" / label
    if not folder.is_dir():
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), label], check=True)
    return [ROOT / "ontology", folder]


def bench(label: str) -> None:
    target = Target.of(bpkg.load(paths(label)))
    limits = Limits()
    for name, query in (("x-join3", JOIN3), ("all triples", ALL)):
        header, body = evaluate_job(target, job(query, limits))
        assert tablewriter(target, query, limits) == body, f"{label} {name}: different bytes"
        ways = {"tablewriter": lambda: tablewriter(target, query, limits),
                "evaluate": lambda: evaluate_job(target, job(query, limits))}
        if not header["truncated"]:  # uncapped, the engine would write the whole (large) answer
            ways["engine"] = lambda: engine(target, query)
        times = {way: [] for way in ways}
        for _ in range(RUNS):
            for way, fn in ways.items():
                start = time.perf_counter()
                fn()
                times[way].append(time.perf_counter() - start)
        med = {way: statistics.median(t) * 1000 for way, t in times.items()}
        cut = f", cut at the {header['truncated']} cap" if header["truncated"] else ""
        floor = (f", engine {med['engine']:.2f} ms, evaluate/engine x{med['evaluate'] / med['engine']:.2f}"
                 if "engine" in med else "")
        print(f"{label:8} {name:12} {header['rows']:6} rows {len(body) / 1e6:5.2f} MB{cut}: tablewriter "
              f"{med['tablewriter']:.2f} ms, evaluate {med['evaluate']:.2f} ms, "
              f"tablewriter/evaluate x{med['tablewriter'] / med['evaluate']:.2f}{floor}")


def main(argv: list[str]) -> int:
    for label in argv or ["bundled", "50k", "500k"]:
        bench(label)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
