"""The live stream's fan-out, shared by Socket.IO and Server-Sent Events.

The feed calls its listeners on its own thread (a real OS thread for an in-process engine, a
greenlet for the bus). :class:`StreamHub` only queues the snapshot there and wakes the gevent
hub with an async watcher (gevent's thread-safe wake-up); everything else (building the
events, serializing them once per snapshot, handing them to the clients) runs in greenlets of
the web process.

Each client has a :class:`CoalescingBuffer`: at most one pending message per (event, product).
A client that keeps up drains it before the next tick and gets every message; one that falls
behind gets the latest state of each (event, product) instead of a growing backlog, so a slow
client never holds back the others nor grows the server's memory. Coalesced and dropped
messages are counted.

Each web process fans out to its own clients from its own feed: market data never crosses a
message queue, so it reaches every client exactly once however many processes serve clients.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import gevent
from gevent.event import Event

from ..core.protocols import SnapshotFeed
from ..core.snapshot import ChainSnapshot
from .json import dumps
from .serialize import chain_dict, iso, market_fields

log = logging.getLogger(__name__)

# Event kinds (as named in the SSE ``events`` parameter) and their Socket.IO event names.
UNDERLYING, SUMMARY, CHAIN = "underlying", "summary", "chain"
EVENT_NAMES = {UNDERLYING: "underlying_update", SUMMARY: "chain_summary", CHAIN: "chain_update"}
KINDS = tuple(EVENT_NAMES)
BATCH_WINDOW = 0.02     # seconds to wait for the rest of a tick's products


def precise_iso(epoch_seconds: float) -> str:
    """ISO-8601 UTC with microseconds and a trailing Z (for latency measurements)."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, eq=False)
class StreamEvent:
    """One message of the stream, serialized once for every client that receives it.

    ``content`` is the payload, or a function making it on first use (a full chain is only
    built when some client wants it)."""

    kind: str
    product: str
    sequence: int
    content: dict[str, Any] | Callable[[], dict[str, Any]]
    key: tuple[str, str] = field(init=False)
    _encoded: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.kind, self.product))

    @property
    def name(self) -> str:
        return EVENT_NAMES[self.kind]

    @property
    def payload(self) -> dict[str, Any]:
        if isinstance(self.content, dict):
            return self.content
        return self.encoded("payload", lambda e: e.content())  # type: ignore[operator]

    @property
    def json(self) -> bytes:
        return self.encoded("json", _json)

    def encoded(self, form: str, encode: Callable[[StreamEvent], Any]) -> Any:
        """``encode(self)`` run once per event and form (e.g. JSON, a WebSocket frame); the
        same object for every later caller. Only greenlets of one thread call this."""
        found = self._encoded.get(form)
        if found is None:
            found = self._encoded[form] = encode(self)
        return found


def _json(event: StreamEvent) -> bytes:
    return dumps(event.payload)


class Batch:
    """The events of the snapshots handed over at once, grouped for selection per client.

    ``general_unique``: no two general events share a key (one tick per product), so a client
    with nothing pending that takes them all as they are gets exactly what its coalescing
    buffer would have given it."""

    def __init__(self, events: list[StreamEvent]) -> None:
        self.events = events
        self.general = [e for e in events if e.kind != CHAIN]
        self.general_unique = len({e.key for e in self.general}) == len(self.general)
        self.chains: dict[str, list[StreamEvent]] = {}
        for e in events:
            if e.kind == CHAIN:
                self.chains.setdefault(e.product, []).append(e)
        self._joined: dict[str, bytes] = {}

    def general_joined(self, form: str, encode: Callable[[StreamEvent], bytes]) -> bytes:
        """The general events' ``form`` (bytes, e.g. WebSocket frames) one after the other:
        joined once per batch, the same object for every client that takes them all."""
        found = self._joined.get(form)
        if found is None:
            found = self._joined[form] = b"".join([e.encoded(form, encode)
                                                   for e in self.general])
        return found


def events_for(snap: ChainSnapshot, strikes: int, published: float) -> list[StreamEvent]:
    """The stream's messages of one product snapshot: the underlying's price, the nearest
    expiry's summary and its full chain (as one element of the REST chain response). Each
    carries the snapshot's ``market_status`` and ``market_status_until``."""
    stamp = iso(snap.timestamp)
    sent = precise_iso(published)
    market = market_fields(snap)
    events = [StreamEvent(UNDERLYING, snap.product, snap.sequence, {
        "product": snap.product, "price": snap.spot, "timestamp": stamp,
        "sequence": snap.sequence, "published_at": sent, **market})]
    chains = snap.chains
    if chains:
        c = chains[0]
        events.append(StreamEvent(SUMMARY, snap.product, snap.sequence, {
            "product": snap.product, "expiry": c.expiry.isoformat(), "spot_price": c.spot,
            "pcr_oi": c.pcr_oi, "pcr_volume": c.pcr_volume,
            "atm_straddle_price": c.atm_straddle_price, "max_pain_strike": c.max_pain_strike,
            "timestamp": stamp, "sequence": snap.sequence, "published_at": sent, **market}))

        def chain() -> dict[str, Any]:
            return {**chain_dict(c, strikes, market), "published_at": sent}

        events.append(StreamEvent(CHAIN, snap.product, snap.sequence, chain))
    return events


class CoalescingBuffer:
    """A client's pending messages, at most one per (event, product), oldest first.

    A message for a key that is still pending replaces it in place (the client gets the
    latest state, once); past ``capacity`` distinct keys the oldest pending message is
    dropped. Neither happens to a client that drains the buffer between ticks.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._pending: OrderedDict[tuple[str, str], StreamEvent] = OrderedDict()
        self.coalesced = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, event: StreamEvent) -> None:
        key = event.key
        if key in self._pending:
            self._pending[key] = event
            self.coalesced += 1
            return
        if len(self._pending) >= self.capacity:
            self._pending.popitem(last=False)
            self.dropped += 1
        self._pending[key] = event

    def put_many(self, events: list[StreamEvent]) -> None:
        if self._pending:
            for event in events:
                self.put(event)
            return
        # Empty (a client that keeps up): one dict build; repeated keys still coalesce.
        self._pending = OrderedDict((e.key, e) for e in events)
        self.coalesced += len(events) - len(self._pending)
        if len(self._pending) > self.capacity:
            for _ in range(len(self._pending) - self.capacity):
                self._pending.popitem(last=False)
                self.dropped += 1

    def discard(self, key: tuple[str, str]) -> None:
        self._pending.pop(key, None)

    def drain(self) -> list[StreamEvent]:
        events = list(self._pending.values())
        self._pending.clear()
        return events


class StreamCounters(Protocol):
    """What the hub counts per transport (``socketio`` or ``sse``), exported by
    :class:`~deltastream.web.metrics.StreamMetrics` as Prometheus counters."""

    def delivered(self, transport: str, count: int) -> None:
        """``count`` messages were written to clients."""

    def coalesced(self, transport: str, count: int) -> None:
        """``count`` buffered messages were replaced by a newer one of the same key."""

    def dropped(self, transport: str, count: int) -> None:
        """``count`` messages were dropped because a client's buffer was full."""


class StreamClient:
    """One connected client: what it wants, its buffer, and how it is woken.

    ``wake`` is called in the fan-out greenlet after new messages were buffered; the base
    class sets an event for a greenlet (an SSE response) that drains the buffer itself.
    """

    transport = "sse"

    def __init__(self, capacity: int, products: Iterable[str], kinds: Iterable[str]) -> None:
        self.buffer = CoalescingBuffer(capacity)
        self.products = set(products)
        self.kinds = set(kinds)
        self.ready = Event()
        self.closed = False

    def wants(self, event: StreamEvent) -> bool:
        return event.kind in self.kinds and event.product in self.products

    def select(self, batch: Batch) -> list[StreamEvent]:
        return [e for e in batch.events if self.wants(e)]

    def wake(self) -> None:
        self.ready.set()

    def write_general(self, batch: Batch) -> bool:
        """Deliver ``batch``'s general events at once, bypassing the buffer, where the
        transport can (see :class:`~deltastream.web.socketio.SocketIOClient`); False when
        the events must go through :meth:`StreamHub.offer` instead."""
        return False

    def take(self) -> list[StreamEvent]:
        self.ready.clear()
        return self.buffer.drain()


class StreamHub:
    """Snapshots in (from any thread), per-client buffered messages out (in greenlets)."""

    def __init__(self, feed: SnapshotFeed, counters: StreamCounters, *, strikes: int,
                 client_buffer: int, replay_ticks: int) -> None:
        self.feed = feed
        self.counters = counters
        self.strikes = strikes
        self.client_buffer = client_buffer
        self.clients: set[StreamClient] = set()
        # Bounded: if the fan-out ever fell this far behind, older snapshots are superseded.
        self._incoming: deque[tuple[ChainSnapshot, float]] = deque(
            maxlen=16 * max(1, len(feed.symbols)))
        self._latest: dict[tuple[str, str], StreamEvent] = {}
        # Recent events for resume, grouped by sequence; a tick has one per (event, product).
        self._recent: deque[StreamEvent] = deque(
            maxlen=replay_ticks * len(KINDS) * max(1, len(feed.symbols)))
        # Delivered counts of a fan-out in progress, per transport: exported once it ends
        # (a counter increment per client costs as much as a tenth of the client's write).
        self._fanning_out = False
        self._delivered: dict[str, int] = {}
        # Called (in the fan-out greenlet) once a tick has been handed to every client:
        # work that may wait until then (the paper-trading events' store read).
        self.after_fanout: list[Callable[[], object]] = []
        self._work = Event()
        self._wakeup = gevent.get_hub().loop.async_()
        self._wakeup.start(self._work.set)
        self._worker = gevent.spawn(self._run)
        feed.subscribe(self._on_snapshot)

    # -- engine side (any thread) ---------------------------------------------------------

    def _on_snapshot(self, snap: ChainSnapshot) -> None:
        # deque.append is atomic; async_().send() is gevent's thread-safe wake-up.
        self._incoming.append((snap, time.time()))
        self._wakeup.send()

    # -- fan-out greenlet -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._work.wait()
            self._work.clear()
            try:
                self.process_pending()
            except Exception:  # a bad snapshot must not end the stream for everyone
                log.exception("stream fan-out failed")

    def _tick_complete(self) -> bool:
        queued = list(self._incoming)   # one step under the interpreter lock: a safe copy
        if not queued:
            return True
        last = queued[-1][0].sequence
        return sum(1 for snap, _ in queued if snap.sequence == last) >= len(self.feed.symbols)

    def process_pending(self) -> None:
        """Turn every queued snapshot into events and hand them to the clients."""
        # The feed's thread hands over a tick's products one by one: wait a moment for the
        # rest, so a client gets one write per tick rather than one per product.
        deadline = time.monotonic() + BATCH_WINDOW
        while not self._tick_complete() and time.monotonic() < deadline:
            gevent.sleep(0.001)
        events: list[StreamEvent] = []
        while self._incoming:
            snap, received = self._incoming.popleft()
            events.extend(events_for(snap, self.strikes, received))
        if not events:
            return
        for event in events:
            self._latest[event.key] = event
            self._recent.append(event)
        batch = Batch(events)
        self._fanning_out = True
        try:
            for client in list(self.clients):
                if not client.write_general(batch):
                    self.offer(client, client.select(batch))
        finally:
            self._fanning_out = False
            delivered, self._delivered = self._delivered, {}
            for transport, count in delivered.items():
                self.counters.delivered(transport, count)
        for then in self.after_fanout:
            then()

    def offer(self, client: StreamClient, events: list[StreamEvent]) -> None:
        """Buffer what ``client`` wants of ``events`` and wake it."""
        if not events:
            return
        buf = client.buffer
        coalesced, dropped = buf.coalesced, buf.dropped
        buf.put_many(events)
        if buf.coalesced != coalesced:
            self.counters.coalesced(client.transport, buf.coalesced - coalesced)
        if buf.dropped != dropped:
            self.counters.dropped(client.transport, buf.dropped - dropped)
        client.wake()

    # -- clients ------------------------------------------------------------------------

    def add(self, client: StreamClient) -> None:
        self.clients.add(client)

    def remove(self, client: StreamClient) -> None:
        client.closed = True
        self.clients.discard(client)
        client.wake()

    def latest(self, products: Iterable[str], kinds: Iterable[str]) -> list[StreamEvent]:
        """The latest event of each (kind, product), product by product."""
        kinds = list(kinds)
        return [e for p in products for k in kinds if (e := self._latest.get((k, p)))]

    def since(self, sequence: int, client: StreamClient) -> list[StreamEvent] | None:
        """Events after ``sequence`` that ``client`` wants, oldest first; None when the
        replay ring no longer reaches back to ``sequence`` (the client then gets the latest
        state instead)."""
        recent = list(self._recent)
        if not recent:
            return None
        # The oldest sequence in the ring may be partly evicted: resume only after it.
        if sequence < recent[0].sequence or sequence > recent[-1].sequence:
            return None
        return [e for e in recent if e.sequence > sequence and client.wants(e)]

    def delivered(self, client: StreamClient, count: int) -> None:
        """``count`` messages were written to ``client``; counted in /metrics at once, or
        at the end of the fan-out in progress."""
        if self._fanning_out:
            self._delivered[client.transport] = self._delivered.get(client.transport, 0) + count
        else:
            self.counters.delivered(client.transport, count)


def sse_frames(events: list[StreamEvent]) -> Iterator[bytes]:
    """Server-Sent Events frames. The ``id`` (the snapshot sequence) is written on the last
    event of each sequence only: a client cut off in the middle of a tick resumes from the
    previous sequence and gets that whole tick again rather than missing part of it."""
    events = sorted(events, key=lambda e: e.sequence)
    for i, event in enumerate(events):
        last_of_sequence = i + 1 == len(events) or events[i + 1].sequence != event.sequence
        head = f"id: {event.sequence}\n" if last_of_sequence else ""
        yield (head + f"event: {event.name}\n").encode() + b"data: " + event.json + b"\n\n"
