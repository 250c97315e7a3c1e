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
documents run side by side. The graph's own results for the nodes a submission names (the
baseline) are computed in the child too and kept by the server (see ``upload.validate_isolated``).
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template, request
from markupsafe import Markup, escape
from rdflib import URIRef

from .. import formats, validation
from ..validation import SubmissionError, display
from .context import current_validator, get_kg, local_path, shapes_folder, validate_limit
from .upload import FORM_TYPES, read_submission, too_large, validate_isolated

bp = Blueprint("validate", __name__)

# The report's forms, in the order chosen when the client accepts several equally (JSON for */*).
REPORT_FORMATS = (formats.JSON, formats.syntax("turtle"), formats.syntax("jsonld"), formats.HTML)


def _validate_bounded(kg, data, shapes_dir, *, media_type, filename, fmt, source, max_bytes):
    def parse():
        return validation.parse_submission(data, media_type=media_type, filename=filename, fmt=fmt,
                                           source=source, max_bytes=max_bytes)
    return validate_isolated(validation.validator_for(kg, shapes_dir), parse)


def _report_format() -> str | None:
    asked = request.args.get("format")
    if asked:
        return asked if asked in (f.name for f in REPORT_FORMATS) else None
    chosen = formats.negotiate(REPORT_FORMATS, request.headers.get("Accept"))
    return chosen.name if chosen else None


@bp.get("/validate")
def page():
    return render_template("validate.html", formats=formats.SUBMISSION_SYNTAXES, limit=validate_limit(), report=None,
                           error=None, pasted="", chosen="turtle")


@bp.post("/validate")
def submit():
    answer = _report_format()
    if answer is None:
        return _error(SubmissionError(
            "cannot answer in any of the accepted types; ask for application/json, text/turtle, "
            "application/ld+json or text/html", status=406, kind="not-acceptable"), "json")
    if request.content_length is not None and request.content_length > validate_limit():
        return _error(too_large(request.content_length), answer)
    try:
        data, media_type, filename, fmt, pasted = read_submission()
        report = _validate_bounded(get_kg(), data, shapes_folder(), media_type=media_type, filename=filename,
                                   fmt=fmt, source=filename or "the submission", max_bytes=validate_limit())
    except SubmissionError as exc:
        return _error(exc, answer)
    if answer == "json":
        return Response(report.to_json(), mimetype="application/json")
    shapes = current_validator().shapes
    if answer == "turtle":
        return Response(report.to_turtle(shapes), mimetype="text/turtle")
    if answer == "jsonld":
        return Response(report.to_jsonld(shapes), mimetype="application/ld+json")
    return render_template("validate.html", formats=formats.SUBMISSION_SYNTAXES, limit=validate_limit(), report=report,
                           error=None, groups=report.by_focus(), pasted=pasted, chosen=fmt.name if fmt else "turtle")


def _error(exc: SubmissionError, answer: str):
    if answer == "html":
        pasted = request.form.get("data", "") if request.mimetype in FORM_TYPES else ""
        html = render_template("validate.html", formats=formats.SUBMISSION_SYNTAXES, limit=validate_limit(), report=None, error=exc,
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
    href = local_path(text) or text
    return Markup('<a href="{}" title="{}">{}</a>').format(href, text, display(term))


@bp.app_template_filter("rdf_link")
def _rdf_link(term):
    return link(term)
