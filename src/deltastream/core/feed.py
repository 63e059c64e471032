"""The reader side of an engine: latest snapshots, the underlying's ticks, listeners, status.

:class:`LatestSnapshots` is the one implementation of the bookkeeping every
:class:`~deltastream.core.protocols.SnapshotFeed` shares (the in-process engine and a web
process's bus feed), so the web layer reads both the same way. Times are monotonic seconds
(``time.monotonic``) unless a name says otherwise; wall-clock times (names ending in ``_at``)
are seconds since the Unix epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .snapshot import ChainSnapshot
from .ticks import TickRing

Listener = Callable[[ChainSnapshot], None]


@dataclass(frozen=True)
class EngineExit:
    """How an engine process ended, as the server process supervising it saw it."""

    cause: str                 # "killed by signal SIGKILL", "exited with code 1", ...
    at: float                  # when the server process noticed, epoch seconds


@dataclass(frozen=True)
class EngineLife:
    """The running engine's life so far: when it started, how many times the server process
    supervising it has restarted it, and how the previous one ended. An engine nobody
    supervises (in a web process, or ``deltastream engine``) has 0 restarts and no exit."""

    started_at: float | None = None    # epoch seconds
    restarts: int = 0
    last_exit: EngineExit | None = None


# Nothing known of an engine's life (no start time, no restarts, no exit).
UNKNOWN_LIFE = EngineLife()


@dataclass(frozen=True)
class EngineStatus:
    """The engine as its feed sees it."""

    running: bool
    ticks: int
    last_tick_monotonic: float | None
    last_tick_seconds: float | None    # how long the last tick took to build
    last_error: str | None
    life: EngineLife = UNKNOWN_LIFE


@dataclass(frozen=True)
class BusStatus:
    """A feed's connection to an engine elsewhere (over the bus)."""

    kind: str                  # "local" (the data directory's socket) or "redis"
    connected: bool
    engine_id: str | None      # the engine whose ticks arrive (changes on a takeover)
    reconnects: int            # times the connection was lost


class LatestSnapshots:
    """Latest snapshot per product, tick history and tick counters, updated by
    :meth:`publish`; feeds add how they are started, stopped and described."""

    def __init__(self, symbols: list[str], history: int, tick_interval: float) -> None:
        self.symbols = symbols
        self.tick_interval = tick_interval
        self.ticks = TickRing(history)
        self._latest: dict[str, ChainSnapshot] = {}
        self._listeners: list[Listener] = []
        self._tick_count = 0
        self._last_tick: float | None = None
        self._last_duration: float | None = None
        self._last_error: str | None = None
        self.life = UNKNOWN_LIFE        # of the engine whose ticks are published here

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every new snapshot (from the publishing thread)."""
        self._listeners.append(listener)

    def latest(self, product: str) -> ChainSnapshot | None:
        return self._latest.get(product)

    def publish(self, published: dict[str, ChainSnapshot], build_seconds: float,
                error: str | None = None) -> None:
        """Make one tick's snapshots the latest (one reference swap), record the underlying's
        ticks and tell the listeners."""
        for snap in published.values():
            self.ticks.append(snap.product, snap.sequence, snap.spot, snap.tick_volume,
                              snap.timestamp)
        self._latest = {**self._latest, **published}
        for snap in published.values():
            for listener in self._listeners:
                listener(snap)
        self._last_error = error
        if published:
            self._tick_count += 1
            self._last_tick = time.monotonic()
            self._last_duration = build_seconds

    def _status(self, running: bool) -> EngineStatus:
        return EngineStatus(running, self._tick_count, self._last_tick, self._last_duration,
                            self._last_error, self.life)
