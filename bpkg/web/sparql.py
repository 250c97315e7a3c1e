"""The SPARQL 1.1 Protocol endpoint, its service description and the YASGUI page.

``/sparql`` is read-only and serves the bundled graph. ``/sandbox/<token>/sparql`` exists
only when the app is configured with ``SPARQL_UPDATE_ENABLED`` *and* a
``SPARQL_UPDATE_TOKEN``: it accepts SPARQL Update into a separate, initially empty
store (for the W3C protocol suite), never into the bundled graph.

Statuses: 400 bad query or parameters or an update (refused), 406 no acceptable format,
413 request or query too large, 415 wrong media type or charset, 503 query stopped at
its deadline (or server busy). Error bodies are plain text; never a stack trace.

Queries on the bundled graph run in the app's pool of query workers
(:class:`bpkg.sparql.WorkerPool`) and go through the result cache (:mod:`bpkg.cache`):
a result is kept under (query text, bindings, media type, dataset version, row and size
limits), answered with an ``ETag``, and a matching ``If-None-Match`` gets 304 without
running anything. A result cut at a limit is kept too, with its ``X-BPKG-Truncated``
mark: the same query on the same data and limits is cut the same way, and repeating it
must not cost the engine the whole evaluation again. Errors are never cached.
"""

from __future__ import annotations

import hmac
import re
import threading
from pathlib import Path
from typing import NamedTuple

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, render_template, request, send_from_directory
from werkzeug.exceptions import RequestEntityTooLarge

from .. import __version__, formats
from ..cache import SharedResultCache, cache_key, etag, not_modified
from ..namespaces import PREFIXES, sparql_prologue
from ..settings import published
from ..sparql import (Admission, Limits, Request, SparqlError, Target, execute, known_decision, run, run_update,
                      worker_pool)
from . import hygiene

bp = Blueprint("sparql", __name__)

SD = "http://www.w3.org/ns/sparql-service-description#"
VOID = PREFIXES["void"]
RDF_TYPE = ox.NamedNode(PREFIXES["rdf"] + "type")
# Limits have no standard vocabulary; these service-local terms name them (see README).
SVC = "https://w3id.org/bpkg/service#"
HTML = formats.HTML
# CORS: what every answer carries, and what only a preflight (OPTIONS) needs.
CORS_ANSWER = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, X-BPKG-Truncated, X-BPKG-Row-Limit, X-BPKG-Dataset-Version, X-BPKG-Cache",
}
CORS = {**CORS_ANSWER, "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Accept", "Access-Control-Max-Age": "86400"}
_sandbox_lock = threading.Lock()
_state_lock = threading.Lock()


def _setting(name: str):
    return current_app.config[name]


class Serving:
    """What answering a query needs from the app, looked up once, not per request: the
    limits, the result cache, the query slots, and the target and worker pool of the
    dataset served now (both change only when the dataset does)."""

    def __init__(self, app):
        from .fronts import result_cache, running, share_of, slots

        self.app = app
        self.limits = Limits.from_config(app.config)
        self.cache = result_cache(app)  # the server's, whichever front computed the result
        self.shared = isinstance(self.cache, SharedResultCache)
        shared = slots(app)  # the server's, whichever front takes them
        self.admission = Admission(self.limits, shared["quick"], shared["long"], shared["waiting"])
        self.pooled = bool(app.config.get("SPARQL_POOL"))
        # Each front may run every quick slot of the server, but keeps forked only its share:
        # the idle processes of all fronts together stay as many as one server's.
        self.prefork = share_of(self.limits.max_workers, running(app.config))
        self._served = (None, None, None)  # (kg, target, pool)

    def dataset(self):
        """(kg, target, pool) for the dataset served now: the bundled graph and any
        accepted submissions (:mod:`bpkg.submissions`)."""
        kg = self.app.extensions["bpkg"]
        served = self._served
        if served[0] is not kg:
            target = Target.of(kg)
            served = self._served = (kg, target, worker_pool(target, self.limits, self.prefork) if self.pooled else None)
        return served


def serving(app=None) -> Serving:
    app = app or current_app._get_current_object()
    state = app.extensions.get("bpkg-serving")
    if state is None:
        with _state_lock:
            state = app.extensions.setdefault("bpkg-serving", Serving(app))
    return state


def limits() -> Limits:
    return serving().limits


def start_workers(app) -> None:
    """Fork the query workers now, from the loaded, still single-threaded server."""
    from ..sparql import decide

    decide("ASK { GRAPH ?g {} }", frozenset())  # the gate's parser, imported once here and shared by every worker
    pool = serving(app).dataset()[2]
    if pool is not None:
        pool.start()


def restart_workers(app, old_kg, new_kg) -> None:
    """After the served dataset changed: fork workers for the new store now, and stop the
    old store's workers once the queries they may still be running have had their deadline."""
    state = serving(app)
    if not state.pooled:
        return
    cap = state.limits
    old = worker_pool(Target.of(old_kg), cap, state.prefork)
    worker_pool(Target.of(new_kg), cap, state.prefork).start()
    timer = threading.Timer(cap.timeout + 1.0, old.close)
    timer.daemon = True
    timer.start()


class Reply(NamedTuple):
    status: int
    headers: dict
    body: bytes


_formats_for: dict = {}


def _negotiated(form: str, accept: str | None, format_param: str | None) -> formats.Format:
    """The result format for a query of ``form`` (kept: clients send few distinct Accept headers)."""
    key = (form in ("CONSTRUCT", "DESCRIBE"), accept, format_param)
    fmt = _formats_for.get(key)
    if fmt is None:
        try:
            fmt = formats.choose("graph" if key[0] else "tabular", accept, format_param)
        except formats.NotAcceptable as exc:
            raise SparqlError(406, str(exc)) from None
        if len(_formats_for) < 256:
            _formats_for[key] = fmt
    return fmt


# The first keyword after the prologue: SELECT, ASK, CONSTRUCT or DESCRIBE.
_FIRST_KEYWORD = re.compile(r"(?:\s+|#[^\n]*|(?:PREFIX\s*[^\s:<>]*:|BASE)\s*<[^<>]*>)*+(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", re.I)


def _media_type_to_look_for(text: str, req: Request) -> str | None:
    """The media type a text this front has not run would be answered in, from the form its
    first keyword says, to look its result up in the cache the fronts share. Only a guess
    (the query process's gate reads the form for real), and a safe one: a result is kept
    under its real form's media type, so a wrong guess finds nothing, and a form the client
    cannot take refuses nothing here: the query runs, and says what is wrong with it."""
    match = _FIRST_KEYWORD.match(text)
    if match is None:
        return None
    try:
        return _negotiated(match.group(1).upper(), req.accept, req.format).media_type
    except SparqlError:
        return None


def answer(state: Serving, req: Request, client: str, if_none_match: str | None = None,
           key_text: str | None = None, bindings: dict | None = None) -> Reply:
    """Answer a read-only query on the served dataset: result cache, query slot, pooled worker.

    ``key_text``/``bindings`` name the result in the cache (a named query's own text and
    its parameter values); by default the query text and the protocol's dataset
    parameters. The key needs the result format, which needs the query form: for a text
    whose form the server has seen (:func:`bpkg.sparql.known_decision` in this front,
    :func:`_media_type_to_look_for` for another front's) the cache and
    ``If-None-Match`` are consulted before anything runs; a text never seen is run, and
    its result kept. Raises SparqlError. Free of Flask: the WSGI fast path calls it too.
    """
    kg, target, pool = state.dataset()
    cap, cache = state.limits, state.cache
    headers = {"X-BPKG-Dataset-Version": kg.version}
    version = f"{kg.version} {cap.max_rows} {cap.max_bytes}"  # what a result depends on, besides the request
    if cache is not None:
        if key_text is None:
            key_text, bindings = req.query, {"default-graph-uri": " ".join(req.default_graphs),
                                             "named-graph-uri": " ".join(req.named_graphs), "base": req.base_iri or ""}
        known = known_decision(target, req)
        if known is not None:
            media_type = _negotiated(known["form"], req.accept, req.format).media_type
        else:
            media_type = _media_type_to_look_for(key_text, req) if state.shared else None
        if media_type is not None:
            key = cache_key(key_text, bindings, media_type, version)
            tag = headers["ETag"] = etag(key)
            if not_modified(if_none_match, tag):
                return Reply(304, headers, b"")
            hit = cache.get(key)
            if hit is not None:
                body, headers["Content-Type"], truncated = hit
                _mark_truncated(headers, truncated, cap)
                headers["X-BPKG-Cache"] = "hit"
                return Reply(200, headers, body)
    with state.admission.slot(client) as go_long:
        result = run(target, req, cap, pool=pool, on_long=go_long)
    headers["Content-Type"] = result.content_type
    _mark_truncated(headers, result.truncated, cap)
    if cache is not None:
        key = cache_key(key_text, bindings, _negotiated(result.form, req.accept, req.format).media_type, version)
        cache.put(key, (result.body, result.content_type, result.truncated))
        headers["ETag"] = etag(key)
        headers["X-BPKG-Cache"] = "miss"
    return Reply(200, headers, result.body)


def _mark_truncated(headers: dict, truncated: str | None, cap: Limits) -> None:
    if truncated:
        headers["X-BPKG-Truncated"] = truncated  # "rows" or "bytes"
        headers["X-BPKG-Row-Limit"] = str(cap.max_rows)


def answer_query(req: Request, key_text: str | None = None, bindings: dict | None = None) -> Response:
    """:func:`answer` for a Flask view (named queries, the analyst's pages). Raises SparqlError."""
    reply = answer(serving(), req, request.remote_addr or "", request.headers.get("If-None-Match"), key_text, bindings)
    content_type = reply.headers.pop("Content-Type", None)
    return Response(reply.body, status=reply.status, content_type=content_type, headers=reply.headers)


def error_response(exc: SparqlError) -> Response:
    """A refusal as plain text; 503 and 429 say when to come back."""
    status, headers, body = error_reply(exc)
    return Response(body, status=status, headers=headers)


def error_reply(exc: SparqlError) -> Reply:
    retry = exc.retry_after if exc.retry_after is not None else 1 if exc.status in (429, 503) else None
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if retry is not None:
        headers["Retry-After"] = str(retry)
    return Reply(exc.status, headers, (exc.message.rstrip() + "\n").encode("utf-8"))


def _text(status: int, message: str, **headers) -> Response:
    return Response(message.rstrip() + "\n", status=status, mimetype="text/plain", headers=headers)


@bp.after_request
def _cors(response: Response) -> Response:
    if request.path.endswith("/sparql"):
        response.headers.update(CORS if request.method == "OPTIONS" else CORS_ANSWER)
        response.headers.add("Vary", "Accept")
    return response


# -- reading a protocol request (a Flask or a plain werkzeug request) ---------------------

def one_value(values: list[str], name: str) -> str | None:
    if len(values) > 1:
        raise SparqlError(400, f"send exactly one '{name}' parameter, not {len(values)}")
    return values[0] if values else None


def _body_text(req) -> str:
    charset = req.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise SparqlError(415, f"the body must be UTF-8 (SPARQL 1.1 Protocol); got charset={charset}")
    try:
        return req.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SparqlError(400, f"the body is not valid UTF-8 (byte {exc.start})") from None


def read_operation(req) -> tuple[str | None, str | None]:
    """('query'|'update'|None, text) from GET, POST form or POST direct."""
    if req.method in ("GET", "HEAD"):  # HEAD: the same answer without its body
        if req.args.getlist("update"):
            raise SparqlError(400, "an update must be sent with POST, never GET")
        return ("query", one_value(req.args.getlist("query"), "query")) if "query" in req.args else (None, None)
    kind = req.mimetype
    if kind == "application/x-www-form-urlencoded":
        query = one_value(req.form.getlist("query"), "query")
        update = one_value(req.form.getlist("update"), "update")
        if query is not None and update is not None:
            raise SparqlError(400, "send either 'query' or 'update', not both")
        if query is None and update is None:
            raise SparqlError(400, "the form has neither a 'query' nor an 'update' field")
        return ("query", query) if query is not None else ("update", update)
    if kind == "application/sparql-query":
        return "query", _body_text(req)
    if kind == "application/sparql-update":
        return "update", _body_text(req)
    if not kind:
        raise SparqlError(400, "a POST needs a Content-Type: application/x-www-form-urlencoded, "
                               "application/sparql-query or application/sparql-update")
    raise SparqlError(415, f"unsupported Content-Type {kind}; use application/x-www-form-urlencoded, "
                           "application/sparql-query or application/sparql-update")


def _values(req, name: str) -> list[str]:
    return req.args.getlist(name) + (req.form.getlist(name) if req.mimetype.endswith("urlencoded") else [])


def format_parameter(values: list[str]) -> str | None:
    """The first ``format=`` value we understand (SPARQLWrapper may send several)."""
    known = [v for v in values if v.strip().lower() in formats.KNOWN_FORMAT_NAMES or "/" in v]
    return (known or values or [None])[0]


def query_request(req, text: str) -> Request:
    return Request(query=text, accept=req.headers.get("Accept"), format=format_parameter(_values(req, "format")),
                   default_graphs=_values(req, "default-graph-uri"), named_graphs=_values(req, "named-graph-uri"),
                   base_iri=req.base_url)


def refuse_update() -> None:
    raise SparqlError(400, "this endpoint is read-only: SPARQL Update is refused "
                           "(the bundled graph changes only through reviewed files)")


# -- the endpoints ----------------------------------------------------------------------

@bp.route("/sparql", methods=["GET", "POST", "OPTIONS"])
def endpoint():
    """Queries are answered by :class:`bpkg.web.query_path.QueryPath` before Flask sees
    them; what reaches this view is the service description, OPTIONS, and whatever a
    test client sends past the WSGI stack."""
    return _serve(serving().dataset()[1], sandbox=None)


@bp.route("/sandbox/<token>/sparql", methods=["GET", "POST", "OPTIONS"])
def sandbox_endpoint(token: str):
    expected = _setting("SPARQL_UPDATE_TOKEN")
    if not (_setting("SPARQL_UPDATE_ENABLED") and expected and len(expected) >= 16):
        return _text(404, "not found")
    throttled = hygiene.auth_throttled()
    if throttled is not None:
        return throttled
    if not hmac.compare_digest(token.encode(), str(expected).encode()):
        hygiene.auth_failed("sandbox")
        return _text(404, "not found")
    store = sandbox_store()
    names = frozenset(g.value for g in store.named_graphs() if isinstance(g, ox.NamedNode))
    return _serve(Target(store, names, union_default=False), sandbox=store)


def sandbox_store() -> ox.Store:
    with _sandbox_lock:
        return current_app.extensions.setdefault("bpkg-sandbox", ox.Store())


def _serve(target: Target, sandbox: ox.Store | None) -> Response:
    if request.method == "OPTIONS":
        return Response(status=204)
    request.max_content_length = _setting("SPARQL_MAX_REQUEST_BYTES") * (4 if sandbox is not None else 1)
    try:
        kind, text = read_operation(request)
        if kind is None:
            return service_description(target, sandbox is not None)
        if kind == "update":
            return _update(sandbox, text)
        req = query_request(request, text)
        if sandbox is None:
            return answer_query(req)
        # The sandbox store changes with every update: a one-shot child sees it as it is now.
        result = execute(target, req, limits())
    except SparqlError as exc:
        return error_response(exc)
    except RequestEntityTooLarge:
        return _text(413, f"the request body is larger than {request.max_content_length} bytes")
    response = Response(result.body, content_type=result.content_type)
    if result.truncated:
        response.headers["X-BPKG-Truncated"] = result.truncated
        response.headers["X-BPKG-Row-Limit"] = str(limits().max_rows)
    return response


def _update(sandbox: ox.Store | None, text: str) -> Response:
    if sandbox is None:
        refuse_update()
    run_update(sandbox, text, limits(), base_iri=request.base_url,
               using=_values(request, "using-graph-uri"), using_named=_values(request, "using-named-graph-uri"))
    return Response(status=204)


# -- service description -----------------------------------------------------------------

def _graph_sizes(store: ox.Store) -> dict[str, int]:
    sizes = store.query("SELECT ?g (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
    return {row["g"].value: int(row["n"].value) for row in sizes}


def description_triples(endpoint_iri: str, target: Target, updatable: bool, cap: Limits,
                        config=None) -> list[ox.Triple]:
    """The SPARQL 1.1 Service Description of this endpoint, as triples, with the public
    settings it runs with (``config``: the app's, see :mod:`bpkg.settings`)."""
    n, lit = ox.NamedNode, ox.Literal
    service, dataset, default = n(endpoint_iri), ox.BlankNode(), ox.BlankNode()
    xsd = PREFIXES["xsd"]
    out = [ox.Triple(service, RDF_TYPE, n(SD + "Service")),
           ox.Triple(service, n(SD + "endpoint"), service),
           ox.Triple(service, n(SD + "supportedLanguage"), n(SD + "SPARQL11Query")),
           ox.Triple(service, n(SD + "defaultEntailmentRegime"), n("http://www.w3.org/ns/entailment/Simple")),
           ox.Triple(service, n(SD + "defaultDataset"), dataset),
           ox.Triple(dataset, RDF_TYPE, n(SD + "Dataset")),
           ox.Triple(dataset, n(SD + "defaultGraph"), default),
           ox.Triple(default, RDF_TYPE, n(SD + "Graph"))]
    # The DCAT/VoID description (statistics, dumps, linksets) lives beside the endpoint.
    void_url = endpoint_iri.rsplit("/", 1)[0] + "/.well-known/void"
    out += [ox.Triple(service, n(PREFIXES["rdfs"] + "seeAlso"), n(void_url)),
            ox.Triple(dataset, n(PREFIXES["rdfs"] + "seeAlso"), n(PREFIXES["bp"].rsplit("ontology#", 1)[0] + "dataset"))]
    if updatable:
        out.append(ox.Triple(service, n(SD + "supportedLanguage"), n(SD + "SPARQL11Update")))
    if target.union_default:
        out.append(ox.Triple(service, n(SD + "feature"), n(SD + "UnionDefaultGraph")))
    for fmt in formats.TABULAR + formats.GRAPH:
        out.append(ox.Triple(service, n(SD + "resultFormat"), n(fmt.w3c)))
    sizes = _graph_sizes(target.store)
    out.append(ox.Triple(default, n(VOID + "triples"), lit(str(sum(sizes.values()) if target.union_default
                                                                  else len(target.store) - sum(sizes.values())),
                                                              datatype=n(xsd + "integer"))))
    for name in sorted(sizes):
        entry, graph = ox.BlankNode(), ox.BlankNode()
        out += [ox.Triple(dataset, n(SD + "namedGraph"), entry),
                ox.Triple(entry, RDF_TYPE, n(SD + "NamedGraph")),
                ox.Triple(entry, n(SD + "name"), n(name)),
                ox.Triple(entry, n(SD + "graph"), graph),
                ox.Triple(graph, RDF_TYPE, n(SD + "Graph")),
                ox.Triple(graph, n(VOID + "triples"), lit(str(sizes[name]), datatype=n(xsd + "integer")))]
    limits_text = (f"Read-only{' (except this test sandbox)' if updatable else ''}; SERVICE, LOAD and FROM/FROM NAMED "
                   f"outside this dataset are refused. Per query: deadline {cap.timeout:g} s (then HTTP 503), "
                   f"at most {cap.max_rows} rows or triples and {cap.max_bytes} bytes (header X-BPKG-Truncated "
                   f"when cut), queries up to {cap.max_query_chars} characters and {cap.max_depth} nested brackets.")
    out.append(ox.Triple(service, n(PREFIXES["rdfs"] + "comment"), lit(limits_text, language="en")))
    out.append(ox.Triple(service, n(PREFIXES["owl"] + "versionInfo"), lit(__version__)))  # the bpkg release serving it
    for name, value, kind in (("queryTimeoutSeconds", f"{cap.timeout:g}", "decimal"),
                              ("maxResultRows", str(cap.max_rows), "integer"),
                              ("maxResponseBytes", str(cap.max_bytes), "integer"),
                              ("maxQueryLength", str(cap.max_query_chars), "integer"),
                              ("maxNestingDepth", str(cap.max_depth), "integer")):
        out.append(ox.Triple(service, n(SVC + name), lit(value, datatype=n(xsd + kind))))
    for setting, value in published(config or {}):
        node = n(f"{endpoint_iri}#setting-{setting.name}")
        datatype = "boolean" if isinstance(setting.default, bool) else "decimal" if isinstance(setting.default, float) \
            else "integer"
        shown = str(value).lower() if datatype == "boolean" else f"{float(value):g}" if datatype == "decimal" \
            else str(int(value))
        out += [ox.Triple(service, n(SVC + "setting"), node),
                ox.Triple(node, n(PREFIXES["rdfs"] + "label"), lit(setting.name)),
                ox.Triple(node, n(PREFIXES["rdf"] + "value"), lit(shown, datatype=n(xsd + datatype))),
                ox.Triple(node, n(PREFIXES["rdfs"] + "comment"), lit(setting.doc, language="en"))]
    first_seen = {}
    for triple in out:  # group by subject so Turtle reads one node at a time
        first_seen.setdefault(triple.subject, len(first_seen))
    return sorted(out, key=lambda triple: first_seen[triple.subject])


def service_description(target: Target, updatable: bool) -> Response:
    offered = (formats.GRAPH[0], HTML) + formats.GRAPH[1:]
    fmt_param = request.args.get("format")
    fmt = next((f for f in offered if f.name == fmt_param), None) or formats.negotiate(offered, request.headers.get("Accept"))
    if fmt is None:
        return _text(406, "the service description is available as " + ", ".join(f.media_type for f in offered))
    if fmt is HTML:
        return query_page()
    triples = description_triples(request.base_url, target, updatable, limits(), current_app.config)
    return Response(formats.graph_result(fmt, triples), content_type=fmt.content_type)


# -- the query UI (YASGUI from node_modules) ----------------------------------------------

def named_queries(folder: Path) -> list[dict]:
    """The analyst query library (bpkg.queries) as YASGUI example tabs, parameters bound
    to their documented examples so each tab runs as it stands."""
    from .. import queries

    found = []
    for name, query in queries.library(folder).items():
        examples = {p.name: p.example for p in query.params if p.example}
        try:
            text = queries.bound_text(query, examples)
        except queries.QueryLibraryError:
            text = query.text
        body = "\n".join(line for line in text.splitlines() if not line.startswith("#+")).strip() + "\n"
        found.append({"name": name, "summary": query.summary, "query": body})
    return found


DEFAULT_QUERY = sparql_prologue(["bp", "skos"]) + """
# The states named by the sources, with their English names.
SELECT ?state ?label
WHERE {
  ?state a bp:State ;
      skos:prefLabel ?label .
  FILTER (LANG(?label) = "en")
}
ORDER BY ?label
LIMIT 100
"""


@bp.route("/")
def query_page():
    installed = (Path(_setting("YASGUI_DIR")) / "yasgui.min.js").is_file()
    return render_template("yasgui.html", installed=installed, prefixes=PREFIXES,
                           examples=named_queries(Path(_setting("QUERIES_DIR"))),
                           default_query=DEFAULT_QUERY, cap=limits())


@bp.route("/assets/yasgui/<path:name>")
def yasgui_asset(name: str):
    return send_from_directory(_setting("YASGUI_DIR"), name, max_age=86400)
