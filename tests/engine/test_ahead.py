"""The simulated market's ticks are built ahead and published when their market time comes:
never before it, the snapshot's time the time it becomes current, the same market as when
built at that time; a replay, a feed or a fixed clock tick as they come due."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from datetime import datetime, timedelta

import numpy as np
import pytest

from deltastream.core.snapshot import ChainSnapshot
from deltastream.engine.runner import Engine, Pacer, PreparedTick
from deltastream.market.clock import (
    AcceleratedClock,
    FixedClock,
    ForeseeableClock,
    RealClock,
)
from tests.support.specs import EUROPEAN, START, spec, terms

AMERICAN = spec("SEC", 180.0, 2.5, 0.01, True)
SPECS = [EUROPEAN, AMERICAN]
TERMS = {s.symbol: terms(s) for s in SPECS}


class SteppedClock:
    """A foreseeable clock that moves only while the engine waits (see :class:`Waits`)."""

    def __init__(self, start: datetime) -> None:
        self.time = start

    def now(self) -> datetime:
        return self.time

    def later(self, seconds: float) -> datetime:
        return self.time + timedelta(seconds=seconds)

    def wall_until(self, when: datetime) -> float:
        return (when - self.time).total_seconds()


class Waits:
    """A stop event whose waits move a :class:`SteppedClock` instead of sleeping, and are
    kept (seconds) in order."""

    def __init__(self, clock: SteppedClock) -> None:
        self.clock = clock
        self.waited: list[float] = []
        self.stopped = False

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, seconds: float) -> bool:
        self.waited.append(seconds)
        self.clock.time += timedelta(seconds=seconds)
        return self.stopped


def watched(engine: Engine, clock: SteppedClock) -> tuple[list[datetime], list[tuple]]:
    """The clock's time at each build of ``engine``, and (product, sequence, snapshot time,
    clock time) at each publication."""
    builds: list[datetime] = []
    published: list[tuple] = []
    make = engine.provider.snapshots

    def snapshots(now: datetime, sequence: int) -> dict[str, ChainSnapshot]:
        builds.append(clock.now())
        return make(now, sequence)

    engine.provider.snapshots = snapshots  # type: ignore[method-assign]
    engine.subscribe(lambda s: published.append((s.product, s.sequence, s.timestamp,
                                                 clock.now())))
    return builds, published


def test_the_real_and_accelerated_clocks_foresee_and_a_fixed_one_does_not():
    real = RealClock()
    assert isinstance(real, ForeseeableClock)
    ahead = real.later(2.0)
    assert abs((ahead - real.now()).total_seconds() - 2.0) < 0.05
    assert 1.9 < real.wall_until(ahead) <= 2.0
    fast = AcceleratedClock(START, 60.0)
    assert abs((fast.later(0.5) - fast.now()).total_seconds() - 30.0) < 0.5
    assert 0.49 < fast.wall_until(fast.now() + timedelta(seconds=30)) <= 0.5
    assert fast.wall_until(START) < 0
    assert not isinstance(FixedClock(START), ForeseeableClock)


def test_a_tick_is_built_before_its_market_time_and_published_when_the_clock_reaches_it():
    clock = SteppedClock(START)
    engine = Engine(SPECS, TERMS, seed=4, clock=clock, tick_interval=1.0, history=100)
    builds, published = watched(engine, clock)
    stop = Waits(clock)
    pacer = Pacer(engine)
    first = pacer.tick(stop)
    assert first is not None and first["IDX"].timestamp == START and engine.sequence == 1
    for n in range(2, 5):
        # Due a second from now (whatever the first tick's kernel loading took).
        pacer.next_at = time.monotonic() + 1.0
        got = pacer.tick(stop)
        assert got is not None and engine.sequence == n
        market_time = got["IDX"].timestamp
        # Built at once, while the clock was a second short of the tick's time, for the
        # time at which it fell due, and published once the clock came to it.
        assert stop.waited[-1] == pytest.approx(1.0, abs=0.05)
        assert builds[-1] + timedelta(seconds=stop.waited[-1]) == market_time
    assert [p[:2] for p in published] == [(s, n) for n in range(1, 5) for s in ("IDX", "SEC")]
    # Never before its market time, and the snapshot's time is the time it became current.
    assert all(at == clock_at for _, _, at, clock_at in published)
    times = [at for p, _, at, _ in published if p == "IDX"]
    # A second apart (of wall at 1x, less the real time a build took).
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == pytest.approx(
        [1.0] * 3, abs=0.3)


def test_a_tick_is_handed_over_once_built_before_the_wait_for_its_time():
    clock = SteppedClock(START)
    engine = Engine(SPECS, TERMS, seed=4, clock=clock, tick_interval=1.0, history=100)
    stop = Waits(clock)
    pacer = Pacer(engine)
    pacer.tick(stop)
    handed: list[tuple[PreparedTick, datetime, int]] = []
    pacer.next_at = time.monotonic() + 1.0
    got = pacer.tick(stop, lambda p: handed.append((p, clock.now(), len(stop.waited))))
    assert got is not None and len(handed) == 1
    prepared, at, waits = handed[0]
    # Before the clock came to the tick's time (the wait came after), the very snapshots
    # that were then published.
    assert at < prepared.market_time and waits == len(stop.waited) - 1
    assert prepared.snapshots is got and prepared.sequence == engine.sequence == 2
    assert prepared.build_seconds == engine.build_seconds > 0


def test_ticks_built_ahead_are_the_market_built_at_their_time():
    clock = SteppedClock(START)
    ahead = Engine(SPECS, TERMS, seed=8, clock=clock, tick_interval=1.0, history=100)
    stop = Waits(clock)
    pacer = Pacer(ahead)
    made = [pacer.tick(stop) for _ in range(4)]
    fixed = FixedClock(START)
    when_due = Engine(SPECS, TERMS, seed=8, clock=fixed, tick_interval=1.0, history=100)
    for tick in made:
        assert tick is not None
        fixed.set(tick["IDX"].timestamp)
        again = when_due.tick()
        for product, snap in tick.items():
            other = again[product]
            assert (snap.sequence, snap.timestamp, snap.spot) == (
                other.sequence, other.timestamp, other.spot)
            for mine, theirs in zip(snap.contracts.fields, other.contracts.fields,
                                    strict=True):
                np.testing.assert_array_equal(mine, theirs)


def test_a_stop_while_waiting_publishes_nothing():
    clock = SteppedClock(START)
    engine = Engine(SPECS, TERMS, seed=4, clock=clock, tick_interval=1.0, history=100)
    _, published = watched(engine, clock)
    stop = Waits(clock)
    pacer = Pacer(engine)
    pacer.tick(stop)
    stop.stopped = True
    assert pacer.tick(stop) is None
    assert engine.sequence == 1 and len(published) == 2


def test_a_tick_built_for_another_sequence_is_refused():
    engine = Engine(SPECS, TERMS, seed=4, clock=FixedClock(START), history=100)
    prepared = engine.prepare()
    engine.resume_sequence(7)
    with pytest.raises(ValueError, match="tick 1 was built for another sequence"):
        engine.commit(prepared)
    assert engine.sequence == 7 and engine.latest("IDX") is None
    assert isinstance(engine.prepare(), PreparedTick)


def test_a_fixed_clock_ticks_when_due_built_then():
    clock = FixedClock(START)
    engine = Engine(SPECS, TERMS, seed=4, clock=clock, tick_interval=0.05, history=100)
    assert engine.foresee(time.monotonic() + 1.0) is None
    pacer = Pacer(engine)
    stop = threading.Event()
    assert pacer.tick(stop) is not None
    clock.advance(30.0)
    began = time.monotonic()
    got = pacer.tick(stop)
    # Waited for the tick interval, then built at the clock's now.
    assert got is not None and got["IDX"].timestamp == START + timedelta(seconds=30)
    assert time.monotonic() - began >= 0.04


def test_the_engine_thread_publishes_each_tick_at_its_market_time():
    # A pinned start running at wall speed: every snapshot is published at or after its
    # market time, within milliseconds (the build no longer comes in between).
    clock = AcceleratedClock(START, 1.0)
    engine = Engine(SPECS, TERMS, seed=4, clock=clock, tick_interval=0.1, history=1000)
    lateness: list[float] = []
    done = threading.Event()

    def listen(snap: ChainSnapshot) -> None:
        if snap.product == "IDX":
            lateness.append((clock.now() - snap.timestamp).total_seconds())
            if len(lateness) == 20:
                done.set()

    engine.subscribe(listen)
    engine.start()
    try:
        assert done.wait(30.0)
    finally:
        engine.stop()
    later = lateness[1:]        # the first tick is built at once (its kernels load then)
    assert min(later) >= 0.0
    assert statistics.median(later) < 0.02, later
