"""Socket.IO handlers through the app (Flask-SocketIO's test client): rooms, the latest state
on subscribe, live events, unsubscribe, error events. The wire protocol is tested against a
real server in tests/e2e/test_stream.py."""

from __future__ import annotations

import gevent
import pytest

from deltastream.settings import Settings
from deltastream.web import create_app


def tick(engine, times: int = 1) -> None:
    for _ in range(times):
        engine.tick()
        engine.clock.advance(1.0)
    gevent.sleep(0.05)


@pytest.fixture()
def app(engine):
    app = create_app(Settings(), feed=engine, start_feed=False)
    tick(engine, 2)
    return app


@pytest.fixture()
def sio(app):
    client = app.extensions["socketio"].test_client(app)
    assert client.is_connected()
    yield client
    if client.is_connected():
        client.disconnect()


def received(sio) -> list[dict]:
    """What the client received once the server's greenlets (the client's sender) ran."""
    gevent.sleep(0.05)
    return sio.get_received()


def names(received: list[dict]) -> list[tuple[str, str | None]]:
    return [(r["name"], (r["args"][0] or {}).get("product") if r["args"] else None)
            for r in received]


def test_connect_joins_general_and_every_tick_reaches_it(app, engine, sio):
    server = app.extensions["socketio"].server
    sid = next(iter(server.manager.rooms["/"]["general"]))
    assert sid is not None
    assert received(sio) == []
    tick(engine)
    got = received(sio)
    assert sorted(names(got)) == sorted(
        [("underlying_update", p) for p in ("IDX", "SEC")]
        + [("chain_summary", p) for p in ("IDX", "SEC")])
    for r in got:
        assert r["args"][0]["sequence"] == engine.latest("IDX").sequence


def test_chain_subscription_answers_sends_the_latest_chain_and_then_every_tick(engine, sio):
    sio.emit("subscribe", {"type": "chain", "symbol": "SEC"})
    got = received(sio)
    assert got[0]["name"] == "subscribed" and got[0]["args"][0]["room"] == "chain:SEC"
    assert names(got[1:]) == [("chain_update", "SEC")]
    chain = got[1]["args"][0]
    assert chain["sequence"] == engine.latest("SEC").sequence and len(chain["calls"]) == 21
    tick(engine)
    assert names(received(sio)).count(("chain_update", "SEC")) == 1
    sio.emit("unsubscribe", {"type": "chain", "symbol": "SEC"})
    assert received(sio)[0]["args"][0] == {"room": "chain:SEC", "type": "chain",
                                                "symbol": "SEC"}
    tick(engine)
    assert "chain_update" not in [n for n, _ in names(received(sio))]


def test_product_subscription_sends_price_and_summary_at_once(engine, sio):
    sio.emit("subscribe", {"type": "product", "symbol": "IDX"})
    got = received(sio)
    assert got[0]["args"][0]["room"] == "product:IDX"
    assert names(got[1:]) == [("underlying_update", "IDX"), ("chain_summary", "IDX")]
    assert got[1]["args"][0]["price"] == engine.latest("IDX").spot


@pytest.mark.parametrize(("payload", "reason"), [
    ({"type": "chain", "symbol": "NOPE"}, "unknown product 'NOPE'"),
    ({"type": "orders", "symbol": "IDX"}, "invalid type 'orders'"),
    ("IDX", "payload must be an object"),
    (None, "payload must be an object"),
    ({"type": "chain"}, "unknown product None"),
])
def test_bad_requests_get_an_error_event_and_the_connection_stays_up(engine, sio, payload,
                                                                    reason):
    sio.emit("subscribe", payload)
    got = received(sio)
    assert [r["name"] for r in got] == ["error"]
    assert reason in got[0]["args"][0]["error"]
    assert got[0]["args"][0]["detail"]["event"] == "subscribe"
    assert sio.is_connected()
    tick(engine)
    assert ("underlying_update", "IDX") in names(received(sio))


def test_an_error_answer_never_echoes_a_large_payload(engine, sio):
    huge = "X" * 900_000
    sio.emit("subscribe", {"type": "chain", "symbol": huge})
    got = received(sio)
    assert [r["name"] for r in got] == ["error"]
    answer = got[0]["args"][0]
    assert "unknown product 'XXXX" in answer["error"]
    assert "(900002 chars)" in answer["error"]
    assert len(str(answer)) < 2_000
    assert sio.is_connected()
