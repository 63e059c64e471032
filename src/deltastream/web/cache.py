"""Serialized responses cached per snapshot version, with ETags, in each negotiated
encoding (see :mod:`.compression`)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import Request, Response

from ..core.threads import real_lock
from .compression import IDENTITY, MIN_BYTES, encode, encoded_etag, negotiate
from .json import dumps
from .replay import Replayable, mark_replayable


class ResponseCache:
    """LRU of (ETag, JSON bytes) keyed by route, product, snapshot version and parameters.

    A body is built and serialized once per key; every later request for the same snapshot
    version gets the same bytes (or a 304 when its If-None-Match matches). At most
    ``max_entries`` bodies and ``max_bytes`` of them are kept.
    """

    def __init__(self, max_entries: int = 4096, max_bytes: int = 64 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = real_lock()

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> tuple[str, bytes]:
        hit = self._get(key)
        if hit is not None:
            return hit
        body = dumps(build())
        etag = hashlib.blake2b(body, digest_size=12).hexdigest()
        self._put(key, (etag, body))
        return etag, body

    def encoded(self, key: Hashable, encoding: str, build: Callable[[], Any]
                ) -> tuple[str, bytes, str]:
        """The (ETag, body, encoding sent) of ``key`` for a client accepting ``encoding``:
        the identity body compressed once per key and encoding (bodies under the
        compression threshold stay identity)."""
        etag, body = self.get_or_build(key, build)
        if encoding == IDENTITY or len(body) < MIN_BYTES:
            return etag, body, IDENTITY
        variant = self._get((key, encoding))
        if variant is None:
            variant = (encoded_etag(etag, encoding), encode(body, encoding, reused=True)[0])
            self._put((key, encoding), variant)
        return (*variant, encoding)

    def _get(self, key: Hashable) -> tuple[str, bytes] | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def _put(self, key: Hashable, value: tuple[str, bytes]) -> None:
        if len(value[1]) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[key] = value
            self._bytes += len(value[1])
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= len(evicted)

    def respond(self, request: Request, key: Hashable, build: Callable[[], Any],
                live: tuple[str | None, int] | None = None) -> Response:
        """The cached response for ``key``, in the encoding the request accepts. ``live``:
        the (product, snapshot sequence) the body is of, when it is the product's live
        snapshot (product None: a body that never changes); such responses are replayed
        without entering the app until the product's next snapshot (:mod:`.replay`)."""
        encoding = negotiate(request.headers.get("Accept-Encoding"))
        etag, body, sent = self.encoded(key, encoding, build)
        if live is not None:
            mark_replayable(request.environ,
                            Replayable(live[0], live[1], request.endpoint or "unknown", etag))
        headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache",
                   "Vary": "Accept-Encoding"}
        if sent != IDENTITY:
            headers["Content-Encoding"] = sent
        if request.if_none_match.contains_weak(etag):
            return Response(status=304, headers=headers)
        return Response(body, status=200, mimetype="application/json", headers=headers)

    @property
    def size_bytes(self) -> int:
        return self._bytes
