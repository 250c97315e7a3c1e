"""The guard on authoritative facts (shapes/guard.ttl, bpkg/guard.py): each careless or
hostile change of the issue is a violation naming the entity, the property and the published
value, through the one validation function (so ``bpkg validate``, ``/validate`` and
``/submissions`` alike); its valid twin in examples/guard/ is acceptable."""

from __future__ import annotations

import subprocess
import sys

import pycountry
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from bpkg import validation
from conftest import ROOT

GUARD = ROOT / "examples" / "guard"
VALID = sorted(p for p in GUARD.glob("*.ttl") if not p.stem.endswith("-invalid"))

# example -> what the violation must name: the entity, the property, the published value.
CASES = {
    "gcm-title-invalid": ("gcm:2", "skos:prefLabel",
                          "Minimize the adverse drivers and structural factors that compel people to leave their "
                          "country of origin"),
    "sdg-text-invalid": ("sdg:10.7", "skos:prefLabel", "Facilitate orderly, safe, regular and responsible migration "
                         "and mobility of people, including through the implementation of planned and well-managed "
                         "migration policies"),
    "sdg-broader-invalid": ("sdg:10.1", "skos:broader", "sdg:10"),
    "region-invalid": ("state:AT (Austria)", "bp:inRegion", "region:european-union"),
    "cross-cutting-invalid": ("gcm:2", "bp:crossCutting", 'published with bp:crossCutting "false"'),
    "role-invalid": ("state:AF (Afghanistan)", "org:role", "role:participating-or-observer-state"),
    "alignment-invalid": ("goal:1", "bp:alignedTo", "gcm:2, gcm:21, gcm:4, gcm:7, gcm:9"),
    "state-wikidata-invalid": ("https://w3id.org/bpkg/id/state/AF", "http://www.w3.org/2002/07/owl#sameAs",
                               "http://www.wikidata.org/entity/Q889"),
}


def violations(kg, path):
    report = validation.validate(kg, path.read_bytes(), filename=path.name)
    return report, [r for r in report.results if r.severity == "Violation"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_change_to_a_published_fact_is_a_violation_that_names_it(kg, name):
    report, found = violations(kg, GUARD / f"{name}.ttl")
    assert not report.conforms
    entity, prop, published = CASES[name]
    assert any(entity in r.message and prop in r.message + (r.path_text or "") and published in r.message
               for r in found), report.to_text()
    assert all(r.line for r in found), report.to_text()


def test_a_made_up_iso_code_is_a_violation(kg):
    report, found = violations(kg, GUARD / "state-invalid.ttl")
    assert {(r.path_text, str(r.value)) for r in found} >= {("bp:isoAlpha2", "QZ"), ("bp:isoAlpha3", "AFX")}


@pytest.mark.parametrize("example", VALID, ids=lambda p: p.stem)
def test_the_valid_twin_is_acceptable(kg, example):
    report, found = violations(kg, example)
    assert report.conforms, report.to_text()
    assert (GUARD / f"{example.stem}-invalid.ttl").is_file() or example.stem == "state-wikidata"


def test_every_invalid_example_has_a_valid_twin():
    for path in GUARD.glob("*-invalid.ttl"):
        assert (GUARD / f"{path.stem.removesuffix('-invalid')}.ttl").is_file(), path.name


def test_the_bundled_graph_is_the_authority(kg):
    """The guard judges submissions only: the bundled graph itself passes its SHACL rules."""
    report = validation.validate(kg)
    assert not [r for r in report.results if "guard" in str(r.node_shape).lower()
                or str(r.node_shape).endswith(("RealCountryCodeShape", "UniqueAuthorityLinkShape"))]


def test_the_code_lists_are_iso_3166_1():
    shapes = Graph().parse(ROOT / "shapes" / "guard.ttl")
    lists = {}
    for prop in shapes.subjects(SH.path, None):
        path = shapes.value(prop, SH.path)
        members = shapes.value(prop, SH["in"])
        if members is not None:
            lists[str(path).rsplit("#", 1)[-1]] = {str(v) for v in Collection(shapes, members)}
    assert lists["isoAlpha2"] == {c.alpha_2 for c in pycountry.countries} | {"XK"}
    assert lists["isoAlpha3"] == {c.alpha_3 for c in pycountry.countries} | {"XKX"}


def test_restating_is_allowed_but_adding_to_a_published_entity_is_not(kg):
    text = (GUARD / "region.ttl").read_text() + '\nstate:AT bp:inRegion region:european-union .\n'
    assert validation.validate(kg, text, filename="x.ttl").conforms
    extra = (GUARD / "region.ttl").read_text() + \
        '\nstate:AT <http://www.w3.org/2000/01/rdf-schema#comment> "A note."@en .\n'
    report = validation.validate(kg, extra, filename="x.ttl")
    assert not report.conforms and "published without rdfs:comment" in report.to_text()


def test_the_owner_of_an_entity_may_add_to_it(kg):
    from bpkg.guard import Guard

    data = Graph().parse(GUARD / "state.ttl")
    published = Graph().parse(GUARD / "state.ttl")
    nz = URIRef("https://w3id.org/bpkg/id/state/NZ")
    data.add((nz, URIRef("http://www.w3.org/2004/02/skos/core#altLabel"), Literal("Aotearoa", lang="en")))
    guard = Guard(published, {str(nz): "token-owner"})
    assert guard.check(data, "token-owner") == []
    assert [str(v) for _, _, v, _, _ in guard.check(data, "token-someone-else")] == ["Aotearoa"]


def test_bpkg_validate_applies_the_guard():
    done = subprocess.run([sys.executable, "-m", "bpkg", "validate", str(GUARD / "region-invalid.ttl")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "state:AT (Austria) is published with bp:inRegion region:european-union" \
        in done.stdout


def test_validate_endpoint_applies_the_guard(client):
    response = client.post("/validate", data=(GUARD / "cross-cutting-invalid.ttl").read_bytes(),
                           headers={"Content-Type": "text/turtle", "Accept": "application/json"})
    assert response.status_code in (200, 422)
    assert any("bp:crossCutting" in r["message"] for r in response.json["results"])
