"""Retention: delete stored rows older than each table's retention, in bounded batches.

Only the simulated market's rows (source ``simulator``) are pruned: its history grows every
second and the retention settings bound it. Imported and recorded sources are data the user
chose to store (a year of bhavcopies, a saved day) and are kept whatever their age; their
timestamps are in the past by nature and would otherwise be deleted as soon as they arrived.

Each batch is its own short write transaction, so pruning never holds the database's write
lock for long and never races the writer with a read-then-delete. Times are measured back
from ``now`` (the newest tick), not the wall clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..core.snapshot import SIMULATOR_SOURCE
from .database import write_transaction
from .rows import epoch_us
from .schema import PRODUCT, TABLES, chain_summaries, paper_events, session_close

PRUNE_BATCH = 10_000
PRUNABLE = ("underlying_ticks", "chain_summaries", "chain_archive", "session_close")
# Paper-trading events are pushed to clients within seconds; a day covers any reader's gap.
EVENT_RETENTION = timedelta(days=1)


def _prune_by_ts(db_engine: sa.Engine, table: sa.Table, cutoff: int, batch_size: int) -> int:
    # Walks the (source, ts) index.
    simulated = table.c.source == SIMULATOR_SOURCE
    deleted = 0
    while True:
        with write_transaction(db_engine) as conn:
            # The batch's upper bound: the batch_size-th oldest time before the cutoff.
            bound = conn.scalar(sa.select(table.c.ts).where(simulated, table.c.ts < cutoff)
                                .order_by(table.c.ts).offset(batch_size - 1).limit(1))
            condition = table.c.ts < cutoff if bound is None else table.c.ts <= bound
            n = conn.execute(sa.delete(table).where(simulated, condition)).rowcount
        deleted += max(n, 0)
        if bound is None or n <= 0:
            return deleted


def _prune_summaries(db_engine: sa.Engine, cutoff: int, batch_size: int) -> int:
    """Summaries have no index on time alone: walk the simulator's (product, expiry) pairs of
    the primary key (one index seek each) and delete each pair's old rows as a key range."""
    s = chain_summaries
    simulated = s.c.source == SIMULATOR_SOURCE
    deleted = 0
    key: tuple[Any, Any] | None = None
    while True:
        stmt = (sa.select(s.c.product, s.c.expiry).where(simulated)
                .order_by(s.c.product, s.c.expiry).limit(1))
        if key is not None:
            stmt = stmt.where(sa.tuple_(s.c.product, s.c.expiry)
                              > sa.tuple_(sa.literal(key[0], PRODUCT),
                                          sa.literal(key[1], sa.Date)))
        with db_engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return deleted
        key = (row.product, row.expiry)
        pair = [simulated, s.c.product == row.product, s.c.expiry == row.expiry]
        while True:
            with write_transaction(db_engine) as conn:
                bound = conn.scalar(sa.select(s.c.ts).where(*pair, s.c.ts < cutoff)
                                    .order_by(s.c.ts).offset(batch_size - 1).limit(1))
                condition = s.c.ts < cutoff if bound is None else s.c.ts <= bound
                n = conn.execute(sa.delete(s).where(*pair, condition)).rowcount
            deleted += max(n, 0)
            if bound is None or n <= 0:
                break


def _prune_sessions(db_engine: sa.Engine, cutoff: date) -> int:
    c = session_close
    simulated = c.c.source == SIMULATOR_SOURCE
    deleted = 0
    while True:
        with write_transaction(db_engine) as conn:
            oldest = conn.scalar(sa.select(sa.func.min(c.c.session_date))
                                 .where(simulated, c.c.session_date < cutoff))
            if oldest is None:
                return deleted
            n = conn.execute(sa.delete(c).where(simulated,
                                                c.c.session_date == oldest)).rowcount
        deleted += max(n, 0)


def prune(db_engine: sa.Engine, retention: dict[str, timedelta], now: datetime,
          batch_size: int = PRUNE_BATCH) -> dict[str, int]:
    """Delete the simulator's rows older than each table's retention (``now - retention``;
    session closes by session date), in transactions of about ``batch_size`` rows. Tables
    not named are kept, and so are other sources' rows. Returns the rows deleted per table
    named."""
    unknown = set(retention) - set(PRUNABLE)
    if unknown:
        raise ValueError(f"retention: unknown table(s) {sorted(unknown)} "
                         f"(accepted: {', '.join(PRUNABLE)})")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    negative = sorted(name for name, keep in retention.items() if keep < timedelta(0))
    if negative:
        raise ValueError(f"retention: must not be negative ({', '.join(negative)})")
    counts = {}
    for name, keep in retention.items():
        cutoff = now - keep
        if name == "session_close":
            counts[name] = _prune_sessions(db_engine, cutoff.date())
        elif name == "chain_summaries":
            counts[name] = _prune_summaries(db_engine, epoch_us(cutoff), batch_size)
        else:
            counts[name] = _prune_by_ts(db_engine, TABLES[name], epoch_us(cutoff), batch_size)
    return counts


def prune_events(db_engine: sa.Engine, now: datetime, keep: timedelta = EVENT_RETENTION,
                 batch_size: int = PRUNE_BATCH) -> int:
    """Delete the paper-trading events (the outbox, every user's) written before
    ``now - keep`` (their ``at``, the wall clock of the write), oldest first in batches of
    ``batch_size`` by id; the number deleted."""
    e = paper_events
    cutoff = epoch_us(now - keep)
    deleted = 0
    while True:
        with write_transaction(db_engine) as conn:
            bound = conn.scalar(sa.select(e.c.id).where(e.c.at < cutoff).order_by(e.c.id)
                                .offset(batch_size - 1).limit(1))
            condition = e.c.at < cutoff if bound is None else sa.and_(e.c.at < cutoff,
                                                                       e.c.id <= bound)
            n = conn.execute(sa.delete(e).where(condition)).rowcount
        deleted += max(n, 0)
        if bound is None or n <= 0:
            return deleted
