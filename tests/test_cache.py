"""The result cache: keys, LRU eviction by count and size, ETags and If-None-Match."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest
from rdflib import Literal, URIRef

from bpkg.cache import ResultCache, SharedResultCache, cache_key, etag, not_modified

JSON = "application/sparql-results+json"


def test_key_is_stable_and_ignores_binding_order():
    a = cache_key("SELECT * {}", {"x": URIRef("urn:a"), "y": Literal("b")}, JSON, "v1")
    b = cache_key("SELECT * {}", {"y": Literal("b"), "x": URIRef("urn:a")}, JSON, "v1")
    assert a == b and len(a) == 64


@pytest.mark.parametrize("change", [
    ("SELECT ?s {}", None, JSON, "v1"),
    ("SELECT * {}", {"x": URIRef("urn:b")}, JSON, "v1"),
    ("SELECT * {}", {"x": URIRef("urn:a")}, "text/csv", "v1"),
    ("SELECT * {}", {"x": URIRef("urn:a")}, JSON, "v2"),
    ("SELECT * {}", {"x": Literal("urn:a")}, JSON, "v1"),  # a literal is not the IRI with the same text
])
def test_every_part_of_the_key_matters(change):
    assert cache_key(*change) != cache_key("SELECT * {}", {"x": URIRef("urn:a")}, JSON, "v1")


def test_literal_datatype_and_language_are_part_of_the_key():
    keys = {cache_key("q", {"x": v}, JSON, "v") for v in (Literal("1"), Literal(1), Literal("1", lang="en"), "1")}
    assert len(keys) == 4


def test_get_put_and_lru_order():
    cache = ResultCache(max_entries=2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # a is now the most recently used
    cache.put("c", b"3")
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"
    assert cache.stats()["evictions"] == 1 and cache.hits == 3 and cache.misses == 1


def test_size_bound_evicts_oldest_and_refuses_huge_items():
    cache = ResultCache(max_entries=100, max_bytes=10, max_item_bytes=6)
    assert cache.put("a", b"12345")
    assert cache.put("b", b"12345")
    assert cache.put("c", (b"123", "ab"))  # tuple values count their parts
    assert "a" not in cache and "b" in cache and "c" in cache
    assert cache.size_bytes == 10
    assert not cache.put("big", b"1234567") and "big" not in cache


def test_replacing_a_key_keeps_the_size_right():
    cache = ResultCache(max_bytes=100)
    cache.put("a", b"x" * 50)
    cache.put("a", b"x" * 10)
    assert cache.size_bytes == 10 and len(cache) == 1


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError):
        ResultCache(max_entries=0)


def test_etag_and_if_none_match():
    key = cache_key("SELECT * {}", None, JSON, "v1")
    tag = etag(key)
    assert tag.startswith('W/"') and key[:32] in tag
    assert not_modified(tag, tag)
    assert not_modified(tag[2:], tag)  # weak comparison: W/ does not matter
    assert not_modified(f'"other", {tag}', tag)
    assert not_modified("*", tag)
    assert not not_modified(None, tag) and not not_modified('"other"', tag)
    assert etag(cache_key("SELECT * {}", None, JSON, "v2")) != tag  # a new dataset version, a new tag


def test_concurrent_puts_stay_within_bounds():
    cache = ResultCache(max_entries=50, max_bytes=1000)

    def work(n):
        for i in range(300):
            cache.put(f"{n}-{i}", b"x" * (i % 20))
            cache.get(f"{n}-{i - 1}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) <= 50 and cache.size_bytes <= 1000
    assert cache.size_bytes == sum(len(cache.get(k)) for k in list(cache._entries))


# -- the result cache of a server of several front processes --------------------------------------

def _value(n: int, size: int = 10) -> tuple[bytes, str, str | None]:
    return (f"{n}:".encode() + b"x" * size, "application/sparql-results+json", "rows" if n % 3 == 0 else None)


def test_a_result_put_by_one_front_is_read_by_another():
    """Made before the fronts fork, as ``bpkg serve`` makes it: what one process puts, every
    process gets, with its content type and truncation."""
    cache = SharedResultCache(max_entries=16, max_bytes=4096)
    cache.put("from the parent", _value(1))
    child = os.fork()
    if child == 0:
        ok = cache.get("from the parent") == _value(1) and cache.put("from the child", _value(3))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("from the child") == _value(3)
    assert cache.get("from nobody") is None
    assert cache.stats() == {"entries": 2, "bytes": cache.size_bytes, "hits": 2, "misses": 1, "evictions": 0}


def test_the_shared_cache_never_answers_wrong_as_its_ring_wraps():
    """A small ring written round many times, against a plain dict of what was put last:
    an entry may be gone, but what is found is exactly what was put under that key."""
    rnd = random.Random(5)
    cache = SharedResultCache(max_entries=32, max_bytes=2000, max_item_bytes=330)
    model = {}
    for n in range(5000):
        key = f"k{rnd.randrange(60)}"
        if rnd.random() < 0.5:
            value = _value(n, rnd.randrange(0, 280))
            assert cache.put(key, value)
            model[key] = value
        else:
            found = cache.get(key)
            assert found is None or found == model[key], key
        assert len(cache) <= 32 and cache.size_bytes <= 2000
    assert cache.get(key) is not None  # the last written is still there
    assert not cache.put("big", _value(0, 300)) and "big" not in cache


def test_the_shared_cache_keeps_the_recently_used():
    cache = SharedResultCache(max_entries=4, max_bytes=10_000)
    for n in range(4):
        cache.put(f"k{n}", _value(n))
    assert cache.get("k0") == _value(0)
    for n in range(4, 8):  # four more: each gives way to the least recently used of its places
        cache.put(f"k{n}", _value(n))
        assert cache.get("k0") == _value(0)
    assert len(cache) == 4 and cache.stats()["evictions"] == 4
    cache.clear()
    assert len(cache) == 0 and cache.get("k0") is None


def test_a_front_killed_holding_the_shared_cache_does_not_stop_the_others():
    cache = SharedResultCache(max_entries=16, max_bytes=4096)
    cache.put("k", _value(1))
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:
        with cache._locked():  # killed in the middle of a get or put
            os.write(ready_w, b"x")
            time.sleep(60)
        os._exit(1)
    os.read(ready_r, 1)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    assert cache.get("k") == _value(1) and cache.put("k2", _value(2)) and cache.get("k2") == _value(2)
