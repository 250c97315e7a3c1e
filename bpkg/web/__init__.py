"""The Flask application factory (Flask-tutorial style).

The knowledge graph is loaded once per app and kept on ``app.extensions["bpkg"]``,
never in module globals; blueprints reach it through :func:`get_kg`.
"""

from __future__ import annotations

from flask import Flask, current_app

from ..store import KnowledgeGraph, load

DEFAULTS = {
    "KG_PATHS": None,  # None = the bundled ontology/ and kg/
    "STORE": None,  # URL of an external SPARQL store to serve from instead
    "PUBLIC_BASE": "https://w3id.org/bpkg/",
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
}


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("BPKG")
    if test_config:
        app.config.update(test_config)
    kg = app.config.get("KG") or _knowledge_graph(app.config)
    app.extensions["bpkg"] = kg

    # One blueprint per concern; each module owns its routes.
    from . import explore, queries, resources, sparql, submissions, validate

    for module in (sparql, queries, validate, submissions, resources, explore):
        app.register_blueprint(module.bp)
    from . import hygiene

    hygiene.install(app)  # public URL, security headers, UTF-8, throttled tokens: every route
    return app


def _knowledge_graph(config) -> KnowledgeGraph:
    """The bundled files, or, with ``STORE`` (``BPKG_STORE``, ``bpkg serve --store URL``),
    an external SPARQL store that every reader then goes through."""
    if config.get("STORE"):
        import os

        from ..remote import RemoteStore
        from ..store import from_store

        return from_store(RemoteStore.from_env({**os.environ, "BPKG_STORE": str(config["STORE"])}))
    return load(config["KG_PATHS"])


def get_kg() -> KnowledgeGraph:
    return current_app.extensions["bpkg"]


from .serve import register_cli  # noqa: E402,F401 (``bpkg serve``; cli.py discovers it here)
