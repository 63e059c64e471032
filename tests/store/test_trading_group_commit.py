"""Group commit of paper-trading writes on SQLite (deltastream.store.group_commit through
SqlTradingStore.run_locked): units queued while a batch runs commit together; a caller is
answered only after its batch committed; a unit that raises loses only its own writes; a
failed COMMIT or a killed process stores nothing of the batch; two orders of one account in
one batch cannot together exceed the margin. Real SQLite files, real threads and a real
killed process."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from deltastream.papertrade.service import MarginRejected, OrderRequest, quote_of
from deltastream.store import schema
from deltastream.store.database import open_database, sqlite_url
from deltastream.store.trading import ContractRef, Ledger, OrderRow, SqlTradingStore
from tests.papertrade import conftest as papertrade_fixtures
from tests.papertrade.conftest import make_service
from tests.store.test_trading import START, new_order, user

WAIT = 30.0
# The paper-trading tests' engine (products IDX and SEC on a fixed clock), used by name.
engine = papertrade_fixtures.engine


@pytest.fixture()
def sqlite_db(tmp_path) -> Iterator[sa.Engine]:
    engine = open_database(sqlite_url(tmp_path))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture()
def store(sqlite_db) -> SqlTradingStore:
    return SqlTradingStore(sqlite_db)


def stored_orders(db: sa.Engine) -> list[tuple[int, int]]:
    """(user, placed_at) of every stored order, read on a connection of its own."""
    with db.connect() as conn:
        return sorted((int(u), int(p)) for u, p in conn.execute(
            sa.select(schema.paper_orders.c.user_id, schema.paper_orders.c.placed_at)))


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Caller(threading.Thread):
    """A thread handing ``work`` to run_locked; ``outcome`` its result or exception and
    ``answered`` set once run_locked returned or raised."""

    def __init__(self, store: SqlTradingStore, user_id: int,
                 work: Callable[[Ledger], Any]) -> None:
        super().__init__(daemon=True)
        self.store, self.user_id, self.work = store, user_id, work
        self.outcome: Any = None
        self.answered = threading.Event()

    def run(self) -> None:
        try:
            self.outcome = self.store.run_locked(self.user_id, self.work)
        except Exception as error:
            self.outcome = error
        self.answered.set()


def queue_behind_held_lock(store: SqlTradingStore, callers: list[Caller]) -> None:
    """Start ``callers`` while the process's writer lock is held, so that the first leads a
    batch of its own and the others queue behind it; then let them go."""
    assert store.group is not None
    group = store.group
    with store._process_lock:
        callers[0].start()
        # The first caller leads: it took its unit off the queue and waits for the lock.
        wait_until(lambda: group._leading and not group._queue)
        for caller in callers[1:]:
            caller.start()
        wait_until(lambda: len(group._queue) == len(callers) - 1)


def inserter(user_id: int, placed_at: int) -> Callable[[Ledger], OrderRow]:
    return lambda ledger: ledger.insert_order(new_order(user_id, placed_at=placed_at))


def test_orders_queued_during_a_batch_commit_together(store, sqlite_db):
    users = [user(sqlite_db, f"u{i}@example.com") for i in range(8)]
    callers = [Caller(store, u, inserter(u, 100 + i)) for i, u in enumerate(users)]
    queue_behind_held_lock(store, callers)
    for caller in callers:
        assert caller.answered.wait(WAIT)
    assert all(isinstance(c.outcome, OrderRow) for c in callers)
    assert stored_orders(sqlite_db) == sorted((u, 100 + i) for i, u in enumerate(users))
    # The first caller's batch, then the seven queued behind it in one transaction.
    assert store.group is not None
    assert (store.group.batches, store.group.units) == (2, 8)


def test_a_caller_is_answered_only_after_its_batch_committed(store, sqlite_db):
    ann, bob, cyd = (user(sqlite_db, f"{n}@example.com") for n in ("ann", "bob", "cyd"))
    inside, release = threading.Event(), threading.Event()

    def slow(ledger: Ledger) -> OrderRow:
        row = ledger.insert_order(new_order(cyd, placed_at=3))
        inside.set()
        assert release.wait(WAIT)
        return row

    first = Caller(store, ann, inserter(ann, 1))
    second = Caller(store, bob, inserter(bob, 2))   # same batch as the slow one
    third = Caller(store, cyd, slow)
    queue_behind_held_lock(store, [first, second, third])
    assert first.answered.wait(WAIT)          # its own batch committed
    assert inside.wait(WAIT)
    # Bob's order ran before the slow unit in their shared batch: written, not committed,
    # so neither visible to another connection nor answered.
    assert stored_orders(sqlite_db) == [(ann, 1)]
    time.sleep(0.2)
    assert not second.answered.is_set()
    release.set()
    assert second.answered.wait(WAIT) and third.answered.wait(WAIT)
    assert stored_orders(sqlite_db) == sorted([(ann, 1), (bob, 2), (cyd, 3)])


def test_a_unit_that_raises_loses_only_its_own_writes(store, sqlite_db):
    ann, bob = user(sqlite_db, "ann@example.com"), user(sqlite_db, "bob@example.com")

    def refused(ledger: Ledger) -> None:
        ledger.insert_order(new_order(bob, placed_at=2))
        raise LookupError("refused after writing")

    callers = [Caller(store, ann, inserter(ann, 0)), Caller(store, bob, refused),
               Caller(store, ann, inserter(ann, 3))]
    queue_behind_held_lock(store, callers)
    for caller in callers:
        assert caller.answered.wait(WAIT)
    assert isinstance(callers[1].outcome, LookupError)
    assert stored_orders(sqlite_db) == [(ann, 0), (ann, 3)]


def test_a_failed_commit_fails_every_unit_of_the_batch_and_stores_none(store, sqlite_db):
    ann, bob = user(sqlite_db, "ann@example.com"), user(sqlite_db, "bob@example.com")

    def orphan(ledger: Ledger) -> None:
        # A foreign key checked at COMMIT: the batch's COMMIT fails.
        ledger.conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        ledger.conn.execute(sa.insert(schema.paper_accounts).values(
            user_id=999_999, currency="INR", cash="1", updated_at=1))

    callers = [Caller(store, ann, inserter(ann, 0)), Caller(store, bob, inserter(bob, 1)),
               Caller(store, bob, orphan), Caller(store, ann, inserter(ann, 2))]
    queue_behind_held_lock(store, callers)
    for caller in callers:
        assert caller.answered.wait(WAIT)
    assert isinstance(callers[0].outcome, OrderRow)           # its own, earlier batch
    for caller in callers[1:]:
        assert isinstance(caller.outcome, exc.IntegrityError)
    assert stored_orders(sqlite_db) == [(ann, 0)]
    # The store works on: the next unit commits.
    assert isinstance(store.run_locked(bob, inserter(bob, 5)), OrderRow)
    assert stored_orders(sqlite_db) == [(ann, 0), (bob, 5)]


KILLED_MID_BATCH = textwrap.dedent("""
    import os, sys, threading, time
    from deltastream.store.database import open_database
    from deltastream.store.trading import SqlTradingStore
    from tests.store.test_trading import new_order

    url, ann, bob = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = SqlTradingStore(open_database(url))

    def order(user_id, label):
        def work(ledger):
            ledger.insert_order(new_order(user_id, placed_at=label))
            if label == 3:
                os.write(1, b"inside\\n")   # one write: lines of two threads never mix
                threading.Event().wait()
        return work

    def call(user_id, label):
        store.run_locked(user_id, order(user_id, label))
        os.write(1, f"answered {label}\\n".encode())

    def wait_until(condition):
        while not condition():
            time.sleep(0.001)

    group = store.group
    with store._process_lock:
        threading.Thread(target=call, args=(ann, 1), daemon=True).start()
        wait_until(lambda: group._leading and not group._queue)
        for a in ((ann, 2), (bob, 3)):
            threading.Thread(target=call, args=a, daemon=True).start()
        wait_until(lambda: len(group._queue) == 2)
    threading.Event().wait()
""")


def test_a_process_killed_mid_batch_stores_and_acknowledges_none_of_it(sqlite_db, tmp_path):
    ann, bob = user(sqlite_db, "ann@example.com"), user(sqlite_db, "bob@example.com")
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_BATCH, sqlite_url(tmp_path), str(ann), str(bob)],
        stdout=subprocess.PIPE, text=True, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)})
    try:
        lines = []
        assert child.stdout is not None
        received: queue.Queue[str] = queue.Queue()
        stdout = child.stdout
        threading.Thread(target=lambda: [received.put(x.strip()) for x in stdout],
                         daemon=True).start()
        while (line := received.get(timeout=WAIT)) != "inside":
            lines.append(line)
        # The first order committed in its own batch; the second ran in the stuck batch.
        os.kill(child.pid, signal.SIGKILL)
        child.wait(WAIT)
        time.sleep(0.2)
        while not received.empty():
            lines.append(received.get())
    finally:
        child.kill()
        child.wait(WAIT)
    # The order written before the stuck one in its batch was not acknowledged either.
    assert "answered 2" not in lines and "answered 3" not in lines
    # A reader rolls the killed writer's journal back: only the first batch is stored.
    assert stored_orders(sqlite_db) == [(ann, 1)]


def test_two_orders_of_one_account_in_one_batch_cannot_exceed_the_margin(
        sqlite_db, engine):
    ann, bob = user(sqlite_db, "ann@example.com"), user(sqlite_db, "bob@example.com")
    chain = engine.latest("IDX").chains[0]
    strike = Decimal(repr(chain.atm_strike))
    symbol = f"IDX{chain.expiry:%Y%m%d}C{int(strike)}"
    service = make_service(sqlite_db, engine)
    store = service.store
    ask = quote_of(engine.latest("IDX"),
                   ContractRef("IDX", chain.expiry, strike, "call", "INR")).ask
    # Cash for one 250-unit order and half of another.
    service.starting_cash = {"INR": (375 * ask).quantize(Decimal("1")), "USD": START["USD"]}
    service._open_account(ann)
    results: list[Any] = []

    def place() -> None:
        try:
            results.append(service.place(ann, OrderRequest(side="BUY", quantity=250,
                                                           symbol=symbol)))
        except MarginRejected as error:
            results.append(error)

    assert store.group is not None
    # Bob's unit leads a batch of its own; Ann's two orders queue behind it, for one batch.
    leader = Caller(store, bob, inserter(bob, 1))
    with store._process_lock:
        leader.start()
        wait_until(lambda: store.group._leading and not store.group._queue)
        threads = [threading.Thread(target=place) for _ in range(2)]
        for t in threads:
            t.start()
        wait_until(lambda: len(store.group._queue) == 2)
    for t in threads:
        t.join(WAIT)
    assert leader.answered.wait(WAIT)
    assert (store.group.batches, store.group.units) == (2, 3)
    assert sorted(type(r).__name__ for r in results) == ["MarginRejected", "OrderRow"]
    assert sorted(o.status for o in store.orders(ann)) == ["FILLED", "REJECTED"]
    assert store.cash(ann)["INR"] >= 0


def statements_during(db: sa.Engine, action: Callable[[], Any]) -> list[str]:
    """The SQL statements ``db`` ran during ``action``."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(db, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(db, "before_cursor_execute", record)
    return seen


def test_a_placement_reads_the_accounts_fills_once_and_opened_accounts_not_again(
        sqlite_db, engine):
    ann = user(sqlite_db, "ann@example.com")
    chain = engine.latest("IDX").chains[0]
    symbol = f"IDX{chain.expiry:%Y%m%d}C{int(chain.atm_strike)}"
    service = make_service(sqlite_db, engine)
    for side in ("BUY", "SELL", "BUY"):
        service.place(ann, OrderRequest(side=side, quantity=50, symbol=symbol))
    ran = statements_during(sqlite_db, lambda: service.place(
        ann, OrderRequest(side="SELL", quantity=50, symbol=symbol)))
    fills_read = [s for s in ran if s.lstrip().upper().startswith("SELECT")
                  and "FROM paper_fills" in s]
    assert len(fills_read) == 1
    # The accounts were opened by the first order: not looked up again (the cash is read
    # under the lock).
    assert not [s for s in ran if s.startswith("SELECT paper_accounts.currency \nFROM")]
    assert statements_during(sqlite_db, lambda: service.store.ensure_account(
        ann, service.starting_cash, 1)) == []
    # The position replayed from the fills read once is the stored one: flat after
    # BUY, SELL, BUY, SELL.
    assert service.accounts(ann)["INR"].positions[0].position.quantity == 0


UNDER_GEVENT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()

    import sys
    import gevent
    import sqlalchemy as sa
    from deltastream.store import schema
    from deltastream.store.database import open_database
    from deltastream.store.trading import SqlTradingStore
    from tests.store.test_trading import new_order

    db = open_database(sys.argv[1])
    store = SqlTradingStore(db)
    users = [int(u) for u in sys.argv[2:]]
    seen = []

    def client(user_id):
        for n in range(5):
            row = store.run_locked(user_id, lambda ledger: ledger.insert_order(
                new_order(user_id, placed_at=n)))
            # Answered only once committed: a connection of its own sees the order.
            with db.connect() as conn:
                seen.append(conn.scalar(sa.select(sa.func.count()).where(
                    schema.paper_orders.c.id == row.id)))

    gevent.joinall([gevent.spawn(client, u) for u in users], raise_error=True)
    print(store.group.batches, store.group.units, sum(seen))
""")


def test_greenlets_placing_at_once_share_commits_under_gevent(sqlite_db, tmp_path):
    users = [user(sqlite_db, f"g{i}@example.com") for i in range(16)]
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", UNDER_GEVENT, sqlite_url(tmp_path), *map(str, users)],
        capture_output=True, text=True, timeout=120, check=False, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    batches, units, seen = map(int, done.stdout.split())
    assert (units, seen) == (80, 80)
    # Each batch takes every greenlet that was ready: 16 clients share commits.
    assert batches <= 20, batches
    assert len(stored_orders(sqlite_db)) == 80


WAITING_FOR_THE_LOCK = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()

    import sys
    import time
    import gevent
    from deltastream.store.database import open_database
    from deltastream.store.trading import SqlTradingStore
    from tests.store.test_trading import new_order

    store = SqlTradingStore(open_database(sys.argv[1]))
    ann = int(sys.argv[2])
    ticks = []
    placed = []

    def place():
        placed.append(store.run_locked(ann, lambda ledger: ledger.insert_order(
            new_order(ann, placed_at=1))))

    def ticker():
        while not placed:
            gevent.sleep(0.01)
            ticks.append(time.monotonic())

    print("ready", flush=True)
    sys.stdin.readline()          # the test holds the write lock from now on
    began = time.monotonic()
    gevent.joinall([gevent.spawn(place), gevent.spawn(ticker)], raise_error=True)
    print(len(ticks), round(time.monotonic() - began, 3), placed[0].id)
""")


def test_a_batch_waiting_for_another_process_write_lock_lets_the_process_run(
        sqlite_db, tmp_path):
    ann = user(sqlite_db, "ann@example.com")
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", WAITING_FOR_THE_LOCK, sqlite_url(tmp_path), str(ann)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        # Another process's writer (the engine's, say) holds the lock for 0.6 s.
        other = sqlite3.connect(tmp_path / "deltastream.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(0.6)
        other.execute("COMMIT")
        other.close()
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err
    ticks, waited, order_id = out.split()
    assert float(waited) >= 0.4             # the order waited for the lock ...
    # ... while the process's other greenlets ran (SQLite's busy handler would have slept
    # the whole process: no tick until the lock came free).
    assert int(ticks) >= 0.5 * float(waited) / 0.01, (ticks, waited)
    assert stored_orders(sqlite_db) == [(ann, 1)] and int(order_id) > 0
