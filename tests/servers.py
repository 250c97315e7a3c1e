"""Servers on 127.0.0.1 and the ``bpkg`` command in a subprocess: one copy, shared by the
tests (through conftest.py) and the benchmarks in bench/ (``from tests.servers import ...``).
Servers listen on a free loopback port and are stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bpkg_cli(*args: str, env: dict | None = None, input=None, text: bool = True,
             timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m bpkg ARGS`` from the project root, output captured."""
    return subprocess.run([sys.executable, "-m", "bpkg", *args], cwd=ROOT, capture_output=True, text=text,
                          input=input, timeout=timeout, env={**os.environ, **(env or {})})


def start_server(*args: str, env: dict | None = None, seconds: float = 60):
    """``bpkg serve ARGS`` on a free loopback port, once it answers; returns (base URL, Popen)."""
    import requests

    port = free_port()
    log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server must never block
    proc = subprocess.Popen([sys.executable, "-m", "bpkg", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode(errors='replace')[-2000:]}")
        try:
            requests.get(base + "/sparql", params={"query": "ASK {}"}, timeout=2)
            return base, proc
        except requests.ConnectionError:
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"server did not start within {seconds:g} s")


def stop_server(proc, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not stopped after ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def children(pid: int) -> list[int]:
    """The processes ``pid`` forked (from any of its threads) that are still running, in PID order."""
    found = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found |= {int(p) for p in f.read().split()}
    return sorted(found)


def get_from(base: str, source: str, path: str, headers: dict | None = None, timeout: float = 60) -> tuple[int, bytes]:
    """One GET on a connection of its own, from ``source`` (a loopback address: a client of its own)."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (front processes, query workers, however the server arranges them)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


def query_processes(pid: int) -> list[int]:
    """The query workers of server ``pid``: its front processes' children when it runs
    several fronts (the default on a machine of several cores), else its own."""
    below = descendants(pid)
    fronts = children(pid)
    return [p for p in below if p not in fronts] or fronts


@contextlib.contextmanager
def only(front: int, supervisor: int):
    """Only ``front`` accepts connections meanwhile: the others are stopped (SIGSTOP)."""
    others = [pid for pid in children(supervisor) if pid != front]
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)


def session_on(front: int, supervisor: int, base: str):
    """A keep-alive connection (a requests.Session) to ``front``: every request of the session goes to it."""
    import requests

    session = requests.Session()
    with only(front, supervisor):
        assert session.get(base + "/sparql", params={"query": "ASK {}"}, timeout=30).status_code == 200
    return session


def resume_and_stop(proc) -> None:
    """Stop server ``proc`` once every process of it runs again (a test may have stopped some with SIGSTOP)."""
    for pid in descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    stop_server(proc)
