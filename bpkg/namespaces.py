"""The one canonical prefix map.

Every graph we build, every file we serialise and every query we ship uses these
names and no others, so that rdflib never invents ``ns1:`` or ``schema1:``. The
Turtle files and the ``.rq`` files carry the same PREFIX lines (a test checks it).
"""

from __future__ import annotations

from rdflib import Graph, Namespace, URIRef

BASE = "https://w3id.org/bpkg/"
ID = BASE + "id/"

PREFIXES: dict[str, str] = {
    # ours
    "bp": BASE + "ontology#",
    "bpsh": BASE + "shapes#",
    "alignment": ID + "alignment/",
    "basis": ID + "alignment-basis/",
    "document": ID + "document/",
    "event": ID + "event/",
    "eventkind": ID + "event-kind/",
    "gcm": ID + "gcm-objective/",
    "gcmp": ID + "gcm-principle/",
    "goal": ID + "priority-goal/",
    "meeting": ID + "meeting/",
    "membership": ID + "membership/",
    "organisation": ID + "organisation/",
    "orgtype": ID + "organisation-type/",
    "practice": ID + "practice/",
    "project": ID + "project/",
    "region": ID + "region/",
    "role": ID + "role/",
    "scheme": ID + "scheme/",
    "state": ID + "state/",
    # reused
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "eucountry": "http://publications.europa.eu/resource/authority/country/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "geonames": "https://sws.geonames.org/",
    "org": "http://www.w3.org/ns/org#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "prov": "http://www.w3.org/ns/prov#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "schema": "https://schema.org/",
    "sd": "http://www.w3.org/ns/sparql-service-description#",
    "sdg": "http://metadata.un.org/sdg/",
    "sdgo": "http://metadata.un.org/sdg/ontology#",
    "sh": "http://www.w3.org/ns/shacl#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "time": "http://www.w3.org/2006/time#",
    "vann": "http://purl.org/vocab/vann/",
    "void": "http://rdfs.org/ns/void#",
    "wd": "http://www.wikidata.org/entity/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

BP = Namespace(PREFIXES["bp"])
BPSH = Namespace(PREFIXES["bpsh"])
ORG = Namespace(PREFIXES["org"])
PROV = Namespace(PREFIXES["prov"])
SCHEMA = Namespace(PREFIXES["schema"])
SDGO = Namespace(PREFIXES["sdgo"])
TIME = Namespace(PREFIXES["time"])

ONTOLOGY_IRI = URIRef(BASE + "ontology")
GRAPH_BASE = BASE + "graph/"


def bind(graph: Graph) -> Graph:
    """Bind the canonical prefixes on ``graph``, replacing rdflib's defaults."""
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace, override=True, replace=True)
    return graph


def sparql_prologue(names: list[str] | None = None) -> str:
    """PREFIX lines for ``names`` (all prefixes by default), aligned as in our files."""
    chosen = sorted(names if names is not None else PREFIXES)
    width = max(len(n) for n in chosen) + 1
    return "".join(f"PREFIX {(n + ':').ljust(width)} <{PREFIXES[n]}>\n" for n in chosen)


def curie(iri: str) -> str:
    """The prefixed name of ``iri`` under the canonical map, or ``<iri>`` when none fits."""
    best = ""
    for prefix, namespace in PREFIXES.items():
        if iri.startswith(namespace) and len(namespace) > len(PREFIXES.get(best, "")):
            local = iri[len(namespace):]
            if local and all(c.isalnum() or c in "-_." for c in local) and not local.endswith("."):
                best = prefix
    if not best:
        return f"<{iri}>"
    return f"{best}:{iri[len(PREFIXES[best]):]}"


def short_name(iri: str) -> str:
    """``iri`` as people read it: its prefixed name, ``project:x#funding-eu`` for a dependent
    (#fragment) node of a prefixed IRI, or else the IRI itself."""
    name = curie(iri)
    if name.startswith("<") and "#" in iri:
        parent, _, part = iri.partition("#")
        name = curie(parent) + "#" + part
    return iri if name.startswith("<") else name


def expand(name: str) -> URIRef:
    """Turn ``region:silk-routes`` or ``<https://…>`` or ``https://…`` into an IRI.

    Raises ``ValueError`` for an unknown prefix or something that is not an IRI.
    """
    text = name.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if text.startswith(("http://", "https://", "urn:")):
        if any(c in text for c in ' <>"{}|\\^`'):
            raise ValueError(f"not a valid IRI: {name!r}")
        return URIRef(text)
    prefix, sep, local = text.partition(":")
    if not sep or prefix not in PREFIXES:
        known = ", ".join(sorted(PREFIXES))
        raise ValueError(f"{name!r} is neither a full IRI nor a prefixed name with a known prefix ({known})")
    if any(c in local for c in ' <>"{}|\\^`#?/'):
        raise ValueError(f"not a valid local name in {name!r}")
    return URIRef(PREFIXES[prefix] + local)
