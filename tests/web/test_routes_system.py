"""Health reports the engine's life: when the running engine started, how many times its
server restarted it and how it last died (as the feed knows them); and each product's market
status (whether its exchange is in session) and its exchange's time zone."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from deltastream.core.feed import EngineExit, EngineLife
from deltastream.core.types import MarketStatus
from deltastream.settings import Settings
from deltastream.web import create_app, models
from tests.web.market_sessions import session_engine, sessions


def _engine_health(client) -> dict:
    body = client.get("/api/health").get_json()
    models.HealthResponse.model_validate(body)
    return body["engine"]


def test_an_engine_in_this_process_reports_its_start_and_no_restarts(client, engine):
    engine_health = _engine_health(client)
    # Ticked by hand, never started.
    assert (engine_health["started_at"], engine_health["restarts"],
            engine_health["last_exit"]) == (None, 0, None)
    before = time.time()
    engine.start()
    try:
        engine_health = _engine_health(client)
    finally:
        engine.stop()
    started = datetime.fromisoformat(engine_health["started_at"].replace("Z", "+00:00"))
    assert engine_health["started_at"].endswith("Z") and started.tzinfo == UTC
    assert before - 0.001 <= started.timestamp() <= time.time()
    assert engine_health["restarts"] == 0 and engine_health["last_exit"] is None


def test_restarts_and_the_last_exit_as_the_feed_reports_them(client, engine):
    assert _engine_health(client)["restarts"] == 0
    # As a web process's bus feed learns it from the restarted engine's ticks; health is
    # rendered afresh (in front of the app too), so the next request shows it.
    engine.life = EngineLife(
        started_at=datetime(2026, 11, 25, 5, 0, 3, 250_000, UTC).timestamp(), restarts=2,
        last_exit=EngineExit("killed by signal SIGKILL",
                             datetime(2026, 11, 25, 5, 0, 1, tzinfo=UTC).timestamp()))
    engine_health = _engine_health(client)
    assert engine_health["started_at"] == "2026-11-25T05:00:03.250Z"
    assert engine_health["restarts"] == 2
    assert engine_health["last_exit"] == {"cause": "killed by signal SIGKILL",
                                          "at": "2026-11-25T05:00:01.000Z"}


def test_health_reports_each_products_market_status_and_time_zone():
    engine = session_engine(MarketStatus.CLOSED, datetime(2026, 11, 26, 3, 45, tzinfo=UTC))
    client = create_app(Settings(), feed=engine, start_feed=False).test_client()
    # Before the first snapshot nothing is known (the engine has not ticked: a 503).
    r = client.get("/api/health")
    assert r.status_code == 503
    models.HealthResponse.model_validate(r.get_json())
    assert r.get_json()["markets"] == {p: {"market_status": None, "market_status_until": None,
                                           "timezone": None} for p in ("IDX", "SEC")}
    engine.tick()
    body = client.get("/api/health").get_json()
    models.HealthResponse.model_validate(body)
    assert body["products"] == 2      # the count stays what it was; the statuses are beside
    assert body["markets"] == {
        "IDX": {"market_status": "closed", "market_status_until": "2026-11-26T03:45:00.000Z",
                "timezone": "Asia/Kolkata"},
        "SEC": {"market_status": "closed", "market_status_until": "2026-11-26T03:45:00.000Z",
                "timezone": "America/New_York"}}
    # The next snapshot's status, on the next request (health is never cached).
    sessions(engine).status = MarketStatus.OPEN
    sessions(engine).until = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    engine.clock.advance(1.0)
    engine.tick()
    markets = client.get("/api/health").get_json()["markets"]
    assert [(m["market_status"], m["market_status_until"]) for m in markets.values()] == [
        ("open", "2026-11-26T10:00:00.000Z")] * 2
