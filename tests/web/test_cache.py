"""The serialized-response cache: one build per key, bounded in entries and in bytes."""

from __future__ import annotations

from deltastream.web.cache import ResponseCache


def test_a_key_is_built_once_and_keeps_its_etag():
    cache, builds = ResponseCache(), []
    first = cache.get_or_build("k", lambda: builds.append(1) or {"a": 1})
    assert cache.get_or_build("k", lambda: builds.append(1) or {"a": 2}) == first
    assert builds == [1] and first[1] == b'{"a":1}'


def test_bounded_in_bytes_oldest_evicted_first():
    cache = ResponseCache(max_bytes=10_000)
    for i in range(100):
        cache.get_or_build(i, lambda: "x" * 1_000)
    assert cache.size_bytes <= 10_000
    rebuilt = []
    cache.get_or_build(99, lambda: rebuilt.append(99) or "y")
    cache.get_or_build(0, lambda: rebuilt.append(0) or "y")
    assert rebuilt == [0]
    # A body over the whole budget is served but never kept.
    _, body = cache.get_or_build("big", lambda: "z" * 20_000)
    assert len(body) == 20_002 and cache.size_bytes <= 10_000
    assert cache.get_or_build("big", lambda: "other")[1] == b'"other"'


def test_bounded_in_entries():
    cache = ResponseCache(max_entries=3)
    for i in range(10):
        cache.get_or_build(i, lambda i=i: i)
    rebuilt = []
    for i in (9, 8, 7, 6):
        cache.get_or_build(i, lambda i=i: rebuilt.append(i))
    assert rebuilt == [6]
