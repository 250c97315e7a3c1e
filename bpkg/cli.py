"""The ``bpkg`` command (also ``python -m bpkg``): a thin face over the package.

Each subcommand is one small function that parses nothing itself: argparse does that,
and the work is done by the module that owns the concern. Exit codes: 0 success,
1 the data has violations (validate), 2 usage or unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from rdflib import RDF, URIRef

from . import submissions
from .namespaces import curie
from .store import LoadError, load

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2


def _load_or_exit(paths=None):
    """The given files; by default the published dataset: the bundled graph plus the submissions
    accepted in the data directory (``BPKG_DATA_DIR``), so stats and validation see what is served."""
    try:
        return load(paths) if paths else submissions.load_published()
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


# -- stats -------------------------------------------------------------------

def class_counts(kg) -> dict[str, int]:
    """Instances per class, as prefixed names, over the asserted graphs."""
    counts: Counter[str] = Counter()
    for s, _, o in kg.union().triples((None, RDF.type, None)):
        if isinstance(o, URIRef):
            counts[curie(str(o))] += 1
    return dict(sorted(counts.items()))


def cmd_stats(args) -> int:
    kg = _load_or_exit(args.paths or None)
    classes = class_counts(kg)
    if args.format == "json":
        print(json.dumps({"triples": len(kg), "graphs": len(kg.graph_names), "version": kg.version,
                          "modified": kg.modified, "classes": classes}, indent=2))
        return EXIT_OK
    print(f"version: {kg.version}" + (f" (last accept or revoke {kg.modified})" if kg.modified else ""))
    print(f"triples: {len(kg)}")
    print(f"graphs:  {len(kg.graph_names)} (one per source file, plus derived shortcuts)")
    for f in kg.files:
        print(f"  {f.triples:6d}  {f.path}")
    derived = len(kg.dataset.graph(kg.graph_names[-1]))
    print(f"  {derived:6d}  (derived)")
    print("instances per class:")
    width = max(map(len, classes)) if classes else 0
    for name, n in classes.items():
        print(f"  {name.ljust(width)}  {n}")
    return EXIT_OK


# -- submissions ----------------------------------------------------------------

def _inbox_or_exit(args) -> submissions.Inbox:
    folder = args.data_dir or submissions.default_data_dir()
    try:
        return submissions.Inbox(folder, create=False)
    except (FileNotFoundError, OSError) as exc:
        print(f"error: {exc} (set --data-dir or BPKG_DATA_DIR to the server's data directory)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def _record_or_exit(inbox, sid: str):
    record = inbox.get(sid)
    if record is None:
        print(f"error: no submission {sid!r} in {inbox.path}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    return record


def _print_json(doc) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False))


def cmd_submissions(args) -> int:
    inbox = _inbox_or_exit(args)
    if args.action == "list":
        records = inbox.records(state=args.state)
        if args.format == "json":
            _print_json({"count": len(records), "counts": inbox.counts(), "submissions": [r.summary() for r in records]})
            return EXIT_OK
        for r in records:
            print(f"{r.id}  {r.state:8}  {r.submitted_at}  {r.triples:5d} triples  {r.source}  ({r.submitter})")
        print(", ".join(f"{n} {state}" for state, n in inbox.counts().items()))
        return EXIT_OK
    if args.action == "export":
        written = submissions.export(inbox, args.out)
        for path in written:
            print(path)
        print(f"{len(written)} accepted submission(s) written as Turtle to {args.out}")
        return EXIT_OK
    record = _record_or_exit(inbox, args.id)
    if args.action == "show":
        if args.format == "turtle":
            sys.stdout.write(submissions.serialise(record, submissions.ox.RdfFormat.TURTLE).decode("utf-8"))
        elif args.format == "json":
            _print_json({**record.summary(), "report": record.report, "history": inbox.events(record.id)})
        else:
            for key, value in record.summary().items():
                if key != "counts":
                    print(f"{key + ':':14}{value}")
            counts = record.report.get("counts", {})
            print(f"{'report:':14}{counts.get('violation', 0)} violations, {counts.get('warning', 0)} warnings, "
                  f"{counts.get('info', 0)} notes")
            for event in inbox.events(record.id):
                print(f"{'':14}{event['at']}  {event['action']} by {event['actor']}"
                      + (f": {event['reason']}" if event.get("reason") else ""))
        return EXIT_OK
    kg = submissions.load_published(inbox.dir)
    if args.action == "diff":
        found = submissions.diff(kg, record)
        if args.format == "json":
            _print_json(found)
            return EXIT_OK
        print(f"submission {record.id} ({record.state}) against the published dataset {kg.version}:")
        print(f"{len(found['added'])} triple(s) added, {found['already_published']} already published")
        for triple in found["added"]:
            print(f"+ {triple}")
        print(f"new entities ({len(found['new_entities'])}):")
        for iri in found["new_entities"]:
            print(f"  {curie(iri)}")
        print(f"existing entities referenced ({len(found['existing_entities'])}):")
        for iri in found["existing_entities"]:
            print(f"  {curie(iri)}")
        return EXIT_OK
    actor = args.actor or f"local:{_user()}"
    try:
        record, report = submissions.review(inbox, kg, record, args.action, actor, args.reason,
                                            republish=lambda: submissions.load_published(inbox.dir))
    except submissions.SubmissionStateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "accept" and record.state != "accepted":
        sys.stdout.write(report.to_text())
        print(f"not accepted: {record.id} has violations against the published dataset as it is now; "
              "it stays pending", file=sys.stderr)
        return EXIT_VIOLATIONS
    version = submissions.load_published(inbox.dir).version if args.action != "reject" else kg.version
    print(f"{record.id}: {record.state} by {actor}" + (f" ({record.reason})" if record.reason else ""))
    if args.action == "accept":
        print(f"published as the named graph <{record.graph}>; dataset version {version}")
    elif args.action == "revoke":
        print(f"taken out of the published dataset; dataset version {version}")
    return EXIT_OK


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# -- the parser ----------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bpkg", description="The Budapest Process knowledge graph.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("stats", help="count triples, named graphs and instances per class")
    p.add_argument("paths", nargs="*", help="files or folders to load (default: ontology/ and kg/)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("submissions", help="review submissions: list, show, diff, accept, reject, revoke, export",
                       description="Curators' side of /submissions, on the server's data directory (--data-dir, "
                                   "BPKG_DATA_DIR). A running server picks up an accept or revoke within a second.")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="the submissions database (default BPKG_DATA_DIR, else $XDG_DATA_HOME/bpkg or ~/.local/share/bpkg)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("list", help="the submissions, oldest first")
    a.add_argument("--state", choices=submissions.STATES)
    a.add_argument("--format", choices=["text", "json"], default="text")
    a = actions.add_parser("show", help="one submission: metadata, report and history (or its data)")
    a.add_argument("id")
    a.add_argument("--format", choices=["text", "json", "turtle"], default="text")
    a = actions.add_parser("diff", help="what accepting would add to the published dataset")
    a.add_argument("id")
    a.add_argument("--format", choices=["text", "json"], default="text")
    for name, helptext in (("accept", "re-validate against the published dataset now and publish it"),
                           ("reject", "refuse a pending submission, with a reason"),
                           ("revoke", "take an accepted submission out of the published dataset")):
        a = actions.add_parser(name, help=helptext)
        a.add_argument("id")
        a.add_argument("--reason", required=name == "reject", help="why (required to reject)")
        a.add_argument("--as", dest="actor", default=None, help="the curator's name (default local:<user>)")
    a = actions.add_parser("export", help="write the accepted submissions as Turtle files, ready for kg/")
    a.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_submissions)

    for register in _REGISTRARS:
        register(sub)
    return parser


def _registrars():
    """Subcommands owned by other modules; each module exposes ``register_cli(sub)``."""
    found = []
    for name in ("validation", "queries", "web", "publishing", "remote", "plots"):
        try:
            module = __import__(f"bpkg.{name}", fromlist=["register_cli"])
        except ModuleNotFoundError as exc:
            if exc.name != f"bpkg.{name}":
                raise
            continue
        if hasattr(module, "register_cli"):
            found.append(module.register_cli)
    return found


_REGISTRARS = _registrars()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except BrokenPipeError:
        # `bpkg query … | head` closes the pipe early: that is the reader's choice, not an error.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
