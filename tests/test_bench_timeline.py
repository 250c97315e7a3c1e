"""bench/timeline.py, the one-request breakdown in docs/benchmarks.md, still measures every
stage: its stamps wrap functions of waitress and bpkg by name, so a rename on either side
would otherwise leave the page with holes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_timeline_stamps_every_stage_of_a_request(tmp_path):
    out = tmp_path / "timeline.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "timeline.py"), "--queries", "ASK {}", "point",
                          "--requests", "60", "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    for label in ("ASK {}", "point"):
        measured = report["queries"][label]
        assert measured["complete"] >= 40, measured  # of the 54 requests after the warm-up
        assert all(us is not None and us > 0 for us in measured["stages_us"].values()), measured
        assert sum(measured["stages_us"].values()) < 3 * measured["p50_us"], measured  # parts of one request
    assert set(report["floors"]) == {"waitress alone, constant answer", "two processes, a socketpair round trip"}
    assert "| the query process has the answer |" in run.stdout
