"""The reader side of a remote engine: a web process's latest snapshots, fed by the bus."""

from __future__ import annotations

import logging
import threading

from ..core.feed import BusStatus, EngineStatus, LatestSnapshots
from ..core.protocols import BusClient
from .codec import BusMessageError, decode_ring, decode_tick
from .local import FRAME_RING, FRAME_TICK

log = logging.getLogger(__name__)


class BusFeed(LatestSnapshots):
    """Latest snapshots, the underlying's ticks and the engine's status, from a bus.

    A tick whose sequence is not newer than the last one applied is ignored, so a reconnect
    (which starts with the latest tick) never delivers a tick twice. The engine's life (start,
    restarts, last exit) is the one its latest applied tick carries. While the bus is away the
    last snapshots keep being served and :meth:`status` says the feed is stale."""

    def __init__(self, symbols: list[str], history: int, tick_interval: float,
                 client: BusClient, kind: str, description: str) -> None:
        super().__init__(symbols, history, tick_interval)
        self.client = client
        self.kind = kind            # "local" or "redis"
        self._description = description
        self.connected = False
        self.engine_id: str | None = None
        self.last_sequence = 0
        self.reconnects = 0
        self._thread: threading.Thread | None = None
        self._reading = False       # the reader runs (set as it starts, cleared as it ends)
        self._stopping = False      # a disconnect from now on is ours, not news

    def status(self) -> EngineStatus:
        # A flag, not Thread.is_alive(): under gevent that polls a lock, and a poll that
        # fails yields to every other greenlet, sending each health check to the back of the
        # queue (health got a third of the other routes' throughput under load).
        return self._status(self._reading and self.connected)

    def bus_status(self) -> BusStatus:
        return BusStatus(self.kind, self.connected, self.engine_id, self.reconnects)

    def describe(self) -> str:
        return self._description

    def start(self) -> None:
        if self._thread is not None:
            return
        # Under gevent this is a greenlet doing cooperative socket reads.
        self._reading = True
        self._thread = threading.Thread(target=self._read, name="deltastream-bus-reader",
                                        daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            self.client.run(self._on_frame, self._on_connection)
        finally:
            self._reading = False

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self.client.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _on_connection(self, up: bool) -> None:
        if up and not self.connected:
            log.info("connected to the engine bus (%s)", self._description)
        elif not up and self.connected and not self._stopping:
            self.reconnects += 1
            log.warning("engine bus (%s) is away; serving the last snapshots", self._description)
        self.connected = up

    def _on_frame(self, kind: int, payload: bytes) -> None:
        try:
            if kind == FRAME_TICK:
                message = decode_tick(payload)
                if message.sequence <= self.last_sequence:
                    if message.engine_id == self.engine_id:
                        return
                    log.warning("engine %s took over at sequence %d (last seen %d)",
                                message.engine_id, message.sequence, self.last_sequence)
                self.engine_id = message.engine_id
                self.last_sequence = message.sequence
                self.life = message.life
                self.publish(message.snapshots, message.build_seconds, message.error)
            elif kind == FRAME_RING:
                for product, ticks in decode_ring(payload).items():
                    self.ticks.replace(product, ticks)
        except BusMessageError as exc:
            log.error("ignored a bus frame: %s", exc)
