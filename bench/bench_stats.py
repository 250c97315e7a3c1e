"""`bpkg stats` against a plain engine count, whole processes, interleaved run by run.

* stats:      ``python -m bpkg stats PATHS`` (load, then count triples per file, classes and
              the derived graph with the engine);
* count:      the floor: ``bpkg.load(PATHS)`` and one ``SELECT (COUNT(*) ...)`` in a process;
* baseline:   with ``--baseline DIR``, ``bpkg stats`` from another checkout (e.g. an older
              commit: ``git worktree add ../bpkg-before COMMIT``), so before/after are measured
              in the same run.

Prints median wall time and peak RSS per command, and each command's ratio to `count`.
Sizes: the bundled graph and synthetic data from bench/generate.py (generated on first use).

    python bench/bench_stats.py                    # bundled and 500k, 3 runs
    python bench/bench_stats.py bundled --runs 5 --baseline ../bpkg-before
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COUNT = ("import sys, bpkg; kg = bpkg.load(sys.argv[1:] or None); "
         "print(next(iter(kg.store.query('SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }')))['n'].value)")


def paths(label: str) -> list[str]:
    if label == "bundled":
        return []
    folder = ROOT / "bench" / "out" / label
    if not folder.is_dir():
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), label], check=True)
    return [str(ROOT / "ontology"), str(folder)]


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL)  # `-m` imports bpkg from cwd
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, argv
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", default=["bundled", "500k"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a checkout whose `bpkg stats` is timed alongside")
    args = parser.parse_args(argv)
    for label in args.sizes:
        files = paths(label)
        commands = {"count": ([sys.executable, "-c", COUNT, *files], ROOT),
                    "stats": ([sys.executable, "-m", "bpkg", "stats", *files], ROOT)}
        if args.baseline:
            commands["baseline"] = ([sys.executable, "-m", "bpkg", "stats", *files], args.baseline.resolve())
        wall = {name: [] for name in commands}
        peak = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (command, cwd) in commands.items():
                seconds, mb = timed(command, cwd)
                wall[name].append(seconds)
                peak[name].append(mb)
        floor = statistics.median(wall["count"])
        for name in commands:
            w = statistics.median(wall[name])
            print(f"{label:8} {name:9} {w:7.3f} s  peak {max(peak[name]):6.0f} MB  x{w / floor:.2f} of count")
    return 0


if __name__ == "__main__":
    sys.exit(main())
