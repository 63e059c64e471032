"""The web worker: gunicorn's gevent worker on gevent's own HTTP server (pywsgi), with limits
on reading requests and JSON answers to requests it cannot parse.

gevent's server reads each request and writes each response (its status line and headers
with the start of the body, in one write). This worker's handler adds, in seconds:

* ``header_timeout``: a new connection must send its first request's complete headers within
  this time of being accepted; a later request on a kept-alive connection within this time of
  its first byte;
* ``keepalive_timeout``: how long a kept-alive connection may stay idle between a response
  and the next request's first byte.

A connection over either limit is closed without an answer. Once a request's headers are read
nothing limits it: a WebSocket or a Server-Sent Events stream lasts as long as the client
stays. Size limits (see :mod:`.front_errors` for the answers): a request line of at most
8,190 bytes, at most 100 header fields of at most 8,190 bytes each, header names of token
characters. Run it under one's own gunicorn command with
``-k deltastream.runtime.worker.DeltaStreamWorker`` (settings from ``DELTASTREAM_*``).
"""

from __future__ import annotations

import logging
import socket
from http import client
from io import BytesIO
from typing import Any

import gevent
from gevent import pywsgi
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from ..settings import Settings, from_env
from .front_errors import (
    HEADER_FIELD_SIZE_LIMIT,
    HEADER_FIELDS_LIMIT,
    REQUEST_LINE_LIMIT,
    ParseError,
    error_response,
)

# pywsgi's own rejections of a request line or Content-Length (ValueErrors).
_InvalidClientRequest: type[ValueError] = pywsgi._InvalidClientRequest

log = logging.getLogger(__name__)

# After answering a request it cannot parse, how long and how much the worker reads and drops
# of what the client still sends before it closes the connection.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20

# RFC 9110 token characters: what a header field's name may hold.
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                   b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def read_header_block(rfile: Any) -> bytes:
    """The header lines of a request, read from ``rfile`` up to and including the empty line
    that ends them, within the size limits (:class:`.front_errors.ParseError` otherwise)."""
    lines = []
    while True:
        line = rfile.readline(HEADER_FIELD_SIZE_LIMIT + 3)
        if line in (b"\r\n", b"\n", b""):
            lines.append(line)
            return b"".join(lines)
        if len(line) > HEADER_FIELD_SIZE_LIMIT + 2 or not line.endswith(b"\n"):
            raise ParseError.headers_too_large()
        if len(lines) >= HEADER_FIELDS_LIMIT:
            raise ParseError.headers_too_large()
        name, colon, _ = line.partition(b":")
        if not colon or not name or not _TOKEN.issuperset(name):
            # Includes folded lines (a leading space) and names with spaces.
            raise ParseError.malformed_header()
        lines.append(line)


class DeltaStreamHandler(PyWSGIHandler):
    """gevent's request handler (as gunicorn's worker uses it) with the time and size limits
    and JSON answers of this module."""

    header_timeout = 10.0
    keepalive_timeout = 60.0

    status: Any = None                  # the response's status line (pywsgi's)
    _requests = 0                       # requests read on this connection so far
    _header_clock: gevent.Timeout | None = None

    def read_requestline(self) -> str:
        if self._requests:
            # Kept alive: idle up to keepalive_timeout for the next request's first byte.
            self.socket.settimeout(self.keepalive_timeout)
            try:
                if not self.rfile.peek(1):
                    return ""
            finally:
                self.socket.settimeout(None)
        self._requests += 1
        # From the accept for the first request, from the first byte for the others.
        self._header_clock = gevent.Timeout(self.header_timeout)
        self._header_clock.start()
        line: bytes = self.rfile.readline(REQUEST_LINE_LIMIT + 2)
        if len(line) > REQUEST_LINE_LIMIT + 1 or (line and not line.endswith(b"\n")):
            raise ParseError.request_line_too_long()
        return line.decode("latin-1")

    def MessageClass(self, rfile: Any, *args: Any) -> Any:  # noqa: N802 - pywsgi's name
        block = read_header_block(rfile)
        return client.parse_headers(BytesIO(block), _class=pywsgi.OldMessage)

    def read_request(self, raw_requestline: str) -> bool:
        ok: bool = super().read_request(raw_requestline)
        self._stop_header_clock()
        return ok

    def _stop_header_clock(self) -> None:
        if self._header_clock is not None:
            self._header_clock.close()
            self._header_clock = None

    def handle_one_request(self) -> Any:
        try:
            return super().handle_one_request()
        except ParseError as error:         # raised reading the request line
            self._answer(error)
            return None
        except gevent.Timeout as timeout:
            if timeout is not self._header_clock:
                raise
            log.debug("closed a connection: request headers not complete in %.1f s",
                      self.header_timeout)
            return None
        except TimeoutError:
            log.debug("closed a connection idle for %.1f s", self.keepalive_timeout)
            return None
        finally:
            self._stop_header_clock()

    def _handle_client_error(self, ex: BaseException) -> Any:
        self._stop_header_clock()
        if isinstance(ex, TimeoutError):
            return None
        if isinstance(ex, ParseError):
            error = ex
        elif isinstance(ex, client.HTTPException):  # more headers than http.client takes
            error = ParseError.headers_too_large()
        elif isinstance(ex, _InvalidClientRequest) and "Content-Length" not in str(ex):
            error = ParseError.malformed_request_line()
        else:
            # A Content-Length that is no integer, negative, or on a HEAD request.
            error = ParseError.malformed_header()
        self._answer(error)
        return None

    def _answer(self, error: ParseError) -> None:
        """Send ``error``'s answer and end the connection (``None``: the handler closes it)."""
        # Debug only: any client can cause these, as often as it likes.
        log.debug("answered %d to %s: %s", error.status, (self.client_address or ("",))[0],
                  error.message)
        self.close_connection = True
        try:
            self.socket.sendall(error_response(error.status, error.message, error.detail))
            self.socket.shutdown(socket.SHUT_WR)
            # What the client is still sending is read and dropped before the close: closed
            # with unread input, the connection would be reset, and the client could lose the
            # answer (a lingering close, bounded in time and bytes).
            self.socket.settimeout(LINGER_SECONDS)
            left = LINGER_BYTES
            while left > 0 and (chunk := self.socket.recv(min(left, 65536))):
                left -= len(chunk)
        except OSError:
            pass                # the client went away or stayed silent: closing anyway

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        # Where simple-websocket finds the connection of a WebSocket upgrade.
        environ["gunicorn.socket"] = self.socket
        return environ

    def run_application(self) -> None:
        try:
            super().run_application()
        except StopIteration:
            # The connection was a WebSocket's, now ended: no response is left to send.
            self.close_connection = True
            self.status = self.status or "101 Switching Protocols"


class DeltaStreamWorker(GeventPyWSGIWorker):
    """gunicorn's gevent worker on gevent's HTTP server, with :class:`DeltaStreamHandler`."""

    def init_process(self) -> None:
        settings = getattr(self.app, "settings", None)
        settings = settings if isinstance(settings, Settings) else from_env()
        self.wsgi_handler = type("Handler", (DeltaStreamHandler,), {
            "header_timeout": settings.header_timeout,
            "keepalive_timeout": settings.keepalive_timeout})
        super().init_process()
