"""Record locks that processes forked from one server take on a shared anonymous file.

The tables the front processes share (:class:`bpkg.sparql.admission.Slots`,
:class:`bpkg.cache.SharedResultCache`) are guarded by ``lockf`` on a byte of a file each
inherits through fork: unlike a semaphore, the kernel releases such a lock when its
process dies, so a front killed while holding one cannot stop the others.
"""

from __future__ import annotations

import errno
import fcntl
import time


def lock_byte(fd: int, byte: int = 0) -> None:
    """``lockf(LOCK_EX)`` on one byte of ``fd``, through the kernel's false deadlocks. The
    kernel counts all the threads of a process as one owner: when one thread of a front
    holds a table and another waits for a second table while another front does the
    opposite, it sees a cycle and refuses the wait (EDEADLK), though no thread waits for
    itself (each lock is held for microseconds, and never while waiting for another).
    Unhandled, that refusal left a table locked for good in its process (a stalled front)."""
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, byte)
            return
        except OSError as exc:
            if exc.errno != errno.EDEADLK:
                raise
            time.sleep(0.0002)
