"""A result cache for the read-only dataset, and the ETags that go with it.

The dataset never changes while a process serves it, so a serialised result is fully
determined by (query text, bindings, result format, dataset version): that tuple, hashed,
is the cache key, and the same hash is the ``ETag``. A client that sends the ETag back in
``If-None-Match`` gets ``304 Not Modified`` without the query being run at all, even when
the entry has since been evicted, because the tag is computed from the request, not from
the stored body. A new dataset version changes every key, so nothing stale is ever served.

    key = cache_key(query_text, bindings, "application/sparql-results+json", kg.version)
    if not_modified(request.headers.get("If-None-Match"), etag(key)):
        return 304
    body = cache.get(key)
    if body is None:
        body = run_and_serialise(...)
        cache.put(key, body)

Only successful, complete results belong here: never errors, and never results cut
short by a row cap or a deadline.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import multiprocessing
import os
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from .locking import lock_byte

DEFAULT_MAX_ENTRIES = 512
_HEX = re.compile(r"[0-9a-f]+")
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def cache_key(query: str, bindings: Mapping[str, Any] | None, media_type: str, version: str) -> str:
    """A hex digest naming one result: the same inputs always give the same key.

    Bindings are compared by their text form (``str`` of an rdflib/pyoxigraph term or of a
    plain value) and their order does not matter. The query text is used as given: two
    spellings of the same query are two entries, which costs space, never correctness.
    """
    canonical = _CANONICAL.encode(
        [query, sorted((str(k), _term_text(v)) for k, v in (bindings or {}).items()), media_type, version])
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# json.dumps with options makes a new encoder per call; this one is made once.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _term_text(value: Any) -> str:
    if type(value) is str:  # most bindings (the protocol's dataset parameters): no n3 to look for
        return value
    # rdflib's str(Literal) drops datatype and language: use n3() when there is one, so
    # "1" and 1 and "1"@en are three different bindings.
    n3 = getattr(value, "n3", None)
    return n3() if callable(n3) else repr(value) if not isinstance(value, str) else value


def etag(key: str) -> str:
    """The ETag for a key (weak: equal results, not necessarily byte-identical bodies)."""
    return f'W/"{key[:32]}"'


def not_modified(if_none_match: str | None, tag: str) -> bool:
    """True when an ``If-None-Match`` header value matches ``tag`` (weak comparison, RFC 9110)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = _opaque(tag)
    return any(_opaque(candidate) == wanted for candidate in if_none_match.split(","))


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


class ResultCache:
    """A thread-safe LRU cache bounded by entry count and by total size in bytes.

    Values are usually ``bytes`` (a serialised response body) or a tuple such as
    ``(body, media_type)``; their size is what their bytes/str parts add up to. A value
    larger than ``max_item_bytes`` is not stored, so one huge result cannot flush
    everything else out.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_item_bytes: int | None = None):
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a cache needs room for at least one entry and one byte")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_item_bytes = max_item_bytes if max_item_bytes is not None else max(1, max_bytes // 8)
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = 0

    def get(self, key: str) -> Any | None:
        """The cached value for ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: str, value: Any) -> bool:
        """Store ``value``; returns False when it is too large to be worth keeping."""
        size = _size(value)
        if size > self.max_item_bytes:
            return False
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted
                self.evictions += 1
        return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "bytes": self._bytes, "hits": self.hits,
                "misses": self.misses, "evictions": self.evictions}


def _size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (tuple, list)):
        return sum(map(_size, value)) or sys.getsizeof(value)
    return sys.getsizeof(value)


class SharedResultCache:
    """The result cache of a server of several front processes (``bpkg serve`` runs one per
    core), in memory made before they fork: a result any front computed answers the same
    request at every front. (With a cache each, a notebook that opens a new connection per
    query, as SPARQLWrapper does, reached the front that had its result one time in two.)

    Values are ``(body, content type, truncated)``, as :func:`bpkg.web.sparql.answer`
    keeps them. Bodies go one after another into a ring of ``max_bytes`` bytes; an index
    of ``max_entries`` places, looked up by a digest of the key in at most ``PROBES``
    places, says where each starts (counted from the ring's first byte ever written, so
    an entry whose bytes the ring has since written over is known to be gone without
    being looked at) and when it was last used (the least recently used of a key's
    places gives way). Index and ring are read and written under a ``lockf`` record lock,
    which the kernel releases when its process dies; a writer moves the ring's head before
    it writes and publishes the entry's place last, so a front killed in the middle of a
    put leaves entries that are gone, never one that reads wrong.
    """

    PROBES = 4
    _FIELDS = 5  # per place: the key's digest (two halves; 0 = free), start, length, last use
    _HEAD, _CLOCK, _HITS, _MISSES, _EVICTIONS = range(5)

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_item_bytes: int | None = None):
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a cache needs room for at least one entry and one byte")
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.max_item_bytes = min(max_bytes, max_item_bytes if max_item_bytes is not None else max(1, max_bytes // 8))
        shared = multiprocessing.get_context("fork")
        self._index = shared.RawArray("q", self._FIELDS * max_entries)
        self._counters = shared.RawArray("q", 5)
        self._ring = mmap.mmap(-1, max_bytes)  # anonymous and shared: the fronts forked later write the same pages
        self._lock_file = os.memfd_create("bpkg-result-cache", os.MFD_CLOEXEC)
        self._threads = threading.Lock()  # record locks belong to a process: its threads take turns here

    @contextmanager
    def _locked(self):
        self._lock()
        try:
            yield
        finally:
            self._unlock()

    def _lock(self) -> None:
        self._threads.acquire()
        try:
            lock_byte(self._lock_file)
        except BaseException:
            self._threads.release()
            raise

    def _unlock(self) -> None:
        fcntl.lockf(self._lock_file, fcntl.LOCK_UN, 1, 0)
        self._threads.release()

    @staticmethod
    def _digest(key: str) -> tuple[int, int]:
        """Two positive 60-bit numbers naming ``key`` (0 marks a free place): read from the key
        itself when it is already a hex digest (:func:`cache_key`), else hashed."""
        if len(key) >= 30 and _HEX.fullmatch(key):
            return int(key[:15], 16) | 1, int(key[15:30], 16)
        d = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
        return (int.from_bytes(d[:8], "big") >> 4) | 1, int.from_bytes(d[8:], "big") >> 4

    def _intact(self, base: int) -> bool:
        """The entry at ``base`` is there and the ring has not written over it since (call locked)."""
        return bool(self._index[base]) and self._counters[self._HEAD] <= self._index[base + 2] + self.max_bytes

    def _place_of(self, hi: int, lo: int) -> tuple[int | None, int]:
        """(where the key's entry is, None if it is not there; where a new one goes), in one
        pass over its places: a free one or one written over, else the least recently used."""
        index, fields, entries = self._index, self._FIELDS, self.max_entries
        oldest_start = self._counters[self._HEAD] - self.max_bytes  # an entry that starts before is written over
        free = lru = None
        lru_use = None
        first = hi % entries
        for place in range(first, first + min(self.PROBES, entries)):
            base = (place % entries) * fields
            held = index[base]
            if held == hi and index[base + 1] == lo:
                if index[base + 2] >= oldest_start:
                    return base, base
                index[base] = held = 0  # written over: gone
            if not held or index[base + 2] < oldest_start:
                if free is None:
                    free = base
            elif lru_use is None or index[base + 4] < lru_use:
                lru, lru_use = base, index[base + 4]
        return None, (free if free is not None else lru)

    def get(self, key: str) -> tuple[bytes, str, str | None] | None:
        hi, lo = self._digest(key)
        counters = self._counters
        self._lock()
        try:
            base, _ = self._place_of(hi, lo)
            if base is None:
                counters[self._MISSES] += 1
                return None
            counters[self._HITS] += 1
            counters[self._CLOCK] += 1
            self._index[base + 4] = counters[self._CLOCK]
            start = self._index[base + 2] % self.max_bytes
            blob = self._ring[start:start + self._index[base + 3]]
        finally:
            self._unlock()
        content_type, truncated, body = blob.split(b"\n", 2)
        return body, content_type.decode(), truncated.decode() or None

    def put(self, key: str, value: tuple[bytes, str, str | None]) -> bool:
        """Store ``value``; returns False when it is too large to be worth keeping."""
        body, content_type, truncated = value
        head = f"{content_type}\n{truncated or ''}\n".encode()
        size = len(head) + len(body)
        if size > self.max_item_bytes:
            return False
        hi, lo = self._digest(key)
        index, counters = self._index, self._counters
        self._lock()
        try:
            start = counters[self._HEAD]
            if start % self.max_bytes + size > self.max_bytes:  # no room before the ring's end: on from its start
                start += self.max_bytes - start % self.max_bytes
            counters[self._HEAD] = start + size  # first: what this overwrites is gone even if the write never ends
            at = start % self.max_bytes
            self._ring[at:at + len(head)] = head
            self._ring[at + len(head):at + size] = body
            found, base = self._place_of(hi, lo)
            if found is None and self._intact(base):
                counters[self._EVICTIONS] += 1  # a live entry gives way
            counters[self._CLOCK] += 1
            index[base] = 0  # unpublished while it changes
            index[base + 1], index[base + 2], index[base + 3], index[base + 4] = lo, start, size, counters[self._CLOCK]
            index[base] = hi
        finally:
            self._unlock()
        return True

    def _entries(self) -> list[int]:
        return [base for base in range(0, len(self._index), self._FIELDS) if self._intact(base)]

    def clear(self) -> None:
        with self._locked():
            for base in range(0, len(self._index), self._FIELDS):
                self._index[base] = 0

    def __len__(self) -> int:
        with self._locked():
            return len(self._entries())

    def __contains__(self, key: str) -> bool:
        hi, lo = self._digest(key)
        with self._locked():
            return self._place_of(hi, lo)[0] is not None

    @property
    def size_bytes(self) -> int:
        with self._locked():
            return sum(self._index[base + 3] for base in self._entries())

    @property
    def hits(self) -> int:
        return self._counters[self._HITS]

    @property
    def misses(self) -> int:
        return self._counters[self._MISSES]

    def stats(self) -> dict[str, int]:
        with self._locked():
            entries = self._entries()
            return {"entries": len(entries), "bytes": sum(self._index[base + 3] for base in entries),
                    "hits": self._counters[self._HITS], "misses": self._counters[self._MISSES],
                    "evictions": self._counters[self._EVICTIONS]}
