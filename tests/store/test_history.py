"""History reads return exactly what was written, oldest first, bounded; bucketing agrees
with a recomputation in Python; nearest archive; retention."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from deltastream.analytics.candles import ohlc
from deltastream.store import history
from deltastream.store.rows import epoch_us, summary_rows
from deltastream.store.writer import StoreWriter
from tests.support.snapshots import assert_same
from tests.support.store import expected_archive_times


def test_ticks_are_the_written_ticks_oldest_first(filled, idx_snapshots):
    got = history.ticks(filled, "IDX", limit=1000)
    assert [(t.sequence, t.timestamp, t.price, t.volume) for t in got] == [
        (s.sequence, s.timestamp, s.spot, s.tick_volume) for s in idx_snapshots]
    newest = history.ticks(filled, "IDX", limit=5)
    assert [t.sequence for t in newest] == [s.sequence for s in idx_snapshots[-5:]]
    oldest = history.ticks(filled, "IDX", limit=5, newest=False)
    assert [t.sequence for t in oldest] == [s.sequence for s in idx_snapshots[:5]]
    start, end = idx_snapshots[10].timestamp, idx_snapshots[19].timestamp
    ranged = history.ticks(filled, "IDX", start, end, limit=100)
    assert [t.sequence for t in ranged] == [s.sequence for s in idx_snapshots[10:20]]
    last = history.last_tick(filled, "IDX")
    assert last is not None and last.sequence == idx_snapshots[-1].sequence
    assert history.last_tick(filled, "NOPE") is None
    with pytest.raises(ValueError, match="limit"):
        history.ticks(filled, "IDX", limit=0)
    with pytest.raises(ValueError, match="limit"):
        history.ticks(filled, "IDX", limit=history.MAX_LIMIT + 1)


def _summary_tuple(row: dict) -> tuple:
    return (row["expiry"], row["expiry_rank"], row["sequence"], row["ts"], row["spot"],
            row["pcr_oi"], row["pcr_volume"], row["max_pain_strike"], row["atm_strike"],
            row["atm_iv"], row["atm_straddle"], row["call_oi"], row["put_oi"],
            row["call_volume"], row["put_volume"])


def _as_tuple(s: history.Summary) -> tuple:
    return (s.expiry, s.expiry_rank, s.sequence, epoch_us(s.timestamp), s.spot, s.pcr_oi,
            s.pcr_volume, s.max_pain_strike, s.atm_strike, s.atm_iv, s.atm_straddle,
            s.call_oi, s.put_oi, s.call_volume, s.put_volume)


def test_summaries_of_the_nearest_and_of_one_expiry(filled, idx_snapshots):
    nearest = [_summary_tuple(summary_rows(s)[0]) for s in idx_snapshots]
    got = history.summaries(filled, "IDX", limit=1000)
    assert [_as_tuple(s) for s in got] == nearest
    expiry = idx_snapshots[0].expiries()[2]
    third = [_summary_tuple(r) for s in idx_snapshots for r in summary_rows(s)
             if r["expiry"] == expiry]
    assert [_as_tuple(s) for s in history.summaries(filled, "IDX", expiry, limit=1000)
            ] == third
    assert history.summaries(filled, "IDX", date(2030, 1, 4), limit=10) == []


@pytest.mark.parametrize("interval", [60, 45.5, 300])
def test_bucketing_keeps_the_last_row_of_each_interval(filled, idx_snapshots, interval):
    rows = [summary_rows(s)[0] for s in idx_snapshots]
    width = round(interval * 1e6)
    last_of_bucket: dict[int, dict] = {}
    for r in rows:
        last_of_bucket[r["ts"] // width] = r
    expected = [_summary_tuple(r) for r in last_of_bucket.values()]
    got = history.summaries(filled, "IDX", interval_seconds=interval, limit=1000)
    assert [_as_tuple(s) for s in got] == expected
    assert len(expected) < len(rows)
    newest_two = history.summaries(filled, "IDX", interval_seconds=interval, limit=2)
    assert [_as_tuple(s) for s in newest_two] == expected[-2:]
    start, end = idx_snapshots[7].timestamp, idx_snapshots[50].timestamp
    ranged = [r for r in rows if epoch_us(start) <= r["ts"] <= epoch_us(end)]
    by_bucket = {r["ts"] // width: r for r in ranged}
    got = history.summaries(filled, "IDX", start=start, end=end, interval_seconds=interval)
    assert [_as_tuple(s) for s in got] == [_summary_tuple(r) for r in by_bucket.values()]
    # A bounded range seeks each bucket's last row; an open one aggregates: the same rows.
    expected = [_summary_tuple(r) for r in by_bucket.values()]
    got = history.summaries(filled, "IDX", start=start, end=end, interval_seconds=interval,
                            limit=3)
    assert [_as_tuple(s) for s in got] == expected[-3:]
    got = history.summaries(filled, "IDX", start=start, end=end, interval_seconds=interval,
                            limit=3, newest=False)
    assert [_as_tuple(s) for s in got] == expected[:3]
    got = history.summaries(filled, "IDX", end=end, interval_seconds=interval, limit=3)
    assert [_as_tuple(s) for s in got] == [
        _summary_tuple(r) for r in {r["ts"] // width: r for r in rows
                                    if r["ts"] <= epoch_us(end)}.values()][-3:]


def test_atm_iv_series(filled, idx_snapshots):
    rows = [summary_rows(s)[0] for s in idx_snapshots]
    expected = [(s.timestamp, r["atm_iv"]) for s, r in zip(idx_snapshots, rows, strict=True)
                if r["atm_iv"] is not None]
    assert history.atm_iv_series(filled, "IDX", limit=1000) == expected
    daily = history.atm_iv_series(filled, "IDX", interval_seconds=86400, limit=10)
    assert daily == expected[-1:]


def test_nearest_archive(filled, idx_snapshots):
    times = expected_archive_times(idx_snapshots, 60.0)
    by_ts = {epoch_us(s.timestamp): s for s in idx_snapshots}
    first, second = by_ts[times[0]], by_ts[times[1]]
    gap = second.timestamp - first.timestamp
    assert_same(first, history.archived_snapshot_nearest(filled, "IDX", first.timestamp))
    near_first = first.timestamp + gap / 2 - timedelta(microseconds=1)
    assert history.archived_snapshot_nearest(filled, "IDX", near_first).sequence == \
        first.sequence
    tie = first.timestamp + gap / 2
    assert history.archived_snapshot_nearest(filled, "IDX", tie).sequence == first.sequence
    near_second = tie + timedelta(microseconds=1)
    assert history.archived_snapshot_nearest(filled, "IDX", near_second).sequence == \
        second.sequence
    before_all = first.timestamp - timedelta(days=1)
    assert history.archived_snapshot_nearest(filled, "IDX", before_all).sequence == \
        first.sequence
    assert history.archived_snapshot_nearest(filled, "IDX", before_all,
                                             max_distance=timedelta(hours=1)) is None
    assert history.archived_snapshot_nearest(filled, "NOPE", first.timestamp) is None


def test_session_closes_and_last_session(db, idx_snapshots):
    writer = StoreWriter(db, linger=0.0)
    writer.save_session_close(idx_snapshots[20], date(2026, 11, 24))
    writer.save_session_close(idx_snapshots[-1], date(2026, 11, 25))
    assert writer.close(30.0)
    closes = history.session_closes(db, "IDX", date(2026, 11, 24))
    snap = idx_snapshots[20]
    assert len(closes) == 2 * sum(c.strikes.size for c in snap.chains)
    expected = sorted((c.expiry, k, right, oi, last) for c in snap.chains
                      for right, side in (("C", c.calls), ("P", c.puts))
                      for k, oi, last in zip(c.strikes.tolist(), side.open_interest.tolist(),
                                             side.last.tolist(), strict=True))
    assert [(c.expiry, c.strike, c.right, c.close_oi, c.close_last) for c in closes] == expected
    assert len(history.session_closes(db, "IDX", date(2026, 11, 24), limit=3)) == 3
    assert history.last_session_date(db, "IDX") == date(2026, 11, 25)
    assert history.last_session_date(db, "IDX", before=date(2026, 11, 25)) == date(2026, 11, 24)
    assert history.last_session_date(db, "SML") is None


@pytest.mark.parametrize("width", [30, 60, 300])
def test_candles_equal_the_candles_of_the_written_ticks(filled, idx_snapshots, width):
    prices = np.array([s.spot for s in idx_snapshots])
    times = np.array([s.timestamp.timestamp() for s in idx_snapshots])
    volumes = np.array([s.tick_volume for s in idx_snapshots])
    assert history.candles(filled, "IDX", width, limit=1000) == ohlc(times, prices, volumes,
                                                                       width)
    start, end = idx_snapshots[7].timestamp, idx_snapshots[40].timestamp
    assert history.candles(filled, "IDX", width, start, end, limit=1000) == ohlc(
        times[7:41], prices[7:41], volumes[7:41], width)
    newest = history.candles(filled, "IDX", width, limit=3)
    assert newest == ohlc(times, prices, volumes, width)[-3:]
    assert history.candles(filled, "NOPE", width) == []


def test_count_rows_counts_what_an_export_writes(filled, idx_snapshots):
    assert history.count_rows(filled, "ticks", "IDX") == len(idx_snapshots)
    start, end = idx_snapshots[10].timestamp, idx_snapshots[19].timestamp
    assert history.count_rows(filled, "ticks", "IDX", start, end) == 10
    assert history.count_rows(filled, "summaries", "IDX") == sum(
        len(s.chains) for s in idx_snapshots)
    assert history.count_rows(filled, "chains", "NOPE") == 0
    with pytest.raises(ValueError, match="kind"):
        history.count_rows(filled, "trades", "IDX")
