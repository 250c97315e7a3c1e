"""House-style lint for the hand-edited Turtle (aesthetics.md H2-H5, schema.org-style checks).

Each check prints the offending files or IRIs, so a failure says what to fix.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, RDFS, SKOS

from bpkg.namespaces import BP, ID, PREFIXES

ROOT = Path(__file__).resolve().parent.parent
TURTLE = sorted((ROOT / "ontology").rglob("*.ttl")) + sorted((ROOT / "kg").rglob("*.ttl")) + sorted((ROOT / "shapes").rglob("*.ttl"))
KG_FILES = sorted((ROOT / "kg").rglob("*.ttl"))
PREFIX_LINE = re.compile(r"^(?:PREFIX|@prefix)\s+(\S*):\s*<([^>]*)>", re.I)
PROV = Namespace(PREFIXES["prov"])
DCT = Namespace(PREFIXES["dct"])
TEXT_PROPERTIES = [SKOS.prefLabel, SKOS.altLabel, SKOS.definition, SKOS.scopeNote, DCT.title, RDFS.label]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def parsed(path: Path) -> Graph:
    return Graph().parse(path, format="turtle")


@pytest.mark.parametrize("path", TURTLE, ids=rel)
def test_prefixes_are_canonical_and_sorted(path):
    declared = [PREFIX_LINE.match(line).groups() for line in path.read_text("utf-8").splitlines() if PREFIX_LINE.match(line)]
    wrong = [(p, iri) for p, iri in declared if PREFIXES.get(p) != iri]
    assert not wrong, f"{rel(path)} declares non-canonical prefixes: {wrong}"
    names = [p for p, _ in declared]
    assert names == sorted(names), f"{rel(path)}: PREFIX lines are not sorted"


@pytest.mark.parametrize("path", TURTLE, ids=rel)
def test_file_opens_with_a_header_comment(path):
    assert path.read_text("utf-8").startswith("# "), f"{rel(path)} has no header comment"


@pytest.mark.parametrize("path", KG_FILES, ids=rel)
def test_no_blank_nodes_in_kg(path):
    blank = {t for triple in parsed(path) for t in triple if isinstance(t, BNode)}
    assert not blank, f"{rel(path)} has {len(blank)} blank nodes: give dependent nodes #fragment IRIs"


@pytest.mark.parametrize("path", KG_FILES, ids=rel)
def test_text_is_language_tagged(path):
    graph = parsed(path)
    untagged = [(s, p) for p in TEXT_PROPERTIES for s, o in graph.subject_objects(p) if isinstance(o, Literal) and not o.language]
    assert not untagged, f"{rel(path)}: text without a language tag: {untagged[:5]}"


def test_every_entity_has_a_source(kg):
    """Every typed node in kg/ cites a document, except dependent #fragment nodes of a cited parent."""
    union = kg.union()
    sourced = set(union.subjects(PROV.wasDerivedFrom)) | set(union.subjects(DCT.source))
    missing = []
    for path in KG_FILES:
        for subject in set(parsed(path).subjects(RDF.type)):
            if subject in sourced or (BP.Document in set(union.objects(subject, RDF.type))):
                continue
            parent = URIRef(str(subject).split("#")[0])
            if "#" in str(subject) and parent in sourced:
                continue
            missing.append(str(subject))
    assert not missing, f"entities without prov:wasDerivedFrom: {missing[:10]}"


def test_every_source_is_a_document(kg):
    union = kg.union()
    docs = set(union.subjects(RDF.type, BP.Document))
    dangling = {str(o) for o in union.objects(None, PROV.wasDerivedFrom) if o not in docs}
    assert not dangling, f"prov:wasDerivedFrom targets that are not bp:Document: {sorted(dangling)[:10]}"


def test_no_subject_is_described_in_two_files(kg):
    owners = defaultdict(set)
    for path in KG_FILES:
        for subject in set(parsed(path).subjects(RDF.type)):
            owners[subject].add(rel(path))
    twice = {str(s): sorted(f) for s, f in owners.items() if len(f) > 1}
    assert not twice, f"subjects typed in more than one file: {twice}"


def test_every_bp_term_is_declared_labelled_and_defined(kg):
    ontology = parsed(ROOT / "ontology" / "bp.ttl")
    used = {t for triple in kg.union() for t in triple if isinstance(t, URIRef) and str(t).startswith(str(BP))}
    problems = []
    for term in sorted(used):
        if not set(ontology.objects(term, RDF.type)) & {OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty}:
            problems.append(f"{term} is used but not declared")
            continue
        for p in (RDFS.label, SKOS.definition, RDFS.isDefinedBy):
            if not any(isinstance(o, URIRef) or getattr(o, "language", None) == "en" for o in ontology.objects(term, p)):
                problems.append(f"{term} lacks {p}")
    assert not problems, "\n".join(problems)


def test_definitions_are_sentences(kg):
    ontology = parsed(ROOT / "ontology" / "bp.ttl")
    bad = [str(s) for s, d in ontology.subject_objects(SKOS.definition) if not (str(d)[:1].isupper() and str(d).endswith("."))]
    assert not bad, f"definitions must start with a capital and end with a period (SEMIC GC-R5): {bad}"


def test_ontology_header_has_version_and_licence():
    ontology = parsed(ROOT / "ontology" / "bp.ttl")
    header = URIRef(PREFIXES["bp"].rstrip("#"))
    for p in (OWL.versionInfo, OWL.versionIRI, DCT.license, DCT.title):
        assert ontology.value(header, p) is not None, f"ontology header lacks {p}"


def test_minted_iris_follow_the_uri_table(kg):
    """Every IRI under …/id/ uses a known kind and a lowercase kebab-case or native-code key."""
    kinds = {iri[len(ID):].rstrip("/") for p, iri in PREFIXES.items() if iri.startswith(ID)}
    bad = set()
    for triple in kg.union():
        for t in triple:
            if isinstance(t, URIRef) and str(t).startswith(ID):
                kind, _, key = str(t)[len(ID):].partition("/")
                key = key.split("#")[0]
                if kind not in kinds or not re.fullmatch(r"[a-z0-9]+(--?[a-z0-9]+)*|[A-Z]{2}(-[a-z0-9-]+)?", key):
                    bad.add(str(t))
    assert not bad, f"IRIs outside the URI table: {sorted(bad)[:10]}"
