"""The simulated market over long runs: reproducible, arbitrage-free, plausible flow."""

from __future__ import annotations

from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from deltastream.catalog import load_catalog
from deltastream.catalog.loader import Catalog
from deltastream.engine.setup import build_engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from tests.support.market import START
from tests.support.snapshots import serialized


def european_catalog() -> Catalog:
    return Catalog([p for p in load_catalog() if not p.american])


def run(seed: int, ticks: int, step_seconds: float, catalog: Catalog | None = None):
    clock = FixedClock(START)
    engine = build_engine(catalog or european_catalog(),
                          Settings(seed=seed, strikes_each_side=20, hours="always"), clock)
    for _ in range(ticks):
        yield engine.tick()
        clock.advance(step_seconds)


def test_same_seed_and_clock_give_byte_identical_chains():
    a = [serialized(s, 41) for s in run(7, 30, 1.0)]
    b = [serialized(s, 41) for s in run(7, 30, 1.0)]
    c = [serialized(s, 41) for s in run(8, 30, 1.0)]
    assert a == b
    assert a[-1] != c[-1]


@pytest.fixture(scope="module")
def long_run():
    # Four and a half days of ten-minute ticks: sessions roll, weeklies expire and list.
    return list(run(11, 650, 600.0))


def test_every_chain_is_free_of_static_arbitrage_and_quoted_around_the_mid(long_run):
    checked = 0
    for snaps in long_run[::5]:
        for snap in snaps.values():
            for c in snap.chains:
                tol = 1e-9 * snap.spot
                calls, puts = c.calls.mid, c.puts.mid
                assert np.all(np.diff(calls) <= tol)
                assert np.all(np.diff(puts) >= -tol)
                assert np.all(np.diff(calls, 2) >= -tol)
                assert np.all(np.diff(puts, 2) >= -tol)
                for side in (c.calls, c.puts):
                    assert np.all(side.bid <= side.mid) and np.all(side.mid <= side.ask)
                    assert np.all(side.bid <= side.last) and np.all(side.last <= side.ask)
                # European parity within the quoted spreads.
                parity = (snap.spot * np.exp(-c.dividend_yield * c.time_to_expiry)
                          - c.strikes * np.exp(-c.rate * c.time_to_expiry))
                spread = (c.calls.ask - c.calls.bid) + (c.puts.ask - c.puts.bid)
                assert np.all(np.abs(calls - puts - parity) <= spread)
                checked += 1
    assert checked > 500


def test_total_implied_variance_rises_with_expiry_at_fixed_moneyness(long_run):
    for snaps in long_run[::25]:
        for snap in snaps.values():
            prev = None
            for c in snap.chains:
                k = np.log(c.strikes / c.forward)
                w = c.calls.iv**2 * c.time_to_expiry
                if prev is not None:
                    lo, hi = max(k.min(), prev[0].min()), min(k.max(), prev[0].max())
                    grid = np.linspace(lo, hi, 25)
                    assert np.all(np.interp(grid, k, w) >= np.interp(grid, *prev) - 1e-7)
                prev = (k, w)


def test_solved_ivs_reprice_the_mids(long_run):
    from deltastream.pricing import black_scholes_merton as bsm

    snaps = long_run[-1]
    for snap in snaps.values():
        for c in snap.chains:
            ok = c.calls.iv_status == 0
            assert ok.mean() > 0.9
            repriced = bsm.price(snap.spot, c.strikes[ok], c.time_to_expiry, c.rate,
                                 c.dividend_yield, c.calls.iv[ok], True)
            assert np.allclose(repriced, c.calls.mid[ok], rtol=1e-9, atol=1e-9 * snap.spot)


def test_spot_moves_continuously_and_never_resets_to_the_base(long_run):
    for symbol in long_run[0]:
        path = np.array([snaps[symbol].spot for snaps in long_run])
        moves = np.abs(np.diff(np.log(path)))
        assert moves.max() < 0.05
        base = load_catalog()[symbol].spot
        assert np.sum(np.isclose(path[1:], base, rtol=1e-12)) == 0


def test_open_interest_never_negative_and_volume_resets_each_session(long_run):
    tz = ZoneInfo("Asia/Kolkata")
    previous: dict = {}
    resets = 0
    for snaps in long_run:
        for snap in snaps.values():
            day = snap.timestamp.astimezone(tz).date()
            for c in snap.chains:
                for side_name in ("calls", "puts"):
                    side = getattr(c, side_name)
                    assert np.all(side.open_interest >= 0)
                    key = (snap.product, c.expiry, side_name)
                    if key in previous:
                        prev_day, prev_strikes, prev_volume, prev_oi, prev_last = previous[key]
                        common, i, j = np.intersect1d(prev_strikes, c.strikes,
                                                      return_indices=True)
                        if prev_day == day:
                            assert np.all(side.volume[j] >= prev_volume[i])
                        elif common.size:
                            # New session: volume starts again, and changes are measured
                            # from the previous session's close (its last tick).
                            resets += 1
                            assert side.volume[j].sum() < prev_volume[i].sum()
                            assert np.array_equal(side.oi_change[j],
                                                  side.open_interest[j] - prev_oi[i])
                            assert np.allclose(side.change[j], side.last[j] - prev_last[i],
                                               atol=1e-9)
                    previous[key] = (day, c.strikes.copy(), side.volume.copy(),
                                     side.open_interest.copy(), side.last.copy())
    assert resets > 0


def test_american_chains_are_arbitrage_free_and_within_american_parity_bounds():
    us = Catalog([p for p in load_catalog() if p.american])
    checked = 0
    for snaps in run(5, 6, 4 * 3600.0, us):
        for snap in snaps.values():
            for c in snap.chains:
                tol = 1e-9 * snap.spot
                calls, puts = c.calls.mid, c.puts.mid
                assert np.all(np.diff(calls) <= tol) and np.all(np.diff(puts) >= -tol)
                assert np.all(np.diff(calls, 2) >= -tol) and np.all(np.diff(puts, 2) >= -tol)
                for side in (c.calls, c.puts):
                    assert np.all(side.bid <= side.mid) and np.all(side.mid <= side.ask)
                # American parity: S e^-qT - K <= C - P <= S - K e^-rT.
                t = c.time_to_expiry
                lower = snap.spot * np.exp(-c.dividend_yield * t) - c.strikes
                upper = snap.spot - c.strikes * np.exp(-c.rate * t)
                assert np.all(calls - puts >= lower - tol) and np.all(calls - puts <= upper + tol)
                assert c.model == "american_fixed_point_boundary"
                checked += 1
    assert checked > 50


def test_steps_of_hours_trade_only_within_the_session_and_never_fail():
    # An accelerated clock (or a restart after hours) moves the market hours per tick: order
    # flow accrues only since the session open, so volume stays a session's and no tick fails.
    ticks = list(run(5, 12, 6 * 3600.0))
    for published in ticks:
        for snap in published.values():
            for chain in snap.chains:
                for side in (chain.calls, chain.puts):
                    assert np.all(side.open_interest >= 0)
                    assert np.all(np.isfinite(side.mid))
    # Each tick lands in a new quarter of the day; volume restarts with each session.
    sessions = [(s.timestamp.astimezone(ZoneInfo("Asia/Kolkata")).date(), s.session_volume)
                for published in ticks for s in [published["NIFTY"]]]
    for (day_a, vol_a), (day_b, vol_b) in pairwise(sessions):
        if day_a == day_b:
            assert vol_b >= vol_a
