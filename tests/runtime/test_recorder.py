"""The recorder stores what the engine publishes and a restarted engine resumes from it:
the same ticks as an engine that never stopped, changes against the stored session close."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from deltastream.runtime.recorder import start_recording
from deltastream.store import history, schema
from deltastream.store.database import StoreUnavailable
from deltastream.store.writer_stats import read_stats
from tests.support.recording import STEP, TICKS, make_engine, settings_for
from tests.support.snapshots import serialized
from tests.support.specs import START


@pytest.fixture()
def recorded(tmp_path):
    """An engine that ran TICKS ticks while recording, then shut down cleanly."""
    engine = make_engine()
    recorder = start_recording(engine, settings_for(tmp_path))
    published = []
    for _ in range(TICKS):
        published.append(engine.tick())
        engine.clock.advance(STEP)
    assert recorder.close()
    return tmp_path, published


def test_clean_shutdown_wrote_every_tick_and_the_last_state(recorded):
    tmp_path, published = recorded
    recorder = start_recording(make_engine(), settings_for(tmp_path))
    try:
        store = recorder.store
        for product in ("IDX", "SML"):
            ticks = history.ticks(store, product, limit=1000)
            assert [t.sequence for t in ticks] == list(range(1, TICKS + 1))
            assert [t.price for t in ticks] == [p[product].spot for p in published]
        states = history.load_states(store)
        assert {p: s.sequence for p, s in states.items()} == {"IDX": TICKS, "SML": TICKS}
        with store.connect() as conn:
            archives = conn.scalar(sa.select(sa.func.count()).select_from(schema.chain_archive))
        # One archive per product every 3600 s of market time: every other 30-minute tick.
        assert archives == 2 * TICKS // 2
    finally:
        recorder.close()


def test_resumed_engine_continues_exactly_like_one_that_never_stopped(recorded):
    tmp_path, published = recorded
    straight = make_engine()
    for _ in range(TICKS):
        straight.tick()
        straight.clock.advance(STEP)
    resumed = make_engine()
    recorder = start_recording(resumed, settings_for(tmp_path))
    try:
        # The fixed clock starts at the newest stored time, not at clock_start.
        assert resumed.clock.now() == published[-1]["IDX"].timestamp
        assert resumed.sequence == TICKS
        first = None
        for _ in range(5):
            resumed.clock.advance(STEP)
            a, b = straight.tick(), resumed.tick()
            first = first or b
            assert serialized(a, 17) == serialized(b, 17)
            assert a["IDX"].sequence == b["IDX"].sequence
            straight.clock.advance(STEP)
    finally:
        recorder.close()
    # Not resuming (base prices, fresh book) gives another market: the check above can fail.
    fresh = make_engine()
    fresh.clock.set(first["IDX"].timestamp)
    assert serialized(fresh.tick(), 17) != serialized(first, 17)


def test_session_close_is_stored_and_changes_are_measured_against_it(recorded):
    tmp_path, published = recorded
    first_day = START.date()
    last_of_day = [p["IDX"] for p in published if p["IDX"].timestamp.date() == first_day][-1]
    resumed = make_engine()
    recorder = start_recording(resumed, settings_for(tmp_path))
    try:
        closes = history.session_closes(recorder.store, "IDX", first_day)
        expected = {(c.expiry, k, right): (oi, last)
                    for c in last_of_day.chains
                    for right, side in (("C", c.calls), ("P", c.puts))
                    for k, oi, last in zip(c.strikes.tolist(), side.open_interest.tolist(),
                                           side.last.tolist(), strict=True)}
        assert {(c.expiry, c.strike, c.right): (c.close_oi, c.close_last)
                for c in closes} == expected
        resumed.clock.advance(STEP)
        snap = resumed.tick()["IDX"]
        assert snap.timestamp.date() > first_day
        checked = 0
        for c in snap.chains:
            for right, side in (("C", c.calls), ("P", c.puts)):
                for k, oi, change, oi_change, last in zip(
                        c.strikes.tolist(), side.open_interest.tolist(), side.change.tolist(),
                        side.oi_change.tolist(), side.last.tolist(), strict=True):
                    close = expected.get((c.expiry, k, right))
                    if close is None:
                        continue
                    assert oi_change == oi - close[0]
                    assert change == pytest.approx(last - close[1], abs=1e-9)
                    checked += 1
        assert checked > 100
    finally:
        recorder.close()


def test_prune_keeps_each_tables_retention_back_from_the_newest_tick(recorded):
    tmp_path, published = recorded
    recorder = start_recording(make_engine(), settings_for(
        tmp_path, retention_ticks_days=0.25, retention_summaries_days=0))
    try:
        recorder._latest_time = published[-1]["IDX"].timestamp
        deleted = recorder.prune()
        cutoff = published[-1]["IDX"].timestamp - timedelta(days=0.25)
        kept = history.ticks(recorder.store, "IDX", limit=1000)
        assert kept and min(t.timestamp for t in kept) >= cutoff
        assert deleted["underlying_ticks"] == 2 * sum(
            p["IDX"].timestamp < cutoff for p in published)
        assert "chain_summaries" not in deleted    # 0: kept forever
    finally:
        recorder.close()


def test_writer_counters_are_published_for_the_web_process(recorded):
    tmp_path, _ = recorded
    stats = read_stats(settings_for(tmp_path).data_dir)
    assert stats is not None
    assert stats["queue_depth"] == 0 and stats["dropped"] == 0
    assert stats["rows_written"]["underlying_ticks"] == 2 * TICKS


def test_unreachable_database_is_one_line_naming_the_url_without_password(tmp_path):
    settings = settings_for(tmp_path, database_url="postgresql+psycopg://u:s3cret@127.0.0.1:1/x")
    with pytest.raises(StoreUnavailable) as error:
        start_recording(make_engine(), settings)
    message = str(error.value)
    assert "\n" not in message and "127.0.0.1:1" in message and "s3cret" not in message
