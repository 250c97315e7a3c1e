"""The ``bpkg`` command (also ``python -m bpkg``): a thin face over the package.

Each subcommand is one small function that parses nothing itself: argparse does that,
and the work is done by the module that owns the concern. Exit codes: 0 success,
1 the data has violations (validate), 2 usage or unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys

import pyoxigraph as ox

from .namespaces import curie
from .store import LoadError, load

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2


def _load_or_exit(paths=None):
    try:
        return load(paths)
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
    kg = _load_or_exit(args.paths or None)
    classes = class_counts(kg)
    if args.format == "json":
        print(json.dumps({"triples": len(kg), "graphs": len(kg.graph_names), "classes": classes}, indent=2))
        return EXIT_OK
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


# -- the parser ----------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bpkg", description="The Budapest Process knowledge graph.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("stats", help="count triples, named graphs and instances per class")
    p.add_argument("paths", nargs="*", help="files or folders to load (default: ontology/ and kg/)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_stats)

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
