"""The simulated market in exchange hours: it trades only in sessions, stands still outside
them, rolls at the open and gaps once overnight. Clocks are pinned (UTC), stepping through
days; the reference for what is open is :mod:`deltastream.calendars.sessions`."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import numpy as np
import pytest

from deltastream.calendars import sessions_for
from deltastream.catalog import load_catalog
from deltastream.core.types import MarketStatus, TradingHours
from deltastream.engine.setup import product_spec
from deltastream.market.book import ProductQuotes
from deltastream.market.simulator import SimulatedMarket

CATALOG = load_catalog()
STEP = timedelta(minutes=15)   # NSE (03:45 UTC) and US (14:30 UTC in winter) opens on the grid


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@dataclass
class Tick:
    now: datetime
    quotes: ProductQuotes
    status: MarketStatus
    until: datetime | None


def run(symbol: str, start: datetime, end: datetime, seed: int = 3,
        step: timedelta = STEP) -> list[Tick]:
    market = SimulatedMarket([product_spec(CATALOG[symbol], 8, hours=TradingHours.EXCHANGE)],
                             seed)
    product = market.products[symbol]
    out, now = [], start
    while now <= end:
        q = market.advance(now)[symbol]
        out.append(Tick(now, q, product.status, product.status_until))
        now += step
    return out


# Monday 2026-11-23 to Tuesday 2026-12-01: six NSE sessions, five US ones including the
# Thanksgiving holiday (11-26) and its early close (11-27, 13:00 ET).
WEEK = (utc(2026, 11, 23, 0, 0), utc(2026, 12, 1, 23, 45))


@pytest.fixture(scope="module", params=CATALOG.symbols)
def week(request: pytest.FixtureRequest) -> tuple[str, list[Tick]]:
    return request.param, run(request.param, *WEEK)


def test_trades_only_in_sessions(week: tuple[str, list[Tick]]) -> None:
    symbol, ticks = week
    sessions = sessions_for(CATALOG[symbol])
    traded_sessions = set()
    for before, after in pairwise(ticks):
        open_between = sessions.between(before.now, after.now)
        grew = float(after.quotes.volume.sum()) > float(before.quotes.volume.sum())
        if after.quotes.session_volume > before.quotes.session_volume:
            assert open_between, after.now
        if not open_between:
            # Closed throughout: the same quotes, the same spot, nothing traded.
            assert not grew and after.quotes.tick_volume == 0.0, after.now
            assert after.quotes.spot == before.quotes.spot
            np.testing.assert_array_equal(after.quotes.mid, before.quotes.mid)
            np.testing.assert_array_equal(after.quotes.bid, before.quotes.bid)
            assert after.status == MarketStatus.CLOSED
        elif grew:
            traded_sessions.add(open_between[-1].day)
    assert len(traded_sessions) >= 5, traded_sessions


def test_status_and_until_follow_the_sessions(week: tuple[str, list[Tick]]) -> None:
    symbol, ticks = week
    sessions = sessions_for(CATALOG[symbol])
    for tick in ticks:
        assert (tick.status, tick.until) == sessions.status(tick.now)
        current = sessions.current(tick.now)
        # Open: the clock's time; closed: quoted as of the last close.
        expected = tick.now if current else sessions.previous_close(tick.now).close
        assert tick.quotes.timestamp == expected


def test_sessions_roll_at_the_open_not_at_midnight(week: tuple[str, list[Tick]]) -> None:
    symbol, ticks = week
    sessions = sessions_for(CATALOG[symbol])
    rolls = 0
    for before, after in pairwise(ticks):
        opened = [s for s in sessions.between(before.now, after.now) if s.open > before.now]
        q, prev = after.quotes, before.quotes
        if opened:
            rolls += 1
            # The close the new session measures against is the last quote's state.
            if q.strikes.shape == prev.strikes.shape and q.expiries == prev.expiries:
                np.testing.assert_array_equal(q.prev_close_oi, prev.open_interest)
                np.testing.assert_array_equal(q.prev_close_last, prev.last)
            # An open exactly on the tick: nothing traded yet this session.
            assert after.now != opened[-1].open or float(q.volume.sum()) == 0.0
        elif sessions.between(before.now, after.now):
            # Within a session (midnight UTC or local included): volume only accumulates.
            # (A book relisted around a moved spot has other strikes in the same columns.)
            if q.expiries == prev.expiries and np.array_equal(q.strikes, prev.strikes):
                assert np.all(q.volume >= prev.volume)
            assert q.session_volume >= prev.session_volume
    assert rolls >= 5


def test_spot_moves_once_at_the_open(week: tuple[str, list[Tick]]) -> None:
    symbol, ticks = week
    sessions = sessions_for(CATALOG[symbol])
    gaps = 0
    for before, after in pairwise(ticks):
        if sessions.between(before.now, after.now) == [] or after.status != MarketStatus.OPEN:
            continue
        if after.now == sessions.current(after.now).open:  # type: ignore[union-attr]
            # The open's tick: only the gap moved the spot, nothing traded.
            assert after.quotes.spot != before.quotes.spot
            assert after.quotes.tick_volume == 0.0
            gaps += 1
    assert gaps >= 5


def test_early_close_on_the_day_after_thanksgiving() -> None:
    ticks = {t.now: t for t in run("AAPL", utc(2026, 11, 27, 14, 0), utc(2026, 11, 30, 15, 0),
                                   step=timedelta(minutes=30))}
    before, at_close = ticks[utc(2026, 11, 27, 17, 30)], ticks[utc(2026, 11, 27, 18, 0)]
    assert before.status == MarketStatus.OPEN and before.until == utc(2026, 11, 27, 18, 0)
    assert (at_close.status, at_close.until) == (MarketStatus.CLOSED, utc(2026, 11, 30, 14, 30))
    monday_open = ticks[utc(2026, 11, 30, 14, 30)]
    for now, tick in ticks.items():
        if at_close.now <= now < monday_open.now:
            assert tick.quotes.session_volume == at_close.quotes.session_volume
            assert tick.quotes.spot == at_close.quotes.spot
            assert tick.quotes.timestamp == utc(2026, 11, 27, 18, 0)


@pytest.mark.parametrize(("symbol", "holiday"), [("SPY", date(2026, 12, 25)),
                                                 ("NIFTY", date(2027, 1, 26))])
def test_holidays_do_not_trade(symbol: str, holiday: date) -> None:
    start = datetime.combine(holiday - timedelta(days=1), datetime.min.time(), UTC)
    ticks = run(symbol, start, start + timedelta(days=5), step=timedelta(hours=1))
    sessions = sessions_for(CATALOG[symbol])
    local = [t for t in ticks if sessions.local_date(t.now) == holiday]
    assert len(local) >= 23
    first = local[0].quotes
    for t in local:
        assert t.status == MarketStatus.CLOSED
        assert t.quotes.timestamp == first.timestamp
        assert t.quotes.spot == first.spot and t.quotes.session_volume == first.session_volume
    # The market reopens the next trading day and trades again.
    assert any(t.status == MarketStatus.OPEN and t.quotes.tick_volume > 0 for t in ticks
               if sessions.local_date(t.now) > holiday)


def test_first_start_on_a_saturday_quotes_a_full_market_at_fridays_close() -> None:
    saturday = utc(2026, 12, 5, 9, 0)
    for symbol in ("NIFTY", "AAPL"):
        market = SimulatedMarket([product_spec(CATALOG[symbol], 8,
                                               hours=TradingHours.EXCHANGE)], 1)
        q = market.advance(saturday)[symbol]
        close = sessions_for(CATALOG[symbol]).previous_close(saturday).close
        assert q.timestamp == close and close.date() == date(2026, 12, 4)
        assert len(q.expiries) > 0 and np.all(np.isfinite(q.mid))
        assert np.all(q.open_interest > 0) and float(q.volume.sum()) == 0.0
        assert symbol not in market.standing
        # Then it stands: the same quotes, nothing quoted again.
        again = market.advance(saturday + timedelta(hours=20))[symbol]
        assert symbol in market.standing
        assert again.mid is q.mid and again.timestamp == close


def _gap_draws(overnight_gap: float, seeds: range) -> tuple[np.ndarray, np.ndarray]:
    """Log-returns from Friday's close to Monday's open of fresh NIFTY markets, and the
    standard deviation each should have."""
    spec = product_spec(replace(CATALOG["NIFTY"], overnight_gap=overnight_gap), 5,
                        hours=TradingHours.EXCHANGE)
    friday_close, monday_open = utc(2026, 12, 4, 10, 0), utc(2026, 12, 7, 3, 45)
    years = (monday_open - friday_close).total_seconds() / (365 * 86400)
    log_returns, sigmas = [], []
    for seed in seeds:
        market = SimulatedMarket([spec], seed)
        close = market.advance(utc(2026, 12, 5, 0, 0))["NIFTY"]
        opened = market.advance(monday_open)["NIFTY"]
        variance = overnight_gap * close.variance * years
        drift = (spec.spot_model.drift * years - 0.5 * variance)
        log_returns.append(math.log(opened.spot / close.spot) - drift)
        sigmas.append(math.sqrt(variance))
    return np.array(log_returns), np.array(sigmas)


def test_overnight_gap_has_the_closed_times_share_of_variance() -> None:
    moves, sigmas = _gap_draws(1.0, range(300))
    z = moves / sigmas
    # 300 standard normal draws: mean within ~4 standard errors, sd within ~15 %.
    assert abs(z.mean()) < 4 / math.sqrt(300)
    assert 0.85 < z.std() < 1.15
    # A quarter of the variance: half the size, the same draws.
    quarter, quarter_sigmas = _gap_draws(0.25, range(300))
    np.testing.assert_allclose(quarter_sigmas, 0.5 * sigmas, rtol=1e-12)
    np.testing.assert_allclose(quarter / quarter_sigmas, z, rtol=1e-9, atol=1e-9)


def test_overnight_gap_zero_opens_at_the_close() -> None:
    moves, _ = _gap_draws(0.0, range(3))
    np.testing.assert_allclose(moves, 0.0, atol=1e-15)


def test_always_trades_around_the_clock_and_rolls_at_local_midnight() -> None:
    spec = product_spec(CATALOG["NIFTY"], 8)   # the spec's default: around the clock
    assert spec.sessions is None
    market = SimulatedMarket([spec], 3)
    product = market.products["NIFTY"]
    # Saturday 05:10 IST and on: it trades, its status is open without a close.
    saturday = utc(2026, 12, 4, 23, 40)
    first = market.advance(saturday)["NIFTY"]
    later = market.advance(saturday + timedelta(minutes=5))["NIFTY"]
    assert later.tick_volume > 0 and later.spot != first.spot
    assert (product.status, product.status_until) == (MarketStatus.OPEN, None)
    # Local midnight (18:30 UTC): a new session.
    day = product.session_day
    market.advance(utc(2026, 12, 5, 18, 31))
    assert product.session_day == day + timedelta(days=1)  # type: ignore[operator]
    assert market.products["NIFTY"].book.volume.sum() < later.volume.sum()
