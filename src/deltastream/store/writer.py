"""Background writes of the store: nothing on the tick path waits for the database.

:meth:`StoreWriter.submit` only appends to a bounded in-memory queue (when it is full the
item is dropped and counted). One real OS thread (also under gevent's monkey-patching)
drains the queue and writes each batch in one transaction with executemany: the underlying's
tick and the chain summaries of every snapshot, a full-chain archive at most every
``archive_every`` seconds of market time per source and product, and, in submission order,
session closes and the market's checkpoints. Rows carry the snapshot's ``source`` (the
simulator's, or a replayed or polled feed's); ticks, summaries and archives already stored
under the same key are kept, so a replayed tick is never written twice.

A failing database (I/O error, full or read-only disk, immutable files, server unreachable:
see :func:`~deltastream.store.database.is_fault`) never stops the writer and loses nothing
the database already holds: the writer keeps the batch and retries it with exponential
back-off (``retry_pause`` doubling up to ``max_retry_pause`` seconds) until a write succeeds,
reporting the failure in :meth:`StoreWriter.stats` (``failing_since``) and in the log (when
it begins, once a minute while it lasts, when it ends). Meanwhile the queue fills and then
drops new items (counted). A batch the database refuses (a constraint) is given up after
``retries`` attempts.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..core.snapshot import ChainSnapshot
from ..core.threads import real_event, real_lock, real_thread
from . import schema
from .database import describe, is_fault
from .rows import Row, archive_row, epoch_us, session_close_rows, summary_rows, tick_row

log = logging.getLogger(__name__)

# Seconds between two log lines while writes keep failing.
FAILING_LOG_EVERY = 60.0

# Rows already stored (same key) are kept: a replayed tick never fails a batch.
_APPEND_ONLY = ("underlying_ticks", "chain_summaries", "chain_archive")
# The newest row wins.
_UPSERT_KEYS = {"market_state": ("product",),
                "session_close": ("source", "product", "session_date", "expiry", "strike",
                                  "right")}


# A checkpoint's bytes, or a function making them (called on the writer thread).
Payload = bytes | Callable[[], bytes]


def _payload_bytes(payload: Payload) -> bytes:
    return bytes(payload() if callable(payload) else payload)


# The queue's items: what a producer asked to be written, in submission order.

@dataclass(frozen=True)
class _SnapshotItem:
    snapshot: ChainSnapshot
    state: Payload | None          # the product's market checkpoint at this tick, if any


@dataclass(frozen=True)
class _StateItem:
    row: Row                       # a market_state row (its payload maybe still a function)


@dataclass(frozen=True)
class _CloseItem:
    snapshot: ChainSnapshot        # the session's last snapshot
    session_date: date


_Item = _SnapshotItem | _StateItem | _CloseItem


@dataclass(frozen=True)
class WriterStats:
    """Counters of a :class:`StoreWriter` at one moment."""

    queue_depth: int              # items waiting
    dropped: int                  # items refused because the queue was full (or closed), or
                                  # left unwritten at close while the database failed
    batches: int                  # transactions committed
    failed_batches: int           # batches given up after their retries
    rows_written: dict[str, int]  # per table
    last_error: str | None
    failing_since: float | None = None   # epoch seconds of the first failed write of the
                                         # current failure; None while writes succeed
    failures: int = 0             # failed attempts since the last successful write


class _Wakeup:
    """A wake-up signal for ONE waiting thread from any number of notifiers, on real locks
    (so it works between OS threads under gevent). The waiter's lock acquisition consumes
    the signal; notifiers serialize on ``mutex``."""

    def __init__(self, mutex: Any) -> None:
        self._mutex = mutex
        self._flag = real_lock()
        self._flag.acquire()

    def notify_locked(self) -> None:
        """Signal; the caller holds ``mutex``."""
        if self._flag.locked():
            self._flag.release()

    def wait(self, timeout: float) -> bool:
        return bool(self._flag.acquire(True, max(timeout, 0.0)))


def _insert(db_engine: sa.Engine, table: sa.Table) -> Any:
    if db_engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    if db_engine.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"store backend {db_engine.dialect.name!r} is not supported")


def _append_statement(db_engine: sa.Engine, table: sa.Table) -> Any:
    return _insert(db_engine, table).on_conflict_do_nothing()


def _upsert_statement(db_engine: sa.Engine, table: sa.Table, keys: tuple[str, ...]) -> Any:
    stmt = _insert(db_engine, table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys})


class StoreWriter:
    """Writes snapshots, session closes and market checkpoints in the background.

    ``capacity``: items the queue holds before new ones are dropped (a queued snapshot keeps
    its arrays alive: roughly 50-200 KB each for a default-catalogue product). ``archive_every``:
    seconds of market time between two full-chain archives of a product (0 archives every
    snapshot, None never). ``batch_max``: items per transaction. ``linger``: seconds the
    writer waits after waking for more items to join a small batch. ``retries``: attempts
    after a transaction the database refused (with a growing pause of ``retry_pause``
    seconds) before the batch is given up and counted. A failing database is retried until
    it recovers, after ``retry_pause`` seconds doubling up to ``max_retry_pause``.
    ``start=False`` leaves the thread to :meth:`start`.
    """

    def __init__(self, db_engine: sa.Engine, *, capacity: int = 1000,
                 archive_every: float | None = 60.0, batch_max: int = 500,
                 linger: float = 0.05, retries: int = 3, retry_pause: float = 0.5,
                 max_retry_pause: float = 10.0, start: bool = True) -> None:
        if capacity < 1 or batch_max < 1:
            raise ValueError("capacity and batch_max must be >= 1")
        self.db_engine = db_engine
        self.capacity = capacity
        self.archive_every = archive_every
        self.batch_max = batch_max
        self.linger = linger
        self.retries = retries
        self.retry_pause = retry_pause
        self.max_retry_pause = max(max_retry_pause, retry_pause)
        self._lock = real_lock()
        self._wakeup = _Wakeup(self._lock)
        self._pause = real_lock()          # never released: a sleep that works in any thread
        self._pause.acquire()
        self._items: deque[_Item] = deque()
        self._accepted = 0
        self._done = 0
        self._waiters: list[tuple[int, Any]] = []
        self._stopping = False
        self._stop = real_event()          # ends a back-off at shutdown
        self._closed = False
        self._dropped = 0
        self._batches = 0
        self._failed_batches = 0
        self._rows: dict[str, int] = dict.fromkeys(schema.TABLES, 0)
        self._last_error: str | None = None
        self._failing_since: float | None = None
        self._failures = 0
        self._logged_failing = 0.0         # monotonic time of the last "failing" log line
        # (source, product) -> epoch us of its last archive
        self._last_archive: dict[tuple[str, str], int] = {}
        self._append = {name: _append_statement(db_engine, schema.TABLES[name])
                        for name in _APPEND_ONLY}
        self._upsert = {name: _upsert_statement(db_engine, schema.TABLES[name], keys)
                        for name, keys in _UPSERT_KEYS.items()}
        self._thread: Any = None
        if start:
            self.start()

    # -- producers (any thread or greenlet; never block on the database) -------------------

    def submit(self, snapshot: ChainSnapshot, state: Payload | None = None) -> bool:
        """Queue one tick's snapshot; False (and counted in ``dropped``) when the queue is
        full or the writer closed. ``state``: the market's checkpoint of the product at this
        tick, written in the same transaction as the tick (so the stored state and the last
        stored tick always agree)."""
        return self._put(_SnapshotItem(snapshot, state))

    def save_state(self, product: str, sequence: int, ts: datetime, payload: Payload) -> bool:
        """Queue the market's checkpoint of ``product`` (opaque ``payload``, or a function
        making it, called on the writer thread), stored as the product's one
        ``market_state`` row once written."""
        return self._put(_StateItem({"product": product, "sequence": int(sequence),
                                     "ts": epoch_us(ts), "payload": payload}))

    def save_session_close(self, snapshot: ChainSnapshot, session_date: date) -> bool:
        """Queue every contract's closing OI and premium of ``session_date`` from the
        session's last ``snapshot``."""
        return self._put(_CloseItem(snapshot, session_date))

    def _put(self, item: _Item) -> bool:
        with self._lock:
            if self._closed or len(self._items) >= self.capacity:
                self._dropped += 1
                return False
            self._items.append(item)
            self._accepted += 1
            self._wakeup.notify_locked()
            return True

    # -- counters ---------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._items)

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def batches(self) -> int:
        return self._batches

    @property
    def rows_written(self) -> dict[str, int]:
        """Rows written per table (rows a unique key already held count too)."""
        with self._lock:
            return dict(self._rows)

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(queue_depth=len(self._items), dropped=self._dropped,
                               batches=self._batches, failed_batches=self._failed_batches,
                               rows_written=dict(self._rows), last_error=self._last_error,
                               failing_since=self._failing_since, failures=self._failures)

    @property
    def failing(self) -> bool:
        """Whether the last write failed because the database is failing."""
        return self._failing_since is not None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (once)."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = real_thread(self._run, "deltastream-store-writer")
        self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (at most ``timeout`` seconds) until every item submitted before this call is
        written (or given up after its retries); True when it was. Blocks the calling OS
        thread: call it at shutdown or from a worker thread, not on a request."""
        gate = real_lock()
        gate.acquire()
        with self._lock:
            target = self._accepted
            if self._done >= target:
                return True
            self._waiters.append((target, gate))
            self._wakeup.notify_locked()
        if gate.acquire(True, max(timeout, 0.0)):
            return True
        with self._lock:
            if (target, gate) in self._waiters:
                self._waiters.remove((target, gate))
            return self._done >= target

    def close(self, timeout: float = 10.0) -> bool:
        """Refuse new items, write everything queued (within ``timeout`` seconds) and stop
        the thread. True when everything was written. While the database is failing it does
        not wait for it: what is still queued is counted in ``dropped``."""
        started = time.monotonic()
        with self._lock:
            self._closed = True
            dropped = self._dropped
        flushed = False
        while self._thread is not None and not flushed:
            left = timeout - (time.monotonic() - started)
            if left <= 0 or self.failing:
                break
            flushed = self.flush(min(left, 0.5))
        with self._lock:
            self._stopping = True
            self._stop.set()
            self._wakeup.notify_locked()
        if self._thread is not None:
            self._thread.join(max(0.0, timeout - (time.monotonic() - started)))
        with self._lock:
            return flushed or (not self._items and self._dropped == dropped)

    # -- the writer thread --------------------------------------------------------------------

    def _take(self) -> list[_Item]:
        with self._lock:
            n = min(len(self._items), self.batch_max)
            return [self._items.popleft() for _ in range(n)]

    def _run(self) -> None:
        while True:
            with self._lock:
                empty = not self._items
                stopping = self._stopping
            if empty:
                if stopping:
                    return
                self._wakeup.wait(1.0)
                continue
            if stopping and self.failing:
                self._abandon()
                return
            if self.linger > 0 and len(self._items) < self.batch_max and not stopping:
                self._pause.acquire(True, self.linger)
            batch = self._take()
            try:
                written = self._write_with_retries(batch)
            except Exception as error:   # the writer thread must survive anything
                log.exception("store writer: batch failed")
                written = None
                self._last_error = f"{type(error).__name__}: {error}"
            with self._lock:
                self._done += len(batch)
                if written is None and self._stop.is_set() and self._failing_since is not None:
                    self._dropped += len(batch)       # left unwritten at close
                elif written is None:
                    self._failed_batches += 1
                else:
                    self._batches += 1
                    for name, n in written.items():
                        self._rows[name] += n
                ready = [w for w in self._waiters if w[0] <= self._done]
                self._waiters = [w for w in self._waiters if w[0] > self._done]
            for _, gate in ready:
                gate.release()

    def _abandon(self) -> None:
        """At shutdown with the database failing: count what is still queued as dropped."""
        with self._lock:
            n = len(self._items)
            self._items.clear()
            self._dropped += n
            self._done += n
            ready, self._waiters = self._waiters, []
        if n:
            log.error("store writer: %d queued items not written (the database is failing: "
                      "%s)", n, self._last_error)
        for _, gate in ready:
            gate.release()

    def _write_with_retries(self, batch: list[_Item]) -> dict[str, int] | None:
        tables = self._rows_of(batch)
        refused = 0
        while True:
            try:
                self._write(tables)
            except (sa.exc.DBAPIError, sa.exc.TimeoutError) as error:
                self._last_error = describe(error)
                if is_fault(error):
                    pause = self._failed()
                else:
                    refused += 1
                    log.warning("store writer: write of %d rows refused (attempt %d of %d): %s",
                                sum(map(len, tables.values())), refused, self.retries + 1,
                                self._last_error)
                    if refused > self.retries:
                        return None
                    pause = self.retry_pause * refused
                if self._stop.wait(pause):
                    return None               # shutting down: the batch stays unwritten
                continue
            self._succeeded()
            return {name: len(rows) for name, rows in tables.items()}

    def _failed(self) -> float:
        """Record a failed attempt on a failing database; the pause before the next one."""
        now = time.monotonic()
        with self._lock:
            first = self._failing_since is None
            if first:
                self._failing_since = time.time()
            self._failures += 1
            failures, depth, dropped = self._failures, len(self._items), self._dropped
        pause = min(self.retry_pause * 2 ** min(failures - 1, 30), self.max_retry_pause)
        if first:
            self._logged_failing = now
            log.error("store writer: the database is failing; writes wait and are retried "
                      "(every %g s at most) while the live market goes on: %s",
                      self.max_retry_pause, self._last_error)
        elif now - self._logged_failing >= FAILING_LOG_EVERY:
            self._logged_failing = now
            since = self._failing_since or time.time()
            log.error("store writer: writes failing for %.0f s (%d attempts; %d items "
                      "waiting, %d dropped): %s", time.time() - since, failures, depth,
                      dropped, self._last_error)
        return pause

    def _succeeded(self) -> None:
        with self._lock:
            since, failures = self._failing_since, self._failures
            self._failing_since, self._failures = None, 0
        if since is not None:
            log.info("store writer: writing again after %.0f s of failures (%d attempts)",
                     time.time() - since, failures)

    def _rows_of(self, batch: Iterable[_Item]) -> dict[str, list[Row]]:
        tables: dict[str, list[Row]] = {name: [] for name in schema.TABLES}
        latest: dict[str, dict[tuple[Any, ...], Row]] = {name: {} for name in _UPSERT_KEYS}
        for item in batch:
            if isinstance(item, _SnapshotItem):
                snap = item.snapshot
                tables["underlying_ticks"].append(tick_row(snap))
                tables["chain_summaries"].extend(summary_rows(snap))
                archive = self._archive_row(snap)
                if archive is not None:
                    tables["chain_archive"].append(archive)
                if item.state is None:
                    continue
                name = "market_state"
                rows = [{"product": snap.product, "sequence": int(snap.sequence),
                         "ts": epoch_us(snap.timestamp), "payload": item.state}]
            elif isinstance(item, _StateItem):
                name, rows = "market_state", [item.row]
            else:
                name = "session_close"
                rows = session_close_rows(item.snapshot, item.session_date)
            keys = _UPSERT_KEYS[name]
            for row in rows:
                # One statement may not update a row twice: the last one per key wins.
                latest[name][tuple(row[k] for k in keys)] = row
        for name, rows_by_key in latest.items():
            tables[name] = list(rows_by_key.values())
        # Only the checkpoint that survives is encoded.
        tables["market_state"] = [{**row, "payload": _payload_bytes(row["payload"])}
                                  for row in tables["market_state"]]
        return {name: rows for name, rows in tables.items() if rows}

    def _archive_row(self, snap: ChainSnapshot) -> Row | None:
        if self.archive_every is None:
            return None
        ts = epoch_us(snap.timestamp)
        key = (snap.source, snap.product)
        last = self._last_archive.get(key)
        if last is not None and last <= ts < last + int(self.archive_every * 1e6):
            return None
        self._last_archive[key] = ts
        return archive_row(snap)

    def _write(self, tables: dict[str, list[Row]]) -> None:
        with self.db_engine.begin() as conn:
            for name, rows in tables.items():
                stmt = self._append.get(name)
                conn.execute(stmt if stmt is not None else self._upsert[name], rows)

