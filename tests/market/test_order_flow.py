"""Order flow calibrated per session: the default catalogue's market over six sessions of its
exchanges (Friday 2026-12-04 to Friday 2026-12-11), stepped every 15 minutes inside the
sessions only, against the real ranges documented in catalog/defaults.py (FLOW_RANGES); and
the flow plan and its tilt against closed forms."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from deltastream.analytics.buildup import (
    LONG_BUILDUP,
    LONG_UNWINDING,
    SHORT_BUILDUP,
    SHORT_COVERING,
    classify,
)
from deltastream.catalog import load_catalog
from deltastream.catalog.defaults import FLOW_RANGES
from deltastream.core.types import TradingHours
from deltastream.engine.setup import product_spec
from deltastream.market import flow
from deltastream.market.book import ProductQuotes
from deltastream.market.simulator import SimulatedMarket

CATALOG = load_catalog()
FIRST_DAY = date(2026, 12, 4)      # a Friday; the next five weekdays are sessions everywhere
DAYS = [FIRST_DAY + timedelta(days=d) for d in (0, 3, 4, 5, 6, 7)]
STEP = timedelta(minutes=15)
HOURS = {"Asia/Kolkata": (time(9, 15), time(15, 30)),
         "America/New_York": (time(9, 30), time(16, 0))}


def session_times() -> list[datetime]:
    """Every 15 minutes from each exchange's open to its close (both included), UTC, in
    order: never a time outside a session."""
    out = []
    for zone, (opens, closes) in HOURS.items():
        tz = ZoneInfo(zone)
        for day in DAYS:
            t = datetime.combine(day, opens, tz)
            end = datetime.combine(day, closes, tz)
            while t <= end:
                out.append(t.astimezone(UTC))
                t += STEP
    return sorted(out)


@dataclass
class Session:
    """One product's session: its closing quotes, the OI of each expiry through it and the
    last volume (calls, puts) seen of each expiry, one that expired at the close included."""

    day: date
    close: ProductQuotes | None = None
    expiry_oi: dict[date, list[float]] = field(default_factory=lambda: defaultdict(list))
    expiry_volume: dict[date, np.ndarray] = field(default_factory=dict)

    def volume(self) -> np.ndarray:
        """Contracts traded this session: calls, puts."""
        return np.sum(list(self.expiry_volume.values()), axis=0)


def local_day(q: ProductQuotes, zone: str) -> date:
    return q.timestamp.astimezone(ZoneInfo(zone)).date()


@pytest.fixture(scope="module")
def sessions() -> dict[str, list[Session]]:
    specs = [product_spec(p, 20, hours=TradingHours.EXCHANGE) for p in CATALOG]
    market = SimulatedMarket(specs, seed=5)
    out: dict[str, list[Session]] = {p.symbol: [] for p in CATALOG}
    for now in session_times():
        quotes = market.advance(now)
        for symbol, q in quotes.items():
            if symbol in market.standing:
                continue
            day = local_day(q, CATALOG[symbol].timezone)
            if day < FIRST_DAY:
                continue   # a closed market's first quotes, as of its previous close
            runs = out[symbol]
            if not runs or runs[-1].day != day:
                runs.append(Session(day))
            runs[-1].close = q
            oi = q.open_interest.sum(axis=0)
            for j, expiry in enumerate(q.expiries):
                cut = slice(q.offsets[j], q.offsets[j + 1])
                runs[-1].expiry_oi[expiry].append(float(oi[cut].sum()))
                runs[-1].expiry_volume[expiry] = q.volume[:, cut].sum(axis=1)
    return out


def closes(runs: list[Session]) -> list[ProductQuotes]:
    out = [r.close for r in runs]
    assert all(q is not None for q in out)
    return [q for q in out if q is not None]


@pytest.mark.parametrize("symbol", list(FLOW_RANGES))
def test_six_sessions_each_with_a_close(sessions: dict[str, list[Session]], symbol: str) -> None:
    assert [r.day for r in sessions[symbol]] == DAYS


@pytest.mark.parametrize("symbol", list(FLOW_RANGES))
def test_volume_and_open_interest_in_their_real_ranges(sessions: dict[str, list[Session]],
                                                       symbol: str) -> None:
    ranges = FLOW_RANGES[symbol]
    for run in sessions[symbol]:
        volume = run.volume().sum()
        assert ranges["session_volume"][0] <= volume <= ranges["session_volume"][1], run.day
        # The session's volume is the catalogue's target (less the last quarter hour of an
        # expiry that expired at the close, seen last before it).
        target = CATALOG[symbol].session_volume
        assert target is not None
        assert volume == pytest.approx(target, rel=0.05)
    for q in closes(sessions[symbol]):
        open_interest = q.open_interest.sum()
        assert ranges["open_interest"][0] <= open_interest <= ranges["open_interest"][1]


@pytest.mark.parametrize("symbol", list(FLOW_RANGES))
def test_put_call_ratios_in_their_real_ranges(sessions: dict[str, list[Session]],
                                              symbol: str) -> None:
    ranges = FLOW_RANGES[symbol]
    for run in sessions[symbol]:
        q = run.close
        assert q is not None
        by_oi = q.open_interest[1].sum() / q.open_interest[0].sum()
        calls, puts = run.volume()
        assert ranges["pcr_oi"][0] <= by_oi <= ranges["pcr_oi"][1], (run.day, by_oi)
        assert ranges["pcr_volume"][0] <= puts / calls <= ranges["pcr_volume"][1], (
            run.day, puts / calls)


def test_index_puts_and_single_stock_calls_carry_the_open_interest(
        sessions: dict[str, list[Session]]) -> None:
    def last(symbol: str) -> float:
        return pcr_oi(closes(sessions[symbol])[-1])

    assert min(last("SPY"), last("QQQ")) > 1.2
    assert max(last("AAPL"), last("TSLA")) < 0.9


@pytest.mark.parametrize("symbol", list(FLOW_RANGES))
def test_net_open_interest_change_per_session_is_a_few_percent(
        sessions: dict[str, list[Session]], symbol: str) -> None:
    # Over the contracts listed at the close (an expiry that expired at it is delisted), from
    # the previous session's close (or from listing, for contracts listed this session).
    changes = []
    for q in closes(sessions[symbol])[1:]:
        before = q.prev_close_oi.sum()
        changes.append(q.open_interest.sum() / before - 1.0)
    assert max(abs(c) for c in changes) <= 0.10, changes
    # Opening and closing are in balance, not one-sided as when OI only grew.
    assert min(changes) < 0.03 and max(changes) > -0.03, changes


# Products with an expiry in the week (BANKNIFTY and FINNIFTY list monthlies only).
@pytest.mark.parametrize("symbol", ["NIFTY", "SENSEX", "AAPL", "TSLA", "SPY", "QQQ"])
def test_open_interest_collapses_on_expiry_day(sessions: dict[str, list[Session]],
                                               symbol: str) -> None:
    checked = 0
    runs = sessions[symbol]
    for previous, run in itertools.pairwise(runs):
        if run.day not in run.expiry_oi or run.day not in previous.expiry_oi:
            continue
        # The expiry's OI at the previous close and at the last tick before its own close:
        # over 30 % of it closed on the day (far from the money some stays to expiry).
        at_previous_close = previous.expiry_oi[run.day][-1]
        before_expiry = run.expiry_oi[run.day][-1]
        assert run.expiry_oi[run.day][0] > before_expiry
        assert before_expiry < 0.7 * at_previous_close, (run.day, at_previous_close,
                                                          before_expiry)
        checked += 1
    assert checked >= 1


def round_strike_ratio(q: ProductQuotes, minor: float, major: float) -> float:
    """Mean OI (calls + puts) on strikes that are multiples of ``major`` over strikes that are
    multiples of ``minor`` but not of ``major``, within 4 % of the spot."""
    oi = q.open_interest.sum(axis=0)
    near = np.abs(q.strikes / q.spot - 1.0) < 0.04
    on_major = near & np.isclose(np.remainder(q.strikes, major), 0.0)
    on_minor = near & np.isclose(np.remainder(q.strikes, minor), 0.0) & ~on_major
    return float(oi[on_major].mean() / oi[on_minor].mean())


def test_nifty_open_interest_peaks_on_round_strikes(sessions: dict[str, list[Session]]
                                                    ) -> None:
    # Multiples of 100 (500s among them) against the 50s in between.
    for q in closes(sessions["NIFTY"]):
        assert round_strike_ratio(q, 50.0, 100.0) >= 1.5


@pytest.mark.parametrize("symbol", ["SPY", "QQQ"])
def test_us_open_interest_peaks_on_multiples_of_five(sessions: dict[str, list[Session]],
                                                     symbol: str) -> None:
    for q in closes(sessions[symbol]):
        assert round_strike_ratio(q, 1.0, 5.0) >= 1.5


@pytest.mark.parametrize("symbol", list(FLOW_RANGES))
def test_every_build_up_label_occurs(sessions: dict[str, list[Session]], symbol: str) -> None:
    labels: set[str | None] = set()
    for q in closes(sessions[symbol])[1:]:
        labels.update(classify((q.last - q.prev_close_last).ravel(),
                               (q.open_interest - q.prev_close_oi).ravel()))
    assert {LONG_BUILDUP, SHORT_BUILDUP, SHORT_COVERING, LONG_UNWINDING} <= labels


def test_puts_are_bought_after_a_fall_and_calls_after_a_rise(
        sessions: dict[str, list[Session]]) -> None:
    # Pooled over products: the session's return against the change of its put/call volume
    # ratio and of its put/call OI ratio from the previous session's. (OI follows slowly:
    # a fifth of the way to its target a session.)
    returns, volume_shifts, oi_shifts = [], [], []
    for runs in sessions.values():
        for a, b in itertools.pairwise(runs):
            assert a.close is not None and b.close is not None
            returns.append(math.log(b.close.spot / a.close.spot))
            (a_calls, a_puts), (b_calls, b_puts) = a.volume(), b.volume()
            volume_shifts.append(math.log(b_puts / b_calls) - math.log(a_puts / a_calls))
            oi_shifts.append(math.log(pcr_oi(b.close)) - math.log(pcr_oi(a.close)))
    assert np.corrcoef(returns, volume_shifts)[0, 1] < -0.3
    assert np.corrcoef(returns, oi_shifts)[0, 1] < -0.2


def pcr_oi(q: ProductQuotes) -> float:
    return float(q.open_interest[1].sum() / q.open_interest[0].sum())


# The flow plan and the tilt, against closed forms.

def one_expiry_plan(profile: flow.FlowProfile, mood: float, strikes: np.ndarray,
                    time_years: float = 7 / 365) -> flow.FlowPlan:
    n = strikes.shape[0]
    return flow.plan(np.array([0, n]), strikes, np.full(n, 24500.0), np.full(n, 0.13),
                     np.full(n, time_years), [profile], [mood])


STRIKES = 24500.0 + 50.0 * np.arange(-30, 31)
NIFTY_LIKE = flow.FlowProfile(session_seconds=22_500.0, session_volume=2e8, open_interest=1.5e7,
                              put_call_oi=1.1, put_call_volume=0.95, put_call_sensitivity=0.1,
                              round_strikes=(100.0, 500.0))


@pytest.mark.parametrize("mood", [-2.0, 0.0, 1.5])
def test_plan_totals_and_put_call_ratios_are_the_profiles(mood: float) -> None:
    plan = one_expiry_plan(NIFTY_LIKE, mood, STRIKES)
    assert plan.session_volume.sum() == pytest.approx(2e8, rel=1e-12)
    assert plan.target.sum() == pytest.approx(1.5e7, rel=1e-12)
    tilt = math.exp(-0.1 * mood)
    assert plan.target[1].sum() / plan.target[0].sum() == pytest.approx(1.1 * tilt, rel=1e-12)
    assert plan.session_volume[1].sum() / plan.session_volume[0].sum() == pytest.approx(
        0.95 * tilt, rel=1e-12)


def test_round_strikes_get_their_extra_interest() -> None:
    plan = one_expiry_plan(NIFTY_LIKE, 0.0, STRIKES)
    flat = one_expiry_plan(flow.FlowProfile(session_volume=2e8, open_interest=1.5e7), 0.0,
                           STRIKES)
    # Against the plain profile's shape: 1.8 on multiples of 100, 2.6 on multiples of 500.
    ratio = (plan.target[0] / plan.target[0, 0]) / (flat.target[0] / flat.target[0, 0])
    bonus = 1.0 + 0.8 * (STRIKES % 100 == 0) + 0.8 * (STRIKES % 500 == 0)
    assert ratio == pytest.approx(bonus / bonus[0], rel=1e-12)


def test_open_interest_fades_into_expiry_and_is_pulled_hardest_on_expiry_day() -> None:
    week = one_expiry_plan(NIFTY_LIKE, 0.0, STRIKES, 7 / 365)
    day_before = one_expiry_plan(NIFTY_LIKE, 0.0, STRIKES, 1.2 / 365)
    on_the_day = one_expiry_plan(NIFTY_LIKE, 0.0, STRIKES, 0.2 / 365)
    assert np.all(week.pull == 0.2) and np.all(day_before.pull == 0.2)
    assert np.all(on_the_day.pull == 0.2 * flow.EXPIRY_DAY_PULL)
    # Two expiries side by side: the one expiring has the faded share of the target.
    n = STRIKES.shape[0]
    both = flow.plan(np.array([0, 2 * n]), np.tile(STRIKES, 2), np.full(2 * n, 24500.0),
                     np.full(2 * n, 0.13), np.repeat([0.2 / 365, 7 / 365], n), [NIFTY_LIKE],
                     [0.0])
    share = both.target[:, :n].sum() / both.target.sum()
    assert share < 0.2


def test_the_tilt_closes_the_configured_share_of_the_gap_per_session() -> None:
    # One session in one tick: E[opened - closed] = V (p_open - p_close) = pull * gap, the
    # tilt m = pull * gap / (V * (p_open + p_close)) moving p_open up and p_close down by
    # m * p_close.
    n = 20_000
    volume, held, target, pull = 1_000.0, 10_000.0, 12_000.0, 0.2
    rate = np.full((2, n), volume)
    steer = flow.FlowPlan(np.full((2, n), volume), np.full((2, n), target), np.full(n, pull))
    batch = flow.FlowBatch(np.array([0, n]), flow.OPEN_SHARE, flow.CLOSE_SHARE)
    _, new_oi, _ = batch.run(rate, np.full((2, n), held), [np.random.default_rng(9)],
                             steer=steer)
    change = new_oi - held
    expected = pull * (target - held)
    m = expected / (volume * (flow.OPEN_SHARE + flow.CLOSE_SHARE))
    p_open, p_close = flow.OPEN_SHARE + m * flow.CLOSE_SHARE, flow.CLOSE_SHARE * (1 - m)
    sd = math.sqrt(volume * (p_open + p_close) / (2 * n))
    assert change.mean() == pytest.approx(expected, abs=5 * sd)
    assert change.var() == pytest.approx(volume * (p_open + p_close), rel=0.03)


def test_sentiment_follows_the_return_since_the_anchor() -> None:
    day = 0.2 / math.sqrt(252)
    assert flow.sentiment(math.log(100.0) - 2 * day, math.log(100.0), 0.2) == pytest.approx(-2)
    assert flow.sentiment(math.log(100.0) + 9 * day, math.log(100.0), 0.2) == flow.SENTIMENT_CAP
    # A session's trading moves the anchor 1 - 1/e of the way; no trading leaves it.
    assert flow.next_anchor(0.0, 1.0, 22_500.0, 22_500.0) == pytest.approx(1 - math.exp(-1))
    assert flow.next_anchor(0.3, 1.0, 0.0, 22_500.0) == 0.3
