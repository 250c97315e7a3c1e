"""Waiting for a server the benchmarks started: the one loop that times its first answer
(start-up of ``bpkg serve`` in bench_startup and bench_memory, the peers in bench_http)."""

from __future__ import annotations

import time

import client


def first_answer(proc, port: int, path: str, query: str, started: float, timeout: float, name: str,
                 interval: float = 0.01, log: str | None = None) -> float:
    """Seconds from ``started`` (``time.perf_counter()``) until ``GET path?query=…`` on
    127.0.0.1:``port`` answers 200, polled every ``interval`` s. RuntimeError when ``proc``
    exits first or ``timeout`` s pass; ``log`` is named in the error where there is one."""
    see = f"; see {log}" if log else ""
    deadline = started + timeout
    while (now := time.perf_counter()) < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before answering{see}")
        try:
            conn = client.Connection(port, timeout=deadline - now)
            try:
                status, _, _ = conn.send(client.get_request(port, path, query))
            finally:
                conn.close()
            if status == 200:
                return time.perf_counter() - started
        except OSError:  # not listening yet, or the connection dropped: try again
            pass
        time.sleep(interval)
    raise RuntimeError(f"{name} did not answer within {timeout:g} s{see}")
