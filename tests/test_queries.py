"""The analyst query library: headers, conventions, answers, checks, safety, CLI and HTTP.

Expected answers come from the reference pack (../shared/reference CSVs; skipped when
absent), from facts of the seed page written out here, or from plain rdflib triple
lookups on the loaded dataset, never from running the query and pasting its output.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter

import pyoxigraph as ox
import pytest
from rdflib import RDF, Namespace, URIRef

from bpkg import queries as Q
from bpkg.namespaces import PREFIXES, sparql_prologue

from conftest import REFERENCE
from servers import bpkg_cli

BP = Namespace(PREFIXES["bp"])
ORG = Namespace(PREFIXES["org"])
SCHEMA = Namespace(PREFIXES["schema"])
PROV = Namespace(PREFIXES["prov"])
DCT = Namespace(PREFIXES["dct"])
SDGO = Namespace(PREFIXES["sdgo"])
ID = "https://w3id.org/bpkg/id/"

LIBRARY = Q.library()
CHECKS = Q.checks()
ISSUE_NAMES = [
    "priority-goals", "goal-gcm-alignments", "gcm-objectives", "gcm-guiding-principles", "sdg-goals",
    "sdg-targets", "states", "states-in-region", "regions", "members-on-date", "projects",
    "projects-active-in-year", "projects-by-state", "projects-by-gcm-objective", "projects-by-priority-goal",
    "organisations", "meetings", "timeline", "sources", "search", "overview"]


# -- helpers ---------------------------------------------------------------------------------

def reference(name: str) -> list[dict]:
    path = REFERENCE / name
    if not path.is_file():
        pytest.skip(f"reference pack file {path} not found (CI has ../shared/reference)")
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def rows(kg, name: str, **values) -> list[dict]:
    """Rows as plain Python values: IRIs and literals by their lexical form, None if unbound."""
    result = Q.evaluate_in_process(kg, LIBRARY[name], {k: str(v) for k, v in values.items()})
    return [{k: (None if t is None else t.value) for k, t in row.items()} for row in result.rows]


def column(kg, name: str, col: str, **values) -> list:
    return [r[col] for r in rows(kg, name, **values)]


def subjects(kg, cls) -> set[str]:
    return {str(s) for s in kg.union().subjects(RDF.type, cls)}


def body_of(text: str) -> str:
    """The query without its header and comment lines."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


PREFIXED = re.compile(r"(?<![\w<\"#/.:-])([A-Za-z][\w-]*):(?!//)")


def used_prefixes(text: str) -> list[str]:
    """Prefixes named in the query body (string literals and PREFIX lines left out)."""
    code = re.sub(r'"[^"\n]*"', '""', "\n".join(l for l in body_of(text).splitlines() if not l.startswith("PREFIX ")))
    return sorted({p for p in PREFIXED.findall(code) if p in PREFIXES})


# -- every file: header, conventions, parse, columns ---------------------------------------------

def test_the_issue_names_are_all_there():
    assert set(ISSUE_NAMES) <= set(LIBRARY), sorted(set(ISSUE_NAMES) - set(LIBRARY))
    assert len(LIBRARY) > len(ISSUE_NAMES), "add the queries analysts ask next"
    assert CHECKS, "queries/checks/*-violation.rq"


@pytest.mark.parametrize("name", sorted(LIBRARY) + [f"checks/{c}" for c in sorted(CHECKS)])
def test_file_follows_the_conventions(name):
    query = CHECKS[name[7:]] if name.startswith("checks/") else LIBRARY[name]
    text = query.text
    assert text.startswith("#+ summary:"), "the #+ header comes first"
    assert query.summary and query.columns, "summary and columns are required header keys"
    assert isinstance(query.header.get("tags"), list) and "params" in query.header
    for p in query.params:
        assert p.type in Q.TYPE_SUFFIX and p.example, f"param {p.name} needs a type and an example"
        assert "required" in next(e for e in query.header["params"] if e["name"] == p.name)
    assert re.search(r"(?m)^ORDER BY ", text), "always ORDER BY"
    declared = re.findall(r"(?m)^PREFIX (\w+):", text)
    used = used_prefixes(text)
    assert declared == used, f"declare exactly the prefixes used: {used}"
    if used:
        assert sparql_prologue(used) in text, "PREFIX lines as bpkg.namespaces.sparql_prologue writes them"
    for iri in re.findall(r"(?m)^PREFIX \w+:\s+<([^>]+)>", text):
        assert iri in PREFIXES.values()


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_query_parses_runs_and_returns_its_columns(kg, name):
    query = LIBRARY[name]
    examples = {p.name: p.example for p in query.params}
    for values in ({k: v for k, v in examples.items() if any(p.name == k and p.required for p in query.params)},
                   examples):
        result = Q.evaluate_in_process(kg, query, values)
        assert tuple(result.variables) == query.columns
        for row in result.rows:
            assert list(row) == list(query.columns)


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_labels_are_english(kg, name):
    query = LIBRARY[name]
    result = Q.evaluate_in_process(kg, query, {p.name: p.example for p in query.params})
    langs = {t.language for row in result.rows for t in row.values() if isinstance(t, ox.Literal) and t.language}
    assert langs <= {"en"}


def test_header_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.rq"
    bad.write_text("#+ summary: x\n#+ params:\n#+   - name: region\n#+     type: iri\nSELECT ?s\nWHERE { ?s ?p ?o }\n")
    with pytest.raises(Q.HeaderError, match="_region_iri"):
        Q.load_query(bad)
    bad.write_text("#+ summary: [unclosed\nSELECT * WHERE { ?s ?p ?o }\n")
    with pytest.raises(Q.HeaderError, match="YAML"):
        Q.load_query(bad)
    with pytest.raises(Q.UnknownQuery):
        Q.get("../README")


# -- answers ---------------------------------------------------------------------------------------

def test_priority_goals(kg):
    got = rows(kg, "priority-goals")
    assert [r["notation"] for r in got] == ["1", "2", "3", "4", "5", "6"]
    assert [r["goal"] for r in got] == [f"{ID}priority-goal/{n}" for n in range(1, 7)]
    titles = {r["number"]: r["title"] for r in reference("call_for_action.csv")}
    assert [r["label"] for r in got] == [titles[str(n)] for n in range(1, 7)]


def test_goal_gcm_alignments_seed_facts(kg):
    assert column(kg, "goal-gcm-alignments", "objectiveNotation", goal="goal:5") == ["2", "7", "10", "11", "12"]
    full = ID + "priority-goal/5"
    assert column(kg, "goal-gcm-alignments", "objectiveNotation", goal=full) == ["2", "7", "10", "11", "12"]
    everything = rows(kg, "goal-gcm-alignments")
    assert len(everything) == 28
    keys = [(int(r["goalNotation"]), int(r["objectiveNotation"])) for r in everything]
    assert keys == sorted(keys)
    assert {r["source"] for r in everything} == {ID + "document/un-network-practice-budapest-process"}


def test_goal_gcm_alignments_match_the_call_for_action(kg):
    expected = {(int(r["number"]), int(o)) for r in reference("call_for_action.csv") for o in r["gcm_objectives"].split(";")}
    got = {(int(r["goalNotation"]), int(r["objectiveNotation"])) for r in rows(kg, "goal-gcm-alignments")}
    assert got == expected


def test_gcm_objectives(kg):
    got = rows(kg, "gcm-objectives")
    assert [int(r["notation"]) for r in got] == list(range(1, 24))
    assert [r["notation"] for r in got if r["crossCutting"] == "true"] == ["1", "3", "23"]
    assert {r["crossCutting"] for r in got} == {"true", "false"}
    ref = reference("gcm_objectives.csv")
    assert [r["label"] for r in got] == [r["title"] for r in ref]
    cited = Counter(int(o) for r in reference("call_for_action.csv") for o in r["gcm_objectives"].split(";"))
    assert {int(r["notation"]): int(r["priorityGoalCount"]) for r in got} == {n: cited.get(n, 0) for n in range(1, 24)}


def test_gcm_guiding_principles(kg):
    got = rows(kg, "gcm-guiding-principles")
    assert len(got) == 10
    assert [r["label"] for r in got] == [r["name"] for r in reference("gcm_guiding_principles.csv")]
    assert got[0]["principle"] == ID + "gcm-principle/people-centred"


def test_sdg_goals(kg):
    got = rows(kg, "sdg-goals")
    assert len(got) == 17
    ref = reference("sdg_goals.csv")
    assert [(r["goal"], r["label"]) for r in got] == [(r["uri"], r["title"]) for r in ref]
    per_goal = Counter(r["goal_number"] for r in reference("sdg_targets.csv"))
    assert {r["notation"]: int(r["targetCount"]) for r in got} == dict(per_goal)


def test_sdg_targets(kg):
    got = rows(kg, "sdg-targets")
    assert len(got) == 169
    ref = reference("sdg_targets.csv")
    assert {(r["target"], r["notation"], r["goal"]) for r in got} == \
        {(r["uri"], r["code"], f"http://metadata.un.org/sdg/{r['goal_number']}") for r in ref}
    assert column(kg, "sdg-targets", "notation", goal="sdg:10") == \
        ["10.1", "10.2", "10.3", "10.4", "10.5", "10.6", "10.7", "10.a", "10.b", "10.c"]
    assert column(kg, "sdg-targets", "notation", goal="sdg:17")[9:12] == ["17.10", "17.11", "17.12"]


def test_states(kg):
    got = rows(kg, "states")
    ref = reference("bp_states.csv")
    assert {r["iso2"] for r in got} == {r["iso_alpha2"] for r in ref}
    assert {(r["iso2"], r["iso3"]) for r in got} == {(r["iso_alpha2"], r["iso_alpha3"]) for r in ref}
    labels = [r["label"] for r in got]
    assert labels == sorted(labels)
    participating = {r["iso2"] for r in got if r["role"] == ID + "role/participating-state"}
    assert participating == {r["iso_alpha2"] for r in ref if r["bp_role"] == "participating"}


def test_states_one_row_per_state(kg):
    got = rows(kg, "states")
    assert len(got) == len({r["state"] for r in got}) == len(subjects(kg, BP.State)) == 56
    assert all(r["role"] for r in got), "every state has its role in the dialogue, unknown or not"
    by_code = {r["iso2"]: r for r in got}
    # Governance page: Türkiye chairs since January 2006; Hungary chaired 1993 to 2006, then co-chairs.
    assert (by_code["TR"]["roleLabel"], by_code["TR"]["offices"]) == ("Participating state", "Chair")
    assert by_code["HU"]["offices"] == "Chair; Co-chair"
    assert by_code["AF"]["offices"] is None and by_code["AF"]["region"] == ID + "region/silk-routes"
    union = kg.union()
    without_region = {code for code, r in by_code.items() if r["region"] is None}
    assert without_region == {code for code in by_code
                              if not list(union.objects(URIRef(ID + "state/" + code), BP.inRegion))}


def test_states_in_region_seed_fact(kg):
    assert column(kg, "states-in-region", "label", region="region:silk-routes") == \
        ["Afghanistan", "Bangladesh", "Iran", "Iraq", "Pakistan"]
    assert rows(kg, "states-in-region", region="region:south-eastern-europe") == []


def test_states_in_region_match_the_reference(kg):
    regions = {r["label"]: r["region"] for r in rows(kg, "regions")}
    checked = 0
    for row in reference("bp_regions.csv"):
        if row["region"] in regions:
            expected = set(filter(None, row["member_iso_alpha2"].split(";")))
            assert set(column(kg, "states-in-region", "iso2", region=regions[row["region"]])) == expected, row["region"]
            checked += 1
    assert checked == len(regions) == 7


def test_regions(kg):
    got = rows(kg, "regions")
    union = kg.union()
    expected = {str(r): len(set(union.subjects(BP.inRegion, r))) for r in union.subjects(RDF.type, BP.Region)}
    assert {r["region"]: int(r["memberCount"]) for r in got} == expected
    assert [r["label"] for r in got] == sorted(r["label"] for r in got)


def test_members_on_date(kg):
    def members(day):
        return {(r["state"][len(ID) + 6:], r["role"][len(ID) + 5:]) for r in rows(kg, "members-on-date", date=day)}

    # Seed: the Silk Routes states came in 2010; China is named for the 2010 refocus.
    # Governance page: Hungary chaired 1993 to January 2006, then co-chairs; Türkiye chairs since January 2006.
    silk = {(s, "participating-or-observer-state") for s in ("AF", "BD", "CN", "IQ", "IR", "PK")}
    hungary = {("HU", "participating-state")}
    assert members("2019-02-19") == silk | hungary | {("HU", "co-chair"), ("TR", "chair")}
    assert members("2000-06-30") == hungary | {("HU", "chair")}
    assert members("1993-01-01") == hungary | {("HU", "chair")}  # a start year counts from 1 January
    assert members("1992-12-31") == set()
    assert members("2006-01-31") == hungary | {("HU", "chair"), ("HU", "co-chair"), ("TR", "chair")}
    assert members("2006-02-01") == hungary | {("HU", "co-chair"), ("TR", "chair")}  # an end month runs to its last day
    assert members("2009-12-31") == hungary | {("HU", "co-chair"), ("TR", "chair")}


def test_projects(kg):
    got = rows(kg, "projects")
    ref = reference("bp_projects.csv")
    assert len(got) == len(ref) == 11
    assert Counter((r["start"] or "", r["end"] or "") for r in got) == Counter((r["start"], r["end"]) for r in ref)
    starts = [r["start"] for r in got if r["start"]]
    assert starts == sorted(starts) and all(r["start"] is None for r in got[len(starts):])
    by_label = {r["label"]: r for r in got}
    partnership = by_label["Support to the Silk Routes Partnership for Migration under the Budapest Process"]
    assert partnership["funders"].split("; ") == sorted(partnership["funders"].split("; "))
    assert {"Hungary", "Sweden", "Government of the United Kingdom"} <= set(partnership["funders"].split("; "))
    assert partnership["implementers"] == "International Centre for Migration Policy Development"
    assert partnership["acronym"] == "Silk Routes Partnership Project"


def test_projects_active_in_year(kg):
    labels_2020 = column(kg, "projects-active-in-year", "label", year=2020)
    assert "Improving Migration Management in the Silk Routes Countries" in labels_2020
    assert "Integrated Border Management in the Silk Routes Countries" in labels_2020
    assert "Support to the Silk Routes Partnership for Migration under the Budapest Process" in \
        column(kg, "projects-active-in-year", "label", year=2015)
    assert rows(kg, "projects-active-in-year", year=1990) == []
    # the reference pack: started on or before Y and ended on or after it (no end: only the start year)
    for year in (2014, 2017, 2022, 2024):
        expected = set()
        for r in reference("bp_projects.csv"):
            if r["start"]:
                last = int(r["end"][:4]) if r["end"] else int(r["start"][:4])
                if int(r["start"][:4]) <= year <= last:
                    expected.add(r["start"])
        assert {r["start"] for r in rows(kg, "projects-active-in-year", year=year)} == expected, year


def test_projects_by_state_priority_goal_and_objective(kg):
    union = kg.union()
    for code in ("PK", "IR", "KZ", "DE"):
        expected = {str(p) for p in union.subjects(BP.targetCountry, URIRef(ID + "state/" + code))}
        assert set(column(kg, "projects-by-state", "project", state=f"state:{code}")) == expected
    srf = ID + "project/silk-routes-facility"
    for goal in range(1, 7):  # the Silk Routes Facility serves all six priorities (reference pack)
        assert column(kg, "projects-by-priority-goal", "project", goal=f"goal:{goal}") == [srf]
    assert column(kg, "projects-by-gcm-objective", "project", objective="gcm:9") == [srf]  # goal 1 -> GCM 9
    # Through which goals: GCM 7 is aligned with goals 1, 5 and 6 (practice page), all addressed by the Facility.
    [row] = rows(kg, "projects-by-gcm-objective", objective="gcm:7")
    assert (row["project"], row["direct"], row["viaGoals"]) == (srf, "false", "1; 5; 6")
    assert rows(kg, "projects-by-gcm-objective", objective="gcm:1") == []  # cross-cutting: no alignment


def test_organisations(kg):
    got = {r["organisation"]: r for r in rows(kg, "organisations")}
    expected = subjects(kg, BP.Organisation) | subjects(kg, BP.GoverningBody) | subjects(kg, BP.WorkingGroup)
    assert set(got) == expected
    icmpd = got[ID + "organisation/icmpd"]
    assert icmpd["acronym"] == "ICMPD"
    assert set(icmpd["roles"].split("; ")) == {"Implementing", "Secretariat"}
    assert "Funding" in got[ID + "organisation/european-union"]["roles"]


def test_meetings(kg):
    got = rows(kg, "meetings")
    ref = [r for r in reference("bp_events.csv") if r["event_type"] not in ("governance", "publication")]
    assert len(got) == len(ref) == len(subjects(kg, BP.Meeting))
    assert sorted(r["start"] for r in got) == sorted(r["date_start"] for r in ref)
    assert got[0]["meeting"] == ID + "meeting/1991-10-30-ministerial-conference-berlin"
    assert got[0]["place"] == "Berlin" and got[0]["kind"] == ID + "event-kind/ministerial-conference"
    istanbul = next(r for r in got if r["meeting"].endswith("2019-02-19-ministerial-conference-istanbul"))
    assert istanbul["outcome"] == "A Call for Action - a five year plan; " \
                                  "Istanbul Commitments on the Silk Routes Partnership for Migration"


def test_timeline(kg):
    got = rows(kg, "timeline")
    assert [r["date"] for r in got] == sorted(r["date"] for r in got)
    kinds = Counter(r["kind"] for r in got)
    events = reference("bp_events.csv")
    assert kinds["meeting"] + kinds["event"] == len(events)
    union = kg.union()
    assert kinds["project start"] == len(set(union.subjects(SCHEMA.startDate, None)) & set(union.subjects(RDF.type, BP.Project)))
    assert kinds["project end"] == len(set(union.subjects(SCHEMA.endDate, None)) & set(union.subjects(RDF.type, BP.Project)))
    assert ("2010", "membership start", "Afghanistan: Participating or observer state (Budapest Process)") in \
        {(r["date"], r["kind"], r["label"]) for r in got}
    assert ("2006-01", "membership end", ID + "membership/HU-chair-1") in {(r["date"], r["kind"], r["item"]) for r in got}


def test_sources(kg):
    got = {r["document"]: r for r in rows(kg, "sources")}
    assert set(got) == subjects(kg, BP.Document)
    union = kg.union()
    for document in (ID + "document/un-network-practice-budapest-process", ID + "document/a-res-73-195"):
        citing = set(union.subjects(PROV.wasDerivedFrom, URIRef(document))) | set(union.subjects(DCT.source, URIRef(document)))
        assert int(got[document]["citedBy"]) == len(citing)
    assert got[ID + "document/a-res-73-195"]["issued"] == "2018-12-19"
    counts = [int(r["citedBy"]) for r in rows(kg, "sources")]
    assert counts == sorted(counts, reverse=True)


def test_search(kg):
    found = set(column(kg, "search", "item", text="silk routes"))
    assert {ID + "region/silk-routes", ID + "project/imm-silk-routes"} <= found
    assert set(column(kg, "search", "item", text="SILK ROUTES")) == found
    assert ID + "organisation/icmpd" in column(kg, "search", "item", text="icmpd")  # an alternative label
    types = dict(zip(column(kg, "search", "item", text="no poverty"), column(kg, "search", "type", text="no poverty")))
    assert types == {"http://metadata.un.org/sdg/1": PREFIXES["sdgo"] + "Goal"}
    assert rows(kg, "search", text="zzzz-nothing-like-this") == []


def test_overview(kg):
    [got] = rows(kg, "overview")
    states = reference("bp_states.csv")
    assert int(got["states"]) == len(states) == 56
    assert int(got["participatingStates"]) == sum(r["bp_role"] == "participating" for r in states) == 5
    assert int(got["observerStates"]) == 0  # "No state could be confirmed as observer" (reference pack)
    assert int(got["statesWithUnknownRole"]) == 51
    assert int(got["regions"]) == 7 and int(got["priorityGoals"]) == 6 and int(got["gcmObjectives"]) == 23
    assert int(got["sdgTargets"]) == 169 and int(got["projects"]) == 11
    assert int(got["meetings"]) == len(subjects(kg, BP.Meeting))
    assert int(got["documents"]) == len(subjects(kg, BP.Document))


def test_the_next_questions(kg):
    # one row per alignment and source: 28 goal -> objective (seed), 6 objective -> SDG, one of them with two sources
    assert len(rows(kg, "alignments")) == 35
    hungary = {(r["organisation"][len(ID):], r["role"][len(ID):], r["start"], r["end"])
               for r in rows(kg, "state-memberships", state="state:HU")}
    assert {("organisation/budapest-process", "role/chair", "1993", "2006-01"),
            ("organisation/budapest-process", "role/co-chair", "2006-01", None)} <= hungary
    eu = column(kg, "projects-by-organisation", "project", agent="organisation:european-union")
    union = kg.union()
    assert set(eu) == {str(p) for p in union.subjects(SCHEMA.funder, URIRef(ID + "organisation/european-union"))}
    sources = rows(kg, "item-sources", item="alignment:goal-5--gcm-12")
    assert [r["document"] for r in sources] == [ID + "document/un-network-practice-budapest-process"]
    chairs = {r["label"]: r["chairLabel"] for r in rows(kg, "working-groups")}
    assert chairs["Working Group on the Silk Routes Region"] == "Türkiye"


def test_gcm_objective_alignments_reverse_the_goal_alignments(kg):
    # Practice page: objective 22 (portability of social security) sits under goals 3 and 6.
    got = rows(kg, "gcm-objective-alignments", objective="gcm:22")
    assert [(r["goal"], r["goalNotation"]) for r in got] == [(ID + "priority-goal/3", "3"), (ID + "priority-goal/6", "6")]
    assert all(r["source"] == ID + "document/un-network-practice-budapest-process" for r in got)
    union = kg.union()
    for n in range(1, 24):
        aligned = {str(union.value(a, BP.alignedFrom)) for a in union.subjects(BP.alignedTo, URIRef(ID + f"gcm-objective/{n}"))}
        assert set(column(kg, "gcm-objective-alignments", "goal", objective=f"gcm:{n}")) == aligned, n
    assert rows(kg, "gcm-objective-alignments", objective="gcm:1") == []  # cross-cutting


def test_shared_gcm_objectives(kg):
    assert column(kg, "shared-gcm-objectives", "notation", goal="goal:1", otherGoal="goal:5") == ["2", "7", "11"]
    got = rows(kg, "shared-gcm-objectives")
    assert [int(r["notation"]) for r in got] == sorted(int(r["notation"]) for r in got), "numeric order"
    union = kg.union()
    for r in got:
        goals = sorted(str(union.value(union.value(a, BP.alignedFrom), URIRef(PREFIXES["skos"] + "notation")))
                       for a in union.subjects(BP.alignedTo, URIRef(r["objective"])))
        assert r["goals"] == "; ".join(goals) and int(r["goalCount"]) == len(goals) >= 2
    assert {r["notation"]: r["goals"] for r in got}["7"] == "1; 5; 6"


def test_role_holders_give_the_chairs_history(kg):
    # Governance page: Hungary chaired from 1993 to January 2006, Türkiye since January 2006.
    chairs = [(r["memberLabel"], r["start"], r["end"]) for r in rows(kg, "role-holders", role="role:chair")]
    assert chairs == [("Hungary", "1993", "2006-01"), ("Türkiye", "2006-01", None)]
    groups = rows(kg, "role-holders", role="role:working-group-chair")
    assert {r["memberLabel"] for r in groups} == {"Bulgaria", "North Macedonia", "Türkiye"}
    assert all(r["organisation"].startswith(ID + "organisation/working-group-") for r in groups)
    hungary = rows(kg, "role-holders", role="role:co-chair", organisation="organisation:budapest-process")
    assert [(r["memberLabel"], r["start"]) for r in hungary] == [("Hungary", "2006-01")]
    assert ID + "document/budapestprocess-org-budapest-process-governance" in hungary[0]["sources"].split("; ")
    assert rows(kg, "role-holders", role="role:chair", organisation="organisation:reference-group") == []


def test_practice_record(kg):
    [practice] = rows(kg, "practice")  # the seed: submitted on 1 April 2022, implemented by ICMPD
    assert practice["submitted"] == "2022-04-01"
    assert practice["implementedBy"] == ID + "organisation/icmpd"
    assert practice["practiceType"] == "Partnership/Multistakeholder initiative"
    assert practice["page"] == "https://migrationnetwork.un.org/practice/budapest-process"
    items = rows(kg, "practice-lessons")
    assert int(practice["lessons"]) == sum(r["kind"] == "key lesson" for r in items) == 5
    assert int(practice["recommendations"]) == sum(r["kind"] == "recommendation" for r in items)
    assert [r["notation"] for r in items if r["kind"] == "key lesson"] == ["I", "II", "III", "IV", "V"]
    assert items[0]["label"] == "Balance differing priorities"


def test_organisation_details(kg):
    [office] = rows(kg, "organisation-details", organisation="organisation:icmpd-silk-routes-regional-office")
    assert (office["founded"], office["location"], office["parent"]) == ("2016", "Vienna, Austria", ID + "organisation/icmpd")
    assert office["parentLabel"] == "International Centre for Migration Policy Development"
    everyone = rows(kg, "organisation-details")
    assert len(everyone) == len(rows(kg, "organisations"))
    assert {r["organisation"]: r["founded"] for r in everyone}[ID + "organisation/icmpd"] == "1993"


# -- integrity checks ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_finds_no_violation(kg, name):
    found = Q.evaluate_in_process(kg, CHECKS[name]).rows
    assert found == [], [{k: str(v) for k, v in r.items()} for r in found[:5]]


class _Store:
    """A stand-in for the KnowledgeGraph: only ``.store`` is used by :func:`bpkg.queries.evaluate_in_process`."""

    def __init__(self, turtle: str):
        self.store = ox.Store()
        prologue = "".join(f"@prefix {p}: <{i}> .\n" for p, i in PREFIXES.items())
        self.store.load((prologue + turtle).encode(), ox.RdfFormat.TURTLE, to_graph=ox.NamedNode("urn:x:g"))


BROKEN = """
document:d a bp:Document .
membership:m a org:Membership ; org:member state:XX ; org:organization organisation:o ;
    prov:wasDerivedFrom document:d .
state:XX a bp:State ; skos:prefLabel "X"@en .
alignment:a a bp:Alignment ; bp:alignedFrom goal:1 ; bp:alignedTo gcm:2 ;
    bp:alignmentRelation skos:exactMatch ; prov:wasDerivedFrom document:d .
goal:1 a bp:PriorityGoal ; skos:prefLabel "g"@en ; prov:wasDerivedFrom document:d ; skos:relatedMatch gcm:3 ;
    dct:source document:missing .
project:p a bp:Project ; skos:prefLabel "p"@en ; schema:funder organisation:f ; prov:wasDerivedFrom document:missing ;
    schema:startDate "2020"^^xsd:gYear ; schema:endDate "2019-05"^^xsd:gYearMonth .
"""


@pytest.mark.parametrize("name", [
    "alignment-shortcut-without-node-violation", "dangling-iri-violation", "project-role-mismatch-violation",
    "source-not-a-document-violation"])
def test_check_can_fail(name):
    assert Q.evaluate_in_process(_Store(BROKEN), CHECKS[name]).rows, f"{name} should catch the broken fixture"


# -- parameters: validation and safety -----------------------------------------------------------

@pytest.mark.parametrize("name, values, message", [
    ("states-in-region", {}, "needs parameter region"),
    ("states-in-region", {"region": "nowhere:x"}, "known prefix"),
    ("states-in-region", {"region": "region:silk routes"}, "not a valid"),
    ("states-in-region", {"region": "region:a", "colour": "red"}, "no parameter 'colour'"),
    ("members-on-date", {"date": "2019-02-30"}, "YYYY-MM-DD"),
    ("members-on-date", {"date": "yesterday"}, "YYYY-MM-DD"),
    ("projects-active-in-year", {"year": "20x0"}, "YYYY"),
    ("search", {"text": "   "}, "empty"),
    ("search", {"text": "x" * 501}, "longer than"),
])
def test_bad_parameters_are_clear_errors(name, values, message):
    with pytest.raises(Q.ParameterError, match=message):
        Q.bindings(LIBRARY[name], values)


def test_values_are_typed_terms():
    bound = Q.bindings(LIBRARY["members-on-date"], {"date": "2019-02-19"})
    assert bound == {"_date_xsd_date": ox.Literal("2019-02-19", datatype=ox.NamedNode(PREFIXES["xsd"] + "date"))}
    bound = Q.bindings(LIBRARY["projects-active-in-year"], {"year": " 2020 "})
    assert bound["_year_integer"] == ox.Literal("2020", datatype=ox.NamedNode(PREFIXES["xsd"] + "integer"))
    assert Q.bindings(LIBRARY["goal-gcm-alignments"], {}) == {}


def hostile_values(url: str) -> list[str]:
    return [f'"}} SERVICE <{url}> {{ ?s ?p ?o }} FILTER("" = "',
            f"}} SERVICE <{url}> {{",
            f'x") }} SERVICE <{url}> {{ ?a ?b ?c }} #',
            f"'}} SERVICE <{url}> {{ ?a ?b ?c }} #",
            f"{url}> }} SERVICE <{url}",
            f"region:x> }} SERVICE <{url}> {{ ?a ?b ?c",
            '\\" } \n SERVICE {']


def test_the_observer_would_see_an_escape(kg, observer):
    """The test can fail: pyoxigraph does call SERVICE when it is in the query text."""
    kg.store.query(f"SELECT * WHERE {{ SERVICE <{observer.url}> {{ ?s ?p ?o }} }}")
    assert observer.seen


@pytest.mark.parametrize("name, param", [("search", "text"), ("states-in-region", "region"),
                                         ("members-on-date", "date"), ("projects-active-in-year", "year"),
                                         ("goal-gcm-alignments", "goal")])
def test_hostile_values_are_values(kg, app, observer, name, param):
    client = app.test_client()
    for value in hostile_values(observer.url):
        try:
            result = Q.evaluate_in_process(kg, LIBRARY[name], {param: value})
            assert result.rows == [], value  # taken literally, it matches nothing
        except Q.ParameterError:
            pass  # or refused as not an IRI / date / year
        response = client.get(f"/queries/{name}", query_string={param: value, "format": "json"})
        assert response.status_code in (200, 400), response.data
        if response.status_code == 200:
            assert response.json["results"]["bindings"] == []
    assert observer.seen == []


def test_hostile_text_is_bound_as_one_literal():
    text = Q.bound_text(LIBRARY["search"], {"text": '"} SERVICE <http://127.0.0.1:9/> {'})
    assert 'VALUES (?_text) { ("\\"} SERVICE <http://127.0.0.1:9/> {") }' in text


# -- CLI ---------------------------------------------------------------------------------------------

def test_cli_lists_queries():
    done = bpkg_cli("queries")
    assert done.returncode == 0, done.stderr
    for name in ISSUE_NAMES:
        assert re.search(rf"(?m)^{re.escape(name)}\s+\S", done.stdout), name
    assert "region (iri, required, e.g. region:silk-routes)" in done.stdout


def test_cli_runs_a_query_as_csv():
    done = bpkg_cli("query", "states-in-region", "--param", "region=region:silk-routes", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = list(csv.reader(done.stdout.splitlines()))
    assert table[0] == ["state", "label", "iso2"]
    assert [r[1] for r in table[1:]] == ["Afghanistan", "Bangladesh", "Iran", "Iraq", "Pakistan"]


def test_cli_table_json_and_file(tmp_path):
    done = bpkg_cli("query", "goal-gcm-alignments", "-p", "goal=goal:5", "--format", "table")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == list(LIBRARY["goal-gcm-alignments"].columns)
    assert lines[2].split()[:3] == ["goal:5", "5", "gcm:2"] and lines[-1] == "(5 rows)"
    done = bpkg_cli("query", "overview", "--format", "json")
    assert json.loads(done.stdout)["results"]["bindings"][0]["states"]["value"] == "56"
    own = tmp_path / "mine.rq"
    own.write_text(sparql_prologue(["bp"]) + "SELECT (COUNT(*) AS ?n) WHERE { ?s a bp:Region }\n")
    done = bpkg_cli("query", str(own), "--format", "tsv")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["?n", '"7"^^<http://www.w3.org/2001/XMLSchema#integer>']


@pytest.mark.parametrize("args, message", [
    (("query", "states-in-region"), "needs parameter region"),
    (("query", "states-in-region", "--param", "region"), "KEY=VALUE"),
    (("query", "members-on-date", "--param", "date=19 Feb 2019"), "YYYY-MM-DD"),
    (("query", "no-such-query"), "no query named"),
    (("query", "missing-file.rq"), "no such query file"),
])
def test_cli_usage_errors_exit_2(args, message):
    done = bpkg_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


# -- HTTP --------------------------------------------------------------------------------------------

def test_http_index_json_and_html(client):
    response = client.get("/queries", headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.is_json
    entries = {q["name"]: q for q in response.json["queries"]}
    assert set(entries) == set(LIBRARY)
    region = entries["states-in-region"]
    assert region["columns"] == ["state", "label", "iso2"]
    expected = {"name": "region", "type": "iri", "required": True, "example": "region:silk-routes"}
    assert {k: region["params"][0][k] for k in expected} == expected
    assert region["url"] == "/queries/states-in-region" and region["source"] == "/queries/states-in-region.rq"
    page = client.get("/queries", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for name, query in LIBRARY.items():
        assert f'id="{name}"' in html and query.summary.split(" - ")[0].replace("'", "&#39;") in html
    assert client.get("/queries?format=json").is_json


@pytest.mark.parametrize("accept, fmt, media", [
    ("application/sparql-results+json", None, "application/sparql-results+json"),
    ("application/sparql-results+xml", None, "application/sparql-results+xml"),
    ("text/csv", None, "text/csv"),
    ("text/tab-separated-values", None, "text/tab-separated-values"),
    (None, "csv", "text/csv"), (None, "tsv", "text/tab-separated-values"),
    (None, "xml", "application/sparql-results+xml"), ("text/csv", "json", "application/sparql-results+json"),
])
def test_http_runs_a_query_in_every_format(client, accept, fmt, media):
    args = {"region": "region:silk-routes"} | ({"format": fmt} if fmt else {})
    response = client.get("/queries/states-in-region", query_string=args, headers={"Accept": accept} if accept else {})
    assert response.status_code == 200, response.data
    assert response.mimetype == media
    body = response.get_data(as_text=True)
    for name in ("Afghanistan", "Bangladesh", "Iran", "Iraq", "Pakistan"):
        assert name in body


def test_http_json_rows(client):
    response = client.get("/queries/goal-gcm-alignments", query_string={"goal": "goal:5", "format": "json"})
    data = response.json
    assert data["head"]["vars"] == list(LIBRARY["goal-gcm-alignments"].columns)
    assert [b["objectiveNotation"]["value"] for b in data["results"]["bindings"]] == ["2", "7", "10", "11", "12"]
    full = client.get("/queries/goal-gcm-alignments?format=json").json
    assert len(full["results"]["bindings"]) == 28


def test_http_source_and_errors(client):
    source = client.get("/queries/states-in-region.rq")
    assert source.status_code == 200 and source.mimetype == "application/sparql-query"
    assert source.get_data(as_text=True) == LIBRARY["states-in-region"].text
    missing = client.get("/queries/states-in-region")
    assert missing.status_code == 400 and b"needs parameter region" in missing.data
    bad = client.get("/queries/members-on-date?date=2019-02-31", headers={"Accept": "application/json"})
    assert bad.status_code == 400 and bad.json["param"] == "date"
    assert client.get("/queries/states?colour=red").status_code == 400
    assert client.get("/queries/states-in-region?region=region:a&region=region:b").status_code == 400
    for name in ("no-such-query", "no-such-query.rq", "..%2Fpyproject", "checks"):
        assert client.get(f"/queries/{name}").status_code == 404
    assert client.get("/queries/states", headers={"Accept": "image/png"}).status_code == 406
