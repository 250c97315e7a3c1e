"""The one safe SPARQL executor, used by the web endpoint and the CLI alike.

A query goes through, in this order:

1. **screen** (in the server process, microseconds): unicode escapes expanded as the
   spec says, then a length cap and a nesting-depth cap. Measured: a 12 kB deeply nested
   query segfaults pyoxigraph, so nothing deep reaches any parser.
2. **gate** (in the server process, lexical, no parser): the text is tokenised with
   strings, IRIs, comments, variables and prefixed names set apart, then refused if any
   keyword is ``SERVICE`` or an update operation (``LOAD``, ``INSERT``, ``DROP`` ...), or
   if ``FROM``/``FROM NAMED`` names a graph the dataset does not hold (prefixed names
   resolved with the query's own ``PREFIX``/``BASE``). The same scan gives the query form,
   so the result format is negotiated (406) before any engine is involved.
3. a **query worker**: a process without network (its network namespace unshared, so
   not even loopback), under an address-space limit, killed with SIGKILL at the deadline.
   Threads cannot be stopped in Python and Oxigraph ignores timeouts for some queries; a
   process can always be killed, and an engine crash costs one request. The web server
   keeps a small pool of such workers, forked once from the loaded server (they share the
   store copy-on-write) and replaced when one is killed or dies; one-shot callers (the
   CLI, the update sandbox) fork one child per query. In the worker pyoxigraph parses
   (a syntax error comes back as 400 with line and column) and evaluates. The lexical
   gate decides what is refused and why; the network-less worker is the hard guarantee
   behind it, should the gate ever misread a query.
4. **limits** while serialising: a row cap and a byte cap, reported, never a broken
   document.

Updates exist only for the explicitly enabled test sandbox (:func:`run_update`); they
never touch the bundled graph.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import re
import resource
import select
import signal
import socket
import struct
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

import pyoxigraph as ox

from . import formats
from .namespaces import PREFIXES


@dataclass(frozen=True)
class Limits:
    timeout: float = 5.0  # seconds per query, waiting for a worker included
    max_rows: int = 10_000  # solutions (SELECT) or triples (CONSTRUCT/DESCRIBE)
    max_bytes: int = 16 * 1024 * 1024  # serialised response
    max_query_chars: int = 20_000
    max_depth: int = 40  # nested { ( [
    memory_mb: int = 2048  # extra address space a query process may use
    max_workers: int = 4  # query processes at once; more wait (up to the deadline), then get 503

    @classmethod
    def from_config(cls, config) -> "Limits":
        names = {f: "SPARQL_" + f.upper() for f in cls.__dataclass_fields__}
        return cls(**{f: type(getattr(cls, f))(config[key]) for f, key in names.items() if key in config})


class SparqlError(Exception):
    """A query or update that is refused or failed; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, message: str):
        self.status, self.message = status, message
        super().__init__(message)


@dataclass
class Target:
    """What a query runs against: a store and the graphs it may name."""

    store: ox.Store
    graph_names: frozenset[str]
    union_default: bool = True  # default graph = union of the named graphs

    @classmethod
    def of(cls, kg) -> "Target":
        return cls(kg.store, frozenset(str(g) for g in kg.graph_names), True)


@dataclass
class Result:
    body: bytes
    content_type: str
    form: str  # SELECT, ASK, CONSTRUCT, DESCRIBE
    rows: int = 0
    truncated: str | None = None  # None, "rows" or "bytes"


@dataclass
class Request:
    """One query as the protocol gives it."""

    query: str
    accept: str | None = None
    format: str | None = None
    default_graphs: list[str] = field(default_factory=list)
    named_graphs: list[str] = field(default_factory=list)
    base_iri: str | None = None


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
# tried in this order at each position. Each is at least as permissive as the grammar,
# so the scanner never reads as code what the parser reads as a string, an IRI or a
# comment; a quote that opens no complete string makes the rest of the text a string
# (the parser will report it).
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
    # PNAME_NS or PNAME_LN: prefix (may be empty) ':' local name (may be empty; no trailing '.')
    "pname": rf"(?:[^\W\d_](?:[\w.\-{_PN_EXTRA}]*[\w\-{_PN_EXTRA}])?)?:"
             rf"(?:(?:[\w:]|{_LOCAL_ESC})(?:(?:[\w.:\-{_PN_EXTRA}]|{_LOCAL_ESC})*(?:[\w:\-{_PN_EXTRA}]|{_LOCAL_ESC}))?)?",
    "number": r"\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?",
    "word": r"[^\W\d_]\w*",
    "backslash": r"\\",  # never valid here (escapes were expanded); a later pass must not find one
    "unterminated": r"['\"].*",
    "other": r".",
}
_TOKEN = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _PIECES.items()), re.S)
_SKIPPED = frozenset({"ws", "comment", "string", "var", "lang", "blank", "number", "other"})


class Token(NamedTuple):
    pos: int
    kind: str  # word, iri, pname, open, close, backslash, unterminated (a string to the end)
    text: str  # the word, the IRI (without <>), the whole prefixed name, or the bracket
    depth: int


def lex(text: str):
    """The tokens of ``text`` that matter to the gate: words (keywords, function names),
    IRIs, prefixed names and brackets, with the bracket depth. Strings, comments,
    variables, blank nodes, language tags and numbers are skipped."""
    depth = 0
    skipped = _SKIPPED
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in skipped:
            continue
        if kind == "open":
            depth += 1
            yield Token(m.start(), kind, m.group(), depth)
        elif kind == "close":
            yield Token(m.start(), kind, m.group(), depth)
            depth -= 1
        else:
            yield Token(m.start(), kind, m.group()[1:-1] if kind == "iri" else m.group(), depth)


def tokens(text: str):
    """(position, token, depth) for the words and brackets of ``text`` (strings, IRIs,
    comments, variables and prefixed names skipped)."""
    for tok in lex(text):
        if tok.kind in ("word", "open", "close"):
            yield tok.pos, tok.text, tok.depth


def screen(text: str, limits: Limits, what: str = "query") -> str:
    """The cheap checks before any parser: returns the text with escapes expanded."""
    return _screened(text, limits, what)[0]


def _screened(text: str, limits: Limits, what: str) -> tuple[str, list[Token]]:
    if len(text) > limits.max_query_chars:
        raise SparqlError(413, f"the {what} is {len(text)} characters long; the limit is {limits.max_query_chars}")
    text = expand_unicode_escapes(text)
    if not text.strip():
        raise SparqlError(400, f"the {what} is empty")
    toks = list(lex(text))
    deepest = max((t.depth for t in toks if t.kind == "open"), default=0)
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
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


@dataclass(frozen=True)
class Plan:
    """A query that passed the gate, and what the scan learnt about it."""

    query: str  # the screened text (escapes expanded): what the engine parses
    form: str | None  # SELECT, CONSTRUCT, DESCRIBE, ASK; None if the scan found none (the parser will say why)
    from_default: tuple[str, ...] = ()
    from_named: tuple[str, ...] = ()
    format: formats.Format | None = None  # negotiated from the form; None when the form is unknown

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
    toks = list(lex(text)) if toks is None else toks
    prefixes, base = dict(PREFIXES), base_iri  # pyoxigraph gets PREFIXES too; the query's own win
    form, default, named = None, [], []
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "backslash":
            raise SparqlError(400, f"query syntax error at character {tok.pos + 1}: a backslash outside a string, "
                                   "an IRI or a prefixed name")
        if tok.kind != "word":
            i += 1
            continue
        word = tok.text.upper()
        after = toks[i + 1] if i + 1 < len(toks) else None
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
              and i + 2 < len(toks) and toks[i + 2].kind == "iri"):
            prefixes[after.text[:-1]] = _resolve(toks[i + 2].text, base)
            i += 2
        elif word == "FROM":
            is_named = after is not None and after.kind == "word" and after.text.upper() == "NAMED"
            j = i + 2 if is_named else i + 1
            keyword = "FROM NAMED" if is_named else "FROM"
            graph = toks[j] if j < len(toks) else None
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
    return Plan(text, form, tuple(default), tuple(named))


_plans: "OrderedDict[tuple, Plan]" = OrderedDict()
_plans_lock = threading.Lock()
_PLAN_CACHE_SIZE = 1024


def prepare(target: Target, req: Request, limits: Limits) -> Plan:
    """Screen, gate and negotiate, all in this process and without a parser: every refusal
    (400, 406, 413) happens here, before any engine sees the query."""
    # The scan is a pure function of these; a text seen before (a named query, a UI's
    # repeated query) is not scanned again. Refusals raise, so only passes are kept.
    key = (req.query, req.base_iri, target.graph_names, limits.max_query_chars, limits.max_depth)
    with _plans_lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
    if plan is None:
        text, toks = _screened(req.query, limits, "query")
        plan = gate(text, target.graph_names, req.base_iri, toks)
        with _plans_lock:
            _plans[key] = plan
            while len(_plans) > _PLAN_CACHE_SIZE:
                _plans.popitem(last=False)
    if plan.family is None:
        return plan
    try:
        fmt = formats.choose(plan.family, req.accept, req.format)
    except formats.NotAcceptable as exc:
        raise SparqlError(406, str(exc)) from None
    return Plan(plan.query, plan.form, plan.from_default, plan.from_named, fmt)


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


# -- 4. evaluation and limits (inside a query process) --------------------------------

def _dataset_arguments(target: Target, job: dict) -> dict:
    """pyoxigraph's dataset arguments. Protocol parameters win over FROM (SPARQL 1.1 Protocol 2.1.4);
    with neither, the default graph is the union of the named graphs."""
    default, named = (job["default_graphs"], job["named_graphs"]) if (job["default_graphs"] or job["named_graphs"]) \
        else (job["from_default"], job["from_named"])
    if not default and not named:
        return {"use_default_graph_as_union": True} if target.union_default else {}
    # Graphs we do not hold are simply empty here: nothing is ever fetched.
    return {"default_graph": [ox.NamedNode(g) for g in default] or ox.DefaultGraph(),
            "named_graphs": [ox.NamedNode(g) for g in named]}


_FORMATS = {f.name: f for f in formats.TABULAR + formats.GRAPH}


def _job(plan: Plan, req: Request, limits: Limits) -> dict:
    """What a query process needs, as JSON (it crosses a process boundary)."""
    return {"query": plan.query, "form": plan.form, "format": plan.format.name if plan.format else None,
            "accept": req.accept, "format_param": req.format, "base_iri": req.base_iri,
            "default_graphs": list(req.default_graphs), "named_graphs": list(req.named_graphs),
            "from_default": list(plan.from_default), "from_named": list(plan.from_named),
            "max_rows": limits.max_rows, "max_bytes": limits.max_bytes}


def _evaluate(target: Target, job: dict) -> tuple[dict, bytes]:
    try:
        answer = target.store.query(job["query"], base_iri=job["base_iri"], prefixes=PREFIXES,
                                    **_dataset_arguments(target, job))
    except SyntaxError as exc:
        raise SparqlError(400, syntax_message(exc, job["query"])) from None
    if isinstance(answer, ox.QueryBoolean):
        form, family = "ASK", "tabular"
    elif isinstance(answer, ox.QuerySolutions):
        form, family = "SELECT", "tabular"
    else:
        form, family = (job["form"] if job["form"] in ("CONSTRUCT", "DESCRIBE") else "CONSTRUCT"), "graph"
    fmt = _FORMATS.get(job["format"])
    if fmt is None or fmt not in formats.family_formats(family):  # the scan did not know the form
        try:
            fmt = formats.choose(family, job["accept"], job["format_param"])
        except formats.NotAcceptable as exc:
            raise SparqlError(406, str(exc)) from None
    max_rows, max_bytes = job["max_rows"], job["max_bytes"]
    header = {"status": 200, "content_type": fmt.content_type, "form": form, "rows": 0, "truncated": None}
    if isinstance(answer, ox.QueryBoolean):
        return header, formats.boolean_result(fmt, bool(answer))
    if isinstance(answer, ox.QuerySolutions):
        writer = formats.TableWriter(fmt, [v.value for v in answer.variables], max_bytes)
        for solution in answer:
            if writer.rows >= max_rows:
                header["truncated"] = "rows"
                break
            if not writer.add(solution):
                header["truncated"] = "bytes"
                break
        header["rows"] = writer.rows
        return header, writer.finish()
    triples = []
    for triple in answer:
        if len(triples) >= max_rows:
            header["truncated"] = "rows"
            break
        triples.append(triple)
    body = formats.graph_result(fmt, triples)
    while len(body) > max_bytes and triples:
        header["truncated"] = "bytes"
        triples = triples[: int(len(triples) * max_bytes / len(body) * 0.9)]
        body = formats.graph_result(fmt, triples)
    header["rows"] = len(triples)
    return header, body


def _outcome(job) -> tuple[dict, bytes]:
    """``job()``'s (header, body), or a header describing why it failed."""
    try:
        return job()
    except SparqlError as exc:
        return {"status": exc.status, "message": exc.message}, b""
    except MemoryError:  # the heap may be in pieces now: this process retires after answering
        return {"status": 503, "message": "the query needed more memory than a query may use", "retire": True}, b""
    except Exception as exc:  # an engine error on a client's query: say what it was
        return {"status": 400, "message": f"the query could not be evaluated: {exc}"}, b""


# -- 3. query processes ---------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
_FRAME = struct.Struct(">IQ")  # header length, body length
_SIZE_SLACK = 1 << 16
WORKER_MAX_JOBS = 1000  # then a worker is replaced, so no slow growth lasts


def isolate_network() -> bool:
    """Move this (single-threaded, forked) process into an empty network namespace."""
    unshare = getattr(os, "unshare", None)
    for flags in (CLONE_NEWNET, CLONE_NEWUSER | CLONE_NEWNET):
        try:
            if unshare:
                unshare(flags)
                return True
            if _libc.unshare(flags) == 0:
                return True
        except OSError:
            continue
    return False


def _limit_memory(extra_mb: int) -> None:
    try:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * resource.getpagesize()
        cap = current + extra_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (OSError, ValueError):
        pass  # no /proc or no permission: the deadline still holds


def _become_query_process(keep_fd: int, memory_mb: int, network: bool = False) -> None:
    """First thing in a forked child: default signals, no descriptor but its own channel
    (not the server's sockets, and not other workers' channels, whose end-of-file must
    reach them when the server goes), no network, capped memory.

    ``network=True`` only for an engine that is itself a remote store (``bpkg serve
    --store``): the gate has already refused SERVICE, LOAD and foreign FROM, so the one
    host such a worker talks to is the store."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, max(keep_fd + 2, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
    if not network:
        isolate_network()
    _limit_memory(memory_mb)


class _Deadline(Exception):
    pass


class _TooLarge(Exception):
    pass


def _write_frame(fd: int, header: dict, body: bytes = b"") -> None:
    head = json.dumps(header).encode()
    for part in (_FRAME.pack(len(head), len(body)) + head, body):
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    """``n`` bytes from ``fd`` (None at end of file); past ``deadline`` raises _Deadline."""
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Deadline
            if not select.select([fd], [], [], left)[0]:
                continue
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _read_frame(fd: int, deadline: float | None, max_size: int | None = None) -> tuple[dict, bytes] | None:
    prefix = _read_exact(fd, _FRAME.size, deadline)
    if prefix is None:
        return None
    head_size, body_size = _FRAME.unpack(prefix)
    if max_size is not None and head_size + body_size > max_size + _SIZE_SLACK:  # the worker caps itself: a backstop
        raise _TooLarge
    head = _read_exact(fd, head_size, deadline)
    body = _read_exact(fd, body_size, deadline) if body_size else b""
    if head is None or body is None:
        return None
    return json.loads(head), body


def _how_it_ended(status: int | None) -> str:
    if status is None:
        return "it stopped answering"
    return f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"


def _crashed(status: int | None) -> SparqlError:
    # We only SIGKILL at a deadline, and that path answers before reaching here: a SIGKILL
    # seen here came from outside (an operator, the OOM killer), so the query is not to blame.
    if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return SparqlError(503, "the query worker was stopped from outside while answering; "
                                "the server is unaffected, try again")
    return SparqlError(400, f"the query engine failed on this query ({_how_it_ended(status)}); the server itself is "
                            "unaffected. Simplify the query or narrow it down.")


def _reap(pid: int, grace: float = 0.0) -> int | None:
    """Wait for ``pid``; SIGKILL it if it has not ended within ``grace`` seconds."""
    end = time.monotonic() + grace
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            if time.monotonic() >= end:
                os.kill(pid, signal.SIGKILL)
                return os.waitpid(pid, 0)[1]
            time.sleep(0.005)
    except (ChildProcessError, ProcessLookupError):
        return None


def _reap_later(pid: int) -> None:
    # Unmapping a large forked address space takes milliseconds; don't make the client wait.
    threading.Thread(target=_reap, args=(pid,), daemon=True).start()


# One-shot: a child per job (the CLI, the update sandbox's changing store, tests).

_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _slot(limits: Limits) -> threading.BoundedSemaphore:
    with _slots_lock:
        return _slots.setdefault(limits.max_workers, threading.BoundedSemaphore(limits.max_workers))


def run_isolated(job, limits: Limits) -> tuple[dict, bytes]:
    """Run ``job()`` (returns (header dict, body bytes)) in a forked child without network,
    under the deadline; raises SparqlError 503 at the deadline, 400 if the child dies."""
    slot = _slot(limits)
    deadline = time.monotonic() + limits.timeout
    if not slot.acquire(timeout=limits.timeout):
        raise SparqlError(503, f"the server is busy ({limits.max_workers} queries running); try again shortly")
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                _become_query_process(write_fd, limits.memory_mb)
                _write_frame(write_fd, *_outcome(job))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        try:
            frame = _read_frame(read_fd, deadline, limits.max_bytes)
        except _Deadline:
            os.kill(pid, signal.SIGKILL)
            _reap_later(pid)
            raise SparqlError(503, f"the query was stopped at its deadline of {limits.timeout:g} s") from None
        except _TooLarge:
            os.kill(pid, signal.SIGKILL)
            _reap_later(pid)
            raise SparqlError(503, "the response grew past the size limit") from None
        finally:
            os.close(read_fd)
        if frame is None:
            raise _crashed(_reap(pid, grace=1.0))
        _reap_later(pid)
        return frame
    finally:
        slot.release()


# Pooled: long-lived workers forked from the loaded server (the web endpoint).

@dataclass(eq=False)
class _Worker:
    pid: int
    channel: socket.socket
    jobs: int = 0

    @property
    def fd(self) -> int:
        return self.channel.fileno()

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False


def _worker_loop(fd: int, target: Target) -> None:
    """A worker's life: read a job, answer it, until the server closes the channel."""
    served = 0
    while True:
        frame = _read_frame(fd, None)
        if frame is None:
            return
        job, _ = frame
        header, body = _outcome(lambda: _evaluate(target, job))
        served += 1
        if served >= WORKER_MAX_JOBS:
            header["retire"] = True
        _write_frame(fd, header, body)
        if header.get("retire"):
            return


class WorkerPool:
    """Up to ``size`` long-lived query processes for one read-only store.

    A worker is forked when one is needed and none is idle (``start()`` forks them all
    up front, before a threaded server starts), each isolated once (network, memory,
    descriptors). A request takes an idle worker, waiting at most until its deadline
    (then 503); at the deadline the worker is killed and a replacement forked in the
    background; a worker that dies costs only the request it was running. Workers end
    with the server: ``close()`` (also at exit) kills them by PID, and a worker whose
    channel reaches end of file (the server died) exits by itself.

    The store must not change after the pool is made: workers see it as it was at fork.
    """

    def __init__(self, target: Target, size: int, memory_mb: int):
        self.target, self.size, self.memory_mb = target, max(1, size), memory_mb
        self.owner = os.getpid()
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: dict[int, _Worker] = {}
        self._starting = 0
        self.closed = False

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return sorted(self._all)

    def start(self) -> "WorkerPool":
        while self._reserve():
            self._add(idle=True)
        return self

    def run(self, job: dict, limits: Limits) -> tuple[dict, bytes]:
        deadline = time.monotonic() + limits.timeout
        for _ in range(3):
            worker = self._acquire(deadline)
            try:
                _write_frame(worker.fd, job)
            except OSError:  # it died while idle: not this query's doing, try another
                self._discard(worker, kill=True)
                continue
            return self._reply(worker, deadline, limits)
        raise SparqlError(503, "no query worker could be started; try again shortly")

    def close(self) -> None:
        if self.owner != os.getpid():  # a copy inherited through fork: the workers are not ours
            return
        with self._cond:
            self.closed = True
            workers = list(self._all.values())
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            worker.channel.close()
        for worker in workers:
            _reap(worker.pid)

    # -- internals

    def _reply(self, worker: _Worker, deadline: float, limits: Limits) -> tuple[dict, bytes]:
        try:
            frame = _read_frame(worker.fd, deadline, limits.max_bytes)
        except _Deadline:
            self._discard(worker, kill=True)
            raise SparqlError(503, f"the query was stopped at its deadline of {limits.timeout:g} s") from None
        except _TooLarge:
            self._discard(worker, kill=True)
            raise SparqlError(503, "the response grew past the size limit") from None
        except BaseException:  # the worker is mid-answer: it cannot serve anyone else
            self._discard(worker, kill=True)
            raise
        if frame is None:
            self._discard(worker, kill=False, reap_later=False)
            raise _crashed(_reap(worker.pid, grace=1.0))
        header, body = frame
        if header.pop("retire", False):  # it exits by itself after this answer
            self._discard(worker, kill=False)
        else:
            self._release(worker)
        return header, body

    def _reserve(self) -> bool:
        """Claim the right to fork one more worker (False when the pool is full or closed)."""
        with self._cond:
            if self.closed or len(self._all) + self._starting >= self.size:
                return False
            self._starting += 1
            return True

    def _add(self, idle: bool) -> _Worker | None:
        """Fork a worker for a reservation; idle=True puts it in the idle list."""
        try:
            worker = self._spawn()
        except OSError:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            return None
        with self._cond:
            self._starting -= 1
            if self.closed:
                os.kill(worker.pid, signal.SIGKILL)
                _reap_later(worker.pid)
                worker.channel.close()
                return None
            self._all[worker.pid] = worker
            if idle:
                self._idle.append(worker)
                self._cond.notify()
        return worker

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                _become_query_process(theirs.fileno(), self.memory_mb,
                                      network=getattr(self.target.store, "needs_network", False))
                _worker_loop(theirs.fileno(), self.target)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        return _Worker(pid, ours)

    def _acquire(self, deadline: float) -> _Worker:
        with self._cond:
            while True:
                if self.closed:
                    raise SparqlError(503, "the server is shutting down")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    self._all.pop(worker.pid, None)
                    worker.channel.close()
                if len(self._all) + self._starting < self.size:
                    self._starting += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SparqlError(503, f"the server is busy ({self.size} queries running); try again shortly")
                self._cond.wait(left)
        worker = self._add(idle=False)
        if worker is None:
            raise SparqlError(503, "no query worker could be started; try again shortly")
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if worker.pid in self._all:
                self._idle.append(worker)
                self._cond.notify()

    def _discard(self, worker: _Worker, kill: bool, reap_later: bool = True) -> None:
        """Forget a worker (killing it if asked) and fork its replacement in the background."""
        with self._cond:
            self._all.pop(worker.pid, None)
            self._cond.notify()
        if kill:
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        worker.channel.close()
        if reap_later:
            _reap_later(worker.pid)
        threading.Thread(target=self._refill, daemon=True).start()

    def _refill(self) -> None:
        while self._reserve():
            if self._add(idle=True) is None:
                return


_pools: "OrderedDict[int, WorkerPool]" = OrderedDict()
_pools_lock = threading.Lock()
_MAX_POOLS = 4  # one per store served; more only in tests that build several graphs


def worker_pool(target: Target, limits: Limits) -> WorkerPool:
    """The worker pool of this process for ``target``'s store (made on first use)."""
    key = id(target.store)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None and pool.owner == os.getpid() and pool.target.store is target.store and not pool.closed:
            _pools.move_to_end(key)
            return pool
        pool = _pools[key] = WorkerPool(target, limits.max_workers, limits.memory_mb)
        evicted = [_pools.popitem(last=False)[1] for _ in range(len(_pools) - _MAX_POOLS)]
    for old in evicted:
        old.close()
    return pool


def shutdown_pools() -> None:
    """Stop every worker this process forked (at exit, and in tests' teardown)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


atexit.register(shutdown_pools)


# -- running a query ----------------------------------------------------------------------

def run(target: Target, plan: Plan, req: Request, limits: Limits, pool: WorkerPool | None = None) -> Result:
    """Evaluate a prepared query in a query process: a pool's worker, or a one-shot child."""
    job = _job(plan, req, limits)
    if pool is None:
        header, body = run_isolated(lambda: _evaluate(target, job), limits)
    else:
        header, body = pool.run(job, limits)
    if header["status"] != 200:
        raise SparqlError(header["status"], header["message"])
    return Result(body, header["content_type"], header["form"], header["rows"], header["truncated"])


def execute(target: Target, req: Request, limits: Limits = Limits(), pool: WorkerPool | None = None) -> Result:
    """Run one read-only query safely; raises :class:`SparqlError` with an HTTP status."""
    return run(target, prepare(target, req, limits), req, limits, pool)


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
    nodes = list(_walk(tree, CompValue))
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


def _walk(node, comp_value):
    """Every CompValue in an rdflib parse tree."""
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
