"""Snapshot to rows: the tick, one summary per expiry, one close per contract."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest

from deltastream.core.snapshot import ContractArrays, OptionSide
from deltastream.core.snapshot_codec import decode_snapshot
from deltastream.store.rows import (
    archive_row,
    atm_iv,
    epoch_us,
    from_epoch_us,
    session_close_rows,
    summary_rows,
    tick_row,
)


def test_epoch_microseconds_are_exact():
    t = datetime(2026, 11, 25, 10, 0, 7, 250001, tzinfo=UTC)
    assert epoch_us(t) == 1_795_600_807_250_001
    assert from_epoch_us(epoch_us(t)) == t
    assert epoch_us(t.astimezone(timezone(timedelta(hours=5, minutes=30)))) == epoch_us(t)
    with pytest.raises(ValueError):
        epoch_us(datetime(2026, 1, 1))


def test_tick_row(idx_snapshots):
    snap = idx_snapshots[5]
    assert tick_row(snap) == {"source": "simulator", "product": "IDX",
                              "ts": epoch_us(snap.timestamp), "sequence": snap.sequence,
                              "price": snap.spot, "volume": snap.tick_volume}


def test_every_row_carries_the_snapshots_source(idx_snapshots):
    snap = dataclasses.replace(idx_snapshots[5], source="nse")
    assert tick_row(snap)["source"] == "nse"
    assert {r["source"] for r in summary_rows(snap)} == {"nse"}
    assert {r["source"] for r in session_close_rows(snap, date(2026, 11, 25))} == {"nse"}
    row = archive_row(snap, level=1)
    assert (row["source"], row["product"], row["ts"], row["sequence"]) == (
        "nse", "IDX", epoch_us(snap.timestamp), snap.sequence)
    back = decode_snapshot(row["payload"])
    assert back.source == "nse" and back.sequence == snap.sequence


def test_totals_leave_out_missing_sides(idx_snapshots):
    # An imported chain has no open interest or volume (NaN) where a strike lacks a side.
    snap = idx_snapshots[3]
    fields = list(snap.contracts.fields)
    names = list(OptionSide.__dataclass_fields__)
    for name in ("open_interest", "volume"):
        k = names.index(name)
        values = fields[k].copy()
        values[0, 0] = np.nan
        fields[k] = values
    gappy = dataclasses.replace(snap, contracts=ContractArrays(tuple(fields)))
    row = summary_rows(gappy)[0]
    calls = snap.chains[0].calls
    assert row["call_oi"] == float(calls.open_interest[1:].sum())
    assert row["call_volume"] == float(calls.volume[1:].sum())


def test_summary_rows_match_the_chains(idx_snapshots):
    snap = idx_snapshots[10]
    rows = summary_rows(snap)
    assert [r["expiry"] for r in rows] == snap.expiries()
    assert [r["expiry_rank"] for r in rows] == list(range(len(snap.chains)))
    for row, chain in zip(rows, snap.chains, strict=True):
        i = int(np.flatnonzero(chain.strikes == chain.atm_strike)[0])
        ivs = [v for v in (chain.calls.iv[i], chain.puts.iv[i]) if math.isfinite(v)]
        assert row["atm_iv"] == pytest.approx(sum(ivs) / len(ivs))
        assert row["atm_strike"] == chain.atm_strike
        assert row["atm_straddle"] == chain.atm_straddle_price
        assert row["pcr_oi"] == chain.pcr_oi and row["pcr_volume"] == chain.pcr_volume
        assert row["max_pain_strike"] == chain.max_pain_strike
        assert row["call_oi"] == float(chain.calls.open_interest.sum())
        assert row["put_volume"] == float(chain.puts.volume.sum())
        assert row["spot"] == snap.spot and row["sequence"] == snap.sequence
        assert all(type(v) in (str, int, float, date, type(None)) for v in row.values())


def _without_iv(chain, rows: tuple[int, ...], i: int):
    """``chain`` with no solved IV at strike ``i`` on the given sides (0 calls, 1 puts)."""
    fields = list(chain.contracts.fields)
    k = list(OptionSide.__dataclass_fields__).index("iv")
    iv = fields[k].copy()
    for row in rows:
        iv[row, chain.columns[0] + i] = np.nan
    fields[k] = iv
    return dataclasses.replace(chain, contracts=ContractArrays(tuple(fields)))


def test_atm_iv_uses_the_side_that_solved(idx_snapshots):
    chain = idx_snapshots[0].chains[0]
    i = int(np.flatnonzero(chain.strikes == chain.atm_strike)[0])
    assert atm_iv(_without_iv(chain, (1,), i)) == float(chain.calls.iv[i])
    assert atm_iv(_without_iv(chain, (0,), i)) == float(chain.puts.iv[i])
    assert atm_iv(_without_iv(chain, (0, 1), i)) is None


def test_session_close_rows_cover_every_contract(idx_snapshots):
    snap = idx_snapshots[-1]
    rows = session_close_rows(snap, date(2026, 11, 25))
    assert len(rows) == 2 * sum(c.strikes.size for c in snap.chains)
    chain = snap.chains[1]
    puts = [r for r in rows if r["expiry"] == chain.expiry and r["right"] == "P"]
    assert [r["strike"] for r in puts] == chain.strikes.tolist()
    assert [r["close_oi"] for r in puts] == chain.puts.open_interest.tolist()
    assert [r["close_last"] for r in puts] == chain.puts.last.tolist()
