"""Steps 1 and 2 of the executor: the screen (unicode escapes, length and nesting caps)
and the gate (what may run, the query form, the graphs named).

Two readings must both let a query through, and the stricter wins:

* the **lexical scan** (microseconds): keywords outside strings,
  IRIs and comments, and prefixed names spelt like a refused keyword (``SERVICE:x`` is
  one token for a tokenizer and ``SERVICE`` + ``:x`` for a parser: such a text is refused,
  whichever way the engine would read it);
* the **parse** (:func:`decide`, rdflib's grammar-complete SPARQL 1.1 parser, run in the
  query process before the engine sees the text, where a slow parse is killed at the
  deadline like a slow query): the form, every ``SERVICE``, every graph named by
  ``FROM``, ``FROM NAMED`` and ``GRAPH`` with prefixes and ``BASE`` resolved. What it
  cannot parse is a 400, even if the engine could have run it. Its decisions are kept
  per query (:func:`decision_for`; comments and spacing aside), so a query is parsed
  once per query process, and the server hands a decision it has seen to the next job.

Both run in the query process, not the server: the server's thread only reads the
request, looks up the result cache and hands the text over, so a new query text costs
the server no scanning at all.

The tokenizer is shared with the update sandbox and the external-store mode."""

from __future__ import annotations

import operator
import re
import threading
import urllib.parse
from collections import OrderedDict
from typing import NamedTuple

from .. import formats
from ..namespaces import PREFIXES
from .protocol import Limits, Request, SparqlError, Target


# -- 1. screen ------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def _unescape(match: re.Match) -> str:
    code = int(match.group(1) or match.group(2), 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise SparqlError(400, f"the escape {match.group()} is not a unicode character")
    return chr(code)


def expand_unicode_escapes(text: str) -> str:
    """``\\uXXXX``/``\\UXXXXXXXX`` replaced everywhere, before tokenising (SPARQL 1.1 §19.2):
    ``S\\u0045RVICE`` *is* the keyword SERVICE. pyoxigraph does not do this itself (it
    rejects such a query), so expanding here both finds hidden keywords and keeps valid
    escapes working."""
    return _ESCAPE.sub(_unescape, text) if "\\" in text else text


# The lexical pieces of SPARQL that can hide a keyword or a bracket (SPARQL 1.1 §19.8),
# tried in this order at each position: their ordered alternation is the scanner's
# reading (tests/test_sparql_scanner.py keeps it as the reference for the faster ways
# below). Each is at least as permissive as the grammar, so the scanner never reads as
# code what the parser reads as a string, an IRI or a comment; a quote that opens no
# complete string makes the rest of the text a string (the parser will report it).
_PN_EXTRA = "\u00b7\u0300-\u036f\u203f\u2040"
_LOCAL_ESC = r"\\[_~.\-!$&'()*+,;=/?#@%]|%[0-9A-Fa-f]{2}"
_PIECES = {
    "ws": r"\s+",
    "comment": r"#[^\r\n]*",
    "string": r"'''(?:[^'\\]|\\.|'(?!''))*'''|" + r'"""(?:[^"\\]|\\.|"(?!""))*"""'
              + r"""|'(?:[^'\\\n\r]|\\.)*'|"(?:[^"\\\n\r]|\\.)*\"""",
    "iri": r'<[^<>"{}|^`\\\x00-\x20]*>',
    "open": r"[{(\[]",
    "close": r"[})\]]",
    "var": rf"[?$][\w{_PN_EXTRA}]+",
    "lang": r"@[A-Za-z]+(?:-[A-Za-z0-9]+)*",
    "blank": rf"_:\w(?:[\w.\-{_PN_EXTRA}]*[\w\-{_PN_EXTRA}])?",
    # PNAME_NS or PNAME_LN: prefix (may be empty) ':' local name (may be empty). Neither ends
    # with '.': the prefix's run of name characters must not, and the local name takes its
    # dots only where a name character follows. (Possessive runs: the grammar's spelling,
    # a run then one last character, backtracks through every word the scanner meets.)
    "pname": rf"(?:[^\W\d_](?:[\w.\-{_PN_EXTRA}]*+(?<!\.))?)?:"
             rf"(?:(?:[\w:]|{_LOCAL_ESC})(?:[\w:\-{_PN_EXTRA}]++|\.++(?=[\w:\-{_PN_EXTRA}]|{_LOCAL_ESC})|{_LOCAL_ESC})*+)?",
    "number": r"\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?",
    "word": r"[^\W\d_]\w*",
    "backslash": r"\\",  # never valid here (escapes were expanded); a later pass must not find one
    "unterminated": r"['\"].*",
    "other": r".",
}
_SKIPPED = ("ws", "string", "var", "lang", "blank", "number", "other")  # and comments, whose spans are kept

# That reading in one match per token the gate keeps: first, possessively, the run of
# tokens it skips (in C; a Python loop over every token cost more than the regex), then
# the kept token. Each skipped piece starts with a character that no kept piece before it
# in _PIECES can start with, so the run reads a skipped token exactly where the
# alternation does and stops exactly where it reads a kept one. "other" is spelt out as
# what no other piece reads: no white space, '#', quote, bracket, backslash, digit,
# letter or ':' (a prefixed name), and '<' only where no IRI starts (``?``, ``$``, ``@``,
# ``_`` and ``.`` get there only once a variable, a language tag, a blank node or a
# number was tried). Possessive, the run never backtracks, so it stays linear.
_OTHER = r"""[^\w\s#'"{}()\[\]\\:<]|_|<(?!""" + _PIECES["iri"][1:] + ")"
_SCAN = re.compile("(?:" + "|".join(_OTHER if n == "other" else _PIECES[n] for n in _SKIPPED) + ")*+"
                   "(?:" + "|".join(f"(?P<{n}>{p})" for n, p in _PIECES.items() if n not in _SKIPPED) + r"|\Z)", re.S)
_new_token = tuple.__new__  # Token(...) runs a Python __new__, at twice the cost


class Token(NamedTuple):
    pos: int
    kind: str  # word, iri, pname, open, close, backslash, unterminated (a string to the end)
    text: str  # the word, the IRI (without <>), the whole prefixed name, or the bracket
    depth: int


def lex(text: str, comments: list | None = None) -> list[Token]:
    """The tokens of ``text`` that matter to the gate: words (keywords, function names),
    IRIs, prefixed names and brackets, with the bracket depth. Strings, comments,
    variables, blank nodes, language tags and numbers are skipped; ``comments``, if
    given, gets the (start, end) of every comment."""
    toks, depth = [], 0
    for m in _SCAN.finditer(text):
        kind = m.lastgroup
        if kind == "open":
            depth += 1
            toks.append(_new_token(Token, (m.start(kind), kind, m.group(kind), depth)))
        elif kind == "close":
            toks.append(_new_token(Token, (m.start(kind), kind, m.group(kind), depth)))
            depth -= 1
        elif kind == "comment":
            if comments is not None:
                comments.append(m.span(kind))
        elif kind is not None:  # None: the skipped end of the text
            toks.append(_new_token(Token, (m.start(kind), kind, m.group(kind)[1:-1] if kind == "iri" else m.group(kind),
                                           depth)))
    return toks


def tokens(text: str):
    """(position, token, depth) for the words and brackets of ``text`` (strings, IRIs,
    comments, variables and prefixed names skipped)."""
    for tok in lex(text):
        if tok.kind in ("word", "open", "close"):
            yield tok.pos, tok.text, tok.depth


_depth = operator.attrgetter("depth")


def screen(text: str, limits: Limits, what: str = "query") -> str:
    """The cheap checks before any parser: returns the text with escapes expanded."""
    return _screened(text, limits, what)[0]


def _screened(text: str, limits: Limits, what: str, comments: list | None = None) -> tuple[str, list[Token]]:
    if len(text) > limits.max_query_chars:
        raise SparqlError(413, f"the {what} is {len(text)} characters long; the limit is {limits.max_query_chars}")
    text = expand_unicode_escapes(text)
    if not text.strip():
        raise SparqlError(400, f"the {what} is empty")
    toks = lex(text, comments)
    deepest = max(map(_depth, toks), default=0)  # the deepest opening bracket's: no depth above 0 is reached otherwise
    if deepest > limits.max_depth:
        raise SparqlError(400, f"the {what} nests brackets {deepest} deep; the limit is {limits.max_depth}")
    return text, toks


# -- 2. gate --------------------------------------------------------------------------

FORMS = ("SELECT", "CONSTRUCT", "DESCRIBE", "ASK")
# Keywords that exist only in SPARQL Update; none can appear in a valid query.
UPDATE_KEYWORDS = frozenset({"LOAD", "INSERT", "DELETE", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY",
                             "WITH", "USING"})
SERVICE_REFUSED = ("SERVICE is not allowed: this endpoint never contacts other services on a query's behalf")
UPDATE_REFUSED = ("this is a SPARQL Update; the endpoint is read-only and refuses updates "
                  "(LOAD, INSERT, DELETE, CLEAR, DROP, ...)")
# A prefix spelt like one of these could be read as the keyword by one parser and as a
# prefixed name by another (``SERVICE:x``, ``FROM:g``): refused, so no reading matters.
KEYWORD_PREFIXES = frozenset({"SERVICE", "SILENT", "FROM", "NAMED", "GRAPH"}) | UPDATE_KEYWORDS
_GATED = frozenset({"SERVICE", "BASE", "PREFIX", "FROM"} | UPDATE_KEYWORDS | set(FORMS))  # the words gate() acts on
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


class Plan(NamedTuple):
    """A query that passed the gate, and what the scan learnt about it. (A named tuple, not
    a frozen dataclass: one is made or copied three times per query in a query process,
    and a frozen dataclass costs 2-3 µs each time, a named tuple under 1.)"""

    query: str  # the screened text (escapes expanded): what the engine parses
    form: str | None  # SELECT, CONSTRUCT, DESCRIBE, ASK; None if the scan found none (the parser will say why)
    from_default: tuple[str, ...] = ()
    from_named: tuple[str, ...] = ()
    format: formats.Format | None = None  # negotiated from the form; None when the form is unknown
    # The site's prefixes (bpkg.namespaces.PREFIXES) that the query uses without declaring
    # them: all the engine needs to be given (handing it every prefix costs as much as a small query).
    prefixes: dict | None = None
    code: str = ""  # the text without its comments (see _skeleton)

    @property
    def family(self) -> str | None:
        return None if self.form is None else "graph" if self.form in ("CONSTRUCT", "DESCRIBE") else "tabular"


def _resolve(iri: str, base: str | None) -> str:
    if _SCHEME.match(iri) or not base:
        return iri
    return urllib.parse.urljoin(base, iri)


def _expand_pname(pname: str, prefixes: dict[str, str]) -> str:
    prefix, _, local = pname.partition(":")
    if prefix not in prefixes:
        raise SparqlError(400, f"the prefix {prefix}: in {pname} is not declared (add PREFIX {prefix}: <...>)")
    return prefixes[prefix] + re.sub(r"\\(.)", r"\1", local)


def gate(text: str, graph_names: frozenset[str], base_iri: str | None = None, toks: list[Token] | None = None) -> Plan:
    """Refuse SERVICE, updates and FROM/FROM NAMED outside the dataset; return the plan.

    ``text`` must have been screened (escapes expanded). Purely lexical: a keyword inside
    a string, an IRI or a comment is no keyword, and prefixed names, variables and
    language tags are never taken for one, whatever their spelling.
    """
    toks = lex(text) if toks is None else toks
    prefixes, base = dict(PREFIXES), base_iri  # pyoxigraph gets PREFIXES too; the query's own win
    form, default, named, used, declared = None, [], [], set(), set()
    i, end = 0, len(toks)
    while i < end:
        tok = toks[i]
        kind = tok.kind
        if kind != "word":
            if kind == "pname":
                prefix = tok.text.partition(":")[0]
                if prefix.upper() in KEYWORD_PREFIXES:
                    raise SparqlError(400, f"{tok.text} at character {tok.pos + 1}: a prefix may not be spelt like the "
                                           f"keyword {prefix.upper()} (SPARQL parsers disagree on whether {tok.text} is "
                                           "one token); rename the prefix or put a space after the keyword")
                used.add(prefix)
            elif kind == "backslash":
                raise SparqlError(400, f"query syntax error at character {tok.pos + 1}: a backslash outside a string, "
                                       "an IRI or a prefixed name")
            i += 1
            continue
        word = tok.text.upper()
        if word not in _GATED:  # most words (WHERE, FILTER, a, ...): nothing to see
            i += 1
            continue
        after = toks[i + 1] if i + 1 < end else None
        if word == "SERVICE":
            raise SparqlError(400, SERVICE_REFUSED)
        if word in UPDATE_KEYWORDS:
            raise SparqlError(400, UPDATE_REFUSED)
        if form is None and word in FORMS:
            form = word
        elif word == "BASE" and after is not None and after.kind == "iri":
            base = _resolve(after.text, base)
            i += 1
        elif (word == "PREFIX" and after is not None and after.kind == "pname" and after.text.endswith(":")
              and i + 2 < end and toks[i + 2].kind == "iri"):
            prefixes[after.text[:-1]] = _resolve(toks[i + 2].text, base)
            declared.add(after.text[:-1])
            i += 2
        elif word == "FROM":
            is_named = after is not None and after.kind == "word" and after.text.upper() == "NAMED"
            j = i + 2 if is_named else i + 1
            keyword = "FROM NAMED" if is_named else "FROM"
            graph = toks[j] if j < end else None
            if graph is not None and graph.kind == "iri":
                iri = _resolve(graph.text, base)
            elif graph is not None and graph.kind == "pname":
                iri = _expand_pname(graph.text, prefixes)
            else:
                raise SparqlError(400, f"{keyword} must be followed by a graph IRI")
            if iri not in graph_names:
                raise SparqlError(400, f"{keyword} <{iri}> names a graph that is not in this dataset; the endpoint "
                                       "never fetches graphs from elsewhere (the service description lists the graphs)")
            (named if is_named else default).append(iri)
            i = j
        i += 1
    return Plan(text, form, tuple(default), tuple(named),
                prefixes={p: PREFIXES[p] for p in used - declared if p in PREFIXES})


_plans: "OrderedDict[tuple, Plan]" = OrderedDict()
_plans_lock = threading.Lock()
_PLAN_CACHE_SIZE = 1024


def _cached(cache: OrderedDict, key, make, size: int = _PLAN_CACHE_SIZE):
    with _plans_lock:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
            return value
    value = make()  # refusals raise: only passes are kept
    with _plans_lock:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)
    return value


def prepare(target: Target, req: Request, limits: Limits) -> Plan:
    """Screen, scan and negotiate: the cheap refusals (400, 406, 413) before any parser
    or engine sees the query. Run in the query process, first thing (:mod:`.evaluate`);
    a text seen before (a named query, a UI's repeated query) is not scanned again."""
    key = (req.query, req.base_iri, target.graph_names, limits.max_query_chars, limits.max_depth)

    def scan() -> Plan:
        comments = []
        text, toks = _screened(req.query, limits, "query", comments)
        return gate(text, target.graph_names, req.base_iri, toks)._replace(code=_cut(text, comments))

    plan = _cached(_plans, key, scan)
    if plan.family is None:
        return plan
    try:
        fmt = formats.choose(plan.family, req.accept, req.format)
    except formats.NotAcceptable as exc:
        raise SparqlError(406, str(exc)) from None
    return plan._replace(format=fmt)


# -- 2b. the parse (in the query process) ------------------------------------------------

# Whether a query uses SERVICE, names a graph or is an update shows in these letters: no
# SPARQL parser can read a keyword that is not spelt out in the text (escapes are expanded
# before this). A text without any of them, in any case and anywhere (strings, IRIs and
# names included), cannot use what the parse looks for, whatever the tokenisation.
PARSE_WORDS = tuple(sorted({"SERVICE", "FROM", "NAMED", "GRAPH"} | UPDATE_KEYWORDS))


class Unparsable(SparqlError):
    """The gate's parser cannot read the query: refused, whatever the engine would do."""


_QUERY_NODES = {"SelectQuery": "SELECT", "ConstructQuery": "CONSTRUCT", "DescribeQuery": "DESCRIBE", "AskQuery": "ASK"}


def decide(text: str, graph_names: frozenset[str], base_iri: str | None = None, shared_store: bool = False) -> dict:
    """May this (screened) query run? Decided on rdflib's parse of SPARQL 1.1 (skipped when
    the text cannot use what the parse looks for, see :func:`_parse_needed`): returns the
    form and the graphs named by FROM/FROM NAMED; raises SparqlError 400 for anything
    that is not a query, uses SERVICE, or names with FROM or FROM NAMED a graph that the
    dataset does not hold. ``shared_store`` (an external store, which may hold other
    graphs too): ``GRAPH <iri>`` outside the dataset is refused as well; on our own store
    such a graph is simply empty. Run where it can be killed: pyparsing is slow on large texts."""
    if not _parse_needed(_without_comments(text)):
        form = next((t.text.upper() for t in lex(text) if t.kind == "word" and t.text.upper() in FORMS), None)
        if form is not None:  # nothing to refuse or resolve: the engine parses it next (syntax errors from there)
            return {"form": form, "from_default": [], "from_named": []}
    from pyparsing import ParseException
    from rdflib.plugins.sparql.algebra import translatePrologue
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
    from rdflib.plugins.sparql.parserutils import CompValue
    from rdflib.term import Variable

    try:
        tree = parseQuery(text)
    except ParseException as exc:
        try:
            parseUpdate(text)
        except (ParseException, RecursionError):
            pass
        else:
            raise SparqlError(400, UPDATE_REFUSED) from None
        lines = text.splitlines()
        line = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
        raise Unparsable(400, f"query syntax error at line {exc.lineno}, column {exc.col}: {exc.msg}\n"
                               f"  {line}\n  {' ' * max(exc.col - 1, 0)}^") from None
    except RecursionError:
        raise SparqlError(400, "the query is too deeply nested to parse") from None
    prologue_node, query = tree[0], tree[1]
    form = _QUERY_NODES.get(getattr(query, "name", None))
    if form is None:
        raise SparqlError(400, "this is not a SPARQL query (SELECT, CONSTRUCT, DESCRIBE or ASK)")
    for decl in prologue_node:
        if decl.name == "PrefixDecl" and str(decl.get("prefix", "")).upper() in KEYWORD_PREFIXES:
            raise SparqlError(400, f"a prefix may not be spelt like the keyword {decl['prefix'].upper()}")
    try:
        prologue = translatePrologue(prologue_node, base_iri, dict(PREFIXES))
        default, named = [], []

        def graph(keyword: str, term) -> str:
            iri = str(prologue.absolutize(term))
            if iri not in graph_names:
                raise SparqlError(400, f"{keyword} <{iri}> names a graph that is not in this dataset; the endpoint "
                                       "never fetches graphs from elsewhere (the service description lists the graphs)")
            return iri

        for node in comp_values(query, CompValue):
            if node.name == "ServiceGraphPattern":
                raise SparqlError(400, SERVICE_REFUSED)
            if node.name == "DatasetClause":
                if "default" in node:
                    default.append(graph("FROM", node["default"]))
                else:
                    named.append(graph("FROM NAMED", node["named"]))
            elif node.name == "GraphGraphPattern" and shared_store and not isinstance(node["term"], Variable):
                graph("GRAPH", node["term"])
    except SparqlError:
        raise
    except Exception as exc:  # an undeclared prefix, a bad base: the parse cannot say which graph is meant
        raise SparqlError(400, f"the query could not be read: {exc}") from None
    return {"form": form, "from_default": default, "from_named": named}


def _without_comments(text: str) -> str:
    comments = []
    lex(text, comments)
    return _cut(text, comments)


# Each token but white space and comments, with the gap before it (white space and
# comments, maybe none): one match, in C, per token. Where a gap ends neither can start,
# so the rest of _PIECES, in order, reads the token their whole alternation would.
_GAP_AND_TOKEN = re.compile(f"((?:{_PIECES['ws']}|{_PIECES['comment']})*+)"
                            f"((?:{'|'.join(p for n, p in _PIECES.items() if n not in ('ws', 'comment'))})?)", re.S)


def _skeleton(text: str) -> tuple[str, ...]:
    """Every token of ``text`` but white space and comments, each marked with whether white
    space or a comment came before it (the first always is: hence the space put in front).

    A comment is white space to every SPARQL parser (SPARQL 1.1 §19.4), and the scanner
    finds a ``#`` to be a comment only outside what it reads as a string, an IRI or a
    prefixed name, readings at least as permissive as the grammar's: where the two could
    disagree, the text does not parse. So a keyword inside a comment is no keyword, and
    two texts with one skeleton are one query to the parser."""
    return tuple([" " + tok if gap else tok for gap, tok in _GAP_AND_TOKEN.findall(" " + text) if tok])


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    parts, at = [], 0
    for start, end in spans:
        parts.append(text[at:start])
        at = end
    parts.append(text[at:])
    return "".join(parts)


def _parse_needed(code: str) -> bool:
    """Does ``code`` (a text without comments) spell any word the parse looks for, in any
    case, anywhere? (Substring tests: a case-insensitive alternation costs far more.)"""
    upper = code.upper()
    return any(word in upper for word in PARSE_WORDS)


_decisions: "OrderedDict[tuple, dict]" = OrderedDict()


def decision_for(plan: Plan, graph_names: frozenset[str], base_iri: str | None = None, shared_store: bool = False) -> dict:
    """:func:`decide` on a scanned query, kept per skeleton (see :func:`_skeleton`):
    the same query sent again with other comments or spacing, as a notebook or a UI does,
    is not parsed again. A text that changes any token (a literal, an IRI, a LIMIT) is
    parsed anew, unless it cannot use what the parse looks for (:func:`_parse_needed`)."""
    text = plan.query
    if plan.form is not None and not _parse_needed(plan.code or _without_comments(text)):
        return {"form": plan.form, "from_default": [], "from_named": []}
    key = (_skeleton(text), base_iri, graph_names, shared_store)
    return _cached(_decisions, key, lambda: decide(text, graph_names, base_iri, shared_store=shared_store))


# In the server: the decisions its query processes made, by exact text, handed to the next
# job with that text (or with a named query's template, see ``Request.template``).
_known: "OrderedDict[tuple, dict]" = OrderedDict()


def _known_key(target: Target, text: str, base_iri: str | None) -> tuple:
    return (text, base_iri, target.graph_names, getattr(target.store, "needs_network", False))


def known_decision(target: Target, req: Request) -> dict | None:
    with _plans_lock:
        for text in filter(None, (req.query, req.template)):
            decision = _known.get(_known_key(target, text, req.base_iri))
            if decision is not None:
                return decision
    return None


def remember(target: Target, req: Request, decision: dict) -> None:
    with _plans_lock:
        for text in filter(None, (req.query, req.template)):
            _known[_known_key(target, text, req.base_iri)] = decision
        while len(_known) > _PLAN_CACHE_SIZE:
            _known.popitem(last=False)


def comp_values(node, comp_value):
    """Every CompValue in an rdflib parse tree (EXISTS, MINUS, sub-selects included)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, comp_value):
            yield item
            stack.extend(item.values())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)) or type(item).__name__ == "ParseResults":
            stack.extend(item)


def syntax_message(exc: SyntaxError, text: str, what: str = "query") -> str:
    """pyoxigraph's "error at L:C: expected ..." as line, column and a caret under the spot."""
    message = " ".join(str(exc).split())
    m = re.match(r"error at (\d+):(\d+)(?:-\d+:\d+)?: (.*)", message)
    if not m:
        return f"{what} syntax error: {message[:400]}"
    line_no, col, detail = int(m.group(1)), int(m.group(2)), m.group(3)
    if len(detail) > 300:
        detail = detail[:300] + " ..."
    lines = text.splitlines()
    line = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
    return f"{what} syntax error at line {line_no}, column {col}: {detail}\n  {line}\n  {' ' * max(col - 1, 0)}^"
