"""Media types, content negotiation and the SPARQL result serialisers.

Two families of results: *tabular* (SELECT, and ASK as a one-cell table) and *graph*
(CONSTRUCT, DESCRIBE). Each format has a short name (the ``format=`` parameter), one
canonical media type (what we send) and aliases (what we accept in ``Accept``).

Tables must stop at a row or byte limit and still be well-formed documents: SPARQL JSON is
written by pyoxigraph when that gives our bytes (under the limits, or cut at the row limit),
everything else by our TableWriter; graph results are serialised by pyoxigraph with the
canonical prefix map.
"""

from __future__ import annotations

import functools

import csv
import io
import json
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox

from .namespaces import PREFIXES

XSD_STRING = PREFIXES["xsd"] + "string"
W3C_FORMATS = "http://www.w3.org/ns/formats/"


@dataclass(frozen=True)
class Format:
    name: str  # the one spelling: format= value, bpkg export --format, submission form field
    media_type: str  # what we send
    aliases: tuple[str, ...] = ()  # what else we accept in Accept
    w3c: str = ""  # the http://www.w3.org/ns/formats/ IRI, for the service description
    rdf: ox.RdfFormat | None = None  # RDF syntaxes only
    label: str = ""  # for people: "JSON-LD"
    extensions: tuple[str, ...] = ()  # file names that say this syntax, the usual one first
    reads: tuple[str, ...] = ()  # Content-Types a submission in this syntax may come with
    rdflib: str = ""  # rdflib's parser name

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"

    @property
    def dataset(self) -> bool:
        """N-Quads and TriG carry named graphs; the others one graph."""
        return self.rdf in (ox.RdfFormat.N_QUADS, ox.RdfFormat.TRIG)


# Order matters: the first is the default when the client accepts anything.
TABULAR = (
    Format("json", "application/sparql-results+json",
           ("application/json", "text/javascript", "application/javascript"), W3C_FORMATS + "SPARQL_Results_JSON"),
    Format("xml", "application/sparql-results+xml", ("application/xml", "text/xml"), W3C_FORMATS + "SPARQL_Results_XML"),
    Format("csv", "text/csv", (), W3C_FORMATS + "SPARQL_Results_CSV"),
    Format("tsv", "text/tab-separated-values", (), W3C_FORMATS + "SPARQL_Results_TSV"),
)
GRAPH = (
    Format("turtle", "text/turtle", ("application/turtle", "application/x-turtle", "text/n3", "text/rdf+n3"),
           W3C_FORMATS + "Turtle", ox.RdfFormat.TURTLE, "Turtle", (".ttl",),
           ("text/turtle", "application/x-turtle"), "turtle"),
    Format("ntriples", "application/n-triples", ("text/plain",), W3C_FORMATS + "N-Triples", ox.RdfFormat.N_TRIPLES,
           "N-Triples", (".nt",), ("application/n-triples",), "nt"),
    Format("jsonld", "application/ld+json", ("application/json",), W3C_FORMATS + "JSON-LD", ox.RdfFormat.JSON_LD,
           "JSON-LD", (".jsonld", ".json"), ("application/ld+json", "application/json"), "json-ld"),
    Format("rdfxml", "application/rdf+xml", ("application/xml", "text/xml"), W3C_FORMATS + "RDF_XML",
           ox.RdfFormat.RDF_XML, "RDF/XML", (".rdf", ".owl", ".xml"),
           ("application/rdf+xml", "application/xml", "text/xml"), "xml"),
    Format("trig", "application/trig", (), W3C_FORMATS + "TriG", ox.RdfFormat.TRIG, "TriG", (".trig",),
           ("application/trig",), "trig"),
    Format("nquads", "application/n-quads", (), W3C_FORMATS + "N-Quads", ox.RdfFormat.N_QUADS, "N-Quads", (".nq",),
           ("application/n-quads", "text/x-nquads"), "nquads"),
)
# Documents that are not RDF results: JSON (reports, listings) and an HTML page.
JSON = Format("json", "application/json", label="JSON")
HTML = Format("html", "text/html", ("application/xhtml+xml",), label="HTML")

# The syntaxes a submission may be written in, in the order forms and messages list them.
SUBMISSION_SYNTAXES = tuple(next(f for f in GRAPH if f.name == n)
                            for n in ("turtle", "jsonld", "rdfxml", "ntriples", "nquads", "trig"))
SUBMISSION_MEDIA_TYPES = ", ".join(f.media_type for f in SUBMISSION_SYNTAXES)
# Older spellings of syntax names, still understood where people type a name.
_SPELLINGS = {"json-ld": "jsonld", "rdf-xml": "rdfxml", "n-triples": "ntriples", "n-quads": "nquads"}


def syntax(name: str) -> Format | None:
    """The RDF syntax called ``name`` (its one spelling, or an older hyphenated one), or None."""
    name = _SPELLINGS.get(name, name)
    return next((f for f in GRAPH if f.name == name), None)


def syntax_name(name: str) -> str:
    """``name`` in its one spelling (for argparse ``type=``: ``json-ld`` becomes ``jsonld``)."""
    return _SPELLINGS.get(name, name)


def syntax_for(media_type: str | None = None, filename: str | None = None) -> Format | None:
    """The submission syntax a Content-Type (parameters ignored) or else a file name says, or None."""
    if media_type:
        mt = media_type.split(";")[0].strip().lower()
        return next((f for f in SUBMISSION_SYNTAXES if mt in f.reads), None)
    if filename:
        name = filename.lower()
        return next((f for f in SUBMISSION_SYNTAXES if name.endswith(f.extensions)), None)
    return None


# format= values clients send (SPARQLWrapper sends json/xml/turtle/n3/csv/tsv/json-ld),
# per result family; "json" for a graph means JSON-LD, "xml" means RDF/XML.
_NAMES = {
    "tabular": {"json": "json", "srj": "json", "xml": "xml", "srx": "xml", "csv": "csv", "tsv": "tsv"},
    "graph": {"turtle": "turtle", "ttl": "turtle", "n3": "turtle", "ntriples": "ntriples", "nt": "ntriples",
              "n-triples": "ntriples", "jsonld": "jsonld", "json-ld": "jsonld", "json": "jsonld",
              "rdfxml": "rdfxml", "rdf": "rdfxml", "xml": "rdfxml", "rdf+xml": "rdfxml",
              "trig": "trig", "nquads": "nquads", "nq": "nquads", "n-quads": "nquads"},
}
KNOWN_FORMAT_NAMES = frozenset(_NAMES["tabular"]) | frozenset(_NAMES["graph"])


class NotAcceptable(Exception):
    """Nothing the client accepts can be produced (HTTP 406)."""

    def __init__(self, family: str, offered: tuple[Format, ...]):
        self.offered = offered
        types = ", ".join(f.media_type for f in offered)
        super().__init__(f"none of the accepted media types can be produced for a {family} result; available: {types}")


def family_formats(family: str) -> tuple[Format, ...]:
    return TABULAR if family == "tabular" else GRAPH


def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """``Accept`` as (media range, q) pairs; a missing header means ``*/*``."""
    ranges = []
    for part in (header or "*/*").split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        if "/" not in media:
            media = "*/*" if media == "*" else media + "/*"
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        ranges.append((media, q))
    return ranges


def _quality(fmt: Format, ranges: list[tuple[str, float]]) -> float:
    """The q the client gives to ``fmt``: the most specific matching range decides.

    Wildcards match the canonical type only; an alias counts when named exactly (so
    ``text/*`` means CSV/TSV, not JSON through its ``text/javascript`` alias).
    """
    best_q, best_specificity = 0.0, -1
    kind = fmt.media_type.split("/")[0]
    for rng, q in ranges:
        if rng == fmt.media_type or rng in fmt.aliases:
            specificity = 2
        elif rng == kind + "/*":
            specificity = 1
        elif rng == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity or (specificity == best_specificity and q > best_q):
            best_q, best_specificity = q, specificity
    return best_q


def negotiate(offered: tuple[Format, ...], accept: str | None) -> Format | None:
    """The offered format the client prefers (ties go to our order), or None."""
    ranges = parse_accept(accept)
    best, best_q = None, 0.0
    for fmt in offered:
        q = _quality(fmt, ranges)
        if q > best_q:
            best, best_q = fmt, q
    return best


def choose(family: str, accept: str | None, format_param: str | None = None) -> Format:
    """Pick the result format: an explicit ``format=`` wins, then ``Accept``.

    ``format=`` may be a short name or a media type; an unknown value is ignored
    (clients send their own vocabulary), a known one that does not fit this result
    family is not acceptable. Kept per arguments: clients send few distinct headers,
    and parsing one costs more than a small query.
    """
    return _choose(family, accept, format_param)


@functools.lru_cache(maxsize=512)
def _choose(family: str, accept: str | None, format_param: str | None) -> Format:
    offered = family_formats(family)
    if format_param:
        value = format_param.strip().lower()
        if "/" in value:
            match = negotiate(offered, value)
            if match:
                return match
        elif value in _NAMES[family]:
            return next(f for f in offered if f.name == _NAMES[family][value])
        elif value in KNOWN_FORMAT_NAMES:
            raise NotAcceptable(family, offered)
    match = negotiate(offered, accept)
    if match is None:
        raise NotAcceptable(family, offered)
    return match


# -- tabular serialisers ----------------------------------------------------------

def _term_json(term) -> dict:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != XSD_STRING:
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, ox.Triple):
        return {"type": "triple", "value": {"subject": _term_json(term.subject),
                                            "predicate": _term_json(term.predicate),
                                            "object": _term_json(term.object)}}
    raise TypeError(f"unexpected term {term!r}")


def _term_xml(term) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    if isinstance(term, ox.Literal):
        if term.language:
            return f"<literal xml:lang={quoteattr(term.language)}>{escape(term.value)}</literal>"
        if term.datatype.value != XSD_STRING:
            return f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}</literal>"
        return f"<literal>{escape(term.value)}</literal>"
    if isinstance(term, ox.Triple):
        return ("<triple>" + "".join(f"<{k}>{_term_xml(getattr(term, k))}</{k}>"
                                     for k in ("subject", "predicate", "object")) + "</triple>")
    raise TypeError(f"unexpected term {term!r}")


def _term_csv(term) -> str:
    """CSV cells carry lexical values only (SPARQL 1.1 CSV): IRIs bare, blank nodes _:x."""
    if term is None:
        return ""
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, (ox.NamedNode, ox.Literal)):
        return term.value
    return str(term)


def _term_tsv(term) -> str:
    """TSV cells are SPARQL terms in N-Triples syntax (pyoxigraph's ``str()``)."""
    return "" if term is None else str(term)


CLOSING_ROOM = 64  # bytes a table keeps free under its budget for the document's end


class TableWriter:
    """Writes a result table row by row and stops cleanly at a byte budget."""

    def __init__(self, fmt: Format, variables: list[str], max_bytes: int):
        self.fmt, self.variables, self.max_bytes = fmt, variables, max_bytes
        self.parts: list[str] = []
        self.size = 0
        self.rows = 0
        self._head()

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text.encode("utf-8"))

    def _head(self) -> None:
        v = self.variables
        if self.fmt.name == "json":
            self._emit('{"head":{"vars":' + json.dumps(v, separators=(",", ":")) + '},"results":{"bindings":[')
        elif self.fmt.name == "xml":
            self._emit('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n<head>'
                       + "".join(f"<variable name={quoteattr(n)}/>" for n in v) + "</head>\n<results>\n")
        elif self.fmt.name == "csv":
            self._emit(_csv_line(v))
        else:
            self._emit("\t".join("?" + n for n in v) + "\n")

    def row_text(self, solution) -> str:
        values = [solution[n] for n in self.variables]
        if self.fmt.name == "json":
            cells = {n: _term_json(t) for n, t in zip(self.variables, values) if t is not None}
            return ("," if self.rows else "") + json.dumps(cells, ensure_ascii=False, separators=(",", ":"))
        if self.fmt.name == "xml":
            return ("<result>" + "".join(f"<binding name={quoteattr(n)}>{_term_xml(t)}</binding>"
                                         for n, t in zip(self.variables, values) if t is not None) + "</result>\n")
        if self.fmt.name == "csv":
            return _csv_line([_term_csv(t) for t in values])
        return "\t".join(_term_tsv(t) for t in values) + "\n"

    def add(self, solution) -> bool:
        """Append one row; False (and nothing written) when it would pass the budget."""
        text = self.row_text(solution)
        if self.size + len(text.encode("utf-8")) + CLOSING_ROOM > self.max_bytes:
            return False
        self._emit(text)
        self.rows += 1
        return True

    def finish(self) -> bytes:
        if self.fmt.name == "json":
            self._emit("]}}")
        elif self.fmt.name == "xml":
            self._emit("</results>\n</sparql>\n")
        return "".join(self.parts).encode("utf-8")


# The formats pyoxigraph writes byte for byte as TableWriter does, several times faster
# (tests/test_result_writers.py pins the identity). Its writer cannot stop at a row or byte
# cap, so it is used for whole tables under both caps (engine_table, json_rows) and
# TableWriter for the rest. Its XML, CSV and TSV differ from ours (layout, numbers in TSV,
# triple terms), so those stay ours.
ENGINE_TABULAR = {"json": ox.QueryResultsFormat.JSON}


class _OverBudget(Exception):
    pass


class _BudgetSink:
    """A write-only file for pyoxigraph that refuses to grow past ``max_bytes``, or past
    ``max_rows`` rows of SPARQL JSON (counted from below, chunk by chunk: see json_rows)."""

    def __init__(self, max_rows: int, max_bytes: int):
        self.parts: list[bytes] = []
        self.size, self.max_bytes = 0, max_bytes
        self.joins, self.max_rows = 0, max_rows

    def write(self, chunk) -> int:
        chunk = bytes(chunk)
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise _OverBudget
        self.parts.append(chunk)
        self.joins += (chunk.count(b'},{"') - chunk.count(b'},{"}') - chunk.count(b'},{",')
                       - chunk.endswith(b'},{"'))  # its next byte is in the next chunk
        if self.joins + 1 > self.max_rows:
            raise _OverBudget
        return len(chunk)

    def flush(self) -> None:
        pass


def engine_table(solutions, fmt: Format, max_rows: int, max_bytes: int) -> tuple[bytes, int, str | None] | None:
    """The table written by pyoxigraph: (body, rows, None), or (body, max_rows, "rows") cut
    where TableWriter cuts at the row cap. None when the engine cannot give TableWriter's
    bytes (over the byte budget, empty rows in a cut table): then TableWriter, run again, cuts it."""
    sink = _BudgetSink(max_rows, max_bytes - CLOSING_ROOM)
    try:
        solutions.serialize(sink, format=ENGINE_TABULAR[fmt.name])
    except _OverBudget:
        if sink.size > sink.max_bytes:
            return None
        return _first_rows(b"".join(sink.parts), max_rows)
    body = b"".join(sink.parts)
    rows = json_rows(body)
    return (body, rows, None) if rows <= max_rows else _first_rows(body, max_rows)


_ROW_JOIN = re.compile(rb'\},\{"(?=[^},])')  # see json_rows


def _first_rows(data: bytes, rows: int) -> tuple[bytes, int, str] | None:
    """The first ``rows`` rows of a longer SPARQL JSON document (all within the byte budget),
    closed as TableWriter closes a table cut at the row cap."""
    if rows < 1 or b"{}" in data:
        return None
    for count, join in enumerate(_ROW_JOIN.finditer(data), 1):
        if count == rows:
            return data[:join.start() + 1] + b"]}}", rows, "rows"
    return None


def json_rows(body: bytes) -> int:
    """The number of rows in a SPARQL JSON document as pyoxigraph writes it (head first, no spaces)."""
    start = body.index(b'"bindings":[') + len(b'"bindings":[')
    if body[start:start + 1] == b"]":
        return 0
    if b"{}" in body:  # an empty row (or braces in a value): count by parsing
        return len(json.loads(body)["results"]["bindings"])
    # Rows are joined by '},{"' and a variable name. The same bytes inside a value end with its
    # closing quote, and a closing quote is followed by '}' or ',': those are not joins.
    return 1 + body.count(b'},{"') - body.count(b'},{"}') - body.count(b'},{",')


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def boolean_result(fmt: Format, value: bool) -> bytes:
    """ASK results; CSV/TSV carry one column named ``_askResult`` (Jena's convention)."""
    text = "true" if value else "false"
    if fmt.name == "json":  # json.dumps({"head": {}, "boolean": value}), spelt out: 2 µs less per ASK
        return b'{"head": {}, "boolean": true}' if value else b'{"head": {}, "boolean": false}'
    if fmt.name == "xml":
        return ('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n'
                f"<head/>\n<boolean>{text}</boolean>\n</sparql>\n").encode()
    if fmt.name == "csv":
        return f"_askResult\r\n{text}\r\n".encode()
    return f"?_askResult\n{text}\n".encode()


def graph_result(fmt: Format, triples: list) -> bytes:
    """CONSTRUCT/DESCRIBE triples in ``fmt`` (dataset formats put them in the default graph)."""
    if fmt.rdf in (ox.RdfFormat.TRIG, ox.RdfFormat.N_QUADS):
        items = [ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in triples]
    else:
        items = triples
    prefixes = _used_prefixes(triples) if fmt.rdf in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG, ox.RdfFormat.RDF_XML) else None
    return ox.serialize(items, format=fmt.rdf, prefixes=prefixes)


def _used_prefixes(triples: list) -> dict[str, str]:
    """The canonical prefixes whose namespace some IRI in ``triples`` starts with."""
    iris = {t.value for triple in triples for t in (triple.subject, triple.predicate, triple.object)
            if isinstance(t, ox.NamedNode)}
    iris |= {triple.object.datatype.value for triple in triples if isinstance(triple.object, ox.Literal)}
    return {p: ns for p, ns in PREFIXES.items() if any(iri.startswith(ns) for iri in iris)}
