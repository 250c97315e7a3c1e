"""First resource page and first submission check on a large graph: whole processes, so
each figure includes whatever the first use builds (before this change: an rdflib copy of
the whole graph). Peer in the same run: a plain engine lookup of the same node's triples.

* page:      ``create_app`` on the graph, then the first ``GET /id/state/AF`` (HTML);
* validate:  the first ``validation.validate`` of ``examples/project.ttl`` in that graph's context
             (no cache: ``XDG_CACHE_HOME`` points at an empty folder);
* lookup:    the floor: ``bpkg.load`` and one ``quads_for_pattern`` of the same node.
* ``--baseline DIR``: the same two from another checkout (e.g. ``git worktree add ../before main``).

Prints wall seconds (load included), peak RSS and each figure's ratio to ``lookup``.

    python bench/bench_resources.py 50k 500k --baseline ../before
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = "https://w3id.org/bpkg/id/state/AF"

SCRIPTS = {
    "lookup": ("import sys, bpkg, pyoxigraph as ox; kg = bpkg.load(sys.argv[1:]); "
               f"print(len(list(kg.store.quads_for_pattern(ox.NamedNode('{NODE}'), None, None))))"),
    "page": ("import sys, bpkg; from bpkg.web import create_app; "
             "app = create_app({'KG': bpkg.load(sys.argv[1:]), 'TESTING': True}); "
             "r = app.test_client().get('/id/state/AF', headers={'Accept': 'text/html'}); assert r.status_code == 200"),
    "validate": ("import sys, bpkg; from bpkg import validation; kg = bpkg.load(sys.argv[1:]); "
                 "r = validation.validate(kg, open('examples/project.ttl', 'rb').read(), filename='project.ttl'); "
                 "print(r.summary())"),
}


def paths(label: str) -> list[str]:
    folder = ROOT / "bench" / "out" / label
    if not folder.is_dir():
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), label], check=True)
    return [str(ROOT / "ontology"), str(folder)]


def timed(code: str, files: list[str], checkout: Path, cache: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process running ``code`` in ``checkout``."""
    start = time.perf_counter()
    env = dict(os.environ, XDG_CACHE_HOME=cache, PYTHONPATH=str(checkout))
    proc = subprocess.Popen([sys.executable, "-c", code, *files], cwd=checkout, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, code
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", default=["50k", "500k"])
    parser.add_argument("--baseline", type=Path, help="another checkout, timed alongside")
    args = parser.parse_args(argv)
    for label in args.sizes:
        files = paths(label)
        runs = {"lookup": (SCRIPTS["lookup"], ROOT)}
        for name in ("page", "validate"):
            runs[name] = (SCRIPTS[name], ROOT)
            if args.baseline:
                runs[f"{name} (baseline)"] = (SCRIPTS[name], args.baseline.resolve())
        figures = {}
        for name, (code, checkout) in runs.items():
            with tempfile.TemporaryDirectory() as cache:
                figures[name] = timed(code, files, checkout, cache)
        floor = figures["lookup"][0]
        print(f"{label}:")
        for name, (seconds, rss) in figures.items():
            print(f"  {name:<20} {seconds:7.2f} s  {rss:7.0f} MB peak  x{seconds / floor:.2f} of lookup")
        for name in ("page", "validate"):
            if f"{name} (baseline)" in figures:
                print(f"  {name}: baseline / now = x{figures[f'{name} (baseline)'][0] / figures[name][0]:.1f} time, "
                      f"x{figures[f'{name} (baseline)'][1] / figures[name][1]:.1f} memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
