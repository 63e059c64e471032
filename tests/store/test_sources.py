"""Sources in the store: each source's history is read apart from the others' (same product,
same times), the live writer's rows are the simulator's, pruning keeps imported data, and
the per-source listings and archive walks return exactly what was stored."""

from __future__ import annotations

import dataclasses
import time
from datetime import date, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from deltastream.analytics.candles import ohlc
from deltastream.store import export, history, retention, schema
from deltastream.store.imports import write_imported
from deltastream.store.rows import epoch_us, summary_rows
from deltastream.store.writer import StoreWriter
from tests.support.snapshots import assert_same
from tests.support.store import count, imported

from .conftest import write_all

HISTORY = ("underlying_ticks", "chain_summaries", "chain_archive", "session_close")


def _sources_of(db: sa.Engine, name: str) -> set[str]:
    table = schema.TABLES[name]
    with db.connect() as conn:
        return set(conn.scalars(sa.select(table.c.source).distinct()))


@pytest.fixture()
def two_sources(db, idx_snapshots):
    """The simulator's IDX history (archived every tick) and an 'nse' import of the same
    product at the same times with the underlying 1.0 higher."""
    writer = StoreWriter(db, archive_every=0, linger=0.0)
    for snap in idx_snapshots:
        assert writer.submit(snap)
    writer.save_session_close(idx_snapshots[-1], date(2026, 11, 25))
    assert writer.close(30.0)
    nse = [imported(s, "nse", spot_offset=1.0) for s in idx_snapshots]
    assert write_imported(db, nse).snapshots_stored == len(nse)
    writer = StoreWriter(db, linger=0.0)
    writer.save_session_close(nse[10], date(2026, 11, 24))
    assert writer.close(30.0)
    return idx_snapshots, nse


def test_the_live_writers_rows_are_the_simulators(filled):
    for name in ("underlying_ticks", "chain_summaries", "chain_archive"):
        assert _sources_of(filled, name) == {"simulator"}, name


def test_the_live_writer_writes_each_snapshots_own_source(db, idx_snapshots):
    replayed = [dataclasses.replace(s, source="recorded") for s in idx_snapshots[:20]]
    writer = StoreWriter(db, archive_every=60.0, linger=0.0)
    # Interleaved with the simulator's ticks at the same times: each keeps its own archive
    # rhythm and key.
    for live, other in zip(idx_snapshots[:20], replayed, strict=True):
        assert writer.submit(live) and writer.submit(other)
    writer.save_session_close(replayed[-1], date(2026, 11, 25))
    assert writer.close(30.0)
    for name in HISTORY:
        expected = {"recorded"} if name == "session_close" else {"simulator", "recorded"}
        assert _sources_of(db, name) == expected, name
    assert count(db, schema.underlying_ticks) == 40
    a = schema.chain_archive
    with db.connect() as conn:
        per_source = dict(conn.execute(sa.select(a.c.source, sa.func.count())
                                       .group_by(a.c.source)).all())
    assert per_source["simulator"] == per_source["recorded"] >= 2


def test_reads_of_one_source_never_see_anothers(db, two_sources):
    sim, nse = two_sources
    for source, snaps in (("simulator", sim), ("nse", nse)):
        ticks = history.ticks(db, "IDX", limit=1000, source=source)
        assert [(t.timestamp, t.price, t.source) for t in ticks] == [
            (s.timestamp, s.spot, source) for s in snaps]
        cols = history.tick_columns(db, "IDX", limit=1000, source=source)
        assert cols.price == [s.spot for s in snaps]
        assert history.last_tick(db, "IDX", source=source).price == snaps[-1].spot
        times = np.array([s.timestamp.timestamp() for s in snaps])
        prices = np.array([s.spot for s in snaps])
        volumes = np.array([s.tick_volume for s in snaps])
        assert history.candles(db, "IDX", 60, limit=1000, source=source) == ohlc(
            times, prices, volumes, 60)
        got = history.summaries(db, "IDX", limit=1000, source=source)
        assert [(s.spot, s.source) for s in got] == [(r["spot"], source)
                                                     for s in snaps
                                                     for r in summary_rows(s)[:1]]
        expiry = snaps[0].expiries()[1]
        last_of_minute = {r["ts"] // 60_000_000: r for s in snaps for r in summary_rows(s)
                          if r["expiry"] == expiry}
        got = history.summaries(db, "IDX", expiry, interval_seconds=60, limit=1000,
                                source=source, start=snaps[0].timestamp,
                                end=snaps[-1].timestamp)
        assert [(epoch_us(s.timestamp), s.spot) for s in got] == [
            (r["ts"], r["spot"]) for r in last_of_minute.values()]
        series = history.atm_iv_series(db, "IDX", limit=1000, source=source)
        assert series == [(s.timestamp, summary_rows(s)[0]["atm_iv"]) for s in snaps]
        at = snaps[30].timestamp + timedelta(seconds=1)
        assert_same(snaps[30], history.archived_snapshot_nearest(db, "IDX", at,
                                                                 source=source))
        assert history.archive_times_around(db, "IDX", at, source=source) == [
            snaps[30].timestamp, snaps[31].timestamp]
        assert history.count_rows(db, "ticks", "IDX", source=source) == len(snaps)
        assert history.count_rows(db, "summaries", "IDX", source=source) == sum(
            len(s.chains) for s in snaps)
    # The default is the simulator.
    assert history.last_tick(db, "IDX").price == sim[-1].spot
    assert history.last_session_date(db, "IDX") == date(2026, 11, 25)
    assert history.last_session_date(db, "IDX", source="nse") == date(2026, 11, 24)
    assert history.last_session_date(db, "IDX", before=date(2026, 11, 25)) is None
    closes = history.session_closes(db, "IDX", date(2026, 11, 24), source="nse")
    assert len(closes) == 2 * nse[10].strikes.size
    assert history.session_closes(db, "IDX", date(2026, 11, 24)) == []
    assert history.ticks(db, "IDX", source="cboe") == []
    assert history.latest_archived(db, "IDX", "cboe") is None


def test_export_is_of_one_source(db, two_sources, tmp_path):
    sim, nse = two_sources
    assert export.stored_products(db) == ["IDX"]
    assert export.stored_products(db, source="nse") == ["IDX"]
    assert export.stored_products(db, source="bse") == []
    path = tmp_path / "ticks.csv"
    n = export.export_rows(db, "ticks", "IDX", None, None, path, source="nse")
    assert n == len(nse)
    prices = [float(line.split(",")[3]) for line in path.read_text().splitlines()[1:]]
    assert prices == [s.spot for s in nse]
    n = export.export_rows(db, "chains", "IDX", sim[5].timestamp, sim[6].timestamp,
                           tmp_path / "chains.csv")
    assert n == 2 * 2 * sim[5].strikes.size


def test_latest_archived_at_or_before(db, two_sources):
    sim, nse = two_sources
    assert_same(nse[-1], history.latest_archived(db, "IDX", "nse"))
    assert_same(sim[-1], history.latest_archived(db, "IDX", "simulator"))
    assert_same(nse[20], history.latest_archived(db, "IDX", "nse",
                                                 at_or_before=nse[20].timestamp))
    between = nse[20].timestamp + (nse[21].timestamp - nse[20].timestamp) / 2
    assert history.latest_archived(db, "IDX", "nse", at_or_before=between
                                   ).sequence == nse[20].sequence
    before = nse[0].timestamp - timedelta(microseconds=1)
    assert history.latest_archived(db, "IDX", "nse", at_or_before=before) is None
    assert history.latest_archived(db, "NOPE", "nse") is None


def test_archive_range(db, two_sources):
    sim, nse = two_sources
    assert history.archive_range(db, "IDX", "nse") == (nse[0].timestamp,
                                                           nse[-1].timestamp)
    assert history.archive_range(db, "IDX", "simulator") == (sim[0].timestamp,
                                                                 sim[-1].timestamp)
    assert history.archive_range(db, "IDX", "bse") is None
    assert history.archive_range(db, "NOPE", "nse") is None


def test_sources_lists_each_source_with_its_products(db, idx_snapshots, snapshots):
    assert history.sources(db) == []
    write_all(db, snapshots, archive_every=60.0)
    nse = [imported(s, "nse") for s in idx_snapshots[:10]]
    later = [imported(s, "nse", product="ALT", shift=timedelta(days=1))
             for s in idx_snapshots[:3]]
    write_imported(db, [*nse, *later])
    write_imported(db, [imported(idx_snapshots[0], "bse")])
    a = schema.chain_archive
    with db.connect() as conn:
        sim_times = conn.scalars(sa.select(a.c.ts).where(a.c.source == "simulator",
                                                         a.c.product == "SML")
                                 .order_by(a.c.ts)).all()
    got = history.sources(db)
    assert [s.name for s in got] == ["bse", "nse", "simulator"]
    assert got[0].products == [history.SourceProduct(
        "IDX", idx_snapshots[0].timestamp, idx_snapshots[0].timestamp, 1)]
    assert got[1].products == [
        history.SourceProduct("ALT", later[0].timestamp, later[-1].timestamp, 3),
        history.SourceProduct("IDX", nse[0].timestamp, nse[-1].timestamp, 10)]
    assert [p.product for p in got[2].products] == ["IDX", "SML"]
    sml = got[2].products[1]
    assert (epoch_us(sml.first), epoch_us(sml.last), sml.snapshots) == (
        sim_times[0], sim_times[-1], len(sim_times))


def test_sources_reads_only_the_archives_key_index(db):
    if db.dialect.name != "sqlite":
        pytest.skip("the query plan checked is SQLite's")
    a = schema.chain_archive
    stmt = (sa.select(a.c.source, a.c.product, sa.func.min(a.c.ts), sa.func.max(a.c.ts),
                      sa.func.count()).group_by(a.c.source, a.c.product))
    sql = str(stmt.compile(db, compile_kwargs={"literal_binds": True}))
    with db.connect() as conn:
        plan = " ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    # The payloads are never read, and no sort is needed for the grouping.
    assert "COVERING INDEX sqlite_autoindex_chain_archive_1" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_archived_snapshots_in_time_order_within_bounds(db, idx_snapshots, monkeypatch):
    monkeypatch.setattr(history, "ARCHIVE_PAGE", 3)     # several pages
    idx = [imported(s, "nse") for s in idx_snapshots[:12]]
    # A second product on every other time of the first, and one in between.
    alt = [imported(s, "nse", product="ALT") for s in idx_snapshots[:12:2]]
    alt.append(imported(idx_snapshots[3], "nse", product="ALT",
                        shift=timedelta(seconds=1)))
    write_imported(db, [*alt, *idx, imported(idx_snapshots[5], "bse")])
    expected = sorted([*idx, *alt], key=lambda s: (s.timestamp, s.product))
    got = list(history.archived_snapshots(db, "nse"))
    assert [(s.timestamp, s.product) for s in got] == [
        (s.timestamp, s.product) for s in expected]
    assert_same(expected[4], got[4])
    start, end = idx[2].timestamp, idx[8].timestamp
    got = list(history.archived_snapshots(db, "nse", start, end))
    assert [(s.timestamp, s.product) for s in got] == [
        (s.timestamp, s.product) for s in expected if start <= s.timestamp <= end]
    got = list(history.archived_snapshots(db, "nse", start=start, products=["ALT"]))
    assert [(s.timestamp, s.product) for s in got] == [
        (s.timestamp, s.product) for s in sorted(alt, key=lambda s: s.timestamp)
        if s.timestamp >= start]
    assert list(history.archived_snapshots(db, "nse", products=[])) == []
    assert [s.source for s in history.archived_snapshots(db, "bse")] == ["bse"]
    assert list(history.archived_snapshots(db, "cboe")) == []


def test_a_slow_walk_of_the_archive_keeps_no_writer_waiting(db, idx_snapshots,
                                                             monkeypatch):
    if db.dialect.name != "sqlite":
        pytest.skip("SQLite's rollback journal: a reader holding its lock blocks commits")
    monkeypatch.setattr(history, "ARCHIVE_PAGE", 4)
    write_imported(db, [imported(s, "nse") for s in idx_snapshots[:10]])
    walk = history.archived_snapshots(db, "nse")
    assert next(walk).source == "nse"          # mid-page, between pages: no lock held
    started = time.monotonic()
    write_imported(db, [imported(s, "nse", product="ALT") for s in idx_snapshots[:2]])
    assert time.monotonic() - started < 5.0    # not the 10 s busy timeout
    # The walk goes on after the first page it read; the new product's snapshots sort
    # before the point it reached.
    assert [s.product for s in walk] == ["IDX"] * 9


def test_pruning_keeps_every_other_sources_rows(db, two_sources):
    sim, nse = two_sources
    writer = StoreWriter(db, linger=0.0)
    writer.save_session_close(sim[0], date(2026, 11, 20))
    assert writer.close(30.0)
    now = sim[-1].timestamp
    keep = timedelta(seconds=100)
    counts = retention.prune(db, {name: keep for name in HISTORY}, now, batch_size=5)
    cutoff = epoch_us(now - keep)
    old = sum(1 for s in sim if epoch_us(s.timestamp) < cutoff)
    assert counts["underlying_ticks"] == counts["chain_archive"] == old
    assert counts["session_close"] == 2 * sim[0].strikes.size     # 2026-11-20's
    assert len(history.ticks(db, "IDX", limit=1000, source="nse")) == len(nse)
    assert len(history.ticks(db, "IDX", limit=1000)) == len(sim) - old
    assert history.archive_range(db, "IDX", "nse") == (nse[0].timestamp, nse[-1].timestamp)
    assert history.count_rows(db, "summaries", "IDX", source="nse") == sum(
        len(s.chains) for s in nse)
    assert history.last_session_date(db, "IDX", source="nse") == date(2026, 11, 24)
    assert history.last_session_date(db, "IDX", before=date(2026, 11, 25)) is None
