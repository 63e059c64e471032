"""The web worker: gunicorn's gevent worker with a time limit on reading requests.

gunicorn parses each request (its limits: a request line of at most 8190 bytes, at most 100
header fields of at most 8190 bytes each; see :mod:`.front_errors` for the answers). This
worker adds two time limits, both in seconds, on the reading of a request's headers only:

* ``header_timeout``: a new connection must send its first request's complete headers within
  this time of being accepted; a later request on a kept-alive connection within this time of
  its first byte;
* ``keepalive_timeout``: how long a kept-alive connection may stay idle between a response
  and the next request's first byte.

A connection over either limit is closed without an answer. Once a request's headers are read
nothing limits it: a WebSocket or a Server-Sent Events stream lasts as long as the client
stays. Run it under one's own gunicorn command with
``-k deltastream.runtime.worker.DeltaStreamWorker`` (settings from ``DELTASTREAM_*``).
"""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType
from typing import Any

import gevent
import gevent.local
from gunicorn.workers.ggevent import GeventWorker

from ..settings import Settings, from_env
from .front_errors import answer_parse_error

log = logging.getLogger(__name__)


# A response's header block is held back to go out with the start of its body, as one write
# (gunicorn writes the two apart: a second system call and TCP segment for every response);
# bodies larger than this are written after it rather than copied behind it.
COALESCE_BYTES = 16_384


class TimedSocket:
    """A client socket whose reads wait at most ``idle_limit`` seconds for a first byte while
    one is set (then :meth:`on_first_byte` is called and the limit cleared), and whose writes
    send a response's header block together with what follows it. Everything else is the
    socket's own, after any held bytes are sent."""

    __slots__ = ("_held", "_sock", "idle_limit", "on_first_byte")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._held = b""
        self.idle_limit: float | None = None
        self.on_first_byte: Any = None

    def _flush(self) -> None:
        held, self._held = self._held, b""
        self._sock.sendall(held)

    def recv(self, size: int) -> bytes:
        if self._held:
            self._flush()
        if self.idle_limit is None:
            return self._sock.recv(size)
        limit, self.idle_limit = self.idle_limit, None
        self._sock.settimeout(limit)
        try:
            data: bytes = self._sock.recv(size)     # TimeoutError when idle too long
        finally:
            self._sock.settimeout(None)
        if data and self.on_first_byte is not None:
            self.on_first_byte()
        return data

    def sendall(self, data: bytes) -> None:
        if self._held:
            if len(data) <= COALESCE_BYTES:
                data = self._held + data
                self._held = b""
            else:
                self._flush()
        elif data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n":
            # A header block: its body (if any) is written next, or the connection is read
            # or closed (each sends it first).
            self._held = bytes(data)
            return
        self._sock.sendall(data)

    def close(self) -> None:
        if self._held:
            with contextlib.suppress(OSError):      # the client went away; closing anyway
                self._flush()
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        if self._held:
            self._flush()
        return getattr(self._sock, name)


class HeaderRead:
    """The reading of one request's headers on ``sock``, within the worker's time limits.

    Used as a context manager around gunicorn's parse of the next request: over a limit, the
    read ends and the exception is swallowed, so gunicorn sees no request and closes the
    connection quietly."""

    def __init__(self, sock: TimedSocket, first: bool, header_timeout: float,
                 keepalive_timeout: float) -> None:
        self.sock = sock
        self.first = first
        self.header_timeout = header_timeout
        self.keepalive_timeout = keepalive_timeout
        self.timeout: gevent.Timeout | None = None

    def _start_header_clock(self) -> None:
        self.timeout = gevent.Timeout(self.header_timeout)
        self.timeout.start()

    def __enter__(self) -> HeaderRead:
        if self.first:
            # From the accept: a client that connects and sends nothing counts too.
            self._start_header_clock()
        else:
            self.sock.idle_limit = self.keepalive_timeout
            self.sock.on_first_byte = self._start_header_clock
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        self.sock.idle_limit = None
        self.sock.on_first_byte = None
        if self.timeout is not None:
            self.timeout.close()
        if exc is not None and exc is self.timeout:
            log.debug("closed a connection: request headers not complete in %.1f s",
                      self.header_timeout)
            return True
        if isinstance(exc, TimeoutError):
            log.debug("closed a connection idle for %.1f s", self.keepalive_timeout)
            return True
        return False


class DeltaStreamWorker(GeventWorker):
    """gunicorn's gevent worker, with the header and idle time limits and JSON answers to
    requests gunicorn cannot parse."""

    def init_process(self) -> None:
        settings = getattr(self.app, "settings", None)
        settings = settings if isinstance(settings, Settings) else from_env()
        self.header_timeout = settings.header_timeout
        self.keepalive_timeout = settings.keepalive_timeout
        # The connection each greenlet serves (gunicorn asks for the read's timeout context
        # without saying for which connection).
        self._served = gevent.local.local()
        super().init_process()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        sock = TimedSocket(client)
        self._served.sock = sock
        self._served.first = True
        super().handle(listener, sock, addr)

    def timeout_ctx(self) -> HeaderRead:
        first, self._served.first = self._served.first, False
        return HeaderRead(self._served.sock, first, self.header_timeout,
                          self.keepalive_timeout)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if not answer_parse_error(self, req, client, addr, exc):
            super().handle_error(req, client, addr, exc)
