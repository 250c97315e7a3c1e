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
from rdflib import BNode, Dataset, Literal, URIRef

from bpkg import queries as Q

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
