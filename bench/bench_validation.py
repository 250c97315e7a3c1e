"""Full re-validation against focused validation ("method E") of a submission.

For the bundled graph and for ~50,000 triples of synthetic data shaped like ours
(bench/generate.py, the same generator the other benchmarks use), validate the example
submissions two ways and print the times and their ratio:

* full:    copy graph + submission, run every shape on everything, keep the results on
           the nodes the submission mentions (the reference answer);
* focused: add the submission to the validator's in-memory graph, run pySHACL with
           focus_nodes = every IRI the submission mentions, take the submission out again.

Both must give the same results (the script checks it, and tests/test_validation.py
does too). Not run by the unit tests.

    python bench/bench_validation.py            # bundled and 50k
    python bench/bench_validation.py bundled    # one size
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bpkg import load  # noqa: E402
from bpkg.validation import Validator, parse_submission  # noqa: E402

EXAMPLES = [ROOT / "examples" / "project.ttl", ROOT / "examples" / "project-invalid.ttl",
            ROOT / "examples" / "membership-invalid.ttl"]
FOCUSED_RUNS = 5


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def keys(report):
    return sorted((r.severity, str(r.focus), r.path_text or "", str(r.value), r.message) for r in report.results)


def bench(label: str, paths) -> None:
    kg = load(paths)
    validator = Validator(kg)
    first, bundled = timed(validator.validate_bundled)
    print(f"{label}: {len(kg):,} triples; full validation of the graph itself {first:.2f} s "
          f"({bundled.counts['Violation']} violations, {bundled.counts['Warning']} warnings)")
    full_runs = 3 if len(kg) < 20_000 else 1
    for example in EXAMPLES:
        submission = parse_submission(example.read_bytes(), filename=example.name)
        fulls = [timed(lambda: validator.validate_submission(submission, method="full")) for _ in range(full_runs)]
        focused = [timed(lambda: validator.validate_submission(submission)) for _ in range(FOCUSED_RUNS)]
        full_s = statistics.median(t for t, _ in fulls)
        focused_s = statistics.median(t for t, _ in focused)
        same = keys(fulls[0][1]) == keys(focused[0][1])
        print(f"  {example.name:28s} {len(submission.graph):3d} triples  full {full_s * 1000:8.1f} ms  "
              f"focused {focused_s * 1000:7.1f} ms  ratio full/focused {full_s / focused_s:6.1f}x  "
              f"same results: {'yes' if same else 'NO'}")


def main(argv: list[str]) -> int:
    sizes = argv or ["bundled", "50k"]
    for size in sizes:
        if size == "bundled":
            bench("bundled", None)
        else:
            from generate import ensure

            folder = ensure(size)
            bench(f"synthetic {size}", [ROOT / "ontology", folder])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
