"""The HTTP front end of a real `deltastream serve`: idle and slow clients cannot starve it,
requests it cannot parse are answered in the API's JSON error shape, WebSocket and Server-Sent
Events streams outlive the header and idle time limits, and its log stays clean."""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import websocket

from tests.support.stream_clients import Recorder

from .conftest import Server, start_server

IDLE_CONNECTIONS = 1100
HEADER_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 3.0


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.stop()


def assert_clean_log(server: Server) -> None:
    text = server.log.read_text()
    assert "MonkeyPatchWarning" not in text
    assert "Traceback" not in text
    assert " ERROR " not in text


@pytest.fixture(scope="module")
def front(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("front")
    srv = start_server(tmp, "--hours", "always",
                       "--tick-interval", "0.25", "--data-dir", str(tmp), env={
        "DELTASTREAM_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "DELTASTREAM_KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT)})
    yield srv
    stop(srv)
    # Nothing any test here sent made the server log a warning-worthy line or a traceback.
    assert_clean_log(srv)


def address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.base)
    return parts.hostname or "127.0.0.1", parts.port or 80


def connect(server: Server) -> socket.socket:
    return socket.create_connection(address(server), timeout=10)


def exchange(server: Server, data: bytes) -> tuple[str, dict[str, str], bytes]:
    """Status line, headers (lower-case names) and body of the one answer to ``data``; the
    server must close the connection after it."""
    with connect(server) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return status, headers, body


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (an EOF, or a reset), or None if it is still
    open after ``seconds``."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


@pytest.mark.parametrize(("request_bytes", "status", "error"), [
    (b"GET /api/health?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
     "414 URI Too Long", "request line too long"),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
     "431 Request Header Fields Too Large", "request header fields too large"),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-H%d: 1\r\n" % i for i in range(150)) + b"\r\n",
     "431 Request Header Fields Too Large", "request header fields too large"),
    (b"GARBAGE\r\n\r\n", "400 Bad Request", "malformed request line"),
    (b"GET /api/health HTTP/9.9\r\nHost: x\r\n\r\n", "400 Bad Request",
     "malformed request line"),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", "400 Bad Request",
     "malformed header"),
])
def test_requests_the_front_end_cannot_parse_get_a_json_error(front, request_bytes, status,
                                                               error):
    line, headers, body = exchange(front, request_bytes)
    assert line == f"HTTP/1.1 {status}"
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    answer = json.loads(body)
    assert answer["error"] == error
    # Says what is accepted, and never quotes the request back.
    assert "accepted" in answer["detail"]
    assert b"qqqq" not in body and b"aaaa" not in body and b"GARBAGE" not in body


def test_health_answers_promptly_while_1100_idle_connections_are_open(front):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE_CONNECTIONS + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, IDLE_CONNECTIONS + 1000), hard))
    idle: list[socket.socket] = []
    try:
        for i in range(IDLE_CONNECTIONS):
            sock = connect(front)
            if i % 2:       # half of them send half a request
                sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
            idle.append(sock)
        started = time.monotonic()
        with connect(front) as sock:
            sock.settimeout(2.0)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert time.monotonic() - started < 2.0
    finally:
        for sock in idle:
            sock.close()


def test_a_half_sent_request_is_closed_after_the_header_timeout_while_streams_go_on(front):
    recorder = Recorder(front.base)
    try:
        with connect(front) as sse:
            sse.sendall(b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            sse.settimeout(10)
            assert sse.recv(65536).startswith(b"HTTP/1.1 200 ")
            # Both streams have outlived both limits.
            time.sleep(HEADER_TIMEOUT + KEEPALIVE_TIMEOUT + 0.5)
            with connect(front) as slow:
                slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
                took = closed_within(slow, 10 * HEADER_TIMEOUT)
            assert took is not None and HEADER_TIMEOUT - 0.2 < took < HEADER_TIMEOUT + 3
            seen = len(recorder.of("underlying_update"))
            recorder.wait_for(lambda got: sum(e == "underlying_update" for _, e, _ in got)
                              >= seen + 8, timeout=10)
            assert b"event: underlying_update" in sse.recv(65536) + sse.recv(65536)
    finally:
        recorder.close()


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(front):
    with connect(front) as sock:
        took = closed_within(sock, 10 * HEADER_TIMEOUT)
    assert took is not None and took < HEADER_TIMEOUT + 3


def test_a_kept_alive_connection_may_idle_until_the_keepalive_timeout(front):
    with connect(front) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        # Idle past the header timeout: still open, and serves the next request.
        assert closed_within(sock, HEADER_TIMEOUT + 0.5) is None
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        took = closed_within(sock, 3 * KEEPALIVE_TIMEOUT)
    assert took is not None and KEEPALIVE_TIMEOUT - 0.5 < took < KEEPALIVE_TIMEOUT + 3


def test_a_malformed_websocket_message_closes_that_connection_quietly(front):
    host, port = address(front)
    ws = websocket.create_connection(
        f"ws://{host}:{port}/socket.io/?EIO=4&transport=websocket", timeout=10)
    try:
        assert ws.recv().startswith("0{")        # Engine.IO's open packet
        ws.send("not an Engine.IO packet")
        deadline = time.monotonic() + 10
        with pytest.raises((websocket.WebSocketConnectionClosedException,
                            ConnectionResetError)):
            while time.monotonic() < deadline:
                ws.recv()
    finally:
        ws.close()
    # Others are served as before.
    assert front.get("/api/health")[0] == 200


def test_a_start_logs_no_warning_or_traceback(tmp_path: Path):
    srv = start_server(tmp_path, "--hours", "always", "--data-dir", str(tmp_path))
    try:
        assert srv.get("/api/health")[0] == 200
    finally:
        stop(srv)
    assert_clean_log(srv)
    assert " WARNING " not in srv.log.read_text()
