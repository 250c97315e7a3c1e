"""Synthetic knowledge graphs shaped like ours, for the benchmarks (never for kg/).

The vocabulary (states with ISO codes and regions, roles, priority goals, GCM objectives,
SDG goals and targets, event kinds, organisations) is read from the bundled graph so that
the named queries' example parameters (``state:AF``, ``goal:3``, ``sdg:10.7`` ...) hit real
IRIs; the instances (memberships with OWL-Time intervals, alignments, projects with funders,
implementers and target countries, meetings, documents) are random but seeded, so the same
``--seed`` and size give byte-identical files.

Output: ``bench/out/<label>/`` with one Turtle file per kind (one triple per line, so the
loader gives one named graph per file, as for kg/) and ``manifest.json`` (triple counts).

    python bench/generate.py                 # 5k 50k 500k
    python bench/generate.py 2m --seed 7     # one size
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SIZES = {"5k": 5_000, "50k": 50_000, "500k": 500_000, "2m": 2_000_000}
DEFAULT_SEED = 20190219  # the Istanbul ministerial conference; any fixed number would do

sys.path.insert(0, str(ROOT))
from bpkg.namespaces import PREFIXES  # noqa: E402

ID = "https://w3id.org/bpkg/id/"
XSD = PREFIXES["xsd"]
USED_PREFIXES = ("bp", "document", "gcm", "goal", "meeting", "membership", "organisation", "org",
                 "project", "prov", "region", "role", "schema", "sdg", "sdgo", "skos", "state",
                 "time", "xsd", "alignment", "basis", "eventkind", "scheme", "rdf", "dct")


def vocabulary() -> dict:
    """The real IRIs the synthetic instances point at, from the bundled graph."""
    from bpkg.store import load

    store = load().store

    def rows(query: str) -> list[list[str]]:
        prologue = "".join(f"PREFIX {p}: <{PREFIXES[p]}>\n" for p in USED_PREFIXES)
        return [[t.value if t is not None else None for t in r] for r in store.query(prologue + query, use_default_graph_as_union=True)]

    vocab = {
        "states": rows("SELECT ?s ?code ?label ?region { ?s a bp:State ; bp:isoAlpha2 ?code ; skos:prefLabel ?label "
                       "OPTIONAL { ?s bp:inRegion ?region } } ORDER BY ?code"),
        "regions": rows("SELECT ?r ?label { ?r a bp:Region ; skos:prefLabel ?label } ORDER BY ?r"),
        "goals": rows("SELECT ?g ?n { ?g a bp:PriorityGoal ; skos:notation ?n } ORDER BY ?g"),
        "gcm": rows("SELECT ?g ?n { ?g a bp:GcmObjective ; skos:notation ?n } ORDER BY ?g"),
        "sdg_goals": rows("SELECT ?g ?n { ?g a sdgo:Goal ; skos:notation ?n } ORDER BY ?g"),
        "sdg_targets": rows("SELECT ?t ?n ?g { ?t a sdgo:Target ; skos:notation ?n ; skos:broader ?g } ORDER BY ?t"),
        "member_roles": rows("SELECT ?r { ?r a org:Role } ORDER BY ?r"),
        "event_kinds": rows("SELECT ?k { ?k skos:inScheme ?s . FILTER(STRSTARTS(STR(?k), STR(eventkind:))) } ORDER BY ?k"),
        "organisations": rows("SELECT ?o ?label { ?o a bp:Organisation ; skos:prefLabel ?label } ORDER BY ?o"),
    }
    for key, value in vocab.items():
        if not value:
            raise SystemExit(f"the bundled graph has no {key}: cannot generate data shaped like it")
    return vocab


class Writer:
    """One Turtle file written one triple per line; counts what it writes."""

    def __init__(self, path: Path):
        self.file = path.open("w", encoding="utf-8")
        self.count = 0
        for p in USED_PREFIXES:
            self.file.write(f"PREFIX {p}: <{PREFIXES[p]}>\n")

    def add(self, s: str, p: str, o: str) -> None:
        self.file.write(f"{s} {p} {o} .\n")
        self.count += 1

    def close(self) -> None:
        self.file.close()


def iri(value: str) -> str:
    """A term for an IRI: prefixed when the local part is plain, else <...>."""
    best = ""
    for prefix in USED_PREFIXES:
        ns = PREFIXES[prefix]
        if value.startswith(ns) and len(ns) > len(PREFIXES.get(best, "")):
            best = prefix
    if best:
        local = value[len(PREFIXES[best]):]
        if local and all(c.isalnum() or c in "-_." for c in local) and not local.endswith(".") and local[0] != "-":
            return f"{best}:{local}"
    return f"<{value}>"


def text(value: str, lang: str | None = "en") -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"@{lang}' if lang else f'"{escaped}"'


def typed(value: str, datatype: str) -> str:
    return f'"{value}"^^xsd:{datatype}'


def a_date(rng: random.Random, first_year: int = 1991, last_year: int = 2024) -> tuple[str, str]:
    """A date at the precision a source gives: a day, a month or only a year."""
    y, m, d = rng.randint(first_year, last_year), rng.randint(1, 12), rng.randint(1, 28)
    kind = rng.random()
    if kind < 0.5:
        return f"{y:04d}-{m:02d}-{d:02d}", "date"
    if kind < 0.8:
        return f"{y:04d}-{m:02d}", "gYearMonth"
    return f"{y:04d}", "gYear"


WORDS = ("migration", "border", "return", "readmission", "asylum", "protection", "labour", "mobility",
         "dialogue", "capacity", "training", "data", "smuggling", "trafficking", "integration", "diaspora",
         "legal", "pathways", "reintegration", "cooperation", "resource", "centre", "management", "policy")


def phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def generate(target: int, out: Path, seed: int = DEFAULT_SEED, vocab: dict | None = None) -> dict:
    """Write a graph of about ``target`` triples into ``out``; returns the manifest."""
    rng = random.Random(seed)
    vocab = vocab or vocabulary()
    out.mkdir(parents=True, exist_ok=True)
    files = {name: Writer(out / f"{name}.ttl") for name in
             ("schemes", "states", "organisations", "alignments", "documents", "memberships", "projects", "events")}
    w = files
    dialogue = iri(ID + "organisation/budapest-process")

    # -- fixed part: the vocabulary the instances point at -------------------------------
    for r, label in vocab["regions"]:
        w["schemes"].add(iri(r), "a", "bp:Region")
        w["schemes"].add(iri(r), "skos:prefLabel", text(label))
        w["schemes"].add(iri(r), "skos:inScheme", "scheme:regions")
    for g, n in vocab["goals"]:
        w["schemes"].add(iri(g), "a", "bp:PriorityGoal")
        w["schemes"].add(iri(g), "skos:notation", text(n, None))
        w["schemes"].add(iri(g), "skos:prefLabel", text(f"Priority goal {n}: {phrase(rng, 6).lower()}"))
        w["schemes"].add(iri(g), "skos:inScheme", "scheme:priority-goals")
    for g, n in vocab["gcm"]:
        w["schemes"].add(iri(g), "a", "bp:GcmObjective")
        w["schemes"].add(iri(g), "skos:notation", text(n, None))
        w["schemes"].add(iri(g), "skos:prefLabel", text(f"Objective {n}: {phrase(rng, 5).lower()}"))
        w["schemes"].add(iri(g), "skos:inScheme", "scheme:gcm-objectives")
        w["schemes"].add(iri(g), "bp:crossCutting", "true" if n in ("1", "3", "23") else "false")
    for g, n in vocab["sdg_goals"]:
        w["schemes"].add(iri(g), "a", "sdgo:Goal")
        w["schemes"].add(iri(g), "a", "skos:Concept")
        w["schemes"].add(iri(g), "skos:notation", text(n, None))
        w["schemes"].add(iri(g), "skos:prefLabel", text(f"Goal {n}: {phrase(rng, 4).lower()}"))
    for t, n, g in vocab["sdg_targets"]:
        w["schemes"].add(iri(t), "a", "sdgo:Target")
        w["schemes"].add(iri(t), "a", "skos:Concept")
        w["schemes"].add(iri(t), "skos:notation", text(n, None))
        w["schemes"].add(iri(t), "skos:prefLabel", text(f"Target {n}: {phrase(rng, 8).lower()}"))
        w["schemes"].add(iri(t), "skos:broader", iri(g))
        w["schemes"].add(iri(t), "sdgo:isTargetOf", iri(g))
    for (r,) in vocab["member_roles"]:
        w["schemes"].add(iri(r), "a", "org:Role")
    for r in ("funding", "implementing"):
        w["schemes"].add(f"role:{r}", "a", "prov:Role")
    for (k,) in vocab["event_kinds"]:
        w["schemes"].add(iri(k), "a", "skos:Concept")
        w["schemes"].add(iri(k), "skos:inScheme", "scheme:event-kinds")

    states = vocab["states"]
    for s, code, label, region in states:
        w["states"].add(iri(s), "a", "bp:State")
        w["states"].add(iri(s), "skos:prefLabel", text(label))
        w["states"].add(iri(s), "bp:isoAlpha2", text(code, None))
        if region:
            w["states"].add(iri(s), "bp:inRegion", iri(region))

    w["organisations"].add(dialogue, "a", "bp:Dialogue")
    w["organisations"].add(dialogue, "skos:prefLabel", text("Budapest Process"))
    organisations = [o for o, _ in vocab["organisations"]]
    for o, label in vocab["organisations"]:
        w["organisations"].add(iri(o), "a", "bp:Organisation")
        w["organisations"].add(iri(o), "skos:prefLabel", text(label))
    for i in range(30):
        o = ID + f"organisation/syn-funder-{i}"
        organisations.append(o)
        w["organisations"].add(iri(o), "a", "bp:Organisation")
        w["organisations"].add(iri(o), "skos:prefLabel", text(f"Funder {i}"))

    gcm = [g for g, _ in vocab["gcm"]]
    for g, n in vocab["goals"]:
        for objective in sorted(rng.sample(gcm, rng.randint(4, 8))):
            key = f"goal-{n}--gcm-{objective.rsplit('/', 1)[1]}"
            node = iri(ID + "alignment/" + key)
            w["alignments"].add(node, "a", "bp:Alignment")
            w["alignments"].add(node, "bp:alignedFrom", iri(g))
            w["alignments"].add(node, "bp:alignedTo", iri(objective))
            w["alignments"].add(node, "bp:alignmentRelation", "skos:relatedMatch")
            w["alignments"].add(node, "bp:alignmentBasis", "basis:stated-in-source")
            w["alignments"].add(node, "bp:locator", text(f"priority goal {n}", None))

    # -- scaling part: documents, projects, meetings, memberships -----------------------
    documents: list[str] = []

    def document() -> str:
        if not documents or rng.random() < 0.05:
            node = iri(ID + f"document/syn-doc-{len(documents)}")
            documents.append(node)
            w["documents"].add(node, "a", "bp:Document")
            w["documents"].add(node, "skos:prefLabel", text(phrase(rng, 4)))
            w["documents"].add(node, "schema:url", f"<https://example.org/doc/{len(documents)}>")
        return rng.choice(documents)

    targets = [t for t, _, _ in vocab["sdg_targets"]]
    goals = [g for g, _ in vocab["goals"]]
    regions = [r for r, _ in vocab["regions"]]
    roles = [r for (r,) in vocab["member_roles"]]
    kinds = [k for (k,) in vocab["event_kinds"]]

    def project(i: int) -> None:
        p = ID + f"project/syn-{i:07d}"
        s, add = iri(p), w["projects"].add
        add(s, "a", "bp:Project")
        add(s, "skos:prefLabel", text(phrase(rng, 5)))
        if rng.random() < 0.5:
            add(s, "skos:prefLabel", text(phrase(rng, 5), "fr"))
        add(s, "skos:definition", text(phrase(rng, 12)))
        start, start_type = a_date(rng, 2003, 2022)
        add(s, "schema:startDate", typed(start, start_type))
        if rng.random() < 0.8:
            end_year = int(start[:4]) + rng.randint(1, 4)
            add(s, "schema:endDate", typed(str(end_year), "gYear"))
        add(s, "bp:underDialogue", dialogue)
        for state in rng.sample(states, rng.randint(1, 5)):
            add(s, "bp:targetCountry", iri(state[0]))
        if rng.random() < 0.3:
            add(s, "bp:targetRegion", iri(rng.choice(regions)))
        agents = [("funding", o) for o in rng.sample(organisations, rng.randint(1, 2))]
        agents.append(("implementing", rng.choice(organisations[:8])))
        for role, agent in agents:
            add(s, "schema:funder" if role == "funding" else "bp:implementedBy", iri(agent))
            node = f"<{p}#{role}-{agent.rsplit('/', 1)[1]}>"
            add(s, "prov:qualifiedAssociation", node)
            add(node, "a", "prov:Association")
            add(node, "prov:agent", iri(agent))
            add(node, "prov:hadRole", f"role:{role}")
        for goal in rng.sample(goals, rng.randint(0, 2)):
            add(s, "bp:addressesPriorityGoal", iri(goal))
        for objective in rng.sample(gcm, rng.randint(0, 3)):
            add(s, "bp:addressesGcmObjective", iri(objective))
        for target in rng.sample(targets, rng.randint(0, 3)):
            add(s, "bp:addressesSdgTarget", iri(target))
        if rng.random() < 0.2:
            add(s, "bp:confidence", text(rng.choice(("medium", "low")), None))
        add(s, "dct:source", document())  # a project is a prov:Activity: dct:source, not prov:wasDerivedFrom

    def meeting(i: int) -> None:
        day, _ = a_date(rng, 1991, 2024)
        day = day if len(day) == 10 else f"{day[:4]}-06-15"
        s, add = iri(ID + f"meeting/{day}-syn-{i}"), w["events"].add
        host = rng.choice(states)
        add(s, "a", "bp:Meeting")
        add(s, "skos:prefLabel", text(f"{phrase(rng, 3)} meeting ({host[2]})"))
        add(s, "bp:eventKind", iri(rng.choice(kinds)))
        add(s, "schema:startDate", typed(day, "date"))
        add(s, "schema:endDate", typed(day, "date"))
        add(s, "schema:location", text(f"City {rng.randint(1, 500)}"))
        add(s, "bp:venueCountry", iri(host[0]))
        add(s, "bp:partOfDialogue", dialogue)
        for o in rng.sample(organisations, rng.randint(0, 3)):
            add(s, "schema:attendee", iri(o))
        add(s, "dct:source", document())

    def membership(i: int) -> None:
        member = rng.choice(states)
        role = rng.choice(roles)
        key = f"{member[1]}-{role.rsplit('/', 1)[1]}-syn-{i}"
        m = ID + "membership/" + key
        s, add = iri(m), w["memberships"].add
        interval, start = f"<{m}#interval>", f"<{m}#start>"
        add(s, "a", "org:Membership")
        add(s, "org:member", iri(member[0]))
        add(s, "org:organization", dialogue)
        add(s, "org:role", iri(role))
        add(s, "org:memberDuring", interval)
        add(s, "prov:wasDerivedFrom", document())
        if rng.random() < 0.3:
            add(s, "bp:confidence", text("medium", None))
        add(interval, "a", "time:Interval")
        add(interval, "time:hasBeginning", start)
        add(start, "a", "time:Instant")
        value, kind = a_date(rng, 1991, 2020)
        add(start, {"date": "time:inXSDDate", "gYearMonth": "time:inXSDgYearMonth", "gYear": "time:inXSDgYear"}[kind],
            typed(value, kind))
        if rng.random() < 0.3:
            end = f"<{m}#end>"
            add(interval, "time:hasEnd", end)
            add(end, "a", "time:Instant")
            add(end, "time:inXSDgYear", typed(str(min(int(value[:4]) + rng.randint(1, 10), 2024)), "gYear"))

    total = lambda: sum(f.count for f in files.values())  # noqa: E731
    i = 0
    while total() < target:
        project(i)
        if i % 5 in (0, 2):
            meeting(i)
        if i % 10 in (1, 4, 7):
            membership(i)
        i += 1
    for f in files.values():
        f.close()
    manifest = {"seed": seed, "target": target, "triples": total(), "projects": i,
                "files": {name: f.count for name, f in files.items()}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def ensure(label: str, seed: int = DEFAULT_SEED, vocab: dict | None = None) -> Path:
    """The folder for ``label`` (5k, 50k, ...), generated unless it is already there with this seed."""
    out = OUT / label
    manifest = out / "manifest.json"
    if manifest.is_file():
        known = json.loads(manifest.read_text(encoding="utf-8"))
        if known.get("seed") == seed and known.get("target") == SIZES[label]:
            return out
    generate(SIZES[label], out, seed, vocab)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", metavar="SIZE", help=f"any of {', '.join(SIZES)} (default: 5k 50k 500k)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    unknown = [s for s in args.sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size {', '.join(unknown)}; choose from {', '.join(SIZES)}")
    vocab = vocabulary()
    for label in args.sizes or ["5k", "50k", "500k"]:
        t0 = time.perf_counter()
        m = generate(SIZES[label], OUT / label, args.seed, vocab)
        print(f"{label}: {m['triples']:,} triples, {m['projects']:,} projects "
              f"in {time.perf_counter() - t0:.1f} s -> {OUT / label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
