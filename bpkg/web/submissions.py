"""``/submissions``: stage acceptable submissions for review (off unless a token is configured).

Enabled only when the app has ``SUBMISSIONS_TOKEN`` (environment ``BPKG_SUBMISSIONS_TOKEN``)
of at least 16 characters; otherwise every route here answers 404. Each request must
carry ``Authorization: Bearer <token>`` (401 without it, 403 with a wrong one).

* ``POST /submissions``: the submission is sent as to ``POST /validate`` (raw body with its
  RDF Content-Type, multipart field ``file``, or form fields ``data`` and ``format``), with
  the submitter in an ``X-Submitter`` header (or form field ``submitter``). It is read and
  validated by :mod:`bpkg.validation` exactly as ``/validate`` does (same limits, same
  refusals). With no Violation it is staged (:mod:`bpkg.staging`): 201, its id and graph
  IRI, and the report. With violations nothing changes: 422 and the report. Unreadable: the
  same 400/413/415 as ``/validate``.
* ``GET /submissions``: the staged submissions and their status.
* ``GET /submissions/<id>``: JSON (metadata and report), or the staged graph as Turtle,
  N-Triples or JSON-LD, or with its report in its named graph as N-Quads or TriG
  (``Accept``, or ``?format=json|turtle|ntriples|jsonld|nquads|trig``).
* ``GET /submissions/<id>/report``: the report and provenance (Turtle by default).
* ``DELETE /submissions/<id>``: take it out of staging (204).

Staged graphs are queryable at ``/sparql`` by name (``GRAPH <…/graph/staging/<id>>``);
they are never part of the default graph.
"""

from __future__ import annotations

import hmac
import json
import threading
import unicodedata

from flask import Blueprint, Response, current_app, request, url_for

from .. import formats, staging, validation
from ..validation import SubmissionError
from . import get_kg, hygiene
from .validate import FORM_TYPES, _limit, _read_submission, _too_large

bp = Blueprint("submissions", __name__)

MIN_TOKEN_CHARS = 16
MAX_SUBMITTER_CHARS = 200
_JSON = formats.Format("json", "application/json")
_GRAPH_FORMATS = {f.name: f for f in formats.GRAPH if f.name in ("turtle", "ntriples", "jsonld", "nquads", "trig")}
_area_lock = threading.Lock()


def staging_area() -> staging.StagingArea:
    """The app's staging area (made on first use; ``/sparql`` finds it on app.extensions)."""
    with _area_lock:
        area = current_app.extensions.get("bpkg-staging")
        if area is None:
            limit = int(current_app.config.get("SUBMISSIONS_MAX_STAGED", staging.DEFAULT_MAX_STAGED))
            area = current_app.extensions["bpkg-staging"] = staging.StagingArea(limit)
        return area


def _json(doc: dict, status: int = 200, **headers) -> Response:
    return Response(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", status=status,
                    mimetype="application/json", headers=headers)


def _problem(status: int, kind: str, message: str, **headers) -> Response:
    return _json({"error": kind, "message": message, "status": status}, status, **headers)


def _token() -> str | None:
    token = current_app.config.get("SUBMISSIONS_TOKEN")
    token = None if token is None else str(token)  # from_prefixed_env may have read digits as a number
    return token if token and len(token) >= MIN_TOKEN_CHARS else None


@bp.before_request
def _guard():
    """Off unless configured; then a bearer token, checked before the body is read."""
    token = _token()
    if token is None:
        return _problem(404, "not-found", "not found")
    throttled = hygiene.auth_throttled()  # too many wrong tokens from this address: 429
    if throttled is not None:
        return throttled
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        hygiene.auth_failed("submissions")
        return _problem(401, "unauthorised", "send the staging token as 'Authorization: Bearer <token>'",
                        **{"WWW-Authenticate": 'Bearer realm="bpkg submissions"'})
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        hygiene.auth_failed("submissions")
        return _problem(403, "forbidden", "the token is not the staging token")
    return None


def _submitter() -> str:
    """Who submits: a short text, from the X-Submitter header or the form field ``submitter``."""
    value = request.headers.get("X-Submitter")
    if value is not None:
        try:  # HTTP headers arrive as Latin-1; a client sending UTF-8 bytes means UTF-8
            value = value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    elif request.mimetype in FORM_TYPES:
        value = request.form.get("submitter")
    value = " ".join((value or "").split())
    if not value:
        raise SubmissionError("say who submits: send an X-Submitter header (or a 'submitter' form field) with "
                              "your name or office, such as \"Focal point, Ministry of the Interior\"",
                              kind="no-submitter")
    if len(value) > MAX_SUBMITTER_CHARS or any(unicodedata.category(c).startswith("C") for c in value):
        raise SubmissionError(f"the submitter must be plain text of at most {MAX_SUBMITTER_CHARS} characters "
                              "(no control characters)", kind="bad-submitter")
    return value


def _links(staged: staging.Staged) -> dict:
    here = url_for("submissions.show", sid=staged.id)
    return {"self": here, "turtle": here + "?format=turtle", "nquads": here + "?format=nquads",
            "report": url_for("submissions.report", sid=staged.id), "sparql": url_for("sparql.endpoint")}


# -- the routes -------------------------------------------------------------------------

@bp.post("/submissions")
def submit():
    if request.content_length is not None and request.content_length > _limit():
        exc = _too_large(request.content_length)
        return _json(exc.as_dict(), exc.status)
    try:
        submitter = _submitter()
        data, media_type, filename, fmt, _ = _read_submission()
        # What validation.validate() does, in its two steps: the parsed triples are what is staged.
        submission = validation.parse_submission(data, media_type=media_type, filename=filename, fmt=fmt,
                                                 source=filename or "the submission", max_bytes=_limit())
        validator = validation.validator_for(get_kg())
        report = validator.validate_submission(submission)
    except SubmissionError as exc:
        return _json(exc.as_dict(), exc.status)
    if not report.conforms:
        return _json({"status": "rejected", "id": None, "graph": None,
                      "message": "not staged: the submission has violations; fix them and send it again",
                      "report": report.as_dict()}, 422)
    try:
        staged = staging_area().stage(submission, report, submitter=submitter, raw=data, shapes=validator.shapes)
    except staging.StagingFull as exc:
        return _problem(409, "staging-full", str(exc))
    doc = {**staged.summary(), "links": _links(staged), "report": report.as_dict()}
    return _json(doc, 201, Location=url_for("submissions.show", sid=staged.id))


@bp.get("/submissions")
def listing():
    area = staging_area()
    return _json({"count": len(area), "limit": area.max_staged, "reports_graph": staging.REPORTS_GRAPH,
                  "submissions": [{**s.summary(), "links": _links(s)} for s in area.all()]})


def _find(sid: str) -> staging.Staged | None:
    return staging_area().get(sid) if staging.ID_PATTERN.match(sid) else None


def _choose(offered: tuple[formats.Format, ...]) -> formats.Format | None:
    asked = request.args.get("format")
    if asked:
        return next((f for f in offered if f.name == asked), None)
    return formats.negotiate(offered, request.headers.get("Accept"))


def _not_acceptable(offered) -> Response:
    return _problem(406, "not-acceptable", "available as " + ", ".join(f"{f.media_type} (format={f.name})"
                                                                      for f in offered))


@bp.get("/submissions/<sid>")
def show(sid: str):
    staged = _find(sid)
    if staged is None:
        return _problem(404, "not-found", f"no staged submission {sid!r}; GET /submissions lists them")
    offered = (_JSON, *_GRAPH_FORMATS.values())
    fmt = _choose(offered)
    if fmt is None:
        return _not_acceptable(offered)
    if fmt is _JSON:
        return _json({**staged.summary(), "links": _links(staged), "report": staged.report.as_dict()})
    parts = ("data", "report") if fmt.rdf in staging.DATASET_FORMATS else ("data",)
    return Response(staging.export(staged, fmt.rdf, parts), content_type=fmt.content_type)


@bp.get("/submissions/<sid>/report")
def report(sid: str):
    staged = _find(sid)
    if staged is None:
        return _problem(404, "not-found", f"no staged submission {sid!r}; GET /submissions lists them")
    offered = (*_GRAPH_FORMATS.values(), _JSON)  # Turtle first: this is the RDF report
    fmt = _choose(offered)
    if fmt is None:
        return _not_acceptable(offered)
    if fmt is _JSON:
        return _json(staged.report.as_dict())
    return Response(staging.export(staged, fmt.rdf, ("report",)), content_type=fmt.content_type)


@bp.delete("/submissions/<sid>")
def remove(sid: str):
    if not (staging.ID_PATTERN.match(sid) and staging_area().remove(sid)):
        return _problem(404, "not-found", f"no staged submission {sid!r}")
    return Response(status=204)

