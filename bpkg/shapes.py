"""The SHACL shapes: the one loader, used by validation (``bpkg validate``, ``/validate``,
``/submissions``) and by the ``/shapes`` rules page, so the page shows exactly the rules
that validation applies.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph

from .data_files import ROOT
from .namespaces import bind

SHAPES_DIR = ROOT / "shapes"


class ShapesError(Exception):
    """A shapes file cannot be read: nothing can be validated against a partial rule book."""


@dataclass
class ShapesBundle:
    graph: Graph  # every shape, the canonical prefixes bound
    files: list[str]  # the files read, relative to the project root where they are inside it
    errors: list[str]  # "file: message" for each file that does not parse
    digest: str  # of names and bytes: an ETag for the rules
    failures: list[tuple[str, str, int | None]] = ()  # (file, message, line) for each of those

    def checked(self) -> "ShapesBundle":
        """This bundle, or ShapesError if a file did not parse."""
        if self.errors:
            raise ShapesError("cannot read the shapes: " + "; ".join(self.errors))
        return self


def load_shapes(folder: Path | str = SHAPES_DIR) -> ShapesBundle:
    """Parse every ``*.ttl`` under ``folder``; a file that does not parse is listed in
    ``errors`` (the rules page shows it; validation refuses to run with it)."""
    folder = Path(folder)
    graph, files, errors, failures, digest = bind(Graph()), [], [], [], hashlib.sha256()
    for path in sorted(folder.rglob("*.ttl")) if folder.is_dir() else []:
        rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()
        data = path.read_bytes()
        digest.update(rel.encode() + b"\0" + data)
        try:
            part = _parse(data)
        except Exception as exc:  # rdflib raises many types; all mean "this file cannot be read"
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            line = exc.lines + 1 if isinstance(getattr(exc, "lines", None), int) else getattr(exc, "lineno", None)
            errors.append(f"{rel}: {message}")
            failures.append((rel, message, line if isinstance(line, int) else None))
            continue
        for triple in part:
            graph.add(triple)
        files.append(rel)
    return ShapesBundle(graph, files, errors, digest.hexdigest()[:16], failures)


def _parse(data: bytes) -> list:
    """The triples of a Turtle file, by the engine's parser (several times quicker than
    rdflib's: every submission check on the command line starts here), by rdflib's where it
    fails, for the same message."""
    from .store import turtle_triples

    try:
        return turtle_triples(data)
    except (SyntaxError, ValueError):
        return list(Graph().parse(data=data.decode("utf-8"), format="turtle"))
