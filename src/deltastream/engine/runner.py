"""The tick loop: advances the market, builds each product's snapshot and publishes it.

One writer (the engine thread) and any number of readers: a snapshot is published by
replacing a reference in a dict, so readers always see either the previous or the next
complete snapshot, never a half-built one. Sequence numbers increase by one per tick and
product.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numba

from ..core.feed import BusStatus, EngineLife, EngineStatus, LatestSnapshots
from ..core.snapshot import ChainSnapshot
from ..core.threads import real_event, real_thread
from ..market.clock import MarketClock
from ..market.simulator import ProductSpec, SimulatedMarket
from .chains import ContractTerms, build_snapshots

log = logging.getLogger(__name__)

class Engine(LatestSnapshots):
    """Owns the simulated market and publishes the snapshot of every product each tick."""

    def __init__(self, specs: list[ProductSpec], terms: dict[str, ContractTerms], seed: int,
                 clock: MarketClock, tick_interval: float, history: int,
                 compute_threads: int = 1) -> None:
        super().__init__([s.symbol for s in specs], history, tick_interval)
        self.market = SimulatedMarket(specs, seed)
        self.terms = terms
        self.clock = clock
        self.compute_threads = compute_threads
        self._sequence = 0
        self._thread: Any = None
        self._stop = real_event()

    @property
    def sequence(self) -> int:
        """The sequence of the last tick published (0 before the first)."""
        return self._sequence

    def resume_sequence(self, last: int) -> None:
        """Continue numbering after ``last`` (a sequence another engine already published)."""
        self._sequence = max(self._sequence, last)

    def tick(self) -> dict[str, ChainSnapshot]:
        """Advance the market to the clock's now and publish one snapshot per product."""
        started = time.monotonic()
        now = self.clock.now()
        quotes = self.market.advance(now)
        self._sequence += 1
        published = build_snapshots([(self.terms[s], q) for s, q in quotes.items()],
                                    self._sequence)
        self.publish(published, time.monotonic() - started)
        return published

    def status(self) -> EngineStatus:
        return self._status(self._thread is not None and self._thread.is_alive())

    def bus_status(self) -> BusStatus | None:
        return None

    def describe(self) -> str:
        return "engine in this process"

    def start(self) -> None:
        """Tick in a background thread every ``tick_interval`` seconds."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.life = EngineLife(started_at=time.time())
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
