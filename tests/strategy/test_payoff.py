"""Expiry payoff, breakevens and extremes, cross-checked with optionlab (acceptance 1) on
every template, strikes by distance and by delta, with the engine's served premiums.

optionlab's conventions (read from its source): a profit is P&L >= 0.01 (its ``target``),
so its profit ranges end where the P&L is 0.01; its probability of profit integrates a
lognormal with drift r - q and volatility ``volatility`` over ``days / 365`` years exactly
(piecewise-linear payoffs: closed form per segment; legs alive at the target date: adaptive
segments to probability 1e-9); its max/min are over its price grid (``price_step``).

Tolerances per figure:
- breakevens (roots of P&L = 0.01): 1e-6 absolute for expiry payoffs (both exact);
  calendars and diagonals 1e-5 absolute, optionlab's resolution: its ranges end at roots of
  a linear interpolant between adaptive nodes refined until the probability is right to 1e-9,
  ~5e-6 in price at these densities (measured: 9e-8 to 5e-7);
- max profit / loss: 1e-6 (every strike is on optionlab's 0.05 grid, so its grid extreme is
  exact for expiry payoffs; a calendar's smooth maximum sits at its strike here);
- lognormal probability of profit: 1e-6 for every case (optionlab's is exact for expiry
  payoffs and right to 1e-9 for calendars; measured differences <= 4e-10).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from optionlab import run_strategy

from deltastream.pricing import black_scholes_merton as bsm
from deltastream.strategy.analysis import profit_stats
from deltastream.strategy.density import lognormal
from deltastream.strategy.legs import position_of, resolve
from deltastream.strategy.payoff import (
    Payoff,
    breakevens,
    extremes,
    numeric_breakevens,
    numeric_extremes,
    payoff,
    price_grid,
)
from deltastream.strategy.templates import TEMPLATES, Template, template_legs
from tests.support.strategy import served

SNAP = served()
DAYS = 9            # optionlab counts whole days: the analysis runs T = DAYS / 365
BACK_DAYS = 16
VOL = 0.2
STEP = 0.05


def _cases() -> list[tuple[str, str]]:
    return [(name, by) for name in TEMPLATES for by in ("distance", "delta")]


def _optionlab(legs, level_days: int, back_days: int) -> object:
    strategy = []
    for leg in legs:
        side = "buy" if leg.quantity > 0 else "sell"
        n = int(abs(leg.quantity))
        if leg.kind == "underlying":
            strategy.append({"type": "stock", "n": n, "action": side})
            continue
        item = {"type": leg.kind, "strike": leg.strike, "premium": leg.price,
                "action": side, "n": n}
        if leg.expiry != SNAP.chains[1].expiry:
            item["expiration"] = back_days
        strategy.append(item)
    spot = SNAP.spot
    return run_strategy({
        "stock_price": spot, "volatility": VOL, "interest_rate": SNAP.terms.rate,
        "dividend_yield": SNAP.terms.dividend_yield, "min_stock": 0.7 * spot,
        "max_stock": 1.4 * spot, "price_step": STEP, "days_to_target_date": level_days,
        "discard_nonbusiness_days": False, "strategy": strategy})


def _legs(name: str, by: str):
    return resolve(SNAP, template_legs(SNAP, Template(name, strikes_by=by,
                                                      expiry=SNAP.chains[1].expiry)))


def _ranges_ends(ranges) -> list[float]:
    # A flat tail can come out of optionlab with a slope of rounding size (1e-13), whose
    # "root" lies ~1e16 away: ends beyond 100 x spot are that, not a price.
    ends = [x for r in ranges for x in r if 0 < x < 100 * SNAP.spot]
    return sorted(ends)


@pytest.mark.parametrize(("name", "by"), _cases())
def test_agrees_with_optionlab(name: str, by: str) -> None:
    legs = _legs(name, by)
    out = _optionlab(legs, DAYS, BACK_DAYS)
    position = position_of(legs)
    r, q = SNAP.terms.rate, SNAP.terms.dividend_yield
    t = DAYS / 365
    forward = SNAP.spot * math.exp((r - q) * t)
    law = lognormal(forward, VOL, t)
    calendar = name in ("calendar", "diagonal")
    if not calendar:
        pay = payoff([c.kind for c in position.contracts],
                     [c.strike or 0.0 for c in position.contracts],
                     [c.quantity for c in position.contracts], position.cost)
        roots = breakevens(pay, 0.01)
        np.testing.assert_allclose(roots, _ranges_ends(out.profit_ranges), rtol=0, atol=1e-6)
        stats = profit_stats(law, pay, pay.kinks, roots, SNAP.spot, level=0.01)
        assert stats.profit == pytest.approx(out.probability_of_profit, abs=1e-6)
        ext = extremes(pay)
        # optionlab sees [0.7 S, 1.4 S]: its extremes are ours over that domain, and ours
        # are theirs wherever the extreme lies inside it.
        lo, hi = 0.7 * SNAP.spot, 1.4 * SNAP.spot
        inside = np.concatenate(([lo, hi], pay.kinks[(pay.kinks > lo) & (pay.kinks < hi)]))
        assert out.maximum_return_in_the_domain == pytest.approx(pay(inside).max(), abs=1e-6)
        assert out.minimum_return_in_the_domain == pytest.approx(pay(inside).min(), abs=1e-6)
        assert ext.max_profit_unbounded == (pay.final_slope > 0)
        assert ext.max_loss_unbounded == (pay.final_slope < 0)
        everywhere = pay(np.concatenate(([0.0], pay.kinks)))
        seen = pay(inside)
        if not ext.max_profit_unbounded:
            assert ext.max_profit == pytest.approx(everywhere.max(), abs=1e-9)
            assert ext.max_profit == pytest.approx(out.maximum_return_in_the_domain, abs=1e-6)
        if not ext.max_loss_unbounded:
            assert ext.max_loss == pytest.approx(everywhere.min(), abs=1e-9)
            if everywhere.min() < seen.min() - 1e-6:
                # Lost at a price of 0, outside optionlab's domain (covered call): the
                # stock's value less the premium received, i.e. minus the cost.
                assert ext.max_loss == pytest.approx(-position.cost, abs=1e-6)
            else:
                assert ext.max_loss == pytest.approx(out.minimum_return_in_the_domain,
                                                     abs=1e-6)
        return
    front = [c for c in position.contracts if c.expiry == SNAP.chains[1].expiry]
    back = [c for c in position.contracts if c.expiry != SNAP.chains[1].expiry]
    tau = (BACK_DAYS - DAYS) / 365

    def pnl(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out_ = -position.cost + np.zeros(x.shape)
        for c in front:
            out_ += c.quantity * np.maximum(x - c.strike, 0.0)
        for c in back:
            out_ += c.quantity * bsm.price(np.maximum(x, 1e-9), c.strike, tau, r, q, VOL, True)
        return out_

    scan = np.unique(np.concatenate((np.linspace(0, 2 * SNAP.spot, 4001),
                                     [c.strike for c in position.contracts])))
    roots = numeric_breakevens(pnl, scan, 0.01)
    np.testing.assert_allclose(roots, _ranges_ends(out.profit_ranges), rtol=0, atol=1e-5)
    stats = profit_stats(law, pnl, scan[scan > 0], roots, SNAP.spot, level=0.01)
    assert stats.profit == pytest.approx(out.probability_of_profit, abs=1e-6)
    ext = numeric_extremes(pnl, scan, 0.0)
    assert ext.max_profit == pytest.approx(out.maximum_return_in_the_domain, abs=1e-6)


@pytest.mark.parametrize(("name", "by"), [c for c in _cases()
                                          if c[0] not in ("calendar", "diagonal")])
def test_pnl_at_breakevens_is_zero(name: str, by: str) -> None:
    legs = _legs(name, by)
    position = position_of(legs)
    pay = payoff([c.kind for c in position.contracts],
                 [c.strike or 0.0 for c in position.contracts],
                 [c.quantity for c in position.contracts], position.cost)
    roots = breakevens(pay)
    assert roots.size
    lots = max(abs(leg.lots) for leg in legs)
    assert np.abs(pay(roots)).max() <= 1e-9 * lots


def test_segments_reproduce_the_payoff() -> None:
    pay = Payoff(-3.0, 0.5, np.array([90.0, 100.0, 110.0]), np.array([1.0, -2.0, 1.5]))
    _, hi, a, b = pay.segments()
    for x in (10.0, 95.0, 105.0, 500.0):
        i = int(np.searchsorted(hi, x))
        assert a[i] + b[i] * x == pytest.approx(float(pay(np.array([x]))[0]), abs=1e-12)
    assert pay.final_slope == pytest.approx(1.0)


def test_breakevens_touching_and_flat() -> None:
    # A long butterfly costing exactly its peak: P&L touches 0 at the middle strike only.
    fly = payoff(["call"] * 3, [90.0, 100.0, 110.0], [1.0, -2.0, 1.0], 10.0)
    assert breakevens(fly).tolist() == [100.0]
    # A long call spread worth exactly its cost above the upper strike: P&L reaches 0 at
    # 100 and stays there; 100 is its breakeven, the flat segment gives no other.
    spread = payoff(["call", "call"], [90.0, 100.0], [1.0, -1.0], 10.0)
    assert breakevens(spread).tolist() == [100.0]
    ext = extremes(spread)
    assert (ext.max_profit, ext.max_loss) == (0.0, -10.0)


def test_unbounded_flags() -> None:
    short_call = payoff(["call"], [100.0], [-1.0], -5.0)
    ext = extremes(short_call)
    assert ext.max_loss_unbounded and ext.max_loss is None and ext.max_profit == 5.0
    short_stock = payoff(["underlying"], [0.0], [-1.0], -100.0)
    ext = extremes(short_stock)
    assert ext.max_loss_unbounded and ext.max_profit == 100.0


def test_price_grid_holds_strikes_and_breakevens_exactly() -> None:
    strikes = np.array([95.0, 100.0, 105.0])
    extra = np.array([97.123456789])
    grid = price_grid(100.0, 0.1, strikes, 500, extra)
    assert set(strikes.tolist() + extra.tolist()) <= set(grid.tolist())
    assert np.all(np.diff(grid) > 0) and grid[0] > 0
    # +-5 standard deviations of log price at least.
    assert grid[0] <= 100 * math.exp(-0.5) + 1e-9 and grid[-1] >= 100 * math.exp(0.5) - 1e-9
    assert 500 <= grid.size <= 504
