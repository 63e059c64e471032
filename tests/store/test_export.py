"""Exports stream the stored rows, in chunks, to CSV and Parquet with the same contents."""

from __future__ import annotations

import csv
import math
import sys
from datetime import UTC, datetime

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from deltastream.cli import main
from deltastream.core.types import labels
from deltastream.store.export import export_rows, stored_products
from deltastream.store.history import summaries, ticks
from deltastream.store.rows import epoch_us
from tests.support.store import expected_archive_times


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _read_csv(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _num(text: str) -> float | None:
    return None if text == "" else float(text)


def test_ticks_to_csv_and_parquet_in_chunks(filled, idx_snapshots, tmp_path):
    stored = ticks(filled, "IDX", limit=1000)
    seen: list[int] = []
    n = export_rows(filled, "ticks", "IDX", None, None, tmp_path / "t.csv", "csv", seen.append,
                    chunk_rows=7)
    assert n == len(stored) == len(idx_snapshots)
    assert seen == sorted(seen) and seen[-1] == n and len(seen) == math.ceil(n / 7)
    rows = _read_csv(tmp_path / "t.csv")
    assert [(r["product"], int(r["sequence"]), r["timestamp"], float(r["price"]),
             float(r["volume"])) for r in rows] == [
        ("IDX", t.sequence, _iso(t.timestamp), t.price, t.volume) for t in stored]
    assert not list(tmp_path.glob("*.partial"))

    start, end = idx_snapshots[5].timestamp, idx_snapshots[9].timestamp
    assert export_rows(filled, "ticks", "IDX", start, end, tmp_path / "t.parquet",
                       "parquet", chunk_rows=2) == 5
    table = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert [(r["sequence"], r["timestamp"], r["price"]) for r in table] == [
        (s.sequence, s.timestamp, s.spot) for s in idx_snapshots[5:10]]


def test_summaries_to_csv_and_parquet(filled, tmp_path):
    stored = summaries(filled, "IDX", limit=1000)            # nearest expiry only
    n = export_rows(filled, "summaries", "IDX", None, None, tmp_path / "s.csv", "csv")
    assert n > len(stored)                                      # every expiry
    rows = [r for r in _read_csv(tmp_path / "s.csv") if r["expiry_rank"] == "0"]
    assert [(r["expiry"], r["timestamp"], _num(r["pcr_oi"]), _num(r["pcr_volume"]),
             _num(r["atm_iv"]), float(r["atm_straddle"])) for r in rows] == [
        (s.expiry.isoformat(), _iso(s.timestamp), s.pcr_oi, s.pcr_volume, s.atm_iv,
         s.atm_straddle) for s in stored]
    export_rows(filled, "summaries", "IDX", None, None, tmp_path / "s.parquet", "parquet")
    table = [r for r in pq.read_table(tmp_path / "s.parquet").to_pylist()
             if r["expiry_rank"] == 0]
    assert [(r["expiry"], r["timestamp"], r["pcr_volume"], r["call_oi"]) for r in table] == [
        (s.expiry, s.timestamp, s.pcr_volume, s.call_oi) for s in stored]


def test_archived_chains_one_row_per_contract(filled, idx_snapshots, tmp_path):
    times = expected_archive_times(idx_snapshots, 60.0)
    archived = [s for s in idx_snapshots if epoch_us(s.timestamp) in times]
    per_snapshot = [2 * sum(c.strikes.size for c in s.chains) for s in archived]
    n = export_rows(filled, "chains", "IDX", None, None, tmp_path / "c.parquet", "parquet",
                    chunk_rows=100)
    assert n == sum(per_snapshot)
    table = pq.read_table(tmp_path / "c.parquet").to_pylist()
    snap = archived[1]
    chain = snap.chains[2]
    puts = [r for r in table if r["sequence"] == snap.sequence and r["expiry"] == chain.expiry
            and r["right"] == "P"]
    assert [r["strike"] for r in puts] == chain.strikes.tolist()
    iv = chain.puts.iv
    assert [r["iv"] for r in puts] == [None if np.isnan(v) else v for v in iv.tolist()]
    assert [r["iv_status"] for r in puts] == labels(chain.puts.iv_status).tolist()
    assert [r["theta"] for r in puts] == chain.puts.theta.tolist()
    assert [r["open_interest"] for r in puts] == chain.puts.open_interest.tolist()
    assert {r["forward"] for r in puts} == {chain.forward}
    assert all(r["timestamp"] == snap.timestamp for r in puts)

    start = archived[1].timestamp
    n_csv = export_rows(filled, "chains", "IDX", start, start, tmp_path / "c.csv", "csv")
    assert n_csv == per_snapshot[1]
    rows = _read_csv(tmp_path / "c.csv")
    calls = [r for r in rows if r["expiry"] == chain.expiry.isoformat() and r["right"] == "C"]
    assert [float(r["bid"]) for r in calls] == chain.calls.bid.tolist()
    assert [_num(r["iv"]) for r in calls] == [None if np.isnan(v) else v
                                              for v in chain.calls.iv.tolist()]


def test_bad_arguments_and_empty_ranges(filled, tmp_path):
    with pytest.raises(ValueError, match="kind"):
        export_rows(filled, "quotes", "IDX", None, None, tmp_path / "x.csv", "csv")
    with pytest.raises(ValueError, match="fmt"):
        export_rows(filled, "ticks", "IDX", None, None, tmp_path / "x.csv", "xlsx")
    assert export_rows(filled, "ticks", "NOPE", None, None, tmp_path / "e.csv", "csv") == 0
    assert _read_csv(tmp_path / "e.csv") == []
    assert export_rows(filled, "chains", "NOPE", None, None, tmp_path / "e.parquet",
                       "parquet") == 0
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


def test_stored_products_lists_every_product_with_history(filled):
    assert stored_products(filled) == ["IDX", "SML"]


def test_stored_products_of_an_empty_store(db):
    assert stored_products(db) == []


def test_csv_needs_no_pyarrow_and_parquet_names_its_extra(filled, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)       # `import pyarrow` now fails
    n = export_rows(filled, "ticks", "IDX", None, None, tmp_path / "t.csv", "csv")
    assert n == len(_read_csv(tmp_path / "t.csv")) > 0
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'deltastream\[parquet\]'"):
        export_rows(filled, "ticks", "IDX", None, None, tmp_path / "t.parquet", "parquet")
    assert not list(tmp_path.glob("t.parquet*"))


def test_cli_export_of_an_unknown_product_lists_the_stored_ones(filled, tmp_path):
    out = tmp_path / "x.csv"
    url = filled.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["export", "--product", "NOPE", "--what", "ticks",
                                       "--out", str(out), "--database-url", url])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: --product: no history of 'NOPE' in the store; it has IDX, SML")
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
    result = CliRunner().invoke(main, ["export", "--product", "IDXX", "--what", "ticks",
                                       "--out", str(out), "--database-url", url])
    assert result.exit_code == 1
    assert "no history of 'IDXX' in the store (did you mean IDX?); it has" in result.output
    # A known product with nothing in the range is not an error: an empty file.
    result = CliRunner().invoke(main, ["export", "--product", "IDX", "--what", "ticks",
                                       "--from", "2000-01-01T00:00:00Z",
                                       "--to", "2000-01-02T00:00:00Z",
                                       "--out", str(out), "--database-url", url])
    assert result.exit_code == 0 and "0 rows of IDX ticks written" in result.output


def test_cli_parquet_without_pyarrow_names_the_extra_before_any_work(filled, tmp_path,
                                                                     monkeypatch):
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    out = tmp_path / "x.parquet"
    result = CliRunner().invoke(main, [
        "export", "--product", "IDX", "--what", "ticks", "--format", "parquet", "--out",
        str(out), "--database-url", filled.url.render_as_string(hide_password=False)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: export needs the parquet extra (no module 'pyarrow'): "
        "pip install 'deltastream[parquet]'"]
    assert not list(tmp_path.glob("x.parquet*"))
