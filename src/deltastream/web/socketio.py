"""Socket.IO on the REST port (path ``/socket.io``), as the API contract describes.

Every client joins the room ``general`` on connect and gets ``underlying_update`` and
``chain_summary`` of every product; ``subscribe`` ``{"type": "product" | "chain", "symbol"}``
joins ``product:<P>`` or ``chain:<P>`` (answered by ``subscribed {"room"}``) and sends the
latest state at once; members of ``chain:<P>`` also get ``chain_update``. Bad requests are
answered by an ``error`` event; the connection stays up. ``connect`` with ``auth: {"token"}``
or ``subscribe {"type": "account", "token"}`` joins the user's private room ``user:<id>``
(order, fill and position events: :mod:`deltastream.web.account_events`).

The WebSocket transport runs on simple-websocket (wsproto) over the worker's socket, every
write of a connection under one lock (:class:`LockedSocket`). Market data does not go through
Socket.IO's emit: the stream hub hands each client its buffered messages, encoded once per
message for all clients, and only when the client's Engine.IO queue has been taken by its
writer (so a slow client's backlog is coalesced in its buffer, never queued without bound).
With a message queue (``redis_url``) replies and any server-side emit reach clients of every
process, while market data stays local to each process's own clients and so is delivered once.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from typing import Any

import engineio.packet
import gevent
import gevent.event
import gevent.selectors
import orjson
import simple_websocket
import socketio
import socketio.packet
from flask import Flask, request
from flask_socketio import SocketIO, emit, join_room, leave_room
from gevent.lock import Semaphore
from wsproto.utilities import RemoteProtocolError

from ..core.types import EngineMode, Role
from ..settings import Settings
from .account_events import AccountEvents, Unauthorised, init_account_events
from .json import dumps
from .socketio_queue import RedisQueue
from .stream import (
    CHAIN,
    KINDS,
    SUMMARY,
    UNDERLYING,
    Batch,
    StreamClient,
    StreamEvent,
    StreamHub,
)

log = logging.getLogger(__name__)

GENERAL = "general"
ACCOUNT = "account"           # subscribe type of the user's private room
WRITER = "deltastream_writer"     # attribute of an Engine.IO socket: its LockedSocket
ROOM_KINDS = {"product": (UNDERLYING, SUMMARY), "chain": (CHAIN,)}


def _sid() -> str:
    """The Socket.IO session of the event being handled (Flask-SocketIO sets it on the
    request, outside Flask's types)."""
    sid: str = request.sid  # type: ignore[attr-defined]
    return sid


class _OrjsonCodec:
    """The ``json`` interface Socket.IO packets use, on orjson (NaN becomes null)."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


class _Packet(socketio.packet.Packet):
    json = _OrjsonCodec


def engineio_packet(event: StreamEvent) -> engineio.packet.Packet:
    """The Engine.IO message carrying ``event`` as a Socket.IO event on namespace ``/``."""
    pkt = _Packet(socketio.packet.EVENT, data=[event.name, event.payload], binary=False)
    return engineio.packet.Packet(engineio.packet.MESSAGE, data=pkt.encode())


class _Thread(gevent.Greenlet):
    """The ``threading.Thread`` interface simple-websocket starts its reader with, as a
    greenlet."""

    def __init__(self, target: Any) -> None:
        super().__init__(target)


class LockedSocket:
    """A WebSocket connection's socket with every write under one lock: simple-websocket's
    (Engine.IO's messages, pongs, close frames) and the stream's batches, so frames never
    interleave when a write to a slow client blocks half-way. ``send`` writes all it is
    given (simple-websocket writes whole frames with it)."""

    def __init__(self, sock: Any) -> None:
        self.lock = Semaphore()
        self._sock = sock
        # The WebSocket on this socket; no data frame may follow its close frame.
        self.websocket: simple_websocket.Server | None = None

    @property
    def open(self) -> bool:
        return self.websocket is not None and bool(self.websocket.connected)

    def send(self, data: bytes) -> int:
        with self.lock:
            self._sock.sendall(data)
        return len(data)

    def recv(self, size: int) -> bytes:
        data: bytes = self._sock.recv(size)
        return data

    def fileno(self) -> int:
        fd: int = self._sock.fileno()
        return fd

    def close(self) -> None:
        self._sock.close()

    def write(self, data: bytes) -> None:
        """Write ``data`` (complete frames) unless the WebSocket has closed."""
        with self.lock:
            if self.open:
                self._sock.sendall(data)

    def try_write(self, data: bytes) -> int:
        """Write what the kernel takes now, without waiting; the caller checked that the lock
        is free. When not all of ``data`` was taken the lock stays held: the rest must be
        written with :meth:`finish` before anything else. ConnectionError once closed."""
        self.lock.acquire(blocking=False)
        try:
            if not self.open:
                raise ConnectionError("the WebSocket is closed")
            sent: int = self._sock.send(data, 0, 0.0)
        except BlockingIOError:
            sent = 0
        except BaseException:
            self.lock.release()
            raise
        if sent == len(data):
            self.lock.release()
        return sent

    def finish(self, rest: bytes) -> None:
        try:
            self._sock.sendall(rest)
        finally:
            self.lock.release()


class _WebSocketWSGI:
    """Engine.IO's WebSocket transport on simple-websocket, writing through a
    :class:`LockedSocket` that it also leaves on the Engine.IO socket it serves, so that the
    stream can write a client's batch of pre-framed messages in one system call.

    Engine.IO constructs it per upgrade with its socket's handler (a bound method of that
    socket) and server, calls it as the WSGI app of the upgrade request, and the handler
    uses ``send``, ``wait`` and ``close`` (the interface of Engine.IO's own drivers). Under
    gunicorn it ends by raising StopIteration: the connection was the WebSocket's, there is
    no response left to send."""

    def __init__(self, handler: Any, server: Any) -> None:
        self.app = handler
        self.server = server
        self.ws: simple_websocket.Server | None = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        raw = environ.get("gunicorn.socket")
        locked = LockedSocket(raw) if raw is not None else None
        if locked is not None:
            environ["gunicorn.socket"] = locked
        try:
            self.ws = simple_websocket.Server(
                environ, max_message_size=self.server.max_http_buffer_size,
                thread_class=_Thread, event_class=gevent.event.Event,
                selector_class=gevent.selectors.DefaultSelector)
        except (simple_websocket.ConnectionError, RemoteProtocolError):
            start_response("400 BAD REQUEST", [("Content-Type", "application/json")])
            return [dumps({"error": "invalid WebSocket handshake",
                           "detail": {"accepted": "RFC 6455 opening handshake"}})]
        owner = getattr(self.app, "__self__", None)
        if locked is not None:
            locked.websocket = self.ws
            if owner is not None:
                setattr(owner, WRITER, locked)
        try:
            self.app(self)
        except Exception as exc:       # a message Engine.IO cannot decode ends the connection
            log.debug("WebSocket closed on a malformed message: %s", exc)
            if owner is not None:
                owner.close(wait=False, abort=True)
        self.close()
        if self.ws.mode == "gunicorn":
            raise StopIteration
        return []

    def close(self) -> None:
        if self.ws is not None and self.ws.connected:
            with contextlib.suppress(OSError, simple_websocket.ConnectionClosed):
                self.ws.close()

    def send(self, message: str | bytes) -> None:
        assert self.ws is not None
        try:
            self.ws.send(message)
        except simple_websocket.ConnectionClosed:
            raise OSError("the WebSocket is closed") from None

    def wait(self) -> str | bytes | None:
        assert self.ws is not None
        try:
            data: str | bytes | None = self.ws.receive()
        except simple_websocket.ConnectionClosed:
            return None
        return data


OPCODE_TEXT = 0x1
FIN = 0x80


def encode_frame(payload: bytes, opcode: int = OPCODE_TEXT) -> bytes:
    """One complete, unfragmented WebSocket frame as a server sends it (RFC 6455 section 5.2):
    FIN and the opcode in the first byte; the payload length in 7 bits, or 126 and 16 bits,
    or 127 and 64 bits (network order); no mask (servers never mask); then the payload."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", FIN | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", FIN | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", FIN | opcode, 127, n)
    return head + payload


def websocket_frame(event: StreamEvent) -> bytes:
    """``event`` as a complete WebSocket text frame carrying its Engine.IO message: the same
    bytes for every client."""
    return encode_frame(engineio_packet(event).encode().encode())


class SocketIOClient(StreamClient):
    """A connected Socket.IO client: ``general`` data always, chains it subscribed to.

    Market data goes out once Engine.IO's queue for the client is empty (replies and pings
    go first). On WebSocket, when nothing else is being written to the client, the fan-out
    writes its batch at once, as far as the kernel takes it without waiting; otherwise (and
    for the rest of a batch the kernel did not take) the client's own greenlet writes, and
    while that write waits on a slow client new messages coalesce in its buffer and nobody
    else waits. A client of ``general`` only with nothing pending is written the tick's
    frames as one byte string shared by all such clients (:meth:`write_general`).
    """

    transport = "socketio"

    def __init__(self, hub: StreamHub, server: Any, eio_sid: str, capacity: int) -> None:
        super().__init__(capacity, hub.feed.symbols, KINDS)
        self.hub = hub
        self.server = server
        self.eio_sid = eio_sid
        self.chains: set[str] = set()
        self._busy = False                 # the sender greenlet is at work
        # The tail of a batch the kernel did not take at once, and the writer whose lock is
        # held until it is written.
        self._rest: tuple[LockedSocket, bytes] | None = None
        self._sender = gevent.spawn(self._run)

    def wants(self, event: StreamEvent) -> bool:
        return event.kind != CHAIN or event.product in self.chains

    def select(self, batch: Batch) -> list[StreamEvent]:
        if not self.chains:
            return batch.general
        return batch.general + [e for p in self.chains for e in batch.chains.get(p, ())]

    def _socket(self) -> Any:
        """The Engine.IO socket; None when there is none (closed, or a test client)."""
        socket = self.server.eio.sockets.get(self.eio_sid)
        return None if socket is None or socket.closed else socket

    @staticmethod
    def _writer(socket: Any) -> LockedSocket | None:
        writer = getattr(socket, WRITER, None) if socket is not None else None
        return writer if writer is not None and socket.upgraded and not socket.upgrading \
            else None

    def _free_writer(self) -> LockedSocket | None:
        """The WebSocket writer when the fan-out may write to it now: nobody is writing,
        Engine.IO has nothing queued and this client's sender is idle; otherwise None."""
        if self.closed or self._busy or self.ready.is_set():
            return None
        socket = self._socket()
        writer = self._writer(socket)
        if writer is None or writer.lock.locked() or socket.queue.qsize():
            return None
        return writer

    def _write_now(self, writer: LockedSocket, data: bytes, count: int) -> None:
        """Write ``data`` (``count`` messages) as far as the kernel takes it; the sender
        greenlet writes the rest."""
        try:
            sent = writer.try_write(data)
        except OSError:
            return                  # the connection is gone; Engine.IO reports the disconnect
        self.hub.delivered(self, count)
        if sent < len(data):
            self._rest = (writer, data[sent:])
            self.ready.set()

    def write_general(self, batch: Batch) -> bool:
        # The common case at every tick: a client of ``general`` only that kept up gets the
        # batch's frames joined once for all such clients, without a pass through its buffer.
        if self.chains or len(self.buffer) or not batch.general_unique:
            return False
        writer = self._free_writer()
        if writer is None:
            return False
        if batch.general:
            self._write_now(writer, batch.general_joined("frame", websocket_frame),
                            len(batch.general))
        return True

    def wake(self) -> None:
        writer = self._free_writer()
        if writer is None:
            self.ready.set()
            return
        events = self.buffer.drain()
        self._write_now(writer, b"".join([e.encoded("frame", websocket_frame) for e in events]),
                        len(events))

    def _run(self) -> None:
        try:
            while not self.closed:
                self.ready.wait()
                self._busy = True
                try:
                    self._send_pending()
                except OSError:
                    return          # the connection is gone; Engine.IO reports the disconnect
                finally:
                    self._busy = False
        finally:
            if self._rest is not None:      # never leave the connection's lock held
                self._rest[0].lock.release()
                self._rest = None

    def _send_pending(self) -> None:
        if self._rest is not None:
            (writer, rest), self._rest = self._rest, None
            writer.finish(rest)             # releases the lock, also when the write fails
        socket = self._socket()
        while socket is not None and not self.closed and not socket.queue.join(1.0):
            socket = self._socket()
        if self.closed:
            return
        events = self.take()
        if not events:
            return
        locked = self._writer(socket)
        if locked is not None:
            locked.write(b"".join([e.encoded("frame", websocket_frame) for e in events]))
        else:       # long-polling transport (or a test client): Engine.IO queues them
            for event in events:
                self.server._send_eio_packet(
                    self.eio_sid, event.encoded("packet", engineio_packet))
        self.hub.delivered(self, len(events))


def _request_error(event: str, message: str, **detail: Any) -> None:
    emit("error", {"error": message, "detail": {"event": event, **detail}}, ignore_queue=True)


# What an error answer quotes of a client's value at most: never the whole payload back.
SHOWN_CHARS = 64


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}… ({len(text)} chars)"


def _room_request(event: str, data: Any, products: list[str]) -> tuple[str, str] | None:
    """``(type, symbol)`` of a valid subscribe/unsubscribe payload; otherwise answer an
    ``error`` event naming what is wrong and return None."""
    accepted = {"type": sorted([*ROOM_KINDS, ACCOUNT]), "symbol": products}
    if not isinstance(data, dict):
        _request_error(event, 'payload must be an object {"type", "symbol"}',
                       accepted=accepted)
        return None
    kind, symbol = data.get("type"), data.get("symbol")
    if kind not in ROOM_KINDS:
        _request_error(event, f"invalid type {_shown(kind)}: expected 'product', 'chain' or "
                       "'account'", parameter="type", accepted=accepted["type"])
        return None
    if not isinstance(symbol, str) or symbol not in products:
        _request_error(event, f"unknown product {_shown(symbol)}", parameter="symbol",
                       valid_products=products)
        return None
    return kind, symbol


def _join_account(accounts: AccountEvents | None, event: str, credentials: Any) -> None:
    """Join the request's socket to the room of the user ``credentials`` authenticate
    (answered ``subscribed``), or answer an ``error`` event and join nothing."""
    if accounts is None:
        _request_error(event, "paper trading needs the server's store, which this server "
                       "does not have", parameter="type")
        return
    try:
        user_id, expires = accounts.authenticate(credentials)
    except Unauthorised as error:
        _request_error(event, f"invalid credentials: {error}", parameter="token",
                       accepted='{"token": <access token>} or {"api_key": <API key>}')
        return
    room = accounts.join(_sid(), user_id, expires)
    emit("subscribed", {"room": room, "type": ACCOUNT}, ignore_queue=True)


def _is_account(data: Any) -> bool:
    return isinstance(data, dict) and data.get("type") == ACCOUNT


def init_socketio(app: Flask, hub: StreamHub, settings: Settings) -> SocketIO:
    origins: Any = "*" if "*" in settings.cors_origins else list(settings.cors_origins)
    options: dict[str, Any] = {}
    if settings.redis_url:
        # Built here rather than from a URL so that unix:// sockets work too. Its outages are
        # told by the bus reader or the engine process, when there is one.
        in_process_engine = (settings.role == Role.ALL
                             and settings.engine_mode == EngineMode.THREAD)
        options["client_manager"] = RedisQueue(
            settings.redis_url, f"{settings.redis_prefix}:socketio", quiet=not in_process_engine)
    sio = SocketIO(app, async_mode="gevent", cors_allowed_origins=origins,
                   manage_session=False, **options)
    # Engine.IO looks its WebSocket class up in this table on every upgrade (not a public
    # interface: python-engineio's range is pinned, and tests/web/test_socketio.py fails
    # should it change).
    sio.server.eio._async["websocket"] = _WebSocketWSGI
    clients: dict[str, SocketIOClient] = {}
    products = hub.feed.symbols
    accounts = init_account_events(app, sio, hub)

    @sio.on("connect")
    def _connect(auth: Any = None) -> None:
        join_room(GENERAL)
        eio_sid = sio.server.manager.eio_sid_from_sid(_sid(), "/")
        client = SocketIOClient(hub, sio.server, eio_sid, settings.stream_client_buffer)
        clients[_sid()] = client
        hub.add(client)
        if auth is not None:
            _join_account(accounts, "connect", auth)

    @sio.on("disconnect")
    def _disconnect(reason: Any = None) -> None:
        client = clients.pop(_sid(), None)
        if client is not None:
            hub.remove(client)
        if accounts is not None:
            accounts.leave(_sid())

    def _room(event: str, data: Any) -> tuple[SocketIOClient, str, str, dict] | None:
        """The client, type, symbol and answer of a valid (un)subscribe request."""
        client = clients.get(_sid())
        parsed = _room_request(event, data, products)
        if client is None or parsed is None:
            return None
        kind, symbol = parsed
        return client, kind, symbol, {"room": f"{kind}:{symbol}", "type": kind, "symbol": symbol}

    def _change_room(event: str, data: Any, joining: bool) -> None:
        found = _room(event, data)
        if found is None:
            return
        client, kind, symbol, answer = found
        (join_room if joining else leave_room)(answer["room"])
        if kind == "chain" and joining:
            client.chains.add(symbol)
        elif kind == "chain":
            client.chains.discard(symbol)
            client.buffer.discard((CHAIN, symbol))
        emit(f"{event}d", answer, ignore_queue=True)      # subscribed, unsubscribed
        if joining:
            # The latest state at once, queued behind the answer.
            hub.offer(client, hub.latest([symbol], ROOM_KINDS[kind]))

    @sio.on("subscribe")
    def _subscribe(data: Any = None) -> None:
        if _is_account(data):
            _join_account(accounts, "subscribe", data)
        else:
            _change_room("subscribe", data, joining=True)

    @sio.on("unsubscribe")
    def _unsubscribe(data: Any = None) -> None:
        if _is_account(data):
            if accounts is not None:
                accounts.leave(_sid())
            emit("unsubscribed", {"type": ACCOUNT}, ignore_queue=True)
        else:
            _change_room("unsubscribe", data, joining=False)

    @sio.on_error_default
    def _handler_error(exc: Exception) -> None:
        log.exception("Socket.IO handler failed")
        event = getattr(request, "event", None) or {}
        _request_error(str(event.get("message", "unknown")), "internal error")

    return sio
