"""Legs checked against a snapshot (errors naming leg and field) and merged into positions
that do not depend on the legs' order or on a leg split in several."""

from __future__ import annotations

from datetime import date

import pytest

from deltastream.strategy.legs import MAX_LEGS, Leg, LegError, position_of, resolve
from tests.support.strategy import served

SNAP = served()
CHAIN = SNAP.chains[0]
ATM = float(CHAIN.atm_strike)


def _leg(**kw) -> Leg:
    base = {"kind": "call", "side": "buy", "lots": 1, "expiry": CHAIN.expiry, "strike": ATM}
    return Leg(**{**base, **kw})


def test_a_leg_takes_the_served_mid_and_greeks() -> None:
    [leg] = resolve(SNAP, [_leg(kind="put", side="sell", lots=2)])
    i = int((CHAIN.strikes == ATM).nonzero()[0][0])
    assert leg.quantity == -2 * SNAP.terms.lot_size
    assert leg.price == float(CHAIN.puts.mid[i]) and leg.iv == float(CHAIN.puts.iv[i])
    assert (leg.delta, leg.gamma, leg.theta, leg.vega) == (
        float(CHAIN.puts.delta[i]), float(CHAIN.puts.gamma[i]), float(CHAIN.puts.theta[i]),
        float(CHAIN.puts.vega[i]))
    [given] = resolve(SNAP, [_leg(price=12.5)])
    assert given.price == 12.5


def test_the_underlying_is_delta_one_at_the_spot() -> None:
    [leg] = resolve(SNAP, [Leg("underlying", "sell", 3)])
    assert leg.quantity == -3 * SNAP.terms.lot_size and leg.price == SNAP.spot
    assert (leg.delta, leg.gamma, leg.theta, leg.vega, leg.expiry) == (1.0, 0, 0, 0, None)


@pytest.mark.parametrize(("leg", "field"), [
    (_leg(lots=0), "legs[1].lots"),
    (_leg(lots=1.5), "legs[1].lots"),
    (_leg(lots=-1), "legs[1].lots"),
    (_leg(strike=ATM + 1), "legs[1].strike"),
    (_leg(strike=None), "legs[1].strike"),
    (_leg(expiry=date(2031, 1, 2)), "legs[1].expiry"),
    (_leg(kind="future"), "legs[1].type"),
    (_leg(side="long"), "legs[1].side"),
    (_leg(price=float("nan")), "legs[1].price"),
    (_leg(price=1e308), "legs[1].price"),
    (Leg("underlying", "buy", 1, price=101 * SNAP.spot), "legs[1].price"),
    (_leg(product="OTHER"), "legs[1].product"),
    (_leg(units=0.0), "legs[1].quantity"),
])
def test_bad_legs_name_index_and_field(leg: Leg, field: str) -> None:
    with pytest.raises(LegError) as caught:
        resolve(SNAP, [_leg(), leg])
    assert caught.value.parameter == field and caught.value.accepted


def test_leg_count() -> None:
    with pytest.raises(LegError) as caught:
        resolve(SNAP, [_leg()] * (MAX_LEGS + 1))
    assert caught.value.parameter == "legs"
    with pytest.raises(LegError):
        resolve(SNAP, [])


def test_position_is_independent_of_order_and_splitting() -> None:
    legs = [_leg(kind="put", strike=ATM - 100, lots=3), _leg(side="sell", lots=2),
            _leg(strike=ATM + 100, lots=1, price=7.25), Leg("underlying", "buy", 1)]
    split = [_leg(kind="put", strike=ATM - 100, lots=1), _leg(side="sell", lots=1),
             Leg("underlying", "buy", 1), _leg(kind="put", strike=ATM - 100, lots=2),
             _leg(strike=ATM + 100, lots=1, price=7.25), _leg(side="sell", lots=1)]
    a = position_of(resolve(SNAP, legs))
    b = position_of(resolve(SNAP, legs[::-1]))
    c = position_of(resolve(SNAP, split))
    assert a == b
    assert [(x.kind, x.strike, x.quantity) for x in a.contracts] == \
        [(x.kind, x.strike, x.quantity) for x in c.contracts]
    assert c.cost == pytest.approx(a.cost, rel=1e-15)
    # Canonical order: the underlying first, then by expiry, type, strike.
    assert [x.kind for x in a.contracts] == ["underlying", "call", "call", "put"]


def test_a_closed_contract_keeps_its_premium() -> None:
    legs = resolve(SNAP, [_leg(price=10.0), _leg(side="sell", price=12.0)])
    position = position_of(legs)
    [contract] = position.contracts
    assert contract.quantity == 0
    assert position.cost == pytest.approx(-2.0 * SNAP.terms.lot_size)
