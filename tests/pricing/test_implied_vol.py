"""Implied volatility: machine-precision round trips, and a reason for every price without one."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.core.types import IVStatus, labels
from deltastream.pricing import black76, implied_vol
from deltastream.pricing import black_scholes_merton as bsm

from .quantlib_reference import bsm_reference


def _well_posed(g, prices: np.ndarray) -> np.ndarray:
    # Well-posed: one unit in the last place of the price moves sigma by less than 1e-10
    # (vega from QuantLib, per unit of sigma), and the price is a normal double.
    vega = bsm_reference(*g.args())["vega"] * 100.0
    with np.errstate(divide="ignore"):
        return (prices > np.finfo(float).tiny) & (np.spacing(prices) / vega < 1e-10)


@pytest.mark.parametrize("which", ["grid", "stress"])
def test_round_trip_to_1e9_on_every_well_posed_option(which, request):
    g = request.getfixturevalue(which)
    prices = bsm.price(*g.args())
    S, K, T, r, q, sig, call = g.args()
    iv, status = implied_vol.implied_vol(prices, S, K, T, r, q, call)
    wp = _well_posed(g, prices)
    # Deep in-the-money short-dated options have (almost) no time value: ill-posed, not failed.
    assert wp.sum() >= 0.7 * len(g)
    assert np.all(status[wp] == IVStatus.OK)
    err = np.abs(iv[wp] - sig[wp])
    assert err.max() <= 1e-9, int(np.flatnonzero(wp)[np.argmax(err)])
    # Deep out-of-the-money options are part of it, not excluded.
    deep_otm = wp & np.where(call, K > 1.3 * S, K < 0.7 * S)
    assert deep_otm.sum() > 0.05 * len(g)


@pytest.mark.parametrize("which", ["grid", "stress"])
def test_ill_posed_prices_still_reproduce_the_price_or_say_why(which, request):
    g = request.getfixturevalue(which)
    prices = bsm.price(*g.args())
    S, K, T, r, q, _, call = g.args()
    iv, status = implied_vol.implied_vol(prices, S, K, T, r, q, call)
    solved = status == IVStatus.OK
    repriced = bsm.price(S[solved], K[solved], T[solved], r[solved], q[solved], iv[solved],
                         call[solved])
    # The pricer itself is exact to a few ulps of spot; where vega is that small, any sigma
    # in the solver's answer reprices to that accuracy.
    assert np.all(np.abs(repriced - prices[solved]) <= 1e-13 * S[solved])
    unsolved = ~solved
    assert np.all(np.isnan(iv[unsolved]))
    assert set(np.unique(status[unsolved])) <= {IVStatus.NO_TIME_VALUE,
                                                IVStatus.NON_POSITIVE_PRICE}


def test_deep_otm_short_expiry_where_plain_newton_fails():
    # One- and two-day options 20-40 % out of the money at low volatility: prices of 1e-12 to
    # 1e-80 of spot, where Newton on the price itself overshoots or stalls.
    S = 100.0
    K = np.array([120.0, 130.0, 140.0, 80.0, 70.0, 60.0])
    call = K > S
    T = np.array([1.0, 2.0, 1.5, 1.0, 2.0, 1.5]) / 365.0
    sig = np.array([0.9, 1.2, 1.5, 0.9, 1.2, 1.5])
    prices = bsm.price(S, K, T, 0.05, 0.01, sig, call)
    iv, status = implied_vol.implied_vol(prices, S, K, T, 0.05, 0.01, call)
    assert np.all(status == IVStatus.OK)
    assert np.max(np.abs(iv - sig)) <= 1e-12


@pytest.mark.parametrize(
    ("price", "S", "K", "T", "call", "expected"),
    [
        (5.0, 100.0, 90.0, 0.5, True, IVStatus.BELOW_INTRINSIC),
        (14.0, 100.0, 115.0, 0.5, False, IVStatus.BELOW_INTRINSIC),
        (100.0, 100.0, 90.0, 0.5, True, IVStatus.ABOVE_UPPER_BOUND),
        (150.0, 100.0, 90.0, 0.5, False, IVStatus.ABOVE_UPPER_BOUND),
        (3.0, 100.0, 100.0, 0.0, True, IVStatus.NON_POSITIVE_TIME),
        (3.0, 100.0, 100.0, -1.0, True, IVStatus.NON_POSITIVE_TIME),
        (0.0, 100.0, 100.0, 0.5, True, IVStatus.NON_POSITIVE_PRICE),
        (-1.0, 100.0, 100.0, 0.5, True, IVStatus.NON_POSITIVE_PRICE),
        (np.nan, 100.0, 100.0, 0.5, True, IVStatus.INVALID_INPUT),
        (3.0, -100.0, 100.0, 0.5, True, IVStatus.INVALID_INPUT),
        (3.0, 100.0, 0.0, 0.5, True, IVStatus.INVALID_INPUT),
    ],
)
def test_prices_outside_the_bounds_get_nan_and_a_reason(price, S, K, T, call, expected):
    iv, status = implied_vol.implied_vol(price, S, K, T, 0.0, 0.0, call)
    assert np.isnan(iv)
    assert status == expected


def test_price_exactly_at_intrinsic_has_no_time_value():
    intrinsic = 100.0 * np.exp(-0.01 * 0.5) - 90.0 * np.exp(-0.05 * 0.5)
    iv, status = implied_vol.implied_vol(intrinsic, 100.0, 90.0, 0.5, 0.05, 0.01, True)
    assert np.isnan(iv) and status == IVStatus.NO_TIME_VALUE


def test_status_labels_are_api_strings():
    _, status = implied_vol.implied_vol([1.0, 0.0, 200.0], 100.0, 100.0, 0.5, 0.0, 0.0, True)
    assert list(labels(status)) == ["ok", "non_positive_price", "above_upper_bound"]


def test_black76_round_trip_and_haug_example():
    # Haug: Black-76 put, F=19, K=19, T=0.75, r=10 %, sigma=28 % -> 1.7011.
    put = black76.price(19.0, 19.0, 0.75, 0.10, 0.28, False)
    assert put == pytest.approx(1.7011, abs=5e-5)
    iv, status = black76.implied_vol(put, 19.0, 19.0, 0.75, 0.10, False)
    assert status == IVStatus.OK and iv == pytest.approx(0.28, abs=1e-13)


def test_black76_greeks_are_with_respect_to_the_forward():
    g = black76.greeks(100.0, 95.0, 0.5, 0.05, 0.3, True)
    h = 1e-4
    up = black76.price(100.0 + h, 95.0, 0.5, 0.05, 0.3, True)
    down = black76.price(100.0 - h, 95.0, 0.5, 0.05, 0.3, True)
    assert g.delta == pytest.approx((up - down) / (2 * h), rel=1e-7)
    rate_up = black76.price(100.0, 95.0, 0.5, 0.05 + h, 0.3, True)
    rate_down = black76.price(100.0, 95.0, 0.5, 0.05 - h, 0.3, True)
    assert g.rho == pytest.approx((rate_up - rate_down) / (2 * h) / 100, rel=1e-7)
    assert g.rho == pytest.approx(-0.5 * g.price / 100)


@pytest.mark.parametrize("which", ["grid", "stress"])
def test_solving_with_the_greeks_in_one_pass_gives_the_separate_results(which, request):
    g = request.getfixturevalue(which)
    S, K, T, r, q, sig, call = g.args()
    prices = bsm.price(S, K, T, r, q, sig, call)
    iv, status = implied_vol.implied_vol(prices, S, K, T, r, q, call)
    greeks = bsm.greeks(S, K, T, r, q, iv, call, second_order=False)
    iv1, status1, greeks1 = implied_vol.implied_vol_and_greeks(prices, S, K, T, r, q, call)
    assert np.array_equal(iv1, iv, equal_nan=True) and np.array_equal(status1, status)
    for name in bsm.Greeks._fields:
        assert np.array_equal(getattr(greeks1, name), getattr(greeks, name), equal_nan=True)
    # Started at the true volatility: the same answers to the solver's precision, and Greeks
    # exactly those at the volatility it returns.
    iv2, status2, greeks2 = implied_vol.implied_vol_and_greeks(prices, S, K, T, r, q, call,
                                                               sig)
    assert np.array_equal(status2, status)
    ok = status == IVStatus.OK
    assert np.all(np.abs(iv2[ok] - iv[ok]) <= 1e-12 * iv[ok])
    at_iv2 = bsm.greeks(S, K, T, r, q, iv2, call, second_order=False)
    for name in bsm.Greeks._fields:
        assert np.array_equal(getattr(greeks2, name), getattr(at_iv2, name), equal_nan=True)


def test_a_start_at_the_root_stays_there():
    # The first step from the exact volatility is below half an ulp: the solver must stop
    # there rather than take the unchanged point for one outside its bracket and wander off.
    S, K, T, r, q = 1000.0, 668.9150395130329, 0.1672052443762033, 0.055, 0.01
    sig = 0.16690848163748673
    price = bsm.price(S, K, T, r, q, sig, False)
    assert 1e-9 < price < 1e-8
    iv, status, _ = implied_vol.implied_vol_and_greeks(price, S, K, T, r, q, False, sig)
    assert status == IVStatus.OK and abs(iv - sig) <= 1e-12 * sig


@pytest.mark.parametrize("guess", [1e-4, 0.2, 5.0, np.nan, 0.0, -1.0, np.inf])
def test_any_guess_gives_the_answer(guess):
    S, K, r, q = 100.0, np.array([60.0, 90.0, 100.0, 110.0, 150.0]), 0.05, 0.01
    T, sig = np.array([[2.0 / 365.0], [0.5], [3.0]]), 0.35
    prices = bsm.price(S, K, T, r, q, sig, True)
    iv, status, _ = implied_vol.implied_vol_and_greeks(prices, S, K, T, r, q, True, guess)
    ok = status == IVStatus.OK
    assert ok.sum() >= 14
    assert np.all(np.abs(iv[ok] - sig) <= 1e-9)


@pytest.mark.parametrize("which", ["grid", "stress"])
def test_a_chains_calls_and_puts_together_give_the_single_results(which, request):
    # Calls and puts of the same strikes, priced as a chain's two sides: a strike's pair often
    # reduces to the same out-of-the-money price and is solved once; the numbers must be those
    # of solving every option on its own, bit for bit.
    g = request.getfixturevalue(which)
    S, K, T, r, q, sig, _ = g.args()
    prices = bsm.call_put_prices(S, K, T, r, q, sig)
    prices[0, ::97] = np.nan      # a few bad quotes on one side only
    prices[1, ::89] = 0.0
    sides = np.array([[True], [False]])
    for guess in (np.nan, sig):
        iv, status, greeks = implied_vol.implied_vol_and_greeks(prices, S, K, T, r, q, sides,
                                                                guess)
        iv2, status2, greeks2 = implied_vol.chain_implied_vol_and_greeks(prices, S, K, T, r,
                                                                          q, guess)
        assert np.array_equal(iv2, iv, equal_nan=True) and np.array_equal(status2, status)
        for name in bsm.Greeks._fields:
            assert np.array_equal(getattr(greeks2, name), getattr(greeks, name),
                                  equal_nan=True)
    assert np.mean(iv2[0] == iv2[1]) > 0.1   # the shared solve was taken
    with pytest.raises(ValueError, match="shape"):
        implied_vol.chain_implied_vol_and_greeks(prices[0], S, K, T, r, q)
