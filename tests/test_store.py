"""Loading: one named graph per file, derived shortcuts apart, read-only, and loud on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rdflib import Literal, URIRef

import bpkg
from bpkg.store import DERIVED_GRAPH, LoadError
from servers import bpkg_cli

ROOT = Path(__file__).resolve().parent.parent


def test_one_named_graph_per_source_file(kg):
    files = sorted(p.relative_to(ROOT).as_posix() for d in ("ontology", "kg") for p in (ROOT / d).rglob("*.ttl"))
    assert sorted(f.path for f in kg.files) == files
    for f in kg.files:
        assert str(f.graph) == "https://w3id.org/bpkg/graph/" + f.path.removesuffix(".ttl")
        assert len(kg.dataset.graph(f.graph)) == f.triples > 0


def test_store_and_dataset_hold_the_same_quads(kg):
    assert len(kg.store) == sum(len(kg.dataset.graph(g)) for g in kg.graph_names)


def test_derived_triples_live_in_their_own_graph(kg):
    derived = kg.dataset.graph(DERIVED_GRAPH)
    assert len(derived) > 0
    member_of = URIRef("http://www.w3.org/ns/org#memberOf")
    for f in kg.files:
        assert not list(kg.dataset.graph(f.graph).triples((None, member_of, None))), f"{f.path} authors org:memberOf"


def test_the_graph_is_read_only(kg):
    with pytest.raises(TypeError, match="read-only"):
        kg.dataset.add((URIRef("urn:x"), URIRef("urn:y"), Literal("z"), kg.files[0].graph))
    with pytest.raises(TypeError, match="read-only"):
        kg.dataset.update("INSERT DATA { <urn:x> <urn:y> <urn:z> }")


def test_version_changes_with_content(tmp_path):
    a = tmp_path / "a.ttl"
    a.write_text("<urn:a> <urn:b> <urn:c> .\n")
    first = bpkg.load([a]).version
    a.write_text("<urn:a> <urn:b> <urn:d> .\n")
    assert bpkg.load([a]).version != first


def test_parse_error_names_file_line_and_column(tmp_path):
    good = tmp_path / "good.ttl"
    good.write_text("<urn:a> <urn:b> <urn:c> .\n")
    bad = tmp_path / "bad.ttl"
    bad.write_text("<urn:a> <urn:b> <urn:c> .\n<urn:a> <urn:b> \"unterminated .\n")
    with pytest.raises(LoadError) as err:
        bpkg.load([good, bad])
    assert err.value.path.endswith("bad.ttl")
    assert err.value.line == 2 and err.value.column is not None


def test_cli_stats_json_counts_classes_with_prefixed_names():
    out = bpkg_cli("stats", "--format", "json")
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert stats["graphs"] == len(list((ROOT / "kg").rglob("*.ttl"))) + 2  # + ontology + derived
    assert stats["classes"]["bp:State"] == 56
    assert stats["classes"]["sdgo:Target"] == 169
    assert stats["triples"] > 5000


def test_stats_count_with_the_engine_as_rdflib_would_without_copying_the_graph():
    from collections import Counter

    from rdflib import RDF

    from bpkg.cli import class_counts, graph_size
    from bpkg.namespaces import curie

    kg = bpkg.load()
    counts, derived = class_counts(kg), graph_size(kg, DERIVED_GRAPH)
    assert kg._dataset is None, "stats built the rdflib copy of the whole graph"
    # The same figures from rdflib, a typing stated in two graphs counting twice.
    expected = Counter(curie(str(o)) for g in kg.graph_names for o in kg.dataset.graph(g).objects(None, RDF.type)
                       if isinstance(o, URIRef))
    assert counts == dict(sorted(expected.items()))
    assert derived == len(kg.dataset.graph(DERIVED_GRAPH)) > 0


def test_cli_stats_text_lists_every_file():
    out = bpkg_cli("stats")
    assert out.returncode == 0, out.stderr
    assert "kg/states.ttl" in out.stdout and "bp:PriorityGoal" in out.stdout


def test_cli_reports_a_parse_error_with_position_and_exit_2(tmp_path):
    bad = tmp_path / "broken.ttl"
    bad.write_text("<urn:a> <urn:b> .\n")
    out = bpkg_cli("stats", str(bad))
    assert out.returncode == 2
    assert "broken.ttl:1:" in out.stderr and "Traceback" not in out.stderr


def test_cli_without_a_command_prints_help_and_exits_2():
    out = bpkg_cli()
    assert out.returncode == 2 and "usage" in out.stdout.lower()


def test_the_manifest_lists_exactly_the_data_files():
    """kg/MANIFEST is what the loader checks a data folder against: it must name every file."""
    from bpkg.store import MANIFEST, ROOT

    listed = {line.split("#", 1)[0].strip() for line in (ROOT / "kg" / MANIFEST).read_text().splitlines()} - {""}
    present = {p.relative_to(ROOT / "kg").as_posix() for p in (ROOT / "kg").rglob("*.ttl")}
    assert listed == present


def test_shapes_that_do_not_parse_are_refused_with_file_and_line(tmp_path, kg):
    import pytest

    from bpkg.store import LoadError
    from bpkg.validation import require_conformance

    (tmp_path / "broken.ttl").write_text("@prefix sh: <http://www.w3.org/ns/shacl#> .\n<urn:s> a sh:NodeShape ;;\n  sh:x .\n"
                                         "<urn:t> <urn:p> [ .\n")
    with pytest.raises(LoadError) as refused:
        require_conformance(kg, shapes_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert refused.value.path.endswith("broken.ttl") and "does not parse" in refused.value.message
    assert refused.value.line


def test_a_conforming_graph_is_remembered_by_content_hash(tmp_path, kg):
    from bpkg.validation import require_conformance

    require_conformance(kg, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("conforms-*"))) == 1
