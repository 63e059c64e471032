"""Socket.IO on the REST port (path ``/socket.io``), as the API contract describes.

Every client joins the room ``general`` on connect and gets ``underlying_update`` and
``chain_summary`` of every product; ``subscribe`` ``{"type": "product" | "chain", "symbol"}``
joins ``product:<P>`` or ``chain:<P>`` (answered by ``subscribed {"room"}``) and sends the
latest state at once; members of ``chain:<P>`` also get ``chain_update``. Bad requests are
answered by an ``error`` event; the connection stays up.

Market data does not go through Socket.IO's emit: the stream hub hands each client its
buffered messages, encoded once per message for all clients, and only when the client's
Engine.IO queue has been taken by its writer (so a slow client's backlog is coalesced in its
buffer, never queued without bound). With a message queue (``redis_url``) replies and any
server-side emit reach clients of every process, while market data stays local to each
process's own clients and so is delivered once.
"""

from __future__ import annotations

import logging
from typing import Any

import engineio.packet
import gevent
import orjson
import socketio.packet
from flask import Flask, request
from flask_socketio import SocketIO, emit, join_room, leave_room

from ..settings import Settings
from .json import dumps
from .stream import CHAIN, KINDS, SUMMARY, UNDERLYING, StreamClient, StreamEvent, StreamHub

log = logging.getLogger(__name__)

GENERAL = "general"
ROOM_KINDS = {"product": (UNDERLYING, SUMMARY), "chain": (CHAIN,)}


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


class SocketIOClient(StreamClient):
    """A connected Socket.IO client: ``general`` data always, chains it subscribed to."""

    transport = "socketio"

    def __init__(self, hub: StreamHub, server: Any, eio_sid: str, capacity: int) -> None:
        super().__init__(capacity, hub.feed.symbols, KINDS)
        self.hub = hub
        self.server = server
        self.eio_sid = eio_sid
        self.chains: set[str] = set()
        self._flusher: gevent.Greenlet | None = None

    def wants(self, event: StreamEvent) -> bool:
        return event.kind != CHAIN or event.product in self.chains

    def _queue(self) -> Any:
        """The Engine.IO socket's outgoing queue; None when there is no socket to wait for
        (closed, or a test client), and messages are handed over at once."""
        socket = self.server.eio.sockets.get(self.eio_sid)
        return None if socket is None or socket.closed else socket.queue

    def wake(self) -> None:
        if self.closed or self._flusher is not None:
            return
        queue = self._queue()
        if queue is None or queue.qsize() == 0:
            self._send(self.buffer.drain())
        else:
            self._flusher = gevent.spawn(self._flush)

    def _flush(self) -> None:
        """Wait until the Engine.IO writer has taken everything queued, then send what is
        buffered by then (coalesced to the latest state while waiting)."""
        try:
            while not self.closed and len(self.buffer):
                queue = self._queue()
                if queue is None or queue.join(timeout=5.0):
                    self._send(self.buffer.drain())
        finally:
            self._flusher = None

    def _send(self, events: list[StreamEvent]) -> None:
        for event in events:
            self.server._send_eio_packet(
                self.eio_sid, event.encoded("socketio", lambda e=event: engineio_packet(e)))
        self.hub.delivered(self, len(events))


def _request_error(event: str, message: str, **detail: Any) -> None:
    emit("error", {"error": message, "detail": {"event": event, **detail}}, ignore_queue=True)


def _room_request(event: str, data: Any, products: list[str]) -> tuple[str, str] | None:
    """``(type, symbol)`` of a valid subscribe/unsubscribe payload; otherwise answer an
    ``error`` event naming what is wrong and return None."""
    accepted = {"type": sorted(ROOM_KINDS), "symbol": products}
    if not isinstance(data, dict):
        _request_error(event, 'payload must be an object {"type", "symbol"}',
                       accepted=accepted)
        return None
    kind, symbol = data.get("type"), data.get("symbol")
    if kind not in ROOM_KINDS:
        _request_error(event, f"invalid type {kind!r}: expected 'product' or 'chain'",
                       parameter="type", accepted=accepted["type"])
        return None
    if not isinstance(symbol, str) or symbol not in products:
        _request_error(event, f"unknown product {symbol!r}", parameter="symbol",
                       valid_products=products)
        return None
    return kind, symbol


def init_socketio(app: Flask, hub: StreamHub, settings: Settings) -> SocketIO:
    origins: Any = "*" if "*" in settings.cors_origins else list(settings.cors_origins)
    sio = SocketIO(app, async_mode="gevent", cors_allowed_origins=origins,
                   message_queue=settings.redis_url or None, manage_session=False)
    clients: dict[str, SocketIOClient] = {}
    products = hub.feed.symbols

    @sio.on("connect")
    def _connect(auth: Any = None) -> None:
        join_room(GENERAL)
        eio_sid = sio.server.manager.eio_sid_from_sid(request.sid, "/")
        client = SocketIOClient(hub, sio.server, eio_sid, settings.stream_client_buffer)
        clients[request.sid] = client
        hub.add(client)

    @sio.on("disconnect")
    def _disconnect(reason: Any = None) -> None:
        client = clients.pop(request.sid, None)
        if client is not None:
            hub.remove(client)

    @sio.on("subscribe")
    def _subscribe(data: Any = None) -> None:
        client = clients.get(request.sid)
        parsed = _room_request("subscribe", data, products)
        if client is None or parsed is None:
            return
        kind, symbol = parsed
        room = f"{kind}:{symbol}"
        join_room(room)
        if kind == "chain":
            client.chains.add(symbol)
        emit("subscribed", {"room": room, "type": kind, "symbol": symbol}, ignore_queue=True)
        # The latest state at once, queued behind the answer.
        hub.offer(client, hub.latest([symbol], ROOM_KINDS[kind]))

    @sio.on("unsubscribe")
    def _unsubscribe(data: Any = None) -> None:
        client = clients.get(request.sid)
        parsed = _room_request("unsubscribe", data, products)
        if client is None or parsed is None:
            return
        kind, symbol = parsed
        room = f"{kind}:{symbol}"
        leave_room(room)
        if kind == "chain":
            client.chains.discard(symbol)
            client.buffer.discard((CHAIN, symbol))
        emit("unsubscribed", {"room": room, "type": kind, "symbol": symbol},
             ignore_queue=True)

    @sio.on_error_default
    def _handler_error(exc: Exception) -> None:
        log.exception("Socket.IO handler failed")
        event = getattr(request, "event", None) or {}
        _request_error(str(event.get("message", "unknown")), "internal error")

    return sio
