"""``bpkg serve`` on data it has already accepted reaches its first answer without the
expensive start-up work: no shapes parsed, no SHACL validation, no pySHACL import.

Checked by what the server does, not by a stopwatch (which would flake on a loaded
machine): the server runs under a harness that makes that work impossible (pySHACL cannot
be imported; the shapes loader and the validator raise), so a start that needed it would
fail instead of answering. The same harness on an empty cache must fail, which shows the
harness bites and that a first start still validates. bench/bench_startup.py times both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from conftest import ROOT, free_port, stop_server

pytestmark = pytest.mark.slow

HARNESS = """
import sys

sys.modules["pyshacl"] = None  # any import of pySHACL raises ImportError

import bpkg.validation as validation


def refuse(what):
    def forbidden(*args, **kwargs):
        raise SystemExit(f"start-up did expensive work on a warm cache: {what}")
    return forbidden


validation.load_shapes = refuse("the shapes were parsed")
validation.validator_for = refuse("the graph was validated")
validation.Validator = refuse("the graph was validated")

from bpkg.cli import main

sys.exit(main(sys.argv[1:]))
"""


def start_guarded(tmp_path, cache):
    port = free_port()
    log = (tmp_path / f"serve-{port}.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-c", HARNESS, "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env={**os.environ, "XDG_CACHE_HOME": str(cache)},
                            stdout=subprocess.DEVNULL, stderr=log)
    return f"http://127.0.0.1:{port}", proc, log


def first_answer(base, proc, seconds=120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return requests.get(base + "/sparql", params={"query": "ASK {}"},
                                headers={"Accept": "application/sparql-results+json"}, timeout=5)
        except requests.ConnectionError:
            time.sleep(0.1)
    return None


def test_a_warm_start_answers_without_validating_or_importing_pyshacl(tmp_path, kg):
    from bpkg.validation import require_conformance

    cache = tmp_path / "cache"
    require_conformance(kg, cache_dir=cache / "bpkg")  # what a first start leaves behind
    base, proc, log = start_guarded(tmp_path, cache)
    try:
        answer = first_answer(base, proc)
        log.seek(0)
        assert answer is not None, log.read()
        assert answer.status_code == 200 and answer.json()["boolean"] is True
    finally:
        stop_server(proc)


def test_a_cold_start_does_the_validation(tmp_path):
    base, proc, log = start_guarded(tmp_path, tmp_path / "empty-cache")
    try:
        assert first_answer(base, proc) is None  # it stopped instead of serving unchecked data
        proc.wait(timeout=30)
    finally:
        stop_server(proc)
    log.seek(0)
    stderr = log.read()
    assert proc.returncode != 0
    assert "start-up did expensive work on a warm cache" in stderr, stderr
