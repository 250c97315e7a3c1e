"""Loading the bundled files into one read-only knowledge graph.

files -> one named graph per file (graph IRI ``https://w3id.org/bpkg/graph/<path>``)
      -> derived shortcuts (``queries/construct/*.rq``) in ``…/graph/derived``
      -> a frozen rdflib Dataset (for validation and Python access) and a pyoxigraph
         Store holding the same quads (the fast query engine).

A parse error names file, line and column and stops loading: nothing partial is served.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib.plugins.stores.memory import Memory

from .data_files import ROOT
from .namespaces import GRAPH_BASE, PREFIXES, bind

DEFAULT_PATHS = (ROOT / "ontology", ROOT / "kg")
CONSTRUCT_DIR = ROOT / "queries" / "construct"
DERIVED_GRAPH = URIRef(GRAPH_BASE + "derived")


class LoadError(Exception):
    """A source file could not be read; carries file, line and column when known."""

    def __init__(self, path: Path | str, message: str, line: int | None = None, column: int | None = None):
        self.path, self.line, self.column, self.message = str(path), line, column, message
        where = self.path + (f":{line}" if line else "") + (f":{column}" if column else "")
        super().__init__(f"{where}: {message}")


class ReadOnlyDataset(Dataset):
    """An rdflib Dataset that refuses changes once frozen."""

    _frozen = False

    def freeze(self) -> "ReadOnlyDataset":
        self._frozen = True
        return self

    def _refuse(self, *args, **kwargs):
        if self._frozen:
            raise TypeError("the knowledge graph is read-only")

    def add(self, *args, **kwargs):
        self._refuse()
        return super().add(*args, **kwargs)

    def addN(self, *args, **kwargs):  # noqa: N802 (rdflib's name)
        self._refuse()
        return super().addN(*args, **kwargs)

    def remove(self, *args, **kwargs):
        self._refuse()
        return super().remove(*args, **kwargs)

    def update(self, *args, **kwargs):
        self._refuse()
        return super().update(*args, **kwargs)


@dataclass
class SourceFile:
    path: str  # relative to the project root, with forward slashes
    graph: URIRef
    triples: int


@dataclass
class KnowledgeGraph:
    """The loaded graph. Every reader (queries, validation, web, CLI) goes through this.

    ``store`` (pyoxigraph) answers queries; ``dataset`` (rdflib, built from the same quads on
    first use, since serving queries never needs it) is for validation and Python access.
    """

    store: ox.Store
    files: list[SourceFile] = field(default_factory=list)
    version: str = ""
    # Set on a published dataset (bpkg.submissions.publish): accepted submissions' entities
    # and their owners (submitter token ids), the publication counter and its time.
    owners: dict = field(default_factory=dict)
    generation: int = 0
    modified: str | None = None
    _dataset: ReadOnlyDataset | None = field(default=None, repr=False)
    _engine: ox.Store | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def dataset(self) -> ReadOnlyDataset:
        with self._lock:
            if self._dataset is None:
                self._dataset = _rdflib_view(self.store)
            return self._dataset

    @property
    def graph_names(self) -> list[URIRef]:
        return [f.graph for f in self.files] + [DERIVED_GRAPH]

    @property
    def engine(self) -> ox.Store:
        """The pyoxigraph store that rdflib-level readers look things up in: ``store`` itself, or,
        for an external store, a local copy made once (in Rust, no rdflib terms)."""
        if isinstance(self.store, ox.Store):
            return self.store
        with self._lock:
            if self._engine is None:
                local = ox.Store()
                local.bulk_extend(self.store.quads_for_pattern(None, None, None, None))
                self._engine = local
            return self._engine

    def union(self, writable: bool = False, hide=None, cls=Graph) -> Graph:
        """All named graphs together as an rdflib graph that looks each pattern up in the engine
        (nothing is copied: a page or a validation reads only the triples it asks for).
        ``writable``: additions (a submission being validated) are kept in Python on top and can
        be taken out again; the engine's data never changes."""
        return engine_graph(self.engine, self.graph_names, writable, hide, cls)

    def graph(self, name) -> Graph:
        """One named graph, the same way (read-only)."""
        return engine_graph(self.engine, [name])

    def __len__(self) -> int:
        return len(self.store)


def graph_iri_for(relpath: str) -> URIRef:
    return URIRef(GRAPH_BASE + re.sub(r"\.ttl$", "", relpath))


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


MANIFEST = "MANIFEST"  # in a data folder: the files it must hold, one relative path per line


def source_files(paths) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            _check_manifest(p)
            found += sorted(p.rglob("*.ttl"))
        elif p.is_file():
            found.append(p)
        else:
            raise LoadError(p, "no such file or folder")
    return found


def _check_manifest(folder: Path) -> None:
    """A folder with a MANIFEST must hold every file it lists: a deleted file stops the load."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if name and not os.path.lexists(folder / name):  # a dangling link is reported when it is read
            raise LoadError(manifest, f"lists {name}, which is missing from {folder.name}/", number)


def read_text(path: Path) -> str:
    """The file as UTF-8 text, or a LoadError naming the line and column of the first bad byte."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LoadError(path, exc.strerror or str(exc)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise LoadError(path, f"not UTF-8 ({exc.reason})", line, column) from None


def load_turtle(store: ox.Store, path: Path, graph: ox.NamedNode) -> None:
    """Parse one Turtle file straight into ``graph`` of ``store`` (in Rust, no Python objects
    per triple), turning any failure into a LoadError with the parser's line and column.

    One parser for both engines: the rdflib view is built from the store, so the two can
    never disagree about what a file says.
    """
    data = read_text(path)
    try:
        store.load(data, format=ox.RdfFormat.TURTLE, base_iri=path.resolve().as_uri(), to_graph=graph)
    except SyntaxError as exc:
        line, column = _position(exc)
        raise LoadError(path, str(exc.msg if hasattr(exc, "msg") else exc), line, column) from None


def _position(exc: SyntaxError) -> tuple[int | None, int | None]:
    if exc.lineno:
        return exc.lineno, exc.offset
    m = re.search(r"line (\d+)(?:.*?column (\d+))?", str(exc))
    return (int(m.group(1)), int(m.group(2)) if m and m.group(2) else None) if m else (None, None)


def derive(store: ox.Store) -> list[ox.Triple]:
    """Run every ``queries/construct/*.rq`` over the union of the named graphs."""
    derived: list[ox.Triple] = []
    for rq in sorted(CONSTRUCT_DIR.glob("*.rq")):
        derived += store.query(rq.read_text(encoding="utf-8"), use_default_graph_as_union=True)
    return derived


def load(paths=None) -> KnowledgeGraph:
    """Load ontology and data (default: the bundled ``ontology/`` and ``kg/``), read-only.

    Raises LoadError on the first unreadable file.
    """
    files = source_files(paths or DEFAULT_PATHS)
    if not files:
        raise LoadError(", ".join(map(str, paths or DEFAULT_PATHS)), "no Turtle files found")
    digest = hashlib.sha256()
    sources: list[SourceFile] = []
    store = ox.Store()
    for path in files:
        rel = _relative(path)
        name = graph_iri_for(rel)
        graph = ox.NamedNode(str(name))
        load_turtle(store, path, graph)
        count = next(iter(store.query(f"SELECT (COUNT(*) AS ?n) {{ GRAPH <{name}> {{ ?s ?p ?o }} }}")))["n"]
        sources.append(SourceFile(rel, name, int(count.value)))
        digest.update(rel.encode() + b"\0" + path.read_bytes())
    derived_graph = ox.NamedNode(str(DERIVED_GRAPH))
    store.bulk_extend([ox.Quad(t.subject, t.predicate, t.object, derived_graph) for t in derive(store)])

    return KnowledgeGraph(store, sources, digest.hexdigest()[:16])


def _rdflib_view(store: ox.Store) -> ReadOnlyDataset:
    dataset = ReadOnlyDataset()
    bind(dataset)
    for q in store.quads_for_pattern(None, None, None, None):
        dataset.add((_to_rdflib(q.subject), _to_rdflib(q.predicate), _to_rdflib(q.object), URIRef(q.graph_name.value)))
    return dataset.freeze()


class _EngineLookups(Memory):
    """An rdflib store whose triples are those of some named graphs of a pyoxigraph store, looked
    up pattern by pattern (one engine call per pattern, terms converted as they are read), with
    optional additions held in memory on top. rdflib's Graph API, its SPARQL evaluation and
    pySHACL all reach data through ``triples``, so they see the engine's data without a copy."""

    def __init__(self, engine: ox.Store, graphs, writable: bool = False, hide=None):
        super().__init__()
        self._hide = hide  # a test on objects: triples whose object it accepts are left out
        self._engine = engine
        self._graphs = frozenset(ox.NamedNode(str(g)) for g in graphs)
        self._only = next(iter(self._graphs)) if len(self._graphs) == 1 else None
        self._writable = writable
        self._added: set = set()
        self._removing = False
        self._counted = None

    def add(self, triple, context, quoted=False):
        if not self._writable:
            raise TypeError("the knowledge graph is read-only")
        self._added.add(triple)
        super().add(triple, context, quoted)

    def remove(self, triple, context=None):
        if not self._writable:
            raise TypeError("the knowledge graph is read-only")
        self._removing = True  # Memory.remove finds what to remove through self.triples: the additions only
        try:
            self._added.difference_update(t for t, _ in list(super().triples(triple, context)))
            super().remove(triple, context)
        finally:
            self._removing = False

    def triples(self, triple_pattern, context=None):
        if self._added or self._removing:
            yield from super().triples(triple_pattern, context)
        if self._removing:
            return
        pattern = tuple(map(_to_ox, triple_pattern))
        if _NO_MATCH in pattern:
            return
        seen = set()
        for q in self._engine.quads_for_pattern(*pattern, self._only):
            if q.graph_name not in self._graphs:
                continue
            key = (q.subject, q.predicate, q.object)
            if self._only is None:
                if key in seen:  # the same triple in several named graphs counts once
                    continue
                seen.add(key)
            triple = (_to_rdflib(q.subject), _to_rdflib(q.predicate), _to_rdflib(q.object))
            if triple in self._added or (self._hide is not None and self._hide(triple[2])):
                continue
            yield triple, iter(())

    def __len__(self, context=None):
        if self._counted is None:  # the engine's part never changes: count it once (pySHACL asks often)
            names = " ".join(f"<{g.value}>" for g in self._graphs)
            count = f"SELECT (COUNT(*) AS ?n) {{ SELECT DISTINCT ?s ?p ?o {{ GRAPH ?g {{ ?s ?p ?o }} VALUES ?g {{ {names} }} }} }}"
            self._counted = int(next(iter(self._engine.query(count)))["n"].value)
        return self._counted + len(self._added)

    def contexts(self, triple=None):
        return iter(())


def engine_graph(engine: ox.Store, graphs, writable: bool = False, hide=None, cls=Graph) -> Graph:
    """An rdflib Graph (or subclass ``cls``) over named graphs of ``engine`` (see :class:`_EngineLookups`)."""
    return bind(cls(store=_EngineLookups(engine, graphs, writable, hide)))


_NO_MATCH = object()


def turtle_triples(data: bytes) -> list:
    """A Turtle document's triples as rdflib terms, read by the engine's parser (raises
    SyntaxError where it does not parse)."""
    return [(_to_rdflib(t.subject), _to_rdflib(t.predicate), _to_rdflib(t.object))
            for t in ox.parse(data, format=ox.RdfFormat.TURTLE)]


def _to_ox(term):
    """rdflib term -> pyoxigraph term for a lookup (None stays a wildcard); a term the engine
    cannot hold in that position (a literal subject, a foreign blank node id) matches nothing."""
    try:
        if term is None:
            return None
        if isinstance(term, URIRef):
            return ox.NamedNode(str(term))
        if isinstance(term, BNode):
            return ox.BlankNode(str(term))
        if isinstance(term, Literal):
            if term.language:
                return ox.Literal(str(term), language=term.language)
            if term.datatype is not None:
                return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
            return ox.Literal(str(term))
    except (ValueError, TypeError):
        pass
    return _NO_MATCH


def from_store(store) -> KnowledgeGraph:
    """A KnowledgeGraph over a store that already holds our named graphs (e.g. an external
    SPARQL store loaded with ``bpkg load --store``): nothing is read from disk.

    The version is a hash of the graphs and their sizes, so it changes when a graph is
    reloaded with other content of another size; reload with a new version to be sure.
    """
    counts = store.counts()
    files = [SourceFile(g.removeprefix(GRAPH_BASE) + ".ttl", URIRef(g), n)
             for g, n in sorted(counts.items()) if g != str(DERIVED_GRAPH)]
    digest = hashlib.sha256(repr(sorted(counts.items())).encode()).hexdigest()[:16]
    return KnowledgeGraph(store, files, digest)


_XSD_STRING = PREFIXES["xsd"] + "string"


def _to_rdflib(term):
    """pyoxigraph term -> rdflib term. Simple literals stay plain: rdflib treats a plain
    literal and an xsd:string one as different terms, and our shapes and data use plain."""
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    if term.datatype.value == _XSD_STRING:
        return Literal(term.value)
    return Literal(term.value, datatype=URIRef(term.datatype.value))
