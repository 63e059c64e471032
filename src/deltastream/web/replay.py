"""A WSGI layer that replays snapshot responses without entering Flask.

Every response built from a live snapshot is the same bytes for as long as that snapshot is
the product's latest, yet routing, query validation, CORS and the hooks cost a few hundred
microseconds of CPU per request. A route marks such a response as replayable
(:func:`mark_replayable`); this layer records it, with the exact status and headers the app
sent, keyed by path, query string, ``Origin`` and the negotiated content encoding (the
request headers the app's responses depend on besides ``If-None-Match``), and serves
repeats directly while the product's snapshot sequence is unchanged. ``If-None-Match`` is
matched as the app matches it (weak comparison), and the app's own ``304`` is replayed.
Memory is bounded by a byte budget.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES, parse_etags

from ..core.threads import real_lock
from .compression import IDENTITY, encode, negotiate

ENVIRON_KEY = "deltastream.replayable"

WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]
IsCurrent = Callable[[str | None, int], bool]
Observe = Callable[[str, int, float], None]
Key = tuple[str, str, str | None, str]
OVERHEAD = 512     # bytes allowed per recorded response for its headers and objects


@dataclass(frozen=True, slots=True)
class Replayable:
    """A response of ``endpoint`` that stays valid while ``product``'s latest snapshot has
    ``sequence`` (``product`` None: valid for the life of the process).

    With ``render``, only the headers are replayed: ``render()`` gives each request's own
    status and identity body (a response that changes every time, such as health, whose
    headers do not), encoded here as the app encodes it, and ``etag`` is unused.
    """

    product: str | None
    sequence: int
    endpoint: str
    etag: str
    render: Callable[[], tuple[int, bytes]] | None = None


def mark_replayable(environ: dict, mark: Replayable) -> None:
    """Tell the layer in front (if any) that this request's response is ``mark``."""
    slot = environ.get(ENVIRON_KEY)
    if slot is not None:
        slot.append(mark)


@dataclass(slots=True)
class _Recorded:
    status: str
    status_code: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class _Entry:
    mark: Replayable
    key_size: int
    # By whether the request's If-None-Match matched (the 304) or not (the 200).
    responses: dict[bool, _Recorded] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes held, counting the key (a client chooses its query string) and an allowance
        for each response's headers and objects."""
        return self.key_size + sum(len(r.body) + OVERHEAD for r in self.responses.values())


class ReplayCache:
    """WSGI middleware in front of ``app``.

    ``is_current(product, sequence)`` tells whether a recorded response is still the one the
    app would send; ``observe(endpoint, status, seconds)`` records a replayed request's
    latency as the app's own metrics would. At most ``max_bytes`` of bodies are kept (oldest
    recorded evicted first).
    """

    def __init__(self, app: WSGIApp, is_current: IsCurrent, observe: Observe,
                 max_bytes: int = 64 << 20) -> None:
        self.app = app
        self.is_current = is_current
        self.observe = observe
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = real_lock()

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        started = time.perf_counter()
        key = (environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
               environ.get("HTTP_ORIGIN"), negotiate(environ.get("HTTP_ACCEPT_ENCODING")))
        entry = self._entries.get(key)
        if entry is not None and self.is_current(entry.mark.product, entry.mark.sequence):
            mark = entry.mark
            if mark.render is not None:
                code, body = mark.render()
                # Encoded as the app would encode it (the encoding is part of the key).
                body, sent = encode(body, key[3])
                headers = [*entry.responses[False].headers, ("Content-Length", str(len(body)))]
                if sent != IDENTITY:
                    headers.append(("Content-Encoding", sent))
                start_response(f"{code} {HTTP_STATUS_CODES[code].upper()}", headers)
                self.observe(mark.endpoint, code, time.perf_counter() - started)
                return [body]
            hit = entry.responses.get(_matches(environ.get("HTTP_IF_NONE_MATCH"), mark.etag))
            if hit is not None:
                start_response(hit.status, list(hit.headers))
                self.observe(mark.endpoint, hit.status_code, time.perf_counter() - started)
                return [hit.body] if hit.body else []
        return self._record(key, environ, start_response)

    def _record(self, key: Key, environ: dict, start_response: Callable[..., Any]
                ) -> Iterable[bytes]:
        sent: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            sent[:] = [status, headers]
            return start_response(status, headers, exc_info)

        # A list the app appends its mark to: middleware between here and the app (such as
        # Socket.IO's) may pass on a copy of the environ, which shares the list.
        marks: list[Replayable] = []
        environ[ENVIRON_KEY] = marks
        app_iter = self.app(environ, capture)
        if len(marks) != 1 or not sent:
            return app_iter
        mark = marks[0]
        status, headers = sent
        if mark.render is not None:
            # Only the headers are kept; a status, body and encoding of its own come with
            # each render.
            headers = [(k, v) for k, v in headers
                       if k.lower() not in ("content-length", "content-encoding")]
            self._store(key, mark, False, _Recorded(status, int(status[:3]), headers, b""))
            return app_iter
        if status[:3] not in ("200", "304"):
            return app_iter
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        self._store(key, mark, _matches(environ.get("HTTP_IF_NONE_MATCH"), mark.etag),
                    _Recorded(status, int(status[:3]), list(headers), body))
        return [body] if body else []

    def _store(self, key: Key, mark: Replayable, not_modified: bool,
               recorded: _Recorded) -> None:
        key_size = sum(len(part or "") for part in key) + OVERHEAD
        if key_size + len(recorded.body) + OVERHEAD > self.max_bytes:
            return
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._bytes -= entry.size
                if entry.mark != mark:
                    entry = None
            entry = entry or _Entry(mark, key_size)
            entry.responses[not_modified] = recorded
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """The app's own test: weak comparison, ``*`` matching any (werkzeug's parser)."""
    return if_none_match is not None and parse_etags(if_none_match).contains_weak(etag)
