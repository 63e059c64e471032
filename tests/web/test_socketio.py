"""Socket.IO handlers through the app (Flask-SocketIO's test client): rooms, the latest state
on subscribe, live events and their market status, unsubscribe, error events. The WebSocket
transport through the app's WSGI entry on a real socket pair (frames decoded by wsproto), and
its pieces: the frame encoder and the locked socket. The wire protocol is tested against a
real server in tests/e2e/test_stream.py."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import gevent
import gevent.socket
import pytest
from werkzeug.test import EnvironBuilder
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode

from deltastream.core.types import MarketStatus
from deltastream.settings import Settings
from deltastream.web import create_app
from deltastream.web.socketio import (
    WRITER,
    LockedSocket,
    SocketIOClient,
    _WebSocketWSGI,
    encode_frame,
    websocket_frame,
)
from deltastream.web.stream import CHAIN, SUMMARY, UNDERLYING, Batch, StreamEvent
from tests.web.market_sessions import session_engine, sessions

OPEN_UNTIL = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)      # the session's close
NEXT_OPEN = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)


def tick(engine, times: int = 1) -> None:
    for _ in range(times):
        engine.tick()
        engine.clock.advance(1.0)
    gevent.sleep(0.05)


@pytest.fixture()
def app(engine):
    app = create_app(Settings(), feed=engine, start_feed=False)
    tick(engine, 2)
    return app


@pytest.fixture()
def sio(app):
    client = app.extensions["socketio"].test_client(app)
    assert client.is_connected()
    yield client
    if client.is_connected():
        client.disconnect()


def received(sio) -> list[dict]:
    """What the client received once the server's greenlets (the client's sender) ran."""
    gevent.sleep(0.05)
    return sio.get_received()


def names(received: list[dict]) -> list[tuple[str, str | None]]:
    return [(r["name"], (r["args"][0] or {}).get("product") if r["args"] else None)
            for r in received]


def test_connect_joins_general_and_every_tick_reaches_it(app, engine, sio):
    server = app.extensions["socketio"].server
    sid = next(iter(server.manager.rooms["/"]["general"]))
    assert sid is not None
    assert received(sio) == []
    tick(engine)
    got = received(sio)
    assert sorted(names(got)) == sorted(
        [("underlying_update", p) for p in ("IDX", "SEC")]
        + [("chain_summary", p) for p in ("IDX", "SEC")])
    for r in got:
        assert r["args"][0]["sequence"] == engine.latest("IDX").sequence


def test_chain_subscription_answers_sends_the_latest_chain_and_then_every_tick(engine, sio):
    sio.emit("subscribe", {"type": "chain", "symbol": "SEC"})
    got = received(sio)
    assert got[0]["name"] == "subscribed" and got[0]["args"][0]["room"] == "chain:SEC"
    assert names(got[1:]) == [("chain_update", "SEC")]
    chain = got[1]["args"][0]
    assert chain["sequence"] == engine.latest("SEC").sequence and len(chain["calls"]) == 21
    tick(engine)
    assert names(received(sio)).count(("chain_update", "SEC")) == 1
    sio.emit("unsubscribe", {"type": "chain", "symbol": "SEC"})
    assert received(sio)[0]["args"][0] == {"room": "chain:SEC", "type": "chain",
                                                "symbol": "SEC"}
    tick(engine)
    assert "chain_update" not in [n for n, _ in names(received(sio))]


def test_product_subscription_sends_price_and_summary_at_once(engine, sio):
    sio.emit("subscribe", {"type": "product", "symbol": "IDX"})
    got = received(sio)
    assert got[0]["args"][0]["room"] == "product:IDX"
    assert names(got[1:]) == [("underlying_update", "IDX"), ("chain_summary", "IDX")]
    assert got[1]["args"][0]["price"] == engine.latest("IDX").spot


@pytest.mark.parametrize(("payload", "reason"), [
    ({"type": "chain", "symbol": "NOPE"}, "unknown product 'NOPE'"),
    ({"type": "orders", "symbol": "IDX"}, "invalid type 'orders'"),
    ("IDX", "payload must be an object"),
    (None, "payload must be an object"),
    ({"type": "chain"}, "unknown product None"),
])
def test_bad_requests_get_an_error_event_and_the_connection_stays_up(engine, sio, payload,
                                                                    reason):
    sio.emit("subscribe", payload)
    got = received(sio)
    assert [r["name"] for r in got] == ["error"]
    assert reason in got[0]["args"][0]["error"]
    assert got[0]["args"][0]["detail"]["event"] == "subscribe"
    assert sio.is_connected()
    tick(engine)
    assert ("underlying_update", "IDX") in names(received(sio))


def test_an_error_answer_never_echoes_a_large_payload(engine, sio):
    huge = "X" * 900_000
    sio.emit("subscribe", {"type": "chain", "symbol": huge})
    got = received(sio)
    assert [r["name"] for r in got] == ["error"]
    answer = got[0]["args"][0]
    assert "unknown product 'XXXX" in answer["error"]
    assert "(900002 chars)" in answer["error"]
    assert len(str(answer)) < 2_000
    assert sio.is_connected()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 300_000])
def test_a_frame_decodes_as_one_final_unmasked_text_frame_of_its_payload(size):
    payload = bytes(48 + i % 75 for i in range(size))     # ASCII text
    data = encode_frame(payload)
    # A client's decoder: it rejects masked frames from a server.
    decoder = FrameProtocol(client=True, extensions=[])
    decoder.receive_bytes(data)
    frames = list(decoder.received_frames())
    assert len(frames) == 1
    frame = frames[0]
    assert frame.opcode == Opcode.TEXT and frame.frame_finished and frame.message_finished
    assert frame.payload == payload.decode()


def test_a_frame_header_uses_the_shortest_length_form():
    assert encode_frame(b"x" * 125)[:2] == b"\x81\x7d"
    assert encode_frame(b"x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert encode_frame(b"x" * 65_536)[:10] == b"\x81\x7f" + (65_536).to_bytes(8, "big")


class _Open:
    connected = True


def test_a_locked_socket_holds_its_lock_until_a_partial_write_is_finished():
    ours, theirs = gevent.socket.socketpair()
    locked = LockedSocket(ours)
    locked.websocket = _Open()      # type: ignore[assignment]
    big = b"y" * 8_000_000          # more than the kernel takes at once
    sent = locked.try_write(big)
    assert 0 < sent < len(big)
    assert locked.lock.locked()     # no other frame may start inside this one
    writer = gevent.spawn(locked.send, b"after")
    gevent.sleep(0.01)
    assert not writer.dead          # waiting for the lock

    got = bytearray()

    def read() -> None:
        while len(got) < len(big) + 5:
            got.extend(theirs.recv(1 << 20))

    reader = gevent.spawn(read)
    locked.finish(big[sent:])
    gevent.joinall([writer, reader], timeout=10, raise_error=True)
    assert bytes(got) == big + b"after"
    assert not locked.lock.locked()


def test_a_locked_socket_writes_nothing_after_its_websocket_closed():
    ours, theirs = gevent.socket.socketpair()
    locked = LockedSocket(ours)
    locked.write(b"frame")                  # no WebSocket yet
    closed = _Open()
    closed.connected = False
    locked.websocket = closed               # type: ignore[assignment]
    locked.write(b"frame")
    with pytest.raises(ConnectionError):
        locked.try_write(b"frame")
    assert not locked.lock.locked()
    locked.send(b"close frame")             # simple-websocket's own writes still go out
    theirs.settimeout(1)
    assert theirs.recv(100) == b"close frame"


def test_a_websocket_upgrade_through_the_app_leaves_a_locked_writer_and_streams_frames(app,
                                                                                      engine):
    """Engine.IO builds its WebSocket from a table of its driver (``_async``, not a public
    interface) and passes its socket's bound handler: this fails should either change."""
    eio = app.extensions["socketio"].server.eio
    assert eio._async["websocket"] is _WebSocketWSGI
    environ = EnvironBuilder(
        path="/socket.io/", query_string="EIO=4&transport=websocket",
        headers={"Upgrade": "websocket", "Connection": "Upgrade",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                 "Sec-WebSocket-Version": "13"}).get_environ()
    ours, theirs = gevent.socket.socketpair()
    environ["gunicorn.socket"] = ours
    served = gevent.spawn(app, environ, lambda *a: None)
    theirs.settimeout(5)
    received = b""
    while b"\r\n\r\n" not in received:
        received += theirs.recv(65536)
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    client = FrameProtocol(client=True, extensions=[])
    client.receive_bytes(rest)
    messages: list[str] = []

    def until(check) -> None:
        while True:
            messages.extend(f.payload for f in client.received_frames())
            if check():
                return
            client.receive_bytes(theirs.recv(65536))

    until(lambda: any(m.startswith("0{") for m in messages))        # Engine.IO open
    theirs.sendall(client.send_data("40"))                          # Socket.IO connect
    until(lambda: any(m.startswith("40") for m in messages))
    (socket,) = eio.sockets.values()
    assert isinstance(getattr(socket, WRITER), LockedSocket)
    messages.clear()
    tick(engine)
    until(lambda: sum(m.startswith('42["underlying_update"') for m in messages) == 2)
    theirs.sendall(client.close(CloseReason.NORMAL_CLOSURE))
    served.join(timeout=5)
    # Under gunicorn: the connection was the WebSocket's, no response is left to send.
    assert isinstance(served.exception, StopIteration)


def test_every_event_carries_the_market_status_and_it_follows_the_session():
    engine = session_engine(MarketStatus.OPEN, OPEN_UNTIL)
    app = create_app(Settings(), feed=engine, start_feed=False)
    tick(engine)
    sio = app.extensions["socketio"].test_client(app)
    try:
        sio.emit("subscribe", {"type": "chain", "symbol": "IDX"})
        got = received(sio)
        assert names(got[1:]) == [("chain_update", "IDX")]
        assert (got[1]["args"][0]["market_status"],
                got[1]["args"][0]["market_status_until"]) == ("open", "2026-11-25T21:00:00.000Z")
        sessions(engine).status, sessions(engine).until = MarketStatus.CLOSED, NEXT_OPEN
        tick(engine)
        got = received(sio)
        assert sorted(names(got)) == sorted(
            [("underlying_update", p) for p in ("IDX", "SEC")]
            + [("chain_summary", p) for p in ("IDX", "SEC")] + [("chain_update", "IDX")])
        assert [(r["args"][0]["market_status"], r["args"][0]["market_status_until"])
                for r in got] == [("closed", "2026-11-26T14:30:00.000Z")] * len(got)
    finally:
        sio.disconnect()


class _Queue:
    def __init__(self) -> None:
        self.size = 0

    def qsize(self) -> int:
        return self.size


class _EngineIOSocket:
    """What the client reads of Engine.IO's socket: upgraded to our WebSocket writer."""

    closed = False
    upgraded = True
    upgrading = False

    def __init__(self, writer: LockedSocket) -> None:
        self.queue = _Queue()
        setattr(self, WRITER, writer)


class _Hub:
    def __init__(self) -> None:
        self.feed = SimpleNamespace(symbols=["IDX", "SEC"])
        self.counted = 0

    def delivered(self, client, count: int) -> None:
        self.counted += count


def _websocket_client():
    ours, theirs = gevent.socket.socketpair()
    writer = LockedSocket(ours)
    writer.websocket = _Open()      # type: ignore[assignment]
    eio_socket = _EngineIOSocket(writer)
    server = SimpleNamespace(eio=SimpleNamespace(sockets={"e1": eio_socket}))
    hub = _Hub()
    client = SocketIOClient(hub, server, "e1", 16)     # type: ignore[arg-type]
    theirs.settimeout(1)
    return client, hub, eio_socket, theirs


def _tick(sequence: int) -> Batch:
    return Batch([StreamEvent(kind, product, sequence, {"product": product, "seq": sequence})
                  for product in ("IDX", "SEC") for kind in (UNDERLYING, SUMMARY, CHAIN)])


def _general_frames(batch: Batch) -> bytes:
    return b"".join(websocket_frame(e) for e in batch.general)


def test_a_general_client_that_kept_up_is_written_the_ticks_frames_at_once():
    client, hub, _, theirs = _websocket_client()
    batch = _tick(1)
    assert client.write_general(batch)
    expected = _general_frames(batch)
    got = b""
    while len(got) < len(expected):
        got += theirs.recv(1 << 16)
    assert got == expected                          # prices and summaries, no chain
    assert hub.counted == 4 and len(client.buffer) == 0


def test_a_client_with_chains_pending_messages_or_a_busy_connection_goes_through_its_buffer():
    client, _, eio_socket, _ = _websocket_client()
    client.chains.add("IDX")                         # wants chain_update too
    assert not client.write_general(_tick(1))
    client.chains.clear()
    client.buffer.put(StreamEvent(UNDERLYING, "IDX", 1, {"product": "IDX"}))
    assert not client.write_general(_tick(2))       # coalesces with what is pending
    client.buffer.drain()
    eio_socket.queue.size = 1                        # a reply or ping goes first
    assert not client.write_general(_tick(3))
    eio_socket.queue.size = 0
    twice = Batch(_tick(4).events + _tick(5).events)
    assert not client.write_general(twice)          # two ticks of a product: keep the latest
    assert client.write_general(_tick(6))
