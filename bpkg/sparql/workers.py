"""Step 3: query processes. A job runs in a process without network, under an
address-space limit, killed with SIGKILL at its deadline: a one-shot child per job, or a
pool of long-lived workers forked from the loaded server."""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import gc
import json
import os
import pickle
import queue
import resource
import select
import signal
import socket
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from . import cores
from .admission import Slots
from .evaluate import evaluate_job, outcome_of
from .protocol import Limits, SparqlError, Target


# -- 3. query processes ---------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
PR_SET_PDEATHSIG = 1
NO_NETWORK_ISOLATION = 3  # a query process's exit code when it could not drop its network access
_FRAME = struct.Struct(">IQ")  # header length, body length
_SIZE_SLACK = 1 << 16
_ONE_WRITE = 1 << 16  # frames smaller than this cross the channel in one write and one read
WORKER_MAX_JOBS = 1000  # then a worker is replaced, so no slow growth lasts


def isolate_network() -> bool:
    """Move this (single-threaded, forked) process into an empty network namespace."""
    unshare = getattr(os, "unshare", None)
    for flags in (CLONE_NEWNET, CLONE_NEWUSER | CLONE_NEWNET):
        try:
            if unshare:
                unshare(flags)
                return True
            if _libc.unshare(flags) == 0:
                return True
        except OSError:
            continue
    return False


def _limit_memory(extra_mb: int) -> None:
    try:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * resource.getpagesize()
        cap = current + extra_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (OSError, ValueError):
        pass  # no /proc or no permission: the deadline still holds


def die_with(parent: int) -> None:
    """SIGKILL this process when the server ends, however it ends (kill -9, the OOM killer).

    The kernel sends the signal when the *thread* that forked this process ends, so pool
    workers are forked by one thread that lives as long as the server (:class:`_Forker`)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the server ended between fork and prctl
        os._exit(0)


def network_isolation_available() -> bool:
    """Can a query process drop its network access here? Tried in a throw-away child."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if isolate_network() else 1)
    return os.waitpid(pid, 0)[1] == 0


def _become_query_process(keep_fd: int, memory_mb: int, network: bool = False, allow_network: bool = False,
                          parent: int | None = None) -> None:
    """First thing in a forked child: default signals, no descriptor but its own channel
    (not the server's sockets, and not other workers' channels, whose end-of-file must
    reach them when the server goes), no network, capped memory.

    ``network=True`` only for an engine that is itself a remote store (``bpkg serve
    --store``): the gate has already refused SERVICE, LOAD and foreign FROM, so the one
    host such a worker talks to is the store."""
    if parent is not None:
        die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    cores.unpin_self()  # in case the parent had not yet (a pool worker is placed per query: WorkerPool._place)
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, max(keep_fd + 2, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
    if not network and not isolate_network() and not allow_network:
        os._exit(NO_NETWORK_ISOLATION)  # never evaluate a query with the server's network
    _limit_memory(memory_mb)


def spawn_query_process(channel_fd: int, body, memory_mb: int, network: bool = False,
                        allow_network: bool = False) -> int:
    """The one way a disposable process is made, for a one-shot job and a pool worker alike:
    fork; in the child become a query process (dies with the server, only ``channel_fd``
    open, no network, capped memory), run ``body()`` and exit without running any of the
    server's exit handlers. Returns the child's pid."""
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        # Everything inherited from the server goes out of the collector's reach: a collection
        # writes into the header of every object it visits, which would copy each page the
        # child shares with the server (the pages stay shared until someone writes to them).
        gc.freeze()
        code = 0
        try:
            _become_query_process(channel_fd, memory_mb, network=network, allow_network=allow_network, parent=parent)
            body()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    if cores.home() is not None:  # forked on a pinned front's core: may start on another one at once
        cores.place(pid, None)
    return pid


class _Deadline(Exception):
    pass


class _TooLarge(Exception):
    pass


def _write_frame(fd: int, header: dict, body: bytes = b"") -> None:
    head = json.dumps(header).encode()
    prefix = _FRAME.pack(len(head), len(body)) + head
    parts = (prefix + body,) if len(body) < _ONE_WRITE else (prefix, body)  # one system call for most answers
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]


def _readable(fd: int, timeout: float) -> bool:
    """``fd`` has data (or end of file) within ``timeout`` s. poll, not select: with a
    thousand client connections open, descriptors pass 1024, where select stops."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0, int(timeout * 1000))))


def _read_into(fd: int, buf: bytearray, n: int, deadline: float | None, greedy: bool = False) -> bool:
    """Read from ``fd`` until ``buf`` holds ``n`` bytes (False at end of file); past
    ``deadline`` raises _Deadline. ``greedy``: take what is there, up to 64 KiB, in one read
    (only where nothing can follow the frame being read: the channel carries one at a time)."""
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Deadline
            if not _readable(fd, left):
                continue
        chunk = os.read(fd, max(n - len(buf), _ONE_WRITE) if greedy else min(n - len(buf), 1 << 20))
        if not chunk:
            return False
        buf += chunk
    return True


def _read_frame(fd: int, deadline: float | None, max_size: int | None = None) -> tuple[dict, bytes] | None:
    buf = bytearray()
    if not _read_into(fd, buf, _FRAME.size, deadline, greedy=True):  # most frames arrive whole in this one read
        return None
    head_size, body_size = _FRAME.unpack_from(buf)
    if max_size is not None and head_size + body_size > max_size + _SIZE_SLACK:  # the worker caps itself: a backstop
        raise _TooLarge
    end = _FRAME.size + head_size + body_size
    if not _read_into(fd, buf, end, deadline):
        return None
    # decode(): json.dumps wrote ASCII, and json.loads would first guess the encoding of bytes (2 µs)
    return json.loads(buf[_FRAME.size:_FRAME.size + head_size].decode()), bytes(buf[_FRAME.size + head_size:end])


def _how_it_ended(status: int | None) -> str:
    if status is None:
        return "it stopped answering"
    return f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"


NO_NETWORK_MESSAGE = ("query processes cannot drop their network access on this machine (no network namespaces), "
                      "so no query is run; set BPKG_SPARQL_ALLOW_NETWORK=1 to run them anyway")


def _crashed(status: int | None) -> SparqlError:
    # We only SIGKILL at a deadline, and that path answers before reaching here: a SIGKILL
    # seen here came from outside (an operator, the OOM killer), so the query is not to blame.
    if status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == NO_NETWORK_ISOLATION:
        return SparqlError(503, NO_NETWORK_MESSAGE)
    if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return SparqlError(503, "the query worker was stopped from outside while answering; "
                                "the server is unaffected, try again")
    return SparqlError(400, f"the query engine failed on this query ({_how_it_ended(status)}); the server itself is "
                            "unaffected. Simplify the query or narrow it down.")


def _reap(pid: int, grace: float = 0.0) -> int | None:
    """Wait for ``pid``; SIGKILL it if it has not ended within ``grace`` seconds."""
    end = time.monotonic() + grace
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            if time.monotonic() >= end:
                os.kill(pid, signal.SIGKILL)
                return os.waitpid(pid, 0)[1]
            time.sleep(0.005)
    except (ChildProcessError, ProcessLookupError):
        return None


def _reap_later(pid: int) -> None:
    # Unmapping a large forked address space takes milliseconds; don't make the client wait.
    threading.Thread(target=_reap, args=(pid,), daemon=True).start()


# One-shot: a child per job (the CLI, the update sandbox's changing store, tests).

_slots: dict = {}
_slots_lock = threading.Lock()


def _slots_of(limits: Limits, lane: str) -> Slots:
    with _slots_lock:
        return _slots.setdefault((lane, limits.max_workers), Slots(limits.max_workers))


def run_isolated(job, limits: Limits, lane: str = "query", slots: Slots | None = None) -> tuple[dict, bytes]:
    """Run ``job()`` (returns (header dict, body bytes)) in a forked child without network,
    under the deadline; raises SparqlError 503 at the deadline, 400 if the child dies.
    At most ``limits.max_workers`` such children per ``lane`` of this process at once, or
    as many as ``slots`` has (a table the server's fronts share)."""
    if slots is None:
        slots = _slots_of(limits, lane)
    deadline = time.monotonic() + limits.timeout
    place = slots.take(wait=limits.timeout)
    if place < 0:
        raise SparqlError(503, f"the server is busy ({slots.size} queries running); try again shortly")
    try:
        read_fd, write_fd = os.pipe()
        pid = spawn_query_process(write_fd, lambda: _write_frame(write_fd, *outcome_of(job)), limits.memory_mb,
                                  allow_network=limits.allow_network)
        os.close(write_fd)
        try:
            frame = _read_frame(read_fd, deadline, limits.max_bytes)
        except _Deadline:
            os.kill(pid, signal.SIGKILL)
            _reap_later(pid)
            raise SparqlError(503, f"the query was stopped at its deadline of {limits.timeout:g} s") from None
        except _TooLarge:
            os.kill(pid, signal.SIGKILL)
            _reap_later(pid)
            raise SparqlError(503, "the response grew past the size limit") from None
        finally:
            os.close(read_fd)
        if frame is None:
            raise _crashed(_reap(pid, grace=1.0))
        _reap_later(pid)
        return frame
    finally:
        slots.give_back(place)


def call_isolated(fn, limits: Limits, lane: str, slots: Slots | None = None):
    """``fn()`` in a disposable process (no network, the memory cap, killed at the deadline):
    its return value, or the exception it raised, comes back pickled. For work that must not
    hold the server's memory or threads, such as a validation."""
    def job():
        try:
            outcome = ("returned", fn())
        except Exception as exc:  # noqa: BLE001 (the caller sees it raised as it was)
            outcome = ("raised", exc)
        return {"status": 200}, pickle.dumps(outcome)

    header, body = run_isolated(job, limits, lane, slots)
    if header["status"] != 200:
        raise SparqlError(header["status"], header["message"])
    how, value = pickle.loads(body)
    if how == "raised":
        raise value
    return value


# Pooled: long-lived workers forked from the loaded server (the web endpoint).

class _Forker:
    """One thread that forks every pool worker. A worker's parent-death signal fires when
    the thread that forked it ends, so it must not be a request's or a refill's thread."""

    def __init__(self):
        self.owner = os.getpid()
        self._jobs: "queue.SimpleQueue" = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="bpkg-forker", daemon=True).start()

    def _loop(self) -> None:
        while True:
            fn, done = self._jobs.get()
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

    def call(self, fn):
        if threading.current_thread() is threading.main_thread():
            return fn()  # the main thread lives as long as the process
        done = concurrent.futures.Future()
        self._jobs.put((fn, done))
        return done.result()


_the_forker: _Forker | None = None
_forker_lock = threading.Lock()


def _forker() -> _Forker:
    global _the_forker
    with _forker_lock:
        if _the_forker is None or _the_forker.owner != os.getpid():
            _the_forker = _Forker()
        return _the_forker


@dataclass(eq=False)
class _Worker:
    pid: int
    channel: socket.socket
    jobs: int = 0
    retire: bool = False  # reniced for a long query: replaced once it has answered
    pinned: bool = False  # runs on its front's core only (see WorkerPool._place)

    @property
    def fd(self) -> int:
        return self.channel.fileno()

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False


class _PrivateMemory:
    """Has this process made more than ``limit_mb`` of its memory its own?

    A worker shares the server's pages until one of them is written, and the engine writes
    while it reads (measured: a forked worker's private memory grows by the part of
    pyoxigraph's in-memory store a query scans, 300 MB for 170,000 rows at 2M triples, while
    its resident size hardly moves), so a worker ends up with its own copy of every page it
    has scanned, up to the whole store in each worker. Past ``Limits.worker_private_mb``
    it is replaced by a fresh fork, which shares everything again. Read from
    /proc/self/smaps_rollup (milliseconds on a large process) only once the page faults
    since the fork (a microsecond to read) could have reached the limit."""

    def __init__(self, limit_mb: int):
        self.limit_kib = limit_mb * 1024
        self.page_kib = resource.getpagesize() // 1024
        # 0 turns the check off (WORKER_MAX_JOBS still bounds a worker's life)
        self.next_look = self._faults() + self.limit_kib // self.page_kib if limit_mb > 0 else float("inf")

    @staticmethod
    def _faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def over(self) -> bool:
        faults = self._faults()
        if faults < self.next_look:
            return False
        try:
            with open("/proc/self/smaps_rollup") as f:
                own = sum(int(line.split()[1]) for line in f if line.startswith(("Private_Clean", "Private_Dirty")))
        except (OSError, ValueError):
            self.next_look = float("inf")  # no /proc: WORKER_MAX_JOBS still bounds the growth
            return False
        if own >= self.limit_kib:
            return True
        self.next_look = faults + (self.limit_kib - own) // self.page_kib
        return False


def _worker_loop(fd: int, target: Target, private_mb: int) -> None:
    """A worker's life: read a job, answer it, until the server closes the channel."""
    served = 0
    private = _PrivateMemory(private_mb)
    while True:
        frame = _read_frame(fd, None)
        if frame is None:
            return
        job, _ = frame
        header, body = outcome_of(lambda: evaluate_job(target, job))
        served += 1
        if served >= WORKER_MAX_JOBS or private.over():
            header["retire"] = True
        _write_frame(fd, header, body)
        if header.get("retire"):
            return


class WorkerPool:
    """Up to ``size`` long-lived query processes for one read-only store.

    A worker is forked when one is needed and none is idle (``start()`` forks them all
    up front, before a threaded server starts), each isolated once (network, memory,
    descriptors). A request takes an idle worker, waiting at most until its deadline
    (then 503); at the deadline the worker is killed and a replacement forked in the
    background; a worker that dies costs only the request it was running. Workers end
    with the server: ``close()`` (also at exit) kills them by PID, and a worker whose
    channel reaches end of file (the server died) exits by itself.

    The store must not change after the pool is made: workers see it as it was at fork.
    """

    def __init__(self, target: Target, size: int, memory_mb: int, allow_network: bool = False, prefork: int | None = None,
                 private_mb: int = Limits.worker_private_mb):
        self.target, self.size, self.memory_mb, self.private_mb = target, max(1, size), memory_mb, private_mb
        self.allow_network = allow_network
        self.prefork = self.size if prefork is None else min(prefork, self.size)
        self.owner = os.getpid()
        self.home = cores.home()  # the front's core, when it runs on one (bpkg.sparql.cores)
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: dict[int, _Worker] = {}
        self._starting = 0
        self.closed = False

    @property
    def pids(self) -> list[int]:
        with self._cond:
            return sorted(self._all)

    def start(self) -> "WorkerPool":
        # What the server loaded so far lives as long as it does: frozen, the server's own
        # collections never write to those pages again, so the workers keep sharing them.
        gc.freeze()
        for _ in range(self.prefork):
            if not self._reserve():
                break
            self._add(idle=True)
        return self

    def run(self, job: dict, limits: Limits, on_long=None) -> tuple[dict, bytes]:
        """Answer ``job`` in a worker within ``limits.timeout`` of now. ``on_long()`` is
        called once if the answer has not come after ``limits.long_after`` seconds: it
        returns to let the query go on (the worker then runs at the lowest CPU priority
        and is replaced after answering) or raises SparqlError to stop it."""
        deadline = time.monotonic() + limits.timeout
        for _ in range(3):
            worker = self._acquire(deadline)
            if self.home is not None:
                self._place(worker)
            try:
                _write_frame(worker.fd, job)
            except OSError:  # it died while idle: not this query's doing, try another
                self._discard(worker, kill=True)
                continue
            if on_long is not None and not _readable(worker.fd, limits.long_after):
                try:
                    on_long()
                except BaseException:
                    self._discard(worker, kill=True)
                    raise
                worker.retire = True
                try:
                    os.setpriority(os.PRIO_PROCESS, worker.pid, 19)  # quick queries first
                except OSError:
                    pass
                if worker.pinned:  # a long query may use any core (at the lowest priority)
                    worker.pinned = not cores.place(worker.pid, None)
            return self._reply(worker, deadline, limits)
        raise SparqlError(503, "no query worker could be started; try again shortly")

    def close(self) -> None:
        if self.owner != os.getpid():  # a copy inherited through fork: the workers are not ours
            return
        with self._cond:
            self.closed = True
            workers = list(self._all.values())
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            worker.channel.close()
        for worker in workers:
            _reap(worker.pid)

    # -- internals

    def _reply(self, worker: _Worker, deadline: float, limits: Limits) -> tuple[dict, bytes]:
        try:
            frame = _read_frame(worker.fd, deadline, limits.max_bytes)
        except _Deadline:
            self._discard(worker, kill=True)
            raise SparqlError(503, f"the query was stopped at its deadline of {limits.timeout:g} s") from None
        except _TooLarge:
            self._discard(worker, kill=True)
            raise SparqlError(503, "the response grew past the size limit") from None
        except BaseException:  # the worker is mid-answer: it cannot serve anyone else
            self._discard(worker, kill=True)
            raise
        if frame is None:
            self._discard(worker, kill=False, reap_later=False)
            raise _crashed(_reap(worker.pid, grace=1.0))
        header, body = frame
        if header.pop("retire", False):  # it exits by itself after this answer
            self._discard(worker, kill=False)
        elif worker.retire:  # reniced: a fresh worker takes its place
            self._discard(worker, kill=True)
        else:
            self._release(worker)
        return header, body

    def _reserve(self, up_to: int | None = None) -> bool:
        """Claim the right to fork one more worker (False when the pool has ``up_to``
        workers, by default its size, or is closed)."""
        with self._cond:
            if self.closed or len(self._all) + self._starting >= min(self.size, up_to or self.size):
                return False
            self._starting += 1
            return True

    def _add(self, idle: bool) -> _Worker | None:
        """Fork a worker for a reservation; idle=True puts it in the idle list."""
        try:
            worker = self._spawn()
        except OSError:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            return None
        with self._cond:
            self._starting -= 1
            if self.closed:
                os.kill(worker.pid, signal.SIGKILL)
                _reap_later(worker.pid)
                worker.channel.close()
                return None
            self._all[worker.pid] = worker
            if idle:
                self._idle.append(worker)
                self._cond.notify()
        return worker

    def _spawn(self) -> _Worker:
        return _forker().call(self._fork)

    def _fork(self) -> _Worker:
        ours, theirs = socket.socketpair()
        pid = spawn_query_process(theirs.fileno(), lambda: _worker_loop(theirs.fileno(), self.target, self.private_mb),
                                  self.memory_mb, network=getattr(self.target.store, "needs_network", False),
                                  allow_network=self.allow_network)
        theirs.close()
        return _Worker(pid, ours)

    def _acquire(self, deadline: float) -> _Worker:
        with self._cond:
            while True:
                if self.closed:
                    raise SparqlError(503, "the server is shutting down")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    self._all.pop(worker.pid, None)
                    worker.channel.close()
                if len(self._all) + self._starting < self.size:
                    self._starting += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SparqlError(503, f"the server is busy ({self.size} queries running); try again shortly")
                self._cond.wait(left)
        worker = self._add(idle=False)
        if worker is None:
            raise SparqlError(503, "no query worker could be started; try again shortly")
        return worker

    def _place(self, worker: _Worker) -> None:
        """A query that runs alone in this front runs on the front's core; when others run
        too, none of them is held to it (see :mod:`.cores`). Moves happen only when the
        count changes between one and more: a front answering one client after another
        makes no system call for this."""
        with self._cond:
            others = len(self._all) - len(self._idle) - 1
            held = [w for w in self._all.values()
                    if w.pinned and w is not worker and not any(w is idle for idle in self._idle)] if others else []
        if not others:
            if not worker.pinned:
                worker.pinned = cores.place(worker.pid, self.home)
            return
        for running in (worker, *held):
            if running.pinned:
                running.pinned = not cores.place(running.pid, None)

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if worker.pid in self._all:
                self._idle.append(worker)
                self._cond.notify()

    def _discard(self, worker: _Worker, kill: bool, reap_later: bool = True) -> None:
        """Forget a worker (killing it if asked) and fork its replacement in the background."""
        with self._cond:
            self._all.pop(worker.pid, None)
            self._cond.notify()
        if kill:
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        worker.channel.close()
        if reap_later:
            _reap_later(worker.pid)
        threading.Thread(target=self._refill, daemon=True).start()

    def _refill(self) -> None:
        # Back to the workers forked at start, not to the pool's size: the long lane's
        # workers are forked when a long query needs one, so idle ones never sit there
        # holding their own copies of the pages they once scanned.
        while self._reserve(self.prefork):
            if self._add(idle=True) is None:
                return


_pools: "OrderedDict[int, WorkerPool]" = OrderedDict()
_pools_lock = threading.Lock()
_MAX_POOLS = 4  # one per store served; more only in tests that build several graphs


def worker_pool(target: Target, limits: Limits, prefork: int | None = None) -> WorkerPool:
    """The worker pool of this process for ``target``'s store (made on first use): as many
    workers as the quick and the long lane have slots, ``prefork`` of them (by default
    ``limits.max_workers``) forked at start and kept."""
    key = id(target.store)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None and pool.owner == os.getpid() and pool.target.store is target.store and not pool.closed:
            _pools.move_to_end(key)
            return pool
        pool = _pools[key] = WorkerPool(target, limits.max_workers + limits.max_long, limits.memory_mb,
                                        limits.allow_network,
                                        prefork=limits.max_workers if prefork is None else prefork,
                                        private_mb=limits.worker_private_mb)
        evicted = [_pools.popitem(last=False)[1] for _ in range(len(_pools) - _MAX_POOLS)]
    for old in evicted:
        old.close()
    return pool


def shutdown_pools() -> None:
    """Stop every worker this process forked (at exit, and in tests' teardown)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


atexit.register(shutdown_pools)
