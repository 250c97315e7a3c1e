"""What packaging promises, checked without building anything (tests/test_wheel.py builds and
installs the wheel): one version, one place that knows where the data is, what the sdist and
wheel are told to carry, and no absolute path of any machine in the tree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from rdflib import Graph, Literal
from rdflib.namespace import OWL

import bpkg
from bpkg import data_files
from bpkg.publishing import DATASET, void_description

from conftest import ROOT


def test_the_version_is_set_once_and_shown_by_bpkg_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bpkg.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", bpkg.__version__), "semantic versioning, X.Y.Z"
    done = subprocess.run([sys.executable, "-m", "bpkg", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [f"bpkg {bpkg.__version__}", f"data: {data_files.ROOT}"]


def test_service_and_dataset_descriptions_carry_the_version(client, kg):
    sd = Graph().parse(data=client.get("/sparql", headers={"Accept": "text/turtle"}).get_data(as_text=True),
                       format="turtle")
    assert Literal(bpkg.__version__) in set(sd.objects(None, OWL.versionInfo))
    assert void_description(kg).value(DATASET, OWL.versionInfo) == Literal(bpkg.__version__)
    void = Graph().parse(data=client.get("/.well-known/void", headers={"Accept": "text/turtle"}).get_data(as_text=True),
                         format="turtle")
    assert void.value(DATASET, OWL.versionInfo) == Literal(bpkg.__version__)


def test_in_a_checkout_the_data_is_the_top_level_folders():
    assert data_files.ROOT == ROOT, "an editable install reads the source tree, the single source"
    for folder in data_files.DATA_FOLDERS:
        assert (ROOT / folder).is_dir(), folder
    assert [f.path for f in bpkg.load().files][:1] == ["ontology/bp.ttl"], "graph names are paths from ROOT"


def test_only_listed_npm_files_can_be_asked_for():
    assert data_files.npm_file("vega", "build/vega.min.js") == ROOT / "node_modules" / "vega" / "build" / "vega.min.js"
    with pytest.raises(KeyError, match="NPM_FILES"):
        data_files.npm_file("vega", "build/vega.js")  # a wheel would not carry it


def test_every_listed_npm_package_is_locked():
    import json

    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    for name in data_files.NPM_FILES:
        assert name in package["dependencies"], f"{name} is a runtime dependency in package.json"
        assert lock[f"node_modules/{name}"]["integrity"].startswith("sha512-"), name


def test_the_sdist_carries_what_a_wheel_build_needs():
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8").split("\n")
    for folder in data_files.DATA_FOLDERS:
        assert f"graft {folder}" in manifest, f"the sdist must carry {folder}/ so a wheel can be built from it"
    assert "include package.json package-lock.json" in manifest


# -- no absolute path of any machine ------------------------------------------------------

# A path under a home, a workspace or a temporary folder is one machine's: it breaks on the
# next one. (System paths such as the #!/usr/bin/env of a script are the same everywhere.)
MACHINE_PATH = re.compile(r"(?<![\w.~-])(?:/(?:work|root|home|Users|tmp|mnt|opt|srv)/|[A-Za-z]:\\(?:Users|work)\\)")


def test_the_pattern_finds_machine_paths_and_nothing_else():
    assert MACHINE_PATH.search("default='" + "/wo" + "rk/bench-venv/bin/python'")
    assert MACHINE_PATH.search("file://" + "/ho" + "me/someone/kg.ttl")
    assert MACHINE_PATH.search("C:" + "\\Users" + "\\someone\\bpkg")
    for fine in ("#!/usr/bin/env bash", "#+ example: /queries/working-groups", "https://example.org/home/x",
                 "bench/.peers/venv", "node_modules/world-atlas/countries-50m.json"):
        assert not MACHINE_PATH.search(fine), fine


def test_no_absolute_path_of_a_machine_in_any_tracked_file():
    if not (shutil.which("git") and (ROOT / ".git").exists()):
        pytest.skip("not a git checkout (the tracked files are what git ls-files lists)")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
    found = []
    for name in filter(None, listed.stdout.decode().split("\0")):
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}" for m in MACHINE_PATH.finditer(text)]
    assert not found, "absolute paths of one machine:\n" + "\n".join(found)
