"""Retention: pruning deletes exactly the rows older than each table's retention."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from deltastream.store import history, retention, schema
from deltastream.store.rows import epoch_us
from deltastream.store.writer import StoreWriter
from tests.support.store import count


def test_prune_honours_each_tables_retention(filled, snapshots, idx_snapshots):
    writer = StoreWriter(filled, linger=0.0)
    writer.save_session_close(idx_snapshots[0], date(2026, 11, 20))
    writer.save_session_close(idx_snapshots[0], date(2026, 11, 24))
    writer.save_state("IDX", 1, idx_snapshots[0].timestamp, b"s")
    assert writer.close(30.0)
    now = idx_snapshots[-1].timestamp
    keep_ticks = timedelta(seconds=100)
    cutoff = epoch_us(now - keep_ticks)
    n_ticks = count(filled, schema.underlying_ticks)
    old_ticks = 2 * sum(1 for s in idx_snapshots if epoch_us(s.timestamp) < cutoff)
    old_summaries = sum(len(snap.chains) for tick in snapshots for snap in tick.values()
                        if epoch_us(snap.timestamp) < cutoff)
    counts = retention.prune(filled, {"underlying_ticks": keep_ticks,
                                    "chain_summaries": keep_ticks,
                                    "session_close": timedelta(days=3)}, now, batch_size=7)
    assert counts["underlying_ticks"] == old_ticks
    assert counts["chain_summaries"] == old_summaries
    per_day = 2 * sum(c.strikes.size for c in idx_snapshots[0].chains)
    assert counts["session_close"] == per_day
    assert count(filled, schema.underlying_ticks) == n_ticks - old_ticks
    remaining = history.ticks(filled, "IDX", limit=1000)
    assert min(epoch_us(t.timestamp) for t in remaining) >= cutoff
    assert count(filled, schema.chain_archive) > 0           # not named: kept
    assert count(filled, schema.market_state) == 1
    assert history.last_session_date(filled, "IDX") == date(2026, 11, 24)
    assert retention.prune(filled, {"underlying_ticks": keep_ticks}, now) == {
        "underlying_ticks": 0}
    with pytest.raises(ValueError, match="market_state"):
        retention.prune(filled, {"market_state": timedelta(0)}, now)
