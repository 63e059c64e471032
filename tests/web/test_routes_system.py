"""Health reports the engine's life: when the running engine started, how many times its
server restarted it and how it last died (as the feed knows them)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from deltastream.core.feed import EngineExit, EngineLife
from deltastream.web import models


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
