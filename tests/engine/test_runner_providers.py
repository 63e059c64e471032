"""The engine ticks a market provider: the simulator as before, or a provider that answers
only with what changed (a replay, a live feed), on its schedule, back to back when several
snapshots are due, re-announcing a quiet market."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime

import pytest

from deltastream.core.snapshot import SIMULATOR_SOURCE, ChainSnapshot
from deltastream.engine.runner import Engine, Pacer, Scheduled, SimulatorProvider
from deltastream.market.clock import AcceleratedClock, FixedClock
from tests.support.specs import EUROPEAN, START, terms
from tests.support.store import tape_day


@pytest.fixture(scope="module")
def recorded() -> list[dict[str, ChainSnapshot]]:
    """Five snapshots of a simulated two-product market, five minutes apart, as another source
    stored them (what a replay or a feed hands the engine)."""
    return tape_day(5, seed=3)


class Tape:
    """A scheduled provider handing out ``steps`` (one dict of snapshots per market time)
    as they fall due, one step per call."""

    source = "tape"

    def __init__(self, steps: list[dict[str, ChainSnapshot]]) -> None:
        self.steps = list(steps)
        self.symbols = sorted({p for step in steps for p in step})
        self.asked: list[tuple[datetime, int]] = []
        self.closed = False

    def _time(self, step: dict[str, ChainSnapshot]) -> datetime:
        return next(iter(step.values())).timestamp

    def next_due(self) -> datetime | None:
        return self._time(self.steps[0]) if self.steps else None

    def snapshots(self, now: datetime, sequence: int) -> dict[str, ChainSnapshot]:
        self.asked.append((now, sequence))
        if not self.steps or self._time(self.steps[0]) > now:
            return {}
        return {p: dataclasses.replace(s, sequence=sequence)
                for p, s in self.steps.pop(0).items()}

    def describe(self) -> str:
        return "a tape"

    def close(self) -> None:
        self.closed = True


def test_the_simulator_is_the_default_provider_and_its_market_stays_reachable():
    clock = FixedClock(START)
    engine = Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=5, clock=clock,
                    tick_interval=1.0, history=10)
    assert isinstance(engine.provider, SimulatorProvider)
    assert engine.simulator is engine.provider and engine.source == SIMULATOR_SOURCE
    assert engine.market is engine.provider.market and set(engine.terms) == {"IDX"}
    assert not isinstance(engine.provider, Scheduled) and engine.due_in() is None
    first = engine.tick()
    clock.advance(1.0)
    second = engine.tick()
    # Every product at every tick, numbered one by one, as before providers existed.
    assert (first["IDX"].sequence, second["IDX"].sequence, engine.sequence) == (1, 2, 2)
    assert first["IDX"].source == SIMULATOR_SOURCE
    assert engine.market.products["IDX"].state.spot == second["IDX"].spot


def test_the_same_seed_gives_the_same_market_through_the_provider_as_directly():
    clock_a, clock_b = FixedClock(START), FixedClock(START)
    a = Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=9, clock=clock_a, history=10)
    b = Engine(provider=SimulatorProvider([EUROPEAN], {"IDX": terms(EUROPEAN)}, 9),
               clock=clock_b, history=10)
    for _ in range(3):
        x, y = a.tick()["IDX"], b.tick()["IDX"]
        assert (x.sequence, x.spot, x.contracts.fields[2].tolist()) == (
            y.sequence, y.spot, y.contracts.fields[2].tolist())
        clock_a.advance(60.0)
        clock_b.advance(60.0)


def test_an_engine_on_another_provider_says_it_has_no_simulated_market(recorded):
    engine = Engine(provider=Tape(recorded), clock=FixedClock(START))
    assert engine.simulator is None and engine.source == "tape"
    assert engine.symbols == ["IDX", "SEC"]
    with pytest.raises(AttributeError, match="runs on a tape, not on the simulated market"):
        _ = engine.market
    with pytest.raises(ValueError, match="provider or specs and terms, not both"):
        Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, provider=Tape(recorded))
    with pytest.raises(ValueError, match="either a provider or"):
        Engine(clock=FixedClock(START))
    with pytest.raises(ValueError, match="clock_speed must be > 0"):
        Engine(provider=Tape(recorded), clock_speed=0)


def test_only_ticks_with_something_new_are_published_and_numbered(recorded):
    clock = FixedClock(START)
    tape = Tape(recorded)
    engine = Engine(provider=tape, clock=clock, tick_interval=1.0, history=100)
    seen: list[ChainSnapshot] = []
    engine.subscribe(seen.append)
    assert engine.tick().keys() == {"IDX", "SEC"} and engine.sequence == 1
    clock.advance(299.0)
    assert engine.tick() == {} and engine.sequence == 1      # nothing due: nothing published
    assert engine.status().ticks == 1
    clock.advance(1.0)
    published = engine.tick()
    assert engine.sequence == 2 and {s.sequence for s in published.values()} == {2}
    # The provider's market times are kept; the engine's numbers replace the stored ones.
    assert published["IDX"].timestamp == recorded[1]["IDX"].timestamp
    assert engine.latest("SEC") is published["SEC"]
    assert [(s.product, s.sequence) for s in seen] == [("IDX", 1), ("SEC", 1), ("IDX", 2),
                                                       ("SEC", 2)]
    # The underlying's ticks are the snapshots' own.
    ticks = engine.ticks.latest("IDX")
    assert ticks.ids.tolist() == [1, 2]
    assert ticks.prices.tolist() == [recorded[0]["IDX"].spot, recorded[1]["IDX"].spot]


def test_the_engine_wakes_up_when_the_next_snapshot_is_due_at_the_clock_speed(recorded):
    clock = FixedClock(START)
    engine = Engine(provider=Tape(recorded), clock=clock, tick_interval=10.0, history=100,
                    clock_speed=60.0)
    pacer = Pacer(engine)
    engine.tick()
    # The next snapshot is 300 market seconds away: 5 wall seconds at 60x, before the
    # 10-second tick interval.
    assert engine.due_in() == pytest.approx(5.0)
    assert pacer.delay() == pytest.approx(5.0, abs=0.05)
    clock.advance(1200.0)       # three more are due now: back to back
    assert engine.due_in() == 0.0 and pacer.delay() == pytest.approx(0.0, abs=0.05)
    steps = [engine.tick() for _ in range(3)]
    assert [s["IDX"].timestamp for s in steps] == [recorded[i]["IDX"].timestamp
                                                   for i in (1, 2, 3)]
    assert [s["IDX"].sequence for s in steps] == [2, 3, 4]
    clock.advance(300.0)
    engine.tick()
    # Exhausted: the regular rhythm, however long the provider stays silent.
    assert engine.due_in() is None
    assert pacer.delay() == pytest.approx(10.0, abs=0.05)


def test_a_quiet_market_is_published_again_with_the_same_market_and_no_new_volume(recorded):
    clock = FixedClock(START)
    engine = Engine(provider=Tape(recorded[:1]), clock=clock, history=100,
                    republish_after=0.2)
    first = engine.tick()
    assert engine.tick() == {}                  # quiet, not for long yet
    time.sleep(0.25)
    again = engine.tick()
    assert engine.sequence == 2 and again.keys() == {"IDX", "SEC"}
    for product, snap in again.items():
        assert snap.sequence == 2 and snap.timestamp == first[product].timestamp
        assert snap.spot == first[product].spot and snap.tick_volume == 0.0
        assert snap.contracts is first[product].contracts      # the same chain, renumbered
    assert engine.tick() == {}                  # and quiet again for another while
    assert engine.ticks.latest("IDX").volumes.tolist() == [first["IDX"].tick_volume, 0.0]


def test_without_republishing_a_quiet_market_publishes_nothing(recorded):
    engine = Engine(provider=Tape(recorded[:1]), clock=FixedClock(START), history=100)
    engine.tick()
    time.sleep(0.05)
    assert engine.tick() == {} and engine.sequence == 1


def test_the_engine_thread_publishes_every_due_snapshot_in_order_and_closes_the_provider(
        recorded):
    # 300 market seconds between snapshots at 3000x: one every 0.1 s, against a tick
    # interval of 5 s that alone would publish none of them in time.
    tape = Tape(recorded)
    start = recorded[0]["IDX"].timestamp
    engine = Engine(provider=tape, clock=AcceleratedClock(start, 3000.0), tick_interval=5.0,
                    history=100, clock_speed=3000.0)
    got: list[tuple[str, int, datetime]] = []
    done = threading.Event()

    def listen(snap: ChainSnapshot) -> None:
        got.append((snap.product, snap.sequence, snap.timestamp))
        if len(got) == 10:
            done.set()

    engine.subscribe(listen)
    began = time.monotonic()
    engine.start()
    try:
        assert done.wait(10.0), got
        took = time.monotonic() - began
    finally:
        engine.stop()
    assert tape.closed
    times = [recorded[i]["IDX"].timestamp for i in range(5)]
    assert [t for p, _, t in got if p == "IDX"] == times
    assert [s for p, s, _ in got if p == "SEC"] == [1, 2, 3, 4, 5]
    # Each snapshot arrived when its market time came (the last 0.4 s in), not at the
    # 5-second ticks (which would have taken 20 s).
    assert took < 3.0
