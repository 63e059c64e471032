"""Black-Scholes-Merton prices and Greeks against QuantLib, mpmath and textbook values."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.pricing import black_scholes_merton as bsm

from . import mpmath_reference as mpr
from .quantlib_reference import bsm_reference

QL_FIELDS = ("price", "delta", "gamma", "theta", "vega", "rho", "vanna")


@pytest.mark.parametrize("which", ["grid", "stress"])
def test_price_and_greeks_match_quantlib_to_1e10_of_spot(which, request):
    g = request.getfixturevalue(which)
    ref = bsm_reference(*g.args())
    ours = bsm.greeks(*g.args())
    for field in QL_FIELDS:
        err = np.abs(getattr(ours, field) - ref[field])
        worst = int(np.argmax(err / g.spot))
        assert np.all(err <= 1e-10 * g.spot), (field, worst, err[worst])


def test_price_function_equals_price_from_greeks(grid):
    assert np.array_equal(bsm.price(*grid.args()), bsm.greeks(*grid.args()).price)


def test_volga_and_charm_match_mpmath(grid):
    idx = np.random.default_rng(3).choice(len(grid), 60, replace=False)
    args = [a[idx] for a in grid.args()]
    ours = bsm.greeks(*args)
    for i in range(len(idx)):
        one = [a[i] for a in args]
        assert ours.volga[i] == pytest.approx(mpr.volga(*one), rel=1e-8, abs=1e-12 * one[0])
        assert ours.charm[i] == pytest.approx(mpr.charm(*one), rel=1e-8, abs=1e-12 * one[0])


def test_far_otm_prices_keep_relative_precision():
    # Prices down to 1e-250 of spot: QuantLib's normal tail is only ~1e-8 relative there, so
    # the reference is 40-digit mpmath.
    rng = np.random.default_rng(11)
    n = 80
    S = rng.uniform(50, 500, n)
    call = rng.random(n) < 0.5
    K = np.where(call, S * rng.uniform(1.3, 3.0, n), S * rng.uniform(0.3, 0.7, n))
    T = rng.uniform(1 / 365, 30 / 365, n)
    r = rng.uniform(0, 0.08, n)
    q = rng.uniform(0, 0.03, n)
    sig = rng.uniform(0.05, 0.4, n)
    ours = bsm.price(S, K, T, r, q, sig, call)
    for i in range(n):
        ref = float(mpr.bsm_price(S[i], K[i], T[i], r[i], q[i], sig[i], bool(call[i])))
        if ref > 1e-300:
            assert ours[i] == pytest.approx(ref, rel=1e-9), (i, ref)


@pytest.mark.parametrize("which", ["grid", "stress"])
def test_put_call_parity_to_1e12_of_spot(which, request):
    g = request.getfixturevalue(which)
    S, K, T, r, q, sig, _ = g.args()
    call = bsm.price(S, K, T, r, q, sig, True)
    put = bsm.price(S, K, T, r, q, sig, False)
    parity = S * np.exp(-q * T) - K * np.exp(-r * T)
    assert np.max(np.abs(call - put - parity) / S) <= 1e-12


def test_hull_textbook_example():
    # Hull, Options, Futures and Other Derivatives: S=42, K=40, r=10 %, sigma=20 %, T=0.5.
    assert bsm.price(42, 40, 0.5, 0.10, 0.0, 0.20, True) == pytest.approx(4.76, abs=5e-3)
    assert bsm.price(42, 40, 0.5, 0.10, 0.0, 0.20, False) == pytest.approx(0.81, abs=5e-3)


def test_haug_merton_dividend_example():
    # Haug, The Complete Guide to Option Pricing Formulas: S=100, K=95, T=0.5, r=10 %,
    # q=5 %, sigma=20 % -> put 2.4648.
    assert bsm.price(100, 95, 0.5, 0.10, 0.05, 0.20, False) == pytest.approx(2.4648, abs=5e-5)


def test_greek_units_are_per_day_and_per_point():
    args = dict(spot=100.0, strike=105.0, time=0.25, rate=0.05, dividend_yield=0.01, vol=0.2,
                is_call=True)
    base = bsm.greeks(**args)
    h = 1e-5

    def bumped(name: str, d: float) -> float:
        return float(bsm.price(**{**args, name: args[name] + d}))

    # Central differences in the documented units: per calendar day, per 1 point.
    theta = -(bumped("time", h) - bumped("time", -h)) / (2 * h) / 365
    vega = (bumped("vol", h) - bumped("vol", -h)) / (2 * h) / 100
    rho = (bumped("rate", h) - bumped("rate", -h)) / (2 * h) / 100
    assert base.theta == pytest.approx(theta, rel=1e-6)
    assert base.vega == pytest.approx(vega, rel=1e-6)
    assert base.rho == pytest.approx(rho, rel=1e-6)


def test_scalars_broadcast_against_arrays():
    strikes = np.array([90.0, 100.0, 110.0])
    prices = bsm.price(100.0, strikes, 0.5, 0.05, 0.0, 0.2, True)
    assert prices.shape == (3,)
    assert np.all(np.diff(prices) < 0)
    grid = bsm.greeks(100.0, strikes[:, None], np.array([0.1, 0.5]), 0.05, 0.0, 0.2, False)
    assert grid.delta.shape == (3, 2)


@pytest.mark.parametrize(
    ("S", "K", "T", "sig"),
    [
        (100.0, 100.0, 1e-12, 0.2),      # T -> 0 at the money
        (100.0, 90.0, 1e-12, 0.2),       # T -> 0 in the money
        (100.0, 100.0, 0.5, 1e-12),      # sigma -> 0
        (100.0, 1e-6, 1.0, 0.3),         # K tiny
        (100.0, 1e6, 1.0, 0.3),          # K huge
        (1e-8, 1e-8, 1.0, 0.3),          # S and K tiny
        (1e12, 1e12, 1.0, 0.3),          # S and K huge
        (100.0, 100.0, 0.0, 0.2),        # expired: payoff
        (100.0, 100.0, 0.5, 0.0),        # zero vol: discounted intrinsic
        (100.0, 100.0, 2.0, 5.0),        # huge vol
    ],
)
def test_edge_cases_are_finite(S, K, T, sig):
    # pyproject turns RuntimeWarning into an error, so any NumPy warning fails this test too.
    for call in (True, False):
        g = bsm.greeks(S, K, T, 0.05, 0.02, sig, call)
        for field, value in zip(g._fields, g, strict=True):
            assert np.isfinite(value), field
        assert g.price >= 0.0
        assert -1.0 <= g.delta <= 1.0


def test_limits_are_continuous():
    near_zero_t = bsm.price(100.0, 90.0, 1e-10, 0.05, 0.0, 0.2, True)
    assert near_zero_t == pytest.approx(10.0, abs=1e-6)
    assert bsm.price(100.0, 90.0, 0.0, 0.05, 0.0, 0.2, True) == 10.0
    deterministic = 100.0 * np.exp(-0.02) - 90.0 * np.exp(-0.05)
    assert bsm.price(100.0, 90.0, 1.0, 0.05, 0.02, 1e-9, True) == pytest.approx(deterministic)
    assert bsm.price(100.0, 90.0, 1.0, 0.05, 0.02, 0.0, True) == pytest.approx(deterministic)


@pytest.mark.parametrize(
    "bad", [(-1.0, 100.0, 0.5, 0.2), (100.0, 0.0, 0.5, 0.2), (100.0, 100.0, -0.1, 0.2),
            (100.0, 100.0, 0.5, -0.2), (np.nan, 100.0, 0.5, 0.2), (100.0, np.inf, 0.5, 0.2)])
def test_invalid_inputs_give_nan_not_exceptions(bad):
    S, K, T, sig = bad
    assert np.isnan(bsm.price(S, K, T, 0.05, 0.0, sig, True))
    assert all(np.isnan(v) for v in bsm.greeks(S, K, T, 0.05, 0.0, sig, False))


def test_first_order_only_matches_the_full_kernel(grid):
    full = bsm.greeks(*grid.args())
    first = bsm.greeks(*grid.args(), second_order=False)
    for field in ("price", "delta", "gamma", "theta", "vega", "rho"):
        assert np.array_equal(getattr(full, field), getattr(first, field))
    assert np.all(np.isnan(first.vanna)) and np.all(np.isnan(first.charm))


def test_call_and_put_prices_at_once_are_the_single_prices(grid):
    S, K, T, r, q, sig, _ = grid.args()
    both = bsm.call_put_prices(S, K, T, r, q, sig)
    assert both.shape == (2, len(grid))
    assert np.array_equal(both[0], bsm.price(S, K, T, r, q, sig, True), equal_nan=True)
    assert np.array_equal(both[1], bsm.price(S, K, T, r, q, sig, False), equal_nan=True)
    edge = bsm.call_put_prices(100.0, 90.0, np.array([0.0, 0.5, 0.5]), 0.05, 0.0,
                               np.array([0.2, 0.0, np.nan]))
    assert np.array_equal(edge[:, :2], [[10.0, 100.0 - 90.0 * np.exp(-0.025)], [0.0, 0.0]])
    assert np.isnan(edge[:, 2]).all()
