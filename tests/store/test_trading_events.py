"""The paper-trading outbox on SQLite and PostgreSQL: every order and fill written through a
ledger writes its event in the same transaction (and a rolled-back transaction leaves none),
the payloads read back to the rows and to the position replayed by hand, a reader's gaps and
batches, a reset's flat positions, pruning after a day, and migration 0006."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from deltastream.store import database, retention, schema
from deltastream.store.rows import epoch_us
from deltastream.store.trading import (
    ContractRef,
    SqlTradingStore,
    fill_of_event,
    order_of_event,
    position_of_event,
)
from tests.store.test_trading import CALL, START, empty_trading, new_order, user

PUT = ContractRef("NIFTY", date(2026, 12, 29), Decimal("24000"), "put", "INR")


@pytest.fixture()
def trading(db) -> Iterator[SqlTradingStore]:
    yield SqlTradingStore(db)
    empty_trading(db)      # the users' events go with them (ON DELETE CASCADE)


class BoomError(Exception):
    pass


def test_an_order_and_its_fills_write_their_events_in_the_transaction(trading, db):
    ann = user(db, "ann@example.com")
    trading.ensure_account(ann, START, 1)
    start = trading.last_event_id()
    with trading.locked(ann) as ledger:
        order = ledger.insert_order(new_order(ann, placed_at=10))
        first = ledger.insert_fill(order, 65, Decimal("100"), Decimal("20.5"), 11)
        second = ledger.insert_fill(order, 130, Decimal("101"), Decimal("30.25"), 11)
        order = ledger.update_order(order, status="FILLED", filled_quantity=195,
                                    avg_fill_price=Decimal("100.6667"), at=11)
    events = trading.events_after(start)
    assert [e.kind for e in events] == ["order", "fill", "position", "fill", "position",
                                        "order"]
    assert all(e.user_id == ann for e in events)
    assert [e.at for e in events] == [10, 11, 11, 11, 11, 11]
    assert trading.last_event_id() == events[-1].id
    placed = order_of_event(events[0].payload)
    assert placed.status == "PENDING" and placed.filled_quantity == 0
    assert placed.limit_price == Decimal("101.05") and placed.contract == CALL
    assert order_of_event(events[-1].payload) == order == trading.order(ann, order.id)
    assert fill_of_event(events[1].payload) == (first, "NIFTY26DEC24500CE")
    assert fill_of_event(events[3].payload) == (second, "NIFTY26DEC24500CE")
    contract, after_first = position_of_event(events[2].payload)
    assert contract == CALL
    assert (after_first.quantity, after_first.cost, after_first.charges) == (
        65, Decimal("6500"), Decimal("20.5"))
    _, after_second = position_of_event(events[4].payload)
    # 65 x 100 + 130 x 101 = 19,630 for 195 units; charges 20.5 + 30.25.
    assert (after_second.quantity, after_second.cost, after_second.realised,
            after_second.charges) == (195, Decimal("19630"), Decimal("0"), Decimal("50.75"))


def test_a_closing_fill_carries_the_realised_pnl_of_the_position(trading, db):
    ann = user(db, "ann@example.com")
    trading.ensure_account(ann, START, 1)
    with trading.locked(ann) as ledger:
        buy = ledger.insert_order(new_order(ann, placed_at=10))
        ledger.insert_fill(buy, 195, Decimal("100.50"), Decimal("0"), 11)
        sell = ledger.insert_order(replace(new_order(ann, placed_at=12), side="SELL"))
        ledger.insert_fill(sell, 65, Decimal("102"), Decimal("12"), 13)
    last = trading.events_after(0)[-1]
    contract, position = position_of_event(last.payload)
    # Average cost 100.50; 65 units sold at 102 realise 1.50 x 65 = 97.50 gross, and the
    # 130 units left keep their cost 130 x 100.50 = 13,065.
    assert contract == CALL
    assert (position.quantity, position.cost, position.realised, position.charges) == (
        130, Decimal("13065.00"), Decimal("97.50"), Decimal("12"))


def test_a_rolled_back_transaction_leaves_no_event(trading, db):
    ann = user(db, "ann@example.com")
    trading.ensure_account(ann, START, 1)
    before = trading.last_event_id()
    with pytest.raises(BoomError), trading.locked(ann) as ledger:
        order = ledger.insert_order(new_order(ann))
        ledger.insert_fill(order, 65, Decimal("100"), Decimal("1"), 2)
        raise BoomError
    assert trading.events_after(before) == []
    assert trading.orders(ann) == [] and trading.fills(ann) == []
    # The next committed change is read after the cursor as usual.
    with trading.locked(ann) as ledger:
        ledger.insert_order(new_order(ann))
    assert [e.kind for e in trading.events_after(before)] == ["order"]


def test_each_event_names_its_user(trading, db):
    ann, bob = user(db, "ann@example.com"), user(db, "bob@example.com")
    start = trading.last_event_id()
    with trading.locked(ann) as ledger:
        ledger.insert_order(new_order(ann))
    with trading.locked(bob) as ledger:
        ledger.insert_order(new_order(bob))
    assert [e.user_id for e in trading.events_after(start)] == [ann, bob]


def test_a_reader_reads_in_batches_and_asks_again_for_missing_ids(trading, db):
    ann = user(db, "ann@example.com")
    start = trading.last_event_id()
    with trading.locked(ann) as ledger:
        for _ in range(5):
            ledger.insert_order(new_order(ann))
    ids = [e.id for e in trading.events_after(start)]
    assert len(ids) == 5 and ids == sorted(ids)
    assert [e.id for e in trading.events_after(start, limit=2)] == ids[:2]
    # A reader past ids[3] that saw ids[1] missing gets it back with the newer rows.
    assert [e.id for e in trading.events_after(ids[3], also=[ids[1]])] == [ids[1], ids[4]]


def test_a_reset_writes_flat_positions_for_what_was_held(trading, db):
    ann = user(db, "ann@example.com")
    trading.ensure_account(ann, START, 1)
    with trading.locked(ann) as ledger:
        order = ledger.insert_order(new_order(ann))
        ledger.insert_fill(order, 65, Decimal("100"), Decimal("2"), 2)
        put = ledger.insert_order(replace(new_order(ann), contract=PUT,
                                          symbol="NIFTY26DEC24000PE"))
        ledger.insert_fill(put, 65, Decimal("80"), Decimal("2"), 2)
    start = trading.last_event_id()
    with trading.locked(ann) as ledger:
        ledger.reset(START, 3)
    events = trading.events_after(start)
    assert [e.kind for e in events] == ["position", "position"]
    flat = [position_of_event(e.payload) for e in events]
    assert {c for c, _ in flat} == {CALL, PUT}
    assert all((p.quantity, p.cost, p.realised, p.charges) == (0, 0, 0, 0) for _, p in flat)


def test_events_older_than_a_day_are_pruned(trading, db):
    ann = user(db, "ann@example.com")
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    old, recent = epoch_us(now - timedelta(days=1, seconds=1)), epoch_us(now - timedelta(hours=23))
    with trading.locked(ann) as ledger:
        for at in (old, old, old, recent):
            ledger.insert_order(new_order(ann, placed_at=at))
    assert retention.prune_events(db, now, batch_size=2) == 3
    assert [e.at for e in trading.events_after(0)] == [recent]
    assert retention.prune_events(db, now) == 0


def test_revision_0006_adds_only_the_events_table_and_downgrades_cleanly(fresh_url):
    from alembic import command

    engine = database._create_engine(fresh_url)
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), "0005")
        before = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), "0006")
        assert set(sa.inspect(engine).get_table_names()) - before == set(schema.EVENT_TABLES)
        with engine.connect() as conn, conn.begin():
            command.downgrade(database._alembic_config(conn), "0005")
        assert set(sa.inspect(engine).get_table_names()) == before
    finally:
        engine.dispose()


def test_a_modified_order_writes_its_event(trading, db):
    ann = user(db, "ann@example.com")
    start = trading.last_event_id()
    with trading.locked(ann) as ledger:
        order = ledger.insert_order(new_order(ann))
        amended = ledger.amend_order(order, quantity=130, limit_price=Decimal("99.5"),
                                     stop_price=None, at=20)
    events = trading.events_after(start)
    assert [e.kind for e in events] == ["order", "order"]
    assert order_of_event(events[1].payload) == amended
    assert (amended.quantity, amended.limit_price, amended.updated_at) == (
        130, Decimal("99.5"), 20)
