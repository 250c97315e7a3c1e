"""A data submission from a request, the same way for ``/validate`` and ``/submissions``:
read (a raw body with its RDF Content-Type, a multipart upload (field ``file``), or a form
field ``data`` with ``format`` naming the syntax) and validated where it can be stopped.
Size and format problems are SubmissionErrors with the HTTP status to answer (413, 415),
raised before anything is parsed.
"""

from __future__ import annotations

from flask import current_app, request

from .. import formats
from ..sparql import Limits, SparqlError, call_isolated
from ..validation import SubmissionError
from .context import validate_limit
from .fronts import slots

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def too_large(size: int) -> SubmissionError:
    limit = validate_limit()
    return SubmissionError(f"the submission is {size:,} bytes, more than the limit of {limit:,} bytes "
                           f"({limit / 1048576:g} MiB); split it into smaller files", status=413, kind="too-large")


def read_submission():
    """(bytes, media type, file name, Format, pasted text) from whichever way it was sent."""
    content_type = (request.mimetype or "").lower()
    if content_type in FORM_TYPES:
        chosen = formats.syntax(request.form.get("format", "")) if request.form.get("format") else None
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            data = upload.stream.read(validate_limit() + 1)
            if len(data) > validate_limit():
                raise too_large(len(data))
            declared = upload.mimetype if formats.syntax_for(upload.mimetype) else None
            return data, None if chosen else declared, upload.filename, chosen, ""
        pasted = request.form.get("data", "")
        if not pasted.strip():
            raise SubmissionError("nothing to validate: choose a file or paste the data into the text box",
                                  kind="empty")
        if chosen is None:
            names = ", ".join(f.name for f in formats.SUBMISSION_SYNTAXES)
            raise SubmissionError(f"say which format the pasted text is in (field format: one of {names})",
                                  status=415, kind="unknown-format")
        return pasted.encode("utf-8"), None, None, chosen, pasted
    if not content_type:
        raise SubmissionError(f"the request has no Content-Type: send the submission with one of "
                              f"{formats.SUBMISSION_MEDIA_TYPES}, or as a form upload", status=415, kind="unknown-format")
    fmt = formats.syntax_for(content_type)
    if fmt is None:
        raise SubmissionError(f"cannot validate {content_type}: send one of {formats.SUBMISSION_MEDIA_TYPES}, "
                              "or a form upload", status=415, kind="unknown-format")
    data = request.stream.read(validate_limit() + 1)
    if len(data) > validate_limit():
        raise too_large(len(data))
    return data, content_type, None, fmt, ""


def validation_bounds() -> Limits:
    """Where a validation runs: a disposable process with its own deadline, memory and count
    (``VALIDATE_TIMEOUT``, ``VALIDATE_MEMORY_MB``, ``VALIDATE_PARALLEL``, counted by the
    server's ``validation`` slots, whichever front runs it)."""
    config = current_app.config
    return Limits(timeout=float(config["VALIDATE_TIMEOUT"]), memory_mb=int(config["VALIDATE_MEMORY_MB"]))


def validate_isolated(validator, submission, **kwargs):
    """``validator.validate_submission(submission(), **kwargs)`` (``submission`` parses the
    document, or returns it parsed) in a disposable process without
    network, under the validation deadline and memory cap: a flood or a pathological document
    costs one killed process, never the server's memory or threads.

    The baseline (the graph's own results for the nodes the submission names) is computed
    there too, node by node, and handed back: the server keeps it for the next child, so
    each published node is validated alone once per dataset version, never the whole graph."""
    known = validator.baseline_known()

    def run():
        validator.after_fork()
        return validator.validate_submission(submission(), **kwargs), validator.baseline_since(known)

    try:
        report, learnt = call_isolated(run, validation_bounds(), lane="validation",
                                       slots=slots(current_app._get_current_object())["validation"])
        validator.remember(learnt)
        return report
    except SparqlError as exc:
        raise SubmissionError(exc.message.replace("the query", "the validation"), status=exc.status,
                              kind="busy" if exc.status == 503 else "failed") from None
    except MemoryError:
        raise SubmissionError(f"validating the submission needed more than {validation_bounds().memory_mb} MB; "
                              "split it into smaller files", status=413, kind="too-large") from None
