"""``bpkg serve`` and ``python server.py``: the address is announced only once the port is
held, and a port that cannot be used is one line on stderr and exit code 2."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from conftest import ROOT, stop_server

pytestmark = pytest.mark.slow

ANNOUNCE = re.compile(r"serving the knowledge graph at http://127\.0\.0\.1:(\d+)/")


def run_to_end(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpkg", "serve", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_a_busy_port_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_to_end("--port", str(port))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "already in use" in lines[0], done.stderr
    assert "serving" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_refused(port):
    done = run_to_end("--port", port)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: --port must be a number from 1 to 65535 (0 = any free port), not {port}"]


@pytest.mark.parametrize("command", [["-m", "bpkg", "serve"], ["server.py"]], ids=["bpkg-serve", "server.py"])
def test_the_announced_address_answers(command):
    """Port 0: the system picks a free port, and the announcement names the one bound."""
    proc = subprocess.Popen([sys.executable, *command, "--port", "0", "--threads", "2"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()  # blocks until the announcement (or the end)
        found = ANNOUNCE.search(line)
        assert found, line
        port = int(found[1])
        assert port != 0
        started = time.monotonic()
        response = requests.get(f"http://127.0.0.1:{port}/sparql", params={"query": "ASK {}"},
                                headers={"Accept": "application/sparql-results+json"}, timeout=30)
        assert response.status_code == 200 and response.json()["boolean"] is True
        assert time.monotonic() - started < 30
    finally:
        stop_server(proc)
        proc.stderr.close()
