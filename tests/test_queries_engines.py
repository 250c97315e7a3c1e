"""Every named query gives the same rows on pyoxigraph (the store) and on rdflib (the dataset).

The two engines disagree in places the spec leaves open (language of a GROUP_CONCAT,
plain versus xsd:string literals); a query whose answer depends on such a place is a
query analysts cannot trust, so the library must avoid them. Rows are compared as
multisets after normalising literals: lexical form, language (lower case) and datatype,
with a plain literal read as xsd:string. Both run the same text: the query with its
parameters bound as a VALUES block (bpkg.queries.bound_text).
"""

from __future__ import annotations

from collections import Counter

import pyoxigraph as ox
import pytest
from rdflib import BNode, Dataset, Graph, Literal, URIRef

from bpkg import queries as Q
from bpkg.namespaces import sparql_prologue

# rdflib's Dataset warns about its own default_context on every triple lookup.
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
LIBRARY = Q.library()  # the checks are whole-graph scans: seconds each on rdflib, so not here


@pytest.fixture(scope="module")
def rdflib_union(kg):
    """rdflib over the same quads, default graph = union of the named graphs."""
    return Dataset(store=kg.dataset.store, default_union=True)


def _ox(term):
    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        return ("iri", term.value)
    if isinstance(term, ox.BlankNode):
        return ("bnode",)
    return ("literal", term.value, (term.language or "").lower(), "" if term.language else term.datatype.value)


def _rdflib(term):
    if term is None:
        return None
    if isinstance(term, URIRef):
        return ("iri", str(term))
    if isinstance(term, BNode):
        return ("bnode",)
    assert isinstance(term, Literal)
    language = (term.language or "").lower()
    return ("literal", str(term), language, "" if language else str(term.datatype or XSD_STRING))


def _cases():
    for name, query in sorted(LIBRARY.items()):
        yield pytest.param(query, {p.name: p.example for p in query.params if p.required}, id=name)
        if any(not p.required for p in query.params):
            yield pytest.param(query, {p.name: p.example for p in query.params}, id=name + "+optional")


@pytest.mark.parametrize("query, values", list(_cases()))
def test_same_rows_on_both_engines(kg, rdflib_union, query, values):
    oxigraph = Counter(tuple(_ox(row[c]) for c in query.columns) for row in Q.evaluate_in_process(kg, query, values).rows)
    answer = rdflib_union.query(Q.bound_text(query, values))
    assert [str(v) for v in answer.vars] == list(query.columns)
    rdflib = Counter(tuple(_rdflib(row[c]) for c in query.columns) for row in answer)
    assert oxigraph == rdflib, {"only pyoxigraph": list((oxigraph - rdflib).items())[:3],
                                "only rdflib": list((rdflib - oxigraph).items())[:3]}
    assert sum(oxigraph.values()) > 0, "a real comparison has rows"


def test_dates_with_different_precisions_compare_alike(kg, rdflib_union):
    """members-on-date compares years, months and days as ISO text; both engines agree day by day."""
    query = LIBRARY["members-on-date"]
    for day in ("1993-01-01", "2006-01-31", "2006-02-01", "2010-01-01", "2024-12-31"):
        ours = sorted(str(r["state"]) + str(r["role"]) for r in Q.evaluate_in_process(kg, query, {"date": day}).rows)
        theirs = sorted(f"<{r['state']}><{r['role']}>" for r in rdflib_union.query(Q.bound_text(query, {"date": day})))
        assert ours == theirs, day


# A project linked to an objective both directly and through priority goals, one linked
# directly only and one through a goal only: the first gave viaGoals "1; 5" on rdflib and no
# value on Oxigraph while the query fed GROUP_CONCAT an unbound number for the direct link.
MIXED_LINKS = sparql_prologue(["bp", "gcm", "goal", "schema", "skos", "xsd"]) + """
PREFIX ex: <https://example.org/>
ex:both a bp:Project ; skos:prefLabel "Both"@en ; schema:startDate "2019"^^xsd:gYear ;
    bp:addressesGcmObjective gcm:7 ; bp:addressesPriorityGoal goal:5, goal:1 .
ex:direct a bp:Project ; skos:prefLabel "Direct"@en ; bp:addressesGcmObjective gcm:7 .
ex:goal a bp:Project ; skos:prefLabel "Goal"@en ; bp:addressesPriorityGoal goal:5 .
goal:1 skos:notation "1" .
goal:5 skos:notation "5" .
ex:a1 a bp:Alignment ; bp:alignedFrom goal:1 ; bp:alignedTo gcm:7 .
ex:a5 a bp:Alignment ; bp:alignedFrom goal:5 ; bp:alignedTo gcm:7 .
"""


def test_projects_by_gcm_objective_agree_on_mixed_links():
    query = LIBRARY["projects-by-gcm-objective"]
    text = Q.bound_text(query, {"objective": "gcm:7"})
    store = ox.Store()
    store.load(MIXED_LINKS.encode(), format=ox.RdfFormat.TURTLE)
    oxigraph = [tuple(_ox(row[c]) for c in ("project", "direct", "viaGoals")) for row in store.query(text)]
    rdflib = [tuple(_rdflib(row[c]) for c in ("project", "direct", "viaGoals"))
              for row in Graph().parse(data=MIXED_LINKS, format="turtle").query(text)]
    boolean = "http://www.w3.org/2001/XMLSchema#boolean"
    expected = [  # in the query's order: dated first, then by label
        (("iri", "https://example.org/both"), ("literal", "true", "", boolean), ("literal", "1; 5", "", XSD_STRING)),
        (("iri", "https://example.org/direct"), ("literal", "true", "", boolean), None),
        (("iri", "https://example.org/goal"), ("literal", "false", "", boolean), ("literal", "5", "", XSD_STRING)),
    ]
    assert oxigraph == expected
    assert rdflib == expected


# A membership with two documents and one with none: the second gave sources "" on rdflib
# and no value on Oxigraph while the query grouped an unbound source.
MEMBERSHIP_SOURCES = sparql_prologue(["org", "prov", "role", "skos"]) + """
PREFIX ex: <https://example.org/>
ex:sourced a org:Membership ; org:role role:chair ; org:member ex:a ; org:organization ex:body ;
    prov:wasDerivedFrom <https://example.org/doc/2>, <https://example.org/doc/1> .
ex:unsourced a org:Membership ; org:role role:chair ; org:member ex:b ; org:organization ex:body .
ex:a skos:prefLabel "A"@en .
ex:b skos:prefLabel "B"@en .
ex:body skos:prefLabel "Body"@en .
"""


def test_role_holders_agree_on_a_membership_without_sources():
    text = Q.bound_text(LIBRARY["role-holders"], {"role": "role:chair"})
    store = ox.Store()
    store.load(MEMBERSHIP_SOURCES.encode(), format=ox.RdfFormat.TURTLE)
    oxigraph = [tuple(_ox(row[c]) for c in ("membership", "sources")) for row in store.query(text)]
    rdflib = [tuple(_rdflib(row[c]) for c in ("membership", "sources"))
              for row in Graph().parse(data=MEMBERSHIP_SOURCES, format="turtle").query(text)]
    expected = [  # undated: by body, then member
        (("iri", "https://example.org/sourced"),
         ("literal", "https://example.org/doc/1; https://example.org/doc/2", "", XSD_STRING)),
        (("iri", "https://example.org/unsourced"), None),
    ]
    assert oxigraph == expected
    assert rdflib == expected
