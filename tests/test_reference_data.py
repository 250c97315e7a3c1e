"""Every official title, code, identifier and date in kg/ matches the reference pack.

The pack (../shared/reference/*.csv) is read here, never at run time: a transcription slip
in kg/ fails one of these. Skipped, with the reason, where the pack is not beside the repo.
"""

from __future__ import annotations

import csv


from bpkg.namespaces import PREFIXES, sparql_prologue

PROLOGUE = sparql_prologue()


def pack(reference_dir, name):
    with open(reference_dir / name, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def table(kg, body):
    return {
        tuple(v.value if v is not None else None for v in row)
        for row in kg.store.query(PROLOGUE + body, use_default_graph_as_union=True)
    }


def test_gcm_objective_titles_and_short_labels(kg, reference_dir):
    expected = {(r["number"], r["title"], r["short_label"]) for r in pack(reference_dir, "gcm_objectives.csv")}
    assert table(kg, "SELECT ?n ?t ?s WHERE { ?o a bp:GcmObjective ; skos:notation ?n ; skos:prefLabel ?t ; skos:altLabel ?s }") == expected


def test_gcm_guiding_principle_names(kg, reference_dir):
    expected = {(r["number"], r["name"]) for r in pack(reference_dir, "gcm_guiding_principles.csv")}
    assert table(kg, "SELECT ?n ?t WHERE { ?o a bp:GcmGuidingPrinciple ; skos:notation ?n ; skos:prefLabel ?t }") == expected


def test_sdg_goal_iris_titles_and_short_names(kg, reference_dir):
    expected = {(r["uri"], r["number"], r["title"], r["short_name"]) for r in pack(reference_dir, "sdg_goals.csv")}
    assert table(kg, "SELECT ?g ?n ?t ?s WHERE { ?g a sdgo:Goal ; skos:notation ?n ; skos:prefLabel ?t ; skos:altLabel ?s }") == expected


def test_sdg_target_iris_codes_texts_and_goals(kg, reference_dir):
    expected = {
        (r["uri"], r["code"], r["target_text"], PREFIXES["sdg"] + r["goal_number"])
        for r in pack(reference_dir, "sdg_targets.csv")
    }
    found = table(kg, "SELECT ?t ?n ?l ?g WHERE { ?t a sdgo:Target ; skos:notation ?n ; skos:prefLabel ?l ; sdgo:isTargetOf ?g }")
    assert found == expected


def test_priority_goal_titles_verbatim(kg, reference_dir):
    expected = {(r["number"], r["title"]) for r in pack(reference_dir, "call_for_action.csv")}
    assert table(kg, "SELECT ?n ?t WHERE { ?g a bp:PriorityGoal ; skos:notation ?n ; skos:prefLabel ?t }") == expected


def test_priority_goal_alignments_match_the_pack(kg, reference_dir):
    expected = {
        (r["number"], o) for r in pack(reference_dir, "call_for_action.csv") for o in r["gcm_objectives"].split(";")
    }
    found = table(kg, """SELECT ?g ?o WHERE { ?a a bp:Alignment ; bp:alignedFrom ?goal ; bp:alignedTo/skos:notation ?o .
                                                ?goal a bp:PriorityGoal ; skos:notation ?g }""")
    assert found == expected


def test_state_names_codes_and_identifiers(kg, reference_dir):
    expected = {
        (
            r["iso_alpha2"], r["name"], r["iso_alpha3"],
            PREFIXES["eucountry"] + r["eu_authority_code"],
            PREFIXES["wd"] + r["wikidata_qid"],
            f"https://sws.geonames.org/{r['geonames_id']}/",
        )
        for r in pack(reference_dir, "bp_states.csv")
    }
    found = table(kg, """
        SELECT ?a2 ?name ?a3 ?eu ?wd ?gn WHERE {
          ?s a bp:State ; bp:isoAlpha2 ?a2 ; skos:prefLabel ?name ; bp:isoAlpha3 ?a3 ; bp:country ?eu ;
             owl:sameAs ?wd ; schema:sameAs ?gn .
          FILTER (STRSTARTS(STR(?wd), "http://www.wikidata.org/entity/") && STRSTARTS(STR(?gn), "https://sws.geonames.org/"))
        }""")
    assert found == expected


def test_state_roles_follow_the_pack(kg, reference_dir):
    role = {"participating": "participating-state", "participating_or_observer": "participating-or-observer-state"}
    expected = {(r["iso_alpha2"], PREFIXES["role"] + role[r["bp_role"]]) for r in pack(reference_dir, "bp_states.csv")}
    found = table(kg, """
        SELECT ?a2 ?r WHERE { ?m org:member ?s ; org:organization organisation:budapest-process ; org:role ?r .
          ?s a bp:State ; bp:isoAlpha2 ?a2 . FILTER (?r IN (role:participating-state, role:participating-or-observer-state)) }""")
    assert found == expected


def test_membership_start_years_follow_the_pack(kg, reference_dir):
    expected = {(r["iso_alpha2"], r["year_joined"]) for r in pack(reference_dir, "bp_states.csv") if r["year_joined"]}
    found = table(kg, """
        SELECT ?a2 ?y WHERE { ?m org:member ?s ; org:organization organisation:budapest-process ;
          org:role ?r ; org:memberDuring/time:hasBeginning/time:inXSDgYear ?y .
          ?s bp:isoAlpha2 ?a2 . FILTER (?r IN (role:participating-state, role:participating-or-observer-state)) }""")
    assert found == expected


def test_region_members_follow_the_pack(kg, reference_dir):
    expected = {
        (r["region"], code)
        for r in pack(reference_dir, "bp_regions.csv") for code in r["member_iso_alpha2"].split(";") if code
    }
    found = table(kg, "SELECT ?r ?c WHERE { ?s bp:inRegion/skos:prefLabel ?r ; bp:isoAlpha2 ?c }")
    assert found == expected


def test_event_names_and_dates(kg, reference_dir):
    expected = {(r["name"], r["date_start"], r["date_end"] or None) for r in pack(reference_dir, "bp_events.csv")}
    found = table(kg, """
        SELECT ?name ?start ?end WHERE { ?e bp:partOfDialogue organisation:budapest-process ;
          skos:prefLabel ?name ; schema:startDate ?start . OPTIONAL { ?e schema:endDate ?end } }""")
    assert found == expected


def test_project_names_acronyms_and_periods(kg, reference_dir):
    expected = {
        (r["name"].replace(" (official title not found)", ""), r["acronym_or_short_name"] or None, r["start"] or None, r["end"] or None)
        for r in pack(reference_dir, "bp_projects.csv")
    }
    found = table(kg, """
        SELECT ?name ?acr ?start ?end WHERE { ?p a bp:Project ; skos:prefLabel ?name .
          OPTIONAL { ?p skos:altLabel ?acr } OPTIONAL { ?p schema:startDate ?start } OPTIONAL { ?p schema:endDate ?end } }""")
    assert found == expected


def test_organisation_names_and_acronyms(kg, reference_dir):
    roles_not_bodies = {"chair_turkiye", "cochair_hungary", "rg_rapporteur_sweden"}
    expected = {
        (r["name"], r["acronym"] or None)
        for r in pack(reference_dir, "bp_organisations.csv") if r["id"] not in roles_not_bodies
    }
    found = table(kg, """
        SELECT ?name ?acr WHERE { ?o a ?c ; skos:prefLabel ?name . OPTIONAL { ?o skos:altLabel ?acr }
          FILTER (?c IN (bp:Organisation, bp:GoverningBody, bp:WorkingGroup)) }""")
    assert found == expected


def test_confidence_below_high_survives(kg, reference_dir):
    """Every pack row that is not `high` leaves a bp:confidence on its node."""
    low_states = {r["iso_alpha2"] for r in pack(reference_dir, "bp_states.csv") if r["confidence"] != "high"}
    found = {row[0] for row in table(kg, """
        SELECT ?a2 WHERE { ?m org:member ?s ; org:organization organisation:budapest-process ; bp:confidence ?c .
          ?s bp:isoAlpha2 ?a2 }""")}
    assert low_states <= found
    low_events = {r["name"] for r in pack(reference_dir, "bp_events.csv") if r["confidence"] != "high"}
    assert low_events == {row[0] for row in table(kg, "SELECT ?n WHERE { ?e a ?c ; bp:confidence ?x ; skos:prefLabel ?n . FILTER (?c IN (bp:Meeting, bp:Event)) }")}


def test_practice_fields(kg, reference_dir):
    fields = {r["field"]: r["value"] for r in pack(reference_dir, "practice.csv")}
    lessons = {v for k, v in fields.items() if k.startswith("key_lesson_")}
    recommendations = {v for k, v in fields.items() if k.startswith("recommendation_")} | {fields["overarching_recommendation"]}
    assert {r[0] for r in table(kg, "SELECT ?l WHERE { practice:budapest-process bp:keyLesson/skos:prefLabel ?l }")} == lessons
    assert {r[0] for r in table(kg, "SELECT ?l WHERE { practice:budapest-process bp:recommendation/skos:prefLabel ?l }")} == recommendations
    assert table(kg, "SELECT ?d WHERE { practice:budapest-process dct:dateSubmitted ?d }") == {(fields["date_submitted"],)}
