"""What the bundled graph must say: counts and competency questions answered by SPARQL.

Expected answers come from the seed page (the UN Network on Migration practice page), not
from running the queries: if a fact in kg/ drifts, these fail.
"""

from __future__ import annotations

import pytest

from bpkg.namespaces import PREFIXES, sparql_prologue

PROLOGUE = sparql_prologue()


def select(kg, body: str) -> list[tuple]:
    """Run a SELECT over the union of all named graphs with pyoxigraph (the served engine)."""
    rows = kg.store.query(PROLOGUE + body, use_default_graph_as_union=True)
    return [tuple(None if v is None else v.value for v in row) for row in rows]


def values(kg, body: str) -> list[str]:
    return [r[0] for r in select(kg, body)]


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        ("bp:PriorityGoal", 6),
        ("bp:Alignment", 34),
        ("bp:GcmObjective", 23),
        ("bp:GcmGuidingPrinciple", 10),
        ("sdgo:Goal", 17),
        ("sdgo:Target", 169),
        ("bp:State", 56),
        ("bp:Dialogue", 1),
        ("bp:WorkingGroup", 3),
    ],
)
def test_instance_counts(kg, cls, expected):
    assert values(kg, f"SELECT (COUNT(DISTINCT ?x) AS ?n) WHERE {{ ?x a {cls} }}") == [str(expected)]


def test_at_least_eleven_projects(kg):
    assert int(values(kg, "SELECT (COUNT(?p) AS ?n) WHERE { ?p a bp:Project }")[0]) >= 11


def objectives_of(kg, goal: int) -> list[int]:
    return sorted(int(n) for n in values(kg, f"""
        SELECT ?n WHERE {{
          ?a a bp:Alignment ; bp:alignedFrom goal:{goal} ; bp:alignedTo ?o .
          ?o skos:notation ?n .
        }}"""))


@pytest.mark.parametrize(
    ("goal", "objectives"),
    [
        (1, [2, 4, 7, 9, 11, 14, 21]),
        (2, [5, 6, 18]),
        (3, [16, 17, 22]),
        (4, [5, 6, 19, 20]),
        (5, [2, 7, 10, 11, 12]),
        (6, [4, 5, 7, 14, 15, 22]),
    ],
)
def test_goal_alignments_as_the_seed_gives_them(kg, goal, objectives):
    assert objectives_of(kg, goal) == objectives


def test_alignment_shortcuts_are_derived_for_every_node(kg):
    shortcuts = select(kg, """
        SELECT ?g ?o WHERE { GRAPH <https://w3id.org/bpkg/graph/derived> { ?g skos:relatedMatch ?o } }""")
    assert len(shortcuts) == 34  # 28 priority goal -> GCM objective, 6 GCM objective -> SDG


def test_every_goal_alignment_cites_the_seed_with_a_locator(kg):
    assert select(kg, """
        SELECT ?a WHERE { ?a a bp:Alignment ; bp:alignedFrom ?goal . ?goal a bp:PriorityGoal .
          FILTER NOT EXISTS { ?a prov:wasDerivedFrom document:un-network-practice-budapest-process ; bp:locator ?l } }""") == []


def test_cross_cutting_objectives_are_1_3_23(kg):
    found = sorted(int(n) for n in values(kg, "SELECT ?n WHERE { ?o bp:crossCutting true ; skos:notation ?n }"))
    assert found == [1, 3, 23]


def test_every_other_objective_is_stated_not_cross_cutting_by_the_seed(kg):
    """The flag is the Budapest Process's classification: stated for all 23, with the seed as source."""
    assert sorted(int(n) for n in values(kg, "SELECT ?n WHERE { ?o bp:crossCutting false ; skos:notation ?n }")) == [
        n for n in range(1, 24) if n not in (1, 3, 23)]
    assert values(kg, """SELECT ?o WHERE { ?o a bp:GcmObjective .
        FILTER NOT EXISTS { ?o bp:crossCutting ?flag ; prov:wasDerivedFrom document:un-network-practice-budapest-process } }""") == []


# -- Links to the SDGs (kg/sdg-links.ttl) ------------------------------------------

def test_gcm_objective_20_cites_target_10_c_from_the_compact_itself(kg):
    rows = select(kg, """
        SELECT ?loc ?quote WHERE { ?a a bp:Alignment ; bp:alignedFrom gcm:20 ; bp:alignedTo sdg:10.c ;
            bp:alignmentBasis basis:stated-in-source ; prov:wasDerivedFrom document:a-res-73-195 ;
            bp:locator ?loc ; bp:quote ?quote }""")
    assert len(rows) == 1 and rows[0][0] == "para. 36(a)" and "target 10.c" in rows[0][1]


def test_every_sdg_link_is_sourced_qualified_and_justified(kg):
    """Each link to an SDG names a readable source (URL, publisher, date seen), a locator and a basis."""
    missing = select(kg, """
        SELECT ?s WHERE {
          { ?s a bp:Alignment ; bp:alignedTo ?t } UNION { ?s a bp:MigrationRelevance ; bp:relevantTarget ?t }
          FILTER (STRSTARTS(STR(?t), "http://metadata.un.org/sdg/"))
          FILTER NOT EXISTS {
            ?s prov:wasDerivedFrom ?d ; bp:locator ?l ; bp:alignmentBasis ?b .
            ?d schema:url ?url ; dct:publisher ?p ; bp:seenOn ?seen } }""")
    assert missing == []


def test_migration_related_targets_cover_at_least_eight_sdgs(kg):
    goals = values(kg, """SELECT DISTINCT ?g WHERE { ?r a bp:MigrationRelevance ; bp:relevantTarget ?t .
        ?t sdgo:isTargetOf ?g }""")
    assert len(goals) >= 8
    # target 10.7, the SDGs' central reference to migration, is named by every kind of source read
    assert len(values(kg, "SELECT ?r WHERE { ?r bp:relevantTarget sdg:10.7 }")) >= 3


def test_no_project_links_to_the_sdgs_without_a_source(kg):
    """No source links a bundled project to a GCM objective or SDG directly; the graph says nothing."""
    assert values(kg, "SELECT ?p WHERE { ?p a bp:Project ; bp:addressesGcmObjective|bp:addressesSdgTarget ?x }") == []


# -- Corrections of the model (issue 15) ---------------------------------------

def test_eu_bodies_are_participating_not_observer_organisations(kg):
    eu = ["easo", "european-commission", "eeas", "general-secretariat-of-the-council", "frontex"]
    roles = dict(select(kg, """SELECT ?o ?r WHERE { ?m org:member ?org ; org:role ?r .
        BIND (STRAFTER(STR(?org), "/organisation/") AS ?o) }"""))
    assert {o: roles[o].rsplit("/", 1)[1] for o in eu} == dict.fromkeys(eu, "participating-organisation")


def test_no_note_claims_iom_or_unodc_are_listed_as_taking_part_regularly(kg):
    notes = values(kg, """SELECT ?n WHERE { ?m org:member ?o ; skos:scopeNote ?n .
        FILTER (?o IN (organisation:iom, organisation:unodc)) }""")
    assert notes and not any("regularly" in n for n in notes)


def test_venue_country_replaces_host_country(kg):
    assert values(kg, "SELECT (COUNT(*) AS ?n) WHERE { ?e <https://w3id.org/bpkg/ontology#hostCountry> ?s }") == ["0"]
    assert values(kg, "SELECT ?s WHERE { meeting:2019-02-19-ministerial-conference-istanbul bp:venueCountry ?s }") == [
        PREFIXES["state"] + "TR"]


def test_seed_claims_are_stated(kg):
    text = " ".join(values(kg, """SELECT ?t WHERE {
        { organisation:budapest-process skos:scopeNote|bp:quote ?t } UNION { ?p bp:ordinal 3 ; skos:scopeNote ?t }
        UNION { organisation:reference-group skos:definition ?t } }"""))
    for claim in ("three major projects", "operational cooperation", "impact assessments", "external evaluation",
                  "irregular migration, labour migration, and migration and development", "COVID-19", "online"):
        assert claim in text, claim
    assert values(kg, "SELECT ?l WHERE { document:istanbul-commitments-2019 skos:altLabel ?l }") == ["Istanbul Declaration"]


def test_states_are_identified_with_their_wikidata_items(kg):
    assert values(kg, """SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a bp:State ; owl:sameAs ?wd .
        FILTER (STRSTARTS(STR(?wd), "http://www.wikidata.org/entity/Q")) }""") == ["56"]


def test_silk_routes_region_is_exactly_the_five_states(kg):
    codes = sorted(values(kg, "SELECT ?c WHERE { ?s bp:inRegion region:silk-routes ; bp:isoAlpha2 ?c }"))
    assert codes == ["AF", "BD", "IQ", "IR", "PK"]


def test_practice_submitted_on_1_april_2022(kg):
    assert values(kg, "SELECT ?d WHERE { practice:budapest-process dct:dateSubmitted ?d }") == ["2022-04-01"]


def test_practice_type_and_implementer(kg):
    rows = select(kg, """
        SELECT ?type ?impl WHERE { practice:budapest-process bp:practiceType ?type ; bp:implementedBy ?o .
          ?o skos:altLabel ?impl }""")
    assert rows == [("Partnership/Multistakeholder initiative", "ICMPD")]


def test_third_phase_is_the_2010_silk_routes_refocus(kg):
    rows = select(kg, """
        SELECT ?n ?d WHERE { organisation:budapest-process bp:hasPhase ?p .
          ?p bp:ordinal ?n ; time:hasBeginning/time:inXSDDate ?d }""")
    assert rows == [("3", "2010-11-03")]


def test_secretariat_is_icmpd_hosted_by_its_silk_routes_office(kg):
    rows = select(kg, """
        SELECT ?host ?parent WHERE {
          organisation:budapest-process bp:secretariat ?s .
          ?s bp:hostedBy ?host . ?host org:subOrganizationOf ?parent }""")
    assert rows == [(
        "https://w3id.org/bpkg/id/organisation/icmpd-silk-routes-regional-office",
        "https://w3id.org/bpkg/id/organisation/icmpd",
    )]


def test_chair_and_co_chair_since_january_2006(kg):
    rows = select(kg, """
        SELECT ?who ?role ?start WHERE {
          ?m org:organization organisation:budapest-process ; org:role ?r ; org:member ?s ;
             org:memberDuring/time:hasBeginning/time:inXSDgYearMonth ?start .
          FILTER (?r IN (role:chair, role:co-chair))
          ?s bp:isoAlpha2 ?who . BIND (STRAFTER(STR(?r), "/role/") AS ?role)
        } ORDER BY ?role""")
    assert rows == [("TR", "chair", "2006-01"), ("HU", "co-chair", "2006-01")]


def test_reference_group_set_up_2021_with_15_countries(kg):
    rows = select(kg, """
        SELECT ?year ?n WHERE { organisation:reference-group schema:foundingDate ?year ; bp:memberCount ?n }""")
    assert rows == [("2021", "15")]


def test_no_state_is_guessed_to_be_an_observer(kg):
    """The sources confirm no observer state: the graph must not claim one."""
    assert select(kg, "SELECT ?m WHERE { ?m org:role role:observer-state }") == []


def test_unknown_roles_say_so(kg):
    n = int(values(kg, "SELECT (COUNT(?m) AS ?n) WHERE { ?m org:role role:participating-or-observer-state }")[0])
    assert n == 51  # 56 states, 5 of which hold a role only a participant can hold


def test_every_state_has_exactly_one_dialogue_membership(kg):
    rows = select(kg, """
        SELECT ?s (COUNT(?m) AS ?n) WHERE {
          ?s a bp:State .
          OPTIONAL { ?m org:member ?s ; org:organization organisation:budapest-process ;
                        org:role ?r FILTER (?r IN (role:participating-state, role:participating-or-observer-state)) }
        } GROUP BY ?s HAVING (COUNT(?m) != 1)""")
    assert rows == []


def test_two_seed_projects_with_their_periods(kg):
    rows = select(kg, """
        SELECT ?label ?start ?end WHERE {
          ?p a bp:Project ; skos:prefLabel ?label ; schema:startDate ?start ; schema:endDate ?end ;
             schema:funder organisation:european-union ; bp:implementedBy organisation:icmpd .
          FILTER (?p IN (project:imm-silk-routes, project:ibm-silk-routes))
        } ORDER BY ?start""")
    assert rows == [
        ("Improving Migration Management in the Silk Routes Countries", "2017-08", "2021"),
        ("Integrated Border Management in the Silk Routes Countries", "2019-01", "2022"),
    ]


def test_ministerial_outcome_documents(kg):
    titles = values(kg, """
        SELECT ?t WHERE { ?m bp:eventKind eventkind:ministerial-conference ; bp:outcome ?d .
          ?d prov:wasGeneratedBy ?m ; skos:prefLabel ?t } ORDER BY ?t""")
    assert "Istanbul Ministerial Declaration on a Silk Routes Partnership for Migration" in titles
    assert "Istanbul Commitments on the Silk Routes Partnership for Migration" in titles
    assert "A Call for Action - a five year plan" in titles
    assert "Call for Action 2025-2030" in titles


def test_seven_ministerial_conferences(kg):
    assert values(kg, "SELECT (COUNT(?m) AS ?n) WHERE { ?m bp:eventKind eventkind:ministerial-conference }") == ["7"]


def test_sdg_10_7_uses_the_un_iri(kg):
    rows = select(kg, "SELECT ?n ?g WHERE { sdg:10.7 skos:notation ?n ; sdgo:isTargetOf ?g }")
    assert rows == [("10.7", "http://metadata.un.org/sdg/10")]


def test_low_confidence_survives_as_data(kg):
    china = values(kg, "SELECT ?c WHERE { ?m org:member state:CN ; bp:confidence ?c }")
    assert china == ["low"]


def test_membership_shortcuts_are_derived(kg):
    assert kg.store.query(PROLOGUE + """ASK { GRAPH <https://w3id.org/bpkg/graph/derived> {
        state:AF org:memberOf organisation:budapest-process } }""")
