"""``/submissions``: durable intake, curator review and publication (:mod:`bpkg.submissions`).

Enabled when both ``SUBMITTER_TOKENS`` and ``CURATOR_TOKENS`` are configured (environment
``BPKG_SUBMITTER_TOKENS``, ``BPKG_CURATOR_TOKENS``: comma-separated, each at least 16
characters, no token in both); otherwise every route here answers 404. Each request
carries ``Authorization: Bearer <token>`` (401 without one, 403 with an unknown one or
one of the wrong role); the token's role decides what it may do:

* submitter: ``POST /submissions`` (the document as for ``POST /validate``, with an
  ``X-Submitter`` header or ``submitter`` form field naming the office): validated in the
  context of the published dataset, guard included; 201 with its ``id`` once it is on disk,
  422 with the report when it has violations, 400/413/415 when unreadable.
  ``GET /submissions`` and ``GET /submissions/<id>`` for its own submissions.
* curator: ``GET /submissions[?state=pending|accepted|rejected|revoked]``,
  ``GET /submissions/<id>`` (JSON, or the data as Turtle, N-Triples, JSON-LD, N-Quads, TriG),
  ``GET /submissions/<id>/diff``, ``GET /submissions/<id>/document`` (verbatim),
  ``POST /submissions/<id>/accept`` (re-validated now; 422 with the report if it no longer
  conforms), ``POST /submissions/<id>/reject`` (``reason`` required),
  ``POST /submissions/<id>/revoke``. A state that does not allow the action: 409.

``GET /submissions/review`` is the curators' review page: it holds no data itself and
reads the API above with the token the curator types in (kept in the tab's session only).
"""

from __future__ import annotations

import hmac
import json
import sqlite3
import unicodedata

from flask import Blueprint, Response, current_app, render_template, request, url_for

from .. import formats, submissions, validation
from ..validation import SubmissionError
from . import hygiene
from .context import current_validator, get_kg, publisher, validate_limit
from .publication import dataset_changed
from .upload import FORM_TYPES, read_submission, too_large, validate_isolated

bp = Blueprint("submissions", __name__)

MIN_TOKEN_CHARS = 16
MAX_SUBMITTER_CHARS = 200
SUBMITTER, CURATOR = "submitter", "curator"
_JSON = formats.JSON
_GRAPH_FORMATS = {f.name: f for f in formats.GRAPH if f.name in ("turtle", "ntriples", "jsonld", "nquads", "trig")}


def _json(doc: dict, status: int = 200, **headers) -> Response:
    return Response(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", status=status,
                    mimetype="application/json", headers={"Cache-Control": "no-store", **headers})


def _problem(status: int, kind: str, message: str, **headers) -> Response:
    return _json({"error": kind, "message": message, "status": status}, status, **headers)


# -- roles ------------------------------------------------------------------------------

def parse_tokens(value) -> list[str]:
    """A comma-separated setting (or a list) as tokens; raises ValueError for a short one."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    tokens = [str(t).strip() for t in items if str(t).strip()]
    short = [t for t in tokens if len(t) < MIN_TOKEN_CHARS]
    if short:
        raise ValueError(f"{len(short)} token(s) shorter than {MIN_TOKEN_CHARS} characters")
    return tokens


def roles(config) -> dict[str, list[str]] | None:
    """{"submitter": [...], "curator": [...]}, or None when submissions are off.

    Raises ValueError when the settings are present but unusable (a short token, a token
    in both lists): ``bpkg serve`` then refuses to start rather than run half-configured.
    """
    submitter, curator = parse_tokens(config.get("SUBMITTER_TOKENS")), parse_tokens(config.get("CURATOR_TOKENS"))
    if set(submitter) & set(curator):
        raise ValueError("a token is both a submitter token and a curator token; the roles must be separate")
    if not (submitter and curator):
        return None
    return {SUBMITTER: submitter, CURATOR: curator}


def _enabled_roles() -> dict[str, list[str]] | None:
    try:
        return roles(current_app.config)
    except ValueError:
        return None


def authenticate(header: str | None, configured: dict[str, list[str]]) -> tuple[int, str | None, str | None]:
    """(status, role, token) for an ``Authorization`` header: 200 with the role, 401 when no
    bearer token is sent, 403 for a token of neither role.

    Every configured token is compared, in constant time, whatever matches: the time taken
    does not tell how much of a guess was right, nor which list it was checked against.
    One function, so that rate limiting of failed attempts can wrap it.
    """
    scheme, _, given = (header or "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        return 401, None, None
    found = None
    for role in (SUBMITTER, CURATOR):
        for token in configured[role]:
            if hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")) and found is None:
                found = role
    return (200, found, given) if found else (403, None, None)


@bp.errorhandler(sqlite3.OperationalError)
def _database_unavailable(exc):
    """A locked, full or unwritable database: nothing was kept, and the client may try again."""
    current_app.logger.error("submissions database: %s", exc)
    return _problem(503, "unavailable", "the submissions database cannot be written just now; nothing was kept, "
                    "try again shortly", **{"Retry-After": "5"})


@bp.before_request
def _guard():
    """Off unless configured; then a bearer token, checked before any body is read."""
    if request.endpoint == "submissions.review_page":
        open_ = _enabled_roles() and "bpkg-publisher" in current_app.extensions
        return None if open_ else _problem(404, "not-found", "not found")
    configured = _enabled_roles()
    if configured is None:
        return _problem(404, "not-found", "not found")
    if "bpkg-publisher" not in current_app.extensions:
        return _problem(404, "not-found", "submissions are not taken while serving from an external store")
    throttled = hygiene.auth_throttled()  # too many wrong tokens from this address: 429
    if throttled is not None:
        return throttled
    status, role, token = authenticate(request.headers.get("Authorization"), configured)
    if status in (401, 403):
        hygiene.auth_failed("submissions")
    if status == 401:
        return _problem(401, "unauthorised", "send a submitter or curator token as 'Authorization: Bearer <token>'",
                        **{"WWW-Authenticate": 'Bearer realm="bpkg submissions"'})
    if status == 403:
        return _problem(403, "forbidden", "the token is not a submitter or curator token of this server")
    request.environ["bpkg.role"] = role
    request.environ["bpkg.actor"] = inbox().token_id(token)
    return None


def _role() -> str:
    return request.environ["bpkg.role"]


def _actor() -> str:
    return request.environ["bpkg.actor"]


def _only(role: str) -> Response | None:
    if _role() != role:
        return _problem(403, "forbidden", f"this needs a {role} token; yours is a {_role()} token")
    return None


def inbox() -> submissions.Inbox:
    return publisher().inbox


# -- reading requests ---------------------------------------------------------------------

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


def _reason() -> str | None:
    """``reason`` from a JSON body, a form field or the query string."""
    if request.is_json:
        body = request.get_json(silent=True)
        value = body.get("reason") if isinstance(body, dict) else None
    elif request.mimetype in FORM_TYPES:
        value = request.form.get("reason")
    else:
        value = request.args.get("reason")
    value = " ".join(str(value).split()) if value is not None else None
    return value or None


def _links(record: submissions.Record) -> dict:
    here = url_for("submissions.show", sid=record.id)
    links = {"self": here, "turtle": here + "?format=turtle", "nquads": here + "?format=nquads"}
    if _role() == CURATOR:
        links.update(diff=url_for("submissions.diff", sid=record.id),
                     document=url_for("submissions.document", sid=record.id))
        if record.state == "pending":
            links.update(accept=here + "/accept", reject=here + "/reject")
        if record.state == "accepted":
            links.update(revoke=here + "/revoke")
    if record.state == "accepted":
        links["sparql"] = url_for("sparql.endpoint")
    return links


def _find(sid: str) -> submissions.Record | None:
    """The submission, if this token may see it (a submitter sees only its own)."""
    record = inbox().get(sid)
    if record is None or (_role() == SUBMITTER and record.submitter_id != _actor()):
        return None
    return record


def _not_found(sid: str) -> Response:
    return _problem(404, "not-found", f"no submission {sid[:40]!r} for this token; GET /submissions lists them")


# -- the routes -------------------------------------------------------------------------

@bp.post("/submissions")
def submit():
    refused = _only(SUBMITTER)
    if refused:
        return refused
    if request.content_length is not None and request.content_length > validate_limit():
        exc = too_large(request.content_length)
        return _json(exc.as_dict(), exc.status)
    try:
        submitter = _submitter()
        data, media_type, filename, fmt, _ = read_submission()
        # What validation.validate() does, in its two steps: the parsed triples are what is kept.
        submission = validation.parse_submission(data, media_type=media_type, filename=filename, fmt=fmt,
                                                 source=filename or "the submission", max_bytes=validate_limit())
        validator, owner = current_validator(), _actor()
        # In a disposable process, as /validate does; the graph's own results for the nodes
        # it names are computed there too (a published version is never validated whole).
        report = validate_isolated(validator, lambda: submission, owner=owner)
    except SubmissionError as exc:
        return _json(exc.as_dict(), exc.status)
    if not report.conforms:
        return _json({"status": "refused", "id": None,
                      "message": "not kept: the submission has violations; fix them and send it again",
                      "report": report.as_dict()}, 422)
    try:
        record = inbox().add(
            raw=data, media_type=submission.format.media_type, source=submission.source,
            data_nt=submission.graph.serialize(format="nt", encoding="utf-8").decode("utf-8"),
            triples=len(submission.graph), report=report.as_dict(),
            report_ttl=report.render("turtle", validator.shapes), submitter=submitter, submitter_id=_actor(),
            max_pending=int(current_app.config["SUBMISSIONS_MAX_PENDING"]))
    except submissions.InboxFull as exc:
        return _problem(409, "inbox-full", str(exc))
    doc = {**record.summary(), "links": _links(record), "report": report.as_dict()}
    return _json(doc, 201, Location=url_for("submissions.show", sid=record.id))


@bp.get("/submissions")
def listing():
    state = request.args.get("state") or None
    if state is not None and state not in submissions.STATES:
        return _problem(400, "bad-state", f"state must be one of {', '.join(submissions.STATES)}")
    mine = _actor() if _role() == SUBMITTER else None
    records = inbox().records(state=state, submitter_id=mine)
    doc = {"role": _role(), "count": len(records), "submissions": [{**r.summary(), "links": _links(r)}
                                                                   for r in records]}
    if _role() == CURATOR:
        doc["counts"] = inbox().counts()
        doc["dataset_version"] = get_kg().version
    return _json(doc)


def _choose(offered: tuple[formats.Format, ...]) -> formats.Format | None:
    asked = request.args.get("format")
    if asked:
        return next((f for f in offered if f.name == asked), None)
    return formats.negotiate(offered, request.headers.get("Accept"))


@bp.get("/submissions/<sid>")
def show(sid: str):
    record = _find(sid)
    if record is None:
        return _not_found(sid)
    offered = (_JSON, *_GRAPH_FORMATS.values())
    fmt = _choose(offered)
    if fmt is None:
        return _problem(406, "not-acceptable", "available as " + ", ".join(f"{f.media_type} (format={f.name})"
                                                                          for f in offered))
    if fmt is _JSON:
        return _json({**record.summary(), "links": _links(record), "report": record.report,
                      "history": inbox().events(record.id)})
    dataset = fmt.rdf in (submissions.ox.RdfFormat.N_QUADS, submissions.ox.RdfFormat.TRIG)
    parts = ("data", "provenance") if dataset and record.state == "accepted" else ("data",)
    return Response(submissions.serialise(record, fmt.rdf, parts), content_type=fmt.content_type,
                    headers={"Cache-Control": "no-store"})


def _for_curator(sid: str) -> tuple:
    """(the submission, None) when a curator asks for one that exists, else (None, the refusal)."""
    refused = _only(CURATOR)
    if refused:
        return None, refused
    record = _find(sid)
    return (record, None) if record is not None else (None, _not_found(sid))


@bp.get("/submissions/<sid>/diff")
def diff(sid: str):
    record, refused = _for_curator(sid)
    if refused:
        return refused
    return _json({**submissions.diff(get_kg(), record), "dataset_version": get_kg().version})


@bp.get("/submissions/<sid>/document")
def document(sid: str):
    record, refused = _for_curator(sid)
    if refused:
        return refused
    # Verbatim, as sent; as a download, so that a browser never renders what a submitter wrote.
    return Response(inbox().document(sid), content_type=record.media_type,
                    headers={"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff",
                             "Cache-Control": "no-store"})


@bp.post("/submissions/<sid>/<any(accept, reject, revoke):action>")
def decide(sid: str, action: str):
    record, refused = _for_curator(sid)
    if refused:
        return refused
    app = current_app._get_current_object()
    pub = publisher()
    try:
        record, report = submissions.review(inbox(), get_kg(), record, action, _actor(), _reason(),
                                            republish=pub.current)
    except submissions.SubmissionStateError as exc:
        return _problem(exc.status, "conflict" if exc.status == 409 else "bad-request", str(exc))
    if action == "accept" and record.state != "accepted":
        return _json({"status": record.state, "id": record.id,
                      "message": "not accepted: against the published dataset as it is now, the submission "
                                 "has violations; reject it with the report as the reason, or ask for a new one",
                      "report": report.as_dict()}, 422)
    if action in ("accept", "revoke"):
        dataset_changed(app, pub.current())
    return _json({**record.summary(), "links": _links(record), "dataset_version": get_kg().version,
                  **({"report": report.as_dict()} if report is not None else {})})


@bp.get("/submissions/review")
def review_page():
    return render_template("submissions.html")
