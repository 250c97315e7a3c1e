"""The W3C test sandbox's updates: applied to a sandbox store, never the bundled graph."""

from __future__ import annotations

import threading

import pyoxigraph as ox

from ..namespaces import PREFIXES
from .gate import SERVICE_REFUSED, comp_values, lex, screen, syntax_message, tokens
from .protocol import Limits, SparqlError


# -- the test sandbox's updates -------------------------------------------------------

_update_lock = threading.Lock()


def _inject_using(text: str, using: list[str], using_named: list[str]) -> str:
    """Add the protocol's ``using-graph-uri``/``using-named-graph-uri`` as USING clauses
    before each operation's top-level WHERE (``DELETE WHERE`` takes none)."""
    clause = "".join(f"USING <{g}> " for g in using) + "".join(f"USING NAMED <{g}> " for g in using_named)
    out, last, previous = [], 0, ""
    for pos, tok, depth in tokens(text):
        word = tok.upper()
        if depth == 0 and word == "WHERE" and previous != "DELETE":
            out.append(text[last:pos] + clause)
            last = pos
        if depth == 0 or tok in "{([":
            previous = word
    return "".join(out) + text[last:]


def run_update(store: ox.Store, text: str, limits: Limits, base_iri: str | None = None,
               using: list[str] = (), using_named: list[str] = ()) -> None:
    """Apply an update to the sandbox store (never the bundled graph). LOAD and SERVICE
    stay refused: even the test instance fetches nothing.

    Updates run in this process (the sandbox store lives here), so two independent checks
    stand before pyoxigraph: the lexical scan and rdflib's parse tree. Neither is on the
    query path; rdflib is imported only when the sandbox is used.
    """
    text = screen(text, limits, "update")
    words = {tok.text.upper() for tok in lex(text) if tok.kind == "word"}
    if "SERVICE" in words:
        raise SparqlError(400, SERVICE_REFUSED)
    if "LOAD" in words:
        raise SparqlError(400, "LOAD is not allowed: this endpoint never fetches data from elsewhere")
    if any(tok.kind == "backslash" for tok in lex(text)):
        raise SparqlError(400, "update syntax error: a backslash outside a string, an IRI or a prefixed name")
    from pyparsing import ParseException
    from rdflib.plugins.sparql.parser import parseUpdate
    from rdflib.plugins.sparql.parserutils import CompValue

    try:
        tree = parseUpdate(text)
    except ParseException as exc:
        line = text.splitlines()[exc.lineno - 1] if exc.lineno - 1 < len(text.splitlines()) else ""
        raise SparqlError(400, f"update syntax error at line {exc.lineno}, column {exc.col}: {exc.msg}\n"
                               f"  {line}\n  {' ' * (exc.col - 1)}^") from None
    except RecursionError:
        raise SparqlError(400, "the update is too deeply nested to parse") from None
    nodes = list(comp_values(tree, CompValue))
    if any(node.name == "ServiceGraphPattern" for node in nodes):
        raise SparqlError(400, SERVICE_REFUSED)
    operations = list(tree["request"] if "request" in tree else [])
    if any(op.name == "Load" for op in operations):
        raise SparqlError(400, "LOAD is not allowed: this endpoint never fetches data from elsewhere")
    if using or using_named:
        if "USING" in words or "WITH" in words:
            raise SparqlError(400, "using-graph-uri/using-named-graph-uri cannot be combined with USING or WITH "
                                   "in the update (SPARQL 1.1 Protocol 2.2.3)")
        text = _inject_using(text, list(using), list(using_named))
    try:
        with _update_lock:
            store.update(text, base_iri=base_iri, prefixes=PREFIXES)
    except SyntaxError as exc:
        raise SparqlError(400, syntax_message(exc, text, "update")) from None
    except (OSError, ValueError) as exc:
        raise SparqlError(400, f"the update failed: {exc}") from None

