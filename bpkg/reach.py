"""Which focus nodes a submission can affect, derived from the shapes themselves.

A shape judges a focus node by reading triples near it: the edges of its property paths,
the ``rdf:type`` (and ``rdfs:subClassOf``) of value nodes under ``sh:class``, whatever
nested shapes (``sh:node``, ``sh:property``, ``sh:or``/``and``/``xone``/``not``,
``sh:qualifiedValueShape``) read from those values, every property of a ``sh:closed``
node, and the triple patterns of a SHACL-SPARQL constraint joined to ``$this``. Each such
read is a :class:`Site`: a chain of steps from the focus node to a node, and the
predicate read there (forward: the node is the triple's subject; inverse: its object).

An added triple ``(s, p, o)`` can change the result of a focus node only if some site
reads it: walking the site's chain backwards from ``s`` (or ``o``) in the graph with the
submission finds every such focus node. It can also make ``s`` a new target (a new
``rdf:type``, a predicate of sh:targetSubjectsOf) or ``o`` (sh:targetObjectsOf). Any other
node's results are those it had without the submission: its baseline. Whatever this module
cannot bound (recursive shapes, SPARQL-based targets, custom constraint components, a
SPARQL pattern not joined to ``$this``) raises :class:`Unbounded`, and the caller checks
everything instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rdflib import RDF, RDFS, Literal, URIRef, Variable
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.paths import AlternativePath, InvPath, MulPath, NegatedPath, SequencePath
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parserutils import CompValue

ANY = None  # a step or read over every predicate


class Unbounded(Exception):
    """The shapes read something this analysis cannot bound: check the whole graph."""


@dataclass(frozen=True)
class Step:
    predicates: frozenset | None  # None: any predicate
    inverse: bool = False
    repeat: bool = False  # zero or more times

    def matches(self, predicate) -> bool:
        return self.predicates is None or predicate in self.predicates

    def flipped(self) -> "Step":
        return Step(self.predicates, not self.inverse, self.repeat)


@dataclass(frozen=True)
class Site:
    chain: tuple  # of Step, from the focus node to the node read
    read: Step  # what is read there (never repeated)


# Constraint parameters that look only at the value nodes themselves (or at the shapes graph).
_VALUE_ONLY = {SH[n] for n in (
    "datatype nodeKind minCount maxCount minLength maxLength pattern flags languageIn uniqueLang in hasValue "
    "minInclusive maxInclusive minExclusive maxExclusive qualifiedMinCount qualifiedMaxCount "
    "severity message name description order group defaultValue deactivated ignoredProperties path "
    "targetClass targetNode targetSubjectsOf targetObjectsOf prefixes declare labelTemplate").split()}
_NESTED = {SH.node, SH.property, SH["not"], SH.qualifiedValueShape}
_NESTED_LISTS = {SH["or"], SH["and"], SH.xone}
_COMPARED = {SH.equals, SH.disjoint, SH.lessThan, SH.lessThanOrEquals}
_CLASS_READS = (Step(frozenset({RDF.type})), Step(frozenset({RDFS.subClassOf}), repeat=True))


def shape_sites(shapes, shape) -> list[Site]:
    """Every read a shape makes from a focus node it targets."""
    if any(shapes.subjects(RDF.type, SH.ConstraintComponent)) or any(shapes.subjects(SH.target, None)):
        raise Unbounded("custom constraint components or SPARQL-based targets")
    return _sites(shapes, shape, (), frozenset())


def _sites(shapes, shape, chain: tuple, stack: frozenset) -> list[Site]:
    if shape in stack:
        raise Unbounded(f"the shape {shape} refers to itself")
    stack = stack | {shape}
    sites: list[Site] = []
    path = shapes.value(shape, SH.path)
    if path is not None:
        value_chains = []
        for steps in _path_chains(shapes, path):
            sites += _edges(chain, steps)
            value_chains.append(chain + steps)
    else:
        value_chains = [chain]
    for p, o in shapes.predicate_objects(shape):
        if p in _VALUE_ONLY or p == RDF.type or not str(p).startswith(str(SH)):
            continue  # rdfs:label, rdfs:comment and the like say nothing about the data
        if p == SH["class"]:
            for vc in value_chains:
                sites += _edges(vc, _CLASS_READS)
        elif p in _NESTED:
            for vc in value_chains:
                sites += _sites(shapes, o, vc, stack)
        elif p in _NESTED_LISTS:
            for member in Collection(shapes, o):
                for vc in value_chains:
                    sites += _sites(shapes, member, vc, stack)
        elif p in _COMPARED:
            sites.append(Site(chain, Step(frozenset({o}))))
        elif p == SH.closed:
            sites += [Site(vc, Step(ANY)) for vc in value_chains]
        elif p == SH.qualifiedValueShapesDisjoint:
            if o == Literal(True):
                raise Unbounded("sh:qualifiedValueShapesDisjoint reads the sibling shapes")
        elif p == SH.sparql:  # $this is the focus node, in a property shape too
            sites += _sparql_sites(shapes, o, chain)
        else:
            raise Unbounded(f"{p} is not understood by the reach analysis")
    return sites


def _edges(chain: tuple, steps: tuple) -> list[Site]:
    """The reads of walking ``steps`` after ``chain``: each edge, where it starts."""
    out = []
    for i, step in enumerate(steps):
        prefix = chain + steps[:i] + ((step,) if step.repeat else ())
        out.append(Site(prefix, Step(step.predicates, step.inverse)))
    return out


def _path_chains(shapes, path) -> list[tuple]:
    """A SHACL path as alternative chains of steps."""
    if isinstance(path, URIRef):
        return [(Step(frozenset({path})),)]
    if shapes.value(path, RDF.first) is not None:
        chains = [()]
        for part in Collection(shapes, path):
            chains = [c + tail for c in chains for tail in _path_chains(shapes, part)]
        return chains
    alternatives = shapes.value(path, SH.alternativePath)
    if alternatives is not None:
        return [c for part in Collection(shapes, alternatives) for c in _path_chains(shapes, part)]
    inverse = shapes.value(path, SH.inversePath)
    if inverse is not None:
        return [tuple(s.flipped() for s in reversed(c)) for c in _path_chains(shapes, inverse)]
    for key in (SH.zeroOrMorePath, SH.oneOrMorePath, SH.zeroOrOnePath):
        inner = shapes.value(path, key)
        if inner is not None:
            return [_repeated(c) for c in _path_chains(shapes, inner)]
    raise Unbounded(f"the path {path} is not understood")


def _repeated(chain: tuple) -> tuple:
    if len(chain) != 1:
        raise Unbounded("a repeated sequence path")
    step = chain[0]
    return (Step(step.predicates, step.inverse, True),)


# -- SHACL-SPARQL constraints -------------------------------------------------------

def _sparql_sites(shapes, constraint, chain: tuple) -> list[Site]:
    text = shapes.value(constraint, SH.select)
    if text is None or "$PATH" in str(text) or "$shapesGraph" in str(text):
        raise Unbounded("a SPARQL constraint this analysis cannot read")
    prefixes = {}
    for declarations in shapes.objects(constraint, SH.prefixes):
        for decl in shapes.objects(declarations, SH.declare):
            prefixes[str(shapes.value(decl, SH.prefix))] = str(shapes.value(decl, SH.namespace))
    patterns: list = []  # (subject, [chains of steps], object)
    _collect(prepareQuery(str(text), initNs=prefixes).algebra, {}, patterns, top=True)
    # Every way from $this to each node of the join graph (each pattern joins its two ends;
    # a way uses a pattern once): under UNION or OPTIONAL a node need not be bound by every
    # pattern that mentions it, so a read there is walked back along each of them.
    routes: dict = {}

    def visit(node, way: tuple, used: frozenset) -> None:
        routes.setdefault(node, set()).add((way, used))
        for i, (s, chains, o) in enumerate(patterns):
            if i in used:
                continue
            for a, b, walk in ((s, o, chains), (o, s, [_inverse(c) for c in chains])):
                if a == node:
                    for c in walk:
                        visit(b, way + c, used | {i})

    visit(Variable("this"), (), frozenset())
    sites = []
    for i, (s, chains, o) in enumerate(patterns):
        if s not in routes and o not in routes:
            raise Unbounded("a SPARQL pattern not joined to $this")
        # a way through this very pattern reads it where the way entered it, already counted
        for way, used in routes.get(s, ()):
            if i not in used:
                sites += [site for c in chains for site in _edges(chain + way, c)]
        for way, used in routes.get(o, ()):
            if i not in used:
                sites += [site for c in chains for site in _edges(chain + way, _inverse(c))]
    return sites


def _inverse(chain: tuple) -> tuple:
    return tuple(s.flipped() for s in reversed(chain))


def _collect(node, bound: dict, patterns: list, top: bool = False) -> None:
    """The triple patterns of a query's algebra, each predicate as steps; a predicate
    variable is any predicate unless an enclosing FILTER (?p IN (...)) names them."""
    if isinstance(node, CompValue):
        if node.name in ("ServiceGraphPattern", "Graph") or (node.name in ("Project", "SelectQuery") and not top):
            raise Unbounded(f"SPARQL {node.name} in a constraint")
        if node.name == "Filter":
            bound = {**bound, **_named_predicates(node.expr)}
        if node.name == "BGP":
            for s, p, o in node.triples:
                patterns.append((s, _predicate_chains(p, bound), o))
        for key, value in node.items():
            _collect(value, bound, patterns, top=top and node.name in ("SelectQuery", "Project"))
    elif isinstance(node, (list, tuple)):
        for item in node:
            _collect(item, bound, patterns)


def _named_predicates(expr) -> dict:
    """``?v IN (<a>, <b>)`` and ``?v = <a>`` conjuncts of a filter: the IRIs ?v can be."""
    out = {}
    conjuncts = expr.get("other", []) + [expr.get("expr")] if getattr(expr, "name", "") == "ConditionalAndExpression" else [expr]
    for c in conjuncts:
        if getattr(c, "name", "") != "RelationalExpression" or not isinstance(c.get("expr"), Variable):
            continue
        other = c.get("other")
        if c.get("op") == "IN" and all(isinstance(x, URIRef) for x in other):
            out[c.expr] = frozenset(other)
        elif c.get("op") == "=" and isinstance(other, URIRef):
            out[c.expr] = frozenset({other})
    return out


def _predicate_chains(p, bound: dict) -> list[tuple]:
    if isinstance(p, URIRef):
        return [(Step(frozenset({p})),)]
    if isinstance(p, Variable):
        return [(Step(bound.get(p, ANY)),)]
    if isinstance(p, SequencePath):
        chains = [()]
        for part in p.args:
            chains = [c + tail for c in chains for tail in _predicate_chains(part, bound)]
        return chains
    if isinstance(p, AlternativePath):
        return [c for part in p.args for c in _predicate_chains(part, bound)]
    if isinstance(p, InvPath):
        return [_inverse(c) for c in _predicate_chains(p.arg, bound)]
    if isinstance(p, MulPath):
        return [_repeated(c) for c in _predicate_chains(p.path, bound)]
    if isinstance(p, NegatedPath):
        return [(Step(ANY),), (Step(ANY, inverse=True),)]
    raise Unbounded(f"the SPARQL path {p!r} is not understood")


# -- From an added triple back to the focus nodes -------------------------------------

class Reach:
    """The sites of every shape that has targets, indexed by the predicate they read, and
    the predicates that make a node a target (``rdf:type``, sh:targetSubjectsOf,
    sh:targetObjectsOf)."""

    def __init__(self, shapes, targeted):
        """``targeted``: (shape, targets) for every shape with targets, ``targets`` as
        pySHACL's ``Shape.target()`` gives them (nodes, classes, implicit classes, objects
        of, subjects of)."""
        self.by_predicate: dict = {}
        self.any: set = set()
        self.subjects_of, self.objects_of = {RDF.type}, set()
        for shape, (_, _, _, objects_of, subjects_of) in targeted:
            self.subjects_of |= set(subjects_of)
            self.objects_of |= set(objects_of)
            for site in shape_sites(shapes, shape):
                self._index(site)

    def to_json(self) -> str:
        """The analysis as JSON (parsing the shapes' SPARQL costs more than a check)."""
        def step(st: Step) -> list:
            return [None if st.predicates is None else sorted(st.predicates), st.inverse, st.repeat]

        sites = {site for group in self.by_predicate.values() for site in group} | self.any
        return json.dumps({"sites": sorted(([[step(st) for st in site.chain], step(site.read)] for site in sites), key=json.dumps),
                           "subjects_of": sorted(self.subjects_of), "objects_of": sorted(self.objects_of)})

    @classmethod
    def from_json(cls, text: str) -> "Reach":
        def step(raw) -> Step:
            predicates, inverse, repeat = raw
            return Step(None if predicates is None else frozenset(map(URIRef, predicates)), inverse, repeat)

        raw = json.loads(text)
        reach = cls(None, [])
        reach.subjects_of = set(map(URIRef, raw["subjects_of"]))
        reach.objects_of = set(map(URIRef, raw["objects_of"]))
        for chain, read in raw["sites"]:
            reach._index(Site(tuple(map(step, chain)), step(read)))
        return reach

    def _index(self, site: Site) -> None:
        if site.read.predicates is None:
            self.any.add(site)
        else:
            for p in site.read.predicates:
                self.by_predicate.setdefault(p, set()).add(site)

    def affected(self, graph, triples) -> set | None:
        """Every node whose results can differ once ``triples`` are in ``graph`` (which
        holds them): a node the triples make a target, and every node that reads one of
        them through some shape's chain. None when a triple changes the class hierarchy
        (every instance of every subclass): then check everything."""
        found: set = set()
        memo: dict = {}
        for s, p, o in triples:
            if p in (RDFS.subClassOf, SH.targetClass, SH.targetSubjectsOf, SH.targetObjectsOf, SH.targetNode):
                return None
            if p in self.subjects_of:
                found.add(s)
            if p in self.objects_of:
                found.add(o)
            for site in self.by_predicate.get(p, set()) | self.any:
                start = o if site.read.inverse else s
                key = (start, site.chain)
                if key not in memo:
                    memo[key] = _walk_back(graph, {start}, site.chain)
                found |= memo[key]
        return found


def _walk_back(graph, nodes: set, chain: tuple) -> set:
    for step in reversed(chain):
        nodes = _closure(graph, nodes, step) if step.repeat else _back(graph, nodes, step)
        if not nodes:
            break
    return nodes


def _back(graph, nodes: set, step: Step) -> set:
    out = set()
    predicates = [None] if step.predicates is None else step.predicates
    for n in nodes:
        for p in predicates:
            if step.inverse:  # the step went from the object to the subject
                if not isinstance(n, Literal):
                    out.update(graph.objects(n, p))
            else:
                out.update(graph.subjects(p, n))
    return out


def _closure(graph, nodes: set, step: Step) -> set:
    seen, frontier = set(nodes), set(nodes)
    while frontier:
        frontier = _back(graph, frontier, step) - seen
        seen |= frontier
    return seen


def is_target(graph, targets, node, class_cache: dict) -> bool:
    """Whether ``node`` is a target of a shape in ``graph``; ``targets`` as pySHACL's
    ``Shape.target()`` gives them (nodes, classes, implicit classes, objects of, subjects of)."""
    nodes, classes, implicit, objects_of, subjects_of = targets
    if node in nodes:
        return True
    if isinstance(node, Literal):  # a literal is a target only as a node or an object
        return any((None, p, node) in graph for p in objects_of)
    if classes or implicit:
        if node not in class_cache:
            types = set()
            for t in graph.objects(node, RDF.type):
                types |= set(graph.transitive_objects(t, RDFS.subClassOf))
            class_cache[node] = types
        if class_cache[node] & (set(classes) | set(implicit)):
            return True
    if any((node, p, None) in graph for p in subjects_of):
        return True
    return any((None, p, node) in graph for p in objects_of)
