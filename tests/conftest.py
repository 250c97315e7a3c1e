"""Shared fixtures (Flask-tutorial style): one loaded graph per session, app and client per test."""

from __future__ import annotations

from pathlib import Path

import pytest

import bpkg
from bpkg.web import create_app

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
CONFORMANCE = SHARED / "conformance"


@pytest.fixture(scope="session")
def kg():
    """The bundled knowledge graph, loaded once (it is read-only)."""
    return bpkg.load()


@pytest.fixture()
def app(kg):
    return create_app({"TESTING": True, "KG": kg})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def reference_dir():
    if not REFERENCE.is_dir():
        pytest.skip(f"reference pack not found at {REFERENCE} (CI has it; a plain clone may not)")
    return REFERENCE
