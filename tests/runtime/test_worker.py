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
