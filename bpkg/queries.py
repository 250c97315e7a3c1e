"""The analyst query library: named, parameterised SPARQL queries in ``queries/*.rq``.

Each file opens with a grlc-style ``#+`` YAML header (summary, description, tags, params,
columns) and stays valid SPARQL. A parameter ``region`` of type ``iri`` appears in the
query as ``?_region_iri`` (BASIL naming; ``?__name…`` when optional). Values arrive as
text from the CLI or a URL; they are checked and turned into RDF *terms* here, and the
terms enter the query as a ``VALUES`` block opening the outermost ``WHERE {``, written by
the engine's own term serialiser (``str()`` of a pyoxigraph term: N-Triples syntax with
every quote and brace escaped). A value is never pasted into query text as text, so it
can never become query syntax.

Why VALUES and not initial bindings: pyoxigraph's ``substitutions`` (SEP-0007) refuse a
variable that is not projected, and our parameters are not result columns; a VALUES
block is one text that every engine (pyoxigraph, rdflib, the SPARQL endpoint) evaluates
the same way, which tests/test_queries_engines.py checks.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pyoxigraph as ox
import yaml

from .namespaces import PREFIXES, expand

ROOT = Path(__file__).resolve().parent.parent
QUERY_DIR = ROOT / "queries"
XSD = PREFIXES["xsd"]

# Parameter type -> suffix of the query variable (BASIL/grlc convention).
TYPE_SUFFIX = {"iri": "_iri", "date": "_xsd_date", "year": "_integer", "integer": "_integer",
               "text": "", "string": ""}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# The outermost group: by convention (queries/README.md) its WHERE starts a line.
OUTER_WHERE = re.compile(r"(?m)^WHERE\s*\{")
MAX_TEXT = 500  # a search phrase, not a document


class QueryLibraryError(Exception):
    """Base class: something about a named query or its parameters is wrong."""


class UnknownQuery(QueryLibraryError):
    pass


class HeaderError(QueryLibraryError):
    pass


class ParameterError(QueryLibraryError):
    """A parameter is missing, unknown or malformed (HTTP 400, exit code 2)."""

    def __init__(self, message: str, param: str | None = None):
        self.param = param
        super().__init__(message)


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    required: bool = True
    example: str = ""
    description: str = ""

    @property
    def variable(self) -> str:
        return ("_" if self.required else "__") + self.name + TYPE_SUFFIX[self.type]

    def usage(self) -> str:
        need = "required" if self.required else "optional"
        example = f", e.g. {self.example}" if self.example else ""
        return f"{self.name} ({self.type}, {need}{example})"

    def as_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "required": self.required,
                "example": self.example, "description": self.description, "variable": self.variable}


@dataclass(frozen=True)
class NamedQuery:
    name: str
    path: Path
    text: str
    summary: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    columns: tuple[str, ...] = ()
    example: str = ""
    header: dict = field(default_factory=dict, compare=False, repr=False)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def as_dict(self) -> dict:
        return {"name": self.name, "summary": self.summary, "description": self.description,
                "tags": list(self.tags), "params": [p.as_dict() for p in self.params],
                "columns": list(self.columns), "example": self.example}


# -- reading the files ---------------------------------------------------------------

def parse_header(text: str) -> dict:
    """The YAML in the leading ``#+`` lines (grlc decorators); {} when there are none."""
    lines = []
    for line in text.splitlines():
        if line.startswith("#+"):
            lines.append(line[3:] if line.startswith("#+ ") else line[2:])
        elif line.strip() and not line.startswith("#"):
            break
    if not lines:
        return {}
    try:
        header = yaml.safe_load("\n".join(lines))
    except yaml.YAMLError as exc:
        raise HeaderError(f"the #+ header is not valid YAML: {exc}") from None
    if not isinstance(header, dict):
        raise HeaderError("the #+ header must be a YAML mapping (key: value lines)")
    return header


def _param(entry, where: str) -> Param:
    if not isinstance(entry, dict) or not entry.get("name"):
        raise HeaderError(f"{where}: each params entry needs at least a name")
    name, kind = str(entry["name"]), str(entry.get("type", "text"))
    if kind not in TYPE_SUFFIX:
        raise HeaderError(f"{where}: parameter {name!r} has unknown type {kind!r} (use {', '.join(TYPE_SUFFIX)})")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
        raise HeaderError(f"{where}: parameter name {name!r} must be letters and digits")
    return Param(name, kind, bool(entry.get("required", True)), str(entry.get("example", "") or ""),
                 str(entry.get("description", "") or "").strip())


def load_query(path: Path | str, name: str | None = None) -> NamedQuery:
    """Read one ``.rq`` file and its header. Raises HeaderError for a bad header."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryLibraryError(f"cannot read {path}: {exc}") from None
    header = parse_header(text)
    params = tuple(_param(p, path.name) for p in (header.get("params") or []))
    query = NamedQuery(
        name=name or path.stem, path=path, text=text,
        summary=str(header.get("summary", "") or "").strip(),
        description=" ".join(str(header.get("description", "") or "").split()),
        tags=tuple(str(t) for t in (header.get("tags") or [])),
        params=params, columns=tuple(str(c) for c in (header.get("columns") or [])),
        example=str(header.get("example", "") or ""), header=header)
    if params and not OUTER_WHERE.search(text):
        raise HeaderError(f"{path.name}: a query with parameters needs its outermost 'WHERE {{' at the start of a line")
    for p in params:
        if not re.search(r"\?" + re.escape(p.variable) + r"\b", text):
            raise HeaderError(f"{path.name}: parameter {p.name!r} is declared but ?{p.variable} is not in the query")
    return query


def library(directory: Path | str = QUERY_DIR) -> dict[str, NamedQuery]:
    """Every named query in ``directory`` (not its checks/ or construct/ folders), by name."""
    return {p.stem: load_query(p) for p in sorted(Path(directory).glob("*.rq"))}


def checks(directory: Path | str = QUERY_DIR / "checks") -> dict[str, NamedQuery]:
    """The integrity checks (``*-violation.rq``): each must return no rows."""
    return {p.stem: load_query(p) for p in sorted(Path(directory).glob("*-violation.rq"))}


def get(name: str, directory: Path | str = QUERY_DIR) -> NamedQuery:
    if not NAME_RE.match(name or "") or not (Path(directory) / f"{name}.rq").is_file():
        raise UnknownQuery(f"no query named {name!r}")
    return load_query(Path(directory) / f"{name}.rq")


# -- parameters: text in, RDF terms out ---------------------------------------------------

def coerce(param: Param, raw: str) -> ox.NamedNode | ox.Literal:
    """Check one value against its declared type and return the RDF term to bind."""
    value = raw.strip() if param.type != "text" and param.type != "string" else raw
    hint = f" (e.g. {param.example})" if param.example else ""
    if param.type == "iri":
        try:
            return ox.NamedNode(str(expand(value)))
        except ValueError as exc:
            raise ParameterError(f"parameter {param.name!r}: {exc}", param.name) from None
    if param.type == "date":
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError
            dt.date.fromisoformat(value)
        except ValueError:
            raise ParameterError(f"parameter {param.name!r}: {raw!r} is not a date as YYYY-MM-DD{hint}",
                                 param.name) from None
        return ox.Literal(value, datatype=ox.NamedNode(XSD + "date"))
    if param.type in ("year", "integer"):
        pattern = r"\d{4}" if param.type == "year" else r"[+-]?\d{1,18}"
        if not re.fullmatch(pattern, value):
            what = "a year as YYYY" if param.type == "year" else "an integer"
            raise ParameterError(f"parameter {param.name!r}: {raw!r} is not {what}{hint}", param.name)
        return ox.Literal(str(int(value)), datatype=ox.NamedNode(XSD + "integer"))
    # text / string: any characters are fine, they only ever become a literal's value
    if len(raw) > MAX_TEXT:
        raise ParameterError(f"parameter {param.name!r}: longer than {MAX_TEXT} characters", param.name)
    if not raw.strip():
        raise ParameterError(f"parameter {param.name!r}: empty text{hint}", param.name)
    return ox.Literal(raw)


def bindings(query: NamedQuery, values: Mapping[str, str]) -> dict[str, ox.NamedNode | ox.Literal]:
    """Query variable -> term for the given parameter values; every error is a ParameterError."""
    unknown = sorted(set(values) - {p.name for p in query.params})
    if unknown:
        takes = ", ".join(p.usage() for p in query.params) or "no parameters"
        raise ParameterError(f"query {query.name!r} has no parameter {unknown[0]!r}; it takes {takes}", unknown[0])
    bound = {}
    for p in query.params:
        raw = values.get(p.name)
        if raw is None or (raw == "" and not p.required):
            if p.required:
                raise ParameterError(f"query {query.name!r} needs parameter {p.usage()}", p.name)
            continue
        bound[p.variable] = coerce(p, raw)
    return bound


# -- running --------------------------------------------------------------------------------

@dataclass
class Answer:
    """A query's answer evaluated in this process, as pyoxigraph terms: column names and rows
    (None where unbound), or the boolean of an ASK, or the triples of a CONSTRUCT."""

    variables: list[str]
    rows: list[dict]
    boolean: bool | None = None  # for ASK
    triples: list | None = None  # for CONSTRUCT / DESCRIBE


def values_block(bound: Mapping[str, ox.NamedNode | ox.Literal]) -> str:
    """``VALUES (?a ?b) { (<…> "…"^^<…>) }`` from terms, serialised by pyoxigraph."""
    names = sorted(bound)
    for name in names:  # variable names come from our headers, but check anyway
        if not re.fullmatch(r"_{1,2}[A-Za-z][A-Za-z0-9_]*", name):
            raise HeaderError(f"not a parameter variable: {name!r}")
        if not isinstance(bound[name], (ox.NamedNode, ox.Literal)):
            raise TypeError(f"a parameter must be an IRI or a literal term, not {bound[name]!r}")
    variables = " ".join("?" + n for n in names)
    terms = " ".join(str(bound[n]) for n in names)
    return f"VALUES ({variables}) {{ ({terms}) }}"


def bound_text(query: NamedQuery, values: Mapping[str, str] | None = None) -> str:
    """The query text with its parameters bound: ready for any SPARQL engine."""
    bound = bindings(query, values or {})
    if not bound:
        return query.text
    where = OUTER_WHERE.search(query.text)
    if where is None:  # load_query already refuses this for files with params
        raise HeaderError(f"{query.path.name}: no outermost 'WHERE {{' at the start of a line")
    return query.text[: where.end()] + "\n  " + values_block(bound) + query.text[where.end():]


def execute(kg, query: NamedQuery, values: Mapping[str, str] | None = None, *, accept: str | None = None,
            format: str | None = None, limits=None):
    """Bind and run through the one safe executor (gate, deadline in a child, row and byte
    caps, result formats): what the CLI and the web use. Returns a ``bpkg.sparql.Result`` (the
    serialised body);
    raises ParameterError for a bad value and ``bpkg.sparql.SparqlError`` for the rest."""
    from . import sparql

    request = sparql.Request(query=bound_text(query, values), accept=accept, format=format)
    return sparql.execute(sparql.Target.of(kg), request, limits or sparql.Limits())


def evaluate_in_process(kg, query: NamedQuery, values: Mapping[str, str] | None = None) -> Answer:
    """Bind and evaluate in this process, as pyoxigraph terms: for trusted Python callers
    and the tests (the bundled graph, our own query files). The CLI and the web use
    :func:`execute`.
    """
    answer = kg.store.query(bound_text(query, values), use_default_graph_as_union=True)
    if isinstance(answer, ox.QueryBoolean):
        return Answer([], [], boolean=bool(answer))
    if isinstance(answer, ox.QueryTriples):
        return Answer([], [], triples=list(answer))
    variables = [v.value for v in answer.variables]
    rows = [{name: solution[name] for name in variables} for solution in answer]
    return Answer(variables, rows)
