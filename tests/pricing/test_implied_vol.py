"""Implied volatility: machine-precision round trips, and a reason for every price without one."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.pricing import black76, implied_vol
from deltastream.pricing import black_scholes_merton as bsm
from deltastream.pricing.status import IVStatus, labels

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
