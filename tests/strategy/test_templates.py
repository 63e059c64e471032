"""Templates: each one's legs (types, sides, ratios, strike order), strikes by distance from
the ATM strike, by the served delta, explicitly, and the errors naming the template field."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.strategy.legs import LegError
from deltastream.strategy.templates import TEMPLATES, Template, template_legs
from tests.support.strategy import served

SNAP = served()
CHAIN = SNAP.chains[0]
STEP = CHAIN.strike_step
ATM = float(CHAIN.atm_strike)

# name -> [(type, side, lots, strike offset from ATM in steps)] with distance 2, width 2.
SHAPES = {
    "long_straddle": [("call", "buy", 1, 2), ("put", "buy", 1, 2)],
    "short_straddle": [("call", "sell", 1, 2), ("put", "sell", 1, 2)],
    "long_strangle": [("put", "buy", 1, -2), ("call", "buy", 1, 2)],
    "short_strangle": [("put", "sell", 1, -2), ("call", "sell", 1, 2)],
    "bull_call_spread": [("call", "buy", 1, 2), ("call", "sell", 1, 4)],
    "bear_call_spread": [("call", "sell", 1, 2), ("call", "buy", 1, 4)],
    "bull_put_spread": [("put", "sell", 1, -2), ("put", "buy", 1, -4)],
    "bear_put_spread": [("put", "buy", 1, -2), ("put", "sell", 1, -4)],
    "iron_condor": [("put", "buy", 1, -4), ("put", "sell", 1, -2), ("call", "sell", 1, 2),
                    ("call", "buy", 1, 4)],
    "iron_butterfly": [("put", "buy", 1, 0), ("put", "sell", 1, 2), ("call", "sell", 1, 2),
                       ("call", "buy", 1, 4)],
    "butterfly": [("call", "buy", 1, 0), ("call", "sell", 2, 2), ("call", "buy", 1, 4)],
    "calendar": [("call", "sell", 1, 2), ("call", "buy", 1, 2)],
    "diagonal": [("call", "sell", 1, 2), ("call", "buy", 1, 0)],
    "ratio_spread": [("call", "buy", 1, 2), ("call", "sell", 2, 4)],
    "covered_call": [("underlying", "buy", 1, None), ("call", "sell", 1, 2)],
    "protective_put": [("underlying", "buy", 1, None), ("put", "buy", 1, -2)],
}


def test_every_template_has_a_shape() -> None:
    assert set(SHAPES) == set(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_legs_by_distance(name: str) -> None:
    legs = template_legs(SNAP, Template(name))
    got = [(leg.kind, leg.side, leg.lots,
            None if leg.strike is None else round((leg.strike - ATM) / STEP)) for leg in legs]
    assert got == SHAPES[name]
    expiries = {leg.expiry for leg in legs if leg.kind != "underlying"}
    if name in ("calendar", "diagonal"):
        assert legs[0].expiry == CHAIN.expiry and legs[1].expiry == SNAP.chains[1].expiry
    else:
        assert expiries == {CHAIN.expiry}


def test_strikes_by_delta_are_the_nearest_served_deltas() -> None:
    legs = template_legs(SNAP, Template("short_strangle", strikes_by="delta", delta=0.2))
    put, call = legs
    calls, puts = np.asarray(CHAIN.calls.delta), np.asarray(CHAIN.puts.delta)
    assert call.strike == float(CHAIN.strikes[np.argmin(np.abs(calls - 0.2))])
    assert put.strike == float(CHAIN.strikes[np.argmin(np.abs(puts + 0.2))])
    assert put.strike < ATM < call.strike


def test_explicit_strikes_and_lots() -> None:
    ks = [ATM - 200, ATM - 100, ATM + 100, ATM + 200]
    legs = template_legs(SNAP, Template("iron_condor", strikes_by="explicit",
                                        strikes=tuple(ks), lots=3))
    assert [leg.strike for leg in legs] == ks and {leg.lots for leg in legs} == {3}


def test_calendar_back_expiry() -> None:
    back = SNAP.chains[2].expiry
    legs = template_legs(SNAP, Template("calendar", back_expiry=back))
    assert legs[1].expiry == back


@pytest.mark.parametrize(("template", "field"), [
    (Template("condor"), "template.name"),
    (Template("iron_condor", width=500), "template.width"),
    (Template("long_straddle", distance=999), "template.distance"),
    (Template("iron_condor", strikes_by="explicit", strikes=(1.0, 2.0)), "template.strikes"),
    (Template("butterfly", strikes_by="explicit", strikes=(ATM - 50, ATM + 1, ATM + 50)),
     "template.strikes[1]"),
    (Template("calendar", back_expiry=CHAIN.expiry), "template.back_expiry"),
    (Template("long_straddle", delta=1.5), "template.delta"),
    (Template("long_straddle", lots=0), "template.lots"),
])
def test_template_errors_name_the_field(template: Template, field: str) -> None:
    with pytest.raises(LegError) as caught:
        template_legs(SNAP, template)
    assert caught.value.parameter == field
