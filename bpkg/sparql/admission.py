"""Fair admission: who may run a query now, and for how long.

Two lanes of query slots, apart from the server's threads (pages, static files, cached
answers never wait here):

* the **quick lane** (``max_workers`` slots): every query starts here. A request waits at
  most ``queue_wait`` seconds for a slot, and at most ``max_waiting`` requests wait at
  once; past either it gets 503 with ``Retry-After``;
* the **long lane** (``max_long`` slots, at most ``long_per_client`` per client address):
  a query still running after ``long_after`` seconds moves here, frees its quick slot,
  and runs on at the lowest CPU priority until its deadline. When the long lane is full,
  or the client already has its share there, the query is stopped at once (503).

So runaway queries, from one client or many, hold at most ``max_long`` processes that
yield the CPU to everyone else, and never the quick lane. The deadline counts from
admission (the pool starts it when the query is handed to a worker).

With several front processes (``bpkg serve --processes N``) each has its own quick lane
(its share of the slots, beside its own query workers), and all share one long lane
(:class:`SharedLongLane`), so the bounds on runaways hold for the server as a whole.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from collections import Counter
from contextlib import contextmanager

from .protocol import Limits, SparqlError


def _busy(why: str, retry_after: int = 1) -> SparqlError:
    return SparqlError(503, f"the server is busy ({why}); try again in {retry_after} s", retry_after)


class LongLane:
    """The long lane of one process: at most ``max_long`` queries, ``long_per_client`` per client."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._lock = threading.Lock()
        self._by_client: Counter = Counter()

    def enter(self, client: str) -> None:
        lim = self.limits
        with self._lock:
            if self._by_client[client] >= lim.long_per_client:
                raise _client_has_its_share(lim)
            if sum(self._by_client.values()) >= lim.max_long:
                raise _busy(f"{lim.max_long} long-running queries already", lim.timeout.__ceil__())
            self._by_client[client] += 1

    def leave(self, client: str) -> None:
        with self._lock:
            self._by_client[client] -= 1
            if not self._by_client[client]:
                del self._by_client[client]

    def __len__(self) -> int:
        with self._lock:
            return sum(self._by_client.values())


class SharedLongLane:
    """The long lane shared by the front processes of one server, in shared memory made
    before they fork: ``max_long`` places, each holding the PID of the process whose query
    runs there and a 64-bit digest of the client's address. A place held by a process that
    has died (killed with its queries) is free again."""

    def __init__(self, limits: Limits):
        self.limits = limits
        context = multiprocessing.get_context("fork")
        self._lock = context.Lock()
        self._places = context.RawArray("q", 2 * max(1, limits.max_long))  # (pid, client digest) per place

    @staticmethod
    def _digest(client: str) -> int:
        return int.from_bytes(hashlib.blake2b(client.encode(), digest_size=7).digest(), "big") or 1

    def _held(self) -> list[tuple[int, int, int]]:
        """(place, pid, client digest) of every place taken by a living process."""
        held = []
        for place in range(len(self._places) // 2):
            pid, who = self._places[2 * place], self._places[2 * place + 1]
            if pid and _alive(pid):
                held.append((place, pid, who))
        return held

    def enter(self, client: str) -> None:
        lim, me = self.limits, self._digest(client)
        with self._lock:
            held = self._held()
            if sum(1 for _, _, who in held if who == me) >= lim.long_per_client:
                raise _client_has_its_share(lim)
            taken = {place for place, _, _ in held}
            free = [place for place in range(lim.max_long) if place not in taken]
            if not free:
                raise _busy(f"{lim.max_long} long-running queries already", lim.timeout.__ceil__())
            self._places[2 * free[0]], self._places[2 * free[0] + 1] = os.getpid(), me

    def leave(self, client: str) -> None:
        me, pid = self._digest(client), os.getpid()
        with self._lock:
            for place, holder, who in self._held():
                if holder == pid and who == me:
                    self._places[2 * place] = self._places[2 * place + 1] = 0
                    return

    def __len__(self) -> int:
        with self._lock:
            return len(self._held())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _client_has_its_share(lim: Limits) -> SparqlError:
    return SparqlError(503, f"this client already has {lim.long_per_client} long-running queries; "
                            "wait for them to finish", retry_after=lim.timeout.__ceil__())


class Admission:
    def __init__(self, limits: Limits, long_lane: "LongLane | SharedLongLane | None" = None):
        self.limits = limits
        self._cond = threading.Condition()
        self.quick = 0
        self.waiting = 0
        self.long_lane = long_lane if long_lane is not None else LongLane(limits)  # (an empty lane is falsy)

    @property
    def long(self) -> int:
        return len(self.long_lane)

    @contextmanager
    def slot(self, client: str):
        """Hold a quick-lane slot for one query; yields a ``go_long`` callable for the pool."""
        lim = self.limits
        with self._cond:
            if self.quick >= lim.max_workers and self.waiting >= lim.max_waiting:
                raise _busy(f"{self.waiting} requests already wait for a query slot")
            self.waiting += 1
            end = time.monotonic() + lim.queue_wait
            try:
                while self.quick >= lim.max_workers:
                    left = end - time.monotonic()
                    if left <= 0:
                        raise _busy(f"all {lim.max_workers} query slots stayed taken for {lim.queue_wait:g} s")
                    self._cond.wait(left)
            finally:
                self.waiting -= 1
            self.quick += 1
        lane = ["quick"]

        def go_long() -> None:
            self.long_lane.enter(client)  # raises when the lane or the client's share is full
            with self._cond:
                self.quick -= 1
                lane[0] = "long"
                self._cond.notify()

        try:
            yield go_long
        finally:
            if lane[0] == "long":
                self.long_lane.leave(client)
            else:
                with self._cond:
                    self.quick -= 1
                    self._cond.notify()

    def state(self) -> dict:
        with self._cond:
            quick, waiting = self.quick, self.waiting
        return {"quick": quick, "long": self.long, "waiting": waiting}
