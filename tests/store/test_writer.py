"""The background writer: batches, periodic archives, drops when full, flush and close,
ordering of checkpoints and session closes, survival of a failing batch, and of a failing
database (directory gone, file immutable, server refusing, read-only): nothing waiting is
lost while the queue holds it, and writing resumes by itself."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from deltastream.store import schema
from deltastream.store.database import DB_FILE, open_database, sqlite_url
from deltastream.store.history import load_states, session_closes
from deltastream.store.writer import StoreWriter
from tests.support.faults import (
    chattr_supported,
    directory_gone,
    immutable,
    postgres_read_only,
    postgres_refusing,
)
from tests.support.store import count, expected_archive_times
from tests.support.waiting import wait_until

from .conftest import write_all


def test_writes_every_tick_and_summary_and_an_archive_per_interval(db, snapshots):
    writer = write_all(db, snapshots, archive_every=60.0)
    n_ticks = 2 * len(snapshots)
    n_summaries = sum(len(s.chains) for tick in snapshots for s in tick.values())
    idx_archives = expected_archive_times([t["IDX"] for t in snapshots], 60.0)
    assert 1 < len(idx_archives) < len(snapshots)
    assert count(db, schema.underlying_ticks) == n_ticks
    assert count(db, schema.chain_summaries) == n_summaries
    assert count(db, schema.chain_archive) == 2 * len(idx_archives)
    with db.connect() as conn:
        stored = conn.execute(sa.select(schema.chain_archive.c.ts)
                              .where(schema.chain_archive.c.product == "IDX")
                              .order_by(schema.chain_archive.c.ts)).scalars().all()
    assert stored == idx_archives
    stats = writer.stats()
    assert stats.rows_written["underlying_ticks"] == n_ticks
    assert stats.rows_written["chain_summaries"] == n_summaries
    assert stats.dropped == 0 and stats.queue_depth == 0 and stats.failed_batches == 0
    assert 1 <= writer.batches <= n_ticks


def test_batches_hold_at_most_batch_max_items(db, snapshots):
    writer = StoreWriter(db, batch_max=10, archive_every=None, linger=0.0, start=False)
    for tick in snapshots[:15]:
        for snap in tick.values():
            writer.submit(snap)
    writer.start()
    assert writer.close(30.0)
    assert writer.batches == 3
    assert writer.rows_written["underlying_ticks"] == 30
    assert writer.rows_written["chain_archive"] == 0


def test_a_full_queue_drops_and_counts_without_blocking(db, idx_snapshots):
    writer = StoreWriter(db, capacity=2, linger=0.0, start=False)   # paused: nothing drains
    started = time.monotonic()
    accepted = [writer.submit(s) for s in idx_snapshots[:3]]
    refused_state = writer.save_state("IDX", 3, idx_snapshots[2].timestamp, b"state")
    assert time.monotonic() - started < 0.5
    assert accepted == [True, True, False] and not refused_state
    assert writer.dropped == 2 and writer.queue_depth == 2
    assert not writer.flush(0.05)                # nothing drains while paused
    writer.start()
    assert writer.flush(30.0)
    assert writer.queue_depth == 0
    assert count(db, schema.underlying_ticks) == 2
    assert writer.close(30.0)
    assert not writer.submit(idx_snapshots[5])   # closed: refused and counted
    assert writer.dropped == 3


def test_close_writes_everything_queued(db, idx_snapshots):
    writer = StoreWriter(db, capacity=1000, linger=0.0, start=False)
    for snap in idx_snapshots:
        writer.submit(snap)
    writer.start()
    assert writer.close(30.0)
    assert count(db, schema.underlying_ticks) == len(idx_snapshots)
    assert writer.rows_written["underlying_ticks"] == len(idx_snapshots)


def test_states_and_session_closes_keep_submission_order(db, idx_snapshots):
    writer = StoreWriter(db, linger=0.0, start=False)
    first, later = idx_snapshots[10], idx_snapshots[-1]
    day = date(2026, 11, 25)
    writer.save_state("IDX", 1, first.timestamp, b"one")
    writer.save_session_close(first, day)
    writer.save_state("IDX", 2, later.timestamp, b"two")      # same batch: the last wins
    writer.save_session_close(later, day)
    writer.save_state("SML", 9, later.timestamp, b"sml")
    writer.start()
    assert writer.flush(30.0)
    states = load_states(db)
    assert states == {"IDX": (2, later.timestamp, b"two"), "SML": (9, later.timestamp, b"sml")}
    closes = session_closes(db, "IDX", day)
    chain = later.chains[0]
    calls = [c for c in closes if c.expiry == chain.expiry and c.right == "C"]
    assert [c.close_oi for c in calls] == chain.calls.open_interest.tolist()
    # A later batch replaces the product's state again.
    writer.save_state("IDX", 3, later.timestamp, b"three")
    assert writer.close(30.0)
    assert load_states(db)["IDX"].payload == b"three"
    assert count(db, schema.market_state) == 2


def test_a_failing_batch_is_counted_and_the_writer_goes_on(db, idx_snapshots):
    writer = StoreWriter(db, linger=0.0, retries=1, retry_pause=0.01, start=False)
    writer.save_state(None, 1, idx_snapshots[0].timestamp, b"x")   # NOT NULL violation
    writer.start()
    assert writer.flush(30.0)
    writer.submit(idx_snapshots[0])
    assert writer.close(30.0)
    stats = writer.stats()
    assert stats.failed_batches == 1 and stats.last_error
    assert count(db, schema.underlying_ticks) == 1


# -- a failing database --------------------------------------------------------------------

FAULTS = ["sqlite-directory-gone", "sqlite-immutable", "postgresql-refusing",
          "postgresql-read-only"]


@contextlib.contextmanager
def _fault(kind: str, url: str, path: Path | None) -> Iterator[None]:
    if kind == "sqlite-directory-gone":
        assert path is not None
        with directory_gone(path.parent):
            yield
    elif kind == "sqlite-immutable":
        assert path is not None
        # The database and every file SQLite keeps beside it (a WAL index here would be a
        # mapped file, and writing to it SIGBUS: this test would crash).
        with immutable(path, *(path.with_name(path.name + s) for s in ("-journal", "-wal",
                                                                       "-shm"))):
            yield
    elif kind == "postgresql-refusing":
        with postgres_refusing(url):
            yield
    else:
        with postgres_read_only(url):
            yield


@pytest.fixture(params=FAULTS)
def failing(request, tmp_path) -> Iterator[tuple[sa.Engine, Any]]:
    """A migrated store and a context that makes it fail (undone on leaving it)."""
    kind = request.param
    path = None
    if kind.startswith("sqlite"):
        if kind == "sqlite-immutable" and not chattr_supported(tmp_path):
            pytest.skip("chattr +i is not available here (needs root and ext4/xfs/btrfs)")
        path = tmp_path / "data" / DB_FILE
        path.parent.mkdir()
        url = sqlite_url(path.parent)
    else:
        url = request.getfixturevalue("postgres").create()
    # Without a pool each write opens the file again: a renamed directory then fails it.
    pool = {"poolclass": sa.pool.NullPool} if kind == "sqlite-directory-gone" else {}
    db = open_database(url, **pool)
    try:
        yield db, functools.partial(_fault, kind, url, path)
    finally:
        db.dispose()


def test_a_failing_database_keeps_what_waits_and_writes_it_when_it_recovers(
        failing, idx_snapshots, caplog):
    db, fault = failing
    writer = StoreWriter(db, capacity=20, linger=0.0, retry_pause=0.05, max_retry_pause=0.2)
    before = idx_snapshots[:5]
    for snap in before:
        writer.submit(snap)
    assert writer.flush(30.0)
    caplog.set_level(logging.INFO, logger="deltastream.store")
    with fault():
        during = idx_snapshots[5:40]
        accepted = [snap for snap in during if writer.submit(snap)]
        wait_until(lambda: writer.failing and writer.stats().failures >= 3, timeout=30)
        stats = writer.stats()
        assert stats.failing_since is not None and time.time() - stats.failing_since < 60
        assert stats.last_error
        assert stats.failed_batches == 0                     # nothing given up
        assert len(accepted) == 20 and stats.dropped == len(during) - 20
        assert not writer.flush(0.3)
    assert writer.flush(30.0)
    assert not writer.failing and writer.stats().failing_since is None
    assert writer.close(10.0)
    assert count(db, schema.underlying_ticks) == len(before) + len(accepted)
    # One line when it began, one when it ended: not one per attempt.
    lines = [r.getMessage() for r in caplog.records if r.name == "deltastream.store.writer"]
    assert len(lines) == 2, lines
    assert "failing" in lines[0] and "writing again" in lines[1]


def test_closing_while_the_database_fails_does_not_wait_for_it(failing, idx_snapshots):
    db, fault = failing
    writer = StoreWriter(db, linger=0.0, retry_pause=0.05, max_retry_pause=0.2)
    writer.submit(idx_snapshots[0])
    assert writer.flush(30.0)
    with fault():
        for snap in idx_snapshots[1:11]:
            writer.submit(snap)
        wait_until(lambda: writer.failing, timeout=30)
        started = time.monotonic()
        assert not writer.close(30.0)
        assert time.monotonic() - started < 5.0
    stats = writer.stats()
    assert stats.queue_depth == 0
    assert stats.dropped == 10 and stats.failed_batches == 0
    assert count(db, schema.underlying_ticks) == 1           # what was stored stays
