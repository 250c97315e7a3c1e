"""Several front processes: ``bpkg serve --processes N``, by default one per core (at most 4).

One interpreter runs Python on one core at a time (the GIL), so one process answering
HTTP tops out at about a thousand small queries a second however many cores the machine
has. So the loaded server forks N *front* processes that accept on one listening socket;
each runs waitress, its own query workers and its own threads, so small queries are
answered on N cores at once. The default stops at 4 fronts: the query processes need
cores too.

What the fronts share, in memory made before they fork (so they read one number, never a
message): the query slots of both lanes, the quick lane's waiting room and the /validate
runs (:class:`bpkg.sparql.admission.Slots`: the totals hold for the whole server, and any
front may take any free slot; with a share each, 32 clients' queries arriving unevenly
found one front's half of the waiting room full and got 503 while the other's had room),
the result cache (:class:`bpkg.cache.SharedResultCache`: a result any front computed
answers the same request at every front, which a client opening a connection per query
reached one time in N with a cache each), the count of wrong tokens per address
(:class:`bpkg.web.hygiene.SharedAuthFailures`), and the generation of the served dataset
(a submission accepted through one front is served by every front from its next request).
What each front has of its own is a share of the open connections (``--connections`` is
the server's). The configured totals are what the service description shows.

The first process, the supervisor, answers nothing: it forwards SIGTERM and SIGINT to the
fronts (each then finishes its requests in flight, as one server does), replaces a front
that dies otherwise, and exits when they have all stopped. A front dies with it, whatever
kills it (``kill -9`` included), and a front's query workers die with the front; a slot a
dead front held is free again (the supervisor frees it as it reaps the front, before the
front's process number can be given to another process).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
import threading
import time

RESPAWN_PAUSE_S = 1.0  # a front that keeps dying is replaced at most this often
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def running(config) -> int:
    """How many fronts serve: ``PROCESSES`` as ``bpkg serve`` settled it (an app it does not
    serve, such as a test's, answers from one process)."""
    return max(1, int(config.get("PROCESSES") or 1))


def share_of(total: int, processes: int) -> int:
    """One front's share of a server-wide total: never 0 unless the total is (0 turns a cache off)."""
    return 0 if total <= 0 else max(1, math.ceil(total / processes))


def slots(app) -> dict:
    """The slot tables of the server: ``quick``, its ``waiting`` room and ``long`` (the lanes of
    :mod:`bpkg.sparql.admission`) and ``validation`` (``VALIDATE_PARALLEL``). Made on first
    use, which for several fronts is :func:`share_state`, before they fork."""
    from ..sparql import Limits
    from ..sparql.admission import LongLane, Slots

    with _slots_lock:
        if "bpkg-slots" not in app.extensions:
            limits = Limits.from_config(app.config)
            app.extensions["bpkg-slots"] = {"quick": Slots(limits.max_workers), "waiting": Slots(limits.max_waiting),
                                            "long": LongLane(limits),
                                            "validation": Slots(int(app.config["VALIDATE_PARALLEL"]))}
        return app.extensions["bpkg-slots"]


_slots_lock = threading.Lock()


def free_places_of(app, pid: int) -> int:
    """Free the slots a front ``pid`` held when it ended (how many). A place whose holder
    has died is free anyway, but only while that process number is unused: a process that
    got it later would hold the place, here for as long as it lives."""
    tables = slots(app)
    return sum(table.free_places_of(pid) for table in
               (tables["quick"], tables["waiting"], tables["long"].slots, tables["validation"]))


def result_cache(app):
    """The server's result cache (None when ``SPARQL_CACHE_ENTRIES`` or ``_BYTES`` is 0): made
    on first use, which for several fronts is :func:`share_state`, before they fork, in
    memory they all share (:class:`bpkg.cache.SharedResultCache`)."""
    from ..cache import ResultCache, SharedResultCache

    with _slots_lock:
        if "bpkg-result-cache" not in app.extensions:
            entries, size = int(app.config.get("SPARQL_CACHE_ENTRIES") or 0), int(app.config.get("SPARQL_CACHE_BYTES") or 0)
            kind = SharedResultCache if running(app.config) > 1 else ResultCache
            app.extensions["bpkg-result-cache"] = kind(entries, size) if entries > 0 and size > 0 else None
        return app.extensions["bpkg-result-cache"]


def share_state(app) -> None:
    """Put in shared memory what the fronts must count together; before they fork."""
    from .hygiene import SharedAuthFailures

    app.extensions["bpkg-auth-failures"] = SharedAuthFailures(int(app.config["AUTH_FAILURES"]))
    slots(app)
    result_cache(app)
    generation = multiprocessing.get_context("fork").RawValue("q", app.extensions["bpkg"].generation)
    app.extensions["bpkg-generation"] = generation
    app.extensions.pop("bpkg-serving", None)  # made again in each front, with its own workers and shares


def supervise(start_front, processes: int, on_stop, on_reaped=lambda pid: None) -> int:
    """Fork ``processes`` fronts (``start_front(index)`` runs the ``index``-th, from 0, and never returns) and
    watch them until a signal stops them all; 0 when every front stopped cleanly.
    ``on_stop()`` runs at the signal (it closes the supervisor's copy of the listening
    socket, so the port closes once the fronts have closed theirs); ``on_reaped(pid)`` as
    soon as a front has ended and been reaped (:func:`free_places_of`)."""
    import gc

    gc.freeze()  # the loaded graph's objects stay shared with the fronts (see WorkerPool.start)
    fronts: dict[int, int] = {}  # pid -> its index (the core it runs on, see bpkg.sparql.cores)
    stopping = []

    def fork() -> None:
        # A stop signal that reaches a front before it has its own handler waits (blocked)
        # until the front has one: never the default action, which would drop what it accepted.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        index = min(set(range(processes)) - set(fronts.values()))
        pid = os.fork()
        if pid == 0:
            try:
                start_front(index)  # sets its handlers, unblocks the signals, and ends the process itself
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(1)
        fronts[pid] = index  # before a pending stop signal is delivered here: the new front gets it too
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def stop(signum, _frame) -> None:
        if not stopping:
            on_stop()
        stopping.append(signum)
        for pid in list(fronts):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    for _ in range(processes):
        fork()
    failed, last_respawn = False, 0.0
    while fronts:
        pid, status = os.wait()  # resumed after a signal's handler (PEP 475)
        if pid not in fronts:
            continue
        del fronts[pid]
        on_reaped(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            failed |= code != 0
            continue
        print(f"bpkg serve: front process {pid} ended ({_how(code)}); starting another", file=sys.stderr, flush=True)
        pause = last_respawn + RESPAWN_PAUSE_S - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        last_respawn = time.monotonic()
        if not stopping:
            fork()
    return 1 if failed else 0


def on_stop_signal(stop) -> None:
    """In a front: SIGTERM and SIGINT set ``stop`` from now on, including one that came
    while the front was starting (it was blocked, so it is delivered now)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: stop.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _how(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"exit code {code}"
