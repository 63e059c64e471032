"""Private paper-trading events on Socket.IO through the app (Flask-SocketIO's test client) on
SQLite and PostgreSQL stores: joining the user's room with an access token (on connect or by
subscribe) or an API key; bad credentials answer an ``error`` event and join nothing; the
order, fill and position events of one user reach that user's sockets in the REST routes'
shapes and never another user's; a resting order filled outside any request (as the engine's
matcher does) reaches its user on the next tick; an expired token leaves the room. Against a
real server: tests/e2e/test_paper_trading.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import gevent
import pytest
import sqlalchemy as sa

from deltastream.papertrade.service import quote_of
from deltastream.settings import Settings
from deltastream.store.trading import SqlTradingStore
from deltastream.web import create_app
from deltastream.web.account_events import EXTENSION_KEY
from deltastream.web.routes_auth import auth_state
from deltastream.web.routes_trade import trading_service
from tests.store.test_trading import new_order
from tests.support.trading import trading_app
from tests.web.test_routes_auth import FAST_HASHING, PASSWORD, Clock, bearer, register
from tests.web.test_routes_trade import NOW, atm_call

ACCOUNT_EVENTS = {"order_update", "trade_update", "position_update"}


def tick(engine, times: int = 1) -> None:
    for _ in range(times):
        engine.tick()
        engine.clock.advance(1.0)
    gevent.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, engine, tmp_path) -> Iterator:
    with trading_app(request, engine, tmp_path, NOW) as app:
        yield app


class User:
    def __init__(self, client, email: str) -> None:
        r = register(client, email=email, password=PASSWORD, name=email.split("@")[0])
        assert r.status_code == 201
        self.id: int = r.get_json()["user"]["id"]
        self.token: str = r.get_json()["token"]
        self.headers = bearer(self.token)


@pytest.fixture()
def people(app):
    client = app.test_client()
    return client, User(client, "ann@example.com"), User(client, "bob@example.com")


def connect(app, **auth):
    sio = app.extensions["socketio"].test_client(app, auth=auth or None)
    assert sio.is_connected()
    return sio


def received(sio, wait: float = 0.1) -> list[dict]:
    """What the client received once the server's greenlets (the tail) ran."""
    gevent.sleep(wait)
    return sio.get_received()


def account_events(got: list[dict]) -> list[tuple[str, dict]]:
    return [(r["name"], r["args"][0]) for r in got if r["name"] in ACCOUNT_EVENTS]


def errors(got: list[dict]) -> list[dict]:
    return [r["args"][0] for r in got if r["name"] == "error"]


def market(symbol: str, quantity: int = 50, side: str = "BUY") -> dict:
    return {"symbol": symbol, "side": side, "quantity": quantity, "order_type": "MARKET",
            "price": ""}


def test_an_access_token_on_connect_joins_the_users_room(app, people):
    _, ann, _ = people
    sio = connect(app, token=ann.token)
    got = received(sio)
    assert {"name": "subscribed", "args": [{"room": f"user:{ann.id}", "type": "account"}],
            "namespace": "/"} in got
    assert app.extensions[EXTENSION_KEY].members(ann.id) == {
        app.extensions["socketio"].server.manager.sid_from_eio_sid(sio.eio_sid, "/")}


def test_a_fill_reaches_its_users_sockets_in_the_routes_shapes_and_no_one_elses(
        app, people, engine):
    client, ann, bob = people
    ann_sio, bob_sio = connect(app, token=ann.token), connect(app)
    bob_sio.emit("subscribe", {"type": "account", "token": bob.token})
    received(ann_sio), received(bob_sio)
    symbol, contract = atm_call(engine)
    r = client.post("/api/trade/order", json=market(symbol, 100), headers=ann.headers)
    assert r.status_code == 201 and r.get_json()["status"] == "FILLED"
    got = account_events(received(ann_sio))
    assert [name for name, _ in got] == ["order_update", "trade_update", "position_update",
                                         "order_update"]
    assert got[0][1]["status"] == "PENDING" and got[3][1] == r.get_json()
    orders = client.get("/api/trade/orders", headers=ann.headers).get_json()["orders"]
    assert got[3][1] == orders[0]
    positions = client.get("/api/trade/positions", headers=ann.headers).get_json()
    assert got[2][1] == positions["positions"][0]
    fill = got[1][1]
    ask = quote_of(engine.latest("IDX"), contract).ask
    assert (fill["order_id"], fill["symbol"], fill["side"], fill["quantity"], fill["price"]) \
        == (r.get_json()["order_id"], symbol, "BUY", 100, float(ask))
    assert fill["strike"] == float(contract.strike) and fill["option_type"] == "CE"
    assert fill["charges"] == pytest.approx(
        float(trading_service(app).store.fills(ann.id)[0].charges))
    assert fill["filled_at"] == "2026-11-25T10:00:10Z"
    # Bob hears nothing of Ann's; his own order reaches him and not her.
    assert account_events(received(bob_sio)) == []
    r = client.post("/api/trade/order", json=market(symbol, 50), headers=bob.headers)
    assert r.status_code == 201
    assert [e["order_id"] for n, e in account_events(received(bob_sio))
            if n == "order_update"] == [r.get_json()["order_id"]] * 2
    assert account_events(received(ann_sio)) == []


def test_a_resting_order_filled_outside_a_request_reaches_its_user_on_the_next_tick(
        app, people, engine):
    client, ann, _ = people
    sio = connect(app, token=ann.token)
    symbol, contract = atm_call(engine)
    bid = quote_of(engine.latest("IDX"), contract).bid
    r = client.post("/api/trade/order", json={**market(symbol), "order_type": "LIMIT",
                                               "price": float(bid)}, headers=ann.headers)
    assert r.status_code == 201 and r.get_json()["status"] == "PENDING"
    order_id = r.get_json()["order_id"]
    assert [(n, e["status"]) for n, e in account_events(received(sio))] == [
        ("order_update", "PENDING")]
    # The engine's matcher fills it in its own process, through the store's ledger: here the
    # same writes on a store of its own, outside any request (only the tick wakes the tail).
    matcher_store = SqlTradingStore(auth_state(app).store)
    with matcher_store.locked(ann.id) as ledger:
        order = ledger.order(order_id)
        ledger.insert_fill(order, 50, bid, Decimal("12.5"), order.placed_at + 1)
        ledger.update_order(order, status="FILLED", filled_quantity=50, avg_fill_price=bid,
                            at=order.placed_at + 1)
    assert account_events(received(sio, wait=0.0)) == []     # not yet woken
    tick(engine)
    got = account_events(received(sio))
    assert [n for n, _ in got] == ["trade_update", "position_update", "order_update"]
    assert got[0][1]["price"] == float(bid) and got[0][1]["charges"] == 12.5
    assert got[1][1]["quantity"] == 50 and got[2][1]["status"] == "FILLED"


def test_bad_credentials_answer_an_error_and_join_nothing(app, people, engine):
    client, ann, _ = people
    bad = connect(app, token="not-a-token")
    assert [e["detail"]["parameter"] for e in errors(received(bad))] == ["token"]
    assert bad.is_connected()
    for payload in ({"type": "account"}, {"type": "account", "token": 5},
                    {"type": "account", "token": ann.token + "x"},
                    {"type": "account", "api_key": "dsk_nope_nope"}):
        bad.emit("subscribe", payload)
        got = errors(received(bad))
        assert len(got) == 1 and got[0]["detail"]["event"] == "subscribe", payload
        assert "invalid credentials" in got[0]["error"]
    symbol, _ = atm_call(engine)
    client.post("/api/trade/order", json=market(symbol), headers=ann.headers)
    assert account_events(received(bad)) == []
    assert app.extensions[EXTENSION_KEY].members(ann.id) == set()


def test_an_api_key_joins_and_unsubscribe_leaves(app, people, engine):
    client, ann, _ = people
    r = client.post("/api/auth/api-keys", json={"name": "bot"}, headers=ann.headers)
    assert r.status_code == 201
    sio = connect(app, api_key=r.get_json()["key"])
    assert [x["name"] for x in received(sio)] == ["subscribed"]
    symbol, _ = atm_call(engine)
    client.post("/api/trade/order", json=market(symbol), headers=ann.headers)
    assert len(account_events(received(sio))) == 4
    sio.emit("unsubscribe", {"type": "account"})
    assert [x["name"] for x in received(sio)] == ["unsubscribed"]
    client.post("/api/trade/order", json=market(symbol), headers=ann.headers)
    assert account_events(received(sio)) == []


def test_an_expired_token_leaves_the_room(app, people, engine):
    client, ann, _ = people
    sio = connect(app, token=ann.token)
    received(sio)
    auth_state(app).now = Clock(NOW + timedelta(days=1))
    tick(engine)
    got = errors(received(sio))
    assert [e["detail"]["reason"] for e in got] == ["expired"]
    # Placed with a fresh token: the expired socket no longer hears it.
    fresh = client.post("/api/auth/login", json={"email": "ann@example.com",
                                                 "password": PASSWORD}).get_json()["token"]
    symbol, _ = atm_call(engine)
    client.post("/api/trade/order", json=market(symbol), headers=bearer(fresh))
    assert account_events(received(sio)) == []


def test_events_written_before_a_worker_starts_are_not_replayed(app, people, engine,
                                                                tmp_path):
    client, ann, _ = people
    symbol, _ = atm_call(engine)
    client.post("/api/trade/order", json=market(symbol), headers=ann.headers)
    store = auth_state(app).store
    later = create_app(Settings(data_dir=tmp_path, **FAST_HASHING), feed=engine,
                       start_feed=False, store=store)
    auth_state(later).now = Clock(NOW)
    sio = later.extensions["socketio"].test_client(later, auth={"token": ann.token})
    assert account_events(received(sio)) == []
    assert later.extensions[EXTENSION_KEY].cursor == trading_service(app).store.last_event_id()
    sio.disconnect()


def test_an_event_committed_after_a_later_one_is_still_delivered(app, people):
    """On PostgreSQL ids are taken at insert and transactions commit in any order: the tail
    looks again for an id it saw missing (SQLite has one writer: ids commit in order)."""
    if auth_state(app).store.dialect.name != "postgresql":
        pytest.skip("SQLite commits in id order")
    _, ann, bob = people
    ann_sio, bob_sio = connect(app, token=ann.token), connect(app, token=bob.token)
    received(ann_sio), received(bob_sio)
    store = SqlTradingStore(auth_state(app).store)
    tail = app.extensions[EXTENSION_KEY]
    with store.locked(ann.id) as slow:
        first = slow.insert_order(new_order(ann.id))         # takes the lower id
        with store.locked(bob.id) as quick:
            second = quick.insert_order(new_order(bob.id))
        assert second.id > first.id
        tail.poll()
        assert [e["order_id"] for _, e in account_events(received(bob_sio))] == [second.id]
        assert tail.cursor == second.id
    tail.poll()
    assert [e["order_id"] for _, e in account_events(received(ann_sio))] == [first.id]
    assert account_events(received(bob_sio)) == []


def test_a_failing_store_is_logged_once_and_the_tail_recovers(app, people, engine, caplog):
    client, ann, _ = people
    sio = connect(app, token=ann.token)
    received(sio)
    tail = app.extensions[EXTENSION_KEY]
    store = tail.store
    unreachable = sa.create_engine("sqlite:////nonexistent-directory/store.db")
    tail.store = SqlTradingStore(unreachable)
    caplog.set_level(logging.INFO, logger="deltastream.web.account_events")
    try:
        tick(engine, 5)                  # every tick wakes the tail: five failing passes
    finally:
        tail.store = store
        unreachable.dispose()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("reading paper-trading events failed: ")
    symbol, _ = atm_call(engine)
    r = client.post("/api/trade/order", json=market(symbol), headers=ann.headers)
    got = account_events(received(sio))
    assert [(n, e["order_id"]) for n, e in got if n == "order_update"] == [
        ("order_update", r.get_json()["order_id"])] * 2
    assert [r.getMessage() for r in caplog.records][1].startswith(
        "paper-trading events: reading again after ")


class CountingStore:
    """A trading store that counts the tail's reads of the outbox."""

    def __init__(self, store: SqlTradingStore) -> None:
        self.store = store
        self.reads = 0

    def __getattr__(self, name: str):
        if name in ("last_event_id", "events_after"):
            self.reads += 1
        return getattr(self.store, name)


def test_a_worker_without_members_reads_nothing_and_a_first_join_catches_up(
        app, people, engine):
    client, ann, _ = people
    tail = app.extensions[EXTENSION_KEY]
    counting = tail.store = CountingStore(tail.store)
    symbol, _ = atm_call(engine)
    r = client.post("/api/trade/order", json=market(symbol), headers=ann.headers)
    assert r.status_code == 201
    tick(engine, 3)
    assert counting.reads == 0                  # woken four times, nobody to tell
    sio = connect(app, token=ann.token)
    # The join moved the cursor past what was written while nobody was here.
    assert account_events(received(sio)) == []
    assert tail.cursor == counting.store.last_event_id()
    r = client.post("/api/trade/order", json=market(symbol), headers=ann.headers)
    got = account_events(received(sio))
    assert len(got) == 4 and {e["order_id"] for n, e in got if n == "order_update"} == {
        r.get_json()["order_id"]}
