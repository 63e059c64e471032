"""Modifying an open order (``PATCH /api/trade/order/<id>``) through the app, on SQLite and
PostgreSQL stores: quantity, limit and stop price changed and recorded (``updated_at``), the
checks of placement (lot multiples, tick, a quantity not below what has filled: 400 naming
the field), a limit moved through the touch filling at once at the ask, the margin checked
again (409 with the figures, the order left as it was), another user's order 404, filled and
cancelled orders 409, and an Idempotency-Key retry answering the order as it stands.

The market is the web tests' simulated one: IDX in INR, lot 50, tick 0.05, 500 units (ten
lots) at the touch."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from deltastream.papertrade.service import quote_of
from deltastream.web.routes_auth import auth_state
from deltastream.web.routes_trade import trading_service
from tests.web.test_routes_trade import NOW, atm_call, login, trade_app, two

__all__ = ["trade_app", "two"]     # fixtures, used by name

CENT = Decimal("0.01")


def limit(symbol: str, quantity: int, price: float | Decimal, side: str = "BUY") -> dict:
    return {"symbol": symbol, "side": side, "quantity": quantity, "order_type": "LIMIT",
            "price": float(price)}


def rest(client, headers, symbol: str, quantity: int = 50, price: float = 0.05) -> dict:
    r = client.post("/api/trade/order", json=limit(symbol, quantity, price), headers=headers)
    assert r.status_code == 201 and r.get_json()["status"] == "PENDING", r.get_json()
    return r.get_json()


def test_a_resting_order_takes_a_new_quantity_and_price_recorded_with_its_time(
        two, engine, trade_app):
    client, ann, _ = two
    symbol, _ = atm_call(engine)
    order = rest(client, ann, symbol)
    auth_state(trade_app).now.now = NOW + timedelta(seconds=30)
    r = client.patch(f"/api/trade/order/{order['order_id']}", headers=ann,
                     json={"quantity": 150, "price": 0.10})
    assert r.status_code == 200, r.get_json()
    changed = r.get_json()
    assert (changed["quantity"], changed["price"], changed["status"]) == (150, 0.1, "PENDING")
    assert changed["placed_at"] == "2026-11-25T10:00:10Z"
    assert changed["updated_at"] == "2026-11-25T10:00:40Z"
    [listed] = client.get("/api/trade/orders", headers=ann).get_json()["orders"]
    assert listed == changed
    # One field alone: the others stay.
    r = client.patch(f"/api/trade/order/{order['order_id']}", headers=ann,
                     json={"price": "0.15"})
    assert (r.get_json()["quantity"], r.get_json()["price"]) == (150, 0.15)


@pytest.mark.parametrize(("body", "field"), [
    ({"quantity": 30}, "quantity"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": 50.5}, "quantity"),
    ({"price": 0.03}, "price"),
    ({"price": -1}, "price"),
    ({"price": ""}, "price"),
    ({"stop_price": 0.05}, "stop_price"),
    ({"side": "SELL"}, "side"),
    ({"symbol": "IDX"}, "symbol"),
    ({}, "body"),
])
def test_bad_modifications_are_400_naming_the_field_and_change_nothing(
        two, engine, body, field):
    client, ann, _ = two
    symbol, _ = atm_call(engine)
    order = rest(client, ann, symbol)
    r = client.patch(f"/api/trade/order/{order['order_id']}", headers=ann, json=body)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["detail"]["parameter"] == field
    assert r.get_json()["detail"]["accepted"]
    [listed] = client.get("/api/trade/orders", headers=ann).get_json()["orders"]
    assert listed == order


def test_a_body_that_is_not_an_object_is_400(two, engine):
    client, ann, _ = two
    symbol, _ = atm_call(engine)
    order = rest(client, ann, symbol)
    r = client.patch(f"/api/trade/order/{order['order_id']}", headers=ann, data="x")
    assert r.status_code == 400 and r.get_json()["detail"]["parameter"] == "body"


def test_another_users_order_is_404_and_closed_orders_are_409(two, engine):
    client, ann, bob = two
    symbol, _ = atm_call(engine)
    order = rest(client, ann, symbol)
    url = f"/api/trade/order/{order['order_id']}"
    assert client.patch(url, headers=bob, json={"quantity": 100}).status_code == 404
    assert client.patch("/api/trade/order/999999", headers=ann,
                        json={"quantity": 100}).status_code == 404
    assert client.get("/api/trade/orders", headers=ann).get_json()["orders"] == [order]
    assert client.delete(url, headers=ann).status_code == 200
    r = client.patch(url, headers=ann, json={"quantity": 100})
    assert r.status_code == 409 and r.get_json()["detail"]["reason"] == "not_open"
    assert "can be modified" in r.get_json()["error"]
    filled = client.post("/api/trade/order", headers=ann, json={
        "symbol": symbol, "side": "BUY", "quantity": 50, "orderType": "MARKET",
        "price": ""}).get_json()
    r = client.patch(f"/api/trade/order/{filled['order_id']}", headers=ann,
                     json={"quantity": 100})
    assert r.status_code == 409 and r.get_json()["detail"]["order"]["status"] == "FILLED"
    assert client.patch(url, json={"quantity": 100}).status_code == 401


def test_a_limit_moved_through_the_touch_fills_at_once_at_the_ask(two, engine):
    client, ann, _ = two
    symbol, contract = atm_call(engine)
    ask = quote_of(engine.latest("IDX"), contract).ask
    order = rest(client, ann, symbol, 100)
    before = client.get("/api/trade/portfolio", headers=ann).get_json()["cash_balance"]
    r = client.patch(f"/api/trade/order/{order['order_id']}", headers=ann,
                     json={"price": float(ask + Decimal("0.50"))})
    assert r.status_code == 200
    filled = r.get_json()
    assert (filled["status"], filled["filled_quantity"]) == ("FILLED", 100)
    # A buy limit above the ask fills at the ask (price improvement), as a new order would.
    assert filled["avg_fill_price"] == float(ask)
    after = client.get("/api/trade/portfolio", headers=ann).get_json()
    charges = Decimal(repr(after["charges"]))
    assert Decimal(repr(before)) - Decimal(repr(after["cash_balance"])) == 100 * ask + charges
    [position] = client.get("/api/trade/positions", headers=ann).get_json()["positions"]
    assert position["quantity"] == 100 and position["avg_entry_price"] == float(ask)


def test_a_partly_filled_order_cannot_shrink_below_its_fills_and_at_them_is_done(two, engine):
    client, ann, _ = two
    symbol, contract = atm_call(engine)
    ask = quote_of(engine.latest("IDX"), contract).ask
    # 600 units at the ask: the 500 shown at the touch fill, 100 rest.
    r = client.post("/api/trade/order", json=limit(symbol, 600, ask), headers=ann)
    order = r.get_json()
    assert (order["status"], order["filled_quantity"]) == ("PARTIALLY_FILLED", 500)
    url = f"/api/trade/order/{order['order_id']}"
    r = client.patch(url, headers=ann, json={"quantity": 450})
    assert r.status_code == 400 and r.get_json()["detail"]["parameter"] == "quantity"
    assert "500" in r.get_json()["detail"]["accepted"]
    r = client.patch(url, headers=ann, json={"quantity": 500})
    assert r.status_code == 200
    done = r.get_json()
    assert (done["status"], done["quantity"], done["filled_quantity"]) == ("FILLED", 500, 500)
    assert done["avg_fill_price"] == float(ask)


def test_the_margin_is_checked_again_and_a_refusal_leaves_the_order_as_it_was(
        trade_app, engine):
    client = trade_app.test_client()
    ann = login(client, "ann@example.com")
    symbol, contract = atm_call(engine)
    ask = quote_of(engine.latest("IDX"), contract).ask
    # Cash for 100 units at the ask, not for 500.
    cash = (100 * ask + 100).quantize(Decimal("1"))
    trading_service(trade_app).starting_cash = {"INR": cash, "USD": Decimal("100000")}
    order = rest(client, ann, symbol, 100, float(ask - Decimal("1")))
    url = f"/api/trade/order/{order['order_id']}"
    r = client.patch(url, headers=ann, json={"quantity": 500})
    assert r.status_code == 409
    detail = r.get_json()["detail"]
    assert detail["reason"] == "margin"
    # The resting buy blocks its premium at its limit: 500 x (ask - 1), all of the cash free.
    assert detail["required"] == float(500 * (ask - 1)) and detail["available"] == float(cash)
    assert detail["order"] == order
    assert client.get("/api/trade/orders", headers=ann).get_json()["orders"] == [order]
    # Within the cash it goes through.
    assert client.patch(url, headers=ann, json={"quantity": 50}).status_code == 200


def test_an_idempotent_retry_answers_the_order_as_it_stands(two, engine):
    client, ann, _ = two
    symbol, contract = atm_call(engine)
    ask = quote_of(engine.latest("IDX"), contract).ask
    order = rest(client, ann, symbol)
    url = f"/api/trade/order/{order['order_id']}"
    headers = {**ann, "Idempotency-Key": "move-1"}
    first = client.patch(url, headers=headers, json={"quantity": 100})
    again = client.patch(url, headers=headers, json={"quantity": 100})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    # The modification filled the order; its retry answers the filled order, once.
    headers = {**ann, "Idempotency-Key": "fill-1"}
    filled = client.patch(url, headers=headers, json={"price": float(ask)})
    assert filled.get_json()["status"] == "FILLED"
    retry = client.patch(url, headers=headers, json={"price": float(ask)})
    assert retry.status_code == 200 and retry.get_json() == filled.get_json()
    assert client.get("/api/trade/performance", headers=ann).get_json()["trades"] == 1
    # Without the key, a modification of a filled order is refused.
    assert client.patch(url, headers=ann, json={"price": float(ask)}).status_code == 409
    r = client.patch(url, headers={**ann, "Idempotency-Key": ""}, json={"quantity": 100})
    assert r.status_code == 400 and r.get_json()["detail"]["parameter"] == "Idempotency-Key"
