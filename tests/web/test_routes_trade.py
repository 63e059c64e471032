"""The paper-trading routes through the app, on SQLite and PostgreSQL stores: the contract's
shapes (both order_type spellings, an empty market price), isolation between two users on
every route, an Idempotency-Key retry placing one order, two concurrent orders that together
exceed the margin (one placed, one 409), 400s naming the field and the accepted values, the
market-closed 409 with the next open and after-market queueing, cancel, reset, 401 and 503."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from deltastream.core.types import MarketStatus
from deltastream.papertrade.service import quote_of
from deltastream.settings import Settings
from deltastream.store.trading import ContractRef
from deltastream.web import create_app
from deltastream.web.routes_trade import trading_service
from tests.support.trading import trading_app
from tests.web.test_routes_auth import PASSWORD, bearer, register

NOW = datetime(2026, 11, 25, 10, 0, 10, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def trade_app(request, engine, tmp_path) -> Iterator:
    with trading_app(request, engine, tmp_path, NOW) as app:
        yield app


def login(client, email: str) -> dict[str, str]:
    r = register(client, email=email, password=PASSWORD, name=email.split("@")[0])
    assert r.status_code == 201
    return bearer(r.get_json()["token"])


@pytest.fixture()
def two(trade_app):
    client = trade_app.test_client()
    return client, login(client, "ann@example.com"), login(client, "bob@example.com")


def atm_call(engine) -> tuple[str, ContractRef]:
    chain = engine.latest("IDX").chains[0]
    strike = Decimal(repr(chain.atm_strike))
    return (f"IDX{chain.expiry:%Y%m%d}C{int(strike)}",
            ContractRef("IDX", chain.expiry, strike, "call", "INR"))


def market(symbol: str, quantity: int = 50, side: str = "BUY", **extra) -> dict:
    return {"symbol": symbol, "side": side, "quantity": quantity, "orderType": "MARKET",
            "price": "", **extra}


def test_a_market_order_answers_the_filled_order_in_the_contracts_shape(two, engine):
    client, ann, _ = two
    symbol, contract = atm_call(engine)
    ask = quote_of(engine.latest("IDX"), contract).ask
    r = client.post("/api/trade/order", json=market(symbol, 100), headers=ann)
    assert r.status_code == 201
    order = r.get_json()
    assert order["status"] == "FILLED" and order["quantity"] == 100
    assert order["avg_fill_price"] == float(ask) and order["symbol"] == symbol
    assert order["placed_at"] == "2026-11-25T10:00:10Z" and order["order_type"] == "MARKET"
    assert order["option_type"] == "CE" and order["currency"] == "INR"
    listed = client.get("/api/trade/orders", headers=ann).get_json()["orders"]
    assert [o["order_id"] for o in listed] == [order["order_id"]]
    [position] = client.get("/api/trade/positions", headers=ann).get_json()["positions"]
    assert position["symbol"] and position["quantity"] == 100
    assert position["avg_entry_price"] == float(ask)
    assert position["delta"] > 0
    portfolio = client.get("/api/trade/portfolio", headers=ann).get_json()
    assert portfolio["cash_balance"] < 1_000_000 - 100 * float(ask)   # charges paid too
    assert portfolio["margin_available"] == portfolio["cash_balance"]
    assert set(portfolio["accounts"]) == {"INR", "USD"}
    assert portfolio["accounts"]["USD"]["cash_balance"] == 100_000
    # The snake-case spelling works the same.
    snake = {**market(symbol), "order_type": "MARKET"}
    del snake["orderType"]
    assert client.post("/api/trade/order", json=snake, headers=ann).status_code == 201


def test_every_route_isolates_users(two, engine):
    client, ann, bob = two
    symbol, _ = atm_call(engine)
    assert client.post("/api/trade/order", json=market(symbol), headers=ann).status_code == 201
    resting = client.post("/api/trade/order", headers=ann, json={
        "symbol": symbol, "side": "BUY", "quantity": 50, "order_type": "LIMIT",
        "price": 0.05}).get_json()
    assert resting["status"] == "PENDING"
    assert client.get("/api/trade/orders", headers=bob).get_json() == {"orders": []}
    assert client.get("/api/trade/trades", headers=bob).get_json() == {"trades": []}
    assert client.get("/api/trade/positions", headers=bob).get_json() == {"positions": []}
    bob_portfolio = client.get("/api/trade/portfolio", headers=bob).get_json()
    assert bob_portfolio["cash_balance"] == 1_000_000 and bob_portfolio["total_pnl"] == 0
    assert client.get("/api/trade/pnl", headers=bob).get_json()["realized_pnl"] == 0
    assert client.get("/api/trade/performance", headers=bob).get_json()["trades"] == 0
    assert client.get("/api/trade/risk", headers=bob).get_json()["open_orders"] == 0
    assert client.get("/api/trade/risk", headers=ann).get_json()["open_orders"] == 1
    assert client.get("/api/trade/performance", headers=ann).get_json()["trades"] == 1
    # Another user's order is a 404 and stays as it was.
    gone = client.delete(f"/api/trade/order/{resting['order_id']}", headers=bob)
    assert gone.status_code == 404
    assert client.post("/api/trade/reset", headers=bob).status_code == 200
    orders = client.get("/api/trade/orders?status=PENDING", headers=ann).get_json()["orders"]
    assert [o["order_id"] for o in orders] == [resting["order_id"]]
    cancelled = client.delete(f"/api/trade/order/{resting['order_id']}", headers=ann)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "CANCELLED"
    again = client.delete(f"/api/trade/order/{resting['order_id']}", headers=ann)
    assert again.status_code == 409 and again.get_json()["detail"]["reason"] == "not_open"


def test_an_idempotent_retry_places_one_order(two, engine):
    client, ann, _ = two
    symbol, _ = atm_call(engine)
    headers = {**ann, "Idempotency-Key": "retry-1"}
    first = client.post("/api/trade/order", json=market(symbol), headers=headers)
    again = client.post("/api/trade/order", json=market(symbol), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert len(client.get("/api/trade/orders", headers=ann).get_json()["orders"]) == 1
    assert client.get("/api/trade/performance", headers=ann).get_json()["trades"] == 1


def test_two_concurrent_orders_cannot_together_exceed_the_margin(trade_app, engine):
    client = trade_app.test_client()
    ann = login(client, "ann@example.com")
    symbol, contract = atm_call(engine)
    ask = quote_of(engine.latest("IDX"), contract).ask
    # Cash for one 250-unit order and half of another.
    trading_service(trade_app).starting_cash = {"INR": (375 * ask).quantize(Decimal("1")),
                                                "USD": Decimal("100000")}
    assert client.get("/api/trade/portfolio", headers=ann).status_code == 200
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def place() -> None:
        own = trade_app.test_client()
        barrier.wait()
        codes.append(own.post("/api/trade/order", json=market(symbol, 250),
                              headers=ann).status_code)

    threads = [threading.Thread(target=place) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [201, 409]
    statuses = [o["status"] for o in
                client.get("/api/trade/orders", headers=ann).get_json()["orders"]]
    assert sorted(statuses) == ["FILLED", "REJECTED"]
    assert client.get("/api/trade/portfolio", headers=ann).get_json()["cash_balance"] >= 0


@pytest.mark.parametrize(("body", "field"), [
    ({"side": "BUY", "quantity": 30, "orderType": "MARKET", "price": ""}, "quantity"),
    ({"side": "BUY", "quantity": -50, "orderType": "MARKET", "price": ""}, "quantity"),
    ({"side": "BUY", "quantity": 50, "orderType": "LIMIT", "price": "10.03"}, "price"),
    ({"side": "BUY", "quantity": 50, "orderType": "LIMIT", "price": ""}, "price"),
    ({"side": "SHORT", "quantity": 50, "orderType": "MARKET", "price": ""}, "side"),
    ({"quantity": 50, "orderType": "MARKET", "price": ""}, "side"),
    ({"side": "BUY", "quantity": 50, "orderType": "FOK", "price": ""}, "order_type"),
    ({"side": "BUY", "quantity": 50, "price": "", "time_in_force": "GTC"}, "time_in_force"),
])
def test_bad_orders_are_400_naming_the_field_and_what_it_accepts(two, engine, body, field):
    client, ann, _ = two
    symbol, _ = atm_call(engine)
    r = client.post("/api/trade/order", json={"symbol": symbol, **body}, headers=ann)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["detail"]["parameter"] == field
    assert r.get_json()["detail"]["accepted"]
    assert client.get("/api/trade/orders", headers=ann).get_json()["orders"] == []


def test_bad_symbols_and_queries_are_400(two):
    client, ann, _ = two
    r = client.post("/api/trade/order", json=market("NOPE"), headers=ann)
    assert r.status_code == 400 and r.get_json()["detail"]["parameter"] == "symbol"
    for url, parameter in (("/api/trade/orders?status=DONE", "status"),
                           ("/api/trade/orders?limit=0", "limit"),
                           ("/api/trade/orders?limit=x", "limit"),
                           ("/api/trade/trades?limit=1001", "limit"),
                           ("/api/trade/pnl?period=2d", "period"),
                           ("/api/trade/portfolio?currency=EUR", "currency")):
        r = client.get(url, headers=ann)
        assert r.status_code == 400 and r.get_json()["detail"]["parameter"] == parameter, url
    r = client.post("/api/trade/order", data="x", headers=ann)
    assert r.status_code == 400 and r.get_json()["detail"]["parameter"] == "body"


def test_a_closed_market_is_409_with_the_next_open_unless_after_market(
        trade_app, engine, monkeypatch):
    opens = datetime(2026, 11, 26, 3, 45, tzinfo=UTC)
    live = engine.latest

    def closed(product):
        snap = live(product)
        return None if snap is None else dataclasses.replace(
            snap, market_status=MarketStatus.CLOSED, market_status_until=opens)

    monkeypatch.setattr(engine, "latest", closed)
    client = trade_app.test_client()
    ann = login(client, "ann@example.com")
    symbol, _ = atm_call(engine)
    r = client.post("/api/trade/order", json=market(symbol), headers=ann)
    assert r.status_code == 409
    assert r.get_json()["detail"] == {"reason": "market_closed", "product": "IDX",
                                      "next_open": "2026-11-26T03:45:00Z"}
    queued = client.post("/api/trade/order", json=market(symbol, after_market=True),
                         headers=ann)
    assert queued.status_code == 201
    assert queued.get_json()["status"] == "PENDING" and queued.get_json()["after_market"]


def test_credentials_are_required_and_api_keys_work(two, engine):
    client, ann, _ = two
    assert client.get("/api/trade/portfolio").status_code == 401
    assert client.post("/api/trade/order", json=market("IDX")).status_code == 401
    key = client.post("/api/auth/api-keys", json={"name": "bot"}, headers=ann).get_json()["key"]
    r = client.get("/api/trade/portfolio", headers={"X-API-Key": key})
    assert r.status_code == 200 and r.get_json()["cash_balance"] == 1_000_000
    # Credentials that are wrong are a 401 JSON answer on every trade route, never a 500.
    for headers in ({"Authorization": "Bearer not-a-token"}, {"X-API-Key": "ds_nothing"},
                    {"Authorization": "Bearer " + "x" * 5000}):
        for method, path in (("GET", "/api/trade/orders"), ("GET", "/api/trade/portfolio"),
                             ("DELETE", "/api/trade/order/1"), ("POST", "/api/trade/order")):
            r = client.open(path, method=method, headers=headers, json=market("IDX"))
            assert r.status_code == 401 and "error" in r.get_json(), (headers, path)


def test_pnl_after_a_round_trip_is_the_spread_and_the_charges(two, engine):
    client, ann, _ = two
    symbol, contract = atm_call(engine)
    quote = quote_of(engine.latest("IDX"), contract)
    client.post("/api/trade/order", json=market(symbol, 50), headers=ann)
    client.post("/api/trade/order", json=market(symbol, 50, "SELL"), headers=ann)
    pnl = client.get("/api/trade/pnl?period=1d", headers=ann).get_json()
    gross = 50 * (quote.bid - quote.ask)
    assert pnl["realized_pnl"] == pytest.approx(float(gross) - pnl["charges"], abs=1e-9)
    assert pnl["unrealized_pnl"] == 0 and pnl["history"][0]["date"] == "2026-11-25"
    portfolio = client.get("/api/trade/portfolio", headers=ann).get_json()
    assert portfolio["cash_balance"] == pytest.approx(1_000_000 + pnl["realized_pnl"])
    assert portfolio["margin_used"] == 0
    assert client.get("/api/trade/positions", headers=ann).get_json()["positions"] == []
    # One trade per fill, newest first: the sell at the bid, the buy at the ask; their
    # charges are the P&L's.
    sell, buy = client.get("/api/trade/trades", headers=ann).get_json()["trades"]
    assert (sell["side"], sell["price"], buy["side"], buy["price"]) == (
        "SELL", float(quote.bid), "BUY", float(quote.ask))
    assert sell["trade_id"] > buy["trade_id"] and sell["symbol"] == buy["symbol"] == symbol
    assert sell["quantity"] == buy["quantity"] == 50 and buy["option_type"] == "CE"
    assert sell["charges"] + buy["charges"] == pytest.approx(pnl["charges"], abs=1e-9)
    assert buy["filled_at"] == "2026-11-25T10:00:10Z" and buy["currency"] == "INR"
    orders = client.get("/api/trade/orders", headers=ann).get_json()["orders"]
    assert {t["order_id"] for t in (sell, buy)} == {o["order_id"] for o in orders}
    assert len(client.get("/api/trade/trades?limit=1", headers=ann).get_json()["trades"]) == 1
    reset = client.post("/api/trade/reset", headers=ann).get_json()
    assert reset["portfolio"]["cash_balance"] == 1_000_000
    assert client.get("/api/trade/orders", headers=ann).get_json()["orders"] == []
    assert client.get("/api/trade/trades", headers=ann).get_json()["trades"] == []


def test_without_a_store_the_routes_answer_503(engine, tmp_path):
    app = create_app(Settings(data_dir=tmp_path), feed=engine, start_feed=False)
    r = app.test_client().get("/api/trade/portfolio", headers=bearer("x"))
    assert r.status_code == 503
