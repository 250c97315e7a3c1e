"""Serving a dataset of one's own (`bpkg serve --kg PATH ...`), and pages and submission checks
that never copy the whole graph into rdflib (issue 18, item 5)."""

from __future__ import annotations

import shutil

import pytest
import requests
from rdflib import URIRef

import bpkg
import bpkg.store
from bpkg import validation
from conftest import ROOT
from servers import bpkg_cli, start_server, stop_server



@pytest.fixture(scope="module")
def own_dataset(tmp_path_factory):
    """The bundled data without its projects and practice: a smaller graph that still conforms."""
    folder = tmp_path_factory.mktemp("own") / "data"
    shutil.copytree(ROOT / "kg", folder, ignore=shutil.ignore_patterns("MANIFEST", "README.md", "projects.ttl",
                                                                     "practice.ttl"))
    return folder


def test_serve_kg_serves_that_dataset(own_dataset, tmp_path):
    base, proc = start_server("--kg", str(ROOT / "ontology"), str(own_dataset),
                              env={"XDG_CACHE_HOME": str(tmp_path)})
    try:
        ask = "ASK { ?p a <https://w3id.org/bpkg/ontology#Project> }"
        answer = requests.get(base + "/sparql", params={"query": ask}, headers={"Accept": "application/sparql-results+json"},
                              timeout=30)
        assert answer.status_code == 200 and answer.json()["boolean"] is False  # no projects: our data, not the bundled
        page = requests.get(base + "/id/state/AF", headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 200 and "Afghanistan" in page.text
    finally:
        stop_server(proc)


def test_serve_kg_refuses_a_missing_path_with_exit_2(tmp_path):
    run = bpkg_cli("serve", "--port", "0", "--kg", str(tmp_path / "nowhere"), timeout=120)
    assert run.returncode == 2
    assert "nowhere" in run.stderr and "no such file or folder" in run.stderr


def test_serve_kg_refuses_data_that_does_not_conform(own_dataset, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(own_dataset, bad)
    (bad / "extra.ttl").write_text(
        "@prefix bp: <https://w3id.org/bpkg/ontology#> .\n"
        "<https://w3id.org/bpkg/id/state/QQ> a bp:State ; bp:isoAlpha2 \"QQQ\" .\n", encoding="utf-8")
    run = bpkg_cli("serve", "--port", "0", "--kg", str(ROOT / "ontology"), str(bad),
                   env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout=300)
    assert run.returncode == 2
    assert "extra.ttl" in run.stderr and "the server was not started" in run.stderr


def test_stats_accepts_kg(own_dataset):
    run = bpkg_cli("stats", "--format", "json", "--kg", str(ROOT / "ontology"), str(own_dataset))
    assert run.returncode == 0
    assert '"bp:Project"' not in run.stdout


# -- no whole-graph copy on the paths that serve or check ---------------------------------

@pytest.fixture()
def no_copy(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the whole graph was copied into rdflib")
    monkeypatch.setattr(bpkg.store, "_rdflib_view", refuse)


def test_resource_pages_never_copy_the_graph(no_copy):
    from bpkg.web import create_app

    client = create_app({"KG": bpkg.load(), "TESTING": True}).test_client()
    for path in ("/id/state/AF", "/id/state/AF.ttl", "/id/priority-goal/5", "/ontology", "/graph/kg/states",
                 "/resource?iri=http://metadata.un.org/sdg/10.7", "/shapes"):
        assert client.get(path, headers={"Accept": "text/html"}).status_code == 200, path


def test_checking_a_submission_never_copies_the_graph(no_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kg = bpkg.load()
    report = validation.validate(kg, (ROOT / "examples" / "project-invalid.ttl").read_bytes(),
                                 filename="project-invalid.ttl")
    assert report.counts["Violation"] == 4


def test_the_cached_baseline_gives_the_same_findings(tmp_path, monkeypatch):
    """`bpkg validate FILE` keeps the graph's own results per node in the cache folder, keyed by
    the content of the data and the shapes; a warm run reports exactly what a cold one did."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for name in ("project-invalid.ttl", "guard/region-invalid.ttl", "membership-invalid.ttl"):
        cold = bpkg_cli("validate", f"examples/{name}", "--format", "json", env={"XDG_CACHE_HOME": str(tmp_path)})
        assert list((tmp_path / "bpkg").glob("baseline-*.json")), "the baseline was not kept"
        warm = bpkg_cli("validate", f"examples/{name}", "--format", "json", env={"XDG_CACHE_HOME": str(tmp_path)})
        assert cold.returncode == warm.returncode == 1
        assert cold.stdout == warm.stdout


def test_a_validator_baseline_is_per_node(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kg = bpkg.load()
    validator = validation.Validator(kg)
    known = validator.baseline_known()
    submission = validation.parse_submission((ROOT / "examples" / "project.ttl").read_bytes(), filename="p.ttl")
    validator.validate_submission(submission)
    learnt = validator.baseline_since(known)
    assert URIRef("https://w3id.org/bpkg/id/project/example-labour-mobility") in learnt  # made a target by it
    # only the nodes the submission can affect, never the whole graph: state:AF, a target
    # country it names, is not one (no shape reads bp:targetCountry from the state's side)
    assert URIRef("https://w3id.org/bpkg/id/state/AF") not in learnt and len(learnt) < 50
