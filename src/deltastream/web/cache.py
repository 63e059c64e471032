"""Serialized responses cached per snapshot version, with ETags."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import Request, Response

from ..engine.threads import real_lock
from .json import dumps


class ResponseCache:
    """LRU of (ETag, JSON bytes) keyed by route, product, snapshot version and parameters.

    A body is built and serialized once per key; every later request for the same snapshot
    version gets the same bytes (or a 304 when its If-None-Match matches).
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[str, bytes]] = OrderedDict()
        self._lock = real_lock()

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> tuple[str, bytes]:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        body = dumps(build())
        etag = hashlib.blake2b(body, digest_size=12).hexdigest()
        with self._lock:
            self._entries[key] = (etag, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return etag, body

    def respond(self, request: Request, key: Hashable, build: Callable[[], Any]) -> Response:
        etag, body = self.get_or_build(key, build)
        headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
        if request.if_none_match.contains_weak(etag):
            return Response(status=304, headers=headers)
        return Response(body, status=200, mimetype="application/json", headers=headers)
