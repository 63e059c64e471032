"""The engine on a market in exchange hours: a closed product is priced once at its close
and then not again, a market closed everywhere publishes nothing (sequence numbers only on
publishing ticks) apart from the quiet re-announcement, and every snapshot says whether its
exchange is open and until when. Clocks are pinned (UTC)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from deltastream.catalog import load_catalog
from deltastream.catalog.loader import Catalog
from deltastream.core.types import MarketStatus
from deltastream.engine import runner
from deltastream.engine.setup import build_engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings

SATURDAY = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
NIFTY_FRIDAY_CLOSE = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
SPY_FRIDAY_CLOSE = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
NIFTY_MONDAY_OPEN = datetime(2026, 12, 7, 3, 45, tzinfo=UTC)
SPY_MONDAY_OPEN = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The products each call of the engine's pricing step was given."""
    calls: list[list[str]] = []
    build = runner.build_snapshots

    def counting(items, sequence):
        calls.append([quotes.symbol for _, quotes in items])
        return build(items, sequence)

    monkeypatch.setattr(runner, "build_snapshots", counting)
    return calls


def two_products() -> Catalog:
    return Catalog([p for p in load_catalog() if p.symbol in ("NIFTY", "SPY")])


def engine_at(start: datetime, hours: str = "exchange"):
    return build_engine(two_products(), Settings(seed=9, strikes_each_side=5, hours=hours),
                        FixedClock(start))


def test_a_weekend_is_priced_once_then_publishes_nothing(solved):
    engine = engine_at(SATURDAY)
    first = engine.tick()
    assert solved == [["NIFTY", "SPY"]] and engine.sequence == 1
    assert {s: (x.market_status, x.market_status_until, x.timestamp)
            for s, x in first.items()} == {
        "NIFTY": (MarketStatus.CLOSED, NIFTY_MONDAY_OPEN, NIFTY_FRIDAY_CLOSE),
        "SPY": (MarketStatus.CLOSED, SPY_MONDAY_OPEN, SPY_FRIDAY_CLOSE)}
    assert all(len(x.expiry_dates) > 0 for x in first.values())
    started = time.perf_counter()
    for _ in range(40):          # the rest of the weekend, an hour a tick
        engine.clock.advance(3600.0)
        assert engine.tick() == {}
    quiet_seconds = (time.perf_counter() - started) / 40
    assert solved == [["NIFTY", "SPY"]] and engine.sequence == 1
    # A closed tick prices nothing: far below a priced tick of even these small chains.
    assert quiet_seconds < 0.01
    assert engine.latest("NIFTY") is first["NIFTY"]


def test_a_closed_market_is_reannounced_when_quiet(solved):
    engine = engine_at(SATURDAY)
    first = engine.tick()
    assert engine.republish_after == Settings().stall_after / 2
    engine.republish_after = 0.01
    time.sleep(0.02)
    engine.clock.advance(60.0)
    again = engine.tick()
    assert engine.sequence == 2 and len(solved) == 1
    for symbol, snap in again.items():
        assert snap.sequence == 2 and snap.tick_volume == 0.0
        assert snap.timestamp == first[symbol].timestamp
        assert snap.market_status == MarketStatus.CLOSED
        assert snap.market_status_until == first[symbol].market_status_until


def test_only_products_in_session_are_priced(solved):
    engine = engine_at(SATURDAY)
    engine.tick()
    engine.clock.set(NIFTY_MONDAY_OPEN + timedelta(minutes=1))
    monday = engine.tick()
    assert solved[-1] == ["NIFTY"] and set(monday) == {"NIFTY"}
    nifty = monday["NIFTY"]
    assert (nifty.market_status, nifty.market_status_until) == (
        MarketStatus.OPEN, datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    assert nifty.timestamp == engine.clock.now() and nifty.tick_volume > 0
    # SPY stands on Friday's close, as published.
    assert engine.latest("SPY").timestamp == SPY_FRIDAY_CLOSE
    # Both open (none: India has closed by the US open), then India's close priced once.
    engine.clock.set(SPY_MONDAY_OPEN + timedelta(minutes=1))
    later = engine.tick()
    assert set(later) == {"NIFTY", "SPY"}
    assert later["NIFTY"].market_status == MarketStatus.CLOSED
    assert later["NIFTY"].timestamp == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    engine.clock.advance(60.0)
    assert set(engine.tick()) == {"SPY"}


def test_always_prices_every_product_every_tick(solved):
    engine = engine_at(SATURDAY, hours="always")
    assert engine.republish_after is None
    for _ in range(3):
        snaps = engine.tick()
        engine.clock.advance(60.0)
        assert set(snaps) == {"NIFTY", "SPY"}
        assert all(s.market_status == MarketStatus.OPEN and s.market_status_until is None
                   for s in snaps.values())
    assert solved == [["NIFTY", "SPY"]] * 3 and engine.sequence == 3
