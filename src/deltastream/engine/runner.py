"""The tick loop: asks the market provider for what is new, publishes it as one tick.

One writer (the engine thread) and any number of readers: a snapshot is published by
replacing a reference in a dict, so readers always see either the previous or the next
complete snapshot, never a half-built one. Sequence numbers increase by one per published
tick (a tick in which no product has anything new publishes nothing and takes no number).

Where the snapshots come from is a :class:`~deltastream.core.protocols.MarketProvider`:
:class:`SimulatorProvider` (the simulated market, every product each tick) by default, or a
replay of stored snapshots or a live feed (:mod:`deltastream.feeds`), which answer only with
what changed. Two optional abilities of a provider, each its own small protocol here:

- :class:`Scheduled`: it knows the market time of its next snapshot, so the loop wakes up
  then (converted to wall seconds at ``clock_speed``) instead of at the next tick interval,
  and ticks again at once, back to back, while snapshots are due (every one published as its
  own tick, in order);
- :class:`Closable`: it holds resources (a polling thread) released as the engine stops.

The simulated market is deterministic, so on a clock that runs by itself (the real or an
accelerated one: :class:`~deltastream.market.clock.ForeseeableClock`) the loop builds each
tick ahead, for the market time at which it falls due, and publishes it when the clock reaches
that time: never before, and the snapshot's time is the time it becomes current, with the
build (tens of milliseconds) no longer between the two. A replay or a live feed (which answers
with what it has at the clock's now) and a fixed clock tick as they come due, built then.

A quiet market (a replay between snapshots or past its end, a live feed whose data has not
changed) is re-announced: after ``republish_after`` wall seconds without a tick, the latest
snapshot of every product is published again under a new sequence, with the same market
time and no new underlying volume, so that readers see a running engine (health counts
ticks) and a reader that joined late receives every product.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numba

from ..core.feed import BusStatus, EngineLife, EngineStatus, LatestSnapshots
from ..core.protocols import MarketProvider
from ..core.snapshot import SIMULATOR_SOURCE, ChainSnapshot
from ..core.threads import real_event, real_thread
from ..market.clock import ForeseeableClock, MarketClock, RealClock
from ..market.simulator import ProductSpec, SimulatedMarket
from .chains import ContractTerms, build_snapshots

log = logging.getLogger(__name__)


@runtime_checkable
class Scheduled(Protocol):
    """A provider whose snapshots fall due at known market times."""

    def next_due(self) -> datetime | None:
        """The market time (UTC) of the next snapshot not yet handed out; None when there
        is none (the provider is exhausted) or it is not known yet."""
        ...


@runtime_checkable
class Closable(Protocol):
    """A provider holding resources (threads, connections) to release."""

    def close(self) -> None:
        """Release them; the provider is not asked again."""
        ...


class SimulatorProvider:
    """The simulated market (:class:`~deltastream.market.simulator.SimulatedMarket`), priced
    by :func:`~deltastream.engine.chains.build_snapshots`: every product in session at every
    tick (around the clock: every product), a closed one once at its close."""

    source = SIMULATOR_SOURCE

    def __init__(self, specs: list[ProductSpec], terms: dict[str, ContractTerms],
                 seed: int) -> None:
        self.market = SimulatedMarket(specs, seed)
        self.terms = terms
        self.symbols = [s.symbol for s in specs]

    def snapshots(self, now: datetime, sequence: int) -> dict[str, ChainSnapshot]:
        """The snapshots of the products quoted at ``now``, with their market status. A
        closed product already quoted at its close is left out (its last snapshot stands
        and is not priced again), so a market closed everywhere publishes nothing."""
        quotes = self.market.advance(now)
        standing = self.market.standing
        items = [(self.terms[s], q) for s, q in quotes.items() if s not in standing]
        if not items:
            return {}
        built = build_snapshots(items, sequence)
        products = self.market.products
        return {s: dataclasses.replace(snap, market_status=products[s].status,
                                       market_status_until=products[s].status_until)
                for s, snap in built.items()}

    def describe(self) -> str:
        return f"the simulated market ({len(self.symbols)} products)"


@dataclasses.dataclass(frozen=True)
class PreparedTick:
    """A tick built and not yet published: its sequence, market time, the snapshots the
    provider made (empty: nothing new) and the build's wall seconds."""

    sequence: int
    market_time: datetime
    snapshots: dict[str, ChainSnapshot]
    build_seconds: float


class Engine(LatestSnapshots):
    """Publishes, tick by tick, the snapshots its market provider makes.

    Built either on the simulated market (``specs``, ``terms`` and ``seed``: what a
    :class:`SimulatorProvider` takes) or on any ``provider``. ``clock_speed``: market
    seconds per wall second of ``clock`` (to wait for a :class:`Scheduled` provider);
    ``republish_after``: wall seconds of quiet before the latest snapshots are published
    again (None: never; a simulator trading around the clock is never quiet, one in
    exchange hours is while every exchange is closed)."""

    def __init__(self, specs: list[ProductSpec] | None = None,
                 terms: dict[str, ContractTerms] | None = None, seed: int = 0,
                 clock: MarketClock | None = None, tick_interval: float = 1.0,
                 history: int = 100_000, compute_threads: int = 1, *,
                 provider: MarketProvider | None = None, clock_speed: float = 1.0,
                 republish_after: float | None = None) -> None:
        if provider is None:
            if specs is None or terms is None:
                raise ValueError("an engine needs either a provider or the simulated "
                                 "market's specs and terms")
            provider = SimulatorProvider(specs, terms, seed)
        elif specs is not None or terms is not None:
            raise ValueError("give an engine a provider or specs and terms, not both")
        if not clock_speed > 0:
            raise ValueError(f"clock_speed must be > 0, got {clock_speed}")
        if republish_after is not None and not republish_after > 0:
            raise ValueError(f"republish_after must be > 0 seconds, got {republish_after}")
        super().__init__(list(provider.symbols), history, tick_interval)
        self.provider = provider
        self.clock: MarketClock = clock or RealClock()
        self.clock_speed = clock_speed
        self.republish_after = republish_after
        self.compute_threads = compute_threads
        self._sequence = 0
        self.build_seconds = 0.0        # wall seconds of the last build
        self._last_published = time.monotonic()
        self._thread: Any = None
        self._stop = real_event()

    @property
    def source(self) -> str:
        """The name the provider's snapshots are stored and served under."""
        return self.provider.source

    @property
    def simulator(self) -> SimulatorProvider | None:
        """The simulated market's provider, None when the engine runs on another one."""
        return self.provider if isinstance(self.provider, SimulatorProvider) else None

    def _simulated(self) -> SimulatorProvider:
        # AttributeError, as for an attribute the engine lacks: hasattr(engine, "market")
        # is False on another market.
        if self.simulator is None:
            raise AttributeError(f"the engine runs on {self.provider.describe()}, not on the "
                                 "simulated market")
        return self.simulator

    @property
    def market(self) -> SimulatedMarket:
        """The simulated market (its checkpoints are stored and resumed)."""
        return self._simulated().market

    @property
    def terms(self) -> dict[str, ContractTerms]:
        """The simulated products' contract terms."""
        return self._simulated().terms

    @property
    def sequence(self) -> int:
        """The sequence of the last tick published (0 before the first)."""
        return self._sequence

    def resume_sequence(self, last: int) -> None:
        """Continue numbering after ``last`` (a sequence another engine already published)."""
        self._sequence = max(self._sequence, last)

    def tick(self) -> dict[str, ChainSnapshot]:
        """Ask the provider for the market at the clock's now and publish what it made as
        one tick (or, after ``republish_after`` seconds of quiet, the latest snapshots
        again); returns what was published (empty: nothing new)."""
        return self.commit(self.prepare())

    def prepare(self, at: datetime | None = None) -> PreparedTick:
        """Build the next tick, of market time ``at`` (default: the clock's now), without
        publishing it; :meth:`commit` publishes it. Nothing else may tick in between."""
        market_time = self.clock.now() if at is None else at
        sequence = self._sequence + 1
        started = time.monotonic()
        try:
            snapshots = self.provider.snapshots(market_time, sequence)
        finally:
            self.build_seconds = time.monotonic() - started
        return PreparedTick(sequence, market_time, snapshots, self.build_seconds)

    def commit(self, prepared: PreparedTick) -> dict[str, ChainSnapshot]:
        """Publish a tick :meth:`prepare` built (or, when it holds nothing new and the
        market has been quiet for ``republish_after`` seconds, the latest snapshots again);
        returns what was published (empty: nothing)."""
        if prepared.sequence != self._sequence + 1:
            raise ValueError(f"tick {prepared.sequence} was built for another sequence "
                             f"(the next is {self._sequence + 1})")
        started = time.monotonic()
        published = prepared.snapshots
        if not published and self._quiet(started):
            published = self._again(prepared.sequence)
        if published:
            self._sequence = prepared.sequence
            self._last_published = started
            self.publish(published, prepared.build_seconds + time.monotonic() - started)
        return published

    def foresee(self, wall: float) -> datetime | None:
        """The market time of the tick due at the monotonic instant ``wall`` when it can be
        built ahead (the simulated market on a clock that runs by itself); None when the
        tick must be built when it falls due (a replay or a feed answers with what it has at
        the clock's now; a fixed clock moves only when told). A tick already due is the
        clock's now."""
        if self.simulator is None or not isinstance(self.clock, ForeseeableClock):
            return None
        return self.clock.later(max(0.0, wall - time.monotonic()))

    def wait_for(self, market_time: datetime, stop: Any) -> bool:
        """Wait until the clock reaches ``market_time`` (True), or ``stop`` (an event) is set
        first (False)."""
        clock = self.clock
        if not isinstance(clock, ForeseeableClock):
            return not stop.is_set()
        while (left := clock.wall_until(market_time)) > 0:
            if stop.wait(left):
                return False
        return not stop.is_set()

    def _quiet(self, now: float) -> bool:
        return (self.republish_after is not None
                and now - self._last_published >= self.republish_after)

    def _again(self, sequence: int) -> dict[str, ChainSnapshot]:
        """The latest snapshots renumbered: the same market, no new underlying volume."""
        return {product: dataclasses.replace(snap, sequence=sequence, tick_volume=0.0)
                for product in self.symbols if (snap := self.latest(product)) is not None}

    def due_in(self) -> float | None:
        """Wall seconds until a :class:`Scheduled` provider's next snapshot falls due (0:
        due now); None when the provider has no schedule or nothing more to hand out."""
        if not isinstance(self.provider, Scheduled):
            return None
        due = self.provider.next_due()
        if due is None:
            return None
        return max(0.0, (due - self.clock.now()).total_seconds() / self.clock_speed)

    def close_provider(self) -> None:
        """Release what the provider holds (a :class:`Closable` one; else nothing)."""
        if isinstance(self.provider, Closable):
            self.provider.close()

    def status(self) -> EngineStatus:
        return self._status(self._thread is not None and self._thread.is_alive())

    def bus_status(self) -> BusStatus | None:
        return None

    def describe(self) -> str:
        return f"engine in this process on {self.provider.describe()}"

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
        self.close_provider()

    def _run(self) -> None:
        # Numeric kernels on this thread use at most ``compute_threads`` cores, leaving the
        # others to the request handlers.
        numba.set_num_threads(max(1, min(self.compute_threads, numba.config.NUMBA_NUM_THREADS)))
        pacer = Pacer(self)
        while not self._stop.is_set():
            try:
                pacer.tick(self._stop)
                self._last_error = None
            except Exception as exc:  # the loop must survive a bad tick; health reports it
                log.exception("engine tick failed")
                self._last_error = f"{type(exc).__name__}: {exc}"


class Pacer:
    """When an engine loop ticks next: every ``tick_interval`` seconds (a loop running
    behind skips the missed ticks rather than bursting to catch up), or sooner when the
    provider's next snapshot falls due before then (at once while some are due).
    :meth:`tick` waits for that moment and ticks, built ahead where the engine can."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.next_at = time.monotonic()     # when the next tick falls due (monotonic)

    def tick(self, stop: Any, built: Callable[[PreparedTick], object] | None = None
             ) -> dict[str, ChainSnapshot] | None:
        """Publish the next tick when it falls due: built beforehand, for the market time
        of that moment, where the engine can foresee it (:meth:`Engine.foresee`), else
        built then. ``built`` is called with the tick once built, before the wait for its
        time (what it does there, e.g. encoding the tick for the bus, is not in the
        latency). Returns what was published; None when ``stop`` (an event) was set while
        waiting (a tick built ahead is then dropped unpublished). The next tick falls due
        from this one, also when building it failed (the error propagates)."""
        engine = self.engine
        try:
            market_time = engine.foresee(self.next_at)
            if market_time is not None:
                prepared = engine.prepare(market_time)
                if built is not None:
                    built(prepared)
                if not engine.wait_for(market_time, stop):
                    return None
            else:
                if stop.wait(max(0.0, self.next_at - time.monotonic())):
                    return None
                prepared = engine.prepare()
                if built is not None:
                    built(prepared)
            return engine.commit(prepared)
        finally:
            self.delay()

    def delay(self) -> float:
        """Move on to the next tick after one; the seconds until it falls due."""
        now = time.monotonic()
        self.next_at += self.engine.tick_interval
        if self.next_at < now:
            self.next_at = now
        due = self.engine.due_in()
        if due is not None and now + due < self.next_at:
            # The regular rhythm resumes from this early tick.
            self.next_at = now + due
        return self.next_at - now
