"""Group commit: the short write transactions of one process's callers committed together.

On SQLite (rollback journal, ``synchronous=FULL``: :mod:`deltastream.store.database`) every
commit syncs the journal and the database file, 15-60 ms on the measured disk, and every
writer waits for the database's one write lock; commits, not the work inside them, bound the
orders placed per second. :class:`GroupCommit` runs the units of work its callers hand it
(functions of a connection) in batches: one ``BEGIN IMMEDIATE`` ... ``COMMIT`` per batch, each
unit in a savepoint of its own, one after the other in arrival order.

Invariants:

- a unit sees every change committed before its batch began and every change of the units
  before it in its batch (one connection, one transaction): a check inside a unit (an
  account's margin) covers all of them, as if the units had committed one by one;
- acknowledged means committed: :meth:`GroupCommit.run` returns the unit's result (or raises
  the unit's own exception) only once its batch's COMMIT succeeded. When the COMMIT fails
  every unit of the batch raises that error and nothing of the batch is stored; a process
  killed mid-batch stores nothing of it (SQLite rolls the uncommitted transaction back from
  its journal) and has acknowledged none of it;
- a unit that raises is rolled back to its savepoint: its own writes go, the batch's others
  stay. A database fault inside a unit (:func:`~deltastream.store.database.is_fault`: the
  transaction may be gone) rolls the whole transaction back and fails the units run in it;
  the units after it run in a new transaction;
- the write lock is never held by a suspended greenlet's unfinished work: one caller, the
  leader, runs a whole batch's units from BEGIN on itself (units neither sleep nor wait), and
  only its COMMIT runs while the process goes on, on a thread that needs nothing from the
  process (below); a greenlet of the process meeting the lock meanwhile waits in SQLite's
  busy handler (which sleeps the whole process) at most until that COMMIT returns.

Waiting off the process's one thread of control: a batch begins with ``BEGIN IMMEDIATE`` tried
without SQLite's busy handler (which sleeps the whole process while another process, the
engine's writer say, holds the write lock) and tried again after short cooperative sleeps, up
to the busy timeout; and its COMMIT, which waits for the disk (journal and database synced),
runs on a thread of gevent's pool when gevent has patched the process, so the process's other
requests are read, authenticated and matched meanwhile and queue their units for the next
batch. The lock stays with the leader until the COMMIT returned, and the thread holding it
never waits for the process, so no greenlet can wait on a lock its own process cannot release.

Leader and followers: the first caller that finds no leader leads. It yields once (requests
ready to run queue their units meanwhile), takes up to ``max_batch`` queued units, runs and
commits them holding the process's writer lock, wakes their callers, and hands the lead to
the oldest unit still queued, if any; the others wait for their unit's outcome.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc

from .database import SQLITE_BUSY_TIMEOUT_MS, immediate_connection, is_fault

T = TypeVar("T")
# Units per transaction at most: bounds how long one batch holds the write lock.
MAX_BATCH = 64
# Cooperative retries of BEGIN IMMEDIATE while another connection writes: first and longest
# sleep (seconds), doubling in between; given up after the busy timeout, as SQLite would.
FIRST_RETRY = 0.0005
LONGEST_RETRY = 0.005


def _off_thread(call: Callable[[], None]) -> None:
    """``call()`` on a thread of gevent's pool when gevent patched the process (the calling
    greenlet waits, the others run), else here."""
    try:
        import gevent.monkey
    except ImportError:        # gevent is the server's; without it there is nothing to yield
        call()
        return
    if gevent.monkey.is_module_patched("threading"):
        gevent.get_hub().threadpool.apply(call)
    else:
        call()


def _set_busy_timeout(conn: sa.Connection, milliseconds: int) -> None:
    # On the driver's connection: through SQLAlchemy the PRAGMA would begin a transaction.
    conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
        f"PRAGMA busy_timeout = {milliseconds}")


def _locked(error: exc.OperationalError) -> bool:
    return "locked" in str(error.orig) or "busy" in str(error.orig)


class _Unit(Generic[T]):
    __slots__ = ("error", "finished", "result", "woken", "work")

    def __init__(self, work: Callable[[sa.Connection], T]) -> None:
        self.work = work
        self.woken = threading.Event()
        self.finished = False
        self.result: T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Units of work on ``db_engine`` committed in batches (module docstring). ``writer_lock``
    is held from each batch's BEGIN to its COMMIT: the lock the process's other writers of
    these tables take. ``batches`` and ``units`` count what committed or failed."""

    def __init__(self, db_engine: sa.Engine, writer_lock: Any, max_batch: int = MAX_BATCH
                 ) -> None:
        self.db = db_engine
        self.max_batch = max_batch
        self.batches = 0
        self.units = 0
        self._writer_lock = writer_lock
        # Guards the queue and the lead; held for a few statements, never across a unit.
        self._mutex = threading.Lock()
        self._queue: deque[_Unit[Any]] = deque()
        self._leading = False

    def run(self, work: Callable[[sa.Connection], T]) -> T:
        """``work(conn)`` inside a batch's transaction; its result once the batch committed,
        or the exception it raised (its writes rolled back), or the batch's failure."""
        unit = _Unit(work)
        with self._mutex:
            self._queue.append(unit)
            lead = not self._leading
            self._leading = True
        while True:
            if lead:
                self._lead()
            unit.woken.wait()
            if unit.finished:
                break
            unit.woken.clear()    # handed the lead
            lead = True
        if unit.error is not None:
            raise unit.error
        return unit.result  # type: ignore[return-value]

    def _lead(self) -> None:
        # One switch: under gevent the requests ready to run queue their units now.
        time.sleep(0)
        with self._mutex:
            batch = [self._queue.popleft()
                     for _ in range(min(len(self._queue), self.max_batch))]
        try:
            self._run_batch(batch)
        finally:
            with self._mutex:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._leading = False
            for unit in batch:
                if not unit.finished:
                    # Interrupted (the leader's greenlet killed): its transaction rolled back.
                    unit.result, unit.error = None, RuntimeError("the batch was interrupted")
                    unit.finished = True
                unit.woken.set()
            if successor is not None:
                successor.woken.set()

    def _run_batch(self, batch: list[_Unit[Any]]) -> None:
        pending = deque(batch)
        while pending:
            ran: list[_Unit[Any]] = []
            try:
                with self._writer_lock, self._transaction() as conn:
                    while pending:
                        unit = pending.popleft()
                        ran.append(unit)
                        self._run_unit(conn, unit)
                self.batches += 1
            except Exception as error:
                # Rolled back: nothing of ``ran`` is stored. Units that raised keep their own
                # exception (nothing of theirs was written either).
                for unit in ran:
                    if unit.error is None:
                        unit.result, unit.error = None, error
                if not ran:       # BEGIN failed: the batch cannot start
                    for unit in pending:
                        unit.error = error
                    pending.clear()
            finally:
                self.units += len(ran)
            for unit in ran:
                unit.finished = True
        for unit in batch:
            unit.finished = True

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        """As :func:`~deltastream.store.database.write_transaction`, waiting for the
        write lock and for the COMMIT without blocking the process (module docstring)."""
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        delay = FIRST_RETRY
        with immediate_connection(self.db) as conn:
            while True:
                _set_busy_timeout(conn, 0)
                try:
                    transaction = conn.begin()
                except exc.OperationalError as error:
                    if not _locked(error) or time.monotonic() >= deadline:
                        raise
                    conn.rollback()
                else:
                    break
                finally:
                    _set_busy_timeout(conn, SQLITE_BUSY_TIMEOUT_MS)
                time.sleep(delay)
                delay = min(2 * delay, LONGEST_RETRY)
            with transaction:
                yield conn
                self._commit(conn)

    @staticmethod
    def _commit(conn: sa.Connection) -> None:
        """COMMIT the open transaction off the process's thread; the transaction's own commit
        that follows then finds nothing to do. A failed COMMIT raises as SQLAlchemy would
        (the transaction is rolled back on the way out)."""
        raw: sqlite3.Connection = conn.connection.dbapi_connection  # type: ignore[assignment]
        failure: list[sqlite3.Error] = []

        def commit() -> None:
            try:
                raw.commit()
            except sqlite3.Error as error:
                failure.append(error)

        _off_thread(commit)
        if failure:
            raise exc.DBAPIError.instance("COMMIT", None, failure[0], sqlite3.Error)

    @staticmethod
    def _run_unit(conn: sa.Connection, unit: _Unit[Any]) -> None:
        savepoint = conn.begin_nested()
        try:
            unit.result = unit.work(conn)
        except Exception as error:
            unit.error = error
            if is_fault(error):
                raise        # the transaction may be gone: the batch fails
            savepoint.rollback()
        else:
            savepoint.commit()
