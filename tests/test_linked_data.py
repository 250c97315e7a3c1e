"""Dereferenceable IRIs: content negotiation, every subject answers, 404 with a hint, ETag/304,
the ontology and shapes documents, the VoID description and a configurable base IRI."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, XSD

from bpkg.namespaces import BASE, BP, ID, PREFIXES
from bpkg.store import graph_iri_for
from bpkg.web import create_app

ROOT = Path(__file__).resolve().parent.parent
VOID = Namespace(PREFIXES["void"])
DCAT = Namespace(PREFIXES["dcat"])
DATASET = URIRef(BASE + "dataset")

# The browsers' own default Accept headers for a page load.
CHROME = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
          "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

PARSE = {"text/turtle": "turtle", "application/ld+json": "json-ld", "application/n-triples": "nt",
         "application/rdf+xml": "xml"}


def path_of(iri: str) -> str:
    """Where this host answers for ``iri``: its own path under the base, else /resource?iri=."""
    if iri.startswith(BASE):
        return "/" + iri[len(BASE):]
    return "/resource?iri=" + iri


def parse(response) -> Graph:
    return Graph().parse(data=response.data, format=PARSE[response.mimetype])


def own_triples(kg, iri: URIRef) -> set:
    return set(kg.union().triples((iri, None, None)))


# -- content negotiation ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/turtle", "text/turtle"),
        ("application/ld+json", "application/ld+json"),
        ("application/n-triples", "application/n-triples"),
        ("application/rdf+xml", "application/rdf+xml"),
        ("text/html", "text/html"),
        ("application/json", "application/ld+json"),
        ("application/x-turtle", "text/turtle"),
        ("*/*", "text/turtle"),
        ("", "text/turtle"),
        ("application/rdf+xml;q=0.5, text/turtle;q=0.9", "text/turtle"),
        ("text/turtle;q=0.2, application/ld+json", "application/ld+json"),
        ("application/n-triples;q=0.9, text/html;q=0.1", "application/n-triples"),
        (CHROME, "text/html"),
        (FIREFOX, "text/html"),
    ],
    ids=lambda v: v[:30] if v else "none",
)
def test_content_negotiation(client, kg, accept, expected):
    r = client.get("/id/state/AF", headers={"Accept": accept} if accept else {})
    assert r.status_code == 200
    assert r.mimetype == expected
    assert "Accept" in r.headers.get("Vary", "")
    if expected == "text/html":
        assert "Afghanistan" in r.get_data(as_text=True)
    else:
        assert own_triples(kg, URIRef(ID + "state/AF")) <= set(parse(r))


@pytest.mark.parametrize(("ext", "expected"), [("ttl", "text/turtle"), ("jsonld", "application/ld+json"),
                                               ("nt", "application/n-triples"), ("rdf", "application/rdf+xml"),
                                               ("html", "text/html")])
def test_file_extension_picks_the_form_whatever_the_accept_header(client, kg, ext, expected):
    r = client.get(f"/id/priority-goal/3.{ext}", headers={"Accept": CHROME})
    assert r.status_code == 200 and r.mimetype == expected
    if ext != "html":
        assert own_triples(kg, URIRef(ID + "priority-goal/3")) <= set(parse(r))


def test_negotiated_response_names_its_document_and_alternates(client):
    r = client.get("/id/state/AF", headers={"Accept": "text/turtle"})
    assert r.headers["Content-Location"] == "/id/state/AF.ttl"
    assert '</id/state/AF.jsonld>; rel="alternate"' in r.headers["Link"]


def test_nothing_acceptable_is_406(client):
    r = client.get("/id/state/AF", headers={"Accept": "image/png"})
    assert r.status_code == 406
    assert "text/turtle" in r.get_data(as_text=True)


# -- every IRI answers ---------------------------------------------------------------

def kg_subjects(kg) -> list[URIRef]:
    """Every IRI used as a subject in kg/ (not the ontology), in its source files."""
    found = set()
    for f in kg.files:
        if f.path.startswith("kg/"):
            found |= {s for s in kg.dataset.graph(f.graph).subjects() if isinstance(s, URIRef)}
    return sorted(found)


def test_every_kg_subject_dereferences_to_its_own_triples(client, kg):
    subjects = kg_subjects(kg)
    assert len(subjects) > 500
    docs: dict[str, set] = {}
    failures = []
    for iri in subjects:
        document = str(iri).split("#", 1)[0]
        if document not in docs:
            r = client.get(path_of(document), headers={"Accept": "text/turtle"})
            if r.status_code != 200:
                failures.append(f"{document}: {r.status_code}")
                docs[document] = set()
                continue
            docs[document] = set(parse(r))
        missing = own_triples(kg, iri) - docs[document]
        if missing:
            failures.append(f"{iri}: {len(missing)} of its triples missing from {document}")
    assert not failures, "\n".join(failures[:20])


def test_hash_nodes_are_in_their_parents_document_not_their_own(client, kg):
    hashed = [s for s in kg_subjects(kg) if "#" in s]
    assert hashed, "expected #fragment dependent nodes in kg/"
    interval = URIRef(ID + "membership/AF-participating-or-observer-state-1#interval")
    r = client.get("/id/membership/AF-participating-or-observer-state-1", headers={"Accept": FIREFOX})
    html = r.get_data(as_text=True)
    assert 'id="interval"' in html and 'id="start"' in html
    assert own_triples(kg, interval) <= set(parse(client.get("/id/membership/AF-participating-or-observer-state-1.nt")))


@pytest.mark.parametrize("ext", ["ttl", "jsonld", "nt", "rdf"])
def test_one_resource_of_each_kind_in_every_form(client, kg, ext):
    by_kind = {}
    for s in kg_subjects(kg):
        if str(s).startswith(ID) and "#" not in s:
            by_kind.setdefault(str(s)[len(ID):].split("/")[0], s)
    for iri in by_kind.values():
        r = client.get(path_of(str(iri)) + "." + ext)
        assert r.status_code == 200, iri
        assert own_triples(kg, iri) <= set(parse(r)), f"{iri} as .{ext}"


def test_html_page_shows_labels_links_sources_and_incoming(client):
    html = client.get("/id/state/AF", headers={"Accept": CHROME}).get_data(as_text=True)
    assert "<h1>Afghanistan</h1>" in html
    assert 'href="/id/region/silk-routes"' in html and "Silk Routes" in html  # linked value with its label
    assert 'href="/ontology#inRegion"' in html  # the property links to its documentation
    assert 'id="sources"' in html and "https://www.budapestprocess.org/projects" in html
    assert 'id="incoming"' in html and 'href="/id/project/imm-silk-routes"' in html
    for ext in ("ttl", "jsonld", "nt", "rdf"):
        assert f'href="/id/state/AF.{ext}"' in html


def test_sdg_copies_answer_at_resource_and_link_from_pages(client, kg):
    r = client.get("/resource?iri=http://metadata.un.org/sdg/10.7", headers={"Accept": "text/turtle"})
    assert r.status_code == 200
    assert own_triples(kg, URIRef("http://metadata.un.org/sdg/10.7")) <= set(parse(r))
    page = client.get("/resource?iri=http://metadata.un.org/sdg/10", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "/resource?iri=http" in page


@pytest.mark.parametrize("bad", ["", "not an iri", "javascript:alert(1)", "http://x/<script>"])
def test_resource_lookup_refuses_bad_input_with_400(client, bad):
    r = client.get("/resource", query_string={"iri": bad})
    assert r.status_code == 400


# -- unknown IRIs -------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/id/state/ZZ", "/id/no-such-kind/x", "/id/project/silk-routes-zzz.ttl",
                                  "/dumps/bpkg.xyz", "/graph/kg/nothing"])
def test_unknown_iri_is_404_with_a_search_hint(client, path):
    html = client.get(path, headers={"Accept": FIREFOX})
    assert html.status_code == 404
    assert "/queries/search?text=" in html.get_data(as_text=True)
    plain = client.get(path, headers={"Accept": "text/turtle"})
    assert plain.status_code == 404 and "/queries/search?text=" in plain.get_data(as_text=True)


def test_search_hint_carries_the_key_as_words(client):
    body = client.get("/id/project/silk-routes-zzz", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "/queries/search?text=project%20silk%20routes%20zzz" in body


# -- ETag / Last-Modified / 304 -------------------------------------------------------------

@pytest.mark.parametrize("path", ["/id/state/AF", "/id/state/AF.ttl", "/ontology", "/shapes", "/.well-known/void",
                                  "/dumps/bpkg.nq", "/context.jsonld", "/alignments.sssom.tsv",
                                  "/resource?iri=http://metadata.un.org/sdg/10.7", "/graph/kg/states"])
def test_etag_from_the_dataset_version_and_304(client, kg, path):
    first = client.get(path)
    assert first.status_code == 200
    tag = first.headers["ETag"]
    assert kg.version in tag
    assert first.headers.get("Last-Modified")
    again = client.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == tag
    assert client.get(path, headers={"If-None-Match": '"something-else"'}).status_code == 200
    assert client.get(path, headers={"If-None-Match": f'"other", {tag}'}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304


def test_each_representation_has_its_own_etag(client):
    turtle = client.get("/id/state/AF", headers={"Accept": "text/turtle"}).headers["ETag"]
    html = client.get("/id/state/AF", headers={"Accept": "text/html"}).headers["ETag"]
    assert turtle != html
    r = client.get("/id/state/AF", headers={"Accept": "text/html", "If-None-Match": turtle})
    assert r.status_code == 200 and r.mimetype == "text/html"


# -- ontology ------------------------------------------------------------------------------

def test_ontology_html_documents_every_term_at_its_fragment(client, kg):
    html = client.get("/ontology", headers={"Accept": CHROME}).get_data(as_text=True)
    terms = {s for s in kg.dataset.graph(graph_iri_for("ontology/bp.ttl")).subjects() if str(s).startswith(str(BP))}
    assert len(terms) > 40
    missing = [t for t in terms if f'id="{str(t)[len(str(BP)):]}"' not in html]
    assert not missing, f"terms without an anchor on /ontology: {missing}"
    assert "Budapest Process ontology" in html
    assert "A sovereign country" in html  # bp:State's definition


@pytest.mark.parametrize("accept", ["text/turtle", "application/ld+json", "application/rdf+xml"])
def test_ontology_as_rdf_holds_every_ontology_triple(client, kg, accept):
    r = client.get("/ontology", headers={"Accept": accept})
    assert r.status_code == 200 and r.mimetype == accept
    ontology = set(kg.dataset.graph(graph_iri_for("ontology/bp.ttl")))
    assert ontology <= set(parse(r))


def test_ontology_version_iri_answers(client, kg):
    version = kg.union().value(URIRef(BASE + "ontology"), OWL.versionIRI)
    r = client.get(path_of(str(version)), headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and (URIRef(BASE + "ontology"), RDF.type, OWL.Ontology) in parse(r)


# -- shapes ----------------------------------------------------------------------------------

def test_shapes_page_says_what_each_class_must_have(client):
    shapes_dir = ROOT / "shapes"
    if not any(shapes_dir.rglob("*.ttl")):
        pytest.skip("shapes/ has no files yet")
    html = client.get("/shapes", headers={"Accept": CHROME}).get_data(as_text=True)
    assert "Rules for the data" in html
    assert "Every " in html and ("must have" in html or "may have" in html)


def test_shapes_as_turtle_hold_every_shape_file(client):
    files = sorted((ROOT / "shapes").rglob("*.ttl"))
    readable = Graph()
    for path in files:
        try:
            readable += Graph().parse(path, format="turtle")
        except Exception:  # a file being edited: the page reports it, the test does not judge it
            continue
    r = client.get("/shapes.ttl")
    assert r.status_code == 200 and r.mimetype == "text/turtle"
    served = parse(r)
    # Same size and the same ground triples (a full blank-node isomorphism check costs seconds).
    ground = lambda g: {t for t in g if not any(isinstance(x, BNode) for x in t)}  # noqa: E731
    assert len(served) == len(readable) and ground(served) == ground(readable)


def test_shapes_page_survives_a_broken_shape_file(kg, tmp_path):
    (tmp_path / "broken.ttl").write_text("# broken\nthis is not turtle .\n", encoding="utf-8")
    (tmp_path / "ok.ttl").write_text(
        "# ok\nPREFIX sh: <http://www.w3.org/ns/shacl#>\nPREFIX bp: <https://w3id.org/bpkg/ontology#>\n"
        "<https://w3id.org/bpkg/shapes#StateShape> a sh:NodeShape ; sh:targetClass bp:State ;\n"
        "  sh:property [ sh:path bp:isoAlpha2 ; sh:name \"code\"@en ; sh:minCount 1 ; sh:maxCount 1 ;\n"
        "  sh:pattern \"^[A-Z]{2}$\" ; sh:message \"Give the ISO code.\"@en ] .\n", encoding="utf-8")
    client = create_app({"TESTING": True, "KG": kg, "SHAPES_PATH": str(tmp_path)}).test_client()
    html = client.get("/shapes", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "broken.ttl" in html
    assert "must have exactly one code (bp:isoAlpha2)" in html and "Give the ISO code." in html


# -- the dataset description ---------------------------------------------------------------

def test_void_statistics_are_computed_from_the_loaded_graph(client, kg):
    r = client.get("/.well-known/void")
    assert r.status_code == 200 and r.mimetype == "text/turtle"
    void = parse(r)
    triples = {(q.subject, q.predicate, q.object) for q in kg.store}
    assert void.value(DATASET, VOID.triples) == Literal(len(triples), datatype=XSD.integer)
    assert int(void.value(DATASET, VOID.entities)) > 500
    assert str(void.value(DATASET, DCAT.version)) == kg.version
    parts = {void.value(p, VOID["class"]): int(void.value(p, VOID.entities)) for p in void.objects(DATASET, VOID.classPartition)}
    assert parts[BP.State] == 56 and parts[BP.Alignment] == 34
    props = {void.value(p, VOID.property): int(void.value(p, VOID.triples)) for p in void.objects(DATASET, VOID.propertyPartition)}
    assert props[BP.country] == len(set(kg.union().triples((None, BP.country, None))))
    linksets = {void.value(s, VOID.linkPredicate): s for s in void.subjects(RDF.type, VOID.Linkset)}
    assert {BP.relevantTarget, BP.country, URIRef(PREFIXES["owl"] + "sameAs"), URIRef(PREFIXES["schema"] + "sameAs")} <= set(linksets)
    wikidata = URIRef(BASE + "dataset#linkset-wikidata")
    assert int(void.value(wikidata, VOID.triples)) == sum(
        1 for _, _, o in kg.union().triples((None, URIRef(PREFIXES["owl"] + "sameAs"), None)) if str(o).startswith(PREFIXES["wd"]))
    assert int(void.value(URIRef(BASE + "dataset#linkset-eu-countries"), VOID.triples)) == 56


def test_void_keeps_every_hand_written_statement(client, kg):
    written = set(kg.dataset.graph(graph_iri_for("kg/dataset.ttl")))
    assert written, "kg/dataset.ttl is not loaded"
    assert written <= set(parse(client.get("/.well-known/void")))
    assert written <= set(parse(client.get("/dataset.ttl")))


def test_description_file_has_no_hand_kept_counts():
    text = (ROOT / "kg" / "dataset.ttl").read_text("utf-8")
    for term in ("void:triples", "void:entities", "void:classPartition", "void:propertyPartition", "void:distinct"):
        assert term not in text.split("PREFIX void:")[1].split("\n", 1)[1], f"{term} must be computed, not written"


def test_publisher_is_the_project_not_icmpd(kg):
    from rdflib.namespace import DCTERMS, FOAF
    graph = kg.dataset.graph(graph_iri_for("kg/dataset.ttl"))
    publisher = graph.value(DATASET, DCTERMS.publisher)
    assert str(graph.value(publisher, FOAF.name)) == "bpkg developers"
    assert "icmpd" not in str(publisher)


# -- a configurable base -----------------------------------------------------------------------

def test_public_base_maps_this_host_onto_another_base(tmp_path):
    data = tmp_path / "tiny.ttl"
    data.write_text("# tiny\nPREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n"
                    "<http://example.org/kg/id/thing/one> skos:prefLabel \"One\"@en ;\n"
                    "    skos:related <http://example.org/kg/id/thing/two> .\n"
                    "<http://example.org/kg/id/thing/two> skos:prefLabel \"Two\"@en .\n", encoding="utf-8")
    app = create_app({"TESTING": True, "KG_PATHS": [str(data)], "PUBLIC_BASE": "http://example.org/kg/"})
    client = app.test_client()
    r = client.get("/id/thing/one", headers={"Accept": "text/turtle"})
    assert r.status_code == 200
    assert (URIRef("http://example.org/kg/id/thing/one"), URIRef(PREFIXES["skos"] + "prefLabel"), Literal("One", lang="en")) in parse(r)
    html = client.get("/id/thing/one", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'href="/id/thing/two"' in html and "Two" in html
    assert client.get("/id/state/AF").status_code == 404
