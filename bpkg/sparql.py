"""The one safe SPARQL executor, used by the web endpoint and the CLI alike.

A query goes through, in this order:

1. **screen** (in the server process, cheap): unicode escapes expanded as the spec says,
   then a length cap and a nesting-depth cap. Measured: a 12 kB deeply nested query
   segfaults pyoxigraph, so nothing deep reaches any parser.
2. a **forked child** with its network namespace unshared (no interface, not even
   loopback, where the kernel allows it), an address-space limit, and a SIGKILL at the
   deadline. Threads cannot be stopped in Python and Oxigraph ignores timeouts for some
   queries; a process can always be killed, and an engine crash costs one request.
3. in the child, the **gate**: rdflib's parser (parse only, never rdflib's evaluator)
   must accept the text, which must be a query (updates are refused), contain no
   ``SERVICE`` anywhere, and name in ``FROM``/``FROM NAMED`` only graphs the dataset
   holds. Only then does pyoxigraph run it.
4. **limits** while serialising: a row cap and a byte cap, reported, never a broken
   document.

Updates exist only for the explicitly enabled test sandbox (:func:`run_update`); they
never touch the bundled graph.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import select
import signal
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import pyoxigraph as ox
from pyparsing import ParseException
from rdflib.plugins.sparql.parser import expandUnicodeEscapes, parseQuery, parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue

from . import formats
from .namespaces import PREFIXES


@dataclass(frozen=True)
class Limits:
    timeout: float = 5.0  # seconds per query, parse included
    max_rows: int = 10_000  # solutions (SELECT) or triples (CONSTRUCT/DESCRIBE)
    max_bytes: int = 16 * 1024 * 1024  # serialised response
    max_query_chars: int = 20_000
    max_depth: int = 40  # nested { ( [
    memory_mb: int = 2048  # extra address space a query child may use
    max_workers: int = 4  # query children at once; more wait, then get 503

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


# -- 1. screen ------------------------------------------------------------------------

_IRIREF = re.compile(r'<[^<>"{}|^`\\\x00-\x20]*>')
_STRING = re.compile(r"'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^\"\\]|\\.|\"(?!\"\"))*\"\"\"|'(?:[^'\\\n\r]|\\.)*'|\"(?:[^\"\\\n\r]|\\.)*\"", re.S)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def tokens(text: str):
    """(position, token, depth) for the structure of ``text``: words and brackets.

    Strings, IRIs and comments are skipped, so a ``{`` inside a literal does not count.
    """
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif c in "'\"":
            m = _STRING.match(text, i)
            i = m.end() if m else i + 1
        elif c == "<" and (m := _IRIREF.match(text, i)):
            i = m.end()
        elif c in "{([":
            depth += 1
            yield i, c, depth
            i += 1
        elif c in "})]":
            yield i, c, depth
            depth -= 1
            i += 1
        elif c.isalpha() or c == "_":
            m = _WORD.match(text, i)
            yield i, m.group(), depth
            i = m.end()
        elif c in "?$:":  # variables and prefixed names are not keywords
            m = _WORD.match(text, i + 1)
            i = m.end() if m else i + 1
        else:
            i += 1


def screen(text: str, limits: Limits, what: str = "query") -> str:
    """The cheap checks before any parser: returns the text with escapes expanded."""
    if len(text) > limits.max_query_chars:
        raise SparqlError(413, f"the {what} is {len(text)} characters long; the limit is {limits.max_query_chars}")
    text = expandUnicodeEscapes(text)
    if not text.strip():
        raise SparqlError(400, f"the {what} is empty")
    deepest = max((d for _, t, d in tokens(text) if t in "{(["), default=0)
    if deepest > limits.max_depth:
        raise SparqlError(400, f"the {what} nests brackets {deepest} deep; the limit is {limits.max_depth}")
    return text


# -- 3. gate --------------------------------------------------------------------------

def _walk(node):
    """Every CompValue in an rdflib parse tree."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, CompValue):
            yield item
            stack.extend(item.values())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)) or type(item).__name__ == "ParseResults":
            stack.extend(item)


def syntax_message(exc: ParseException, text: str, what: str) -> str:
    line = text.splitlines()[exc.lineno - 1] if exc.lineno - 1 < len(text.splitlines()) else ""
    found = repr(text[exc.loc:exc.loc + 20]) if exc.loc < len(text) else "the end of the text"
    return (f"{what} syntax error at line {exc.lineno}, column {exc.col}: unexpected {found} "
            f"({exc.msg})\n  {line}\n  {' ' * (exc.col - 1)}^")


def _field(node: CompValue, name: str):
    """A parse-tree field or None (CompValue.get returns the key itself when absent)."""
    return node[name] if name in node else None


def _refuse_service(tree) -> None:
    if any(c.name == "ServiceGraphPattern" for c in _walk(tree)):
        raise SparqlError(400, "SERVICE is not allowed: this endpoint never contacts other services "
                               "on a query's behalf")


def gate(text: str, graph_names: frozenset[str]) -> tuple[str, list[str], list[str]]:
    """Parse and check a query; returns (form, FROM graphs, FROM NAMED graphs)."""
    try:
        tree = parseQuery(text)
    except ParseException as exc:
        try:
            parseUpdate(text)
        except ParseException:
            raise SparqlError(400, syntax_message(exc, text, "query")) from None
        raise SparqlError(400, "this is a SPARQL Update; the endpoint is read-only and refuses updates "
                               "(LOAD, INSERT, DELETE, CLEAR, DROP, ...)") from None
    except RecursionError:
        raise SparqlError(400, "the query is too deeply nested to parse") from None
    query = tree[1]
    _refuse_service(tree)
    default, named = [], []
    for clause in _field(query, "datasetClause") or []:
        is_default = "default" in clause
        iri = str(clause["default"] if is_default else clause["named"])
        if iri not in graph_names:
            keyword = "FROM" if is_default else "FROM NAMED"
            raise SparqlError(400, f"{keyword} <{iri}> names a graph that is not in this dataset; the endpoint "
                                   "never fetches graphs from elsewhere (the service description lists the graphs)")
        (default if is_default else named).append(iri)
    return query.name.removesuffix("Query").upper(), default, named


# -- 2. the child process -------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


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


def _slot(limits: Limits) -> threading.BoundedSemaphore:
    with _slots_lock:
        return _slots.setdefault(limits.max_workers, threading.BoundedSemaphore(limits.max_workers))


def _in_child(write_fd: int, job) -> None:
    """Run ``job()`` (returns (header dict, body bytes)) and send its outcome; never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            header, body = job()
        except SparqlError as exc:
            header, body = {"status": exc.status, "message": exc.message}, b""
        except MemoryError:
            header, body = {"status": 503, "message": "the query needed more memory than a query may use"}, b""
        except Exception as exc:  # an engine error on a client's query: say what it was
            header, body = {"status": 400, "message": f"the query could not be evaluated: {exc}"}, b""
        data = json.dumps(header).encode() + b"\n" + body
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
        os.close(write_fd)  # EOF now: the parent need not wait for this process's teardown
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def run_isolated(job, limits: Limits) -> tuple[dict, bytes]:
    """Run ``job`` in a forked child without network, under the deadline."""
    slot = _slot(limits)
    started = time.monotonic()
    if not slot.acquire(timeout=limits.timeout):
        raise SparqlError(503, f"the server is busy ({limits.max_workers} queries running); try again shortly")
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            isolate_network()
            _limit_memory(limits.memory_mb)
            _in_child(write_fd, job)
        os.close(write_fd)
        return _collect(pid, read_fd, started + limits.timeout, limits)
    finally:
        slot.release()


def _collect(pid: int, read_fd: int, deadline: float, limits: Limits) -> tuple[dict, bytes]:
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise SparqlError(503, f"the query was stopped at its deadline of {limits.timeout:g} s")
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > limits.max_bytes + (1 << 16):  # the child caps itself; this is a backstop
                os.kill(pid, signal.SIGKILL)
                raise SparqlError(503, "the response grew past the size limit")
            chunks.append(chunk)
    except BaseException:
        os.close(read_fd)
        os.waitpid(pid, 0)
        raise
    os.close(read_fd)
    data = b"".join(chunks)
    head, sep, body = data.partition(b"\n")
    if sep:
        # Unmapping a large forked address space takes milliseconds; don't make the client wait.
        threading.Thread(target=os.waitpid, args=(pid, 0), daemon=True).start()
    else:
        _, status = os.waitpid(pid, 0)
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"
        raise SparqlError(400, f"the query engine failed on this query ({how}); the server itself is unaffected. "
                               "Simplify the query or narrow it down.")
    return json.loads(head), body


# -- 4. evaluation and limits ---------------------------------------------------------

@dataclass
class Request:
    """One query as the protocol gives it."""

    query: str
    accept: str | None = None
    format: str | None = None
    default_graphs: list[str] = field(default_factory=list)
    named_graphs: list[str] = field(default_factory=list)
    base_iri: str | None = None


def _dataset_arguments(target: Target, req: Request, from_default: list[str], from_named: list[str]) -> dict:
    """pyoxigraph's dataset arguments. Protocol parameters win over FROM (SPARQL 1.1 Protocol 2.1.4);
    with neither, the default graph is the union of the named graphs."""
    default, named = (req.default_graphs, req.named_graphs) if (req.default_graphs or req.named_graphs) \
        else (from_default, from_named)
    if not default and not named:
        return {"use_default_graph_as_union": True} if target.union_default else {}
    # Graphs we do not hold are simply empty here: nothing is ever fetched.
    return {"default_graph": [ox.NamedNode(g) for g in default] or ox.DefaultGraph(),
            "named_graphs": [ox.NamedNode(g) for g in named]}


_gate_cache: "OrderedDict[tuple[str, frozenset[str]], tuple[str, list[str], list[str]]]" = OrderedDict()
_GATE_CACHE_SIZE = 512


def _evaluate(target: Target, req: Request, limits: Limits, checked=None) -> tuple[dict, bytes]:
    form, from_default, from_named = checked or gate(req.query, target.graph_names)
    family = "graph" if form in ("CONSTRUCT", "DESCRIBE") else "tabular"
    try:
        fmt = formats.choose(family, req.accept, req.format)
    except formats.NotAcceptable as exc:
        raise SparqlError(406, str(exc)) from None
    try:
        answer = target.store.query(req.query, base_iri=req.base_iri, prefixes=PREFIXES,
                                    **_dataset_arguments(target, req, from_default, from_named))
    except SyntaxError as exc:  # rdflib accepted what Oxigraph does not
        raise SparqlError(400, f"query syntax error: {exc}") from None
    header = {"status": 200, "content_type": fmt.content_type, "form": form, "rows": 0, "truncated": None,
              "gate": [form, from_default, from_named]}
    if isinstance(answer, ox.QueryBoolean):
        return header, formats.boolean_result(fmt, bool(answer))
    if isinstance(answer, ox.QuerySolutions):
        writer = formats.TableWriter(fmt, [v.value for v in answer.variables], limits.max_bytes)
        for solution in answer:
            if writer.rows >= limits.max_rows:
                header["truncated"] = "rows"
                break
            if not writer.add(solution):
                header["truncated"] = "bytes"
                break
        header["rows"] = writer.rows
        return header, writer.finish()
    triples = []
    for triple in answer:
        if len(triples) >= limits.max_rows:
            header["truncated"] = "rows"
            break
        triples.append(triple)
    body = formats.graph_result(fmt, triples)
    while len(body) > limits.max_bytes and triples:
        header["truncated"] = "bytes"
        triples = triples[: int(len(triples) * limits.max_bytes / len(body) * 0.9)]
        body = formats.graph_result(fmt, triples)
    header["rows"] = len(triples)
    return header, body


def execute(target: Target, req: Request, limits: Limits = Limits()) -> Result:
    """Run one read-only query safely; raises :class:`SparqlError` with an HTTP status."""
    req.query = screen(req.query, limits)
    # rdflib's parser takes 10-300 ms per query; a text that passed the gate once (against
    # the same graph names) passes again, so repeated queries skip the parse.
    key = (req.query, target.graph_names)
    checked = _gate_cache.get(key)
    header, body = run_isolated(lambda: _evaluate(target, req, limits, checked), limits)
    if header["status"] != 200:
        raise SparqlError(header["status"], header["message"])
    with _slots_lock:
        _gate_cache[key] = tuple(header["gate"])
        _gate_cache.move_to_end(key)
        while len(_gate_cache) > _GATE_CACHE_SIZE:
            _gate_cache.popitem(last=False)
    return Result(body, header["content_type"], header["form"], header["rows"], header["truncated"])


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
    stay refused: even the test instance fetches nothing."""
    text = screen(text, limits, "update")
    try:
        tree = parseUpdate(text)
    except ParseException as exc:
        raise SparqlError(400, syntax_message(exc, text, "update")) from None
    except RecursionError:
        raise SparqlError(400, "the update is too deeply nested to parse") from None
    _refuse_service(tree)
    operations = list(_field(tree, "request") or [])
    if any(op.name == "Load" for op in operations):
        raise SparqlError(400, "LOAD is not allowed: this endpoint never fetches data from elsewhere")
    if using or using_named:
        if any(_field(op, "using") or _field(op, "withClause") for op in operations):
            raise SparqlError(400, "using-graph-uri/using-named-graph-uri cannot be combined with USING or WITH "
                                   "in the update (SPARQL 1.1 Protocol 2.2.3)")
        text = _inject_using(text, list(using), list(using_named))
    try:
        with _update_lock:
            store.update(text, base_iri=base_iri, prefixes=PREFIXES)
    except (SyntaxError, OSError, ValueError) as exc:
        raise SparqlError(400, f"the update failed: {exc}") from None
