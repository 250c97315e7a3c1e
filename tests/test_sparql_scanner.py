"""The gate's scanner reads every text as the plain scanner it replaced did.

The gate (bpkg/sparql/gate.py) read a query as the ordered alternation of its lexical
pieces, one regex match and one Python step per token. Its scanner now skips the tokens
the gate ignores inside the regex, spells prefixed names with possessive runs, and builds
the skeleton only when a parse decision is looked up. This is a security boundary, so the
old scanner (and the gate loop it fed) is kept here as the reference, and the two must
agree on the tokens, the comment spans, the text without comments, the skeleton, the plan
(or the refusal) and the parse decision: for every named query, the W3C protocol suite's
query texts, the query texts of the gate's own tests, and many thousands of adversarial
texts.
"""

from __future__ import annotations

import ast
import random
import re
import time
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpkg.sparql import Limits, Request, SparqlError, Target
from bpkg.sparql.gate import (FORMS, KEYWORD_PREFIXES, PREFIXES, SERVICE_REFUSED, UPDATE_KEYWORDS, UPDATE_REFUSED,
                              Plan, _cut, _expand_pname, _parse_needed, _resolve, _skeleton, _without_comments, decide,
                              decision_for, expand_unicode_escapes, lex, prepare)

from conftest import CONFORMANCE, ROOT

LIMITS = Limits()
GRAPH = "https://w3id.org/bpkg/graph/kg/schemes/regions"

# -- the reference: the scanner as it was (one match per token, the grammar's spelling) ------------

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
    "pname": rf"(?:[^\W\d_](?:[\w.\-{_PN_EXTRA}]*[\w\-{_PN_EXTRA}])?)?:"
             rf"(?:(?:[\w:]|{_LOCAL_ESC})(?:(?:[\w.:\-{_PN_EXTRA}]|{_LOCAL_ESC})*(?:[\w:\-{_PN_EXTRA}]|{_LOCAL_ESC}))?)?",
    "number": r"\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?",
    "word": r"[^\W\d_]\w*",
    "backslash": r"\\",
    "unterminated": r"['\"].*",
    "other": r".",
}
_TOKEN = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _PIECES.items()), re.S)
_SKIPPED = frozenset({"ws", "comment", "string", "var", "lang", "blank", "number", "other"})


def reference_lex(text, comments=None, skeleton=None):
    depth = 0
    separated = True
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if skeleton is not None:
            if kind == "ws" or kind == "comment":
                separated = True
                if kind == "comment" and comments is not None:
                    comments.append(m.span())
                continue
            skeleton.append(" " + m.group() if separated else m.group())
            separated = False
        if kind in _SKIPPED:
            continue
        if kind == "open":
            depth += 1
            yield (m.start(), kind, m.group(), depth)
        elif kind == "close":
            yield (m.start(), kind, m.group(), depth)
            depth -= 1
        else:
            yield (m.start(), kind, m.group()[1:-1] if kind == "iri" else m.group(), depth)


def reference_gate(text, graph_names, base_iri=None, toks=()):
    prefixes, base = dict(PREFIXES), base_iri
    form, default, named, used, declared = None, [], [], set(), set()
    toks = [dict(zip(("pos", "kind", "text", "depth"), t)) for t in toks]
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok["kind"] == "backslash":
            raise SparqlError(400, f"query syntax error at character {tok['pos'] + 1}: a backslash outside a string, "
                                   "an IRI or a prefixed name")
        if tok["kind"] == "pname" and tok["text"].partition(":")[0].upper() in KEYWORD_PREFIXES:
            keyword = tok["text"].partition(":")[0]
            raise SparqlError(400, f"{tok['text']} at character {tok['pos'] + 1}: a prefix may not be spelt like the "
                                   f"keyword {keyword.upper()} (SPARQL parsers disagree on whether {tok['text']} is "
                                   "one token); rename the prefix or put a space after the keyword")
        if tok["kind"] != "word":
            if tok["kind"] == "pname":
                used.add(tok["text"].partition(":")[0])
            i += 1
            continue
        word = tok["text"].upper()
        after = toks[i + 1] if i + 1 < len(toks) else None
        if word == "SERVICE":
            raise SparqlError(400, SERVICE_REFUSED)
        if word in UPDATE_KEYWORDS:
            raise SparqlError(400, UPDATE_REFUSED)
        if form is None and word in FORMS:
            form = word
        elif word == "BASE" and after is not None and after["kind"] == "iri":
            base = _resolve(after["text"], base)
            i += 1
        elif (word == "PREFIX" and after is not None and after["kind"] == "pname" and after["text"].endswith(":")
              and i + 2 < len(toks) and toks[i + 2]["kind"] == "iri"):
            prefixes[after["text"][:-1]] = _resolve(toks[i + 2]["text"], base)
            declared.add(after["text"][:-1])
            i += 2
        elif word == "FROM":
            is_named = after is not None and after["kind"] == "word" and after["text"].upper() == "NAMED"
            j = i + 2 if is_named else i + 1
            keyword = "FROM NAMED" if is_named else "FROM"
            graph = toks[j] if j < len(toks) else None
            if graph is not None and graph["kind"] == "iri":
                iri = _resolve(graph["text"], base)
            elif graph is not None and graph["kind"] == "pname":
                iri = _expand_pname(graph["text"], prefixes)
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


def reference_scan(text):
    """(tokens, comment spans, skeleton) as the old scanner gave them."""
    comments, skeleton = [], []
    toks = list(reference_lex(text, comments, skeleton))
    return toks, comments, tuple(skeleton)


def reference_plan(text, graph_names):
    """The old prepare() before format negotiation: a Plan, or the refusal."""
    if len(text) > LIMITS.max_query_chars:
        return ("refused", 413)
    try:
        text = expand_unicode_escapes(text)
        if not text.strip():
            raise SparqlError(400, "the query is empty")
        toks, comments, _ = reference_scan(text)
        deepest = max((t[3] for t in toks if t[1] == "open"), default=0)
        if deepest > LIMITS.max_depth:
            raise SparqlError(400, f"the query nests brackets {deepest} deep; the limit is {LIMITS.max_depth}")
        return reference_gate(text, graph_names, None, toks)._replace(code=_cut(text, comments))
    except SparqlError as exc:
        return ("refused", exc.status, exc.message)


def new_plan(target, text):
    try:
        return prepare(target, Request(query=text), LIMITS)._replace(format=None)
    except SparqlError as exc:
        return ("refused", exc.status) if exc.status == 413 else ("refused", exc.status, exc.message)


# -- the texts ------------------------------------------------------------------------------------

def named_queries() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((ROOT / "queries").rglob("*.rq"))]


def w3c_texts() -> list[str]:
    """The query and update texts of the W3C protocol and service description manifests."""
    texts = []
    for manifest in sorted(CONFORMANCE.rglob("manifest*.ttl")) if CONFORMANCE.is_dir() else []:
        source = manifest.read_text(encoding="utf-8")
        for literal in re.findall(r'cnt:chars\s+"((?:[^"\\]|\\.)*)"', source):
            text = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), literal)
            texts += [text, *(urllib.parse.unquote_plus(v) for v in re.findall(r"(?:query|update)=([^&\s]*)", text))]
        texts += [urllib.parse.unquote_plus(v) for v in re.findall(r"(?:query|update)=([^&\s\"]*)", source)]
    return [t for t in dict.fromkeys(texts) if t.strip()]


def suite_texts() -> list[str]:
    """Every string in the gate's and the endpoint's own tests (most are query texts)."""
    texts = []
    for path in [*sorted((ROOT / "tests").glob("test_sparql*.py")), *sorted((ROOT / "tests" / "security").glob("*.py"))]:
        if path.name == Path(__file__).name:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 2:
                texts.append(node.value)
    return list(dict.fromkeys(texts))


KEYWORDS = ["SELECT", "ASK", "CONSTRUCT", "DESCRIBE", "WHERE", "SERVICE", "SILENT", "FROM", "NAMED", "GRAPH", "PREFIX",
            "BASE", "LOAD", "INSERT", "DELETE", "DROP", "CLEAR", "CREATE", "ADD", "MOVE", "COPY", "WITH", "USING",
            "DATA", "FILTER", "OPTIONAL", "a", "true"]
PIECES = ["'", '"', "'''", '"""', "''", '""', "<", ">", "#", "\\", "\\\\", "{", "}", "(", ")", "[", "]", " ", "  ",
          "\t", "\n", "\r", "\r\n", "\x0b", "\x1c", "\x85", "\u00a0", "\u2028", "\u3000", "?", "$", "@", "_", "_:",
          ":", "::", ".", "..", ",", ";", "*", "=", "!", "&", "|", "^", "`", "%", "%4", "%41", "%zz", "~", "-", "+",
          "/", "0", "1", "42", "3.5e9", ".5", "1e", "e5", "x", "é", "Ä", "ß", "ſ", "ı", "²", "½", "٣", "\u00b7",
          "\u0301", "\u203f", "\u2040", "\u200b", "😀", "\x00", "\ufffd", "\\u0053", "\\U00000053", "\\u00", "\\.",
          "\\~", "\\-", "\\_", "bp:", "ex:a", "ex:a.", "ex:a.b", "ex.b:c", "a.:b", "ex:%41", "ex:a\\.b", "ex:a..",
          "?x", "?x.", "$y", "@en", "@en-GB", "@1", "_:b", "_:b.", "_:.", "<urn:x>", "<http://127.0.0.1:9/>",
          "<a#b>", "<a b>", "<a\u00a0b>", "<#>", '"#"', "'#'", '"a\\"b"', "'''a\n'b'''", "SERVICE:x", "FROM:g",
          "service:", "NAMED:x", "GRAPH:g", "insert:x", "sErViCe", "s\\u0065rvice", "S\\u0045RVICE"]


def mixed_case(word: str, rnd: random.Random) -> str:
    return "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in word)


def adversarial(rnd: random.Random, size: int) -> str:
    parts = []
    for _ in range(rnd.randint(0, size)):
        if rnd.random() < 0.3:
            parts.append(mixed_case(rnd.choice(KEYWORDS), rnd))
        elif rnd.random() < 0.05:
            parts.append(chr(rnd.randint(0x20, 0x2fff)))
        else:
            parts.append(rnd.choice(PIECES))
    return "".join(parts)


def mutated(rnd: random.Random, seeds: list[str]) -> str:
    text = rnd.choice(seeds)
    for _ in range(rnd.randint(1, 6)):
        i = rnd.randint(0, len(text))
        text = text[:i] + rnd.choice([rnd.choice(PIECES), rnd.choice(KEYWORDS), ""]) + text[i + rnd.randint(0, 4):]
    return text


def assert_same_scan(text: str) -> None:
    expected_toks, expected_comments, expected_skeleton = reference_scan(text)
    comments = []
    assert [tuple(t) for t in lex(text, comments)] == expected_toks, text
    assert comments == expected_comments, text
    assert _skeleton(text) == expected_skeleton, text
    assert _without_comments(text) == _cut(text, expected_comments), text


@pytest.fixture(scope="module")
def target(kg):
    return Target.of(kg)


# -- the same reading -----------------------------------------------------------------------------

def test_the_corpora_are_there():
    assert len(named_queries()) > 30
    assert len(suite_texts()) > 100
    if CONFORMANCE.is_dir():
        assert len(w3c_texts()) > 10


@pytest.mark.parametrize("corpus", [named_queries, w3c_texts, suite_texts])
def test_known_texts_scan_alike(corpus):
    for text in corpus():
        assert_same_scan(text)
        try:
            assert_same_scan(expand_unicode_escapes(text))  # what the gate reads
        except SparqlError:
            pass


def test_random_texts_scan_alike():
    rnd = random.Random(20240611)
    seeds = named_queries() + w3c_texts()
    for n in range(12_000):
        assert_same_scan(adversarial(rnd, 12 if n % 3 else 60))
    for _ in range(3_000):
        assert_same_scan(mutated(rnd, seeds))


@settings(max_examples=1500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(st.text(max_size=80),
                 st.lists(st.sampled_from(PIECES + KEYWORDS), max_size=40).map("".join),
                 st.lists(st.one_of(st.sampled_from(PIECES + KEYWORDS), st.text(max_size=3)), max_size=30).map(" ".join)))
def test_generated_texts_scan_alike(text):
    assert_same_scan(text)


# -- the same plans and decisions -----------------------------------------------------------------

def test_plans_and_refusals_alike(target):
    rnd = random.Random(7)
    seeds = named_queries() + w3c_texts()
    texts = seeds + suite_texts() + [adversarial(rnd, 30) for _ in range(3_000)] + [mutated(rnd, seeds) for _ in range(2_000)]
    texts += [f"PREFIX g: <{GRAPH}> SELECT * FROM g: {{ ?s ?p ?o }}", f"SELECT * FROM <{GRAPH}> {{ ?s ?p ?o }}",
              f"SELECT * FROM NAMED <{GRAPH}x> {{ ?s ?p ?o }}", "SELECT * FROM { <x> }", "BASE <http://a/> SELECT * FROM <b> {}",
              "{" * 41 + "}" * 41, "SELECT * {" + "{" * 39 + "}" * 40, "}" * 5 + "{" * 40, "x" * (LIMITS.max_query_chars + 1)]
    for text in texts:
        assert new_plan(target, text) == reference_plan(text, target.graph_names), text


def test_decisions_alike(target):
    """decision_for on the new plan and skeleton, against the old plan's, for texts that
    need no parse (decided by the scan) and some that do (parsed, kept per skeleton)."""
    rnd = random.Random(11)
    seeds = named_queries()
    texts = seeds + [mutated(rnd, seeds) for _ in range(150)] + [f"{t}\n# run {i}" for i, t in enumerate(seeds)]
    for text in texts:
        plan = new_plan(target, text)
        if not isinstance(plan, Plan):
            continue
        assert plan == reference_plan(text, target.graph_names)
        decided = _decision(lambda: decision_for(plan, target.graph_names))
        code = plan.code
        if plan.form is not None and not _parse_needed(code):
            expected = {"form": plan.form, "from_default": [], "from_named": []}
        else:
            expected = _decision(lambda: decide(plan.query, target.graph_names))
        assert decided == expected, text


def _decision(decide):
    try:
        return decide()
    except SparqlError as exc:
        return ("refused", exc.status, exc.message)


# -- still linear ---------------------------------------------------------------------------------

WORST = ["'", '"', "'''", '"""', "<", "<a", "#", "\\", "{", "}", "(", "[", "?", "_:", "_:a.", "a.", "a:", "a:b.", "ex:a\\.",
         ":.", "%", "@a-", "1.", "\u00b7", "\u203f", " ", "\n", "'a", '"a\\', "<a#", "a#", "'''a'", "\"\"\"a\""]


@pytest.mark.parametrize("piece", WORST)
def test_worst_case_texts_stay_fast(piece):
    """A text of the size cap made of one piece repeated scans alike, in no more time than
    the old scanner took. (Not all in linear time, then or now: a run of name characters
    and dots, ``a.a.a...``, is scanned for a ':' from each word in it, as a prefixed name
    could start at any; 0.3 s at the size cap, from 2.4 s.)"""
    text = (piece * (LIMITS.max_query_chars // len(piece)))[:LIMITS.max_query_chars]
    started = time.perf_counter()
    expected = reference_scan(text)
    old = time.perf_counter() - started
    started = time.perf_counter()
    comments = []
    toks, skeleton = lex(text, comments), _skeleton(text)
    new = time.perf_counter() - started
    assert new < 3 * old + 0.05, (piece, old, new)
    assert ([tuple(t) for t in toks], comments, skeleton) == expected
