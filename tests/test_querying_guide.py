"""docs/querying.md: every example query runs and gives the answer printed under it.

The guide is where analysts learn the data's shape; if the data changes, the guide's
answers must change with it, so each ```sparql block is run on the bundled graph (with
the endpoint's predeclared prefixes) and its rows compared, in order, with the Markdown
table that follows it. Every named-query link in the guide must run too.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pyoxigraph as ox
import pytest

from bpkg import queries as Q
from bpkg.namespaces import curie, sparql_prologue

from conftest import ROOT

GUIDE = ROOT / "docs" / "querying.md"
TEXT = GUIDE.read_text(encoding="utf-8")
EXAMPLE = re.compile(r"```sparql\n(?P<query>.*?)```\n\n(?P<table>(?:\|[^\n]*\|\n)+)", re.S)
EXAMPLES = [(m["query"], m["table"]) for m in EXAMPLE.finditer(TEXT)]


def cell(term) -> str:
    """How the guide writes a term: IRIs as prefixed names, literals by their text."""
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        return curie(term.value)
    return term.value


def table_rows(table: str) -> tuple[list[str], list[list[str]]]:
    lines = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.strip().splitlines()]
    return lines[0], lines[2:]


def test_the_guide_has_an_answer_under_every_example():
    assert TEXT.count("```sparql") == len(EXAMPLES) >= 15, "every ```sparql block is followed by its answer table"


@pytest.mark.parametrize("query,table", EXAMPLES, ids=[f"example-{i + 1}" for i in range(len(EXAMPLES))])
def test_example_gives_the_printed_answer(kg, query, table):
    header, expected = table_rows(table)
    result = kg.store.query(sparql_prologue() + query, use_default_graph_as_union=True)
    assert [v.value for v in result.variables] == header
    got = [[cell(row[v]) for v in header] for row in result]
    assert got == expected


LINKS = sorted(set(re.findall(r"\]\((/queries/[^)\s]+)\)", TEXT)))


@pytest.mark.parametrize("link", LINKS)
def test_named_query_links_run(kg, link):
    parts = urlsplit(link)
    name = parts.path.rsplit("/", 1)[1]
    assert name in Q.library(), f"{name}: no such named query"
    result = Q.evaluate_in_process(kg, Q.library()[name], dict(parse_qsl(parts.query)))
    assert result.rows, f"{link} gives no rows"


def test_the_three_first_questions_are_answered(kg):
    assert {"role-holders", "shared-gcm-objectives", "projects-active-in-year"} <= \
        {urlsplit(link).path.rsplit("/", 1)[1] for link in LINKS}
