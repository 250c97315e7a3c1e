"""Which core a front process and its query processes run on.

Answering an uncached query hands it from waitress's loop to a request thread, from there
to a query process and back: four wake-ups. A wake-up on the core the waker runs on costs
a few microseconds; one on another core costs ten times as much, most of all on a virtual
machine, where waking another core is an interrupt between virtual CPUs (measured on the
2-core CI machine, a bare round trip between two processes over a socket pair: 4.2 µs on
one core, 42.5 µs across two). The kernel's scheduler does not know that the process it
wakes is the one the waker is about to wait for, and often picks the other core.

So, unless ``PIN_CPUS`` is off:

* each front (:mod:`bpkg.web.fronts`; the one process of a single-process server) runs on
  one of the server's cores, the N-th front on the N-th core, in turn. Its threads are
  bound by one lock anyway (the GIL), so they lose no parallelism by sharing a core;
* a query that runs *alone* in its front runs on the front's core (:func:`place`): its
  wake-ups stay on one core while the front waits for it;
* as soon as a front runs two queries at once, every one of them may run on any core
  again, and so does a query that becomes long-running: a query never waits for the
  front's core while another core is free;
* every process a front forks (a validation run, a one-shot query, a new query worker) is
  let go from the front's core as soon as it exists, so it may start on an idle core
  rather than wait for the front's.
"""

from __future__ import annotations

import os

# The cores this server may use, read before any front pins itself.
SERVER_CPUS: frozenset[int] = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def pin_front(index: int) -> None:
    """Run this process from now on on one core: the ``index``-th of the server's, in turn.
    Call it from the main thread before any other thread starts (threads inherit it)."""
    if len(SERVER_CPUS) > 1:
        cpus = sorted(SERVER_CPUS)
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})


def home() -> frozenset[int] | None:
    """This process's one core, when it is pinned to one (None otherwise)."""
    if len(SERVER_CPUS) <= 1:
        return None
    mine = frozenset(os.sched_getaffinity(0))
    return mine if len(mine) == 1 else None


def place(pid: int, cpus: frozenset[int] | None) -> bool:
    """Let process ``pid`` run on ``cpus`` only (None: on any of the server's cores).
    False when it could not be moved (it has ended)."""
    try:
        os.sched_setaffinity(pid, cpus or SERVER_CPUS)
        return True
    except OSError:
        return False


def unpin_self() -> None:
    """In a process just forked from a pinned front: free to run on any of the server's cores."""
    if SERVER_CPUS and frozenset(os.sched_getaffinity(0)) != SERVER_CPUS:
        os.sched_setaffinity(0, SERVER_CPUS)
