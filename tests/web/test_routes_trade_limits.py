"""Configured paper trading through the app (SQLite and PostgreSQL): starting cash, limits
and charges from the settings; an order past a limit answers 409 naming the limit with its
figures and is listed REJECTED; the risk route shows the limits. IDX: INR, lot 50."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from deltastream.papertrade.service import quote_of
from tests.support.trading import trading_app
from tests.web.test_routes_trade import NOW, atm_call, login, market

CONFIGURED = {"paper_starting_cash_inr": 500_000, "paper_starting_cash_usd": 25_000,
              "paper_max_open_lots_inr": 3, "charges_india_brokerage_per_order": 0,
              "charges_india_gst_rate": 0}


@pytest.fixture(params=["sqlite", "postgresql"])
def configured(request, engine, tmp_path) -> Iterator:
    with trading_app(request, engine, tmp_path, NOW, **CONFIGURED) as app:
        yield app.test_client()


def test_starting_cash_limits_and_charges_come_from_the_settings(configured, engine):
    client = configured
    ann = login(client, "ann@example.com")
    portfolio = client.get("/api/trade/portfolio", headers=ann).get_json()
    assert portfolio["cash_balance"] == 500_000 and portfolio["starting_cash"] == 500_000
    assert portfolio["accounts"]["USD"]["cash_balance"] == 25_000
    risk = client.get("/api/trade/risk", headers=ann).get_json()
    assert risk["limits"] == {"max_margin": 500_000, "max_open_lots": 3,
                              "max_gross_exposure": 50_000_000, "max_daily_loss": 500_000}
    usd = client.get("/api/trade/risk?currency=USD", headers=ann).get_json()["limits"]
    assert usd["max_open_lots"] == 500 and usd["max_daily_loss"] == 50_000
    symbol, contract = atm_call(engine)
    ask = quote_of(engine.latest("IDX"), contract).ask
    r = client.post("/api/trade/order", json=market(symbol, 100), headers=ann)
    assert r.status_code == 201
    # No brokerage, no GST: exchange 0.03503 %, SEBI 0.0001 %, stamp 0.003 % of the premium.
    premium = 100 * ask
    charges = sum((premium * Decimal(rate)).quantize(Decimal("0.01"), "ROUND_HALF_UP")
                  for rate in ("0.0003503", "0.000001", "0.00003"))
    portfolio = client.get("/api/trade/portfolio", headers=ann).get_json()
    assert Decimal(repr(portfolio["charges"])) == charges
    assert Decimal(repr(portfolio["cash_balance"])) == 500_000 - premium - charges
    # The figures the limits see: 100 x mid open; lost the charges and the half spread.
    quote = quote_of(engine.latest("IDX"), contract)
    risk = client.get("/api/trade/risk", headers=ann).get_json()
    cent = Decimal("0.01")
    assert Decimal(repr(risk["gross_exposure"])) == (100 * quote.mid).quantize(
        cent, "ROUND_HALF_UP")
    assert Decimal(repr(risk["daily_loss"])) == (
        charges + 100 * (ask - quote.mid)).quantize(cent, "ROUND_HALF_UP")


def test_an_order_past_a_limit_is_409_with_the_figures_and_stored_rejected(
        configured, engine):
    client = configured
    ann = login(client, "ann@example.com")
    symbol, _ = atm_call(engine)
    assert client.post("/api/trade/order", json=market(symbol, 100),
                       headers=ann).status_code == 201
    r = client.post("/api/trade/order", json=market(symbol, 100), headers=ann)
    assert r.status_code == 409
    body = r.get_json()
    detail = body["detail"]
    assert {k: detail[k] for k in ("reason", "name", "limit", "current", "after", "unit")} == {
        "reason": "limit", "name": "max_open_lots", "limit": 3, "current": 2, "after": 4,
        "unit": "lots"}
    assert detail["order"]["status"] == "REJECTED"
    assert "max_open_lots" in body["error"] and "max_open_lots" in detail["order"]["reason"]
    statuses = [o["status"] for o in
                client.get("/api/trade/orders", headers=ann).get_json()["orders"]]
    assert statuses == ["REJECTED", "FILLED"]
    # The third lot fits; closing all three is always allowed.
    assert client.post("/api/trade/order", json=market(symbol, 50),
                       headers=ann).status_code == 201
    assert client.post("/api/trade/order", json=market(symbol, 150, "SELL"),
                       headers=ann).status_code == 201


def test_a_modification_past_a_limit_is_409_and_leaves_the_order(configured, engine):
    client = configured
    ann = login(client, "ann@example.com")
    symbol, _ = atm_call(engine)
    order = client.post("/api/trade/order", headers=ann, json={
        "symbol": symbol, "side": "BUY", "quantity": 100, "order_type": "LIMIT",
        "price": 0.05}).get_json()
    assert order["status"] == "PENDING"
    url = f"/api/trade/order/{order['order_id']}"
    r = client.patch(url, headers=ann, json={"quantity": 200})
    assert r.status_code == 409
    detail = r.get_json()["detail"]
    assert (detail["name"], detail["current"], detail["after"]) == ("max_open_lots", 0, 4)
    assert detail["order"] == order
    assert client.get("/api/trade/orders", headers=ann).get_json()["orders"] == [order]
    assert client.patch(url, headers=ann, json={"quantity": 150}).status_code == 200
