"""The analyst query library over HTTP.

GET /queries              the index, as JSON or as an HTML page (content negotiation, or format=)
GET /queries/NAME?K=V     run one query; every SPARQL result format by Accept or format=
GET /queries/NAME.rq      the query's source text

Parameters are checked and bound by :mod:`bpkg.queries` (never pasted into query text)
and the query runs through the one safe executor, :mod:`bpkg.sparql`, and the endpoint's
result cache (ETag, 304), keyed by the query's text and its bound parameter terms.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from .. import formats
from .. import queries as library
from ..sparql import Request, SparqlError
from .analyst import results_page, wants_html
from .sparql import answer_query

bp = Blueprint("queries", __name__)

RESERVED = {"format"}  # query-string keys that are not query parameters

# Errors go to JSON clients (SPARQL JSON ones included) as JSON, to everyone else as plain text.
PLAIN_TEXT = formats.Format("text", "text/plain")
ERROR_FORMATS = (PLAIN_TEXT, formats.Format("json", "application/json", ("application/sparql-results+json",)))


def _folder() -> Path:
    return Path(current_app.config.get("QUERIES_DIR") or library.QUERY_DIR)


def _wants_json() -> bool:
    chosen = request.args.get("format", "").strip().lower()
    if chosen:
        return chosen in ("json", "application/json")
    return formats.negotiate((formats.JSON, formats.HTML), request.headers.get("Accept")) is not formats.HTML


def _error(status: int, message: str, **extra) -> Response:
    """Errors in the form the client reads: JSON for JSON clients, plain text otherwise."""
    if formats.negotiate(ERROR_FORMATS, request.headers.get("Accept")) is not PLAIN_TEXT:
        response = jsonify({"error": message, "status": status, **extra})
        response.status_code = status
        return response
    return Response(message.rstrip() + "\n", status=status, mimetype="text/plain")


def _entry(query: library.NamedQuery) -> dict:
    entry = query.as_dict()
    entry["url"] = url_for("queries.run_query", name=query.name, _external=False)
    entry["source"] = url_for("queries.run_query", name=query.name + ".rq", _external=False)
    return entry


@bp.route("/queries")
@bp.route("/queries/")
def index():
    entries = [_entry(q) for q in library.library(_folder()).values()]
    if _wants_json():
        response = jsonify({"queries": entries})
    else:
        response = Response(render_template("queries.html", queries=entries), mimetype="text/html")
    response.headers["Vary"] = "Accept"
    return response


@bp.route("/queries/<name>")
def run_query(name: str):
    source = name.endswith(".rq")
    try:
        query = library.get(name[:-3] if source else name, _folder())
    except library.UnknownQuery as exc:
        return _error(404, f"{exc}; GET /queries lists them")
    if source:
        return Response(query.text, mimetype="application/sparql-query")
    values = {k: v for k, v in request.args.items(multi=False) if k not in RESERVED}
    if wants_html():  # a browser: the results as a page, with links to every download
        return results_page(query, values)
    repeated = [k for k in values if len(request.args.getlist(k)) > 1]
    if repeated:
        return _error(400, f"parameter {repeated[0]!r} given more than once", param=repeated[0])
    try:
        bound = library.bindings(query, values)
        req = Request(query=library.bound_text(query, values), accept=request.headers.get("Accept"),
                      format=request.args.get("format"), template=query.text)
        response = answer_query(req, key_text=query.text, bindings={k: str(v) for k, v in bound.items()})
    except library.ParameterError as exc:
        return _error(400, str(exc), param=exc.param,
                      params=[p.as_dict() for p in query.params])
    except SparqlError as exc:
        response = _error(exc.status, exc.message)
        if exc.status in (429, 503):
            response.headers["Retry-After"] = str(exc.retry_after or 1)
        return response
    response.headers["Vary"] = "Accept"
    return response
