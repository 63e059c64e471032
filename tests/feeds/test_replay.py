"""Replay of a stored source: every snapshot in its range handed out once, in order, when
its market time comes, renumbered by the engine and otherwise as stored; the market at the
start first; a clear error for a source or range the store does not hold."""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from deltastream.core.snapshot import ChainSnapshot
from deltastream.engine.runner import Engine
from deltastream.feeds.replay import ReplayError, ReplayProvider, replay_range
from deltastream.market.clock import FixedClock
from deltastream.store import history
from deltastream.store.database import open_database, sqlite_url
from deltastream.store.imports import write_imported
from tests.support.snapshots import assert_same
from tests.support.specs import START
from tests.support.store import TAPE_STEP, imported, tape_day

COUNT = 40          # more than a page of the store's archive reads


@pytest.fixture(scope="module")
def day() -> list[dict[str, ChainSnapshot]]:
    """A two-product market, 5 minutes apart, as the source 'tape' imported it."""
    return tape_day(COUNT, seed=4)


@pytest.fixture()
def db(tmp_path, day) -> sa.Engine:
    engine = open_database(sqlite_url(tmp_path))
    write_imported(engine, [s for step in day for s in step.values()])
    # Another source with the same product at the same times, which a replay never mixes in.
    write_imported(engine, [imported(step["IDX"], "other", spot_offset=1.0) for step in day])
    yield engine
    engine.dispose()


def at(i: int) -> datetime:
    return START + i * TAPE_STEP


def as_replayed(snap: ChainSnapshot, sequence: int) -> ChainSnapshot:
    return dataclasses.replace(snap, sequence=sequence)


def test_the_range_defaults_to_the_sources_first_and_last_snapshots(db):
    r = replay_range(db, "tape")
    assert (r.source, r.products, r.start, r.end) == ("tape", ["IDX", "SEC"], at(0),
                                                      at(COUNT - 1))
    assert replay_range(db, "other").products == ["IDX"]
    bounded = replay_range(db, "tape", at(3), at(5))
    assert (bounded.start, bounded.end) == (at(3), at(5))


@pytest.mark.parametrize(("source", "start", "end", "message"), [
    ("nse", None, None, "--replay: no stored snapshots of source 'nse'; stored sources: "
                        "other, tape"),
    ("tape", at(5), at(3), r"--from 2026-11-25T10:25:00Z is after --to 2026-11-25T10:15:00Z"),
    ("tape", at(COUNT), None, r"source 'tape' has no snapshot from 2026-11-25T13:20:00Z on "
                              r"\(it has 2026-11-25T10:00:00Z to 2026-11-25T13:15:00Z\)"),
    ("tape", None, at(-1), r"source 'tape' has no snapshot up to 2026-11-25T09:55:00Z"),
    ("tape", at(-10), at(-1), r"source 'tape' has no snapshot from 2026-11-25T09:10:00Z to "
                              r"2026-11-25T09:55:00Z \(it has 2026-11-25T10:00:00Z to "
                              r"2026-11-25T13:15:00Z\)"),
])
def test_a_source_or_range_without_snapshots_is_one_clear_error(db, source, start, end,
                                                                 message):
    with pytest.raises(ReplayError, match=message):
        ReplayProvider(db, source, start, end)


def test_an_empty_store_says_how_to_fill_it(tmp_path):
    (tmp_path / "empty").mkdir()
    empty = open_database(sqlite_url(tmp_path / "empty"))
    with pytest.raises(ReplayError, match=r"stored sources: none \(deltastream import"):
        replay_range(empty, "tape")
    empty.dispose()


def test_every_snapshot_is_handed_out_once_in_order_when_due(db, day):
    replay = ReplayProvider(db, "tape")
    assert replay.symbols == ["IDX", "SEC"] and replay.next_due() == at(0)
    first = replay.snapshots(at(0), 1)
    assert first.keys() == {"IDX", "SEC"}
    for product in first:
        assert_same(as_replayed(day[0][product], 1), first[product])
    # Nothing more until the next one is due, however often asked.
    assert replay.snapshots(at(1) - timedelta(seconds=1), 2) == {}
    assert replay.next_due() == at(1)
    # Several due at once: one timestamp per call, oldest first.
    got = [replay.snapshots(at(3) + timedelta(seconds=30), n) for n in (2, 3, 4)]
    assert [g["SEC"].timestamp for g in got] == [at(1), at(2), at(3)]
    assert replay.snapshots(at(3) + timedelta(seconds=30), 5) == {}
    sequence = 5
    # The rest (past several of the store's pages), each equal to what was stored.
    for i in range(4, COUNT):
        step = replay.snapshots(at(COUNT), sequence)
        for product in ("IDX", "SEC"):
            assert_same(as_replayed(day[i][product], sequence), step[product])
        sequence += 1
    assert replay.next_due() is None and replay.snapshots(at(COUNT + 100), sequence) == {}
    assert replay.published == 2 * COUNT


def test_the_replay_starts_with_the_market_as_it_stood_and_stops_at_the_end(db, day, caplog):
    start, end = at(10) + timedelta(minutes=2), at(13)
    replay = ReplayProvider(db, "tape", start, end)
    # The snapshots of 10:50 are the market at 10:52; then 10:55 to 11:05.
    assert replay.next_due() == at(10)
    with caplog.at_level(logging.INFO, logger="deltastream.feeds.replay"):
        got = [replay.snapshots(end + timedelta(hours=1), n) for n in range(1, 6)]
        assert replay.snapshots(end + timedelta(hours=2), 6) == {}
    assert [g["IDX"].timestamp for g in got[:4]] == [at(10), at(11), at(12), at(13)]
    assert got[4] == {}
    assert_same(as_replayed(day[10]["SEC"], 1), got[0]["SEC"])
    ends = [r.getMessage() for r in caplog.records if "reached its end" in r.getMessage()]
    assert ends == ["the replay of 'tape' reached its end at 2026-11-25T11:05:00Z "
                    "(8 snapshots); the market stands still"]


def test_products_quoted_at_different_times_are_handed_out_in_time_order(tmp_path, day):
    db = open_database(sqlite_url(tmp_path))
    late = timedelta(seconds=90)
    write_imported(db, [s for step in day[:4] for s in step.values() if s.product == "IDX"])
    write_imported(db, [imported(step["SEC"], "tape", shift=late) for step in day[:4]])
    replay = ReplayProvider(db, "tape")
    order = []
    for n in range(1, 9):
        step = replay.snapshots(at(10), n)
        assert len(step) == 1
        (product, snap), = step.items()
        order.append((product, snap.timestamp))
    assert order == [(p, at(i) + (late if p == "SEC" else timedelta(0)))
                     for i in range(4) for p in ("IDX", "SEC")]
    db.dispose()


def test_a_replay_under_way_keeps_no_writer_waiting(db, day):
    replay = ReplayProvider(db, "tape")
    for n in range(1, 4):
        replay.snapshots(at(COUNT), n)
    # An import into the same SQLite file in the middle of the replay is not locked out.
    more = [imported(day[0]["IDX"], "later", shift=timedelta(days=1))]
    assert write_imported(db, more).snapshots_stored == 1
    assert [s.name for s in history.sources(db)] == ["later", "other", "tape"]
    assert replay.snapshots(at(COUNT), 4)["IDX"].timestamp == at(3)


def test_an_engine_on_a_replay_publishes_the_stored_day_with_its_own_numbers(db, day):
    clock = FixedClock(at(0))
    replay = ReplayProvider(db, "tape", end=at(5))
    engine = Engine(provider=replay, clock=clock, tick_interval=1.0, history=100)
    engine.resume_sequence(700)
    published = []
    for _ in range(6):
        published.append(engine.tick())
        clock.advance(TAPE_STEP.total_seconds())
    assert [p["IDX"].sequence for p in published] == list(range(701, 707))
    assert [p["SEC"].timestamp for p in published] == [at(i) for i in range(6)]
    assert engine.source == "tape" and engine.latest("IDX").spot == day[5]["IDX"].spot
    engine.stop()


def test_a_reader_joining_mid_replay_receives_every_products_latest_snapshot(tmp_path, day):
    # Products quoted at different times make ticks of one product each: a web process
    # connecting to the engine's bus after them gets both, not only the last tick's.
    from deltastream.bus.codec import decode_tick
    from deltastream.bus.local import _HEAD, FRAME_TICK
    from deltastream.core.feed import EngineLife
    from deltastream.runtime.publishing import _Greeting, _publish

    class Publisher:
        def publish(self, sequence: int, message: bytes) -> bool:
            return True

    db = open_database(sqlite_url(tmp_path))
    late = timedelta(seconds=90)
    write_imported(db, [day[0]["IDX"], imported(day[0]["SEC"], "tape", shift=late)])
    engine = Engine(provider=ReplayProvider(db, "tape"), clock=FixedClock(at(1)), history=100)
    greeting = _Greeting()
    greeting.engine = engine
    for _ in range(2):      # IDX's tick, then SEC's
        published = engine.tick()
        _publish(engine, Publisher(), greeting, "e1", EngineLife(), threading.Event(),
                 published, 0.0, None)
    assert published.keys() == {"SEC"}
    frame = greeting()[-1]
    kind, _ = _HEAD.unpack_from(frame)
    message = decode_tick(frame[_HEAD.size:])
    assert kind == FRAME_TICK and message.sequence == 2
    assert {p: s.sequence for p, s in message.snapshots.items()} == {"IDX": 1, "SEC": 2}
    engine.stop()
