"""The quoting model: spreads in whole ticks, 1-2 at the money on liquid products, wider
away from the money, further from expiry, where little trades and when volatility is high."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from deltastream.catalog import Product, load_catalog
from deltastream.engine.setup import product_spec
from deltastream.market import quotes
from deltastream.market.simulator import SimulatedMarket

LIQUID = ("NIFTY", "BANKNIFTY", "SPY", "QQQ", "AAPL")
# A pinned clock: Monday 2026-11-23, before the NSE open, then five days of hours.
START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
STEP = timedelta(hours=1)
TICKS = 5 * 24


def width_in_ticks(floor: float = 1.0, liquidity: float = 1.0,
                   variance_ratio: float = 1.0, k: float = 0.0, atm_std: float = 0.05,
                   intrinsic: float = 0.0, relative: float = 0.0, tick: float = 0.05) -> float:
    return float(quotes.spread_ticks(tick, floor, np.array([liquidity]), variance_ratio,
                                     np.array([k]), atm_std, np.array([intrinsic]),
                                     relative)[0])


def test_width_by_the_model_in_closed_form():
    # Liquid at the money: the floor.
    assert width_in_ticks(floor=1.0) == 1.0
    # A quarter of the liquidity doubles the width; a variance 16 times its level too.
    assert width_in_ticks(liquidity=0.25) == 2.0
    assert width_in_ticks(variance_ratio=16.0) == 2.0
    # Deep in the money: k = 3 standard deviations adds 0.9 of relative x intrinsic.
    # 1 + 0.003 * 1000 * 0.9 / 0.05 = 55 ticks.
    assert width_in_ticks(k=0.15, atm_std=0.05, intrinsic=1000.0, relative=0.003) == 55.0
    # Never below one tick, and whole ticks.
    assert width_in_ticks(floor=0.2, liquidity=4.0) == 1.0
    # More liquid than the reference or calmer than usual: still the floor.
    assert width_in_ticks(floor=3.0, liquidity=4.0, variance_ratio=0.5) == 3.0
    # Rounded to the nearest tick: sqrt(2) to 1, sqrt(3) to 2.
    assert width_in_ticks(liquidity=0.5) == 1.0
    assert width_in_ticks(liquidity=1 / 3) == 2.0


@pytest.mark.parametrize("tick", [0.05, 0.01, 2.5])
def test_two_sided_quotes_are_the_width_apart_around_the_mid(tick):
    rng = np.random.default_rng(3)
    mid = np.concatenate([rng.uniform(0, 3 * tick, 500), rng.uniform(0, 5000 * tick, 2000),
                          np.arange(0, 50) * tick, [0.0]])
    width = rng.integers(1, 8, mid.size).astype(float)
    bid, ask = quotes.two_sided(mid, tick, width)
    assert np.all(bid <= mid) and np.all(mid <= ask) and np.all(bid >= 0)
    for side in (bid, ask):
        assert np.allclose(np.rint(side / tick) * tick, side, rtol=0, atol=1e-9)
    got = np.rint((ask - bid) / tick)
    on_grid = np.abs(mid / tick - np.rint(mid / tick)) < 1e-6
    floored = bid == 0.0
    plain = ~on_grid & ~floored
    assert plain.sum() > 1500 and np.array_equal(got[plain], width[plain])
    # On the grid a mid needs two ticks to straddle it; a floored bid only narrows.
    assert np.array_equal(got[on_grid & ~floored], np.maximum(width, 2)[on_grid & ~floored])
    assert np.all(got[floored] <= np.maximum(width[floored], 2))
    # Centred: the mid is never more than half the width and a tick from the middle.
    centre = 0.5 * (bid + ask)
    assert np.all(np.abs(centre - mid)[plain] <= 0.5 * tick + 1e-9)


@pytest.fixture(scope="module")
def five_days():
    """Samples of the liquid products' quotes at every tick: per product, per
    sample, the width in ticks, the standardised moneyness and time to expiry of every
    contract, and the at-the-money width of the nearest expiry."""
    catalog = load_catalog()
    market = SimulatedMarket([product_spec(catalog[s], catalog[s].strikes_each_side or 50)
                              for s in LIQUID], 2026)
    now = START
    out: dict[str, list[tuple[np.ndarray, ...]]] = {s: [] for s in LIQUID}
    for _ in range(TICKS):
        quoted = market.advance(now)
        now += STEP
        for symbol, q in quoted.items():
            spec = market.products[symbol].spec
            assert np.all(q.bid <= q.mid) and np.all(q.mid <= q.ask) and np.all(q.bid >= 0)
            assert np.allclose(np.rint(q.bid / spec.tick_size) * spec.tick_size, q.bid,
                               rtol=0, atol=1e-9)
            width = np.rint((q.ask - q.bid) / spec.tick_size)
            forward = np.repeat(q.forwards, np.diff(q.offsets))
            k = np.log(q.strikes / forward)
            # Standardised by each expiry's at-the-money volatility (the smile's vol would
            # stretch the two wings differently).
            atm_vol = np.array([q.surface_vol[lo + np.argmin(np.abs(q.strikes[lo:hi] - f))]
                                for lo, hi, f in zip(q.offsets[:-1], q.offsets[1:],
                                                     q.forwards, strict=True)])
            z = np.abs(k) / (np.repeat(atm_vol, np.diff(q.offsets)) * np.sqrt(q.contract_times))
            first = slice(q.offsets[0], q.offsets[1])
            atm = q.offsets[0] + int(np.argmin(np.abs(q.strikes[first] - q.forwards[0])))
            out[symbol].append((width, z, q.contract_times, width[:, atm]))
    return out


@pytest.mark.parametrize("symbol", LIQUID)
def test_at_the_money_spread_is_one_or_two_ticks(five_days, symbol):
    atm = np.array([s[3] for s in five_days[symbol]])
    assert atm.shape[0] == TICKS
    assert atm.max() <= 2.0
    assert atm.mean() <= 1.9


@pytest.mark.parametrize("symbol", LIQUID)
def test_spreads_widen_away_from_the_money(five_days, symbol):
    # Per expiry and sample: the mean width of each band of standardised moneyness is wider
    # than the band nearer the money, on at least nine expiries in ten.
    bands = ((0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, np.inf))
    monotone = []
    for width, z, times, _ in five_days[symbol]:
        for t in np.unique(times):
            of = times == t
            means = [width[0][of & (z >= lo) & (z < hi)] for lo, hi in bands]
            if all(m.size for m in means):
                m = [x.mean() for x in means]
                monotone.append(m[0] < m[1] < m[2] < m[3])
    assert len(monotone) >= 100
    assert np.mean(monotone) >= 0.9


@pytest.mark.parametrize("symbol", LIQUID)
def test_spreads_widen_with_time_to_expiry(five_days, symbol):
    # At a like distance from the money (within one standard deviation), over the expiries
    # listed: each longer band of time is wider on average.
    width = np.concatenate([s[0][0] for s in five_days[symbol]])
    z = np.concatenate([s[1] for s in five_days[symbol]])
    days = 365.0 * np.concatenate([s[2] for s in five_days[symbol]])
    near = z < 1.0
    bands = [(lo, hi) for lo, hi in ((0, 7), (7, 21), (21, 45), (45, 120))
             if np.any(near & (days >= lo) & (days < hi))]
    assert len(bands) >= 2
    means = [width[near & (days >= lo) & (days < hi)].mean() for lo, hi in bands]
    # The shortest band is the narrowest and the longest wider than every band below 21 days.
    assert means[0] == min(means) and means[-1] > max(means[:2]), (bands, means)


def test_the_catalogue_sets_the_floor_in_ticks():
    nifty = load_catalog()["NIFTY"]
    assert nifty.spread_ticks == 1.0

    def atm_width(product: Product) -> float:
        q = SimulatedMarket([product_spec(product, 20)], 5).advance(START)[product.symbol]
        first = slice(q.offsets[0], q.offsets[1])
        atm = q.offsets[0] + int(np.argmin(np.abs(q.strikes[first] - q.forwards[0])))
        return float(np.rint((q.ask - q.bid)[0, atm] / product.tick_size))

    assert atm_width(nifty) <= 2.0
    assert atm_width(dataclasses.replace(nifty, spread_ticks=6.0)) >= 6.0
