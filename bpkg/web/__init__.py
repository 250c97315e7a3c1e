"""The Flask application factory (Flask-tutorial style).

The knowledge graph is loaded once per app and kept on ``app.extensions["bpkg"]``,
never in module globals; blueprints reach it through :func:`get_kg`.
"""

from __future__ import annotations

import threading
import time

from flask import Flask, current_app

from ..store import KnowledgeGraph, load

DEFAULTS = {
    "KG_PATHS": None,  # None = the bundled ontology/ and kg/
    "STORE": None,  # URL of an external SPARQL store to serve from instead
    "PUBLIC_BASE": "https://w3id.org/bpkg/",
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    "DATA_DIR": None,  # submissions' database (bpkg.submissions); None: default_data_dir() when enabled
    "SUBMITTER_TOKENS": None,  # comma-separated; with CURATOR_TOKENS, turns /submissions on
    "CURATOR_TOKENS": None,
}
REFRESH_EVERY_S = 1.0  # how often a request checks for an accept or revoke made by another process
_swap_lock = threading.Lock()


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("BPKG")
    if test_config:
        app.config.update(test_config)
    kg = app.config.get("KG") or _knowledge_graph(app.config)
    app.extensions["bpkg"] = kg
    pub = _publisher(app.config, kg)
    if pub is not None:  # the bundled graph plus the accepted submissions
        app.extensions["bpkg-publisher"] = pub
        app.extensions["bpkg"] = pub.current()
        app.before_request(lambda: _refresh(app))

    # One blueprint per concern; each module owns its routes.
    from . import explore, queries, resources, sparql, submissions, validate

    for module in (sparql, queries, validate, submissions, resources, explore):
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


def get_kg() -> KnowledgeGraph:
    return current_app.extensions["bpkg"]


def _publisher(config, bundled: KnowledgeGraph):
    """The publication of accepted submissions, when there is a data directory to read:
    one is configured (DATA_DIR, ``BPKG_DATA_DIR``, ``--data-dir``), or submissions are
    on (then the default folder is made). Never over an external store."""
    from .. import submissions
    from .submissions import roles

    if config.get("STORE"):
        return None
    try:
        enabled = roles(config) is not None
    except ValueError:  # bpkg serve says what is wrong and stops; an app made in code stays closed
        enabled = False
    folder = config.get("DATA_DIR") or (submissions.default_data_dir() if enabled else None)
    if folder is None or not (enabled or submissions.Inbox.exists(folder)):
        return None
    return submissions.Publisher(bundled, submissions.Inbox(folder, create=enabled))


def publisher(app):
    return app.extensions["bpkg-publisher"]


def dataset_changed(app, kg: KnowledgeGraph) -> None:
    """The one place where the served dataset changes (a submission accepted or revoked).

    Serve ``kg`` from now on (each request reads the dataset once, so it sees the old or
    the new one, never a mix), drop every cached result (their keys name the old version
    anyway), and restart the query workers, which hold a copy of the old store.
    """
    with _swap_lock:
        old = app.extensions["bpkg"]
        if old is kg or kg.generation < old.generation:  # never back to an older version
            return
        app.extensions["bpkg"] = kg
        cache = app.extensions.get("bpkg-result-cache")
        if cache is not None:
            cache.clear()
        from .sparql import restart_workers

        restart_workers(app, old, kg)
    from ..validation import validator_for

    # The first validation against the new version builds its validator (a second or so): now, not then.
    threading.Thread(target=validator_for, args=(kg,), daemon=True).start()


def _refresh(app) -> None:
    """Pick up an accept or revoke made by ``bpkg submissions`` in another process."""
    pub = app.extensions["bpkg-publisher"]
    moment = time.monotonic()
    if moment - getattr(pub, "checked", 0.0) < REFRESH_EVERY_S:
        return
    pub.checked = moment
    kg = pub.current()
    if kg is not app.extensions["bpkg"]:
        dataset_changed(app, kg)


from .serve import register_cli  # noqa: E402,F401 (``bpkg serve``; cli.py discovers it here)
