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


def test_each_encoding_is_compressed_once_per_key_with_its_own_etag(monkeypatch):
    from deltastream.web import cache as module

    compressions = []
    real_encode = module.encode
    monkeypatch.setattr(module, "encode", lambda body, encoding, reused=False: (
        compressions.append((encoding, reused)) or real_encode(body, encoding, reused)))
    cache = ResponseCache()
    values = {"values": [i / 7 for i in range(500)]}
    etag, raw, sent = cache.encoded("k", "identity", lambda: values)
    assert sent == "identity" and compressions == []
    for _ in range(3):
        for encoding in ("gzip", "zstd"):
            zetag, body, sent = cache.encoded("k", encoding, lambda: values)
            assert (zetag, sent) == (f"{etag}-{encoding}", encoding)
            assert len(body) < len(raw)
    # Once each, and at the level for a body sent many times.
    assert compressions == [("gzip", True), ("zstd", True)]
    assert cache.size_bytes == len(raw) + sum(
        len(cache.encoded("k", e, lambda: values)[1]) for e in ("gzip", "zstd"))
    # Under the threshold a body stays identity whatever the client accepts.
    assert cache.encoded("s", "gzip", lambda: {"a": 1})[2] == "identity"
