"""The check of a submission against a full validation, on the command line and in process.

For the bundled graph and for ~50,000 triples of synthetic data shaped like ours
(bench/generate.py, the same generator the other benchmarks use), in one run:

* command line: ``bpkg validate FILE`` (the submission check, its per-node baseline already
  in the cache folder from a first run) against ``bpkg validate`` (a full validation of the
  graph), both whole processes with the same interpreter, imports and loading; medians;
  the ratio check / full is the figure issue 18 sets at <= 1/20;
* in process: a fresh ``Validator`` (shapes parsed, baseline read from the cache file)
  checking the submission, against ``Validator.validate_bundled`` (every shape on every
  node), so the interpreter and imports that both pay are left out;
* same results: the check against the reference, a full validation of graph + submission
  less the graph's own results (``method="full"``); the script prints whether they agree
  (tests/test_validation.py asserts it for every example).

Not run by the unit tests. The full validation at 50k takes about a minute.

    python bench/bench_validation.py            # bundled and 50k
    python bench/bench_validation.py bundled    # one size
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bpkg import load  # noqa: E402
from bpkg.validation import Validator, parse_submission  # noqa: E402

EXAMPLES = [ROOT / "examples" / "project.ttl", ROOT / "examples" / "project-invalid.ttl",
            ROOT / "examples" / "membership-invalid.ttl", ROOT / "examples" / "guard" / "state-wikidata-invalid.ttl"]
CHECK_RUNS = 5  # 3 above 20,000 triples
BPKG = [sys.executable, "-m", "bpkg"]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def keys(report):
    return sorted(repr(r.baseline_key() + (r.severity,)) for r in report.results)


def cli(args: list[str], cache: str) -> float:
    """Wall time of one whole ``bpkg`` process (exit 0 or 1: a verdict, not an error)."""
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    start = time.perf_counter()
    done = subprocess.run(BPKG + args, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"bpkg {' '.join(args)} failed: {done.stderr[-400:]}")
    return elapsed


def bench(label: str, paths) -> None:
    kg_args = ["--kg", *map(str, paths)] if paths else []
    kg = load(paths)
    print(f"{label}: {len(kg):,} triples")
    with tempfile.TemporaryDirectory() as cache:
        # -- command line, whole processes --
        full_runs, check_runs = (3, CHECK_RUNS) if len(kg) < 20_000 else (1, 3)
        full_cli = statistics.median(cli(["validate", *kg_args], cache) for _ in range(full_runs))
        print(f"  command line: bpkg validate (full validation)  {full_cli:7.2f} s  (median of {full_runs})")
        for example in EXAMPLES:
            args = ["validate", str(example.relative_to(ROOT)), *kg_args]
            cold = cli(args, cache)  # learns this submission's baseline into the cache folder
            warm = statistics.median(cli(args, cache) for _ in range(check_runs))
            print(f"  command line: bpkg validate {example.name:28s} {warm:6.2f} s (first {cold:5.2f} s)  "
                  f"check / full = 1/{full_cli / warm:.1f}")

        # -- in process: what both pay (interpreter, imports, loading) left out --
        os.environ["XDG_CACHE_HOME"] = cache
        full_s, bundled = timed(lambda: Validator(kg).validate_bundled())
        print(f"  in process: full validation {full_s:.2f} s ({bundled.counts['Violation']} violations, "
              f"{bundled.counts['Warning']} warnings)")
        reference = Validator(kg)
        for example in EXAMPLES:
            submission = parse_submission(example.read_bytes(), filename=example.name)
            checks = [timed(lambda: Validator(kg).validate_submission(submission)) for _ in range(check_runs)]
            check_s = statistics.median(t for t, _ in checks)
            same = keys(checks[0][1]) == keys(reference.validate_submission(submission, method="full"))
            print(f"  in process: {example.name:28s} {len(submission.graph):3d} triples  check {check_s * 1000:7.1f} ms  "
                  f"check / full = 1/{full_s / check_s:.0f}  same results as the full check: {'yes' if same else 'NO'}")


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
