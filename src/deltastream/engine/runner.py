"""The tick loop: advances the market, builds each product's snapshot and publishes it.

One writer (the engine thread) and any number of readers: a snapshot is published by
replacing a reference in a dict, so readers always see either the previous or the next
complete snapshot, never a half-built one. Sequence numbers increase by one per tick and
product.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba

from ..market.clock import MarketClock
from ..market.simulator import ProductSpec, SimulatedMarket
from .chains import ContractTerms, build_snapshot
from .snapshot import ChainSnapshot
from .threads import real_event, real_thread
from .ticks import TickRing

log = logging.getLogger(__name__)

Listener = Callable[[ChainSnapshot], None]


@dataclass(frozen=True)
class EngineStatus:
    running: bool
    ticks: int
    last_tick_monotonic: float | None
    last_tick_seconds: float | None    # how long the last tick took to build
    last_error: str | None


class Engine:
    """Owns the simulated market and the latest snapshot of every product."""

    def __init__(self, specs: list[ProductSpec], terms: dict[str, ContractTerms], seed: int,
                 clock: MarketClock, tick_interval: float, history: int,
                 compute_threads: int = 1) -> None:
        self.market = SimulatedMarket(specs, seed)
        self.terms = terms
        self.clock = clock
        self.tick_interval = tick_interval
        self.compute_threads = compute_threads
        self.ticks = TickRing(history)
        self.symbols = [s.symbol for s in specs]
        self._latest: dict[str, ChainSnapshot] = {}
        self._sequence = 0
        self._listeners: list[Listener] = []
        self._thread: Any = None
        self._stop = real_event()
        self._tick_count = 0
        self._last_tick: float | None = None
        self._last_duration: float | None = None
        self._last_error: str | None = None

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every new snapshot (from the engine thread)."""
        self._listeners.append(listener)

    def latest(self, product: str) -> ChainSnapshot | None:
        return self._latest.get(product)

    def tick(self) -> dict[str, ChainSnapshot]:
        """Advance the market to the clock's now and publish one snapshot per product."""
        started = time.monotonic()
        now = self.clock.now()
        quotes = self.market.advance(now)
        self._sequence += 1
        published = {}
        for symbol, pq in quotes.items():
            snap = build_snapshot(self.terms[symbol], pq.spot, now, self._sequence,
                                  pq.session_volume, pq.tick_volume, pq.expiries)
            self.ticks.append(symbol, self._sequence, pq.spot, pq.tick_volume, now)
            published[symbol] = snap
        self._latest = {**self._latest, **published}
        for snap in published.values():
            for listener in self._listeners:
                listener(snap)
        self._tick_count += 1
        self._last_tick = time.monotonic()
        self._last_duration = self._last_tick - started
        return published

    def status(self) -> EngineStatus:
        alive = self._thread is not None and self._thread.is_alive()
        return EngineStatus(alive, self._tick_count, self._last_tick, self._last_duration,
                            self._last_error)

    def start(self) -> None:
        """Tick in a background thread every ``tick_interval`` seconds."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = real_thread(self._run, "deltastream-engine")
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        # Numeric kernels on this thread use at most ``compute_threads`` cores, leaving the
        # others to the request handlers.
        numba.set_num_threads(max(1, min(self.compute_threads, numba.config.NUMBA_NUM_THREADS)))
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.tick()
                self._last_error = None
            except Exception as exc:  # the loop must survive a bad tick; health reports it
                log.exception("engine tick failed")
                self._last_error = f"{type(exc).__name__}: {exc}"
            next_at += self.tick_interval
            delay = next_at - time.monotonic()
            if delay < 0:
                # Running behind: skip the missed ticks rather than bursting to catch up.
                next_at = time.monotonic()
                delay = 0.0
            self._stop.wait(delay)
