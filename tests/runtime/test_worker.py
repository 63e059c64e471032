"""The worker's request handler on a real gevent server on loopback (clients on gevent's
sockets, as the server shares this process): the idle limit before a
kept-alive connection's next request, the header limit from the accept or from a request's
first byte, no limit once the headers are read, and JSON answers to what it cannot parse."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import gevent
import gevent.socket
import pytest
from gevent import pywsgi

from deltastream.runtime.front_errors import HEADER_FIELDS_LIMIT
from deltastream.runtime.worker import DeltaStreamHandler, read_header_block

HEADER = 0.3
IDLE = 0.8


def _app(environ: dict, start_response) -> list[bytes]:
    if environ["PATH_INFO"] == "/slow":
        gevent.sleep(HEADER + IDLE + 0.2)       # longer than both limits
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


class _AccessLogOff:
    """The server's log as gunicorn's logger is with the access log off."""

    def access(self, *args: object) -> None:
        pass

    def write(self, *args: object) -> None:
        pass


@pytest.fixture()
def address() -> Iterator[tuple[str, int]]:
    handler = type("Handler", (DeltaStreamHandler,), {"header_timeout": HEADER,
                                                      "keepalive_timeout": IDLE})
    server = pywsgi.WSGIServer(("127.0.0.1", 0), _app, handler_class=handler, log=_AccessLogOff(),
                               error_log=None)
    server.start()
    yield server.address
    server.stop()


def _closed_after(sock: gevent.socket.socket) -> float:
    """Seconds until the server closes ``sock`` (reading and dropping what it sends)."""
    started = time.monotonic()
    sock.settimeout(10)
    while sock.recv(4096):
        pass
    return time.monotonic() - started


def test_a_new_connection_has_the_header_limit_from_the_accept(address):
    with gevent.socket.create_connection(address) as sock:
        sock.sendall(b"GET / HT")                       # half a request line, then nothing
        assert HEADER - 0.05 < _closed_after(sock) < HEADER + 0.5


def test_a_kept_alive_connection_may_idle_then_has_the_header_limit_from_its_first_byte(
        address):
    with gevent.socket.create_connection(address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).endswith(b"ok")
        gevent.sleep(IDLE - 0.3)                          # idle past the header limit
        started = time.monotonic()
        sock.sendall(b"GET / HT")
        assert HEADER - 0.05 < _closed_after(sock) < HEADER + 0.5
        assert time.monotonic() - started < HEADER + 0.5


def test_a_kept_alive_connection_idle_too_long_is_ended(address):
    with gevent.socket.create_connection(address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).endswith(b"ok")
        assert IDLE - 0.05 < _closed_after(sock) < IDLE + 0.5


def test_once_the_headers_are_read_nothing_limits_the_request(address):
    with gevent.socket.create_connection(address) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(4096).endswith(b"ok")


@pytest.mark.parametrize(("request_bytes", "status", "error"), [
    (b"GET /?" + b"q" * 9000 + b" HTTP/1.1\r\n\r\n", 414, "request line too long"),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431,
     "request header fields too large"),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i
                                      for i in range(HEADER_FIELDS_LIMIT + 1)) + b"\r\n",
     431, "request header fields too large"),
    (b"GARBAGE\r\n\r\n", 400, "malformed request line"),
    (b"GET / HTTP/9.9\r\n\r\n", 400, "malformed request line"),
    (b"GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n", 400, "malformed header"),
    (b"GET / HTTP/1.1\r\n folded: 1\r\n\r\n", 400, "malformed header"),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "malformed header"),
    (b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400, "malformed header"),
])
def test_what_cannot_be_parsed_is_answered_in_json_and_the_connection_closed(
        address, request_bytes, status, error):
    with gevent.socket.create_connection(address) as sock:
        sock.sendall(request_bytes)
        sock.settimeout(10)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert b"Content-Type: application/json" in head and b"Connection: close" in head
    assert json.loads(body)["error"] == error


def test_a_header_block_is_read_up_to_its_empty_line():
    class Lines:
        def __init__(self, data: bytes) -> None:
            self.lines = data.splitlines(keepends=True)

        def readline(self, limit: int) -> bytes:
            return self.lines.pop(0)[:limit] if self.lines else b""

    block = b"Host: x\r\nAccept: */*\r\n\r\n"
    assert read_header_block(Lines(block + b"body")) == block
