"""Publishing the graph: dumps, the JSON-LD context, the VoID/DCAT description, SSSOM.

Every output is a pure function of the loaded :class:`~bpkg.store.KnowledgeGraph`, so the
web app (``bpkg.web.resources``) and ``bpkg export`` write byte-identical files. Outputs are
deterministic (sorted) so that two runs over the same data give the same bytes and the same
ETag means the same content.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.namespace import SKOS, XSD

from .namespaces import BASE, BP, ID, PREFIXES, PROV, bind, curie
from .store import ROOT, KnowledgeGraph, graph_iri_for

DCAT = "http://www.w3.org/ns/dcat#"
VOID = "http://rdfs.org/ns/void#"
DATASET = URIRef(BASE + "dataset")
DESCRIPTION_FILE = "kg/dataset.ttl"


@dataclass(frozen=True)
class Form:
    """One published file: its ``bpkg export --format`` name, file name and media type."""

    name: str
    filename: str
    media_type: str


FORMS = {
    f.name: f
    for f in (
        Form("nquads", "bpkg.nq", "application/n-quads"),
        Form("trig", "bpkg.trig", "application/trig"),
        Form("turtle", "bpkg.ttl", "text/turtle"),
        Form("ntriples", "bpkg.nt", "application/n-triples"),
        Form("jsonld", "bpkg.jsonld", "application/ld+json"),
        Form("sssom", "alignments.sssom.tsv", "text/tab-separated-values"),
        Form("void", "void.ttl", "text/turtle"),
        Form("context", "context.jsonld", "application/ld+json"),
    )
}
DUMP_FORMS = ("nquads", "trig", "turtle", "ntriples", "jsonld")


# -- JSON-LD context -----------------------------------------------------------

def jsonld_context() -> dict:
    """The published ``@context``: exactly the canonical prefix map, sorted (so it is stable)."""
    return {"@context": {prefix: PREFIXES[prefix] for prefix in sorted(PREFIXES)}}


def _canonical_json(node):
    """Sort JSON-LD arrays (but never ``@list`` values) so output does not depend on hash order."""
    if isinstance(node, dict):
        return {k: (v if k == "@list" else _canonical_json(v)) for k, v in node.items()}
    if isinstance(node, list):
        items = [_canonical_json(v) for v in node]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    return node


def to_jsonld(graph: Graph) -> bytes:
    """Compact JSON-LD with our context embedded inline (a remote context would need a fetch)."""
    context = jsonld_context()["@context"]
    data = json.loads(graph.serialize(format="json-ld", context=context, auto_compact=True))
    if isinstance(data, dict) and "@graph" in data:
        data["@graph"] = _canonical_json(data["@graph"])
    elif isinstance(data, list):
        data = {"@context": context, "@graph": _canonical_json(data)}
    return (json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n").encode("utf-8")


# -- Dumps ---------------------------------------------------------------------

def _sorted_quads(kg: KnowledgeGraph) -> list[ox.Quad]:
    return sorted(kg.store, key=lambda q: (str(q.graph_name), str(q.subject), str(q.predicate), str(q.object)))


def merged_graph(kg: KnowledgeGraph) -> Graph:
    """All named graphs as one rdflib graph with the canonical prefixes."""
    graph = bind(Graph())
    for triple in kg.union():
        graph.add(triple)
    return graph


def dump(kg: KnowledgeGraph, form: str) -> bytes:
    """The whole dataset in ``form`` (one of DUMP_FORMS); named graphs kept in nquads/trig/jsonld."""
    if form == "nquads":
        return ox.serialize(_sorted_quads(kg), format=ox.RdfFormat.N_QUADS)
    if form == "trig":
        return ox.serialize(_sorted_quads(kg), format=ox.RdfFormat.TRIG, prefixes=PREFIXES)
    if form == "ntriples":
        triples = {ox.Triple(q.subject, q.predicate, q.object) for q in kg.store}
        return ox.serialize(sorted(triples, key=str), format=ox.RdfFormat.N_TRIPLES)
    if form == "turtle":
        return merged_graph(kg).serialize(format="longturtle").encode("utf-8")
    if form == "jsonld":
        return _dataset_jsonld(kg)
    raise ValueError(f"unknown dump format {form!r}; choose one of {', '.join(DUMP_FORMS)}")


def _dataset_jsonld(kg: KnowledgeGraph) -> bytes:
    """One JSON-LD document whose ``@graph`` lists the named graphs, each with its own ``@graph``."""
    context = jsonld_context()["@context"]
    graphs = []
    for name in sorted(kg.graph_names, key=str):
        named = bind(Graph())
        for triple in kg.dataset.graph(name):
            named.add(triple)
        body = json.loads(to_jsonld(named))
        nodes = body.get("@graph", [body] if "@id" in body else [])
        for node in nodes:
            node.pop("@context", None)
        graphs.append({"@id": str(name), "@graph": nodes})
    data = {"@context": context, "@graph": graphs}
    return (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


# -- VoID / DCAT -----------------------------------------------------------------

def description_source(kg: KnowledgeGraph) -> Graph:
    """The hand-written ``kg/dataset.ttl`` as loaded (or the bundled file for a custom load)."""
    graph = bind(Graph())
    name = graph_iri_for(DESCRIPTION_FILE)
    if name in kg.graph_names:
        for triple in kg.dataset.graph(name):
            graph.add(triple)
    elif (ROOT / DESCRIPTION_FILE).is_file():
        graph.parse(ROOT / DESCRIPTION_FILE, format="turtle")
    return graph


def _fragment_for(kind: str, iri: str) -> URIRef:
    name = curie(iri)
    local = name.replace(":", "-") if not name.startswith("<") else hashlib.sha1(iri.encode()).hexdigest()[:12]
    return URIRef(f"{DATASET}#{kind}-{local}")


def void_description(kg: KnowledgeGraph) -> Graph:
    """``kg/dataset.ttl`` plus statistics computed from the loaded graph (never hand-kept)."""
    graph = description_source(kg)
    v = lambda local: URIRef(VOID + local)  # noqa: E731 (a tiny local alias keeps lines short)
    count = lambda n: Literal(n, datatype=XSD.integer)  # noqa: E731

    triples = {(q.subject, q.predicate, q.object) for q in kg.store}
    subjects = {s for s, _, _ in triples}
    uri_space = str(graph.value(DATASET, v("uriSpace")) or ID)
    instances: dict[str, set] = defaultdict(set)
    per_property: Counter[str] = Counter()
    for s, p, o in triples:
        per_property[p.value] += 1
        if p.value == str(RDF.type) and isinstance(o, ox.NamedNode):
            instances[o.value].add(s)

    graph.add((DATASET, v("triples"), count(len(triples))))
    graph.add((DATASET, v("entities"), count(sum(1 for s in subjects if isinstance(s, ox.NamedNode) and s.value.startswith(uri_space)))))
    graph.add((DATASET, v("distinctSubjects"), count(len(subjects))))
    graph.add((DATASET, v("distinctObjects"), count(len({o for _, _, o in triples}))))
    graph.add((DATASET, v("properties"), count(len(per_property))))
    graph.add((DATASET, v("classes"), count(len(instances))))
    graph.add((DATASET, URIRef(DCAT + "version"), Literal(kg.version)))
    for cls in sorted(instances):
        node = _fragment_for("class", cls)
        graph.add((DATASET, v("classPartition"), node))
        graph.add((node, v("class"), URIRef(cls)))
        graph.add((node, v("entities"), count(len(instances[cls]))))
    for prop in sorted(per_property):
        node = _fragment_for("property", prop)
        graph.add((DATASET, v("propertyPartition"), node))
        graph.add((node, v("property"), URIRef(prop)))
        graph.add((node, v("triples"), count(per_property[prop])))

    for subset in sorted(graph.objects(DATASET, v("subset"))):
        predicate = graph.value(subset, v("linkPredicate"))
        if predicate is not None:  # a linkset: links whose object lies in the target's URI space
            space = str(graph.value(graph.value(subset, v("objectsTarget")), v("uriSpace")) or "")
            n = sum(1 for s, p, o in triples if p.value == str(predicate) and isinstance(o, ox.NamedNode) and o.value.startswith(space))
            graph.add((subset, v("triples"), count(n)))
        elif (space := graph.value(subset, v("uriSpace"))) is not None:  # a copied part of another dataset
            about = [(s, p, o) for s, p, o in triples if isinstance(s, ox.NamedNode) and s.value.startswith(str(space))]
            graph.add((subset, v("triples"), count(len(about))))
            graph.add((subset, v("entities"), count(len({s for s, _, _ in about}))))
    return graph


# -- SSSOM -----------------------------------------------------------------------

SEMAPV = "https://w3id.org/semapv/vocab/"
SSSOM_COLUMNS = (
    "record_id", "subject_id", "subject_label", "predicate_id", "object_id", "object_label",
    "mapping_justification", "subject_source", "object_source", "see_also", "comment",
)


def _label(graph, node) -> str:
    for p in (SKOS.prefLabel, URIRef(PREFIXES["rdfs"] + "label")):
        values = sorted(graph.objects(node, p), key=lambda lit: (getattr(lit, "language", None) != "en", str(lit)))
        if values:
            return str(values[0])
    return ""


def _justification(graph, basis) -> str:
    """The SEMAPV term our basis concept matches; a statement copied from a source whose method
    the source does not give is, in SEMAPV's terms, an unspecified matching."""
    for p in (SKOS.exactMatch, SKOS.closeMatch):
        for match in graph.objects(basis, p):
            if str(match).startswith(SEMAPV):
                return "semapv:" + str(match)[len(SEMAPV):]
    return "semapv:UnspecifiedMatching"


def _tsv_cell(value: str) -> str:
    return " ".join(str(value).split())  # tabs and newlines would break the table


def sssom_tsv(kg: KnowledgeGraph) -> bytes:
    """All ``bp:Alignment`` nodes as one SSSOM mapping set (TSV with a YAML metadata header)."""
    union = kg.union()
    rows, used = [], {"semapv", "skos"}

    def short(node) -> str:
        name = curie(str(node))
        if name.startswith("<"):
            raise ValueError(f"no prefix for {node} in bpkg.namespaces: SSSOM needs CURIEs")
        used.add(name.split(":", 1)[0])
        return name

    for alignment in sorted(union.subjects(RDF.type, BP.Alignment)):
        subject, obj = union.value(alignment, BP.alignedFrom), union.value(alignment, BP.alignedTo)
        basis = union.value(alignment, BP.alignmentBasis)
        source_of = lambda n: union.value(n, SKOS.inScheme)  # noqa: E731
        comment = "; ".join(filter(None, [
            f"basis: {_label(union, basis) or curie(str(basis))}" if basis is not None else "",
            f"locator: {union.value(alignment, BP.locator)}" if union.value(alignment, BP.locator) else "",
        ]))
        rows.append({
            "record_id": short(alignment),
            "subject_id": short(subject),
            "subject_label": _label(union, subject),
            "predicate_id": short(union.value(alignment, BP.alignmentRelation) or SKOS.relatedMatch),
            "object_id": short(obj),
            "object_label": _label(union, obj),
            "mapping_justification": _justification(union, basis) if basis is not None else "semapv:UnspecifiedMatching",
            "subject_source": short(source_of(subject)) if source_of(subject) is not None else "",
            "object_source": short(source_of(obj)) if source_of(obj) is not None else "",
            "see_also": "|".join(sorted(str(d) for d in union.objects(alignment, PROV.wasDerivedFrom))),
            "comment": comment,
        })
    curie_map = {p: (SEMAPV if p == "semapv" else PREFIXES[p]) for p in sorted(used)}
    out = io.StringIO()
    out.write(f"#mapping_set_id: {BASE}alignments.sssom.tsv\n")
    out.write("#mapping_set_title: Budapest Process priority goals aligned to GCM objectives\n")
    out.write("#license: https://creativecommons.org/licenses/by/4.0/\n")
    out.write(f"#mapping_set_version: {kg.version}\n")
    out.write("#curie_map:\n")
    for prefix, namespace in curie_map.items():
        out.write(f"#  {prefix}: {namespace}\n")
    out.write("\t".join(SSSOM_COLUMNS) + "\n")
    for row in rows:
        out.write("\t".join(_tsv_cell(row[c]) for c in SSSOM_COLUMNS) + "\n")
    return out.getvalue().encode("utf-8")


# -- One entry point for every published file ------------------------------------

def render(kg: KnowledgeGraph, form: str) -> bytes:
    """The bytes of the published file ``form`` (a key of FORMS)."""
    if form in DUMP_FORMS:
        return dump(kg, form)
    if form == "sssom":
        return sssom_tsv(kg)
    if form == "void":
        return void_description(kg).serialize(format="longturtle").encode("utf-8")
    if form == "context":
        return (json.dumps(jsonld_context(), indent=1) + "\n").encode("utf-8")
    raise ValueError(f"unknown format {form!r}; choose one of {', '.join(FORMS)}")


# -- CLI ---------------------------------------------------------------------------

EXPORT_CHOICES = (*DUMP_FORMS, "sssom", "void", "context", "all")


def cmd_export(args) -> int:
    from .cli import EXIT_OK, EXIT_USAGE, _load_or_exit

    forms = list(FORMS) if args.format == "all" else [args.format]
    out = Path(args.out) if args.out else None
    if out is None and len(forms) > 1:
        print("error: --format all writes several files: give --out DIR", file=sys.stderr)
        return EXIT_USAGE
    into_dir = out is not None and (out.is_dir() or args.out.endswith(("/", "\\")) or len(forms) > 1)
    if out is not None and out.exists() and not out.is_dir() and into_dir:
        print(f"error: {out} is a file, but several files must go into a folder", file=sys.stderr)
        return EXIT_USAGE
    kg = _load_or_exit(args.paths or None)  # after the cheap checks: loading takes seconds
    if not args.paths:  # the bundled graph is published only as the validator accepts it
        from .store import LoadError
        from .validation import require_conformance

        try:
            require_conformance(kg)
        except LoadError as exc:
            print(f"error: {exc}\nerror: nothing was exported", file=sys.stderr)
            return EXIT_USAGE
    for form in forms:
        data = render(kg, form)
        if out is None:
            sys.stdout.buffer.write(data)
            continue
        target = out / FORMS[form].filename if into_dir else out
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as exc:
            print(f"error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"wrote {target} ({len(data)} bytes)", file=sys.stderr)
    return EXIT_OK


def register_cli(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a dump, the VoID/DCAT description, the SSSOM alignments or the JSON-LD context",
        description="Write the same files the server publishes under /dumps/, /.well-known/void, "
        "/alignments.sssom.tsv and /context.jsonld.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--format", choices=EXPORT_CHOICES, default="nquads")
    p.add_argument("--out", metavar="DIR_OR_FILE",
                   help="a file, or an existing folder (or one ending in /) to get the standard file name; default: stdout")
    p.add_argument("paths", nargs="*", help="files or folders to load (default: ontology/ and kg/)")
    p.set_defaults(func=cmd_export)
