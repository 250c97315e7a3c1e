"""What the SPARQL gate costs per query text (docs/reliability.md).

For each named query in queries/ (as the endpoint first sees it, and once bound with its
documented example parameters) and a few raw texts: the median of 7 runs of the lexical
screen and scan (``prepare``) and of the parse decision
(``decide``; both in the query process; rdflib's SPARQL 1.1 grammar, skipped where the text
cannot spell a keyword it looks for). A text's decision is kept, so each is paid once per
text per server.

    python bench/bench_gate.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bpkg import load, queries  # noqa: E402
from bpkg.sparql import Limits, Request, Target, decide  # noqa: E402
from bpkg.sparql.gate import _parse_needed, _plans, _without_comments, prepare  # noqa: E402


def median_ms(fn, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    target = Target.of(load())
    limits = Limits()
    rows = []
    texts = {name: q.text for name, q in queries.library().items()}
    texts.update({"raw: ASK {}": "ASK {}", "raw: SELECT * { ?s ?p ?o } LIMIT 3": "SELECT * { ?s ?p ?o } LIMIT 3"})
    for name, text in sorted(texts.items()):
        def scan():
            _plans.clear()
            prepare(target, Request(query=text), limits)
        rows.append((name, median_ms(scan), median_ms(lambda: decide(text, target.graph_names)),
                     _parse_needed(_without_comments(text))))
    print("| query | scan (server) | decision (query process) | parsed |")
    print("|---|---:|---:|---|")
    for name, scan_ms, decide_ms, parsed in rows:
        print(f"| {name} | {scan_ms:.2f} ms | {decide_ms:.1f} ms | {'yes' if parsed else 'no (cannot spell a keyword)'} |")
    print(f"\nmedian over {len(rows)} texts: scan {statistics.median(r[1] for r in rows):.2f} ms, "
          f"decision {statistics.median(r[2] for r in rows):.1f} ms "
          f"(parsed ones: {statistics.median(r[2] for r in rows if r[3]):.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
