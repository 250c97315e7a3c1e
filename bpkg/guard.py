"""The guard on authoritative facts: what a submission may not change.

A submission may add new entities, facts about them and links to existing entities. It
may not change what the published graph states about an entity it does not own: the
bundled graph is the authority for everything in it, and an entity that an accepted
submission introduced belongs to that submission's submitter (the token id).

Three rules need to know which triples are published and which are submitted, which a
SHACL shape run over the two together cannot tell apart; they are applied here, by
:meth:`bpkg.validation.Validator.validate_submission`, and documented as the shapes
``bpsh:PublishedFactShape``, ``bpsh:PublishedRoleShape`` and
``bpsh:PublishedAlignmentShape`` in ``shapes/guard.ttl``:

* a triple about a published entity that the graph does not already state (a changed
  title, notation, text, code, authority link, region, broader concept, type, ...);
* a new membership that gives a published member of an organisation a role the graph
  does not give it there (a participating state declared an observer);
* a new alignment between two published entities that the graph does not make (a
  priority goal aligned to an objective the Call for Action does not name).

The rules that SHACL can state over the graph as a whole (real ISO 3166-1 codes; a code,
Wikidata item or authority IRI belongs to one state only) are plain shapes in that file.
Every message names the entity, the property and the published value.
"""

from __future__ import annotations


from rdflib import Graph, Literal, URIRef
from rdflib.namespace import ORG, RDFS, SKOS

from .namespaces import BPSH, PREFIXES, curie

BP = PREFIXES["bp"]
ALIGNED_FROM, ALIGNED_TO = URIRef(BP + "alignedFrom"), URIRef(BP + "alignedTo")
FACT_SHAPE = BPSH.PublishedFactShape
ROLE_SHAPE = BPSH.PublishedRoleShape
ALIGNMENT_SHAPE = BPSH.PublishedAlignmentShape
MAX_LISTED = 8  # published values named in one message


class Guard:
    """What the published graph states, looked up for the entities a submission names (the
    graph is read-only; ``published`` is an rdflib graph, read pattern by pattern)."""

    def __init__(self, published: Graph, owners: dict[str, str] | None = None):
        self.owners = owners or {}
        self.graph = published

    def published(self, node) -> bool:
        return node is not None and (node, None, None) in self.graph

    def values(self, s, p) -> set:
        return set(self.graph.objects(s, p))

    def label(self, node):
        for p, o in self.graph.predicate_objects(node):
            if p in (SKOS.prefLabel, RDFS.label) and isinstance(o, Literal) and o.language in (None, "en"):
                return str(o)
        return None

    def roles(self, member, organisation) -> dict:
        """{role: membership} of the published memberships of ``member`` in ``organisation``."""
        found: dict = {}
        if member is None or organisation is None:
            return found
        for m in self.graph.subjects(ORG.member, member):
            role = self.graph.value(m, ORG.role)
            if role is not None and self.graph.value(m, ORG.organization) == organisation:
                found[role] = m
        return found

    def aligned(self, source) -> set:
        return {self.graph.value(a, ALIGNED_TO) for a in self.graph.subjects(ALIGNED_FROM, source)} - {None}

    def owned_by(self, node, owner: str | None) -> bool:
        return owner is not None and self.owners.get(str(node)) == owner

    def name(self, node) -> str:
        label = self.label(node)
        if label and len(label) > 60:
            label = label[:57].rstrip() + "…"
        return f"{curie(str(node))} ({label})" if label else curie(str(node))

    def values_text(self, values) -> str:
        shown = sorted((_show(v) for v in values), key=str)
        more = len(shown) - MAX_LISTED
        return ", ".join(shown[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")

    def check(self, data: Graph, owner: str | None = None) -> list[tuple]:
        """Violations as (focus, property, value, message, shape), in a stable order."""
        found = []
        for s, p, o in sorted(data, key=lambda t: tuple(map(str, t))):
            if not self.published(s) or self.owned_by(s, owner):
                continue
            published = self.values(s, p)
            if o in published:
                continue
            said = (f"is published with {curie(str(p))} {self.values_text(published)}" if published
                    else f"is published without {curie(str(p))}")
            found.append((s, p, o, (
                f"{self.name(s)} {said}; a submission cannot change what the graph states about an entity it "
                f"does not own (this one sends {_show(o)}). If the published value is wrong, write to the "
                "maintainers with the source."), FACT_SHAPE))
        new = {s for s in data.subjects() if not self.published(s)}
        for node in sorted(new, key=str):
            member, organisation, role = (data.value(node, ORG.member), data.value(node, ORG.organization),
                                          data.value(node, ORG.role))
            published_roles = self.roles(member, organisation)
            if role is not None and published_roles and role not in published_roles \
                    and not self.owned_by(member, owner):
                memberships = ", ".join(sorted(curie(str(m)) for m in published_roles.values()))
                found.append((node, ORG.role, role, (
                    f"{self.name(member)} is published with org:role {self.values_text(published_roles)} in "
                    f"{self.name(organisation)} ({memberships}); a submission cannot give it another role "
                    f"({_show(role)}). If the published role is wrong, write to the maintainers with the source."),
                    ROLE_SHAPE))
            source, target = data.value(node, ALIGNED_FROM), data.value(node, ALIGNED_TO)
            if source is not None and target is not None and self.published(source) and self.published(target) \
                    and not self.owned_by(source, owner) and target not in self.aligned(source):
                published = self.aligned(source)
                said = (f"is published as aligned (bp:alignedTo) to {self.values_text(published)} only"
                        if published else "has no published alignment (bp:alignedTo)")
                found.append((node, ALIGNED_TO, target, (
                    f"{self.name(source)} {said}; the sources (the Call for Action) make no alignment of it with "
                    f"{self.name(target)}, and a submission cannot add one between two published entities."),
                    ALIGNMENT_SHAPE))
        return found


def _show(term) -> str:
    if isinstance(term, URIRef):
        return curie(str(term))
    if isinstance(term, Literal):
        text = str(term)
        text = text if len(text) <= 400 else text[:397].rstrip() + "…"
        return f'"{text}"' + (f"@{term.language}" if term.language else "")
    return str(term)
