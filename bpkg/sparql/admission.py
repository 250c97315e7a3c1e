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

Both lanes, the quick lane's waiting room and the /validate runs are :class:`Slots`: tables in memory shared with the
processes forked after they are made, so with several front processes (``bpkg serve
--processes N``) the totals hold for the server as a whole and any front may take any free
slot. One process uses the same tables (an uncontended take and give back costs about 3 µs).
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import multiprocessing
import os
import threading
import time
from contextlib import contextmanager

from ..locking import lock_byte
from .protocol import Limits, SparqlError

FULL, TAG_FULL = -1, -2  # what Slots.take answers instead of a place
POLL_S = 0.005  # how often a waiter looks for a slot freed by another process


class Slots:
    """``size`` slots, in memory shared with the processes forked after this is made: each
    place holds the PID of the process using it (0 when free) and a tag (a client's digest,
    for the long lane). A place whose process has died, however it died, is free again:
    nothing a process held outlives it.

    The table is read and written under a POSIX record lock (``lockf``) on a byte of one
    anonymous file inherited through fork. Unlike a semaphore, the kernel releases such a
    lock when its process dies, so a process killed in the middle of a take cannot stop
    the others. Record locks belong to a process, not a thread: the threads of a process
    take turns by ``_cond``, which also wakes a waiter at once when a slot is given back in
    its own process; a slot given back in another process is seen within ``POLL_S``.
    (Not ``multiprocessing.Condition``: its ``notify`` blocks forever once a process that
    waited on it has died.)
    """

    _file: int | None = None  # the lock file of this process tree (made with the first table)
    _bytes = itertools.count()

    def __init__(self, size: int):
        self.size = max(0, size)
        self._places = multiprocessing.get_context("fork").RawArray("q", 2 * max(1, self.size))
        if Slots._file is None:
            Slots._file = os.memfd_create("bpkg-slots", os.MFD_CLOEXEC)
        self._byte = next(Slots._bytes)  # each table locks a byte of its own: one process may hold two
        self._cond = threading.Condition(threading.Lock())

    def _lock(self) -> None:
        """The table to this process, across processes (call with ``_cond`` held; then ``_unlock``)."""
        lock_byte(Slots._file, self._byte)

    def _unlock(self) -> None:
        fcntl.lockf(Slots._file, fcntl.LOCK_UN, 1, self._byte)

    def take(self, tag: int = 1, per_tag: int | None = None, wait: float = 0.0) -> int:
        """Take a free place for this process: its number, or TAG_FULL (``per_tag`` places
        already hold ``tag``) or FULL (none free within ``wait`` seconds)."""
        with self._cond:
            place = self._claim(tag, per_tag)
            end = time.monotonic() + wait
            while place == FULL:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, POLL_S))
                place = self._claim(tag, per_tag)
            return place

    def give_back(self, place: int) -> None:
        places = self._places
        with self._cond:
            self._lock()
            if places[2 * place] == os.getpid():
                places[2 * place] = places[2 * place + 1] = 0
            self._unlock()
            self._cond.notify()

    def free_places_of(self, pid: int) -> int:
        """Free every place ``pid`` holds; how many it held. For the process that reaps
        ``pid``: once reaped, its number may be given to a new process, which the sweep
        of dead holders would then take for the holder."""
        places, freed = self._places, 0
        with self._cond:
            self._lock()
            for place in range(self.size):
                if places[2 * place] == pid:
                    places[2 * place] = places[2 * place + 1] = 0
                    freed += 1
            self._unlock()
            self._cond.notify_all()
        return freed

    def __len__(self) -> int:
        """Places held by living processes."""
        with self._cond:
            self._lock()
            try:
                return sum(1 for place in range(self.size) if self._holder(place))
            finally:
                self._unlock()

    def _holder(self, place: int) -> int:
        """The PID holding ``place``, 0 when free (a dead holder's place is freed here)."""
        pid = self._places[2 * place]
        if pid and pid != os.getpid() and not _alive(pid):
            self._places[2 * place] = self._places[2 * place + 1] = pid = 0
        return pid

    def _claim(self, tag: int, per_tag: int | None) -> int:
        places, me = self._places, os.getpid()
        self._lock()
        try:
            if per_tag is None:  # the quick lane's way, on every query: the first free place
                for place in range(self.size):
                    if not places[2 * place]:
                        places[2 * place], places[2 * place + 1] = me, tag
                        return place
            # Only now, with the dead swept out: a system call per place.
            free, same = FULL, 0
            for place in range(self.size):
                if not self._holder(place):
                    free = place if free == FULL else free
                elif places[2 * place + 1] == tag:
                    same += 1
            if per_tag is not None and same >= per_tag:
                return TAG_FULL
            if free >= 0:
                places[2 * free], places[2 * free + 1] = me, tag
            return free
        finally:
            self._unlock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _busy(why: str, retry_after: int = 1) -> SparqlError:
    return SparqlError(503, f"the server is busy ({why}); try again in {retry_after} s", retry_after)


class LongLane:
    """The long lane: ``max_long`` slots, at most ``long_per_client`` of them per client
    (a 56-bit digest of its address is the slot's tag)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.slots = Slots(limits.max_long)

    def enter(self, client: str) -> int:
        """A place in the lane for ``client``'s query, or SparqlError 503 at once."""
        lim = self.limits
        digest = int.from_bytes(hashlib.blake2b(client.encode(), digest_size=7).digest(), "big")
        place = self.slots.take(digest, per_tag=lim.long_per_client)
        if place == TAG_FULL:
            raise SparqlError(503, f"this client already has {lim.long_per_client} long-running queries; "
                                   "wait for them to finish", retry_after=lim.timeout.__ceil__())
        if place < 0:
            raise _busy(f"{lim.max_long} long-running queries already", lim.timeout.__ceil__())
        return place

    def leave(self, place: int) -> None:
        self.slots.give_back(place)

    def __len__(self) -> int:
        return len(self.slots)


class Admission:
    """The quick lane (``quick``, ``limits.max_workers`` slots), its waiting room
    (``limits.max_waiting`` places: a request waits for a slot only in one of them) and the
    long lane of a server; each made here unless given (shared with the other fronts)."""

    def __init__(self, limits: Limits, quick: Slots | None = None, long_lane: LongLane | None = None,
                 waiting_room: Slots | None = None):
        self.limits = limits
        self.quick = quick if quick is not None else Slots(limits.max_workers)  # (an empty table is falsy)
        self.long_lane = long_lane if long_lane is not None else LongLane(limits)
        self.waiting_room = waiting_room if waiting_room is not None else Slots(limits.max_waiting)

    @contextmanager
    def slot(self, client: str):
        """Hold a quick-lane slot for one query; yields a ``go_long`` callable for the pool."""
        lim = self.limits
        place = self.quick.take()
        if place == FULL:  # wait for one, in a place of the waiting room
            seat = self.waiting_room.take()
            if seat == FULL:
                raise _busy(f"{self.waiting_room.size} requests already wait for a query slot")
            try:
                place = self.quick.take(wait=lim.queue_wait)
            finally:
                self.waiting_room.give_back(seat)
            if place == FULL:
                raise _busy(f"all {self.quick.size} query slots stayed taken for {lim.queue_wait:g} s")
        held = [self.quick, place]

        def go_long() -> None:
            long_place = self.long_lane.enter(client)  # raises when the lane or the client's share is full
            self.quick.give_back(place)
            held[:] = [self.long_lane.slots, long_place]

        try:
            yield go_long
        finally:
            held[0].give_back(held[1])

    def state(self) -> dict:
        """Slots held, and requests waiting for one, in the whole server."""
        return {"quick": len(self.quick), "long": len(self.long_lane), "waiting": len(self.waiting_room)}
