"""The extension points, each one documented Protocol: where snapshots are read from
(:class:`SnapshotFeed`), where an engine's market comes from (:class:`MarketProvider`), how an
engine publishes its ticks (:class:`Publisher`), how a web
process receives them (:class:`BusClient`), and where the recorder stores them
(:class:`SnapshotStore`).

Implementations satisfy these structurally (no base class to inherit). Sequences are the
engine's tick numbers: positive, increasing by one per tick, continued across engine restarts
and takeovers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from .feed import BusStatus, EngineStatus, Listener
from .snapshot import ChainSnapshot
from .ticks import TickRing


class SnapshotFeed(Protocol):
    """Where the web layer reads the market: the latest immutable snapshot per product, the
    underlying's recent ticks, and the status of the engine behind it.

    Implemented by the in-process :class:`~deltastream.engine.runner.Engine` and by a web
    process's :class:`~deltastream.bus.feed.BusFeed`."""

    symbols: list[str]       # products, in catalogue order
    tick_interval: float     # seconds between the engine's ticks
    ticks: TickRing          # the underlying's recent ticks per product

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every new snapshot, on the thread that publishes it."""

    def latest(self, product: str) -> ChainSnapshot | None:
        """The newest snapshot of ``product`` (None before its first tick)."""

    def status(self) -> EngineStatus:
        """Whether the engine runs, its tick count and the last tick's time and error."""

    def bus_status(self) -> BusStatus | None:
        """The connection to an engine elsewhere; None for an engine in this process."""

    def describe(self) -> str:
        """One line saying where the snapshots come from (for logs)."""

    def start(self) -> None:
        """Start ticking or receiving ticks in the background (idempotent)."""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop, waiting up to ``timeout`` seconds for the background work to end."""


class MarketProvider(Protocol):
    """Where an engine's snapshots come from: the simulated market, a replay of stored or
    imported snapshots, or a live feed. The engine asks once per tick; the provider answers
    with the snapshot of every product that changed since the last ask (priced: IV, Greeks
    and chain statistics filled), numbered ``sequence``; the engine publishes the answer as
    one tick, and an empty answer as none (``sequence`` is offered again next time). A
    provider's work that may be slow (network requests) happens off the engine's thread.

    Implemented by :class:`~deltastream.engine.runner.SimulatorProvider` (the default),
    :class:`~deltastream.feeds.replay.ReplayProvider` and
    :class:`~deltastream.feeds.nse_poll.NSEPollingProvider`. A provider may also be
    :class:`~deltastream.engine.runner.Scheduled` (it tells when its next snapshot falls
    due) and :class:`~deltastream.engine.runner.Closable` (it holds resources to release)."""

    source: str              # the name its snapshots are stored and served under
    symbols: list[str]       # products, in a stable order

    def snapshots(self, now: datetime, sequence: int) -> dict[str, ChainSnapshot]:
        """The snapshots at market time ``now`` (UTC), each numbered ``sequence``; products
        with nothing new are left out."""

    def describe(self) -> str:
        """One line saying where the market comes from (for logs)."""


class Publisher(Protocol):
    """How an engine puts its ticks on the bus, and (on Redis) holds the writer's lease so
    that exactly one engine publishes at a time."""

    def describe(self) -> str:
        """One line saying where ticks are published (passwords hidden)."""

    def acquire(self, stopped: threading.Event) -> bool:
        """Wait until this engine may publish; False when ``stopped`` was set first."""

    def renew(self) -> bool:
        """Extend the lease; False when another engine holds it now."""

    def last_sequence(self) -> int:
        """The last sequence any engine published here (0 when none)."""

    def publish(self, sequence: int, message: bytes) -> bool:
        """Publish one encoded tick; False when the lease was lost."""

    def release(self) -> None:
        """Give the lease up (a standby may take over at once)."""

    def close(self) -> None:
        """Release every resource (sockets, connections, locks)."""


class BusClient(Protocol):
    """How a web process receives the engine's ticks: connects, hands over every frame until
    stopped, and reconnects on its own."""

    def run(self, on_frame: Callable[[int, bytes], None],
            on_connection: Callable[[bool], None]) -> None:
        """Block, calling ``on_frame(kind, payload)`` per frame and ``on_connection(up)``
        whenever the connection comes up or goes away, until :meth:`stop`."""

    def stop(self) -> None:
        """Make :meth:`run` return."""


class SnapshotStore(Protocol):
    """Where the recorder sends what the engine publishes: written in the background, in
    order, one transaction per snapshot together with its market checkpoint."""

    capacity: int            # snapshots queued before new ones are dropped

    def submit(self, snap: ChainSnapshot, state: Callable[[], bytes] | None = None) -> bool:
        """Queue ``snap`` (and the market checkpoint ``state()`` makes); False when dropped."""

    def save_session_close(self, snap: ChainSnapshot, session: date) -> bool:
        """Queue the closing open interest and premium of every contract of ``session``;
        False when dropped."""

    def stats(self) -> Any:
        """Counters: queue depth, drops, batches, rows written, the last error."""

    def close(self, timeout: float) -> bool:
        """Write everything queued; True when all of it was written within ``timeout``."""
