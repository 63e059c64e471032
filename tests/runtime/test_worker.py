"""The worker's time limits on reading request headers, on a real socket pair: the idle
limit before a kept-alive connection's next request, the header limit from the accept or
from a request's first byte, and no limit once the headers are read."""

from __future__ import annotations

import time

import gevent
import gevent.socket

from deltastream.runtime.worker import HeaderRead, TimedSocket

HEADER = 0.3
IDLE = 0.8


def read_until_limit(read: HeaderRead, sock: TimedSocket) -> tuple[bool, float]:
    """Whether the read ended by a limit (the exception swallowed), and when."""
    started = time.monotonic()
    with read:
        while sock.recv(100):
            pass
        return False, time.monotonic() - started
    return True, time.monotonic() - started


def test_a_new_connection_has_the_header_limit_from_the_start():
    ours, _theirs = gevent.socket.socketpair()      # open, sending nothing
    sock = TimedSocket(ours)
    stopped, took = read_until_limit(HeaderRead(sock, True, HEADER, IDLE), sock)
    assert stopped and HEADER - 0.05 < took < HEADER + 0.3


def test_a_kept_alive_connection_may_idle_then_has_the_header_limit_from_its_first_byte():
    ours, theirs = gevent.socket.socketpair()
    sock = TimedSocket(ours)
    gevent.spawn_later(0.5, theirs.sendall, b"GET / HT")     # idle past the header limit
    stopped, took = read_until_limit(HeaderRead(sock, False, HEADER, IDLE), sock)
    assert stopped and 0.5 + HEADER - 0.05 < took < 0.5 + HEADER + 0.3


def test_a_kept_alive_connection_idle_too_long_is_ended():
    ours, _theirs = gevent.socket.socketpair()      # open, sending nothing
    sock = TimedSocket(ours)
    stopped, took = read_until_limit(HeaderRead(sock, False, HEADER, IDLE), sock)
    assert stopped and IDLE - 0.05 < took < IDLE + 0.3


def test_once_the_headers_are_read_nothing_limits_the_connection():
    ours, theirs = gevent.socket.socketpair()
    sock = TimedSocket(ours)
    theirs.sendall(b"GET / HTTP/1.1\r\n\r\n")
    with HeaderRead(sock, True, HEADER, IDLE):
        assert sock.recv(100) == b"GET / HTTP/1.1\r\n\r\n"
    # A stream's reads: longer than both limits.
    gevent.spawn_later(HEADER + IDLE + 0.2, theirs.sendall, b"later")
    assert sock.recv(100) == b"later"


HEADERS = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"


def _pending(sock) -> bytes:
    """What has arrived on ``sock`` by now (nothing: b"")."""
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return b""
    finally:
        sock.setblocking(True)


def test_a_header_block_goes_out_with_its_body_in_one_write():
    ours, theirs = gevent.socket.socketpair()
    sock = TimedSocket(ours)
    sock.sendall(HEADERS)
    assert _pending(theirs) == b""                  # held for the body
    sock.sendall(b"hello")
    assert _pending(theirs) == HEADERS + b"hello"   # one write, one read


def test_a_header_block_without_a_body_goes_out_before_the_next_read_or_the_close():
    ours, theirs = gevent.socket.socketpair()
    sock = TimedSocket(ours)
    not_modified = b"HTTP/1.1 304 Not Modified\r\nETag: \"7\"\r\n\r\n"
    sock.sendall(not_modified)
    theirs.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert sock.recv(100) == b"GET / HTTP/1.1\r\n\r\n"
    assert _pending(theirs) == not_modified
    sock.sendall(not_modified)
    sock.close()
    assert theirs.recv(100) == not_modified


def test_a_large_body_is_written_after_its_headers_not_copied_behind_them():
    ours, theirs = gevent.socket.socketpair()
    sock = TimedSocket(ours)
    body = b"x" * 100_000
    gevent.spawn(lambda: (sock.sendall(HEADERS), sock.sendall(body)))
    received = b""
    while len(received) < len(HEADERS) + len(body):
        received += theirs.recv(65536)
    assert received == HEADERS + body
