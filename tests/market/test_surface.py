"""SSVI surface: no butterfly or calendar arbitrage, level follows the current variance."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.market import surface
from deltastream.pricing import black_scholes_merton as bsm

MODEL = surface.SurfaceModel(skew=-0.7, curvature=1.1, decay=0.4)
EXPIRIES = np.array([1, 2, 7, 14, 30, 60, 91, 182, 365]) / 365.0


def thetas(variance: float) -> np.ndarray:
    return surface.atm_total_variance(EXPIRIES, variance, 0.13, 0.0145, 12.0, 1.08)


@pytest.mark.parametrize("variance", [0.005, 0.0169, 0.08])
def test_call_prices_are_decreasing_and_convex_in_strike(variance):
    spot = 100.0
    strikes = np.linspace(50.0, 150.0, 2001)
    for t, th in zip(EXPIRIES, thetas(variance), strict=True):
        vol = surface.implied_vol(np.log(strikes / spot), t, th, MODEL)
        calls = bsm.price(spot, strikes, t, 0.0, 0.0, vol, True)
        assert np.all(np.diff(calls) <= 1e-12)
        assert np.all(np.diff(calls, 2) >= -1e-10)


@pytest.mark.parametrize("variance", [0.005, 0.0169, 0.08])
def test_total_variance_is_non_decreasing_in_expiry_at_fixed_moneyness(variance):
    k = np.linspace(-1.0, 1.0, 201)
    w = np.array([surface.total_variance(k, th, MODEL) for th in thetas(variance)])
    assert np.all(np.diff(w, axis=0) >= 0)


def test_short_end_follows_the_current_variance_long_end_the_level():
    low, high = thetas(0.005), thetas(0.08)
    short_low, short_high = np.sqrt(low[0] / EXPIRIES[0]), np.sqrt(high[0] / EXPIRIES[0])
    long_low, long_high = np.sqrt(low[-1] / EXPIRIES[-1]), np.sqrt(high[-1] / EXPIRIES[-1])
    # Calm market: upward-sloping term structure; stressed market: inverted.
    assert short_low < long_low and short_high > long_high
    assert 0.28 < short_high and short_low < 0.10
    assert abs(long_high - long_low) < 0.5 * abs(short_high - short_low)


def test_negative_skew_makes_downside_strikes_dearer():
    vol = surface.implied_vol(np.array([-0.1, 0.0, 0.1]), 30 / 365, thetas(0.0169)[4], MODEL)
    assert vol[0] > vol[1] > vol[2]


@pytest.mark.parametrize("bad", [dict(skew=-1.0, curvature=1.0),
                                 dict(skew=-0.5, curvature=1.5),
                                 dict(skew=0.0, curvature=1.0, decay=0.7)])
def test_arbitrageable_parameters_are_rejected(bad):
    with pytest.raises(ValueError):
        surface.SurfaceModel(**bad)
