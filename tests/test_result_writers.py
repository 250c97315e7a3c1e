"""SELECT results are written by pyoxigraph's SPARQL JSON writer when the table is under the
row and byte caps, and by our TableWriter (which cuts a table cleanly) when it is not. A
client must never tell which one wrote its answer: the same bytes, the same row count, and
the caps cut at exactly the same row as before."""

from __future__ import annotations

import json

import pyoxigraph as ox
import pytest

from bpkg import formats
from bpkg.sparql import Limits, Request
from bpkg.sparql.evaluate import evaluate_job, job_for
from bpkg.sparql.protocol import Target

JSON_FORMAT = next(f for f in formats.TABULAR if f.name == "json")

# Values that look like the bytes between two rows, or like an empty row, from inside a string.
TRICKY = ['},{"', '},{"}', '},{",', '}},{"x', "{}", '"', "\\", "\\\"", "x},{", "é ü 😀", "\x01\x1f", "\n\t\r",
          "</literal>", "<&>"]


@pytest.fixture(scope="module")
def target():
    store = ox.Store()
    g = ox.NamedNode("urn:g")
    p = ox.NamedNode("urn:p")
    for i, text in enumerate(TRICKY):
        s = ox.NamedNode(f"urn:s{i}")
        store.add(ox.Quad(s, p, ox.Literal(text), g))
        store.add(ox.Quad(s, p, ox.Literal(text, language="en"), g))
        store.add(ox.Quad(s, p, ox.Literal(text, datatype=ox.NamedNode("urn:type:" + str(i))), g))
        store.add(ox.Quad(ox.BlankNode(f"b{i}"), p, ox.Literal(str(i), datatype=ox.NamedNode(
            "http://www.w3.org/2001/XMLSchema#integer")), g))
    store.add(ox.Quad(ox.NamedNode("urn:t"), p, ox.Triple(ox.NamedNode("urn:a"), p, ox.Literal("},{\"")), g))
    for i in range(600):  # enough rows for the engine to write in several chunks
        store.add(ox.Quad(ox.NamedNode(f"urn:many{i:03}"), p, ox.Literal('},{"' * 8 + str(i)), g))
    return Target(store=store, graph_names=frozenset({"urn:g"}), union_default=True)


def _job(query: str, max_rows: int = 10_000, max_bytes: int = 16 * 1024 * 1024) -> dict:
    return job_for(Request(query, format="json"), Limits(max_rows=max_rows, max_bytes=max_bytes))


def _ours(target, query: str, max_rows: int, max_bytes: int) -> tuple[dict, bytes]:
    """What TableWriter alone writes: the answer every client got before the engine's writer."""
    answer = target.store.query(query, use_default_graph_as_union=True)
    writer = formats.TableWriter(JSON_FORMAT, [v.value for v in answer.variables], max_bytes)
    truncated = None
    for solution in answer:
        if writer.rows >= max_rows:
            truncated = "rows"
            break
        if not writer.add(solution):
            truncated = "bytes"
            break
    return {"rows": writer.rows, "truncated": truncated}, writer.finish()


QUERIES = [
    # no "{}" anywhere, so rows are counted from the bytes, not by parsing
    'SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER (isTriple(?o) || !CONTAINS(STR(?o), "{}")) } ORDER BY ?s ?o',
    "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?o",
    "SELECT ?s ?none ?o WHERE { ?s ?p ?o OPTIONAL { ?s <urn:nothing> ?none } } ORDER BY ?s ?o",
    "SELECT ?none WHERE { ?s ?p ?o OPTIONAL { ?s <urn:nothing> ?none } }",  # rows with nothing bound: {}
    "SELECT ?s WHERE { ?s <urn:nothing> ?o }",  # no rows
    "SELECT * WHERE { }",  # one empty row
]


@pytest.mark.parametrize("query", QUERIES)
def test_under_the_caps_the_engine_writes_our_bytes(target, query):
    header, body = evaluate_job(target, _job(query))
    expected_header, expected = _ours(target, query, 10_000, 16 * 1024 * 1024)
    assert body == expected
    assert header["rows"] == expected_header["rows"] == len(json.loads(body)["results"]["bindings"])
    assert header["truncated"] is None


@pytest.mark.parametrize("query", QUERIES[:3])
def test_the_row_cap_cuts_where_it_always_has(target, query):
    rows = len(json.loads(evaluate_job(target, _job(query))[1])["results"]["bindings"])
    for cap in (rows + 1, rows, rows - 1, rows // 2, 2, 1, 0):
        header, body = evaluate_job(target, _job(query, max_rows=cap))
        expected_header, expected = _ours(target, query, cap, 16 * 1024 * 1024)
        assert (header["rows"], header["truncated"], body) == (expected_header["rows"], expected_header["truncated"],
                                                               expected), cap
    assert evaluate_job(target, _job(query, max_rows=rows - 1))[0]["truncated"] == "rows"


@pytest.mark.parametrize("query", QUERIES[:2])
def test_the_byte_cap_cuts_where_it_always_has(target, query):
    size = len(evaluate_job(target, _job(query))[1])
    # Around where TableWriter stops taking the last row (the document but its 3 closing bytes,
    # plus its room), around the engine's own limit (the document plus the room), and below.
    room = formats.CLOSING_ROOM
    for cap in (size + room, size + room - 1, size + room - 3, size + room - 4, size - 1, size // 2, 200):
        header, body = evaluate_job(target, _job(query, max_bytes=cap))
        expected_header, expected = _ours(target, query, 10_000, cap)
        assert (header["rows"], header["truncated"], body) == (expected_header["rows"], expected_header["truncated"],
                                                               expected), cap
        assert len(body) <= cap
        json.loads(body)  # a cut table is still a whole document
    assert evaluate_job(target, _job(query, max_bytes=size + formats.CLOSING_ROOM))[0]["truncated"] is None
    assert evaluate_job(target, _job(query, max_bytes=size - 1))[0]["truncated"] == "bytes"


def test_rows_are_counted_from_the_engine_document(target):
    for query in QUERIES:
        answer = target.store.query(query, use_default_graph_as_union=True)
        body = answer.serialize(format=ox.QueryResultsFormat.JSON)
        assert formats.json_rows(body) == len(json.loads(body)["results"]["bindings"]), query


def test_a_table_cut_at_the_row_cap_is_written_by_the_engine(target, monkeypatch):
    """The common cut (10,000 rows of a large answer) needs no second evaluation: the engine's
    document is cut at the row, from the bytes it wrote before it was stopped."""
    query = QUERIES[0]
    expected_header, expected = _ours(target, query, 100, 16 * 1024 * 1024)
    monkeypatch.setattr(formats, "TableWriter", None)  # any use of it would fail
    header, body = evaluate_job(target, _job(query, max_rows=100))
    assert (header["rows"], header["truncated"], body) == (100, "rows", expected)
