"""The model reasons cleanly: the OWL RL closure of the ontology, the data and the axioms of
the vocabularies it reuses is consistent, and says nothing the model does not mean.

The reused axioms (PROV-O, ORG, SKOS, FOAF, OWL-Time, DCAT) are restated in
tests/reasoning/reused-vocabulary-axioms.ttl, so the test runs offline. The closure is
computed once per session with owlrl (about half a minute on one core).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import RDF, RDFS, Graph, URIRef
from rdflib.namespace import OWL

from bpkg.namespaces import BP, ORG, PREFIXES, PROV

owlrl = pytest.importorskip("owlrl", reason="owlrl is in the test extra: pip install -e .[test]")

ROOT = Path(__file__).resolve().parent.parent
AXIOMS = ROOT / "tests" / "reasoning" / "reused-vocabulary-axioms.ttl"
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def closure(kg) -> Graph:
    graph = Graph()
    for triple in kg.union():
        graph.add(triple)
    graph.parse(AXIOMS, format="turtle")
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, axiomatic_triples=False, datatype_axioms=False).expand(graph)
    return graph


def errors(graph: Graph) -> list[str]:
    return sorted(str(m) for m in graph.objects(None, owlrl.Namespaces.ERRNS.error))


@pytest.mark.slow
def test_owl_rl_closure_finds_no_inconsistency(closure):
    found = errors(closure)
    assert found == [], f"{len(found)} inconsistencies, e.g. {found[:3]}"


@pytest.mark.slow
def test_activities_and_records_stay_apart(closure):
    """PROV-O: nothing is both an activity and an entity (projects, events and the practice were)."""
    both = set(closure.subjects(RDF.type, PROV.Activity)) & set(closure.subjects(RDF.type, PROV.Entity))
    assert not both, sorted(map(str, both))[:5]
    assert (URIRef(PREFIXES["project"] + "imm-silk-routes"), RDF.type, PROV.Activity) in closure
    assert (URIRef(PREFIXES["practice"] + "budapest-process"), RDF.type, PROV.Entity) in closure


@pytest.mark.slow
def test_the_dialogue_is_not_inferred_a_formal_organisation(closure):
    dialogue = URIRef(PREFIXES["organisation"] + "budapest-process")
    types = set(closure.objects(dialogue, RDF.type))
    assert ORG.OrganizationalCollaboration in types
    assert ORG.FormalOrganization not in types


def test_the_closure_test_can_fail():
    """The check is live: an activity that cites a source with prov:wasDerivedFrom is caught."""
    graph = Graph().parse(AXIOMS, format="turtle")
    project = URIRef(PREFIXES["project"] + "fixture")
    graph.add((project, RDF.type, PROV.Activity))
    graph.add((project, PROV.wasDerivedFrom, URIRef(PREFIXES["document"] + "fixture")))
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, axiomatic_triples=False, datatype_axioms=False).expand(graph)
    assert any("Disjoint classes" in e for e in errors(graph))


def test_every_property_has_a_domain_and_a_range():
    ontology = Graph().parse(ROOT / "ontology" / "bp.ttl")
    props = [p for kind in (OWL.ObjectProperty, OWL.DatatypeProperty) for p in ontology.subjects(RDF.type, kind)]
    assert props
    assert [str(p) for p in props if ontology.value(p, RDFS.domain) is None] == []
    assert [str(p) for p in props if ontology.value(p, RDFS.range) is None] == []


def test_every_declared_term_is_used(kg):
    """In the bundled data, or by the submission examples (the vocabulary submitters use);
    a super-property or super-class counts as used when one of its sub-terms is."""
    ontology = Graph().parse(ROOT / "ontology" / "bp.ttl")
    declared = {s for s in ontology.subjects(RDFS.isDefinedBy, None) if str(s).startswith(str(BP))}
    used = set()
    graphs = [kg.union()] + [Graph().parse(p) for p in sorted(EXAMPLES.glob("*.ttl")) if "invalid" not in p.name]
    for graph in graphs:
        for _, p, o in graph:
            used.add(p)
            if p == RDF.type:
                used.add(o)
    for term in list(used):
        used |= set(ontology.transitive_objects(term, RDFS.subPropertyOf))
        used |= set(ontology.transitive_objects(term, RDFS.subClassOf))
    assert sorted(str(t) for t in declared - used) == []
