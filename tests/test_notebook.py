"""examples/analyst-notebook.ipynb, executed top to bottom against a running server (a real
Jupyter kernel through nbclient), and the README's Python example run as printed: both must
work with what `pip install .[analysis]` brings."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

NOTEBOOK = ROOT / "examples" / "analyst-notebook.ipynb"


def outputs(cell) -> str:
    text = []
    for out in cell.get("outputs", []):
        if "text" in out:
            text.append(out["text"])
        text.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(text)


def test_the_notebook_answers_its_three_questions(live_server, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]' brings nbformat")
    nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' brings nbclient")
    pytest.importorskip("pandas", reason="pip install -e '.[analysis]' brings pandas")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("BPKG_URL", live_server)  # the kernel inherits the environment
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    chairs, shared, per_year, plot = outputs(code[1]), outputs(code[2]), outputs(code[3]), code[4]
    # Governance page: Hungary chaired 1993 to January 2006; Türkiye since January 2006.
    assert re.search(r"Hungary\s+1993\s+2006-01", chairs) and re.search(r"Türkiye\s+2006-01\s+\(still chairs\)", chairs)
    # Practice page alignments: goals 1 and 5 share GCM objectives 2, 7 and 11.
    assert [int(n) for n in re.findall(r"^\d+\s+(\d+)\s", shared, re.M)] == [2, 7, 11]
    # Projects running in 2022 (reference pack: IBM Silk Routes to 2022, RBM from 2022-01).
    assert "active in 2022:" in per_year and "Integrated Border Management" in per_year
    assert any("image/png" in o.get("data", {}) for o in plot.get("outputs", [])), "the plot is drawn"


def test_the_readme_python_example_runs(live_server):
    pytest.importorskip("pandas", reason="pip install -e '.[analysis]' brings pandas")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"\*\*3\. Python.*?```python\n(.*?)```", readme, re.S)[1]
    example = example.replace('"http://127.0.0.1:5000"', repr(live_server))
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert "notation" in done.stdout and "label" in done.stdout
