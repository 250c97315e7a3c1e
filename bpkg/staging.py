"""Staging: conforming submissions kept for review, each in its own named graph.

A submission that :mod:`bpkg.validation` finds acceptable (no Violation) can be *staged*:

* its triples go, as submitted, into ``https://w3id.org/bpkg/graph/staging/<id>``;
* its validation report (the SHACL ``sh:ValidationReport``) and its provenance go into
  ``https://w3id.org/bpkg/graph/staging-reports``: who sent it (``prov:wasAttributedTo``),
  when (``prov:generatedAtTime``) and which document (media type, size, SHA-256 checksum).

The staging area lives in memory, next to the bundled graph and never inside it: the
bundled store stays read-only (its query workers were forked from it, and its version
names cached results). Queries see staged graphs through a *snapshot*: a separate store
holding the bundled graphs, their union as the default graph, and the staged data graphs
as further named graphs. Unreviewed data therefore never leaks into the default graph;
it is seen only where a query names it (``GRAPH <…/staging/<id>>`` or ``GRAPH ?g``). A
snapshot never changes once made (a new submission makes the next one), so a query
process forked from it sees a consistent dataset.

The reports graph is not in the snapshot: it names the submitters, and only token holders
read it (``GET /submissions/<id>/report``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import pyoxigraph as ox
from rdflib import Graph

from .namespaces import GRAPH_BASE, PREFIXES
from .sparql import Target
from .validation import Report, Submission

STAGING_BASE = GRAPH_BASE + "staging/"
REPORTS_GRAPH = GRAPH_BASE + "staging-reports"
DEFAULT_MAX_STAGED = 1000  # a bound on memory: each snapshot holds every staged triple
ID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")

_N, _L = ox.NamedNode, ox.Literal
_RDF, _RDFS, _XSD = PREFIXES["rdf"], PREFIXES["rdfs"], PREFIXES["xsd"]
_PROV, _DCT, _DCAT, _VOID = PREFIXES["prov"], PREFIXES["dct"], PREFIXES["dcat"], PREFIXES["void"]
_SPDX = "http://spdx.org/rdf/terms#"  # DCAT 3 describes checksums with SPDX
_IANA = "https://www.iana.org/assignments/media-types/"
_TYPE = _N(_RDF + "type")
EXPORT_PREFIXES = {**PREFIXES, "spdx": _SPDX}


class StagingFull(Exception):
    """The staging area holds its maximum number of submissions."""


@dataclass(frozen=True)
class Staged:
    """One staged submission: its data, its report, and what it came from."""

    id: str
    graph: str  # the staged named graph's IRI
    submitted_at: str  # xsd:dateTime, UTC
    submitter: str
    source: str  # the file name, or "the submission"
    media_type: str  # of the syntax it was read as
    sha256: str  # of the bytes as sent
    size: int  # bytes
    report: Report
    data: tuple[ox.Quad, ...]  # in ``graph``
    provenance: tuple[ox.Quad, ...]  # report and provenance, in REPORTS_GRAPH

    def summary(self) -> dict:
        return {"id": self.id, "status": "staged", "graph": self.graph, "reports_graph": REPORTS_GRAPH,
                "submitted_at": self.submitted_at, "submitter": self.submitter, "source": self.source,
                "media_type": self.media_type, "sha256": self.sha256, "bytes": self.size,
                "triples": len(self.data), "counts": {s.lower(): n for s, n in self.report.counts.items()}}


@dataclass(frozen=True)
class Snapshot:
    """The dataset ``/sparql`` queries while submissions are staged."""

    target: Target
    version: str  # the bundled graph's version and the staged ids: names cached results


class StagingArea:
    """The app's staged submissions. Thread-safe; staging and removal are all-or-nothing."""

    def __init__(self, max_staged: int = DEFAULT_MAX_STAGED):
        self.max_staged = max_staged
        self._lock = threading.Lock()
        self._staged: dict[str, Staged] = {}
        self._snapshot: Snapshot | None = None

    # -- changes

    def stage(self, submission: Submission, report: Report, *, submitter: str, raw: bytes,
              shapes: Graph | None = None) -> Staged:
        """Stage an acceptable submission (raises ValueError for one with violations)."""
        if not report.conforms:
            raise ValueError("only a submission without violations can be staged")
        now = datetime.now(timezone.utc).replace(microsecond=0)
        sid = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        graph = STAGING_BASE + sid
        data = tuple(_quads(submission.graph, _N(graph)))
        staged = Staged(sid, graph, now.strftime("%Y-%m-%dT%H:%M:%SZ"), submitter, submission.source,
                        submission.format.media_type, hashlib.sha256(raw).hexdigest(), len(raw), report,
                        data, ())
        staged = replace(staged, provenance=tuple(_provenance(staged, shapes)))
        with self._lock:
            if len(self._staged) >= self.max_staged:
                raise StagingFull(f"the staging area already holds {self.max_staged} submissions; "
                                  "review and remove some first")
            self._staged[sid] = staged  # one assignment: a reader sees all of it or none
            self._snapshot = None
        return staged

    def remove(self, sid: str) -> bool:
        with self._lock:
            found = self._staged.pop(sid, None) is not None
            if found:
                self._snapshot = None
            return found

    # -- reading

    def get(self, sid: str) -> Staged | None:
        with self._lock:
            return self._staged.get(sid)

    def all(self) -> list[Staged]:
        with self._lock:
            return list(self._staged.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._staged)

    def snapshot(self, kg) -> Snapshot | None:
        """The bundled graph plus the staged graphs, as one read-only store (None when empty)."""
        with self._lock:
            snapshot, staged = self._snapshot, list(self._staged.values())
        if not staged:
            return None
        version = f"{kg.version}-staging-" + hashlib.sha256(
            "\n".join(sorted(s.id for s in staged)).encode()).hexdigest()[:12]
        if snapshot is not None and snapshot.version == version:
            return snapshot
        store = ox.Store()
        bundled = list(kg.store)
        store.bulk_extend(bundled)
        # The default graph is the bundled union, materialised: staged data stays out of it.
        store.bulk_extend(ox.Quad(q.subject, q.predicate, q.object, ox.DefaultGraph()) for q in bundled)
        store.bulk_extend(q for s in staged for q in s.data)
        names = frozenset(str(g) for g in kg.graph_names) | {s.graph for s in staged}
        snapshot = Snapshot(Target(store, names, union_default=False), version)
        with self._lock:
            if {s.id for s in staged} == set(self._staged):  # nothing changed meanwhile
                self._snapshot = snapshot
        return snapshot


# -- RDF -----------------------------------------------------------------------------

def _quads(graph: Graph, name: ox.NamedNode):
    """rdflib triples as pyoxigraph quads in ``name`` (through N-Triples, which both read alike)."""
    text = graph.serialize(format="nt", encoding="utf-8")
    for triple in ox.parse(text, format=ox.RdfFormat.N_TRIPLES):
        yield ox.Quad(triple.subject, triple.predicate, triple.object, name)


def _provenance(staged: Staged, shapes: Graph | None):
    """The report and its provenance, with IRIs under the staged graph's (no blank nodes)."""
    reports = _N(REPORTS_GRAPH)
    graph, document, submitter = _N(staged.graph), _N(staged.graph + "#document"), _N(staged.graph + "#submitter")
    report, checksum = _N(staged.graph + "#report"), _N(staged.graph + "#checksum")
    when = _L(staged.submitted_at, datatype=_N(_XSD + "dateTime"))
    triples = [
        (graph, _TYPE, _N(_PROV + "Entity")),
        (graph, _N(_DCT + "identifier"), _L(staged.id)),
        (graph, _N(_PROV + "wasAttributedTo"), submitter),
        (graph, _N(_PROV + "generatedAtTime"), when),
        (graph, _N(_PROV + "wasDerivedFrom"), document),
        (graph, _N(_VOID + "triples"), _L(str(len(staged.data)), datatype=_N(_XSD + "integer"))),
        (submitter, _TYPE, _N(_PROV + "Agent")),
        (submitter, _N(_RDFS + "label"), _L(staged.submitter)),
        (document, _TYPE, _N(_PROV + "Entity")),
        (document, _N(_DCT + "title"), _L(staged.source)),
        (document, _N(_DCAT + "mediaType"), _N(_IANA + staged.media_type)),
        (document, _N(_DCAT + "byteSize"), _L(str(staged.size), datatype=_N(_XSD + "nonNegativeInteger"))),
        (document, _N(_SPDX + "checksum"), checksum),
        (checksum, _TYPE, _N(_SPDX + "Checksum")),
        (checksum, _N(_SPDX + "algorithm"), _N(_SPDX + "checksumAlgorithm_sha256")),
        (checksum, _N(_SPDX + "checksumValue"), _L(staged.sha256, datatype=_N(_XSD + "hexBinary"))),
        (report, _N(_PROV + "wasDerivedFrom"), document),
        (report, _N(_PROV + "generatedAtTime"), when),
        (report, _N(_DCT + "subject"), graph),
    ]
    for s, p, o in triples:
        yield ox.Quad(s, p, o, reports)
    # pySHACL-style report: its blank nodes become #report (the report) and #n1, #n2, ...
    names: dict = {}

    def named(term):
        if not isinstance(term, ox.BlankNode):
            return term
        if term not in names:
            names[term] = _N(f"{staged.graph}#n{len(names) + 1}")
        return names[term]

    shacl_report = list(_quads(staged.report.to_graph(shapes), reports))
    for q in shacl_report:
        if q.predicate == _TYPE and q.object == _N(PREFIXES["sh"] + "ValidationReport"):
            names[q.subject] = report
    for q in shacl_report:
        yield ox.Quad(named(q.subject), q.predicate, named(q.object), reports)


DATASET_FORMATS = (ox.RdfFormat.N_QUADS, ox.RdfFormat.TRIG)


def export(staged: Staged, fmt: ox.RdfFormat, parts: tuple[str, ...] = ("data",)) -> bytes:
    """``parts`` ("data": the staged graph, "report": its report and provenance) in ``fmt``;
    N-Quads and TriG keep each in its named graph, other formats give plain triples."""
    quads = (staged.data if "data" in parts else ()) + (staged.provenance if "report" in parts else ())
    quads = sorted(quads, key=lambda q: (str(q.graph_name), str(q.subject), q.predicate != _TYPE, str(q.predicate)))
    prefixes = _prefixes_used(quads) if fmt in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG) else {}
    if fmt in DATASET_FORMATS:
        return ox.serialize(quads, format=fmt, prefixes=prefixes)
    return ox.serialize([ox.Triple(q.subject, q.predicate, q.object) for q in quads], format=fmt, prefixes=prefixes)


def _prefixes_used(quads) -> dict[str, str]:
    """The canonical prefixes that some IRI in ``quads`` starts with (pyoxigraph writes all it is given)."""
    iris = {t.value for q in quads for t in (q.subject, q.predicate, q.object, q.graph_name)
            if isinstance(t, ox.NamedNode)}
    iris |= {q.object.datatype.value for q in quads if isinstance(q.object, ox.Literal)}
    return {p: ns for p, ns in EXPORT_PREFIXES.items() if any(i.startswith(ns) for i in iris)}
