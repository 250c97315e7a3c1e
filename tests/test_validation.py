"""Submissions: the CLI, the HTTP API and form, hostile input, concurrency, focused == full.

Every case goes through the one function, bpkg.validation.validate, by its three faces.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rdflib import Dataset, Graph, URIRef
from rdflib.namespace import SH

from bpkg import formats, validation
from bpkg.namespaces import expand
from servers import bpkg_cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
VALID = sorted(p for p in EXAMPLES.glob("*.ttl") if not p.stem.endswith("-invalid"))
INVALID = sorted(EXAMPLES.glob("*-invalid.ttl"))
PREFIXES = """PREFIX bp: <https://w3id.org/bpkg/ontology#>
PREFIX document: <https://w3id.org/bpkg/id/document/>
PREFIX organisation: <https://w3id.org/bpkg/id/organisation/>
PREFIX project: <https://w3id.org/bpkg/id/project/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX schema: <https://schema.org/>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""


def keys(report):
    return sorted((r.severity, str(r.focus), r.path_text or "", str(r.value), r.message) for r in report.results)


# -- examples ----------------------------------------------------------------------

def test_every_class_a_submitter_adds_has_a_valid_and_an_invalid_example():
    stems = {p.stem for p in EXAMPLES.glob("*.ttl")}
    for kind in ("project", "meeting", "membership", "practice"):
        assert {kind, f"{kind}-invalid"} <= stems


@pytest.mark.parametrize("example", VALID, ids=lambda p: p.stem)
def test_valid_example_is_acceptable(kg, example):
    report = validation.validate(kg, example.read_bytes(), filename=example.name)
    assert report.conforms, report.to_text()


@pytest.mark.parametrize("example", INVALID, ids=lambda p: p.stem)
def test_invalid_twin_has_violations_with_lines(kg, example):
    report = validation.validate(kg, example.read_bytes(), filename=example.name)
    violations = [r for r in report.results if r.severity == "Violation"]
    assert len(violations) >= 4, report.to_text()
    assert all(r.line for r in violations), report.to_text()


def test_context_of_the_graph_decides(kg):
    """Objective 9 exists; 24 does not; state:XX does not: only the knowledge graph can tell."""
    def project(objective, country):
        return PREFIXES + f"""
project:ctx a bp:Project ; skos:prefLabel "Context"@en ;
    bp:addressesGcmObjective <https://w3id.org/bpkg/id/gcm-objective/{objective}> ;
    bp:targetCountry <https://w3id.org/bpkg/id/state/{country}> ;
    prov:wasDerivedFrom document:budapestprocess-org-projects .
"""
    assert validation.validate(kg, project(9, "AF"), fmt=formats.syntax("turtle")).conforms
    bad = validation.validate(kg, project(24, "XX"), fmt=formats.syntax("turtle"))
    paths = sorted(r.path_text for r in bad.results if r.severity == "Violation")
    assert paths == ["bp:addressesGcmObjective", "bp:targetCountry"]
    gcm24 = next(r for r in bad.results if r.path_text == "bp:addressesGcmObjective")
    assert gcm24.value == URIRef("https://w3id.org/bpkg/id/gcm-objective/24") and gcm24.line == 11


def full_keys(report):
    """Everything a result says: focus node, path, value, constraint component, shape, severity, message."""
    return sorted(repr(r.baseline_key() + (r.severity,)) for r in report.results)


EVERY_EXAMPLE = sorted(EXAMPLES.glob("*.ttl")) + sorted((EXAMPLES / "guard").glob("*.ttl"))


@pytest.mark.parametrize("example", EVERY_EXAMPLE, ids=lambda p: p.relative_to(EXAMPLES).with_suffix("").as_posix())
def test_focused_validation_equals_full_revalidation(kg, example):
    """The check of a submission (only the nodes it can affect) reports exactly what a full
    validation of graph + submission reports beyond the graph's own results."""
    focused = validation.validate(kg, example.read_bytes(), filename=example.name)
    full = validation.validate(kg, example.read_bytes(), filename=example.name, method="full")
    assert full_keys(focused) == full_keys(full)
    assert [r.line for r in sorted(focused.results, key=repr)] == [r.line for r in sorted(full.results, key=repr)]


# -- nodes a submission does not mention ------------------------------------------------

NOT_MENTIONED = {
    # a sequence path through an inverse one (bp:isoAlpha2/^bp:isoAlpha2): state:AF now shares its code
    "inverse path": ("""PREFIX bp: <https://w3id.org/bpkg/ontology#>
PREFIX state: <https://w3id.org/bpkg/id/state/>
state:QQ bp:isoAlpha2 "AF" .
""", "https://w3id.org/bpkg/id/state/AF", "bp:isoAlpha2/^bp:isoAlpha2"),
    # a SHACL-SPARQL constraint joining two states through their authority link
    "SPARQL join": ("""PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX state: <https://w3id.org/bpkg/id/state/>
state:QQ a <https://w3id.org/bpkg/ontology#State> ; owl:sameAs <http://www.wikidata.org/entity/Q889> .
""", "https://w3id.org/bpkg/id/state/AF", None),
}


@pytest.mark.parametrize("case", sorted(NOT_MENTIONED))
def test_a_node_the_submission_does_not_mention_is_still_checked(kg, case):
    text, node, path = NOT_MENTIONED[case]
    report = validation.validate(kg, text, fmt=formats.syntax("turtle"))
    assert node not in text and any(str(r.focus) == node and r.path_text == path and r.severity == "Violation"
                                     for r in report.results), report.to_text()
    full = validation.validate(kg, text, fmt=formats.syntax("turtle"), method="full")
    assert full_keys(report) == full_keys(full)


CLASS_SHAPES = """PREFIX bp: <https://w3id.org/bpkg/ontology#>
PREFIX sh: <http://www.w3.org/ns/shacl#>
<urn:x:CountryNotRegion> a sh:NodeShape ; sh:targetClass bp:Project ;
    sh:property [ sh:path bp:targetCountry ; sh:not [ sh:class bp:Region ] ;
                  sh:message "A target country is not a region."@en ] .
"""


def test_a_new_type_is_checked_where_the_shapes_read_it(kg, tmp_path):
    """Typing state:AF as a region breaks every published project that targets it: the
    submission names none of them; the shapes' sh:class reaches them through bp:targetCountry."""
    (tmp_path / "shapes.ttl").write_text(CLASS_SHAPES)
    text = "<https://w3id.org/bpkg/id/state/AF> a <https://w3id.org/bpkg/ontology#Region> ."
    report = validation.validate(kg, text, fmt=formats.syntax("turtle"), shapes_dir=tmp_path)
    projects = {str(r.focus) for r in report.results if str(r.node_shape) == "urn:x:CountryNotRegion"}
    assert len(projects) > 1 and all(p.startswith("https://w3id.org/bpkg/id/project/") for p in projects), report.to_text()
    full = validation.validate(kg, text, fmt=formats.syntax("turtle"), shapes_dir=tmp_path, method="full")
    assert full_keys(report) == full_keys(full)


def test_shapes_whose_reach_cannot_be_bounded_get_the_full_check(kg, tmp_path):
    """A SPARQL pattern not joined to $this can read any triple: every check is then a full one."""
    (tmp_path / "shapes.ttl").write_text("""PREFIX sh: <http://www.w3.org/ns/shacl#>
<urn:x:NoTwins> a sh:NodeShape ; sh:targetClass <https://w3id.org/bpkg/ontology#State> ;
    sh:sparql [ sh:message "Somewhere a project is called Twin."@en ; sh:select \"\"\"
        SELECT $this WHERE { ?p <http://www.w3.org/2004/02/skos/core#prefLabel> "Twin"@en }\"\"\" ] .
""")
    assert validation.validator_for(kg, tmp_path)._checker()[2] is None
    text = '<https://w3id.org/bpkg/id/project/x> <http://www.w3.org/2004/02/skos/core#prefLabel> "Twin"@en .'
    report = validation.validate(kg, text, fmt=formats.syntax("turtle"), shapes_dir=tmp_path)
    assert "https://w3id.org/bpkg/id/state/AF" in {str(r.focus) for r in report.results}


@pytest.mark.parametrize("triples,path", [
    ('skos:prefLabel "Projet sans nom anglais"@fr', "skos:prefLabel"),  # sh:qualifiedValueShape on a literal
    ('skos:prefLabel "Dated"@en ; schema:startDate "2019"', "schema:startDate"),  # sh:or on a literal
])
def test_nested_shapes_judge_literal_values(kg, triples, path):
    """pySHACL's focus_nodes option lets a nested shape pass on any value that is not a focus
    node (every literal): the check does not use it."""
    text = PREFIXES + f"project:nested a bp:Project ; {triples} ; prov:wasDerivedFrom document:budapestprocess-org-projects ."
    report = validation.validate(kg, text, fmt=formats.syntax("turtle"))
    assert any(r.path_text == path and r.severity == "Violation" for r in report.results), report.to_text()
    assert not report.conforms


# -- every RDF syntax --------------------------------------------------------------

SYNTAXES = [("json-ld", "application/ld+json"), ("xml", "application/rdf+xml"), ("nt", "application/n-triples"),
            ("nquads", "application/n-quads"), ("trig", "application/trig")]


@pytest.mark.parametrize("rdflib_format,media_type", SYNTAXES)
def test_every_syntax_gives_the_same_report(kg, rdflib_format, media_type):
    source = EXAMPLES / "project-invalid.ttl"
    reference = validation.validate(kg, source.read_bytes(), filename=source.name)
    if rdflib_format in ("nquads", "trig"):
        ds = Dataset()
        ds.graph(URIRef("https://w3id.org/bpkg/graph/submission")).parse(source, format="turtle")
        text = ds.serialize(format=rdflib_format)
    else:
        text = Graph().parse(source, format="turtle").serialize(format=rdflib_format)
    report = validation.validate(kg, text, media_type=media_type)
    assert keys(report) == keys(reference)
    if rdflib_format in ("xml", "nt", "nquads", "trig"):
        assert all(r.line for r in report.results), report.to_text()


# -- syntax errors -------------------------------------------------------------------

def test_syntax_error_names_line_and_column(kg):
    with pytest.raises(validation.SubmissionError) as info:
        validation.validate(kg, PREFIXES + "project:x a bp:Project ;\n    skos:prefLabel \"x\"@en\n    bp:oops .\n",
                            filename="broken.ttl")
    err = info.value
    assert err.kind == "syntax" and err.line == 11 and err.column and err.source == "broken.ttl"
    assert str(err).startswith("broken.ttl:11:")


# -- hostile input ---------------------------------------------------------------------

def test_observer_does_see_a_real_request(observer):
    """The observer itself works, so its silence in the tests below means something."""
    import urllib.request

    urllib.request.urlopen(observer.url + "ping", timeout=5).read()
    assert observer.seen == ["/ping"]


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">
  <rdf:Description rdf:about="http://example.org/a"><ex:p>&secret;</ex:p></rdf:Description>
</rdf:RDF>
"""
BOMB = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' + b"".join(
    f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode() for i in range(1, 10)
) + b']>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">' \
    b'<rdf:Description rdf:about="http://example.org/a"><ex:p>&lol9;</ex:p></rdf:Description></rdf:RDF>\n'


@pytest.mark.parametrize("document", [XXE, BOMB], ids=["external-entity", "entity-expansion-bomb"])
def test_rdfxml_with_a_dtd_is_refused_before_parsing(client, document):
    r = client.post("/validate", data=document, headers={"Content-Type": "application/rdf+xml"})
    assert r.status_code == 400
    assert r.json["error"] == "refused" and "DOCTYPE" in r.json["message"] and r.json["line"] == 2


def test_jsonld_remote_context_is_refused_and_never_fetched(client, observer):
    for context in (observer.url + "ctx.jsonld", [observer.url + "a.jsonld"], {"@import": observer.url + "b"}):
        doc = {"@context": context, "@id": "https://w3id.org/bpkg/id/project/x", "name": "x"}
        r = client.post("/validate", data=json.dumps(doc), headers={"Content-Type": "application/ld+json"})
        assert r.status_code == 400 and r.json["error"] == "refused", r.json
    nested = {"@context": {"p": {"@id": "http://example.org/p", "@context": observer.url + "scoped"}},
              "@id": "http://example.org/x", "p": {"q": 1}}
    r = client.post("/validate", data=json.dumps(nested), headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 400 and r.json["error"] == "refused"
    assert observer.seen == []


def test_owl_imports_is_not_followed(kg, observer):
    text = (EXAMPLES / "project.ttl").read_text() + f"\n<https://w3id.org/bpkg/id/project/example-labour-mobility> " \
        f"<http://www.w3.org/2002/07/owl#imports> <{observer.url}more.ttl> .\n"
    report = validation.validate(kg, text, filename="imports.ttl")
    assert report.conforms
    assert any(r.path_text == "owl:imports" and r.severity == "Info" for r in report.results)
    assert observer.seen == []


def test_submitted_shapes_are_ignored(kg, observer):
    hostile = f"""
PREFIX sh: <http://www.w3.org/ns/shacl#>
PREFIX bp: <https://w3id.org/bpkg/ontology#>
<urn:evil:shape> a sh:NodeShape ;
    sh:targetClass bp:Project ;
    sh:property [ sh:path bp:nonsense ; sh:minCount 1 ; sh:message "submitted shape applied" ] ;
    sh:sparql [ sh:select "SELECT $this WHERE {{ S\\\\u0045RVICE <{observer.url}sparql> {{ ?s ?p ?o }} }}" ] .
"""
    text = (EXAMPLES / "project.ttl").read_text() + hostile
    report = validation.validate(kg, text, filename="shapes.ttl")
    assert report.conforms, report.to_text()
    assert not any("submitted shape applied" in r.message for r in report.results)
    assert any(r.severity == "Info" and "ignored" in r.message for r in report.results)
    assert observer.seen == []


@pytest.mark.parametrize("date", ["2019-02-30", "soon"])
def test_ill_typed_date_is_a_violation_at_its_triple(kg, date):
    text = PREFIXES + f"""
project:ill-typed a bp:Project ;
    skos:prefLabel "Ill-typed"@en ;
    schema:startDate "{date}"^^xsd:date ;
    schema:endDate "2019-01-01"^^xsd:date ;
    prov:wasDerivedFrom document:budapestprocess-org-projects .
"""
    report = validation.validate(kg, text, filename="dates.ttl")
    assert not report.conforms
    [result] = [r for r in report.results if r.severity == "Violation"]
    assert result.path_text == "schema:startDate" and str(result.value) == date and result.line == 12
    assert "is not a valid xsd:date" in result.message


def test_ontology_changes_are_violations(kg):
    text = PREFIXES + "bp:Project <http://www.w3.org/2000/01/rdf-schema#subClassOf> bp:GcmObjective .\n"
    report = validation.validate(kg, text, filename="axiom.ttl")
    assert not report.conforms and "cannot change the ontology" in report.results[0].message


def test_oversized_submission_is_refused(kg):
    with pytest.raises(validation.SubmissionError) as info:
        validation.validate(kg, b"#" * (validation.DEFAULT_MAX_BYTES + 1), filename="big.ttl")
    assert info.value.status == 413 and f"{validation.DEFAULT_MAX_BYTES:,}" in info.value.message


# -- concurrency -------------------------------------------------------------------------

def test_sixteen_concurrent_validations_are_independent(kg):
    examples = (VALID + INVALID) * 2
    examples = examples[:16]
    expected = {p: keys(validation.validate(kg, p.read_bytes(), filename=p.name)) for p in set(examples)}
    with ThreadPoolExecutor(max_workers=16) as pool:
        reports = list(pool.map(lambda p: validation.validate(kg, p.read_bytes(), filename=p.name), examples))
    assert len(reports) == 16
    for path, report in zip(examples, reports):
        assert keys(report) == expected[path], path.name


# -- CLI -----------------------------------------------------------------------------------

def test_cli_bundled_graph_conforms():
    run = bpkg_cli("validate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.rstrip().splitlines()[-1] == "conforms: true"


def test_cli_valid_and_invalid_files():
    ok = bpkg_cli("validate", "examples/project.ttl")
    assert ok.returncode == 0 and ok.stdout.rstrip().endswith("conforms: true")
    bad = bpkg_cli("validate", "examples/project-invalid.ttl", "--format", "json")
    assert bad.returncode == 1
    doc = json.loads(bad.stdout)
    assert doc["conforms"] is False and doc["counts"]["violation"] == 4
    assert {"severity", "focus_node", "path", "value", "message", "constraint", "source_shape", "line"} <= set(doc["results"][0])


def test_cli_unreadable_input_exits_2_with_position(tmp_path):
    broken = tmp_path / "broken.ttl"
    broken.write_text("PREFIX ex: <http://example.org/>\nex:a ex:b .\n")
    run = bpkg_cli("validate", str(broken))
    assert run.returncode == 2
    assert f"{broken}:2:" in run.stderr
    assert bpkg_cli("validate", str(tmp_path / "missing.ttl")).returncode == 2
    assert bpkg_cli("validate", "--format", "yaml").returncode == 2


@pytest.mark.parametrize("fmt,parse_as", [("turtle", "turtle"), ("jsonld", "json-ld")])
def test_cli_shacl_report(fmt, parse_as):
    run = bpkg_cli("validate", "examples/membership-invalid.ttl", "--format", fmt)
    assert run.returncode == 1
    g = Graph().parse(data=run.stdout, format=parse_as)
    assert (None, SH.conforms, None) in g and len(list(g.subjects(SH.resultSeverity, SH.Violation))) == 5


# -- HTTP ------------------------------------------------------------------------------------

def test_http_raw_body_json_report(client):
    body = (EXAMPLES / "project-invalid.ttl").read_bytes()
    r = client.post("/validate", data=body, headers={"Content-Type": "text/turtle", "Accept": "application/json"})
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.json["conforms"] is False and r.json["counts"] == {"violation": 4, "warning": 0, "info": 0}
    gcm = next(x for x in r.json["results"] if x["path"] == "bp:addressesGcmObjective")
    assert gcm["value"] == str(expand("gcm:24")) and gcm["line"] == 28
    assert gcm["constraint"] == "sh:ClassConstraintComponent" and gcm["source_shape"] == "bpsh:ProjectShape"


@pytest.mark.parametrize("accept,mimetype,rdflib_format", [
    ("text/turtle", "text/turtle", "turtle"), ("application/ld+json", "application/ld+json", "json-ld")])
def test_http_shacl_report_by_negotiation(client, accept, mimetype, rdflib_format):
    body = (EXAMPLES / "meeting-invalid.ttl").read_bytes()
    r = client.post("/validate", data=body, headers={"Content-Type": "text/turtle", "Accept": accept})
    assert r.status_code == 200 and r.mimetype == mimetype
    g = Graph().parse(data=r.data, format=rdflib_format)
    assert (None, SH.conforms, None) in g and len(list(g.subjects(SH.resultSeverity, SH.Violation))) == 4


def test_http_html_report_links_iris(client):
    body = (EXAMPLES / "project-invalid.ttl").read_bytes()
    r = client.post("/validate", data=body, headers={"Content-Type": "text/turtle", "Accept": "text/html"})
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert 'href="/id/gcm-objective/24"' in html and 'href="/id/project/example-labour-mobility-invalid"' in html
    assert "conforms: false" in html


def test_http_multipart_upload_and_paste(client):
    body = (EXAMPLES / "membership-invalid.ttl").read_bytes()
    r = client.post("/validate", data={"file": (io.BytesIO(body), "membership.ttl")},
                    content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json["counts"]["violation"] == 5
    r = client.post("/validate", data={"data": body.decode(), "format": "turtle"}, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json["counts"]["violation"] == 5
    r = client.post("/validate", data={"data": body.decode(), "format": "turtle"}, headers={"Accept": "text/html"})
    assert r.status_code == 200 and "membership:example-ZZ-invalid" in r.get_data(as_text=True)


def test_http_page(client):
    r = client.get("/validate")
    assert r.status_code == 200 and 'type="file"' in r.get_data(as_text=True) and "<textarea" in r.get_data(as_text=True)


def test_http_bad_requests_are_clear_4xx(client, app):
    cases = [
        (dict(data=b"", headers={"Content-Type": "text/turtle"}), 400, "empty"),
        (dict(data=b"<a> <b> <c> ."), 415, "unknown-format"),
        (dict(data=b"a,b\n", headers={"Content-Type": "text/csv"}), 415, "unknown-format"),
        (dict(data=b'{"@id": "http://example.org/a"}', headers={"Content-Type": "text/turtle"}), 400, "syntax"),
        (dict(data={"data": "", "format": "turtle"}), 400, "empty"),
        (dict(data={"data": "<a> <b> <c> ."}), 415, "unknown-format"),
        (dict(data=b"x", headers={"Content-Type": "text/turtle", "Accept": "image/png"}), 406, "not-acceptable"),
    ]
    for kwargs, status, kind in cases:
        r = client.post("/validate", **kwargs)
        assert (r.status_code, r.json["error"]) == (status, kind), (kwargs, r.json)
    wrong = client.post("/validate", data=b'{"@id": "x"}', headers={"Content-Type": "text/turtle"})
    assert wrong.json["line"] == 1 and wrong.json["column"] == 1 and "Turtle" in wrong.json["message"]


def test_http_twenty_megabytes_get_413_with_the_limit(client):
    r = client.post("/validate", data=b"#" * (20 * 1024 * 1024), headers={"Content-Type": "text/turtle"})
    assert r.status_code == 413
    assert f"{validation.DEFAULT_MAX_BYTES:,} bytes" in r.json["message"]


# -- IRIs of every scheme (pySHACL reads some as CURIEs) ------------------------------

OTHER_SCHEMES = ["mailto:focal.point@example.org", "tag:example.org,2020:x", "doi:10.1000/182",
                 "ftp://example.org/factsheet.pdf", "schema:x", "owl:y", "did:example:123", "x-unknown:z"]


@pytest.mark.parametrize("iri", OTHER_SCHEMES)
def test_iris_of_every_scheme_validate_like_the_full_run(kg, iri):
    """A subject and an object with a scheme pySHACL does not know: a report, never a crash,
    and the same results as re-validating everything."""
    doc = (EXAMPLES / "project.ttl").read_text() + f"\n<{iri}> a bp:Project .\nproject:example-labour-mobility " \
                                                   f"schema:sameAs <{iri}> ; prov:wasDerivedFrom <{iri}> .\n"
    focused = validation.validate(kg, doc.encode(), filename="x.ttl")
    full = validation.validate(kg, doc.encode(), filename="x.ttl", method="full")
    assert keys(focused) == keys(full)
    assert any(str(r.focus) == iri for r in focused.results)  # the odd IRI was itself a focus node


def test_http_other_schemes_are_a_report_not_a_500(client):
    doc = (EXAMPLES / "project.ttl").read_text() + "\nproject:example-labour-mobility schema:sameAs <tag:x.org,2020:y> .\n"
    r = client.post("/validate", data=doc.encode(), content_type="text/turtle", headers={"Accept": "application/json"})
    assert r.status_code in (200, 422), r.data[:300]
    assert "results" in r.get_json()


def test_cli_other_schemes_exit_with_a_verdict(tmp_path):
    doc = tmp_path / "odd.ttl"
    doc.write_text((EXAMPLES / "project.ttl").read_text() + "\nproject:example-labour-mobility schema:sameAs <doi:10.1/x> .\n")
    done = bpkg_cli("validate", str(doc))
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr[-500:]
    assert "conforms:" in done.stdout
