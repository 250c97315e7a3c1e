"""The short CI variant of bench/load_test.py, at the server's default settings (5 s
deadline): 8 clients x 8 s quiet, then 8 s with one runaway query per second from another
client. Zero errors, every runaway stopped with a 503 (at its deadline, or refused when
its client already has its share of the long lane), the others' p99 within 2 x 3 = 6 x
the quiet p99 and at least half the quiet throughput (a margin on p99 only: CI shares two
cores with the load generator and other jobs). The full run is
``python bench/load_test.py`` (32 clients x 30 s, limit 3 x), see docs/reliability.md.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import ROOT


def load_test_module():
    spec = importlib.util.spec_from_file_location("bpkg_load_test", ROOT / "bench" / "load_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_short_load_run_has_no_errors_and_runaways_stay_contained():
    result = load_test_module().run(clients=8, seconds=8, deadline=None, seed=7)
    quiet, loud = result["quiet"], result["runaway"]
    assert quiet["requests"] > 50 and loud["requests"] > 10, result
    assert quiet["errors"] == 0, quiet["error_samples"]
    assert loud["errors"] == 0, loud["error_samples"]
    runaways = loud["runaways"]
    assert runaways["sent"] == 8 and runaways["statuses"] == [503]
    assert runaways["stopped_at_deadline"] >= 1 and runaways["max_s"] <= 5 + 1.0, runaways  # within 1 s of it
    assert result["p99_ratio"] <= 6, result
    assert result["throughput_ratio"] >= 0.5, result
