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
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager

from .protocol import Limits, SparqlError


class Admission:
    def __init__(self, limits: Limits):
        self.limits = limits
        self._cond = threading.Condition()
        self.quick = 0
        self.long = 0
        self.waiting = 0
        self._long_by_client: Counter = Counter()

    def _busy(self, why: str, retry_after: int = 1) -> SparqlError:
        return SparqlError(503, f"the server is busy ({why}); try again in {retry_after} s", retry_after)

    @contextmanager
    def slot(self, client: str):
        """Hold a quick-lane slot for one query; yields a ``go_long`` callable for the pool."""
        lim = self.limits
        with self._cond:
            if self.quick >= lim.max_workers and self.waiting >= lim.max_waiting:
                raise self._busy(f"{self.waiting} requests already wait for a query slot")
            self.waiting += 1
            end = time.monotonic() + lim.queue_wait
            try:
                while self.quick >= lim.max_workers:
                    left = end - time.monotonic()
                    if left <= 0:
                        raise self._busy(f"all {lim.max_workers} query slots stayed taken for {lim.queue_wait:g} s")
                    self._cond.wait(left)
            finally:
                self.waiting -= 1
            self.quick += 1
        lane = ["quick"]

        def go_long() -> None:
            with self._cond:
                if self._long_by_client[client] >= lim.long_per_client:
                    raise SparqlError(503, f"this client already has {lim.long_per_client} long-running queries; "
                                           "wait for them to finish", retry_after=lim.timeout.__ceil__())
                if self.long >= lim.max_long:
                    raise self._busy(f"{lim.max_long} long-running queries already", lim.timeout.__ceil__())
                self.long += 1
                self._long_by_client[client] += 1
                self.quick -= 1
                lane[0] = "long"
                self._cond.notify()

        try:
            yield go_long
        finally:
            with self._cond:
                if lane[0] == "long":
                    self.long -= 1
                    self._long_by_client[client] -= 1
                    if not self._long_by_client[client]:
                        del self._long_by_client[client]
                else:
                    self.quick -= 1
                self._cond.notify()

    def state(self) -> dict:
        with self._cond:
            return {"quick": self.quick, "long": self.long, "waiting": self.waiting}
