"""Server-Sent Events through the app: validation, the latest state, live frames,
heartbeats, Last-Event-ID resume, and the market status on every frame."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import gevent
import pytest

from deltastream.core.types import MarketStatus
from deltastream.settings import Settings
from deltastream.web import create_app
from tests.web.market_sessions import session_engine, sessions


def frames(chunk: bytes) -> list[dict]:
    """Parsed SSE frames of a chunk (comments kept as {"comment": ...})."""
    out = []
    for block in chunk.decode().split("\n\n"):
        if not block:
            continue
        frame: dict = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                frame["comment"] = line[1:].strip()
            else:
                name, _, value = line.partition(": ")
                frame[name] = json.loads(value) if name == "data" else value
        out.append(frame)
    return out


@pytest.fixture()
def app(engine):
    app = create_app(Settings(stream_heartbeat=0.2), feed=engine, start_feed=False)
    tick(engine, 2)
    gevent.sleep(0.05)
    return app


def tick(engine, times: int = 1) -> None:
    for _ in range(times):
        engine.tick()
        engine.clock.advance(1.0)


def open_stream(app, query: str, **headers: str):
    r = app.test_client().get("/api/stream" + query, headers=headers, buffered=False)
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-cache"
    return r, iter(r.response)


@pytest.mark.parametrize(("query", "name", "valid"), [
    ("?products=IDX,NOPE", "products", "IDX, SEC"),
    ("?events=underlying,trades", "events", "underlying, summary, chain"),
])
def test_unknown_products_or_events_are_a_400_naming_the_parameter(app, query, name, valid):
    r = app.test_client().get("/api/stream" + query)
    assert r.status_code == 400 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["detail"]["parameter"] == name and name in body["error"]
    assert valid in body["detail"]["accepted"]


def test_latest_state_at_once_then_every_tick(app, engine):
    r, chunks = open_stream(app, "?products=SEC&events=underlying,chain")
    first = frames(next(chunks))
    assert first[0] == {"retry": "2000"}
    seq = engine.latest("SEC").sequence
    assert [(f["event"], f["data"]["product"]) for f in first[1:]] == [
        ("underlying_update", "SEC"), ("chain_update", "SEC")]
    assert first[-1]["id"] == str(seq) and "id" not in first[1]
    assert first[2]["data"]["sequence"] == seq and len(first[2]["data"]["strikes"]) == 21
    tick(engine)
    live = frames(next(chunks))
    assert [f["event"] for f in live] == ["underlying_update", "chain_update"]
    assert live[-1]["id"] == str(seq + 1)
    assert live[0]["data"]["price"] == engine.latest("SEC").spot
    r.close()


def test_an_idle_stream_sends_keep_alive_comments(app):
    r, chunks = open_stream(app, "?products=IDX")
    next(chunks)
    assert frames(next(chunks)) == [{"comment": "keep-alive"}]
    r.close()


def test_last_event_id_replays_what_was_missed_in_order(app, engine):
    r, chunks = open_stream(app, "?products=IDX,SEC&events=underlying")
    seen = frames(next(chunks))[1:]
    last_id = seen[-1]["id"]
    r.close()
    tick(engine, 3)
    gevent.sleep(0.05)
    r, chunks = open_stream(app, "?products=IDX,SEC&events=underlying",
                            **{"Last-Event-ID": last_id})
    missed = frames(next(chunks))[1:]
    start = int(last_id)
    assert [(f["data"]["product"], f["data"]["sequence"]) for f in missed] == [
        (p, s) for s in range(start + 1, start + 4) for p in ("IDX", "SEC")]
    assert [f.get("id") for f in missed] == [None, str(start + 1), None, str(start + 2),
                                             None, str(start + 3)]
    r.close()


def test_a_last_event_id_the_ring_cannot_serve_gets_the_latest_state(app, engine):
    r, chunks = open_stream(app, "?products=IDX&events=underlying,summary",
                            **{"Last-Event-ID": "999999"})
    got = frames(next(chunks))[1:]
    seq = engine.latest("IDX").sequence
    assert [(f["event"], f["data"]["sequence"]) for f in got] == [
        ("underlying_update", seq), ("chain_summary", seq)]
    r.close()


def test_every_frame_carries_the_market_status_and_it_follows_the_session():
    engine = session_engine(MarketStatus.OPEN, datetime(2026, 11, 25, 21, 0, tzinfo=UTC))
    app = create_app(Settings(stream_heartbeat=0.2), feed=engine, start_feed=False)
    tick(engine)
    gevent.sleep(0.05)
    r, chunks = open_stream(app, "?products=IDX,SEC&events=underlying,summary,chain")
    first = frames(next(chunks))[1:]
    assert len(first) == 6
    assert {(f["data"]["market_status"], f["data"]["market_status_until"]) for f in first} \
        == {("open", "2026-11-25T21:00:00.000Z")}
    sessions(engine).status = MarketStatus.CLOSED
    sessions(engine).until = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)
    tick(engine)
    live = frames(next(chunks))
    assert sorted(f["event"] for f in live) == sorted(
        ["underlying_update", "chain_summary", "chain_update"] * 2)
    assert {(f["data"]["market_status"], f["data"]["market_status_until"]) for f in live} \
        == {("closed", "2026-11-26T14:30:00.000Z")}
    r.close()
