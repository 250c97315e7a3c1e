"""The ``bpkg`` command (also ``python -m bpkg``): a thin face over the package.

Every subcommand is here, one small ``cmd_*`` function each: argparse reads the arguments,
the module that owns the concern does the work, and this module only prints and chooses
the exit code: 0 success, 1 the data has violations (validate), 2 usage or unreadable input.
The library never imports this module.

Only ``bpkg serve`` imports Flask and the web package, inside :func:`cmd_serve`: every other
command starts without them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pyoxigraph as ox

from . import __version__, formats, plots, publishing, queries, remote, sparql, submissions, validation
from .data_files import ROOT
from .namespaces import curie, expand
from .settings import processes_by_default
from .store import LoadError, load

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2
PATHS_HELP = "files or folders to load (default: ontology/ and kg/)"
KG_HELP = ("serve/read this dataset instead of the bundled one: Turtle files or folders (include the ontology "
           "folder for the classes); same as BPKG_KG_PATHS")


def load_or_exit(paths=None):
    """The given files; by default the published dataset: the bundled graph plus the submissions
    accepted in the data directory (``BPKG_DATA_DIR``), so stats and validation see what is served."""
    try:
        return load(paths) if paths else submissions.load_published()
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


# -- stats -------------------------------------------------------------------

def class_counts(kg) -> dict[str, int]:
    """Instances per class, as prefixed names, over the asserted graphs (a typing stated in
    two graphs counts twice). Counted by the engine: no rdflib copy of the graph."""
    answer = kg.store.query("SELECT ?class (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s a ?class } FILTER isIRI(?class) } "
                            "GROUP BY ?class", named_graphs=[ox.NamedNode(g) for g in kg.graph_names])
    return dict(sorted((curie(row["class"].value), int(row["n"].value)) for row in answer))


def graph_size(kg, graph) -> int:
    answer = kg.store.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", default_graph=ox.NamedNode(graph))
    return int(next(iter(answer))["n"].value)


def cmd_stats(args) -> int:
    kg = load_or_exit((args.paths + (args.kg or [])) or None)
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
    derived = graph_size(kg, kg.graph_names[-1])
    print(f"  {derived:6d}  (derived)")
    print("instances per class:")
    width = max(map(len, classes)) if classes else 0
    for name, n in classes.items():
        print(f"  {name.ljust(width)}  {n}")
    return EXIT_OK


# -- queries, query ------------------------------------------------------------

def _cell(binding: dict | None) -> str:
    if not binding:
        return ""
    return curie(binding["value"]) if binding["type"] == "uri" else binding["value"]


def format_table(results_json: dict, max_width: int = 60) -> str:
    """An aligned plain-text table from SPARQL JSON results: IRIs as prefixed names."""
    if "boolean" in results_json:
        return "true\n" if results_json["boolean"] else "false\n"
    variables = results_json["head"]["vars"]
    rows = results_json["results"]["bindings"]
    cells = [[_cell(row.get(v)) for v in variables] for row in rows]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in cells]
    widths = [max([len(v)] + [len(r[i]) for r in cells]) for i, v in enumerate(variables)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(variables, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    count = len(rows)
    lines.append(f"({count} row{'s' if count != 1 else ''})")
    return "\n".join(lines) + "\n"


def _parse_params(pairs: list[str] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise queries.ParameterError(f"--param expects KEY=VALUE, got {pair!r}")
        if key.strip() in values:
            raise queries.ParameterError(f"parameter {key.strip()!r} given twice", key.strip())
        values[key.strip()] = value
    return values


def _resolve(name_or_file: str) -> queries.NamedQuery:
    path = Path(name_or_file)
    if name_or_file.endswith(".rq") or path.is_file():
        if not path.is_file():
            raise queries.UnknownQuery(f"no such query file: {name_or_file}")
        return queries.load_query(path)
    return queries.get(name_or_file)


def cmd_queries(args) -> int:
    library = queries.library()
    if args.format == "json":
        print(json.dumps([q.as_dict() for q in library.values()], indent=2, ensure_ascii=False))
        return EXIT_OK
    width = max(map(len, library)) if library else 0
    for q in library.values():
        params = ", ".join(p.usage() for p in q.params) or "-"
        print(f"{q.name.ljust(width)}  {q.summary}\n{' ' * width}  params: {params}")
    return EXIT_OK


def cmd_query(args) -> int:
    try:
        query = _resolve(args.query)
        values = _parse_params(args.param)
        queries.bindings(query, values)  # fail on a bad parameter before loading the graph
    except queries.QueryLibraryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, queries.UnknownQuery):
            print("hint: `bpkg queries` lists the named queries", file=sys.stderr)
        return EXIT_USAGE
    kg = load_or_exit()
    fmt = args.format or ("table" if sys.stdout.isatty() else "csv")
    try:
        result = queries.execute(kg, query, values, format="json" if fmt == "table" else fmt)
    except queries.QueryLibraryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except sparql.SparqlError as exc:
        print(f"error: {query.path.name}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.status < 500 else 1
    if result.form in ("CONSTRUCT", "DESCRIBE"):  # a FILE.rq may be a graph query
        sys.stdout.buffer.write(result.body)
    elif fmt == "table":
        sys.stdout.write(format_table(json.loads(result.body)))
    else:
        sys.stdout.buffer.write(result.body)
    if result.truncated:
        print(f"warning: result cut at the {result.truncated} limit", file=sys.stderr)
    sys.stdout.flush()
    return EXIT_OK


# -- validate ------------------------------------------------------------------

def cmd_validate(args) -> int:
    kg = load_or_exit(args.kg)
    validator = validation.validator_for(kg)
    reports: list[validation.Report] = []
    unreadable = False
    for name in args.files:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            print(f"error: {name}: {exc.strerror or exc}", file=sys.stderr)
            unreadable = True
            continue
        try:
            fmt = formats.syntax(args.input_format) if args.input_format else None
            reports.append(validation.validate(kg, data, filename=name, source=name, fmt=fmt))
        except validation.SubmissionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            unreadable = True
    if not args.files:
        reports.append(validation.validate(kg))
    _print_reports(reports, args.format, validator.shapes)
    if unreadable:
        return EXIT_USAGE
    return EXIT_OK if all(r.conforms for r in reports) else EXIT_VIOLATIONS


def _print_reports(reports: list[validation.Report], fmt: str, shapes) -> None:
    if not reports:
        return
    if fmt == "text":
        print("\n".join(r.to_text() for r in reports), end="")
    elif fmt == "json":
        doc = reports[0].as_dict() if len(reports) == 1 else {
            "conforms": all(r.conforms for r in reports), "reports": [r.as_dict() for r in reports]}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        merged = validation.Report([r for rep in reports for r in rep.results], ", ".join(r.source for r in reports),
                                   sum(r.triples for r in reports), reports[0].context_triples, reports[0].shapes)
        print(merged.render(fmt, shapes), end="")


# -- export --------------------------------------------------------------------

EXPORT_CHOICES = (*publishing.DUMP_FORMS, "sssom", "void", "context", "all")


def cmd_export(args) -> int:
    forms = list(publishing.FORMS) if args.format == "all" else [args.format]
    out = Path(args.out) if args.out else None
    if out is None and len(forms) > 1:
        print("error: --format all writes several files: give --out DIR", file=sys.stderr)
        return EXIT_USAGE
    into_dir = out is not None and (out.is_dir() or args.out.endswith(("/", "\\")) or len(forms) > 1)
    if out is not None and out.exists() and not out.is_dir() and into_dir:
        print(f"error: {out} is a file, but several files must go into a folder", file=sys.stderr)
        return EXIT_USAGE
    kg = load_or_exit(args.paths or None)  # after the cheap checks: loading takes seconds
    if not args.paths:  # the bundled graph is published only as the validator accepts it
        try:
            validation.require_conformance(kg)
        except LoadError as exc:
            print(f"error: {exc}\nerror: nothing was exported", file=sys.stderr)
            return EXIT_USAGE
    for form in forms:
        data = publishing.render(kg, form)
        if out is None:
            sys.stdout.buffer.write(data)
            continue
        target = out / publishing.FORMS[form].filename if into_dir else out
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as exc:
            print(f"error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"wrote {target} ({len(data)} bytes)", file=sys.stderr)
    return EXIT_OK


# -- load ----------------------------------------------------------------------

def cmd_load(args) -> int:
    kg = load_or_exit(args.paths or None)
    try:
        store = remote.RemoteStore.from_url(
            args.store, update_url=args.update_url, gsp_url=args.gsp_url,
            user=args.user or os.environ.get(remote.ENV_USER),
            password=args.password or os.environ.get(remote.ENV_PASSWORD), timeout=args.timeout)
        print(f"loading {len(kg)} triples in {len(kg.graph_names)} named graphs into {args.store} ({args.method}):")
        sent = remote.load_into(store, kg, method=args.method, verify=not args.no_verify)
    except remote.StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"done: {sum(sent.values())} triples" + ("" if args.no_verify else ", counts checked in the store"))
    return EXIT_OK


# -- plot ----------------------------------------------------------------------

def cmd_plot(args) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in plots.FORMATS:
        print(f"error: --out must end in .png or .svg, not {out.name!r}", file=sys.stderr)
        return EXIT_USAGE
    if not out.parent.is_dir():
        print(f"error: folder {out.parent} does not exist", file=sys.stderr)
        return EXIT_USAGE
    kg = load_or_exit()
    data = plots.figure_data(kg, args.figure)
    region = None
    if args.figure == "map" and args.region:
        try:
            region = str(expand(args.region))
        except ValueError as exc:
            print(f"error: --region: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if region not in {r["region"] for r in data["regions"]}:
            known = ", ".join(r["id"] for r in data["regions"])
            print(f"error: --region: {args.region!r} is not a region (known: {known})", file=sys.stderr)
            return EXIT_USAGE
    try:
        fig = plots.draw_map(data, region) if args.figure == "map" else plots.DRAW[args.figure](data)
        plots.save(fig, out)
    except (plots.PlotError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return EXIT_OK


# -- serve ---------------------------------------------------------------------

def cmd_serve(args) -> int:
    # Imported here, not at the top: the web package brings Flask, which no other command needs.
    from .web import serve

    return serve.cmd_serve(args)


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
    parser = argparse.ArgumentParser(prog="bpkg", description="The Budapest Process knowledge graph.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # keeps --version's lines
    parser.add_argument("--version", action="version", version=f"bpkg {__version__}\ndata: {ROOT}",
                        help="show the release and the folder its data is read from")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("stats", help="count triples, named graphs and instances per class")
    p.add_argument("paths", nargs="*", help=PATHS_HELP)
    p.add_argument("--kg", nargs="+", metavar="PATH", default=None, help=KG_HELP)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("validate", help="validate the bundled graph, or submissions in its context",
                       description="Without FILE: validate ontology/ and kg/ against shapes/. With FILEs: "
                                   "validate each file as a submission in the context of the knowledge graph "
                                   "(format from the file name: .ttl .jsonld .rdf .nt .nq .trig). "
                                   "Exit 0 when acceptable, 1 on violations, 2 when input cannot be read.")
    p.add_argument("files", nargs="*", metavar="FILE", help="submission files (default: the bundled graph)")
    p.add_argument("--kg", nargs="+", metavar="PATH", default=None, help=KG_HELP)
    p.add_argument("--format", choices=["text", "json", "turtle", "jsonld"], default="text",
                   help="report format (default: text)")
    p.add_argument("--input-format", choices=[f.name for f in formats.SUBMISSION_SYNTAXES], type=formats.syntax_name,
                   help="the submissions' RDF syntax, when their file names do not say it")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("queries", help="list the named analyst queries (name, summary, parameters)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_queries)

    p = sub.add_parser("query", help="run a named query (or any .rq file) on the bundled graph")
    p.add_argument("query", metavar="NAME|FILE.rq", help="a name from `bpkg queries`, or a path to a .rq file")
    p.add_argument("--param", "-p", action="append", metavar="KEY=VALUE",
                   help="a parameter value; an IRI may be a prefixed name such as region:silk-routes")
    p.add_argument("--format", "-f", choices=["table", "csv", "tsv", "json", "xml"],
                   help="output format (default: table on a terminal, csv otherwise)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("serve", help="serve the SPARQL endpoint, the query UI and the web pages",
                       description="Serve the bundled graph over HTTP: the SPARQL endpoint, the query editor, "
                                   "named queries and pages.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port, 1 to 65535 (default 5000; 0 = any free port)")
    p.add_argument("--dev", action="store_true", help="Flask's development server instead of waitress")
    p.add_argument("--kg", nargs="+", metavar="PATH", default=None, help=KG_HELP)
    p.add_argument("--store", metavar="URL", default=None,
                   help="serve from an external SPARQL store loaded with `bpkg load --store` (env BPKG_STORE)")
    p.add_argument("--processes", type=int, default=None, metavar="N",
                   help="front processes answering HTTP (env BPKG_PROCESSES; default: one per core, at most 4, "
                        f"here {processes_by_default()}; 1 with --dev or --update-sandbox); they take the server's query "
                        "slots and /validate runs as one, and each keeps a result cache of its own")
    p.add_argument("--threads", type=int, default=48,
                   help="application threads per process (default 48; queries never hold more than their slots)")
    p.add_argument("--connections", type=int, default=1000, help="open connections at once, in the whole server (default 1000; "
                        "each front process takes its share)")
    p.add_argument("--idle-timeout", type=float, default=10.0,
                   help="seconds before an idle connection is closed (default 10)")
    p.add_argument("--public-url", default=None, metavar="URL",
                   help="the URL clients reach this server by (env BPKG_PUBLIC_URL; default http://HOST:PORT/); "
                        "every URL the site writes uses it, never the request's Host header")
    p.add_argument("--timeout", type=float, default=None, help="per-query deadline in seconds (default 5)")
    p.add_argument("--grace", type=float, default=30.0,
                   help="on SIGTERM/SIGINT, seconds to let requests in flight finish (default 30)")
    p.add_argument("--no-conformance-check", action="store_true",
                   help="serve without validating the graph against the shapes first (for a graph of your own "
                        "that was checked elsewhere, or is too large for the in-memory validator; the service "
                        "description says so)")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="where submissions are kept (default BPKG_DATA_DIR, else $XDG_DATA_HOME/bpkg or "
                        "~/.local/share/bpkg); submissions are on when BPKG_SUBMITTER_TOKENS and "
                        "BPKG_CURATOR_TOKENS are both set")
    p.add_argument("--update-sandbox", action="store_true",
                   help="test instances only: accept SPARQL Update at /sandbox/<token>/sparql into a separate "
                        "empty store; the token is read from BPKG_SPARQL_UPDATE_TOKEN")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "export",
        help="write a dump, the VoID/DCAT description, the SSSOM alignments or the JSON-LD context",
        description="Write the same files the server publishes under /dumps/, /.well-known/void, "
        "/alignments.sssom.tsv and /context.jsonld.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--format", choices=EXPORT_CHOICES, default="nquads")
    p.add_argument("--out", metavar="DIR_OR_FILE",
                   help="a file, or an existing folder (or one ending in /) to get the standard file name; default: stdout")
    p.add_argument("paths", nargs="*", help=PATHS_HELP)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("load", help="load the bundled graph into an external SPARQL 1.1 store (named graphs kept)")
    p.add_argument("paths", nargs="*", help=PATHS_HELP)
    p.add_argument("--store", required=True, metavar="URL",
                   help="the store's SPARQL query endpoint (e.g. http://127.0.0.1:7878, "
                        "http://host:7200/repositories/bpkg, http://host:8890/sparql)")
    p.add_argument("--method", choices=["gsp", "update"], default="gsp",
                   help="Graph Store Protocol PUT per graph (default) or SPARQL Update")
    p.add_argument("--update-url", metavar="URL", help="SPARQL Update endpoint, when it cannot be guessed from --store")
    p.add_argument("--gsp-url", metavar="URL", help="Graph Store Protocol endpoint, when it cannot be guessed")
    p.add_argument("--user", help=f"user for HTTP Basic auth (or {remote.ENV_USER}); "
                                  f"password from {remote.ENV_PASSWORD}")
    p.add_argument("--password", help=argparse.SUPPRESS)  # prefer the environment: argv is visible to ps
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    p.add_argument("--no-verify", action="store_true", help="do not count the triples in the store afterwards")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("plot", help="draw the map, alignment matrix or timeline as PNG or SVG")
    p.add_argument("figure", choices=sorted(plots.FIGURES), help="which figure")
    p.add_argument("--out", "-o", required=True, metavar="FILE.png|FILE.svg", help="where to write it")
    p.add_argument("--region", metavar="REGION", help="map only: highlight one region, e.g. region:silk-routes")
    p.set_defaults(func=cmd_plot)

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
    return parser


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
