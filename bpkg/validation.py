"""Validation: the bundled graph, or a data submission in the context of the graph.

One function, :func:`validate`, serves the CLI (``bpkg validate``), the web form and API
(``bpkg/web/validate.py``) and the tests. The flow for a submission:

    bytes -> refuse hostile input (size, XML DTDs, remote JSON-LD contexts)
          -> syntax check with pyoxigraph (exact line and column)
          -> parse with rdflib, remembering the source line of each triple
          -> pre-checks pySHACL cannot do safely (ill-typed literals, ontology changes,
             submitted shapes) -> results of their own
          -> "method E" of ../shared/design/perf_security.md: add the submission on top
             of the graph (an rdflib view of the engine), find every node it can affect
             (bpkg.reach: nodes it makes targets, nodes whose shapes read what it adds),
             run each shape on those of them it targets, take the submission out again,
             all under a lock
          -> drop results the graph already had without the submission (per node, cached)
          -> a Report (text, JSON, SHACL ValidationReport as Turtle or JSON-LD).

The answer is that of a full validation of graph + submission less the graph's own results
(``method="full"``, the reference the tests compare with for every example).

Why these choices (measured in ../shared/design/perf_security.md):
* pySHACL on a pyoxigraph store gives false ``sh:in`` violations, so validation uses an
  rdflib Memory graph; ``ont_graph=`` with instance data is wrong, so the ontology is
  simply part of the data graph (``sh:class`` then follows ``rdfs:subClassOf``).
* pySHACL mutates the shapes graph it is given (pySHACL issue #314) and method E mutates
  the data graph, so every run holds the validator's lock.
* An ill-typed ``xsd:date`` makes pySHACL raise a TypeError; such triples are reported
  here and kept out of the data graph.
* A 601-byte RDF/XML entity bomb costs rdflib minutes of CPU; a remote JSON-LD
  ``@context`` is fetched by rdflib. Both are refused before any parser sees them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyoxigraph as ox
from rdflib import RDF, BNode, Dataset, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import OWL, RDFS, SH, XSD
from rdflib.parser import create_input_source
from rdflib.plugins.parsers.notation3 import RDFSink, SinkParser
from rdflib.plugins.parsers.rdfxml import create_parser as create_rdfxml_parser
from rdflib.plugins.parsers.trig import TrigSinkParser
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.stores.memory import Memory

from . import formats
from .formats import Format
from .guard import Guard
from .namespaces import BPSH, ID, PREFIXES, bind, curie, short_name
from .shapes import SHAPES_DIR, load_shapes
DEFAULT_MAX_BYTES = 1024 * 1024  # perf_security.md 2d: rdflib needs ~27x the upload in RAM
# Validation runs one at a time (pySHACL mutates shared state) and its cost grows with the
# triples: a cap keeps one upload from holding /validate for tens of seconds.
DEFAULT_MAX_TRIPLES = 5_000
BASE_IRI = ID  # relative IRIs in a submission resolve under https://w3id.org/bpkg/id/
SKOLEM = "https://w3id.org/bpkg/.well-known/genid/"  # blank nodes, made addressable (RDF 1.1 §3.5)

SEVERITIES = ("Violation", "Warning", "Info")
_WORDS = {"Violation": ("violation", "violations"), "Warning": ("warning", "warnings"), "Info": ("note", "notes")}

# The rules this module applies itself, before pySHACL; documented as shapes in core.ttl.
WELL_TYPED_LITERAL = BPSH.WellTypedLiteralShape
DATA_ONLY = BPSH.DataOnlySubmissionShape

# Triples that would change the ontology rather than add data.
_SCHEMA_PREDICATES = {
    RDFS.subClassOf, RDFS.subPropertyOf, RDFS.domain, RDFS.range,
    OWL.equivalentClass, OWL.equivalentProperty, OWL.inverseOf, OWL.disjointWith,
}

# rdflib logs a traceback for every ill-typed literal it meets; we report them ourselves.
logging.getLogger("rdflib.term").addFilter(
    lambda record: "Failed to convert Literal lexical form" not in record.getMessage()
)


# -- Errors --------------------------------------------------------------------

class SubmissionError(Exception):
    """A submission that cannot be validated at all: too big, hostile, unreadable, bad syntax.

    ``status`` is the HTTP status the web layer answers with; the CLI exits with 2.
    """

    def __init__(self, message: str, *, source: str = "<submission>", line: int | None = None,
                 column: int | None = None, status: int = 400, kind: str = "syntax"):
        self.message, self.source, self.line, self.column = message, source, line, column
        self.status, self.kind = status, kind
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "") + (f":{self.column}" if self.column else "")
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"error": self.kind, "message": self.message, "source": self.source,
                "line": self.line, "column": self.column, "status": self.status}

    def __reduce__(self):  # crosses a process boundary whole (the web layer validates in a child)
        return (_submission_error, (self.message, self.source, self.line, self.column, self.status, self.kind))


def _submission_error(message, source, line, column, status, kind) -> SubmissionError:
    return SubmissionError(message, source=source, line=line, column=column, status=status, kind=kind)


# -- Submissions -----------------------------------------------------------------

@dataclass
class Submission:
    """A parsed submission: its triples (blank nodes skolemised) and where each was written."""

    source: str
    format: Format
    graph: Graph
    lines: dict = field(default_factory=dict)  # (s, p, o) -> line number in the document

    def line_of(self, focus, path=None, value=None) -> int | None:
        if path is not None and value is not None and (focus, path, value) in self.lines:
            return self.lines[(focus, path, value)]
        for node in (focus, value):  # a focus node the submission does not write: where its value is
            found = [n for (s, _, _), n in self.lines.items() if s == node and n]
            if not found:
                found = [n for (_, _, o), n in self.lines.items() if o == node and n]
            if found and node is not None:
                return min(found)
        return None


def parse_submission(data: bytes | str, *, media_type: str | None = None, filename: str | None = None,
                     fmt: Format | None = None, source: str | None = None,
                     max_bytes: int = DEFAULT_MAX_BYTES, max_triples: int = DEFAULT_MAX_TRIPLES) -> Submission:
    """Read a submission safely, or raise :class:`SubmissionError` saying what is wrong and where."""
    source = source or filename or "<submission>"
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise SubmissionError(
            f"the submission is {len(raw):,} bytes, more than the limit of {max_bytes:,} bytes "
            f"({max_bytes / 1048576:g} MiB); split it into smaller files",
            source=source, status=413, kind="too-large")
    if not raw.strip():
        raise SubmissionError("the submission is empty", source=source, kind="empty")
    if fmt is None:
        fmt = formats.syntax_for(media_type, None if media_type else filename)
    if fmt is None:
        said = f"the media type {media_type!r}" if media_type else (
            f"the file name {filename!r}" if filename else "nothing (no media type, no file name)")
        raise SubmissionError(
            f"cannot tell the format of the submission from {said}; use one of {formats.SUBMISSION_MEDIA_TYPES} "
            f"(or a file ending in .ttl, .jsonld, .rdf, .nt, .nq, .trig)",
            source=source, status=415, kind="unknown-format")
    text = _decode(raw, source)
    _refuse_hostile(text, fmt, source)
    _check_syntax(text, fmt, source, max_triples)
    graph, lines = _parse_with_lines(text, fmt, source)
    if len(graph) > max_triples:
        raise SubmissionError(
            f"the submission has {len(graph):,} triples, more than the limit of {max_triples:,} for one "
            "validation; split it into smaller files", source=source, status=413, kind="too-large")
    graph, lines = _skolemise(graph, lines)
    return Submission(source, fmt, graph, lines)


def _decode(raw: bytes, source: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SubmissionError(f"the submission is not UTF-8 text ({exc.reason})", source=source,
                              line=line, column=column, kind="encoding") from None
    return text.removeprefix("\ufeff")


_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _refuse_hostile(text: str, fmt: Format, source: str) -> None:
    if fmt.name == "rdfxml":
        m = _DTD.search(text)
        if m:
            line = text.count("\n", 0, m.start()) + 1
            raise SubmissionError(
                "RDF/XML with a document type declaration (<!DOCTYPE or <!ENTITY) is refused: "
                "entities can read files or expand to gigabytes. Remove the DTD and write the values out",
                source=source, line=line, column=m.start() - text.rfind("\n", 0, m.start()),
                kind="refused")
    if fmt.name == "jsonld":
        try:
            doc = json.loads(text)
            where = _remote_context(doc)
        except json.JSONDecodeError as exc:
            raise SubmissionError(f"not valid JSON: {exc.msg}", source=source, line=exc.lineno,
                                  column=exc.colno) from None
        except RecursionError:
            raise SubmissionError("the JSON nests more deeply than the validator reads (about 1,000 levels); "
                                  "flatten it", source=source, kind="syntax") from None
        if where:
            raise SubmissionError(
                f"JSON-LD that loads a context from elsewhere ({where}) is refused: the validator never "
                "fetches anything. Put the context inline as an object",
                source=source, kind="refused")
        contexts = _count_contexts(doc)
        if contexts > MAX_JSONLD_CONTEXTS:
            raise SubmissionError(
                f"the JSON-LD document has {contexts:,} @context entries; the limit is {MAX_JSONLD_CONTEXTS} "
                "(context processing is costly): declare one context at the top", source=source, status=413,
                kind="too-large")


MAX_JSONLD_CONTEXTS = 50  # @context objects (and their term definitions) processed per document


def _count_contexts(doc) -> int:
    """Context entries a JSON-LD processor would have to process: every @context, each term it defines."""
    count, stack = 0, [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "@context":
                    for ctx in value if isinstance(value, list) else [value]:
                        count += 1
                        if isinstance(ctx, dict):
                            count += sum(isinstance(v, dict) for v in ctx.values())  # scoped and expanded terms
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return count


def _remote_context(node) -> str | None:
    """The first ``@context`` or ``@import`` that names a document instead of being inline."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "@import":
                return f"@import {value!r}"
            if key == "@context":
                for ctx in value if isinstance(value, list) else [value]:
                    if isinstance(ctx, str):
                        return f"@context {ctx!r}"
            found = _remote_context(value)
            if found:
                return found
    elif isinstance(node, list):
        for item in node:
            found = _remote_context(item)
            if found:
                return found
    return None


def _check_syntax(text: str, fmt: Format, source: str, max_triples: int = DEFAULT_MAX_TRIPLES) -> None:
    """pyoxigraph's parsers are strict and give exact positions; rdflib's give lines at best.
    The triple cap is enforced here, while pyoxigraph streams (a 1 MiB file of ``[]``
    holds 349k triples: rdflib would take many seconds and gigabytes to find out)."""
    try:
        for n, _ in enumerate(ox.parse(text.encode("utf-8"), format=fmt.rdf, base_iri=BASE_IRI), 1):
            if n > max_triples:
                raise SubmissionError(
                    f"the submission has more than {max_triples:,} triples, the limit for one validation; "
                    "split it into smaller files", source=source, status=413, kind="too-large")
    except SyntaxError as exc:
        message = str(exc.msg if getattr(exc, "msg", None) else exc)
        message = re.sub(r"^Parser error at line \d+ (between columns \d+ and \d+|column \d+): ", "", message)
        raise SubmissionError(f"not valid {fmt.label}: {message}", source=source,
                              line=exc.lineno, column=exc.offset) from None


class _LineRecordingStore(Memory):
    """A Memory store that notes, for each triple, the line the parser was on when adding it."""

    def __init__(self):
        super().__init__()
        self.where = lambda: None
        self.lines: dict = {}

    def add(self, triple, context, quoted=False):
        self.lines.setdefault(triple, self.where())
        super().add(triple, context, quoted)


def _parse_with_lines(text: str, fmt: Format, source: str) -> tuple[Graph, dict]:
    store = _LineRecordingStore()
    try:
        if fmt.name in ("turtle", "trig"):
            # rdflib's Turtle/TriG parsers, driven directly so that we can read their line counter.
            target = Dataset(store=store, default_union=True) if fmt.dataset else Graph(store=store)
            parser_class = TrigSinkParser if fmt.dataset else SinkParser
            parser = parser_class(RDFSink(target), baseURI=BASE_IRI, turtle=True)
            store.where = lambda: parser.lines + 1
            parser.loadBuf(text)
        elif fmt.name == "rdfxml":
            target = Graph(store=store)
            src = create_input_source(data=text.encode("utf-8"), publicID=BASE_IRI)
            reader = create_rdfxml_parser(src, target)
            store.where = lambda: reader.getContentHandler().locator.getLineNumber()
            reader.parse(src)
        else:
            target = Dataset(store=store, default_union=True) if fmt.dataset else Graph(store=store)
            target.parse(data=text, format=fmt.rdflib, publicID=BASE_IRI)
    except SubmissionError:
        raise
    except Exception as exc:  # rdflib raises many types; all mean "cannot read this document"
        line = getattr(exc, "lineno", None) or getattr(exc, "lines", None)
        raise SubmissionError(f"not valid {fmt.label}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                              source=source, line=line if isinstance(line, int) else None) from None
    graph = Graph()
    lines: dict = {}
    for triple, line in store.lines.items():
        graph.add(triple)
        lines.setdefault(triple, line)
    if fmt.name in ("ntriples", "nquads"):
        lines = _lines_by_search(text, graph)
    return graph, lines


def _lines_by_search(text: str, graph: Graph) -> dict:
    """One statement per line: find the line that writes subject and predicate (and object)."""
    rows = text.splitlines()
    lines = {}
    for s, p, o in graph:
        if isinstance(s, BNode):
            continue
        candidates = [i for i, row in enumerate(rows, 1) if f"<{s}>" in row and f"<{p}>" in row]
        exact = [i for i in candidates if (f"<{o}>" if isinstance(o, URIRef) else f'"{o}') in rows[i - 1]]
        if exact or candidates:
            lines[(s, p, o)] = (exact or candidates)[0]
    return lines


def _skolemise(graph: Graph, lines: dict) -> tuple[Graph, dict]:
    """Blank nodes become IRIs: pySHACL only validates IRI focus nodes when given focus_nodes."""
    def sk(term):
        return URIRef(SKOLEM + str(term)) if isinstance(term, BNode) else term

    out = Graph()
    bind(out)
    new_lines = {}
    for s, p, o in graph:
        t = (sk(s), p, sk(o))
        out.add(t)
        if (s, p, o) in lines:
            new_lines[t] = lines[(s, p, o)]
    return out, new_lines


# -- Results and reports ---------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    severity: str  # Violation, Warning or Info
    focus: URIRef
    message: str
    component: URIRef
    shape: URIRef | BNode | None  # the sh:sourceShape
    node_shape: URIRef | None = None  # the named shape it belongs to (the shape itself, or its parent)
    name: str | None = None  # sh:name of the property shape
    path: object = None  # URIRef, or a SHACL path node
    path_text: str | None = None
    value: object = None
    line: int | None = None

    def key(self):
        """Identity of a result, independent of where the submission wrote it."""
        return (self.focus, self.path_text, self.value, self.component, self.shape, self.message)

    def baseline_key(self) -> tuple:
        """The same identity in words that mean the same in every process (a baseline is
        cached on disk): blank nodes, whose ids each parse draws anew, are any blank node, and
        a result names its named shape rather than a blank-node property shape."""
        def word(term):
            return None if term is None else "_:" if isinstance(term, BNode) else term.n3()
        return (word(self.focus), self.path_text, word(self.value), word(self.component), word(self.node_shape),
                self.message)


def display(term) -> str:
    """A term as people read it: prefixed name, ``_:x`` for blank nodes, ``"text"@en`` for literals."""
    if term is None:
        return ""
    if isinstance(term, URIRef):
        text = str(term)
        if text.startswith(SKOLEM):
            return "_:" + text[len(SKOLEM):]
        return short_name(text)
    if isinstance(term, Literal):
        lexical = json.dumps(str(term), ensure_ascii=False)
        if term.language:
            return f"{lexical}@{term.language}"
        if term.datatype:
            return f"{lexical}^^{curie(str(term.datatype))}"
        return lexical
    return str(term)


@dataclass
class Report:
    results: list[Finding]
    source: str  # "the bundled knowledge graph" or the submission's name
    triples: int  # triples validated (the submission's, or the bundled graph's)
    context_triples: int  # triples of the knowledge graph used as context
    shapes: int  # node shapes applied
    bundled: bool = False

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.severity for r in self.results)
        return {s: c.get(s, 0) for s in SEVERITIES}

    @property
    def conforms(self) -> bool:
        return self.counts["Violation"] == 0

    def by_focus(self) -> list[tuple[URIRef, list[Finding]]]:
        order = {s: i for i, s in enumerate(SEVERITIES)}
        groups: dict = {}
        for r in sorted(self.results, key=lambda r: (r.line or 0, display(r.focus), order[r.severity], r.path_text or "")):
            groups.setdefault(r.focus, []).append(r)
        return list(groups.items())

    def summary(self) -> str:
        parts = [f"{n} {_WORDS[s][n != 1]}" for s, n in self.counts.items()]
        return ", ".join(parts)

    # -- renderers --

    def to_text(self) -> str:
        out = []
        if self.bundled:
            out.append(f"Validated the bundled knowledge graph ({self.triples:,} triples: ontology/ and kg/) "
                       f"against {self.shapes} shapes from shapes/.")
        else:
            out.append(f"Validated {self.source} ({self.triples:,} triples) in the context of the knowledge "
                       f"graph ({self.context_triples:,} triples) against {self.shapes} shapes from shapes/.")
        for focus, results in self.by_focus():
            line = min((r.line for r in results if r.line), default=None)
            out.append("")
            out.append(display(focus) + (f"  (line {line})" if line and not self.bundled else ""))
            for r in results:
                what = f"{r.name} ({r.path_text})" if r.name and r.path_text else (r.path_text or r.name or "the record as a whole")
                detail = f"{_WORDS[r.severity][0].capitalize()}: {what}"
                if r.value is not None and r.value != r.focus:
                    detail += f", value {display(r.value)}"
                if r.line and not self.bundled:
                    detail += f", line {r.line}"
                out.append("  " + detail)
                out.append("      " + r.message)
        out.append("")
        verdict = "acceptable" if self.conforms else "not acceptable: fix the violations above"
        out.append(f"{self.summary()}; {verdict}." if not self.bundled else f"{self.summary()}.")
        out.append(f"conforms: {'true' if self.conforms else 'false'}")
        return "\n".join(out) + "\n"

    def as_dict(self) -> dict:
        return {
            "conforms": self.conforms,
            "source": self.source,
            "triples": self.triples,
            "context_triples": self.context_triples,
            "counts": {s.lower(): n for s, n in self.counts.items()},
            "results": [
                {
                    "severity": r.severity,
                    "focus_node": display(r.focus) if str(r.focus).startswith(SKOLEM) else str(r.focus),
                    "focus_node_label": display(r.focus),
                    "path": r.path_text,
                    "property": r.name,
                    "value": None if r.value is None else (str(r.value) if not str(r.value).startswith(SKOLEM) else display(r.value)),
                    "value_label": None if r.value is None else display(r.value),
                    "message": r.message,
                    "constraint": curie(str(r.component)),
                    "source_shape": display(r.node_shape) if r.node_shape is not None else None,
                    "line": r.line,
                }
                for _, group in self.by_focus() for r in group
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_graph(self, shapes: Graph | None = None) -> Graph:
        """The SHACL ValidationReport (sh:ValidationReport with one sh:ValidationResult each)."""
        g = Graph()
        bind(g)
        report = BNode()
        g.add((report, RDF.type, SH.ValidationReport))
        g.add((report, SH.conforms, Literal(self.conforms)))
        copied: set = set()
        for r in self.results:
            node = BNode()
            g.add((report, SH.result, node))
            g.add((node, RDF.type, SH.ValidationResult))
            g.add((node, SH.resultSeverity, SH[r.severity]))
            g.add((node, SH.focusNode, r.focus))
            g.add((node, SH.resultMessage, Literal(r.message, lang="en")))
            g.add((node, SH.sourceConstraintComponent, r.component))
            if r.shape is not None:
                g.add((node, SH.sourceShape, r.shape))
                if isinstance(r.shape, BNode) and shapes is not None and r.shape not in copied:
                    copied.add(r.shape)
                    g += shapes.cbd(r.shape)  # so that a blank-node shape still says what it is
            if r.path is not None:
                g.add((node, SH.resultPath, r.path))
                if isinstance(r.path, BNode) and shapes is not None:
                    g += shapes.cbd(r.path)
            if r.value is not None:
                g.add((node, SH.value, r.value))
        return g

    def to_turtle(self, shapes: Graph | None = None) -> str:
        return self.to_graph(shapes).serialize(format="turtle")

    def to_jsonld(self, shapes: Graph | None = None) -> str:
        g = self.to_graph(shapes)
        context = {p: PREFIXES[p] for p in ("sh", "bp", "bpsh", "xsd", "rdf")}
        return g.serialize(format="json-ld", context=context, indent=2)

    def render(self, fmt: str, shapes: Graph | None = None) -> str:
        return {"text": self.to_text, "json": self.to_json}[fmt]() if fmt in ("text", "json") else (
            self.to_turtle(shapes) if fmt == "turtle" else self.to_jsonld(shapes))


# -- The validator ---------------------------------------------------------------

class _PreparedQueryGraph(Graph):
    """An rdflib graph that parses each SPARQL text once.

    pySHACL hands a SHACL-SPARQL constraint to ``Graph.query`` as text for every focus
    node, and rdflib parses it again each time (~40 ms, against ~0.5 ms to evaluate it).
    The texts come from our own shapes, so the cache is small and bounded by them.
    """

    _prepared: dict = {}

    def query(self, query_object, *args, **kwargs):
        if isinstance(query_object, str) and len(self._prepared) < 256:
            prepared = self._prepared.get(query_object)
            if prepared is None:
                prepared = self._prepared[query_object] = prepareQuery(query_object)
            query_object = prepared
        return super().query(query_object, *args, **kwargs)


def user_cache_dir() -> Path:
    """Where results computed from the data are remembered: ``$XDG_CACHE_HOME/bpkg`` (``~/.cache/bpkg``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bpkg"


def content_key(kg, shapes_dir: Path = SHAPES_DIR) -> str:
    """A hash of the data (its version: the content hash of the source files) and the shapes."""
    digest = hashlib.sha256(kg.version.encode())
    for path in sorted(Path(shapes_dir).rglob("*.ttl")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def baseline_cache_file(kg, shapes_dir: Path = SHAPES_DIR) -> Path | None:
    """The file that keeps the per-node baseline of this data and these shapes, or None where
    the version is not a content hash (a published dataset counts accepts, ``-g<n>``)."""
    code = _judge()
    if getattr(kg, "generation", 0) or not re.fullmatch(r"[0-9a-f]{16}", kg.version or "") or code is None:
        return None
    return user_cache_dir() / f"baseline-{content_key(kg, shapes_dir)}-{code}.json"


def _node_order(node) -> tuple:
    return (type(node).__name__, str(node))


def _read_baseline(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {URIRef(n): [tuple(k) for k in keys] for n, keys in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # none yet, or unreadable: it is made again


def require_conformance(kg, shapes_dir: Path = SHAPES_DIR, cache_dir: Path | None = None) -> None:
    """Refuse (bpkg.LoadError: file, line, message) a bundled graph the validator rejects:
    shapes that do not parse, a violation, an ill-typed literal. Commands that serve or
    export the graph call this first. A conforming result is remembered (``~/.cache/bpkg``)
    by the content hash of the data and the shapes and by the code that judged them (this
    module, the versions of bpkg, rdflib and pySHACL), so a start on files already accepted
    neither parses the shapes nor imports pySHACL: the same bytes judged by the same code
    cannot give another answer."""
    from .store import LoadError

    stamp = _conformance_stamp(kg, shapes_dir, cache_dir)
    if stamp is not None and stamp.is_file():
        return
    unreadable = load_shapes(shapes_dir).failures
    if unreadable:
        path, message, line = unreadable[0]
        raise LoadError(path, f"the shapes file does not parse: {message}", line)
    validator = validator_for(kg) if Path(shapes_dir) == SHAPES_DIR else Validator(kg, shapes_dir)
    report = validator.validate_bundled()
    violations = [r for r in report.results if r.severity == "Violation"]
    if violations:
        first = violations[0]
        path, line = _where_in_sources(kg, first.focus)
        more = f" (and {len(violations) - 1} more; run `bpkg validate`)" if len(violations) > 1 else ""
        raise LoadError(path, f"{display(first.focus)}: {first.message}{more}", line)
    if stamp is None:
        return
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text("conforms\n")
    except OSError:
        pass  # no cache: the next start validates again


def _conformance_stamp(kg, shapes_dir: Path, cache_dir: Path | None) -> Path | None:
    """The file whose presence says "these data conform to these shapes" (None: no cache)."""
    code = _judge()
    if code is None:
        return None  # the code that would judge cannot be told apart from another: validate
    return (cache_dir or user_cache_dir()) / f"conforms-{content_key(kg, shapes_dir)}-{code}"


@functools.cache  # the same for the life of the process; a check asks up to three times
def _judge() -> str | None:
    """A hash of the code that judges: bpkg's, rdflib's and pySHACL's versions, this module
    and the reach analysis (a result it made is kept only for the same code)."""
    from importlib import metadata

    from . import __version__

    try:
        judge = [__version__, metadata.version("rdflib"), metadata.version("pyshacl")]
        code = "\0".join(judge).encode() + b"\0" + Path(__file__).read_bytes()
        return hashlib.sha256(code + Path(__file__).with_name("reach.py").read_bytes()).hexdigest()[:16]
    except (OSError, metadata.PackageNotFoundError):
        return None


def _where_in_sources(kg, focus) -> tuple[str, int | None]:
    """The source file (and line) that describes ``focus``, for an error message."""
    from .store import ROOT

    found = kg.store.quads_for_pattern(ox.NamedNode(str(focus)), None, None) if isinstance(focus, URIRef) else []
    graphs = {q.graph_name.value for q in found if isinstance(q.graph_name, ox.NamedNode)}
    for source in kg.files:
        if str(source.graph) in graphs:
            path = ROOT / source.path
            key = str(focus).rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
            try:
                for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    if str(focus) in text or (key and key in text):
                        return source.path, number
            except OSError:
                pass
            return source.path, None
    return "kg/", None


class Validator:
    """Validation against one loaded knowledge graph. Thread-safe: one run at a time."""

    def __init__(self, kg, shapes_dir: Path = SHAPES_DIR):
        self.kg = kg
        bundle = load_shapes(shapes_dir).checked()
        self.shapes, self._shapes_digest = bundle.graph, bundle.digest
        self.node_shapes = sorted({s for s in self.shapes.subjects(RDF.type, SH.NodeShape) if isinstance(s, URIRef)})
        self._parents = {ps: ns for ns, ps in self.shapes.subject_objects(SH.property)}
        # The graph as pySHACL sees it: every lookup goes to the engine (no copy of the graph;
        # a focused run reads only the neighbourhood its shapes walk), ill-typed literals left
        # out (pySHACL would raise on them; the bundled run reports them), and a submission
        # held in memory on top while it is validated.
        self._data = kg.union(writable=True, hide=_lexical_problem, cls=_PreparedQueryGraph)
        self._guard = Guard(kg.union(hide=_lexical_problem), getattr(kg, "owners", None))
        self._lock = threading.Lock()
        self._bundled: Report | None = None
        self._size: int | None = None
        self._pyshacl = None  # see _checker
        # The baseline: focus node -> keys of the graph's own results for it (without any
        # submission). The published data never changes under one validator, so each node is
        # validated alone once: here, in the process that asked (the server's validation
        # child hands what it learnt back, see bpkg.web.upload), or read from the cache file
        # of this data and these shapes (the command line).
        self._before: dict = {}
        self._cache_file = baseline_cache_file(kg, shapes_dir)
        self._stored = 0
        if self._cache_file is not None:
            self._before.update(_read_baseline(self._cache_file))
            self._stored = len(self._before)

    @property
    def context_triples(self) -> int:
        if self._size is None:
            self._size = len(self._data)
        return self._size

    # -- public --

    def validate_bundled(self) -> Report:
        """Every node of the graph against every shape (pySHACL over a full in-memory copy:
        the one run that must read everything; never part of validating a submission)."""
        with self._lock:
            return self._bundled_report()

    def _bundled_report(self) -> Report:
        """The report of the whole graph, made once. Called under the lock."""
        if self._bundled is None:
            data = _PreparedQueryGraph()
            bind(data)
            ill_typed: list[Finding] = []
            for triple in self.kg.union():
                if _lexical_problem(triple[2]):
                    ill_typed.append(self._ill_typed_result(triple, None))
                else:
                    data.add(triple)
            results = ill_typed + self._run(data)
            self._bundled = Report(results, "the bundled knowledge graph", len(data), len(data),
                                   len(self.node_shapes), bundled=True)
        return self._bundled

    def validate_submission(self, submission: Submission, method: str = "focused", owner: str | None = None) -> Report:
        """Validate in the context of the graph. ``method="full"`` re-validates everything (reference).

        The guard on authoritative facts (:mod:`bpkg.guard`) applies too: ``owner`` (a
        submitter's token id) may add facts about the entities its accepted submissions introduced.
        """
        data, pre = self._screen(submission)
        pre += [Finding("Violation", focus, message, SH.NodeConstraintComponent, shape, shape, path=path,
                       path_text=curie(str(path)), value=value)
                for focus, path, value, message, shape in self._guard.check(data, owner)]
        with self._lock:
            focused = self._validate_focused(data) if method != "full" and self._checker()[2] is not None else None
            if focused is None:
                results = self._validate_full(data)
            else:
                results, nodes = focused
                # What the graph already reports about these nodes is not the submission's doing.
                baseline = self._baseline(nodes)
                results = [r for r in results if r.baseline_key() not in baseline]
        # A dropped ill-typed triple also looks like a missing value to the shapes; the
        # ill-typed result already says what to fix there.
        ill_typed = {(r.focus, r.path) for r in pre if r.shape == WELL_TYPED_LITERAL}
        results = [r for r in results if (r.focus, r.path) not in ill_typed]
        results = [self._with_line(r, submission) for r in pre + results]
        self.save_baseline()
        return Report(results, submission.source, len(submission.graph), self.context_triples, len(self.node_shapes))

    def _baseline(self, focus: list) -> set:
        """The keys of the graph's own results for these nodes, validating (without the
        submission) those not met before. Called under the lock."""
        missing = [n for n in focus if n not in self._before]
        if missing:
            found: dict = {n: [] for n in missing}
            for r in self._run_on(self._data, missing):
                found.setdefault(r.focus, []).append(r.baseline_key())
            self._before.update(found)
        return {key for n in focus for key in self._before.get(n, ())}

    def baseline_known(self) -> frozenset:
        return frozenset(self._before)

    def baseline_since(self, known: frozenset) -> dict:
        """The baseline entries learnt since ``known`` (a child hands them to its parent)."""
        return {n: keys for n, keys in self._before.items() if n not in known}

    def remember(self, entries: dict) -> None:
        for n, keys in entries.items():  # no lock: a child may be forked at any moment, and must not inherit it held
            self._before.setdefault(n, keys)

    def after_fork(self) -> None:
        """In a child forked from a process where another thread may have been validating: a
        fresh lock, and none of that validation's triples."""
        self._lock = threading.Lock()
        for t in list(self._data.store._added):
            self._data.remove(t)

    def save_baseline(self) -> None:
        """Write what was learnt to this data's cache file (when it has one); no cache, no harm."""
        if self._cache_file is None or len(self._before) == self._stored:
            return
        try:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            partial = self._cache_file.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps({str(n): [list(k) for k in keys] for n, keys in self._before.items()
                                           if isinstance(n, URIRef)}))  # what a file can name again
            os.replace(partial, self._cache_file)
            self._stored = len(self._before)
        except OSError:
            pass

    # -- method E and its reference --

    def _validate_focused(self, data: Graph) -> tuple[list[Finding], list] | None:
        """The submission added to the graph in place; every node it can affect (see
        :mod:`bpkg.reach`: nodes it makes targets, and nodes whose shapes read what it adds)
        checked against the shapes that target it; the submission taken out again. Returns
        the results and the nodes checked, or None when the affected nodes cannot be bounded."""
        added = [t for t in data if t not in self._data]
        try:
            for t in added:
                self._data.add(t)
            nodes = self._checker()[2].affected(self._data, added)
            if nodes is None:
                return None
            nodes = sorted(nodes, key=_node_order)
            return self._run_on(self._data, nodes), nodes
        finally:
            for t in added:
                self._data.remove(t)

    def _validate_full(self, data: Graph) -> list[Finding]:
        """The reference: every shape on a full copy of graph + submission, less every result
        the graph has without it. Also the answer when the shapes' reach cannot be bounded."""
        union = _PreparedQueryGraph()
        for t in self._data:  # a full copy, on purpose
            union.add(t)
        for t in data:
            union.add(t)
        before = {r.baseline_key() for r in self._bundled_report().results}
        return [r for r in self._run(union) if r.baseline_key() not in before]

    def _run(self, data: Graph) -> list[Finding]:
        """pySHACL on every target of every shape."""
        import pyshacl  # here, not at the top: every `bpkg` command and the server import this module

        conforms, report, text = pyshacl.validate(
            data, shacl_graph=self.shapes, inference="none", inplace=True, advanced=False,
            allow_warnings=True, allow_infos=True, do_owl_imports=False)
        if not isinstance(report, Graph):
            raise RuntimeError(f"pySHACL could not run the shapes: {text}")
        return self._results(report)

    def _checker(self):
        """pySHACL's validator over our data and shapes (shapes parsed once), the shapes that
        have targets with their target declarations, and the reach of those shapes (None
        where it cannot be bounded: then every check is a full one)."""
        if self._pyshacl is None:
            import pyshacl
            from pyshacl.graph_abstraction import DataGraph

            checker = pyshacl.Validator(DataGraph.from_rdflib(self._data), shacl_graph=self.shapes, options={
                "inference": "none", "inplace": True, "allow_warnings": True, "allow_infos": True})
            declared = [(shape, tuple(frozenset(t) for t in shape.target())) for shape in checker.shacl_graph.shapes]
            targeted = [(shape, targets) for shape, targets in declared if any(targets)]
            self._pyshacl = (checker, targeted, self._reach(targeted))
        return self._pyshacl

    def _reach(self, targeted):
        """The reach of the shapes (:mod:`bpkg.reach`), kept in the cache folder by the shapes'
        digest and the code that made it; None when it cannot be bounded."""
        from .reach import Reach, Unbounded

        code = _judge()
        kept = user_cache_dir() / f"reach-{self._shapes_digest}-{code}.json" if code else None
        try:
            return Reach.from_json(kept.read_text(encoding="utf-8"))
        except (AttributeError, OSError, ValueError, TypeError, KeyError):
            pass  # not there yet (or no cache): analyse the shapes
        try:
            reach = Reach(self.shapes, [(shape.node, targets) for shape, targets in targeted])
        except Unbounded:
            return None
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            partial = kept.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(reach.to_json(), encoding="utf-8")
            os.replace(partial, kept)
        except (AttributeError, OSError):
            pass
        return reach

    def _run_on(self, data: Graph, nodes: list) -> list[Finding]:
        """Each shape on those of ``nodes`` it targets in ``data``, by pySHACL's own
        ``Shape.validate`` as its validator runs it. Not pySHACL's ``focus_nodes`` option:
        under it a nested shape (``sh:node``, ``sh:or``, ``sh:qualifiedValueShape``) passes
        on every value that is not itself a focus node (a literal, a published node); nor
        ``use_shapes``: it applies every shape to every focus node, targeted or not, and
        skips the named shapes that ``sh:node`` refers to."""
        if not nodes:
            return []
        from pyshacl.graph_abstraction import DataGraph

        from .reach import is_target

        checker, targeted, _ = self._checker()
        executor = checker.make_executor()
        graph = DataGraph.from_rdflib(data)  # as pyshacl.validate wraps it
        types: dict = {}
        conforms, found = True, []
        for shape, targets in targeted:
            focus = [n for n in nodes if is_target(data, targets, n, types)]
            if focus:
                ok, reports = shape.validate(executor, graph, focus=focus)
                conforms, found = conforms and ok, found + reports
        report, _ = checker.create_validation_report(checker.shacl_graph, conforms, found)
        return self._results(report)

    # -- turning pySHACL's report into Results --

    def _results(self, report: Graph) -> list[Finding]:
        nested = set(report.objects(None, SH.detail))
        out = []
        for node in report.subjects(RDF.type, SH.ValidationResult):
            if node in nested:
                continue
            shape = report.value(node, SH.sourceShape)
            path = report.value(node, SH.resultPath)
            messages = list(report.objects(node, SH.resultMessage))
            english = [m for m in messages if getattr(m, "language", None) == "en"] or messages
            shape_in_graph = shape if isinstance(shape, URIRef) else self._shape_node(report, shape)
            out.append(Finding(
                severity=str(report.value(node, SH.resultSeverity)).rsplit("#", 1)[-1],
                focus=report.value(node, SH.focusNode),
                message=str(english[0]) if english else "This value does not meet a constraint.",
                component=report.value(node, SH.sourceConstraintComponent),
                shape=shape_in_graph,
                node_shape=self._parents.get(shape_in_graph, shape_in_graph if isinstance(shape_in_graph, URIRef) else None),
                name=str(self.shapes.value(shape_in_graph, SH.name)) if self.shapes.value(shape_in_graph, SH.name) else None,
                path=self._path_in_shapes(shape_in_graph, path),
                path_text=_path_text(*((self.shapes, self._path_in_shapes(shape_in_graph, path))
                                       if isinstance(path, BNode) else (report, path))),
                value=report.value(node, SH.value),
            ))
        return out

    def _shape_node(self, report: Graph, shape):
        """pySHACL copies blank-node shapes into its report; find the same shape in ours."""
        if shape is None or (shape, None, None) in self.shapes:
            return shape
        path = report.value(shape, SH.path)
        message = report.value(shape, SH.message)
        for candidate in self.shapes.subjects(SH.message, message) if message is not None else []:
            if path is None or isinstance(path, BNode) or self.shapes.value(candidate, SH.path) == path:
                return candidate
        return shape

    def _path_in_shapes(self, shape, path):
        return self.shapes.value(shape, SH.path) if isinstance(path, BNode) and shape is not None else path

    # -- checks pySHACL cannot do safely --

    def _screen(self, submission: Submission) -> tuple[Graph, list[Finding]]:
        """Split a submission into the data pySHACL may see and results of our own checks."""
        data = Graph()
        pre: list[Finding] = []
        shape_nodes = _shape_nodes(submission.graph)
        if shape_nodes:
            first = min(shape_nodes, key=lambda n: submission.line_of(n) or 0)
            pre.append(Finding("Info", first, (
                f"The submission carries SHACL shapes ({len(shape_nodes)} nodes); they were ignored: "
                "only the knowledge graph's own shapes (shapes/) apply."), SH.NodeConstraintComponent, DATA_ONLY,
                DATA_ONLY))
        for triple in submission.graph:
            s, p, o = triple
            if s in shape_nodes:
                continue
            if _lexical_problem(o):
                pre.append(self._ill_typed_result(triple, submission))
            elif p in _SCHEMA_PREDICATES:
                pre.append(Finding("Violation", s, (
                    f"A data submission cannot change the ontology ({curie(str(p))}); ask the maintainers "
                    "to change ontology/bp.ttl instead."), SH.ClosedConstraintComponent, DATA_ONLY, DATA_ONLY,
                    path=p, path_text=curie(str(p)), value=o))
            else:
                if p == OWL.imports:
                    pre.append(Finding("Info", s, (
                        f"owl:imports {display(o)} is not followed: the submission is validated as it is, "
                        "and nothing is fetched."), SH.NodeConstraintComponent, DATA_ONLY, DATA_ONLY,
                        path=p, path_text="owl:imports", value=o))
                data.add(triple)
        return data, pre

    @staticmethod
    def _ill_typed_result(triple, submission) -> Finding:
        s, p, o = triple
        return Finding("Violation", s, (
            f"{json.dumps(str(o), ensure_ascii=False)} is not a valid {curie(str(o.datatype))}: "
            f"{_EXAMPLES.get(o.datatype, 'check the value against its datatype')}."),
            SH.DatatypeConstraintComponent, WELL_TYPED_LITERAL, WELL_TYPED_LITERAL,
            path=p, path_text=curie(str(p)), value=o)

    @staticmethod
    def _with_line(result: Finding, submission: Submission) -> Finding:
        if result.line is not None:
            return result
        path = result.path if isinstance(result.path, URIRef) else None
        line = submission.line_of(result.focus, path, result.value)
        return replace(result, line=line)


_EXAMPLES = {
    XSD.date: "write a real calendar date as YYYY-MM-DD, such as \"2019-02-19\"",
    XSD.gYear: "write a year as YYYY, such as \"2019\"",
    XSD.gYearMonth: "write a year and month as YYYY-MM, such as \"2019-02\"",
    XSD.dateTime: "write a date and time as YYYY-MM-DDThh:mm:ss, such as \"2019-02-19T10:00:00\"",
    XSD.integer: "write a whole number, such as \"15\"",
    XSD.boolean: "write true or false",
}
_LEXICAL = {
    XSD.gYear: re.compile(r"^-?[0-9]{4,}(Z|[+-][0-9]{2}:[0-9]{2})?$"),
    XSD.gYearMonth: re.compile(r"^-?[0-9]{4,}-(0[1-9]|1[0-2])(Z|[+-][0-9]{2}:[0-9]{2})?$"),
}


def _lexical_problem(term) -> bool:
    """True for a typed literal whose text is not a value of its datatype ("2019-02-30"^^xsd:date)."""
    if not isinstance(term, Literal) or term.datatype is None:
        return False
    if term.datatype in _LEXICAL:
        return not _LEXICAL[term.datatype].match(str(term))
    return bool(term.ill_typed)


def _shape_nodes(graph: Graph) -> set:
    """Nodes that describe SHACL shapes, with the lists and blank nodes hanging off them."""
    sh = str(SH)
    found = {s for s, p, o in graph if str(p).startswith(sh) or (p == RDF.type and str(o).startswith(sh))}
    frontier = set(found)
    while frontier:
        nxt = set()
        for s in frontier:
            for o in graph.objects(s, None):
                if isinstance(o, URIRef) and str(o).startswith(SKOLEM) and o not in found:
                    nxt.add(o)
        found |= nxt
        frontier = nxt
    return found


def _path_text(graph: Graph, path) -> str | None:
    """A SHACL property path in SPARQL-like words: ``bp:x``, ``^bp:x``, ``bp:a|bp:b``, ``bp:a/bp:b``."""
    if path is None:
        return None
    if isinstance(path, URIRef):
        return curie(str(path))
    alt = graph.value(path, SH.alternativePath)
    if alt is not None:
        return "|".join(_path_text(graph, p) for p in Collection(graph, alt))
    inv = graph.value(path, SH.inversePath)
    if inv is not None:
        return "^" + _path_text(graph, inv)
    if graph.value(path, RDF.first) is not None:
        return "/".join(_path_text(graph, p) for p in Collection(graph, path))
    for key, mark in ((SH.zeroOrMorePath, "*"), (SH.oneOrMorePath, "+"), (SH.zeroOrOnePath, "?")):
        inner = graph.value(path, key)
        if inner is not None:
            return f"({_path_text(graph, inner)}){mark}"
    return str(path)


# -- The one function --------------------------------------------------------------

def validator_for(kg, shapes_dir: Path = SHAPES_DIR) -> Validator:
    """The validator of a loaded graph and a shapes folder, built once (shapes parsed,
    private data copy made), even when many requests ask for it at once."""
    key = Path(shapes_dir).resolve()
    with _validators_lock:
        validators = kg.__dict__.setdefault("_bpkg_validators", {})
        if key not in validators:
            validators[key] = Validator(kg, key)
        return validators[key]


_validators_lock = threading.Lock()


def validate(kg, data: bytes | str | None = None, *, media_type: str | None = None,
             filename: str | None = None, fmt: Format | None = None, source: str | None = None,
             max_bytes: int = DEFAULT_MAX_BYTES, method: str = "focused", shapes_dir: Path = SHAPES_DIR,
             owner: str | None = None) -> Report:
    """Validate the bundled graph (``data`` None) or a submission in the context of ``kg``.

    Raises :class:`SubmissionError` when the submission cannot be read (size, format,
    hostile content, syntax); otherwise returns a :class:`Report`.
    """
    validator = validator_for(kg, shapes_dir)
    if data is None:
        return validator.validate_bundled()
    submission = parse_submission(data, media_type=media_type, filename=filename, fmt=fmt,
                                  source=source, max_bytes=max_bytes)
    return validator.validate_submission(submission, method=method, owner=owner)
