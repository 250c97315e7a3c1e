"""Dereferenceable IRIs: every IRI we mint answers, as HTML for people and RDF for machines.

A path on this host maps onto the public base IRI (``app.config["PUBLIC_BASE"]``), so
``/id/state/AF`` answers for ``https://w3id.org/bpkg/id/state/AF``. The representation is
chosen by a file extension (``.ttl .jsonld .nt .rdf .html``) or, without one, by the
``Accept`` header (q-values honoured; Turtle when anything goes). A resource's description
is its own triples plus those of its ``#fragment`` dependent nodes (intervals, instants,
associations), so a hash IRI is answered by its parent's document.

Also here: ``/ontology`` (documentation generated from the ontology), ``/shapes`` (the
rules in plain words), ``/dataset`` and ``/.well-known/void`` (VoID/DCAT with computed
statistics), ``/graph/...`` (one named graph), the dumps under ``/dumps/``, the JSON-LD
context and the SSSOM alignments. Every data response carries an ETag and Last-Modified
derived from the dataset version and answers a matching ``If-None-Match`` with 304.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from datetime import datetime, timezone
from urllib.parse import quote

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from rdflib import RDF, RDFS, BNode, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, OWL, SKOS

from .. import formats, publishing
from ..data_files import ROOT
from ..namespaces import BASE, PREFIXES, PROV, SCHEMA, bind, curie, short_name
from ..shapes import load_shapes
from ..store import KnowledgeGraph
from .context import get_kg, local_path, public_base, shapes_folder
from .shape_rules import describe_shapes

bp = Blueprint("resources", __name__)

# Representations of a description, by URL extension (.ttl .jsonld .nt .rdf); the order is the
# server's preference when the client accepts several equally (Turtle for "*/*").
RDF_FORMS = {f.extensions[0][1:]: f for f in map(formats.syntax, ("turtle", "jsonld", "ntriples", "rdfxml"))}
SERIALISERS = {"ttl": "longturtle", "nt": "nt", "rdf": "pretty-xml"}  # rdflib's writers; JSON-LD is publishing's
EXTENSION = re.compile(r"^(?P<stem>.+)\.(?P<ext>ttl|jsonld|nt|rdf|html)$")
LABEL_PREDICATES = (SKOS.prefLabel, RDFS.label, DCTERMS.title, URIRef(PREFIXES["foaf"] + "name"), SKOS.notation)
INCOMING_LIMIT = 500
# Plain names for the terms we reuse from other vocabularies (the graph holds labels only for
# its own bp: terms), so that a page reads "member of", not org:memberOf.
TERM_NAMES = {
    "rdf:type": "type", "rdfs:label": "label", "rdfs:comment": "comment", "rdfs:seeAlso": "see also",
    "skos:prefLabel": "name", "skos:altLabel": "also called", "skos:definition": "definition",
    "skos:scopeNote": "note", "skos:example": "example", "skos:notation": "number", "skos:inScheme": "in scheme",
    "skos:topConceptOf": "top concept of", "skos:hasTopConcept": "top concept", "skos:broader": "broader",
    "skos:narrower": "narrower", "skos:relatedMatch": "related (alignment)", "skos:exactMatch": "same as",
    "skos:closeMatch": "close match", "org:memberOf": "member of", "org:hasMembership": "membership",
    "org:member": "member", "org:organization": "in", "org:role": "role", "org:memberDuring": "period",
    "org:hasUnit": "has unit", "org:unitOf": "unit of", "org:subOrganizationOf": "part of",
    "org:hasSubOrganization": "has part", "org:classification": "kind of organisation",
    "prov:wasDerivedFrom": "source", "prov:qualifiedAssociation": "partner", "prov:agent": "agent",
    "prov:hadRole": "role", "schema:startDate": "start", "schema:endDate": "end", "schema:location": "place",
    "schema:foundingDate": "founded", "schema:url": "web page", "schema:sameAs": "same as (elsewhere)",
    "schema:funder": "funded by", "dct:title": "title", "dct:dateSubmitted": "submitted",
    "dct:description": "description", "dct:source": "source", "dct:license": "licence",
    "time:hasBeginning": "beginning", "time:hasEnd": "end", "time:inXSDDate": "date",
    "time:inXSDgYear": "year", "time:inXSDgYearMonth": "month", "owl:sameAs": "same as",
    "sdgo:isTargetOf": "target of", "sdgo:hasTarget": "target", "foaf:name": "name",
}
FIRST = ("rdf:type", "skos:prefLabel", "skos:altLabel", "skos:notation", "skos:definition")  # page order
NATURAL = re.compile(r"(\d+)")


def natural(text: str) -> tuple:
    """A sort key that puts gcm-2 before gcm-10."""
    return tuple(int(part) if part.isdigit() else part for part in NATURAL.split(text.lower()))


# -- Per-app index (the graph is read-only, so it is built once) ----------------------

class Labels:
    """Display names, looked up in the graph for each IRI the first time it is shown: the
    preferred label (skos:prefLabel, rdfs:label, dct:title, foaf:name, skos:notation; English
    or untagged first), the plain names of the reused terms, or, for memberships and
    alignments, which have no label of their own, what they join."""

    KEEP = 100_000  # names remembered at once (the graph is read-only; past this, start again)

    def __init__(self, graph: Graph):
        self.graph = graph
        self._known: dict[str, str | None] = {}

    def get(self, iri, default=None):
        iri = str(iri)
        if iri not in self._known:
            if len(self._known) >= self.KEEP:
                self._known.clear()
            self._known[iri] = self._find(iri)
        found = self._known[iri]
        return default if found is None else found

    def __contains__(self, iri) -> bool:
        return self.get(iri) is not None

    def _find(self, iri: str) -> str | None:
        node = URIRef(iri)
        best = None
        for rank, p in enumerate(LABEL_PREDICATES):
            for o in self.graph.objects(node, p):
                if isinstance(o, Literal):
                    key = (rank, o.language not in ("en", None), str(o))
                    best = key if best is None or key < best else best
        if best is not None:
            return best[2]
        if iri in _TERM_NAMES:
            return _TERM_NAMES[iri]
        return self._joined(node)

    def _joined(self, node: URIRef) -> str | None:
        """Memberships and alignments have no label of their own: name them by what they join."""
        g, org, bp_ = self.graph, PREFIXES["org"], PREFIXES["bp"]
        if (node, RDF.type, URIRef(org + "Membership")) in g:
            member, role, body = (g.value(node, URIRef(org + p)) for p in ("member", "role", "organization"))
            if member is not None and role is not None:
                return f"{self.get(member, curie(str(member)))}: {self.get(role, curie(str(role)))}" + \
                       (f", {self.get(body, curie(str(body)))}" if body is not None else "")
        if (node, RDF.type, URIRef(bp_ + "Alignment")) in g:
            goal, objective = g.value(node, URIRef(bp_ + "alignedFrom")), g.value(node, URIRef(bp_ + "alignedTo"))
            if goal is not None and objective is not None:
                number = lambda n: str(g.value(n, SKOS.notation) or curie(str(n)))  # noqa: E731
                return f"Priority goal {number(goal)} → GCM objective {number(objective)}: " \
                       f"{self.get(objective, '')}".rstrip(": ")
        return None


_TERM_NAMES = {PREFIXES[name.split(":", 1)[0]] + name.split(":", 1)[1]: label for name, label in TERM_NAMES.items()}


class Index:
    """What pages ask of one loaded graph, answered by the engine: nothing is copied, so the
    first page costs what any page costs, whatever the size of the graph."""

    def __init__(self, kg: KnowledgeGraph):
        self.kg = kg
        self.union = kg.union()
        self.labels = Labels(self.union)
        self._fragments: dict[str, list[URIRef]] | None = None
        self._lock = threading.Lock()

    @property
    def dependents(self) -> dict[str, list[URIRef]]:
        """Parent IRI -> its ``#fragment`` nodes (sorted): one pass of the engine over the
        subjects, made on first use; only the fragment IRIs reach Python."""
        with self._lock:
            if self._fragments is None:
                names = " ".join(f"<{g}>" for g in self.kg.graph_names)
                found: dict = defaultdict(list)
                for row in self.kg.engine.query(
                        f"SELECT DISTINCT ?s WHERE {{ GRAPH ?g {{ ?s ?p ?o }} VALUES ?g {{ {names} }} "
                        f"FILTER (isIRI(?s) && CONTAINS(STR(?s), \"#\")) }}"):
                    iri = row["s"].value
                    found[URIRef(iri.split("#", 1)[0])].append(URIRef(iri))
                for parts in found.values():
                    parts.sort()
                self._fragments = dict(found)
            return self._fragments

    def has_triples(self, iri: URIRef) -> bool:
        return (iri, None, None) in self.union

    def described(self, iri: URIRef) -> bool:
        return self.has_triples(iri) or iri in self.dependents


def index() -> Index:
    ext = current_app.extensions
    with _LOCK:
        if "bpkg.resources" not in ext or ext["bpkg.resources"].kg is not get_kg():
            ext["bpkg.resources"] = Index(get_kg())
    return ext["bpkg.resources"]


_LOCK = threading.Lock()


def _cached(name: str, build):
    """One value per app (and graph version), built on first use."""
    store = current_app.extensions.setdefault("bpkg.published", {})
    key = (name, get_kg().version)
    with _LOCK:
        if key not in store:
            store[key] = build()
        return store[key]


def iri_for_path(path: str) -> URIRef:
    return URIRef(public_base() + path.lstrip("/"))


def local_href(iri: str) -> str:
    """Where a browser on this host should go for ``iri``."""
    path = local_path(iri)
    if path is not None:
        return path
    if index().has_triples(URIRef(iri)):
        return url_for("resources.external", iri=iri)
    return iri


# -- Descriptions -------------------------------------------------------------------

def description(source, iri: URIRef, parts) -> Graph:
    """``iri``'s own triples, its dependent nodes' triples, and any blank nodes they reach."""
    graph = bind(Graph())
    todo, seen = [iri, *parts], set()
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        for s, p, o in source.triples((node, None, None)):
            graph.add((s, p, o))
            if isinstance(o, BNode):
                todo.append(o)
    return graph


def serialise(graph: Graph, ext: str) -> bytes:
    if ext == "jsonld":
        return publishing.to_jsonld(graph)
    data = graph.serialize(format=SERIALISERS[ext])
    return data.encode("utf-8") if isinstance(data, str) else data


def servable(ext: str | None) -> bool:
    """Whether a requested form (an extension, or none: negotiate) is one we serve."""
    return ext is None or ext in (*RDF_FORMS, "html")


def negotiate() -> str | None:
    """The form the client prefers (an extension key or "html"), None if nothing fits."""
    chosen = formats.negotiate((*RDF_FORMS.values(), formats.HTML), request.headers.get("Accept"))
    if chosen is None:
        return None
    return "html" if chosen is formats.HTML else chosen.extensions[0][1:]


def last_modified(kg: KnowledgeGraph) -> datetime:
    """The newest source file of this version (so it changes when the data does)."""
    def build():
        times = [(ROOT / f.path).stat().st_mtime for f in kg.files if (ROOT / f.path).is_file()]
        if kg.modified:  # the last accept or revoke of a submission
            times.append(datetime.fromisoformat(kg.modified.replace("Z", "+00:00")).timestamp())
        stamp = max(times) if times else datetime.now(timezone.utc).timestamp()
        return datetime.fromtimestamp(int(stamp), timezone.utc)
    return _cached("last-modified", build)


def conditional(response: Response, tag: str, vary: bool = True) -> Response:
    """Add ETag / Last-Modified from the dataset version; turn into 304 when they match."""
    kg = get_kg()
    response.set_etag(f"{kg.version}-{tag}")
    response.last_modified = last_modified(kg)
    response.headers["Cache-Control"] = "public, max-age=300"
    if vary:
        response.vary.add("Accept")
    return response.make_conditional(request)


def not_acceptable() -> Response:
    types = ", ".join([f.media_type for f in RDF_FORMS.values()] + ["text/html"])
    return Response(f"406 Not Acceptable: this resource is available as {types}.\n", 406, mimetype="text/plain")


def not_found(text: str, suggestion: str | None = None) -> Response:
    words = " ".join(re.split(r"[-_/.#]+", text)).strip()
    search = request.script_root + "/queries/search?text=" + quote(words)
    if negotiate() == "html":
        body = render_template("resources/not_found.html", iri=iri_for_path(request.path), words=words, search=search,
                               suggestion=suggestion)
        return Response(body, 404, mimetype="text/html")
    hint = f"Did you mean {suggestion}?\n" if suggestion else ""
    return Response(f"404 Not Found: nothing is known about <{iri_for_path(request.path)}>.\n"
                    f"{hint}Try a search: {search}\n", 404, mimetype="text/plain")


def prefix_path_suggestion(kind: str, key: str) -> str | None:
    """/id/goal/5 is a natural guess from ``goal:5``: point at the path the prefix stands for."""
    namespace = PREFIXES.get(kind, "")
    if namespace.startswith(BASE + "id/") and namespace != BASE + f"id/{kind}/":
        iri = URIRef(namespace + key)
        if index().described(iri_for_path(str(iri)[len(BASE):])):
            return request.script_root + "/" + str(iri)[len(BASE):]
    return None


def answer(iri: URIRef, source, parts, ext: str | None, html, alt, tag: str = "") -> Response:
    """Serve the description of ``iri`` in the requested form (``ext``) or the negotiated one.

    ``html`` builds the page (only when asked for); ``alt(ext)`` is the URL of one form.
    """
    form = ext or negotiate()
    if form is None:
        return not_acceptable()
    tag = f"{tag or 'r'}-{form}"
    if form == "html":
        response = Response(html(), mimetype="text/html")
    else:
        graph = description(source, iri, parts)
        response = Response(serialise(graph, form), mimetype=RDF_FORMS[form].media_type)
        if ext is None:
            response.headers["Content-Location"] = alt(form)
    if ext is None:
        response.headers["Link"] = ", ".join(f'<{alt(e)}>; rel="alternate"; type="{f.media_type}"' for e, f in RDF_FORMS.items())
    return conditional(response, tag, vary=ext is None)


def split_extension(path: str, exists) -> tuple[str, str | None]:
    """``AF.ttl`` -> (``AF``, ``ttl``) unless ``AF.ttl`` itself names something."""
    m = EXTENSION.match(path)
    if m and not exists(path) and exists(m["stem"]):
        return m["stem"], m["ext"]
    return path, None


# -- HTML views --------------------------------------------------------------------

def term_view(node) -> dict:
    idx = index()
    if isinstance(node, Literal):
        return {"literal": str(node), "lang": node.language or "",
                "datatype": curie(str(node.datatype)) if node.datatype else ""}
    if isinstance(node, BNode):
        return {"literal": "(an unnamed node)", "lang": "", "datatype": ""}
    iri = str(node)
    return {"iri": iri, "href": local_href(iri), "label": idx.labels.get(iri, ""), "curie": short_name(iri)}


def property_rows(source, node) -> list[dict]:
    rows: dict = defaultdict(list)
    for p, o in source.predicate_objects(node):
        rows[p].append(o)
    labels = index().labels

    def order(p):
        name = curie(str(p))
        return (FIRST.index(name) if name in FIRST else len(FIRST), natural(labels.get(str(p), name)))
    return [{"predicate": term_view(p), "values": [term_view(o) for o in sorted(rows[p], key=_value_order)]}
            for p in sorted(rows, key=order)]


def _value_order(node):
    """Literals after links; numbered things (goals, objectives) by number, others by label."""
    idx = index()
    number = idx.union.value(node, SKOS.notation) if isinstance(node, URIRef) else None
    return (isinstance(node, Literal), natural(str(number)) if number is not None else (),
            natural(idx.labels.get(str(node), str(node))))


def roles_of(node) -> list[dict]:
    """The memberships of ``node`` (a state or an organisation): role, body and period, first."""
    g, org, time = index().union, PREFIXES["org"], PREFIXES["time"]
    found = []
    for m in g.subjects(URIRef(org + "member"), node):
        period = g.value(m, URIRef(org + "memberDuring"))
        ends = []
        for edge in ("hasBeginning", "hasEnd"):
            instant = g.value(period, URIRef(time + edge)) if period is not None else None
            value = next((g.value(instant, URIRef(time + p)) for p in ("inXSDDate", "inXSDgYearMonth", "inXSDgYear")
                          if instant is not None and g.value(instant, URIRef(time + p)) is not None), None)
            ends.append(str(value) if value is not None else "")
        role, body = g.value(m, URIRef(org + "role")), g.value(m, URIRef(org + "organization"))
        found.append({"membership": term_view(m), "role": term_view(role) if role is not None else None,
                      "body": term_view(body) if body is not None else None, "start": ends[0], "end": ends[1]})
    return sorted(found, key=lambda r: (r["start"] or "9999", natural(r["role"]["label"] if r["role"] else "")))


def resource_page(iri: URIRef, source, parts, alt) -> str:
    idx = index()
    kg = get_kg()
    nodes = [iri, *parts]
    sections = [{"anchor": str(n).split("#", 1)[1], "view": term_view(n), "rows": property_rows(source, n)} for n in parts]
    incoming = []
    for s, p in sorted(idx.union.subject_predicates(iri),
                       key=lambda sp: (idx.labels.get(str(sp[1]), curie(str(sp[1]))), natural(idx.labels.get(str(sp[0]), str(sp[0]))))):
        if isinstance(s, URIRef) and not str(s).startswith(str(iri) + "#"):
            incoming.append({"subject": term_view(s), "predicate": term_view(p)})
    sources = sorted({o for n in nodes for p in (PROV.wasDerivedFrom, DCTERMS.source) for o in idx.union.objects(n, p)}, key=str)
    graphs = sorted({q.graph_name.value for n in nodes if isinstance(n, URIRef)
                     for q in kg.engine.quads_for_pattern(ox.NamedNode(str(n)), None, None)
                     if isinstance(q.graph_name, ox.NamedNode)})
    return render_template(
        "resources/resource.html",
        iri=str(iri),
        view=term_view(iri),
        types=[term_view(t) for t in sorted(source.objects(iri, RDF.type))],
        rows=property_rows(source, iri),
        roles=roles_of(iri) if source is idx.union else [],
        sections=sections,
        incoming=incoming[:INCOMING_LIMIT],
        incoming_total=len(incoming),
        sources=[term_view(d) | {"url": str(idx.union.value(d, SCHEMA.url) or "")} for d in sources],
        graphs=[{"iri": g, "href": local_href(g), "name": g.removeprefix(BASE + "graph/")} for g in graphs],
        alternates=alternates(alt),
    )


def alternates(alt) -> list[dict]:
    return [{"href": alt(e), "name": f.label, "type": f.media_type} for e, f in RDF_FORMS.items()]


# -- Routes: instances ---------------------------------------------------------------

@bp.get("/id/<kind>/<key>")
def instance(kind: str, key: str):
    idx = index()
    exists = lambda k: idx.described(iri_for_path(f"id/{kind}/{k}"))  # noqa: E731
    key, ext = split_extension(key, exists)
    iri = iri_for_path(f"id/{kind}/{key}")
    if not idx.described(iri):
        return not_found(f"{kind} {key}", prefix_path_suggestion(kind, key))
    parts = idx.dependents.get(iri, [])
    alt = lambda e: request.script_root + f"/id/{kind}/{key}.{e}"  # noqa: E731
    return answer(iri, idx.union, parts, ext, lambda: resource_page(iri, idx.union, parts, alt), alt)


@bp.get("/resource")
def external():
    """IRIs we do not mint but hold a local copy of (UN SDG goals and targets)."""
    text = request.args.get("iri", "").strip()
    if not re.fullmatch(r"https?://[^\s<>\"{}|\\^`]+", text):
        return Response("400 Bad Request: give ?iri= an absolute http(s) IRI, e.g. "
                        "?iri=http://metadata.un.org/sdg/10.7\n", 400, mimetype="text/plain")
    if local_path(text) is not None:
        return redirect(local_path(text), 303)
    idx = index()
    iri = URIRef(text)
    if not idx.described(iri):
        return not_found(text.rstrip("/").rsplit("/", 1)[-1])
    parts = idx.dependents.get(iri, [])
    ext = request.args.get("format")
    if not servable(ext):
        return Response(f"400 Bad Request: format must be one of {', '.join([*RDF_FORMS, 'html'])}\n", 400, mimetype="text/plain")
    alt = lambda e: url_for("resources.external", iri=text, format=e)  # noqa: E731
    return answer(iri, idx.union, parts, ext, lambda: resource_page(iri, idx.union, parts, alt), alt)


@bp.get("/graph/<path:name>")
def named_graph(name: str):
    kg = get_kg()
    names = {str(g) for g in kg.graph_names}
    exists = lambda n: (BASE + "graph/" + n) in names  # noqa: E731
    name, ext = split_extension(name, exists)
    if not exists(name):
        return not_found(name)
    graph_iri = URIRef(BASE + "graph/" + name)
    graph = kg.graph(graph_iri)
    if (ext or negotiate()) == "html":
        subjects = sorted({s for s in graph.subjects() if isinstance(s, URIRef) and "#" not in s}, key=str)
        body = render_template("resources/listing.html", title=f"Named graph {name}", iri=str(graph_iri),
                               intro=f"{len(graph)} triples, loaded from {name}.ttl.",
                               items=[term_view(s) for s in subjects],
                               alternates=alternates(lambda e: f"{request.script_root}/graph/{name}.{e}"))
        return conditional(Response(body, mimetype="text/html"), f"g-{name}-html", vary=ext is None)
    form = ext or negotiate()
    if form is None:
        return not_acceptable()
    whole = bind(Graph())
    for triple in graph:
        whole.add(triple)
    return conditional(Response(serialise(whole, form), mimetype=RDF_FORMS[form].media_type), f"g-{name}-{form}", vary=ext is None)


# -- Routes: ontology, shapes, dataset --------------------------------------------------

def ontology_iri() -> URIRef:
    return iri_for_path("ontology")


@bp.get("/ontology")
@bp.get("/ontology.<ext>")
@bp.get("/ontology/<version>")
def ontology(ext: str | None = None, version: str | None = None):
    idx = index()
    iri = ontology_iri()
    if version is not None:
        known = {str(v) for v in idx.union.objects(iri, OWL.versionIRI)}
        stem, ext = split_extension(version, lambda v: str(iri_for_path(f"ontology/{v}")) in known)
        if str(iri_for_path(f"ontology/{stem}")) not in known:
            return not_found(f"ontology {version}")
    if not servable(ext):
        return not_found(f"ontology {ext}")
    if not idx.described(iri):
        return not_found("ontology")
    parts = idx.dependents.get(iri, [])
    alt = lambda e: f"{request.script_root}/ontology.{e}"  # noqa: E731
    return answer(iri, idx.union, parts, ext, lambda: ontology_page(iri, parts), alt, tag="ontology")


def term_usage() -> dict:
    """How often each term is used (as a property, or as a class of instances), counted by the engine."""
    def build():
        kg = get_kg()
        names = " ".join(f"<{g}>" for g in kg.graph_names)
        triples = f"SELECT DISTINCT ?s ?p ?o {{ GRAPH ?g {{ ?s ?p ?o }} VALUES ?g {{ {names} }} }}"
        usage: dict = defaultdict(int)
        for row in kg.engine.query(f"SELECT ?t (COUNT(*) AS ?n) {{ {{ {triples} }} BIND(?p AS ?t) }} GROUP BY ?t"):
            usage[URIRef(row["t"].value)] += int(row["n"].value)
        for row in kg.engine.query(f"SELECT ?t (COUNT(*) AS ?n) {{ {{ {triples} }} FILTER (?p = <{RDF.type}>) BIND(?o AS ?t) }} "
                                   "GROUP BY ?t"):
            if isinstance(row["t"], ox.NamedNode):
                usage[URIRef(row["t"].value)] += int(row["n"].value)
        return dict(usage)
    return _cached("usage", build)


def ontology_page(iri: URIRef, parts) -> str:
    idx = index()
    g = idx.union
    groups = {
        OWL.Class: "Classes", OWL.ObjectProperty: "Object properties",
        OWL.DatatypeProperty: "Datatype properties", OWL.AnnotationProperty: "Annotation properties",
    }
    usage = term_usage()
    sections = []
    for kind, title in groups.items():
        terms = []
        for term in sorted((t for t in parts if (t, RDF.type, kind) in g), key=lambda t: str(t).lower()):
            rel = lambda p: [term_view(o) for o in sorted(g.objects(term, p), key=str) if isinstance(o, URIRef)]  # noqa: E731
            terms.append({
                "anchor": str(term).split("#", 1)[1], "view": term_view(term),
                "definition": str(g.value(term, SKOS.definition) or ""),
                "scope_note": str(g.value(term, SKOS.scopeNote) or ""),
                "example": str(g.value(term, SKOS.example) or ""),
                "relations": [(name, values) for name, values in (
                    ("Subclass of", rel(RDFS.subClassOf)),
                    ("Subclasses", [term_view(s) for s in sorted(g.subjects(RDFS.subClassOf, term))]),
                    ("Subproperty of", rel(RDFS.subPropertyOf)),
                    ("Domain", rel(RDFS.domain)), ("Range", rel(RDFS.range)),
                    ("Inverse of", rel(OWL.inverseOf)),
                    ("Equivalent to", rel(OWL.equivalentClass) + rel(OWL.equivalentProperty)),
                ) if values],
                "uses": usage.get(term, 0),
                "kind": "instances" if kind == OWL.Class else "statements",
            })
        if terms:
            sections.append({"title": title, "anchor": title.lower().replace(" ", "-"), "terms": terms})
    meta_keys = (DCTERMS.title, DCTERMS.description, DCTERMS.creator, DCTERMS.publisher, DCTERMS.created,
                 DCTERMS.modified, OWL.versionInfo, OWL.versionIRI, DCTERMS.license,
                 URIRef(PREFIXES["vann"] + "preferredNamespacePrefix"), URIRef(PREFIXES["vann"] + "preferredNamespaceUri"),
                 RDFS.seeAlso)
    metadata = [{"predicate": term_view(p), "values": [term_view(o) for o in g.objects(iri, p)]}
                for p in meta_keys if g.value(iri, p) is not None]
    return render_template(
        "resources/ontology.html", iri=str(iri), title=str(g.value(iri, DCTERMS.title) or "Ontology"),
        description=str(g.value(iri, DCTERMS.description) or ""), metadata=metadata, sections=sections,
        alternates=alternates(lambda e: f"{request.script_root}/ontology.{e}"),
    )


def shapes_bundle():
    return _cached("shapes", lambda: load_shapes(shapes_folder()))


@bp.get("/shapes")
@bp.get("/shapes.<ext>")
def shapes(ext: str | None = None):
    if not servable(ext):
        return not_found(f"shapes {ext}")
    bundle = shapes_bundle()
    form = ext or negotiate()
    if form is None:
        return not_acceptable()
    tag = f"shapes-{bundle.digest}-{form}"
    if form == "html":
        views = describe_shapes(bundle, index().labels)
        body = render_template(
            "resources/shapes.html", shapes=views, files=bundle.files, errors=bundle.errors,
            alternates=alternates(lambda e: f"{request.script_root}/shapes.{e}"))
        return conditional(Response(body, mimetype="text/html"), tag, vary=ext is None)
    return conditional(Response(serialise(bundle.graph, form), mimetype=RDF_FORMS[form].media_type), tag, vary=ext is None)


def void_graph() -> Graph:
    return _cached("void", lambda: publishing.void_description(get_kg()))


@bp.get("/dataset")
@bp.get("/dataset.<ext>")
@bp.get("/.well-known/void")
def dataset(ext: str | None = None):
    if not servable(ext):
        return not_found(f"dataset {ext}")
    graph = void_graph()
    iri = URIRef(str(publishing.DATASET))
    parts = sorted({s for s in graph.subjects() if isinstance(s, URIRef) and s.startswith(str(iri) + "#")})
    alt = lambda e: f"{request.script_root}/dataset.{e}"  # noqa: E731
    return answer(iri, graph, parts, ext, lambda: resource_page(iri, graph, parts, alt), alt, tag="void")


# -- Routes: published files ---------------------------------------------------------------

DUMP_FILES = {publishing.FORMS[f].filename: f for f in publishing.DUMP_FORMS}


def published(form: str) -> Response:
    data = _cached(f"file-{form}", lambda: publishing.render(get_kg(), form))
    spec = publishing.FORMS[form]
    response = Response(data, mimetype=spec.media_type)
    if form in publishing.DUMP_FORMS or form == "sssom":
        response.headers["Content-Disposition"] = f'inline; filename="{spec.filename}"'
    return conditional(response, f"file-{form}", vary=False)


@bp.get("/dumps/")
def dumps_index():
    body = render_template(
        "resources/listing.html", title="Downloads", iri="",
        intro="The whole dataset, regenerated from the loaded graph; named graphs are kept in N-Quads, TriG and JSON-LD.",
        items=[{"href": url_for("resources.dump_file", filename=name), "label": publishing.FORMS[f].media_type, "curie": name}
               for name, f in DUMP_FILES.items()] + [
            {"href": url_for("resources.sssom"), "label": "SSSOM mapping set of the alignments", "curie": "alignments.sssom.tsv"},
            {"href": url_for("resources.context"), "label": "JSON-LD context", "curie": "context.jsonld"},
            {"href": url_for("resources.dataset"), "label": "VoID / DCAT description", "curie": "/.well-known/void"},
        ], alternates=[])
    return conditional(Response(body, mimetype="text/html"), "dumps-html", vary=False)


@bp.get("/dumps/<filename>")
def dump_file(filename: str):
    if filename not in DUMP_FILES:
        return not_found(filename)
    return published(DUMP_FILES[filename])


@bp.get("/context.jsonld")
def context():
    return published("context")


@bp.get("/alignments.sssom.tsv")
def sssom():
    return published("sssom")
