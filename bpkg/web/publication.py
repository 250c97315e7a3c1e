"""Publication of accepted submissions in a running server: the publisher made at start-up,
the one hook through which the served dataset changes, and the check that picks up a
decision taken by ``bpkg submissions`` in another process."""

from __future__ import annotations

import threading
import time

from ..store import KnowledgeGraph

REFRESH_EVERY_S = 1.0  # how often a request checks for an accept or revoke made by another process
_swap_lock = threading.Lock()


def make_publisher(config, bundled: KnowledgeGraph):
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
        from .sparql import restart_workers, serving

        cache = serving(app).cache
        if cache is not None:
            cache.clear()
        shared = app.extensions.get("bpkg-generation")  # the other front processes (bpkg serve --processes)
        if shared is not None and shared.value < kg.generation:
            shared.value = kg.generation

        restart_workers(app, old, kg)
    from ..validation import validator_for

    # The first validation against the new version builds its validator (a second or so): now, not then.
    threading.Thread(target=validator_for, args=(kg,), daemon=True).start()


def refresh(app) -> None:
    """Pick up an accept or revoke made in another process: at once when another front
    process of this server made it, within ``REFRESH_EVERY_S`` when ``bpkg submissions`` did."""
    pub = app.extensions["bpkg-publisher"]
    moment = time.monotonic()
    shared = app.extensions.get("bpkg-generation")
    behind = shared is not None and shared.value > app.extensions["bpkg"].generation
    if not behind and moment - getattr(pub, "checked", 0.0) < REFRESH_EVERY_S:
        return
    pub.checked = moment
    kg = pub.current()
    if kg is not app.extensions["bpkg"]:
        dataset_changed(app, kg)
