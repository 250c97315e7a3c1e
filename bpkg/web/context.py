"""What a request reads from its application: the served dataset, the publisher of
submissions, the shapes and the validator. Kept on ``app.extensions`` and ``app.config`` (never in module
globals, so two apps in one process stay apart); blueprints import these accessors from
here, never from each other or from the package face.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import current_app, request

from .. import submissions, validation
from ..data_files import ROOT
from ..store import KnowledgeGraph

def get_kg() -> KnowledgeGraph:
    return current_app.extensions["bpkg"]


def publisher() -> submissions.Publisher | None:
    """The publication of accepted submissions, when this app has a data directory."""
    return current_app.extensions.get("bpkg-publisher")


def shapes_folder() -> Path:
    """The shapes that ``/validate`` applies and ``/shapes`` shows: one folder for both."""
    return ROOT / current_app.config["SHAPES_PATH"]  # a relative path is from the project root


def current_validator() -> validation.Validator:
    return validation.validator_for(get_kg(), shapes_folder())


def validate_limit() -> int:
    """The largest submission, in bytes (``VALIDATE_MAX_BYTES``)."""
    return int(current_app.config["VALIDATE_MAX_BYTES"])


def public_base() -> str:
    """The base IRI this server answers for (``PUBLIC_BASE``), ending in a slash."""
    base = current_app.config["PUBLIC_BASE"]
    return base if base.endswith("/") else base + "/"


_LOCAL_REST = re.compile(r"[A-Za-z0-9_.~\-][^\s\\]*")


def local_path(iri: str) -> str | None:
    """The path on this host that answers for ``iri``, or None when ``iri`` is not ours.

    Only a remainder that starts like a path segment counts: ``<base>//evil.example/x``
    would otherwise become the scheme-relative URL ``//evil.example/x`` (an open redirect,
    and an off-site link in reports)."""
    base = public_base()
    if not iri.startswith(base) or not _LOCAL_REST.fullmatch(iri[len(base):]):
        return None
    return request.script_root + "/" + iri[len(base):]
