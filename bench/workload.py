"""The queries every benchmark runs: each named query in queries/*.rq with the example
values from its header, plus the issue's 3-way join and GROUP BY."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bpkg import queries  # noqa: E402
from bpkg.namespaces import sparql_prologue  # noqa: E402

# Participating states of a region -> projects that target them -> the GCM objectives those
# projects address (the "3-way join"; rows grow with the graph).
JOIN3 = sparql_prologue(["bp", "region", "skos"]) + """
SELECT ?state ?project ?notation WHERE {
  ?state bp:inRegion region:silk-routes .
  ?project bp:targetCountry ?state ;
      bp:addressesGcmObjective ?objective .
  ?objective skos:notation ?notation .
}"""

# Projects, target countries and funders per priority goal (the "GROUP BY").
GROUPBY = sparql_prologue(["bp", "schema"]) + """
SELECT ?goal (COUNT(DISTINCT ?project) AS ?projects) (COUNT(DISTINCT ?state) AS ?states)
       (COUNT(DISTINCT ?funder) AS ?funders) WHERE {
  ?project a bp:Project ;
      bp:addressesPriorityGoal ?goal ;
      bp:targetCountry ?state .
  OPTIONAL { ?project schema:funder ?funder }
} GROUP BY ?goal"""

# One row, for the point-query HTTP case.
POINT = sparql_prologue(["skos", "state"]) + "SELECT ?label WHERE { state:AF skos:prefLabel ?label }"


def extra(name: str, text: str) -> queries.NamedQuery:
    return queries.NamedQuery(name=name, path=Path(f"<bench:{name}>"), text=text)


def cases() -> list[tuple[str, queries.NamedQuery, dict[str, str]]]:
    """(label, query, parameter values) for every named query and the two extra ones."""
    found = []
    for q in queries.library().values():
        found.append((q.name, q, {p.name: p.example for p in q.params if p.example}))
    found.append(("x-join3", extra("x-join3", JOIN3), {}))
    found.append(("x-groupby", extra("x-groupby", GROUPBY), {}))
    return found
