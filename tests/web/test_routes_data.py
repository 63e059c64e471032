"""The chain route's market status: the live snapshot's session state on the response and on
every expiry's chain, changing with the ticks; null for another source's stored snapshots,
which have no session; the exchange's time zone beside it. Responses are validated against
the OpenAPI models."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from deltastream.core.types import MarketStatus
from deltastream.settings import Settings
from deltastream.store.database import open_database, sqlite_url
from deltastream.store.imports import write_imported
from deltastream.web import create_app, models
from tests.web.market_sessions import session_engine, sessions

# The fixed clock starts on Wednesday 2026-11-25 at 10:00 UTC; a session of the stamp's.
CLOSE = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
NEXT_OPEN = datetime(2026, 11, 26, 14, 30, tzinfo=UTC)


def chain(client, url: str) -> dict:
    r = client.get(url)
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    models.ChainResponse.model_validate(body)
    return body


@pytest.fixture()
def live():
    engine = session_engine(MarketStatus.OPEN, CLOSE)
    app = create_app(Settings(), feed=engine, start_feed=False)
    engine.tick()
    return app.test_client(), engine


def test_the_chain_and_each_expiry_carry_the_live_market_status(live):
    client, engine = live
    body = chain(client, "/api/data/chain/IDX?limit=10")
    assert body["count"] > 1
    assert (body["market_status"], body["market_status_until"]) == (
        "open", "2026-11-25T21:00:00.000Z")
    assert body["timezone"] == "Asia/Kolkata"
    assert [(c["market_status"], c["market_status_until"]) for c in body["chains"]] == [
        ("open", "2026-11-25T21:00:00.000Z")] * body["count"]
    assert chain(client, "/api/data/chain/SEC")["timezone"] == "America/New_York"
    # The session closes: the next snapshot says so, and until the next open.
    sessions(engine).status, sessions(engine).until = MarketStatus.CLOSED, NEXT_OPEN
    engine.clock.advance(1.0)
    engine.tick()
    body = chain(client, "/api/data/chain/IDX?limit=2")
    assert body["chains"][0]["sequence"] == 2
    assert [(x["market_status"], x["market_status_until"]) for x in [body, *body["chains"]]] == [
        ("closed", "2026-11-26T14:30:00.000Z")] * 3


def test_a_snapshot_without_session_state_serves_nulls(live):
    client, engine = live
    sessions(engine).status = sessions(engine).until = None
    engine.clock.advance(1.0)
    engine.tick()
    body = chain(client, "/api/data/chain/IDX?limit=3")
    assert [(x["market_status"], x["market_status_until"]) for x in [body, *body["chains"]]] == [
        (None, None)] * 4


def test_another_sources_stored_chain_serves_null_status(tmp_path):
    engine = session_engine(MarketStatus.OPEN, CLOSE)
    snap = engine.tick()["IDX"]
    # Imported with a session state on the snapshot handed to the store: what is stored and
    # served back has none (a stored snapshot is no session's).
    when = snap.timestamp - timedelta(days=1)
    stored = dataclasses.replace(snap, source="nse", product="NIFTY", timestamp=when,
                                 sequence=int(when.timestamp()),
                                 terms=dataclasses.replace(snap.terms, symbol="NIFTY"))
    db = open_database(sqlite_url(tmp_path))
    write_imported(db, [stored])
    client = create_app(Settings(), feed=engine, start_feed=False, store=db).test_client()
    body = chain(client, "/api/data/chain/NIFTY?source=nse&limit=2")
    assert body["chains"][0]["source"] == "nse"
    assert [(x["market_status"], x["market_status_until"]) for x in [body, *body["chains"]]] == [
        (None, None)] * 3
    assert body["timezone"] == "Asia/Kolkata"
    live = chain(client, "/api/data/chain/IDX")
    assert (live["market_status"], live["chains"][0]["market_status"]) == ("open", "open")
