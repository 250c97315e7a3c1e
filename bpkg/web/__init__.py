"""The Flask application factory (Flask-tutorial style).

The knowledge graph is loaded once per app and kept on ``app.extensions["bpkg"]``,
never in module globals; blueprints reach it through :mod:`bpkg.web.context`. Settings and
their defaults: :mod:`bpkg.settings`.
"""

from __future__ import annotations

from flask import Flask

from ..settings import DEFAULTS
from ..store import KnowledgeGraph, load
from .publication import make_publisher, refresh


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("BPKG")
    if test_config:
        app.config.update(test_config)
    kg = app.config.get("KG") or _knowledge_graph(app.config)
    app.extensions["bpkg"] = kg
    pub = make_publisher(app.config, kg)
    if pub is not None:  # the bundled graph plus the accepted submissions
        app.extensions["bpkg-publisher"] = pub
        app.extensions["bpkg"] = pub.current()
        app.before_request(lambda: refresh(app))

    # Queries to /sparql are answered before Flask (query_path); installed first, so that the
    # public URL (hygiene) wraps it too.
    from . import hygiene, query_path

    app.wsgi_app = query_path.QueryPath(app, app.wsgi_app)
    # Installed before the blueprints: Flask runs after-request hooks in reverse order, so the
    # security headers go on last, also on the error pages that a blueprint's hook re-renders.
    hygiene.install(app)  # public URL, security headers, UTF-8, throttled tokens: every route

    # One blueprint per concern; each module owns its routes.
    from . import analyst, explore, queries, resources, sparql, submissions, validate

    for module in (sparql, queries, validate, submissions, resources, explore, analyst):
        app.register_blueprint(module.bp)
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

