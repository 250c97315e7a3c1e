"""The shapes: the bundled graph conforms, and each invalid fixture fails as it says.

Fixtures live in tests/shapes/, one self-describing file each (W3C data-shapes style):
``# expect: <Severity> <focus node> <path|<any>> | <part of the message>`` lines state the
results the file must produce; they are compared on (severity, focus, path, message).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rdflib import RDF, URIRef
from rdflib.namespace import SH

from bpkg import validation
from bpkg.namespaces import BPSH, expand

FIXTURES = sorted((Path(__file__).parent / "shapes").glob("*.ttl"))
EXPECT = re.compile(r"^# expect: (\w+) (\S+) (\S+) \| (.+)$")


def expectations(path: Path):
    found = [EXPECT.match(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [m.groups() for m in found if m]


def test_bundled_graph_conforms(kg):
    report = validation.validate(kg)
    violations = [(r.focus, r.path_text, r.message) for r in report.results if r.severity == "Violation"]
    assert violations == [], "\n".join(map(str, violations))
    assert report.conforms
    assert report.to_text().rstrip().endswith("conforms: true")


def test_bundled_report_has_completeness_warnings_only_as_warnings(kg):
    report = validation.validate(kg)
    assert set(report.counts) == {"Violation", "Warning", "Info"}
    assert all(r.severity in ("Warning", "Info") for r in report.results)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_invalid_fixture_fails_as_stated(kg, fixture):
    expected = expectations(fixture)
    assert expected, f"{fixture.name} states no '# expect:' line"
    report = validation.validate(kg, fixture.read_bytes(), filename=fixture.name)
    assert not report.conforms
    got = [(r.severity, r.focus, r.path_text, r.message, r.line) for r in report.results]
    for severity, focus, path, message in expected:
        focus_iri = expand(focus)
        matches = [g for g in got if g[0] == severity and g[1] == focus_iri
                   and (path == "<any>" or g[2] == path) and message in g[3]]
        assert matches, f"{fixture.name}: no {severity} on {focus} {path} saying {message!r}; got:\n" + \
            "\n".join(f"  {g[0]} {g[1]} {g[2]} {g[3]!r}" for g in got)
        assert all(m[4] for m in matches), f"{fixture.name}: result without a source line"


def test_every_class_has_a_node_shape(kg):
    shapes = validation.validator_for(kg).shapes
    targeted = set(shapes.objects(None, SH.targetClass))
    wanted = ["bp:Dialogue", "bp:State", "bp:Organisation", "bp:GoverningBody", "bp:WorkingGroup", "bp:Region",
              "bp:PriorityGoal", "bp:GcmObjective", "bp:GcmGuidingPrinciple", "bp:Project", "bp:Meeting",
              "bp:Event", "bp:Document", "bp:Alignment", "bp:Practice", "org:Membership", "time:Interval",
              "time:Instant", "prov:Association", "sdgo:Goal", "sdgo:Target"]
    missing = [c for c in wanted if expand(c) not in targeted]
    assert missing == []


def test_every_property_shape_speaks_plain_words(kg):
    shapes = validation.validator_for(kg).shapes
    silent = []
    for node_shape in shapes.subjects(RDF.type, SH.NodeShape):
        for prop in shapes.objects(node_shape, SH.property):
            if shapes.value(prop, SH.name) is None or shapes.value(prop, SH.message) is None:
                silent.append((node_shape, shapes.value(prop, SH.path)))
            if shapes.value(prop, SH.severity) is None:
                silent.append((node_shape, shapes.value(prop, SH.path), "no severity"))
    assert silent == []


def test_shapes_live_in_their_own_namespace(kg):
    shapes = validation.validator_for(kg).shapes
    named = [s for s in shapes.subjects(RDF.type, SH.NodeShape) if isinstance(s, URIRef)]
    assert named and all(str(s).startswith(str(BPSH)) for s in named)


def test_shape_files_mirror_kg():
    root = Path(validation.SHAPES_DIR)
    kg_files = {p.relative_to(root.parent / "kg").as_posix() for p in (root.parent / "kg").rglob("*.ttl")}
    for shape_file in root.rglob("*.ttl"):
        rel = shape_file.relative_to(root).as_posix()
        # core.ttl and guard.ttl (what a submission may not change) hold across every file.
        assert rel in ("core.ttl", "guard.ttl") or rel in kg_files, f"shapes/{rel} has no kg/{rel} to mirror"


def test_a_membership_without_period_is_a_warning_and_no_check_says_otherwise(kg):
    """The shapes are the rule book: a missing period is a gap to fill (Warning), not an error,
    and no integrity check in queries/checks/ calls it a violation."""
    submission = b"""
        PREFIX document: <https://w3id.org/bpkg/id/document/>
        PREFIX membership: <https://w3id.org/bpkg/id/membership/>
        PREFIX org: <http://www.w3.org/ns/org#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        PREFIX role: <https://w3id.org/bpkg/id/role/>
        membership:fixture-without-period a org:Membership ;
            org:member <https://w3id.org/bpkg/id/state/AF> ;
            org:organization <https://w3id.org/bpkg/id/organisation/budapest-process> ;
            org:role role:participating-state ;
            prov:wasDerivedFrom document:un-network-practice-budapest-process .
    """
    report = validation.validate(kg, submission, filename="membership.ttl")
    assert [(r.severity, r.path_text) for r in report.results if "period" in r.message.lower()] == \
        [("Warning", "org:memberDuring")]
    from bpkg import queries

    assert not any("memberDuring" in q.text for q in queries.checks().values())
