"""The paper-trading tables on SQLite and PostgreSQL: exact decimal money round trips, accounts
opened once per currency, orders and fills per user (another user's are invisible), the
idempotency key unique per user, and the account lock serialising read-modify-write so that
concurrent changes are never lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from deltastream.store import database, schema
from deltastream.store.accounts import SqlAccountStore
from deltastream.store.trading import (
    DAY_US,
    AccountFills,
    ContractRef,
    FillRow,
    NewOrder,
    SqlTradingStore,
)
from deltastream.trading.positions import Position, replay

START = {"INR": Decimal("1000000"), "USD": Decimal("100000")}
CALL = ContractRef("NIFTY", date(2026, 12, 29), Decimal("24500"), "call", "INR")


def empty_trading(db: sa.Engine) -> None:
    with db.begin() as conn:
        for table in (*reversed(schema.TRADING_TABLES.values()),
                      *reversed(schema.ACCOUNT_TABLES.values())):
            conn.execute(sa.delete(table))


@pytest.fixture()
def trading(db) -> Iterator[SqlTradingStore]:
    yield SqlTradingStore(db)
    # The shared PostgreSQL database is emptied of the history tables only by conftest.
    empty_trading(db)


def user(db: sa.Engine, email: str) -> int:
    return SqlAccountStore(db).create_user(email, email, "h", 1).id


def new_order(user_id: int, key: str | None = None, status: str = "PENDING",
              placed_at: int = 10) -> NewOrder:
    return NewOrder(user_id, key, "NIFTY26DEC24500CE", CALL, "BUY", 65, "LIMIT",
                    Decimal("101.05"), None, "DAY", status, 0, None, False, None, placed_at)


def test_accounts_open_once_per_currency_with_exact_cash(trading, db):
    ann = user(db, "ann@example.com")
    trading.ensure_account(ann, START, 5)
    assert trading.cash(ann) == START
    with trading.locked(ann) as ledger:
        ledger.set_cash("INR", Decimal("999876.1234567"), 6)
    # Opening again leaves an existing account as it is.
    trading.ensure_account(ann, START, 7)
    assert trading.cash(ann) == {"INR": Decimal("999876.1234567"), "USD": Decimal("100000")}


def test_orders_and_fills_belong_to_their_user(trading, db):
    ann, bob = user(db, "ann@example.com"), user(db, "bob@example.com")
    for who in (ann, bob):
        trading.ensure_account(who, START, 1)
    with trading.locked(ann) as ledger:
        first = ledger.insert_order(new_order(ann, placed_at=10))
        second = ledger.insert_order(new_order(ann, placed_at=20))
        ledger.insert_fill(second, 65, Decimal("101.05"), Decimal("23.61"), 21)
        ledger.insert_fill(second, 130, Decimal("101.00"), Decimal("27.30"), 21)
        second = ledger.update_order(second, status="FILLED", filled_quantity=195,
                                     avg_fill_price=Decimal("101.0167"), at=21)
    assert trading.order(ann, first.id) == first
    assert trading.order(bob, first.id) is None
    assert [o.id for o in trading.orders(ann)] == [second.id, first.id]
    assert [o.id for o in trading.orders(ann, status="PENDING")] == [first.id]
    assert [o.id for o in trading.orders(ann, limit=1)] == [second.id]
    assert trading.orders(bob) == []
    read = trading.order(ann, second.id)
    assert read.status == "FILLED" and read.avg_fill_price == Decimal("101.0167")
    assert read.contract == CALL and read.limit_price == Decimal("101.05")
    fills = trading.fills(ann)
    assert [(f.quantity, f.price, f.charges) for f in fills] == [
        (65, Decimal("101.05"), Decimal("23.61")), (130, Decimal("101.00"), Decimal("27.30"))]
    assert all(f.signed_quantity > 0 and f.order_id == second.id for f in fills)
    assert trading.fills(bob) == []
    assert [o.id for o in trading.open_orders()] == [first.id]


def test_an_idempotency_key_is_unique_per_user(trading, db):
    ann, bob = user(db, "ann@example.com"), user(db, "bob@example.com")
    with trading.locked(ann) as ledger:
        placed = ledger.insert_order(new_order(ann, key="k1"))
    with trading.locked(bob) as ledger:
        ledger.insert_order(new_order(bob, key="k1"))   # another user's key space
    assert trading.order_by_key(ann, "k1") == placed
    with pytest.raises(exc.IntegrityError), trading.locked(ann) as ledger:
        ledger.insert_order(new_order(ann, key="k1"))
    # Orders without a key never collide.
    with trading.locked(ann) as ledger:
        ledger.insert_order(new_order(ann))
        ledger.insert_order(new_order(ann))
    assert len(trading.orders(ann)) == 3


def test_the_account_lock_serialises_concurrent_read_modify_writes(trading, db):
    ann = user(db, "ann@example.com")
    trading.ensure_account(ann, START, 1)
    errors: list[BaseException] = []

    def spend() -> None:
        try:
            with trading.locked(ann) as ledger:
                cash = ledger.cash()["INR"]
                time.sleep(0.05)       # the other thread would read the same cash unlocked
                ledger.set_cash("INR", cash - Decimal("100"), 2)
        except BaseException as error:   # reported below
            errors.append(error)

    threads = [threading.Thread(target=spend) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert trading.cash(ann)["INR"] == Decimal("999600")


def test_reset_deletes_orders_and_fills_and_restores_cash(trading, db):
    ann = user(db, "ann@example.com")
    trading.ensure_account(ann, START, 1)
    with trading.locked(ann) as ledger:
        order = ledger.insert_order(new_order(ann, key="k"))
        ledger.insert_fill(order, 65, Decimal("100"), Decimal("20"), 2)
        ledger.set_cash("INR", Decimal("993480"), 2)
    with trading.locked(ann) as ledger:
        ledger.reset(START, 3)
    assert trading.orders(ann) == [] and trading.fills(ann) == []
    assert trading.cash(ann) == START


def _fill_in(store: SqlTradingStore, who: int, price: str, at: int, side: str = "BUY"
             ) -> None:
    with store.locked(who) as ledger:
        order = ledger.insert_order(replace(new_order(who, placed_at=at), side=side))
        ledger.insert_fill(order, 65, Decimal(price), Decimal("20"), at)


def _held(store: SqlTradingStore, who: int) -> tuple[list[int], Position]:
    """The fills' ids and the CALL position a ledger of ``store`` sees, and that the replay
    of the fills read afresh agrees."""
    with store.locked(who) as ledger:
        fills, position = ledger.fills(), ledger.position(CALL)
    assert fills == store.fills(who)
    assert position == replay((f.signed_quantity, f.price, f.charges) for f in fills)
    return [f.id for f in fills], position


def test_remembered_fills_follow_other_processes_changes_and_resets(trading, db):
    ann = user(db, "ann@example.com")
    trading.ensure_account(ann, START, 1)
    other = SqlTradingStore(db)     # another process's store on the same database
    _fill_in(trading, ann, "100", 2)
    _fill_in(other, ann, "110", 3)
    ids, position = _held(trading, ann)       # remembered one, read the newer one
    assert len(ids) == 2 and position.quantity == 130 and position.cost == Decimal("13650")
    # A reset elsewhere, then as many fills as before (SQLite may give them the same ids):
    with other.locked(ann) as ledger:
        ledger.reset(START, 4)
    _fill_in(other, ann, "90", 5, side="SELL")
    _fill_in(other, ann, "95", 6, side="SELL")
    ids, position = _held(trading, ann)
    assert position.quantity == -130 and position.cost == Decimal("-12025")
    # A transaction that rolls back is not remembered.
    with pytest.raises(RuntimeError), trading.locked(ann) as ledger:
        ledger.insert_fill(ledger.insert_order(new_order(ann)), 65, Decimal("1"),
                           Decimal("0"), 7)
        raise RuntimeError("refused")
    assert _held(trading, ann)[1].quantity == -130


def test_a_refresh_outside_the_lock_leaves_the_locked_read_only_what_landed_since(
        trading, db):
    # The matcher reads other processes' fills before it takes the lock; under the lock it
    # reads the newest fill it remembers and those after it, and sees every fill.
    ann, bob = user(db, "ann@example.com"), user(db, "bob@example.com")
    other = SqlTradingStore(db)     # the web worker's store on the same database
    for n in range(5):
        _fill_in(other, ann, str(100 + n), n + 1)
    _fill_in(other, bob, "50", 6)
    trading.refresh([ann, bob])
    _fill_in(other, ann, "120", 7, side="SELL")
    _fill_in(other, ann, "121", 8, side="SELL")
    reads: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "paper_fills" in statement:
            reads.append((statement, parameters))

    with trading.locked(ann) as ledger:
        sa.event.listen(db, "before_cursor_execute", record)
        try:
            position = ledger.position(CALL)
        finally:
            sa.event.remove(db, "before_cursor_execute", record)
        fills = ledger.fills()
    assert fills == other.fills(ann)
    # One read, from the newest remembered fill (the fifth) on: not the whole history.
    assert len(reads) == 1 and "fills_count" in reads[0][0]
    values = reads[0][1].values() if isinstance(reads[0][1], dict) else reads[0][1]
    assert fills[4].id in list(values)
    assert position == replay((f.signed_quantity, f.price, f.charges) for f in fills)
    assert position.quantity == 3 * 65
    # A reset elsewhere after the refresh: the locked read finds the remembered fills gone.
    trading.refresh([ann])
    with other.locked(ann) as ledger:
        ledger.reset(START, 9)
    _fill_in(other, ann, "90", 10, side="SELL")
    ids, position = _held(trading, ann)
    assert len(ids) == 1 and position.quantity == -65
    assert _held(trading, bob)[1].quantity == 65


def test_account_fills_add_up_positions_and_the_days_cash_units_and_starting_cost():
    day = 20_000 * DAY_US          # a UTC midnight, epoch µs

    def fill(n: int, side: str, price: str, charges: str, at: int) -> FillRow:
        return FillRow(n, n, 1, CALL, side, 65, Decimal(price), Decimal(charges), at)

    account = AccountFills().plus([fill(1, "BUY", "100", "20", day + 5),
                                   fill(2, "BUY", "110", "25", day + 6)])
    assert account.flow_of_day("INR", 20_000) == -(6500 + 20) - (7150 + 25)
    assert account.at_day_start(CALL, 20_000) == (0, 0)
    # Next day: sell 65 of 130 held at an average cost of 105: realised 65 x 15 = 975.
    account = account.plus([fill(3, "SELL", "120", "30", day + DAY_US)])
    assert account.positions[CALL] == Position(65, Decimal("6825"), Decimal("975"),
                                               Decimal("75"))
    # The day's figures are the new day's: 65 x 120 - 30 received, 130 units held at its
    # start at a cost of 6500 + 7150; the day before is no longer the account's day.
    assert account.flow_of_day("INR", 20_001) == Decimal("7770")
    assert account.flow_of_day("INR", 20_000) == 0 and account.flow_of_day("USD", 20_001) == 0
    assert account.at_day_start(CALL, 20_001) == (130, Decimal("13650"))
    # A later day without fills starts with what is held now.
    assert account.at_day_start(CALL, 20_002) == (65, Decimal("6825"))
    # An earlier day's fill committed after the new day's belongs to the earlier day: held
    # when the new one began, none of the new day's cash.
    late = account.plus([fill(4, "BUY", "99", "5", day + DAY_US - 1)])
    assert late.positions[CALL].quantity == 130
    assert late.flow_of_day("INR", 20_001) == Decimal("7770")
    assert late.at_day_start(CALL, 20_001)[0] == 130 + 65
    # What a later read is checked against: how many fills, and the newest.
    assert (account.count, account.newest) == (3, fill(3, "SELL", "120", "30", day + DAY_US))


def test_revision_0005_adds_only_the_trading_tables_and_downgrades_cleanly(fresh_url):
    from alembic import command

    engine = database._create_engine(fresh_url)
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), "0004")
        before = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), "0005")
        assert set(sa.inspect(engine).get_table_names()) - before == set(schema.TRADING_TABLES)
        with engine.connect() as conn, conn.begin():
            command.downgrade(database._alembic_config(conn), "0004")
        assert set(sa.inspect(engine).get_table_names()) == before
    finally:
        engine.dispose()


def test_revision_0007_adds_only_the_open_orders_index_and_downgrades_cleanly(fresh_url):
    from alembic import command

    engine = database._create_engine(fresh_url)

    def indexes() -> set[str]:
        return {ix["name"] for ix in sa.inspect(engine).get_indexes("paper_orders")}

    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), "0006")
        before = indexes()
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), "0007")
        assert indexes() - before == {"ix_paper_orders_user_id_status"}
        with engine.connect() as conn, conn.begin():
            command.downgrade(database._alembic_config(conn), "0006")
        assert indexes() == before
    finally:
        engine.dispose()


def test_open_units_read_only_the_users_open_orders(trading, db):
    # The position-limit check runs on every placement: its read of the user's open orders
    # goes through (user_id, status), not through every order the user has placed.
    ann = user(db, "ann@example.com")
    with trading.locked(ann) as ledger:
        for _ in range(3):
            ledger.insert_order(new_order(ann, status="FILLED"))
        ledger.insert_order(new_order(ann))
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "sum(" in statement.lower():
            seen.append((statement, parameters))

    sa.event.listen(db, "before_cursor_execute", capture)
    try:
        with trading.locked(ann) as ledger:
            assert ledger.open_units(CALL, "BUY") == 65
            assert ledger.open_units(CALL, "SELL") == 0
    finally:
        sa.event.remove(db, "before_cursor_execute", capture)
    if db.dialect.name != "sqlite":
        return     # PostgreSQL's planner chooses by table statistics: the figure is enough
    statement, parameters = seen[0]
    with db.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters))
    assert "ix_paper_orders_user_id_status" in plan, plan
