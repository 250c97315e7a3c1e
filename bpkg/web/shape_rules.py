"""The SHACL shapes in plain words, for the /shapes rules page.

Each node shape becomes "Every <class> ..." followed by one sentence per property shape
("must have exactly one role, each a concept in ..."), built only from what the shape
says (sh:name, sh:minCount, sh:class, sh:message, ...). A shape this module does not
understand is shown with its message rather than hidden: the page must never fail
because a shape file uses a construct we have not met yet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from rdflib import RDF, RDFS, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH, SKOS

from ..namespaces import curie
from ..shapes import ShapesBundle


@dataclass
class Rule:
    sentence: str
    message: str = ""
    severity: str = ""


@dataclass
class ShapeView:
    iri: str
    anchor: str
    title: str
    target: str
    description: str = ""
    rules: list[Rule] = field(default_factory=list)
    error: str = ""


def _text(graph: Graph, node, *predicates) -> str:
    for p in predicates:
        values = sorted(graph.objects(node, p), key=lambda v: (getattr(v, "language", None) not in ("en", None), str(v)))
        if values:
            return str(values[0])
    return ""


def _items(graph: Graph, node) -> list:
    try:
        return list(Collection(graph, node))
    except Exception:  # not a well-formed list
        return []


class Words:
    """Names for terms: the label the data or ontology gives, else the prefixed name."""

    def __init__(self, shapes: Graph, labels: dict[str, str]):
        self.shapes, self.labels = shapes, labels

    def term(self, node) -> str:
        if isinstance(node, Literal):
            return f'"{node}"'
        if isinstance(node, URIRef):
            label = self.labels.get(str(node)) or _text(self.shapes, node, RDFS.label, SH.name, SKOS.prefLabel)
            name = curie(str(node))
            return f"{label} ({name})" if label else name
        return "(unnamed)"

    def path(self, node) -> str:
        g = self.shapes
        if isinstance(node, URIRef):
            return curie(str(node))
        if (inner := g.value(node, SH.inversePath)) is not None:
            return f"^{self.path(inner)}"
        if (inner := g.value(node, SH.alternativePath)) is not None:
            return " | ".join(self.path(i) for i in _items(g, inner))
        for p, mark in ((SH.zeroOrMorePath, "*"), (SH.oneOrMorePath, "+"), (SH.zeroOrOnePath, "?")):
            if (inner := g.value(node, p)) is not None:
                return f"({self.path(inner)}){mark}"
        if (seq := _items(g, node)):
            return " / ".join(self.path(i) for i in seq)
        return "(a path)"


def _count_phrase(low, high) -> str:
    low = int(low) if low is not None else 0
    high = int(high) if high is not None else None
    if high == 0:
        return "must not have"
    if low and high is not None and low == high:
        return "must have exactly one" if low == 1 else f"must have exactly {low}"
    if low and high is not None:
        return f"must have between {low} and {high}"
    if low:
        return "must have at least one" if low == 1 else f"must have at least {low}"
    if high is not None:
        return "may have at most one" if high == 1 else f"may have at most {high}"
    return "may have"


def _constraints(g: Graph, shape, words: Words) -> list[str]:
    """Plain-words phrases for the value constraints of one property (or node) shape."""
    out = []
    if (cls := g.value(shape, SH["class"])) is not None:
        out.append(f"each a {words.term(cls)}")
    if (dt := g.value(shape, SH.datatype)) is not None:
        out.append(f"each typed {curie(str(dt))}")
    kinds = {SH.IRI: "an IRI", SH.Literal: "a literal", SH.BlankNode: "a blank node",
             SH.BlankNodeOrIRI: "an IRI or blank node", SH.IRIOrLiteral: "an IRI or literal",
             SH.BlankNodeOrLiteral: "a blank node or literal"}
    if (kind := g.value(shape, SH.nodeKind)) is not None:
        out.append(f"each {kinds.get(kind, curie(str(kind)))}")
    if (values := g.value(shape, SH["in"])) is not None:
        out.append("each one of " + ", ".join(words.term(v) for v in _items(g, values)))
    for value in g.objects(shape, SH.hasValue):
        out.append(f"including {words.term(value)}")
    if (pattern := g.value(shape, SH.pattern)) is not None:
        out.append(f"matching the pattern {pattern}")
    if (langs := g.value(shape, SH.languageIn)) is not None:
        out.append("in language " + ", ".join(str(v) for v in _items(g, langs)))
    if (g.value(shape, SH.uniqueLang) or Literal(False)).toPython() is True:
        out.append("at most one per language")
    for p, words_ in ((SH.minLength, "at least {} characters long"), (SH.maxLength, "at most {} characters long"),
                      (SH.minInclusive, "at least {}"), (SH.maxInclusive, "at most {}"),
                      (SH.minExclusive, "more than {}"), (SH.maxExclusive, "less than {}")):
        if (v := g.value(shape, p)) is not None:
            out.append(words_.format(v))
    for p, words_ in ((SH.lessThan, "earlier than (less than) its {}"), (SH.lessThanOrEquals, "no later than (at most) its {}"),
                      (SH.equals, "equal to its {}"), (SH.disjoint, "never equal to its {}")):
        for other in g.objects(shape, p):
            out.append(words_.format(words.path(other)))
    for node in g.objects(shape, SH.node):
        out.append(f"each conforming to {_shape_title(g, node, words)}")
    for p, lead, joiner in ((SH["or"], "either", " or "), (SH.xone, "exactly one of", " | "), (SH["and"], "both", " and ")):
        if (members := g.value(shape, p)) is not None:
            out.append(f"{lead} " + joiner.join(_alternative(g, m, words) for m in _items(g, members)))
    if (inner := g.value(shape, SH["not"])) is not None:
        out.append(f"never {_alternative(g, inner, words)}")
    if (q := g.value(shape, SH.qualifiedValueShape)) is not None:
        qmin, qmax = g.value(shape, SH.qualifiedMinCount), g.value(shape, SH.qualifiedMaxCount)
        phrase = _count_phrase(qmin, qmax).replace("must have", "of which").replace("may have", "of which")
        out.append(f"{phrase} {'; '.join(_constraints(g, q, words)) or 'match a further shape'}")
    return out


def _alternative(g: Graph, member, words: Words) -> str:
    """One member of sh:or / sh:xone / sh:and / sh:not, as a short phrase."""
    if (path := g.value(member, SH.path)) is not None:
        count = _count_phrase(g.value(member, SH.minCount), g.value(member, SH.maxCount))
        phrase = f"{count.replace('must have', 'has').replace('may have', 'has')} {words.path(path)}"
        return ", ".join([phrase, *_constraints(g, member, words)])
    props = [_alternative(g, prop, words) for prop in g.objects(member, SH.property)]
    phrases = [c.removeprefix("each ") for c in _constraints(g, member, words)] + props
    return " and ".join(phrases) if phrases else _shape_title(g, member, words)


def _severity(g: Graph, shape) -> str:
    severity = g.value(shape, SH.severity)
    return "" if severity in (None, SH.Violation) else curie(str(severity)).removeprefix("sh:").lower()


def _shape_title(g: Graph, shape, words: Words) -> str:
    if isinstance(shape, URIRef):
        return _text(g, shape, RDFS.label, SH.name) or curie(str(shape))
    return "a nested shape"


def _targets(g: Graph, shape, words: Words) -> str:
    parts = [f"Every {words.term(c)}" for c in g.objects(shape, SH.targetClass)]
    if (shape, RDF.type, RDFS.Class) in g:
        parts.append(f"Every {words.term(shape)}")
    parts += [f"The node {words.term(n)}" for n in g.objects(shape, SH.targetNode)]
    parts += [f"Everything that has a {curie(str(p))}" for p in g.objects(shape, SH.targetSubjectsOf)]
    parts += [f"Everything that is the value of a {curie(str(p))}" for p in g.objects(shape, SH.targetObjectsOf)]
    if g.value(shape, SH.target) is not None:
        parts.append("Every node picked by a custom target")
    return "; ".join(parts) or "Nodes that other shapes refer to"


def _property_rule(g: Graph, prop, words: Words) -> Rule:
    path = g.value(prop, SH.path)
    name = _text(g, prop, SH.name, RDFS.label) or (words.path(path) if path is not None else "value")
    where = f" ({words.path(path)})" if path is not None else ""
    count = _count_phrase(g.value(prop, SH.minCount), g.value(prop, SH.maxCount))
    constraints = _constraints(g, prop, words)
    sentence = f"{count} {name}{where}" + (", " + ", ".join(constraints) if constraints else "")
    return Rule(sentence + ".", _text(g, prop, SH.message, SH.description), _severity(g, prop))


def describe_shapes(bundle: ShapesBundle, labels: dict[str, str]) -> list[ShapeView]:
    """One view per named node shape (and per shape with a target), in title order."""
    g = bundle.graph
    words = Words(g, labels)
    shapes = set(g.subjects(RDF.type, SH.NodeShape))
    for p in (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf):
        shapes |= set(g.subjects(p, None))
    views = []
    for shape in shapes:
        if isinstance(shape, BNode) and not any(g.objects(shape, SH.targetClass)):
            continue  # nested shapes are described where they are used
        try:
            views.append(_shape_view(g, shape, words))
        except Exception as exc:  # one odd shape must not take the whole page down
            views.append(ShapeView(str(shape), _anchor(shape), curie(str(shape)), "", error=f"could not be put into words: {exc}"))
    return sorted(views, key=lambda v: (v.target.lower(), v.title.lower()))


def _anchor(shape) -> str:
    return str(shape).rsplit("#", 1)[-1] if isinstance(shape, URIRef) else "shape-" + hashlib.sha1(str(shape).encode()).hexdigest()[:8]


def _shape_view(g: Graph, shape, words: Words) -> ShapeView:
    view = ShapeView(
        iri=str(shape) if isinstance(shape, URIRef) else "",
        anchor=_anchor(shape),
        title=_shape_title(g, shape, words),
        target=_targets(g, shape, words),
        description=_text(g, shape, SH.description, RDFS.comment, SKOS.definition),
    )
    if (g.value(shape, SH.deactivated) or Literal(False)).toPython() is True:
        view.description = (view.description + " " if view.description else "") + "(This shape is switched off.)"
    node_constraints = _constraints(g, shape, words)
    if node_constraints:
        view.rules.append(Rule("must satisfy: " + ", ".join(node_constraints) + ".", _text(g, shape, SH.message), _severity(g, shape)))
    props = sorted(g.objects(shape, SH.property), key=lambda p: (float(g.value(p, SH.order) or 0), _text(g, p, SH.name), words.path(g.value(p, SH.path))))
    view.rules += [_property_rule(g, p, words) for p in props]
    for sparql in g.objects(shape, SH.sparql):
        message = _text(g, sparql, SH.message, RDFS.comment) or "a rule written as a SPARQL query"
        view.rules.append(Rule("must pass a check: " + message.rstrip(".") + ".", "", _severity(g, sparql)))
    if (g.value(shape, SH.closed) or Literal(False)).toPython() is True:
        ignored = g.value(shape, SH.ignoredProperties)
        extra = ", ".join(curie(str(p)) for p in _items(g, ignored)) if ignored is not None else ""
        view.rules.append(Rule("may have no other properties than those listed" + (f" (besides {extra})" if extra else "") + "."))
    return view
