"""The resting-order matcher as a feed listener: ticks coalesce into one pass over each
product's newest snapshot, and on its thread a crossing tick fills a resting limit."""

from __future__ import annotations

import logging
import sqlite3
import time

import sqlalchemy as sa

from deltastream.papertrade.matcher import RestingMatcher
from deltastream.papertrade.service import OrderRequest
from deltastream.trading.matching import Book, Level
from tests.papertrade.test_service import atm_call, quote_of


def resting_buy(service, engine, user_id):
    symbol, contract = atm_call(engine)
    limit = quote_of(engine.latest("IDX"), contract).bid
    order = service.place(user_id, OrderRequest("BUY", 100, "LIMIT", str(limit),
                                                symbol=symbol))
    assert order.status == "PENDING"
    return order, limit


def test_ticks_coalesce_into_one_pass_on_the_newest_snapshots(service, engine, users):
    order, limit = resting_buy(service, engine, users[0])
    seen = []
    service.book = lambda snap, c: (seen.append(snap.sequence)
                                    or Book((Level(limit - 1, 500),), (Level(limit, 500),)))
    matcher = RestingMatcher(service)
    assert matcher.run_once() == 0                     # nothing gathered yet
    for _ in range(3):
        for snap in engine.tick().values():
            matcher.on_snapshot(snap)
        engine.clock.advance(1.0)
    assert matcher.run_once() == 1 and matcher.passes == 1
    assert seen == [engine.latest("IDX").sequence]     # only the newest IDX snapshot
    assert service.order(users[0], order.id).status == "FILLED"
    assert matcher.run_once() == 0


def test_on_its_thread_a_crossing_tick_fills_the_order(service, engine, users):
    order, limit = resting_buy(service, engine, users[0])
    service.book = lambda snap, c: Book((Level(limit - 1, 500),), (Level(limit, 500),))
    matcher = RestingMatcher(service)
    engine.subscribe(matcher.on_snapshot)
    matcher.start()
    try:
        engine.tick()
        deadline = time.monotonic() + 10
        while service.order(users[0], order.id).status != "FILLED":
            assert time.monotonic() < deadline, "the matcher never filled the order"
            time.sleep(0.02)
    finally:
        matcher.stop()
    assert [(f.quantity, f.price) for f in service.store.fills(users[0])] == [(100, limit)]


def test_a_failing_store_is_reported_once_without_traceback_and_matching_resumes(
        service, engine, users, caplog):
    caplog.set_level(logging.INFO, logger="deltastream.papertrade.matcher")
    order, limit = resting_buy(service, engine, users[0])
    service.book = lambda snap, c: Book((Level(limit - 1, 500),), (Level(limit, 500),))
    match = service.match_resting
    failures = []

    def failing_twice(snapshots):
        if len(failures) < 2:
            failures.append(1)
            raise sa.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError(
                "disk I/O error"))
        return match(snapshots)

    service.match_resting = failing_twice
    matcher = RestingMatcher(service)
    engine.subscribe(matcher.on_snapshot)
    matcher.start()
    try:
        deadline = time.monotonic() + 20
        while service.order(users[0], order.id).status != "FILLED":
            assert time.monotonic() < deadline, "matching never resumed"
            engine.clock.advance(1.0)
            engine.tick()
            time.sleep(0.1)
    finally:
        matcher.stop()
    assert len(failures) == 2
    lines = [r for r in caplog.records if r.name == "deltastream.papertrade.matcher"]
    assert [r.levelname for r in lines] == ["WARNING", "INFO"], [r.message for r in lines]
    assert lines[0].message.startswith("cannot reach the store for resting-order matching: ")
    assert "disk I/O error" in lines[0].message
    assert lines[1].message.startswith("reached the store for resting-order matching again")
    assert not any(r.exc_info for r in lines)
