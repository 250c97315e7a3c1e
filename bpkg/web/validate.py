"""``/validate``: check a data submission in the context of the knowledge graph.

GET shows a page with an upload field and a paste box. POST takes the submission as
* a raw body with its RDF Content-Type (``curl --data-binary @p.ttl -H 'Content-Type: text/turtle'``),
* a multipart upload (field ``file``; its type, or else its file name, gives the format), or
* a form field ``data`` with pasted text and ``format`` naming the syntax,
and answers by content negotiation: the JSON report, the SHACL ValidationReport as Turtle
or JSON-LD, or an HTML page. ``?format=json|turtle|jsonld|html`` overrides Accept.

All the work is :func:`bpkg.validation.validate`; this module only reads requests and
renders answers. Bad input gets a 4xx that says what to do, never a 5xx.

Each validation runs in a disposable process (:func:`bpkg.sparql.call_isolated`): no
network, ``VALIDATE_MEMORY_MB`` of extra memory, killed after ``VALIDATE_TIMEOUT`` s (503),
at most ``VALIDATE_PARALLEL`` (2) at once. The server keeps the parsed shapes and the bundled
graph's own results (computed once, here) and shares them with every child; whatever a
submission costs in memory ends with its process, and validations of different
documents run side by side.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, render_template, request
from markupsafe import Markup, escape
from rdflib import URIRef

from .. import validation
from ..sparql import Limits, SparqlError, call_isolated
from ..validation import FORMATS, MEDIA_TYPES, SubmissionError, display
from . import get_kg

bp = Blueprint("validate", __name__)

REPORT_TYPES = {  # media type -> report format
    "application/json": "json",
    "text/turtle": "turtle",
    "application/ld+json": "jsonld",
    "text/html": "html",
}
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


VALIDATE_DEFAULTS = {"VALIDATE_TIMEOUT": 15.0, "VALIDATE_MEMORY_MB": 1024, "VALIDATE_PARALLEL": 2}


def _bounds() -> Limits:
    config = {k: current_app.config.get(k, v) for k, v in VALIDATE_DEFAULTS.items()}
    return Limits(timeout=float(config["VALIDATE_TIMEOUT"]), memory_mb=int(config["VALIDATE_MEMORY_MB"]),
                  max_workers=int(config["VALIDATE_PARALLEL"]))


def _validate_bounded(kg, data, **kwargs):
    validator = validation.validator_for(kg)
    validator.validate_bundled()  # the baseline, computed once in the server and inherited by every child
    try:
        return call_isolated(lambda: validation.validate(kg, data, **kwargs), _bounds(), lane="validation")
    except SparqlError as exc:
        raise SubmissionError(exc.message.replace("the query", "the validation"), status=exc.status,
                              kind="busy" if exc.status == 503 else "failed") from None
    except MemoryError:
        raise SubmissionError(f"validating the submission needed more than {_bounds().memory_mb} MB; split it "
                              "into smaller files", status=413, kind="too-large") from None


def _limit() -> int:
    return current_app.config.get("VALIDATE_MAX_BYTES", validation.DEFAULT_MAX_BYTES)


def _report_format() -> str | None:
    asked = request.args.get("format")
    if asked:
        return asked if asked in REPORT_TYPES.values() else None
    if not request.accept_mimetypes or request.accept_mimetypes.best == "*/*":
        return "json"
    best = request.accept_mimetypes.best_match(list(REPORT_TYPES), default=None)
    return REPORT_TYPES.get(best) if best else None


@bp.get("/validate")
def page():
    return render_template("validate.html", formats=FORMATS, limit=_limit(), report=None, error=None,
                           pasted="", chosen="turtle")


@bp.post("/validate")
def submit():
    answer = _report_format()
    if answer is None:
        return _error(SubmissionError(
            "cannot answer in any of the accepted types; ask for application/json, text/turtle, "
            "application/ld+json or text/html", status=406, kind="not-acceptable"), "json")
    if request.content_length is not None and request.content_length > _limit():
        return _error(_too_large(request.content_length), answer)
    try:
        data, media_type, filename, fmt, pasted = _read_submission()
        report = _validate_bounded(get_kg(), data, media_type=media_type, filename=filename, fmt=fmt,
                                   source=filename or "the submission", max_bytes=_limit())
    except SubmissionError as exc:
        return _error(exc, answer)
    if answer == "json":
        return Response(report.to_json(), mimetype="application/json")
    shapes = validation.validator_for(get_kg()).shapes
    if answer == "turtle":
        return Response(report.to_turtle(shapes), mimetype="text/turtle")
    if answer == "jsonld":
        return Response(report.to_jsonld(shapes), mimetype="application/ld+json")
    return render_template("validate.html", formats=FORMATS, limit=_limit(), report=report, error=None,
                           groups=report.by_focus(), pasted=pasted, chosen=fmt.name if fmt else "turtle")


def _too_large(size: int) -> SubmissionError:
    limit = _limit()
    return SubmissionError(f"the submission is {size:,} bytes, more than the limit of {limit:,} bytes "
                           f"({limit / 1048576:g} MiB); split it into smaller files", status=413, kind="too-large")


def _read_submission():
    """(bytes, media type, file name, Format, pasted text) from whichever way it was sent."""
    content_type = (request.mimetype or "").lower()
    if content_type in FORM_TYPES:
        chosen = validation.format_named(request.form.get("format", "")) if request.form.get("format") else None
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            data = upload.stream.read(_limit() + 1)
            if len(data) > _limit():
                raise _too_large(len(data))
            declared = upload.mimetype if validation.format_for(upload.mimetype) else None
            return data, None if chosen else declared, upload.filename, chosen, ""
        pasted = request.form.get("data", "")
        if not pasted.strip():
            raise SubmissionError("nothing to validate: choose a file or paste the data into the text box",
                                  kind="empty")
        if chosen is None:
            raise SubmissionError(f"say which format the pasted text is in (field format: one of "
                                  f"{', '.join(f.name for f in FORMATS)})", status=415, kind="unknown-format")
        return pasted.encode("utf-8"), None, None, chosen, pasted
    if not content_type:
        raise SubmissionError(f"the request has no Content-Type: send the submission with one of {MEDIA_TYPES}, "
                              "or as a form upload", status=415, kind="unknown-format")
    fmt = validation.format_for(content_type)
    if fmt is None:
        raise SubmissionError(f"cannot validate {content_type}: send one of {MEDIA_TYPES}, or a form upload",
                              status=415, kind="unknown-format")
    data = request.stream.read(_limit() + 1)
    if len(data) > _limit():
        raise _too_large(len(data))
    return data, content_type, None, fmt, ""


def _error(exc: SubmissionError, answer: str):
    if answer == "html":
        pasted = request.form.get("data", "") if request.mimetype in FORM_TYPES else ""
        html = render_template("validate.html", formats=FORMATS, limit=_limit(), report=None, error=exc,
                               pasted=pasted, chosen=request.form.get("format", "turtle"))
        return Response(html, status=exc.status, mimetype="text/html")
    headers = {"Retry-After": "2"} if exc.status == 503 else {}
    return Response(json.dumps(exc.as_dict(), indent=2) + "\n", status=exc.status, mimetype="application/json",
                    headers=headers)


# -- HTML helpers ----------------------------------------------------------------

def link(term) -> Markup:
    """An IRI as a link to its page on this host (our IRIs) or to itself (anyone else's)."""
    if not isinstance(term, URIRef):
        return escape(display(term))
    text = str(term)
    if text.startswith(validation.SKOLEM):
        return escape(display(term))
    from .resources import local_path

    href = local_path(text) or text
    return Markup('<a href="{}" title="{}">{}</a>').format(href, text, display(term))


@bp.app_template_filter("rdf_link")
def _rdf_link(term):
    return link(term)
