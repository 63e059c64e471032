"""The analysis (acceptance 3 and the figures around it): net Greeks are the sum of the legs'
served Greeks times quantity; legs reordered or duplicated give the same answer; P&L is 0 at
every breakeven (calendars too); margin is the trading package's; the grid and curves."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from deltastream.strategy.analysis import Request, analyse
from deltastream.strategy.legs import Leg, LegError, position_of, resolve
from deltastream.strategy.templates import Template, template_legs
from deltastream.strategy.valuation import Valuer
from deltastream.trading.margin import Market, RiskPosition, india_margin, scan_parameters
from tests.support.strategy import served, with_iv

SNAP = served()
USD = served(american=True)


def _template(name: str, snap=SNAP, **kw) -> list:
    return resolve(snap, template_legs(snap, Template(name, **kw)))


@pytest.mark.parametrize("name", ["iron_condor", "ratio_spread", "covered_call", "calendar"])
def test_net_greeks_are_the_served_greeks_times_quantity(name: str) -> None:
    legs = _template(name)
    out = analyse(SNAP, Request(legs))
    for greek in ("delta", "gamma", "theta", "vega"):
        expected = 0.0
        for leg in legs:
            if leg.kind == "underlying":
                served_value = 1.0 if greek == "delta" else 0.0
            else:
                chain = SNAP.chain_for(leg.expiry)
                side = chain.calls if leg.kind == "call" else chain.puts
                i = int(np.flatnonzero(chain.strikes == leg.strike)[0])
                served_value = float(getattr(side, greek)[i])
            expected += leg.quantity * served_value
        assert out["greeks"][greek] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    money = out["greeks"]["money"]
    assert money["per_1pct_move"] == pytest.approx(out["greeks"]["delta"] * SNAP.spot / 100)
    assert money["per_day"] == out["greeks"]["theta"]
    assert money["per_vol_point"] == out["greeks"]["vega"]


FIGURES = ("breakevens", "max_profit", "max_loss", "probability", "greeks", "margin")


def _close(a, b) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _close(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _close(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9)
    else:
        assert a == b


@pytest.mark.parametrize("name", ["iron_condor", "butterfly", "calendar", "covered_call"])
def test_order_and_duplicates_do_not_change_the_answer(name: str) -> None:
    asked = template_legs(SNAP, Template(name, lots=2))
    reordered = asked[::-1]
    # Each leg of 2 lots asked as two legs of 1 lot, interleaved.
    split = [Leg(g.kind, g.side, g.lots // 2, g.expiry, g.strike) for g in asked] * 2
    base = analyse(SNAP, Request(resolve(SNAP, asked)))
    for other in (reordered, split):
        out = analyse(SNAP, Request(resolve(SNAP, other)))
        for key in FIGURES:
            _close(base[key], out[key])


@pytest.mark.parametrize("name", ["iron_condor", "long_strangle", "calendar", "diagonal",
                                  "ratio_spread"])
def test_pnl_is_zero_at_each_breakeven(name: str) -> None:
    legs = _template(name, strikes_by="delta")
    out = analyse(SNAP, Request(legs))
    assert out["breakevens"]
    position = position_of(legs)
    valuer = Valuer(SNAP, position)
    front = SNAP.chains[0]
    pnl = valuer.pnl(front.time_to_expiry)(np.array(out["breakevens"]))
    lots = max(leg.lots for leg in legs)
    assert np.abs(pnl).max() <= 1e-9 * lots
    grid = out["grid"]
    assert set(out["breakevens"]) <= set(grid["spot"])
    at = [grid["spot"].index(b) for b in out["breakevens"]]
    assert max(abs(grid["expiry"][i]) for i in at) <= 1e-9 * lots


def test_margin_is_the_trading_models() -> None:
    legs = _template("short_strangle")
    out = analyse(SNAP, Request(legs))
    risk = [RiskPosition(int(leg.quantity), leg.kind, leg.strike, leg.time, leg.iv)
            for leg in position_of(legs).contracts]
    market = Market(SNAP.spot, SNAP.terms.rate, SNAP.terms.dividend_yield)
    # As paper trading applies it: INR, the product's scan (by its exchange).
    params = scan_parameters(SNAP.product, SNAP.terms.exchange)
    assert out["margin"]["required"] == float(india_margin(risk, market, params).total)
    assert out["margin"]["required"] > 0
    assert out["max_loss"]["unbounded"] and out["margin"]["return_on_margin"] == pytest.approx(
        out["max_profit"]["value"] / out["margin"]["required"])


def test_us_margin_for_a_usd_product() -> None:
    out = analyse(USD, Request(_template("bull_put_spread", snap=USD)))
    # A vertical's US requirement is its width per paired unit.
    assert out["margin"]["required"] == pytest.approx(2 * USD.terms.strike_step * 100)


def test_curves_and_grid() -> None:
    legs = _template("long_straddle")
    today = SNAP.local_date()
    dates = [today, today + timedelta(days=1)]
    out = analyse(SNAP, Request(legs, dates, "sticky_strike", 300))
    grid = out["grid"]
    assert len(grid["spot"]) >= 300 and all(np.diff(grid["spot"]) > 0)
    assert [d["date"] for d in grid["dates"]] == [d.isoformat() for d in dates]
    # Priced at the mids, today's P&L at the spot is ~0, and at the date of today it is
    # today's curve.
    spot_at = grid["today"][grid["spot"].index(SNAP.spot)]
    assert abs(spot_at) < 1e-6 * SNAP.spot
    np.testing.assert_allclose(grid["dates"][0]["pnl"], grid["today"], rtol=1e-12)
    # A long straddle loses at most its premium, at the strike.
    assert out["max_loss"]["value"] == pytest.approx(-position_of(legs).cost, rel=1e-12)
    v = out["probability"]["lognormal"]["iv"] * math.sqrt(out["time_to_expiry"])
    assert grid["spot"][0] <= out["forward"] * math.exp(-5 * v)
    assert grid["spot"][-1] >= out["forward"] * math.exp(5 * v)


@pytest.mark.parametrize(("request_", "field"), [
    (Request([], [SNAP.chains[0].expiry]), "dates[0]"),
    (Request([], [], "sticky_delta"), "smile"),
    (Request([], [], "sticky_strike", 20), "points"),
])
def test_bad_options_name_the_field(request_: Request, field: str) -> None:
    legs = _template("long_straddle")
    with pytest.raises(LegError) as caught:
        analyse(SNAP, Request(legs, request_.dates, request_.smile, request_.points))
    assert caught.value.parameter == field


@pytest.mark.parametrize("name", ["iron_condor", "short_strangle", "ratio_spread",
                                  "protective_put"])
def test_on_a_flat_smile_both_methods_agree(name: str) -> None:
    flat = with_iv(SNAP, 0.2)
    out = analyse(flat, Request(resolve(flat, template_legs(flat, Template(name)))))
    ln, sm = out["probability"]["lognormal"], out["probability"]["smile"]
    assert ln["iv"] == pytest.approx(0.2, abs=1e-12)
    assert sm["profit"] == pytest.approx(ln["profit"], abs=1e-6)
    assert sm["expected_pnl"] == pytest.approx(ln["expected_pnl"], abs=1e-6 * flat.spot)
    np.testing.assert_allclose(sm["touch"], ln["touch"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["iron_condor", "ratio_spread", "covered_call"])
def test_money_greeks_are_the_repriced_positions_changes(name: str) -> None:
    # Independent of the served Greeks: the position re-priced on the surface (its legs'
    # IVs, the product's model) for a small move of the spot, of time and of every IV.
    legs = _template(name)
    money = analyse(SNAP, Request(legs))["greeks"]["money"]
    s, h = SNAP.spot, 1e-4

    def value(spot: float, elapsed: float = 0.0, shift: float = 0.0) -> float:
        shifted = [replace(g, iv=None if g.iv is None else g.iv + shift) for g in legs]
        return float(Valuer(SNAP, position_of(shifted)).values(np.array([spot]), elapsed)[0])

    up, mid, down = value(s * (1 + h)), value(s), value(s * (1 - h))
    # 1e-4: a condor's net delta is a small difference of its legs' served deltas.
    assert money["per_1pct_move"] == pytest.approx((up - down) / (2 * h) / 100, rel=1e-4)
    assert money["gamma_per_1pct"] == pytest.approx((up - 2 * mid + down) / (h * h) / 1e4,
                                                    rel=1e-3)
    # Vega per volatility point: the value's change for +1 point of every IV (central).
    vol = (value(s, shift=1e-4) - value(s, shift=-1e-4)) / 2e-4 / 100
    assert money["per_vol_point"] == pytest.approx(vol, rel=1e-5)
    # Theta per calendar day: the derivative in time, scaled to one day.
    day = 1 / 365
    theta = (value(s, elapsed=1e-3 * day) - mid) / 1e-3
    assert money["per_day"] == pytest.approx(theta, rel=1e-3)


def test_units_name_every_figure_and_the_currency() -> None:
    out = analyse(SNAP, Request(_template("iron_condor")))
    units = out["units"]
    assert units["money"] == SNAP.terms.currency == "INR"
    named = ({"breakevens", "max_profit", "max_loss", "expected_pnl", "touch",
              "return_on_margin", "probability", "margin"}
             | set(out["greeks"]) - {"money"} | set(out["greeks"]["money"]))
    assert named <= set(units), named - set(units)


@pytest.mark.parametrize("name", ["iron_condor", "long_straddle", "bull_call_spread"])
def test_lognormal_touch_is_the_reflection_principle_against_scipy(name: str) -> None:
    # touch = min(1, 2 P(S_T beyond the breakeven)) on the side away from the spot, with
    # S_T lognormal of mean F and volatility the ATM IV (scipy's law, not the module's).
    out = analyse(SNAP, Request(_template(name)))
    law = out["probability"]["lognormal"]
    v = law["iv"] * math.sqrt(out["time_to_expiry"])
    s_t = stats.lognorm(s=v, scale=out["forward"] * math.exp(-v * v / 2))
    expected = [min(1.0, 2 * (s_t.sf(b) if b >= SNAP.spot else s_t.cdf(b)))
                for b in out["breakevens"]]
    assert len(expected) >= 1
    np.testing.assert_allclose(law["touch"], expected, rtol=1e-9, atol=1e-12)


def test_valuation_dates_start_at_the_exchanges_date() -> None:
    # 20:00 UTC is 01:30 the next day in Kolkata: that day is the first date a request may
    # name, and the UTC date is refused naming the range.
    evening = replace(SNAP, terms=replace(SNAP.terms, timezone="Asia/Kolkata"),
                      timestamp=SNAP.timestamp.replace(hour=20))
    utc_day = evening.timestamp.date()
    assert evening.local_date() == utc_day + timedelta(days=1)
    legs = _template("long_straddle", snap=evening)
    with pytest.raises(LegError) as caught:
        analyse(evening, Request(legs, [utc_day]))
    assert caught.value.parameter == "dates[0]"
    assert (utc_day + timedelta(days=1)).isoformat() in (caught.value.accepted or "")
    out = analyse(evening, Request(legs, [utc_day + timedelta(days=1)]))
    assert [d["date"] for d in out["grid"]["dates"]] == [
        (utc_day + timedelta(days=1)).isoformat()]
