"""Storing imported snapshots: everything stored once in one transaction, re-imports change
no row, counts say what happened; a merged snapshot replaces the stored one in every table,
and the same merge again changes nothing."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from deltastream.core.types import QuoteFlag
from deltastream.store import history, imports, schema
from deltastream.store.imports import (
    ImportCounts,
    snapshot_key,
    stored_snapshots,
    write_imported,
)
from deltastream.store.rows import epoch_us, summary_rows
from tests.support.snapshots import assert_same
from tests.support.store import count, imported

HISTORY = ("underlying_ticks", "chain_summaries", "chain_archive")


def _dump(db: sa.Engine) -> dict[str, list[tuple]]:
    out = {}
    with db.connect() as conn:
        for name in HISTORY:
            table = schema.TABLES[name]
            out[name] = [tuple(r) for r in conn.execute(
                sa.select(table).order_by(*table.primary_key.columns))]
    return out


def _contracts(snaps) -> int:
    # Counted here from the flags, independently of the store's helper.
    return sum(2 * s.strikes.size
               - int(((s.quality.flags & int(QuoteFlag.NO_CONTRACT)) != 0).sum())
               for s in snaps)


def test_write_imported_stores_each_snapshot_once_and_a_second_write_changes_nothing(
        db, idx_snapshots):
    snaps = [imported(s, "nse") for s in idx_snapshots[:20]]
    first = write_imported(db, snaps)
    contracts = _contracts(snaps)
    assert contracts < 2 * sum(s.strikes.size for s in snaps)      # some are not listed
    assert first == ImportCounts(snapshots_stored=20, snapshots_present=0,
                                 contracts_stored=contracts)
    assert count(db, schema.chain_archive) == 20
    assert count(db, schema.underlying_ticks) == 20
    assert count(db, schema.chain_summaries) == sum(len(s.chains) for s in snaps)
    before = _dump(db)
    with db.connect() as conn:
        for name in HISTORY:
            table = schema.TABLES[name]
            assert conn.scalars(sa.select(table.c.source).distinct()).all() == ["nse"]

    again = write_imported(db, snaps)
    assert again == ImportCounts(snapshots_stored=0, snapshots_present=20, contracts_stored=0)
    assert _dump(db) == before

    # What was stored reads back as written, under its source.
    for snap in (snaps[0], snaps[13]):
        back = history.latest_archived(db, "IDX", "nse", at_or_before=snap.timestamp)
        assert_same(snap, back)
    got = history.summaries(db, "IDX", limit=1000, source="nse")
    assert [(epoch_us(s.timestamp), s.spot, s.atm_iv, s.call_oi) for s in got] == [
        (r["ts"], r["spot"], r["atm_iv"], r["call_oi"])
        for s in snaps for r in summary_rows(s)[:1]]
    ticks = history.ticks(db, "IDX", limit=1000, source="nse")
    assert [(t.timestamp, t.sequence, t.price) for t in ticks] == [
        (s.timestamp, s.sequence, s.spot) for s in snaps]


def test_an_overlapping_import_adds_only_what_is_new(db, idx_snapshots):
    snaps = [imported(s, "nse") for s in idx_snapshots[:12]]
    write_imported(db, snaps[:8])
    other = [imported(s, "nse", product="SML2") for s in idx_snapshots[:2]]
    # Repeats within one list count once as stored, then as present.
    batch = [*snaps[4:12], snaps[11], *other]
    counts = write_imported(db, batch)
    assert counts == ImportCounts(snapshots_stored=6, snapshots_present=5,
                                  contracts_stored=_contracts([*snaps[8:12], *other]))
    assert count(db, schema.chain_archive) == 14
    assert count(db, schema.underlying_ticks) == 14
    # The same snapshots under another source are other snapshots.
    assert write_imported(db, [imported(s, "bse") for s in idx_snapshots[:3]]
                          ).snapshots_stored == 3
    assert write_imported(db, []) == ImportCounts(0, 0, 0)


def test_a_refused_write_stores_nothing(db, idx_snapshots, monkeypatch):
    snaps = [imported(s, "nse") for s in idx_snapshots[:5]]
    real = imports.summary_rows

    def one_bad(snap):
        rows = real(snap)
        if snap is snaps[-1]:
            rows[0]["atm_strike"] = None          # NOT NULL
        return rows

    monkeypatch.setattr(imports, "summary_rows", one_bad)
    with pytest.raises(sa.exc.IntegrityError):
        write_imported(db, snaps)
    for name in HISTORY:
        assert count(db, schema.TABLES[name]) == 0, name
    monkeypatch.setattr(imports, "summary_rows", real)
    assert write_imported(db, snaps).snapshots_stored == 5


def _same_moment(snap, like):
    """``snap``'s chain as another import of ``like``'s source, product and time."""
    return imported(snap, like.source, product=like.product,
                    shift=like.timestamp - snap.timestamp)


def test_a_merged_snapshot_replaces_the_stored_one_in_every_table(db, idx_snapshots):
    snaps = [imported(s, "nse") for s in idx_snapshots[:3]]
    write_imported(db, snaps)
    target = snaps[1]
    merged = _same_moment(idx_snapshots[7], target)
    merged = dataclasses.replace(merged, spot=target.spot + 2.5)
    assert stored_snapshots(db, [snapshot_key(target)]).keys() == {snapshot_key(target)}
    assert_same(target, stored_snapshots(db, [snapshot_key(target)])[snapshot_key(target)])

    counts = write_imported(db, [], [merged])
    assert counts == ImportCounts(
        snapshots_stored=0, snapshots_present=0, snapshots_merged=1,
        contracts_stored=max(0, _contracts([merged]) - _contracts([target])))
    assert count(db, schema.chain_archive) == 3
    assert_same(merged, history.latest_archived(db, "IDX", "nse",
                                                 at_or_before=target.timestamp))
    ticks = history.ticks(db, "IDX", limit=10, source="nse")
    assert [(t.timestamp, t.price) for t in ticks] == [
        (s.timestamp, s.spot) for s in (snaps[0], merged, snaps[2])]
    by_time = {}
    for expiry in merged.expiry_dates:
        for s in history.summaries(db, "IDX", expiry, limit=10, source="nse"):
            by_time.setdefault(s.timestamp, []).append((s.expiry, s.spot))
    assert by_time[target.timestamp] == [(e, merged.spot) for e in merged.expiry_dates]

    # The same merge again: nothing changes, it counts as present.
    before = _dump(db)
    assert write_imported(db, [], [merged]) == ImportCounts(0, 1, 0, 0)
    assert _dump(db) == before
    # A merge of a snapshot not stored yet stores it.
    fresh = _same_moment(idx_snapshots[8], imported(idx_snapshots[9], "nse"))
    assert write_imported(db, [], [fresh]) == ImportCounts(1, 0, _contracts([fresh]), 0)


def test_a_refused_merge_leaves_the_stored_snapshot(db, idx_snapshots, monkeypatch):
    target = imported(idx_snapshots[0], "nse")
    write_imported(db, [target])
    before = _dump(db)
    real = imports.summary_rows

    def bad(snap):
        rows = real(snap)
        rows[0]["atm_strike"] = None              # NOT NULL
        return rows

    monkeypatch.setattr(imports, "summary_rows", bad)
    with pytest.raises(sa.exc.IntegrityError):
        write_imported(db, [imported(idx_snapshots[1], "nse")],
                       [_same_moment(idx_snapshots[5], target)])
    assert _dump(db) == before
