"""POST /api/strategy/analyze through the app: the shapes of the shared API, the figures the
strategy core computes on the same snapshot, legs and templates giving one answer, the user's
paper positions, and 400s naming the leg and field (never a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from deltastream.strategy.analysis import Request, analyse
from deltastream.strategy.legs import resolve
from deltastream.strategy.templates import Template, template_legs
from deltastream.web.strategy_models import AnalyzeResponse
from tests.support.trading import trading_app
from tests.web.test_routes_auth import PASSWORD, bearer, register
from tests.web.test_routes_trade import atm_call, market

URL = "/api/strategy/analyze"
NOW = datetime(2026, 11, 25, 10, 0, 10, tzinfo=UTC)


def _condor_legs(engine) -> list[dict]:
    chain = engine.latest("IDX").chains[0]
    atm = float(chain.atm_strike)
    e = chain.expiry.isoformat()
    return [{"expiry": e, "strike": atm - 200, "type": "put", "side": "buy", "lots": 1},
            {"expiry": e, "strike": atm - 100, "type": "put", "side": "sell", "lots": 1},
            {"expiry": e, "strike": atm + 100, "type": "call", "side": "sell", "lots": 1},
            {"expiry": e, "strike": atm + 200, "type": "call", "side": "buy", "lots": 1}]


def test_iron_condor_shapes(client, engine) -> None:
    r = client.post(URL, json={"product": "IDX", "legs": _condor_legs(engine),
                               "points": 200})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    AnalyzeResponse.model_validate(body)     # the documented shape, no field more or less
    assert {"product", "currency", "spot", "timestamp", "sequence", "lot_size",
            "valuation_expiry", "smile", "legs", "grid", "breakevens", "max_profit",
            "max_loss", "probability", "greeks", "margin", "units"} <= set(body)
    assert body["product"] == "IDX" and body["currency"] == "INR" and body["lot_size"] == 50
    assert body["timestamp"].endswith("Z") and body["smile"] == "sticky_strike"
    assert len(body["legs"]) == 4 and body["legs"][0]["quantity"] == 50
    assert set(body["legs"][0]) == {"product", "expiry", "strike", "type", "side", "lots",
                                    "quantity", "price", "iv", "delta", "gamma", "theta",
                                    "vega"}
    grid = body["grid"]
    assert len(grid["spot"]) == len(grid["expiry"]) == len(grid["today"])
    assert len(grid["spot"]) >= 200 and grid["dates"] == []
    assert set(body["breakevens"]) <= set(grid["spot"])
    assert len(body["breakevens"]) == 2 and body["breakevens"] == sorted(body["breakevens"])
    assert body["max_profit"]["unbounded"] is False and body["max_profit"]["value"] > 0
    assert body["max_loss"]["unbounded"] is False and body["max_loss"]["value"] < 0
    for law in ("lognormal", "smile"):
        p = body["probability"][law]
        assert 0 < p["profit"] < 1 and len(p["touch"]) == 2
    assert body["probability"]["lognormal"]["iv"] > 0
    assert set(body["greeks"]["money"]) >= {"per_1pct_move", "per_day", "per_vol_point"}
    assert body["margin"]["required"] > 0
    assert body["margin"]["return_on_margin"] == pytest.approx(
        body["max_profit"]["value"] / body["margin"]["required"])


def test_route_serves_the_core_figures(client, engine) -> None:
    snap = engine.latest("IDX")
    body = client.post(URL, json={"product": "IDX", "template": {
        "name": "iron_condor", "strikes_by": "delta", "delta": 0.2}}).get_json()
    core = analyse(snap, Request(resolve(snap, template_legs(
        snap, Template("iron_condor", strikes_by="delta", delta=0.2)))))
    assert body["breakevens"] == core["breakevens"]
    assert body["probability"] == core["probability"]
    assert body["greeks"] == core["greeks"]
    assert body["sequence"] == snap.sequence


def test_template_and_its_legs_agree(client, engine) -> None:
    legs = _condor_legs(engine)
    strikes = sorted(leg["strike"] for leg in legs)
    by_legs = client.post(URL, json={"product": "IDX", "legs": legs[::-1]}).get_json()
    by_template = client.post(URL, json={"product": "IDX", "template": {
        "name": "iron_condor", "strikes_by": "explicit", "strikes": strikes}}).get_json()
    for key in ("breakevens", "max_profit", "max_loss", "probability", "greeks", "margin"):
        assert by_legs[key] == by_template[key], key


def test_dates_and_sticky_moneyness(client, engine) -> None:
    snap = engine.latest("IDX")
    expiry = snap.chains[1].expiry
    today = snap.timestamp.date()
    body = client.post(URL, json={
        "product": "IDX", "smile": "sticky_moneyness",
        "dates": [(today + timedelta(days=1)).isoformat()],
        "template": {"name": "long_straddle", "expiry": expiry.isoformat()}}).get_json()
    assert body["smile"] == "sticky_moneyness"
    [curve] = body["grid"]["dates"]
    assert curve["date"] == (today + timedelta(days=1)).isoformat()
    assert len(curve["pnl"]) == len(body["grid"]["spot"])


def test_calendar_is_valued_at_the_front_expiry(client, engine) -> None:
    snap = engine.latest("IDX")
    body = client.post(URL, json={"product": "IDX", "template": {"name": "calendar"}}
                       ).get_json()
    assert body["valuation_expiry"] == snap.chains[0].expiry.isoformat()
    assert body["exact_expiry_payoff"] is False and len(body["breakevens"]) == 2
    AnalyzeResponse.model_validate(body)


@pytest.mark.parametrize(("change", "parameter"), [
    (lambda legs: legs[2].update(lots=0), "legs[2].lots"),
    (lambda legs: legs[1].update(lots=1.5), "legs[1].lots"),
    (lambda legs: legs[3].update(strike=123.0), "legs[3].strike"),
    (lambda legs: legs[0].update(expiry="2031-01-02"), "legs[0].expiry"),
    (lambda legs: legs[0].update(type="future"), "legs[0].type"),
    (lambda legs: legs[1].update(side="short"), "legs[1].side"),
    (lambda legs: legs[2].update(price=-1), "legs[2].price"),
    # Would overflow the position's money figures (a 200 with null breakevens before).
    (lambda legs: legs[2].update(price=1e308), "legs[2].price"),
    (lambda legs: legs.extend(legs * 3), "legs"),
])
def test_bad_legs_name_leg_and_field(client, engine, change, parameter) -> None:
    legs = _condor_legs(engine)
    change(legs)
    r = client.post(URL, json={"product": "IDX", "legs": legs})
    assert r.status_code == 400, r.get_json()
    body = r.get_json()
    assert body["detail"]["parameter"] == parameter
    assert body["detail"]["accepted"]


@pytest.mark.parametrize(("body", "parameter"), [
    ({"product": "IDX"}, "legs"),
    ({"product": "IDX", "template": {"name": "condor"}}, "template.name"),
    ({"product": "IDX", "template": {"name": "bull_call_spread", "width": 500}},
     "template.width"),
    ({"product": "IDX", "template": {"name": "butterfly", "strikes_by": "explicit",
                                     "strikes": [1.0, 2.0]}}, "template.strikes"),
    ({"product": "IDX", "points": 10, "template": {"name": "long_straddle"}}, "points"),
    ({"product": "IDX", "dates": ["2031-01-01"], "template": {"name": "long_straddle"}},
     "dates[0]"),
    ({"product": "IDX", "smile": "sticky_delta", "template": {"name": "long_straddle"}},
     "smile"),
    ({"legs": []}, "legs"),
])
def test_bad_requests_name_the_field(client, body, parameter) -> None:
    r = client.post(URL, json=body)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["detail"]["parameter"] == parameter


def test_unknown_product_and_not_json(client) -> None:
    r = client.post(URL, json={"product": "NOPE", "template": {"name": "long_straddle"}})
    assert r.status_code == 404
    r = client.post(URL, data="[1", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["detail"]["parameter"] == "body"


def test_positions_need_credentials(client) -> None:
    r = client.post(URL, json={"positions": True})
    assert r.status_code in (401, 503)


@pytest.fixture(params=["sqlite"])
def trade_app(request, engine, tmp_path) -> Iterator:
    with trading_app(request, engine, tmp_path, NOW) as app:
        yield app


def test_positions_analysed_at_their_entry_price(trade_app, engine) -> None:
    client = trade_app.test_client()
    r = register(client, email="ann@example.com", password=PASSWORD, name="ann")
    ann = bearer(r.get_json()["token"])
    symbol, _ = atm_call(engine)
    assert client.post("/api/trade/order", json=market(symbol, 100),
                       headers=ann).status_code == 201
    [held] = client.get("/api/trade/positions", headers=ann).get_json()["positions"]
    r = client.post(URL, json={"positions": True}, headers=ann)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    [leg] = body["legs"]
    assert leg["quantity"] == 100 and leg["price"] == held["avg_entry_price"]
    assert leg["type"] == "call" and body["max_profit"]["unbounded"] is True
    # A long call breaks even at its strike plus what it cost.
    assert body["breakevens"] == [pytest.approx(leg["strike"] + leg["price"], abs=1e-9)]
    assert body["greeks"]["delta"] == pytest.approx(100 * leg["delta"], rel=1e-12)
