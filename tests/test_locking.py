"""The record locks of the tables the front processes share (bpkg.locking): the kernel's
false deadlocks must not reach a request. It counts every thread of a process as one lock
owner, so two fronts, each with one thread holding a table and another waiting for the
other front's, look deadlocked to it, and it refuses the second wait (EDEADLK). Seen under
8 clients at the default two fronts: unhandled in the result cache, it left the cache
locked in one front and its requests hung; in the query slots, it failed the request."""

from __future__ import annotations

import fcntl
import os
import threading
import time

from bpkg.locking import lock_byte


def _hold_then_want(fd: int, held: int, wanted: int, holding: threading.Event, go: threading.Event,
                    errors: list) -> None:
    """One thread holds ``held``; another then waits for ``wanted``; the first lets go later."""
    lock_byte(fd, held)
    holding.set()

    def want() -> None:
        try:
            lock_byte(fd, wanted)
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, wanted)
        except OSError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=want)
    go.wait(10)
    waiter.start()
    time.sleep(0.5)  # both fronts now wait for each other's byte, as the kernel sees it
    fcntl.lockf(fd, fcntl.LOCK_UN, 1, held)
    waiter.join(10)
    if waiter.is_alive():
        errors.append(TimeoutError("still waiting"))


def test_two_fronts_waiting_for_each_other_s_table_both_get_it():
    fd = os.memfd_create("bpkg-test-locks")
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    other = os.fork()
    if other == 0:  # the other front: holds byte 1, then wants byte 0
        errors: list = []
        holding, go = threading.Event(), threading.Event()
        thread = threading.Thread(target=_hold_then_want, args=(fd, 1, 0, holding, go, errors))
        thread.start()
        holding.wait(10)
        os.write(ready_w, b"x")
        os.read(go_r, 1)  # this front's waiter starts second: its wait is the one the kernel refuses
        time.sleep(0.1)
        go.set()
        thread.join(20)
        os._exit(0 if not errors and not thread.is_alive() else 1)
    errors: list = []
    holding, go = threading.Event(), threading.Event()
    thread = threading.Thread(target=_hold_then_want, args=(fd, 0, 1, holding, go, errors))
    thread.start()
    holding.wait(10)
    os.read(ready_r, 1)  # both hold their byte
    go.set()
    time.sleep(0.1)
    os.write(go_w, b"x")
    thread.join(20)
    _, status = os.waitpid(other, 0)
    assert not errors and os.waitstatus_to_exitcode(status) == 0
