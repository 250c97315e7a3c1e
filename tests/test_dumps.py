"""Dumps, the JSON-LD context and the SSSOM alignments: served files re-parse to exactly the
served dataset (named graphs kept where the format has them), and ``bpkg export`` writes the
same bytes."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from rdflib import RDF, Dataset, Graph, URIRef
from rdflib.compare import isomorphic

from bpkg.namespaces import BP, PREFIXES
from servers import bpkg_cli

ROOT = Path(__file__).resolve().parent.parent
CURIE = re.compile(r"^(?P<prefix>[A-Za-z_][A-Za-z0-9_.-]*):(?P<local>[A-Za-z0-9_.\-#]+)$")


def served_quads(kg) -> set:
    return {(s, p, o, g) for g in kg.graph_names for s, p, o in kg.dataset.graph(g)}


def union_graph(kg) -> Graph:
    graph = Graph()
    for triple in kg.union():
        graph.add(triple)
    return graph


def quads_of(dataset: Dataset) -> set:
    return {(s, p, o, g) for s, p, o, g in dataset.quads((None, None, None, None)) if g is not None
            and not str(g).startswith("urn:x-rdflib:")}


@pytest.mark.parametrize(("url", "fmt"), [("/dumps/bpkg.nq", "nquads"), ("/dumps/bpkg.trig", "trig"),
                                          ("/dumps/bpkg.jsonld", "json-ld")])
def test_dataset_dumps_keep_every_named_graph(client, kg, url, fmt):
    r = client.get(url)
    assert r.status_code == 200 and r.mimetype == {"nquads": "application/n-quads", "trig": "application/trig",
                                                   "json-ld": "application/ld+json"}[fmt]
    parsed = Dataset()
    parsed.parse(data=r.data, format=fmt)
    quads = quads_of(parsed)
    assert {g for *_, g in quads} == set(kg.graph_names)
    assert quads == served_quads(kg)


@pytest.mark.parametrize(("url", "fmt"), [("/dumps/bpkg.ttl", "turtle"), ("/dumps/bpkg.nt", "nt")])
def test_graph_dumps_are_isomorphic_to_the_merged_dataset(client, kg, url, fmt):
    r = client.get(url)
    assert r.status_code == 200
    assert isomorphic(Graph().parse(data=r.data, format=fmt), union_graph(kg))


def test_turtle_dump_uses_only_canonical_prefixes(client):
    text = client.get("/dumps/bpkg.ttl").get_data(as_text=True)
    declared = dict(re.findall(r"^PREFIX (\S*): <([^>]*)>", text, re.M))
    assert declared and all(PREFIXES.get(p) == iri for p, iri in declared.items()), declared


def test_jsonld_context_is_the_canonical_prefix_map(client):
    r = client.get("/context.jsonld")
    assert r.status_code == 200 and r.mimetype == "application/ld+json"
    assert json.loads(r.data) == {"@context": PREFIXES}
    dump = json.loads(client.get("/dumps/bpkg.jsonld").data)
    assert dump["@context"] == PREFIXES  # embedded, so no reader has to fetch it


def test_resource_jsonld_uses_the_same_context(client):
    doc = json.loads(client.get("/id/state/AF.jsonld").data)
    assert doc["@context"] == PREFIXES


def test_dumps_are_byte_stable(client):
    for url in ("/dumps/bpkg.nq", "/dumps/bpkg.trig", "/dumps/bpkg.ttl", "/dumps/bpkg.nt", "/dumps/bpkg.jsonld"):
        assert client.get(url).data == client.get(url).data


# -- SSSOM ----------------------------------------------------------------------------

def read_sssom(data: bytes) -> tuple[dict, list[dict]]:
    text = data.decode("utf-8")
    header = [line[1:] for line in text.splitlines() if line.startswith("#")]
    curie_map, in_map = {}, False
    for line in header:
        if line.startswith("curie_map:"):
            in_map = True
        elif in_map and line.startswith("  "):
            prefix, _, iri = line.strip().partition(": ")
            curie_map[prefix] = iri
        else:
            in_map = False
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return curie_map, list(csv.DictReader(io.StringIO(body), delimiter="\t"))


def test_sssom_has_one_row_per_alignment_with_valid_curies(client, kg):
    r = client.get("/alignments.sssom.tsv")
    assert r.status_code == 200 and r.mimetype == "text/tab-separated-values"
    curie_map, rows = read_sssom(r.data)
    alignments = set(kg.union().subjects(RDF.type, BP.Alignment))
    assert len(rows) == len(alignments) == 34
    assert len({row["record_id"] for row in rows}) == 34
    union = kg.union()
    for row in rows:
        for column in ("record_id", "subject_id", "predicate_id", "object_id", "mapping_justification",
                       "subject_source", "object_source"):
            if column.endswith("_source") and not row[column]:
                continue  # optional in SSSOM; empty where the scheme has no CURIE (the UN SDG KOS root)
            m = CURIE.match(row[column])
            assert m, f"{column}={row[column]!r} is not a CURIE"
            assert m["prefix"] in curie_map, f"{row[column]}: prefix not in the curie_map"
        expand = lambda c: URIRef(curie_map[c.split(":")[0]] + c.split(":", 1)[1])  # noqa: E731
        record = expand(row["record_id"])
        assert record in alignments
        assert union.value(record, BP.alignedFrom) == expand(row["subject_id"])
        assert union.value(record, BP.alignedTo) == expand(row["object_id"])
        assert union.value(record, BP.alignmentRelation) == expand(row["predicate_id"])
        assert row["mapping_justification"].startswith("semapv:")
        assert row["subject_label"] and row["object_label"]
    for prefix, iri in curie_map.items():
        assert prefix == "semapv" or PREFIXES[prefix] == iri


def test_sssom_header_has_mapping_set_metadata(client):
    text = client.get("/alignments.sssom.tsv").get_data(as_text=True)
    assert "#mapping_set_id: https://w3id.org/bpkg/alignments.sssom.tsv" in text
    assert "#license: https://creativecommons.org/licenses/by/4.0/" in text


# -- bpkg export ----------------------------------------------------------------------

def run_export(*args) -> subprocess.CompletedProcess:
    return bpkg_cli("export", *args, text=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    done = run_export("--format", "all", "--out", str(out))
    assert done.returncode == 0, done.stderr.decode()
    return out


@pytest.mark.parametrize(("filename", "url"), [
    ("bpkg.nq", "/dumps/bpkg.nq"), ("bpkg.trig", "/dumps/bpkg.trig"), ("bpkg.ttl", "/dumps/bpkg.ttl"),
    ("bpkg.nt", "/dumps/bpkg.nt"), ("bpkg.jsonld", "/dumps/bpkg.jsonld"),
    ("alignments.sssom.tsv", "/alignments.sssom.tsv"), ("context.jsonld", "/context.jsonld"),
    ("void.ttl", "/.well-known/void"),
])
def test_export_writes_the_served_files(client, exported, filename, url):
    assert (exported / filename).read_bytes() == client.get(url).data


def test_export_one_format_to_a_file_and_to_stdout(tmp_path, client):
    target = tmp_path / "out" / "mine.nq"
    done = run_export("--format", "nquads", "--out", str(target))
    assert done.returncode == 0, done.stderr.decode()
    assert target.read_bytes() == client.get("/dumps/bpkg.nq").data
    done = run_export("--format", "sssom")
    assert done.returncode == 0 and done.stdout == client.get("/alignments.sssom.tsv").data


def test_export_into_an_existing_folder_uses_the_standard_name(tmp_path):
    done = run_export("--format", "trig", "--out", str(tmp_path))
    assert done.returncode == 0 and (tmp_path / "bpkg.trig").is_file()


def test_export_usage_errors_exit_2(tmp_path):
    assert run_export("--format", "all").returncode == 2  # several files need a folder
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run_export("--format", "all", "--out", str(blocker)).returncode == 2
    bad = run_export("--format", "nonsense")
    assert bad.returncode == 2 and b"invalid choice" in bad.stderr
