"""The lexical gate: what it refuses, and the lookalikes it must let through.

The gate reads the query with strings, IRIs, comments, variables, prefixed names and
language tags set apart, so a keyword counts only where the parser would see one. These
are unit tests of :func:`bpkg.sparql.prepare`; tests/test_sparql_safety.py attacks the
live server, and tests/test_sparql_pool.py shows the network-less worker behind the gate.
"""

from __future__ import annotations

import pytest

from bpkg.sparql import Limits, Request, SparqlError, Target, execute, prepare

GRAPH = "https://w3id.org/bpkg/graph/kg/schemes/regions"
OUTSIDE = "http://127.0.0.1:9/observer"
LIMITS = Limits()


@pytest.fixture(scope="module")
def target(kg):
    return Target.of(kg)


def refusal(target, query: str) -> str:
    with pytest.raises(SparqlError) as refused:
        prepare(target, Request(query=query), LIMITS)
    assert refused.value.status == 400
    return refused.value.message


@pytest.mark.parametrize("query", [
    "select * where { sErViCe <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "SELECT * WHERE { \\u0073ervice <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "SELECT * WHERE { SERV\\U00000049CE <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o . # a comment\n SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p \"a string\" SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o FILTER(?o<1) SERVICE<http://127.0.0.1:9/>{ ?s ?p ?o } }",
    "PREFIX ex: <http://127.0.0.1:9/> SELECT * WHERE { SERVICE ex:sparql { ?s ?p ?o } }",
])
def test_service_is_found_however_it_is_written(target, query):
    assert "SERVICE is not allowed" in refusal(target, query)


@pytest.mark.parametrize("query", [
    'SELECT ?x WHERE { BIND ("SERVICE <http://127.0.0.1:9/> { }" AS ?x) }',
    "SELECT ?x WHERE { BIND ('''LOAD <http://127.0.0.1:9/>\nDROP ALL''' AS ?x) }",
    "SELECT ?x WHERE { BIND (<http://example.org/SERVICE/LOAD/INSERT> AS ?x) }",
    "SELECT ?x WHERE { BIND (1 AS ?x) } # SERVICE <http://127.0.0.1:9/> and DROP ALL",
    "SELECT ?service ?load WHERE { BIND (1 AS ?service) BIND (2 AS $load) }",
    "PREFIX servicex: <http://example.org/> SELECT ?x WHERE { BIND (servicex:insert AS ?x) }",
    "PREFIX ex: <http://example.org/> SELECT ?x WHERE { BIND (ex:service AS ?x) }",
    "PREFIX ex: <http://example.org/> SELECT ?x WHERE { BIND (ex:a\\(service\\) AS ?x) }",
    "SELECT ?x WHERE { BIND (\"label\"@drop AS ?x) }",
    'SELECT ?x WHERE { BIND ("say \\"SERVICE\\" twice" AS ?x) }',
    "SELECT ?x WHERE { _:service <http://example.org/p> ?x }",
])
def test_lookalikes_pass_the_gate(target, query):
    plan = prepare(target, Request(query=query), LIMITS)
    assert plan.form == "SELECT"


def test_lookalikes_run_and_return_their_text(target):
    result = execute(target, Request(query='SELECT ?x WHERE { BIND ("SERVICE and DROP ALL" AS ?x) }'), LIMITS)
    assert b"SERVICE and DROP ALL" in result.body


@pytest.mark.parametrize("query", ["DROP ALL", "clear default", "LOAD <http://127.0.0.1:9/>",
                                   "INSERT DATA { <urn:a> <urn:b> <urn:c> }", "WITH <urn:g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
                                   "ADD DEFAULT TO <urn:x>", "\\u0044ROP ALL"])
def test_updates_are_refused_by_keyword(target, query):
    assert "update" in refusal(target, query).lower()


def test_an_escape_that_makes_an_escape_is_refused(target):
    # \u005C is a backslash: one pass of escape expansion leaves \u0053ERVICE, which a
    # second pass anywhere would turn into SERVICE. Outside strings it is never SPARQL.
    assert "backslash" in refusal(target, "SELECT * WHERE { \\u005Cu0053ERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }")


@pytest.mark.parametrize("query", [
    f"SELECT * FROM <{OUTSIDE}> WHERE {{ ?s ?p ?o }}",
    f"PREFIX o: <{OUTSIDE}/> SELECT * FROM o:data WHERE {{ ?s ?p ?o }}",
    f"PREFIX o: <{OUTSIDE}/> SELECT * FROM NAMED o:data WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}",
    f"BASE <{OUTSIDE}/> SELECT * FROM <data> WHERE {{ ?s ?p ?o }}",
    "SELECT * from named <file:///etc/passwd> WHERE { GRAPH ?g { ?s ?p ?o } }",
    # a canonical prefix redeclared by the query: the query's own declaration wins
    f"PREFIX bp: <{OUTSIDE}/> SELECT * FROM bp:kg WHERE {{ ?s ?p ?o }}",
])
def test_from_outside_the_dataset_is_refused(target, query):
    assert "not in this dataset" in refusal(target, query)


def test_from_with_an_undeclared_prefix_is_refused(target):
    assert "not declared" in refusal(target, "SELECT * FROM nosuchprefix:x WHERE { ?s ?p ?o }")


@pytest.mark.parametrize("query", [
    f"ASK FROM <{GRAPH}> {{ ?s ?p ?o }}",
    "PREFIX g: <https://w3id.org/bpkg/graph/kg/schemes/> ASK FROM g:regions { ?s ?p ?o }",
    "BASE <https://w3id.org/bpkg/graph/kg/> ASK FROM <schemes/regions> { ?s ?p ?o }",
    f"ASK FROM NAMED <{GRAPH}> {{ GRAPH ?g {{ ?s ?p ?o }} }}",
])
def test_from_a_bundled_graph_is_resolved_and_allowed(target, query):
    plan = prepare(target, Request(query=query), LIMITS)
    assert GRAPH in plan.from_default + plan.from_named
    assert execute(target, Request(query=query, format="json"), LIMITS).body == b'{"head": {}, "boolean": true}'


def test_the_form_picks_the_format_before_any_engine(target):
    assert prepare(target, Request(query="CONSTRUCT WHERE { ?s ?p ?o }"), LIMITS).format.media_type == "text/turtle"
    assert prepare(target, Request(query="ASK {}", accept="text/csv"), LIMITS).format.media_type == "text/csv"
    with pytest.raises(SparqlError) as refused:
        prepare(target, Request(query="DESCRIBE <urn:x>", accept="text/csv"), LIMITS)
    assert refused.value.status == 406


def test_syntax_errors_come_from_the_engine_with_a_position(target):
    with pytest.raises(SparqlError) as failed:
        execute(target, Request(query="SELECT * WHERE {\n  ?s ?p "), LIMITS)
    assert failed.value.status == 400
    assert "line 2, column 9" in failed.value.message and "^" in failed.value.message


def test_an_unterminated_string_is_a_syntax_error_not_a_refusal(target):
    with pytest.raises(SparqlError) as failed:
        execute(target, Request(query='SELECT * WHERE { ?s ?p "open SERVICE <http://127.0.0.1:9/> { } }'), LIMITS)
    assert failed.value.status == 400 and "syntax error" in failed.value.message


# -- the parse's decisions: kept per query, needed only where a keyword could be ----------------

def _counting_parses(monkeypatch) -> list[str]:
    import importlib

    gate = importlib.import_module("bpkg.sparql.gate")  # the module: bpkg.sparql.gate is also a function's name
    parsed: list[str] = []
    real = gate.decide
    monkeypatch.setattr(gate, "decide", lambda text, *a, **k: parsed.append(text) or real(text, *a, **k))
    return parsed


def test_a_query_resent_with_another_comment_is_not_parsed_again(target, monkeypatch):
    """A notebook re-sends its query with new comments and spacing: one parse. Change a
    token and it is parsed anew."""
    from bpkg.sparql import decision_for

    parsed = _counting_parses(monkeypatch)
    query = f"SELECT * FROM <{GRAPH}> WHERE {{ ?s ?p ?o }} # run 1"
    first = decision_for(prepare(target, Request(query=query), LIMITS), target.graph_names)
    again = decision_for(prepare(target, Request(query="  " + query.replace("# run 1", "# run 2\n")), LIMITS),
                         target.graph_names)
    assert first == again == {"form": "SELECT", "from_default": [GRAPH], "from_named": []} and len(parsed) == 1
    decision_for(prepare(target, Request(query=query.replace("?o", "?x")), LIMITS), target.graph_names)
    assert len(parsed) == 2


@pytest.mark.parametrize("query, needs_parse", [
    ("SELECT * WHERE { ?s ?p ?o } # all graphs FROM everywhere, no SERVICE", False),
    ("ASK {}", False),
    ('SELECT * WHERE { ?s ?p "from" }', True),  # a string may hide nothing, but the letters are there: parse
    ("SELECT * WHERE { ?s ?p <http://example.org/Graph> }", True),
    ("SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", True),
])
def test_the_parse_is_skipped_only_where_no_keyword_can_be(target, monkeypatch, query, needs_parse):
    from bpkg.sparql import decision_for

    parsed = _counting_parses(monkeypatch)
    decision_for(prepare(target, Request(query=query + f" # {needs_parse}"), LIMITS), target.graph_names)
    assert bool(parsed) == needs_parse


def test_the_engine_gets_only_the_site_prefixes_a_query_uses(target):
    plan = prepare(target, Request(query="PREFIX skos: <http://www.w3.org/2004/02/skos/core#> "
                                         "SELECT ?l WHERE { state:AF skos:prefLabel ?l . ?x bp:inRegion ?r }"), LIMITS)
    assert set(plan.prefixes) == {"state", "bp"}
    assert execute(target, Request(query=plan.query, accept="text/csv"), LIMITS).body.count(b"\n") >= 2
