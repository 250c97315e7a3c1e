"""Start-up of ``bpkg serve``: seconds from ``exec`` to the first answered ``GET /sparql?query=ASK{}``.

* **cold**: an empty conformance cache (a private ``XDG_CACHE_HOME``), so the start must
  validate the graph against the shapes (pySHACL) before it serves;
* **warm**: the cache holds this data's conformance stamp (left by the first run), so the
  start loads the graph, forks the query workers and listens; nothing is validated.

Each run is a fresh ``python -m bpkg serve --port <free>`` on 127.0.0.1, polled every 10 ms,
stopped by PID. The children run without ``PYTHONDONTWRITEBYTECODE`` (as an installed
wheel, whose modules pip compiles), so the warm figure does not include compiling bpkg's
own modules on every start. Bounded: ``runs`` starts of each kind, each at most ``timeout``.

    python bench/bench_startup.py                 # bundled graph, 3 cold + 3 warm starts
    python bench/bench_startup.py --runs 5 --json out.json

From code: ``measure(runs=3) -> dict`` (what ``bench/run_all.py`` can put in the table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ready  # noqa: E402
from tests.servers import free_port, stop_server  # noqa: E402 (one copy, shared with the tests)


class Served:
    """``bpkg serve`` on a free loopback port, started now; ``first_answer()`` times it."""

    def __init__(self, env: dict | None = None, paths: list[Path] | None = None, log: Path | None = None,
                 args: tuple[str, ...] = ()):
        env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "PYTHONDONTWRITEBYTECODE"}
        argv = [sys.executable, "-m", "bpkg", "serve", "--host", "127.0.0.1", "--port", str(free_port()), *args]
        if paths:
            argv += ["--kg", *map(str, paths)]
        self.port = int(argv[argv.index("--port") + 1])
        self._log = open(log, "wb") if log else subprocess.DEVNULL
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self._log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def first_answer(self, timeout: float = 120.0) -> float:
        """Seconds from the start until ASK {} is answered 200."""
        return ready.first_answer(self.proc, self.port, "/sparql", "ASK{}", self.started, timeout, "bpkg serve")

    def stop(self) -> None:
        stop_server(self.proc, grace=15)
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self) -> "Served":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def time_start(cache: Path, paths: list[Path] | None = None, timeout: float = 120.0) -> float:
    with Served({"XDG_CACHE_HOME": str(cache)}, paths) as server:
        return server.first_answer(timeout)


def measure(runs: int = 3, paths: list[Path] | None = None, timeout: float = 120.0) -> dict:
    """Cold and warm start-up to the first answer, ``runs`` of each: seconds, medians."""
    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="bpkg-startup-") as tmp:
        for i in range(runs):  # each with an empty cache of its own
            cold.append(time_start(Path(tmp) / f"cold-{i}", paths, timeout))
        for _ in range(runs):  # the stamp the first cold run left
            warm.append(time_start(Path(tmp) / "cold-0", paths, timeout))
    return {"runs": runs, "cold_s": cold, "warm_s": warm, "cold_median_s": statistics.median(cold),
            "warm_median_s": statistics.median(warm), "machine": machine()}


def machine() -> dict:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_1min": load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bpkg serve: seconds to the first answer, cold and warm cache")
    parser.add_argument("--runs", type=int, default=3, help="starts of each kind (default 3)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = measure(max(1, args.runs))
    print(f"cold start (validates): median {result['cold_median_s']:.2f} s  "
          f"({', '.join(f'{t:.2f}' for t in result['cold_s'])})")
    print(f"warm start (cached):    median {result['warm_median_s']:.2f} s  "
          f"({', '.join(f'{t:.2f}' for t in result['warm_s'])})")
    print(f"machine: {result['machine']['cores']} cores, load {result['machine']['load_1min']:.2f}, "
          f"Python {result['machine']['python']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
