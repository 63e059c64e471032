"""Valuation on the served surface: at the served spot each option is worth its served mid
(European and American); sticky moneyness takes the smile's IV at K S0 / S; legs that
outlive the valuation expiry are priced by the product's model at their remaining time;
expired legs are worth their intrinsic value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deltastream.pricing import american
from deltastream.pricing import black_scholes_merton as bsm
from deltastream.strategy.density import served_smile
from deltastream.strategy.legs import Leg, position_of, resolve
from deltastream.strategy.valuation import Valuer
from tests.support.strategy import served

EURO = served()
AMER = served(american=True)


def _one(snap, kind: str, offset: int, j: int = 0, side: str = "buy"):
    chain = snap.chains[j]
    strike = float(chain.strikes[chain.strikes.size // 2 + offset])
    return Leg(kind, side, 1, chain.expiry, strike)


@pytest.mark.parametrize("snap", [EURO, AMER], ids=["european", "american"])
@pytest.mark.parametrize("kind", ["call", "put"])
@pytest.mark.parametrize("offset", [-6, 0, 5])
def test_today_at_the_spot_is_the_served_mid(snap, kind: str, offset: int) -> None:
    legs = resolve(snap, [_one(snap, kind, offset, j=1)])
    valuer = Valuer(snap, position_of(legs))
    value = float(valuer.values(np.array([snap.spot]), 0.0)[0]) / legs[0].quantity
    # The served IV was solved from the mid with the product's own model.
    assert value == pytest.approx(legs[0].price, abs=1e-6 * snap.spot)
    assert float(valuer.pnl(0.0)(np.array([snap.spot]))[0]) == pytest.approx(
        0.0, abs=1e-6 * snap.spot * abs(legs[0].quantity))


def test_sticky_moneyness_moves_the_smile_with_the_spot() -> None:
    legs = resolve(EURO, [_one(EURO, "call", 3, j=1)])
    leg = legs[0]
    position = position_of(legs)
    spots = np.array([EURO.spot * 0.98, EURO.spot, EURO.spot * 1.03])
    strike_v = Valuer(EURO, position, "sticky_strike").values(spots, 0.0)
    money_v = Valuer(EURO, position, "sticky_moneyness").values(spots, 0.0)
    assert money_v[1] == pytest.approx(strike_v[1], rel=1e-9)
    chain = EURO.chains[1]
    smile = served_smile(chain)
    assert smile is not None
    vol = smile.iv(leg.strike * EURO.spot / spots)
    expected = leg.quantity * bsm.price(spots, leg.strike, chain.time_to_expiry, chain.rate,
                                        chain.dividend_yield, vol, True)
    np.testing.assert_allclose(money_v, expected, rtol=1e-12)
    # A put skew: the spot up, the strike lower in moneyness, its IV higher.
    assert money_v[2] > strike_v[2] and money_v[0] < strike_v[0]


def test_sticky_moneyness_at_listed_strikes_takes_their_served_iv() -> None:
    # Independent of the smile's interpolation: at the spot S = S0 K / K' the strike of equal
    # moneyness is the listed K', whose served out-of-the-money IV (put below the forward,
    # call at and above) the leg must take; priced here by Black-Scholes-Merton directly.
    chain = EURO.chains[1]
    strikes = np.asarray(chain.strikes, dtype=float)
    middle = strikes.size // 2
    leg_strike = float(strikes[middle])
    legs = resolve(EURO, [Leg("call", "buy", 1, chain.expiry, leg_strike)])
    others = strikes[middle - 6:middle + 7:3]
    spots = EURO.spot * leg_strike / others
    otm = np.where(others < chain.forward,
                   [chain.puts.iv[int(np.flatnonzero(strikes == k)[0])] for k in others],
                   [chain.calls.iv[int(np.flatnonzero(strikes == k)[0])] for k in others])
    assert np.ptp(otm) > 0.005          # a skewed smile, or the test could not fail
    expected = legs[0].quantity * np.array([
        bsm.price(s, leg_strike, chain.time_to_expiry, chain.rate, chain.dividend_yield,
                  float(v), True) for s, v in zip(spots, otm, strict=True)])
    got = Valuer(EURO, position_of(legs), "sticky_moneyness").values(spots, 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_a_back_leg_is_priced_at_its_remaining_time() -> None:
    front, back = EURO.chains[0], EURO.chains[1]
    k = float(front.atm_strike)
    legs = resolve(EURO, [Leg("call", "sell", 1, front.expiry, k),
                          Leg("call", "buy", 1, back.expiry, k)])
    valuer = Valuer(EURO, position_of(legs))
    spots = np.array([k * 0.95, k, k * 1.05])
    got = valuer.values(spots, front.time_to_expiry)
    tau = back.time_to_expiry - front.time_to_expiry
    expected = (-legs[0].quantity * -np.maximum(spots - k, 0.0)
                + legs[1].quantity * bsm.price(spots, k, tau, back.rate, back.dividend_yield,
                                               legs[1].iv, True))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # Deep in the money a European call with a dividend yield grows by e^{-q tau} per unit.
    slope = valuer.final_slope(front.time_to_expiry)
    assert slope == pytest.approx(legs[1].quantity * (math.exp(-back.dividend_yield * tau)
                                                      - 1), rel=1e-12)


def test_american_legs_use_the_american_pricer() -> None:
    chain = AMER.chains[2]
    legs = resolve(AMER, [Leg("put", "buy", 1, chain.expiry,
                              float(chain.strikes[chain.strikes.size // 2 + 4]))])
    spots = np.array([AMER.spot * 0.9, AMER.spot])
    got = Valuer(AMER, position_of(legs)).values(spots, 0.01)
    expected = legs[0].quantity * american.price(spots, legs[0].strike,
                                                 chain.time_to_expiry - 0.01, chain.rate,
                                                 chain.dividend_yield, legs[0].iv, False)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # Early exercise: never below intrinsic, unlike the European value deep in the money.
    assert got[0] >= legs[0].quantity * (legs[0].strike - spots[0]) - 1e-9


def test_expired_legs_are_worth_their_intrinsic_value() -> None:
    chain = EURO.chains[0]
    legs = resolve(EURO, [_one(EURO, "put", 2), Leg("underlying", "sell", 1)])
    valuer = Valuer(EURO, position_of(legs))
    spots = np.array([0.0, legs[0].strike - 10, legs[0].strike + 10])
    got = valuer.values(spots, chain.time_to_expiry)
    expected = (legs[0].quantity * np.maximum(legs[0].strike - spots, 0.0)
                + legs[1].quantity * spots)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
