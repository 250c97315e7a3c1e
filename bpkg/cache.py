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

import hashlib
import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

DEFAULT_MAX_ENTRIES = 512
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
