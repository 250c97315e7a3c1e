"""Engine benchmark: rdflib in memory vs our store vs native pyoxigraph, on synthetic graphs.

* **rdflib**: an rdflib ``Dataset(default_union=True)``, one named graph per file, the
  derived shortcuts computed with rdflib; queries through ``Dataset.query`` with
  ``initBindings``.
* **ours**: the project's code path, ``bpkg.load(paths)`` and ``bpkg.queries.evaluate_in_process`` (which
  binds the parameters and materialises every row as a dict).
* **pyoxigraph**: a bare ``pyoxigraph.Store``, files loaded with ``Store.load`` into named
  graphs, derived shortcuts computed natively, ``Store.query(substitutions=…)``.

Per query and engine: one warm-up run, then up to ``--runs`` timed runs (fewer once a
query/engine pair has used ``--budget`` seconds); the median is reported. Every run
materialises all rows. Results are compared as multisets after normalising literals
(plain = ``xsd:string``; numbers by value), and a mismatch is reported, not hidden.
The cache section times the hit and miss paths of :mod:`bpkg.cache` on one named query.

    python bench/bench_engines.py --quick            # 5k and 50k, 3 runs
    python bench/bench_engines.py --json out.json    # 5k 50k 500k
    python bench/bench_engines.py --include-2m       # and 2M (several minutes, ~6 GB)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import select
import signal
import statistics
import sys
import time
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402
import workload  # noqa: E402

import pyoxigraph as ox  # noqa: E402
from rdflib import BNode, Dataset, Literal, URIRef  # noqa: E402

import bpkg  # noqa: E402
from bpkg import queries  # noqa: E402
from bpkg.cache import ResultCache, cache_key  # noqa: E402
from bpkg.store import CONSTRUCT_DIR, DERIVED_GRAPH, graph_iri_for, source_files  # noqa: E402

ROOT = generate.ROOT
XSD = "http://www.w3.org/2001/XMLSchema#"
NUMERIC = {XSD + t for t in ("integer", "decimal", "double", "float", "int", "long", "nonNegativeInteger")}


# -- normalised terms ------------------------------------------------------------------

def _literal(lexical: str, datatype: str | None, lang: str | None):
    if lang:
        return ("lit", lexical, "@" + lang.lower())
    datatype = datatype or XSD + "string"
    if datatype in NUMERIC:
        try:
            return ("num", str(Decimal(lexical).normalize()))
        except InvalidOperation:
            pass
    return ("lit", lexical, datatype)


def norm_rdflib(term):
    if term is None:
        return None
    if isinstance(term, URIRef):
        return ("iri", str(term))
    if isinstance(term, BNode):
        return ("bnode",)
    if isinstance(term, Literal):
        return _literal(str(term), str(term.datatype) if term.datatype else None, term.language)
    raise TypeError(term)


def norm_ox(term):
    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        return ("iri", term.value)
    if isinstance(term, ox.BlankNode):
        return ("bnode",)
    if isinstance(term, ox.Literal):
        return _literal(term.value, term.datatype.value if not term.language else None, term.language)
    raise TypeError(term)


# -- the three engines -------------------------------------------------------------------

class Rdflib:
    name = "rdflib"

    def __init__(self, paths):
        self.ds = Dataset(default_union=True)
        for path in source_files(paths):
            self.ds.graph(graph_iri_for(path.resolve().relative_to(ROOT).as_posix())).parse(path, format="turtle")
        derived = self.ds.graph(DERIVED_GRAPH)
        for rq in sorted(CONSTRUCT_DIR.glob("*.rq")):
            for triple in self.ds.query(rq.read_text(encoding="utf-8")):
                derived.add(triple)

    def run(self, query, values):
        result = self.ds.query(queries.bound_text(query, values))
        if result.type in ("CONSTRUCT", "DESCRIBE"):
            return Counter(tuple(map(norm_rdflib, t)) for t in result.graph)
        if result.type == "ASK":
            return Counter([bool(result.askAnswer)])
        names = sorted(str(v) for v in result.vars)
        return Counter(tuple(norm_rdflib(row[n]) for n in names) for row in result)

    def __len__(self):
        return len(self.ds)


class Ours:
    name = "ours"

    def __init__(self, paths):
        self.kg = bpkg.load(paths)

    def run(self, query, values):
        result = queries.evaluate_in_process(self.kg, query, values)
        return _ox_result(result)

    def __len__(self):
        return len(self.kg)


class OursExecutor:
    """The same store through the one safe executor (gate, forked child, JSON serialisation):
    what an HTTP request costs before the web layer. Not compared for equality (bytes out)."""

    name = "ours+executor"

    def __init__(self, ours: Ours):
        self.kg = ours.kg

    def run(self, query, values):
        return queries.execute(self.kg, query, values, format="json").body


def _ox_result(result):
    if result.triples is not None:
        return Counter(tuple(map(norm_ox, (t.subject, t.predicate, t.object))) for t in result.triples)
    if result.boolean is not None:
        return Counter([result.boolean])
    names = sorted(result.variables)
    return Counter(tuple(norm_ox(row[n]) for n in names) for row in result.rows)


class Native:
    name = "pyoxigraph"

    def __init__(self, paths):
        self.store = ox.Store()
        for path in source_files(paths):
            graph = ox.NamedNode(str(graph_iri_for(path.resolve().relative_to(ROOT).as_posix())))
            self.store.load(path=str(path), format=ox.RdfFormat.TURTLE, to_graph=graph)
        derived = ox.NamedNode(str(DERIVED_GRAPH))
        for rq in sorted(CONSTRUCT_DIR.glob("*.rq")):
            triples = list(self.store.query(rq.read_text(encoding="utf-8"), use_default_graph_as_union=True))
            self.store.extend(ox.Quad(t.subject, t.predicate, t.object, derived) for t in triples)

    def run(self, query, values):
        answer = self.store.query(queries.bound_text(query, values), use_default_graph_as_union=True)
        if isinstance(answer, ox.QueryBoolean):
            return Counter([bool(answer)])
        if isinstance(answer, ox.QueryTriples):
            return Counter(tuple(map(norm_ox, (t.subject, t.predicate, t.object))) for t in answer)
        names = sorted(v.value for v in answer.variables)
        return Counter(tuple(norm_ox(s[n]) for n in names) for s in answer)

    def __len__(self):
        return len(self.store)


ENGINES = (Rdflib, Ours, Native)


# -- timing ------------------------------------------------------------------------------

def timed(fn, runs: int, budget: float) -> tuple[float, int, object]:
    """(median seconds, runs done, last result) after one untimed warm-up run."""
    t0 = time.perf_counter()
    result = fn()
    warm = time.perf_counter() - t0
    times: list[float] = []
    if warm > budget:  # a slow pair: its one run is the figure
        return warm, 1, result
    spent = warm
    while len(times) < runs and (spent < budget or not times):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return statistics.median(times), len(times), result


def timed_with_deadline(fn, runs: int, budget: float, deadline: float):
    """``timed`` in a forked child (the loaded graphs are shared copy-on-write), killed at
    ``deadline`` seconds: rdflib cannot be interrupted in-process, and a benchmark must stop.
    Returns ``timed``'s tuple, or None when the deadline was reached."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            data = pickle.dumps(("ok", timed(fn, runs, budget)))
        except BaseException as exc:  # noqa: BLE001 (reported to the parent)
            data = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"[:200]))
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
        os._exit(0)
    os.close(write_fd)
    chunks, stop = [], time.monotonic() + deadline
    try:
        while True:
            left = stop - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                return None
            if select.select([read_fd], [], [], left)[0]:
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    status, value = pickle.loads(b"".join(chunks))
    if status == "error":
        raise RuntimeError(value)
    return value


def bench_cache(engine: Ours, runs: int) -> dict:
    """Miss path (run + serialise + put) against hit path (key + get) for one named query."""
    query = queries.get("projects-by-state")
    values = {p.name: p.example for p in query.params}
    cache = ResultCache()

    def miss():
        cache.clear()
        key = cache_key(query.text, values, "application/sparql-results+json", engine.kg.version)
        body = cache.get(key)
        if body is None:
            body = queries.execute(engine.kg, query, values, format="json").body
            cache.put(key, body)
        return body

    def hit():
        key = cache_key(query.text, values, "application/sparql-results+json", engine.kg.version)
        return cache.get(key)

    miss_s, _, body = timed(miss, runs * 4, 5.0)
    cache.put(cache_key(query.text, values, "application/sparql-results+json", engine.kg.version), body)
    hit_s, _, cached = timed(hit, runs * 20, 2.0)
    assert cached == body
    return {"query": query.name, "bytes": len(body), "miss_s": miss_s, "hit_s": hit_s, "speedup": miss_s / hit_s}


def bench_size(label: str, runs: int, budget: float, deadline: float = 30.0, log=print, rdflib: bool = True) -> dict:
    folder = generate.ensure(label)
    paths = [ROOT / "ontology", folder]
    out = {"size": label, "generated_triples": json.loads((folder / "manifest.json").read_text())["triples"],
           "load_s": {}, "triples": {}, "queries": []}
    engines = []
    for cls in ENGINES if rdflib else tuple(c for c in ENGINES if c is not Rdflib):
        gc.collect()
        t0 = time.perf_counter()
        engine = cls(paths)
        out["load_s"][cls.name] = time.perf_counter() - t0
        out["triples"][cls.name] = len(engine)
        engines.append(engine)
        log(f"[{label}] {cls.name}: loaded {len(engine):,} triples in {out['load_s'][cls.name]:.2f} s")
    ours = next(e for e in engines if isinstance(e, Ours))
    engines.append(OursExecutor(ours))
    for case, query, values in workload.cases():
        row = {"query": case, "params": values, "median_s": {}, "runs": {}, "rows": None, "same": True}
        reference = None
        for engine in engines:
            try:
                outcome = timed_with_deadline(lambda: engine.run(query, values), runs, budget, deadline)
                if outcome is None:
                    row["median_s"][engine.name] = None
                    row.setdefault("timeouts", {})[engine.name] = deadline
                    continue
                seconds, n, result = outcome
            except Exception as exc:  # one engine failing a query is a finding, not a crash
                row["median_s"][engine.name] = None
                row.setdefault("errors", {})[engine.name] = f"{type(exc).__name__}: {exc}"[:200]
                continue
            row["median_s"][engine.name], row["runs"][engine.name] = seconds, n
            if isinstance(engine, OursExecutor):
                continue
            if reference is None:
                reference, row["rows"] = result, sum(result.values())
            elif result != reference:
                row["same"] = False
                row.setdefault("differs", []).append(engine.name)
        m = row["median_s"]
        log(f"[{label}] {case:28s} rows={row['rows']!s:>7} " + "  ".join(
            f"{k}={v * 1000:9.2f}ms" if v is not None else f"{k}=" + (f">{deadline:g}s" if k in row.get("timeouts", {})
                                                                        else "ERROR") for k, v in m.items())
            + ("" if row["same"] else "  RESULTS DIFFER"))
        out["queries"].append(row)
    out["cache"] = bench_cache(ours, runs)
    log(f"[{label}] cache: miss {out['cache']['miss_s'] * 1000:.2f} ms, hit {out['cache']['hit_s'] * 1e6:.1f} µs "
        f"(×{out['cache']['speedup']:.0f})")
    del engines
    gc.collect()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rdflib vs our store vs native pyoxigraph, every named query")
    parser.add_argument("--sizes", nargs="*", default=None, help="default: 5k 50k 500k (quick: 5k 50k)")
    parser.add_argument("--include-2m", action="store_true", help="also 2M triples (several minutes, ~6 GB RAM)")
    parser.add_argument("--quick", action="store_true", help="5k and 50k, 3 runs, 1 s budget per query and engine")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per query and engine (default 5)")
    parser.add_argument("--budget", type=float, default=None, help="seconds per query and engine (default 3)")
    parser.add_argument("--deadline", type=float, default=30.0,
                        help="seconds after which a query/engine pair is stopped and reported as such (default 30)")
    parser.add_argument("--no-rdflib", action="store_true",
                        help="leave rdflib out (at 2M it takes minutes per query; ours vs pyoxigraph is the target)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    sizes = args.sizes or (["5k", "50k"] if args.quick else ["5k", "50k", "500k"])
    if args.include_2m and "2m" not in sizes:
        sizes.append("2m")
    runs = args.runs or (3 if args.quick else 5)
    budget = args.budget or (1.0 if args.quick else 3.0)
    results = {"runs": runs, "budget_s": budget, "deadline_s": args.deadline, "sizes": []}
    for size in sizes:
        results["sizes"].append(bench_size(size, runs, budget, args.deadline, rdflib=not args.no_rdflib))
        if args.json:  # after every size, so a run stopped at its time limit keeps what it measured
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    # Exit 1 when results differ or an engine failed (a deadline is not a failure: it is reported).
    failed = [q for s in results["sizes"] for q in s["queries"]
              if not q["same"] or set(q.get("errors", {})) - {"ours+executor"}]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
