"""The importer: generated bhavcopies read, priced and stored; a re-import changes nothing;
a malformed file is reported and nothing of it stored; rejected rows reported; files holding
parts of one chain (NSE's one expiry per file) merged within an import and into the stored
snapshot; an unpriceable underlying or a corrupt archive kept to itself; one rule for source
names."""

from __future__ import annotations

import io
import json
import math
import sqlite3
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import QuantLib as ql

from deltastream.catalog import load_catalog
from deltastream.feeds import importer
from deltastream.feeds.build import build_snapshot
from deltastream.feeds.formats import nse_json
from deltastream.feeds.importer import (
    FORMATS,
    check_source,
    default_source,
    import_files,
)
from deltastream.feeds.paths import InputFile, expand
from deltastream.feeds.products import product_terms
from deltastream.feeds.records import PUT
from deltastream.store import history
from deltastream.store.database import open_database, sqlite_url
from tests.support import bhavcopy
from tests.support.snapshots import assert_same

DAY = date(2026, 11, 25)
NEXT = date(2026, 11, 26)
SMALL = bhavcopy.underlyings(["NIFTY", "RELIANCE"], strikes=21)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture()
def db(tmp_path):
    engine = open_database(sqlite_url(tmp_path))
    yield engine
    engine.dispose()


def _file(generated: bhavcopy.GeneratedDay, csv: bytes | None = None) -> InputFile:
    data = generated.csv if csv is None else csv
    return InputFile(generated.file_name, lambda: data)


def _day(day: date = DAY, tick: float = bhavcopy.TICK) -> bhavcopy.GeneratedDay:
    return bhavcopy.bhavcopy(day, underlying=SMALL, seed=3, tick=tick)


def _table_rows(tmp_path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(tmp_path / "deltastream.db") as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{n}"'))
                for n in names}


def _quote_time(day: date) -> datetime:
    return datetime.combine(day, bhavcopy.CLOSE, ZoneInfo("Asia/Kolkata"))


def test_generated_prices_are_quantlib_black76():
    # The generator is the reference the other tests trust: its settlement prices are
    # QuantLib's Black formula on the generating forward and smile.
    g = _day(tick=0.0)
    lines = g.csv.decode().splitlines()
    col = {name: i for i, name in enumerate(lines[0].split(","))}
    checked = 0
    for line in lines[1::7]:
        f = line.split(",")
        if f[col["FinInstrmTp"]] != "IDO":
            continue
        expiry = date.fromisoformat(f[col["XpryDt"]])
        t = bhavcopy.years_to(DAY, expiry)
        if t <= 0:
            continue
        strike = float(f[col["StrkPric"]])
        fwd = g.forwards[("NIFTY", expiry)]
        vol = float(bhavcopy.smile(np.array([strike]), fwd, t, g.atm_vols["NIFTY"])[0])
        kind = ql.Option.Call if f[col["OptnTp"]] == "CE" else ql.Option.Put
        expected = ql.blackFormula(kind, strike, fwd, vol * math.sqrt(t),
                                   math.exp(-bhavcopy.RATE * t))
        assert float(f[col["SttlmPric"]]) == pytest.approx(expected, rel=1e-10, abs=1e-10)
        checked += 1
    assert checked > 20


def test_a_day_is_priced_and_stored_under_its_source(db, catalog):
    g = _day(tick=0.0)
    seen = []
    summary = import_files([_file(g)], db, catalog, None, None,
                           lambda done, total: seen.append((done, total)))
    assert summary.failed == [] and summary.rejects == []
    assert (summary.files, summary.rows_read, summary.snapshots_stored,
            summary.snapshots_present) == (1, g.option_rows, 2, 0)
    assert seen == [(1, 1)]
    for symbol in ("NIFTY", "RELIANCE"):
        snap = history.latest_archived(db, symbol, "nse")
        assert snap is not None and snap.source == "nse"
        assert snap.timestamp == _quote_time(DAY)
        # Re-imports are idempotent because the sequence is the quote time in seconds.
        assert snap.sequence == int(_quote_time(DAY).timestamp())
        for j, expiry in enumerate(snap.expiry_dates):
            assert snap.forwards[j] == pytest.approx(g.forwards[(symbol, expiry)], rel=1e-9)
            chain = snap.chains[j]
            vol = bhavcopy.smile(chain.strikes, g.forwards[(symbol, expiry)],
                                 float(snap.times[j]), g.atm_vols[symbol])
            # Near the money, where a price carries its volatility well (far out of the
            # money a price of 1e-30 says little about it).
            near = np.abs(np.log(chain.strikes / snap.forwards[j])) < 0.05
            for side in (chain.calls, chain.puts):
                np.testing.assert_allclose(side.iv[near], vol[near], rtol=1e-7)
    # Every listed contract but those expiring at the quote time (2026-11-24 has passed,
    # none expires on the day): all options stored.
    assert summary.contracts_stored == g.option_rows


def test_reimporting_changes_no_row(db, catalog, tmp_path):
    files = [_file(_day(DAY)), _file(_day(NEXT))]
    first = import_files(files, db, catalog, None, None)
    assert (first.snapshots_stored, first.snapshots_present) == (4, 0)
    before = _table_rows(tmp_path)
    again = import_files(files, db, catalog, None, None)
    assert (again.snapshots_stored, again.snapshots_present, again.contracts_stored) == (0, 4, 0)
    assert again.rows_read == first.rows_read
    assert _table_rows(tmp_path) == before


def test_a_malformed_file_is_reported_and_nothing_of_it_is_stored(db, catalog):
    good, bad = _day(DAY), _day(NEXT)
    lines = bad.csv.decode().splitlines()
    # A row cut short half way through the file: the file is malformed, not the row.
    broken = len(lines) // 2
    lines[broken] = ",".join(lines[broken].split(",")[:20])
    seen = []
    summary = import_files([_file(bad, "\n".join(lines).encode()), _file(good)], db, catalog,
                           None, None, lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    assert len(summary.failed) == 1
    assert summary.failed[0].startswith(f"{bad.file_name}, line {broken + 1}: ")
    assert (summary.files, summary.snapshots_stored) == (2, 2)
    assert summary.rows_read == good.option_rows        # the failed file's rows not counted
    for symbol in ("NIFTY", "RELIANCE"):
        assert history.archive_range(db, symbol, "nse") == (_quote_time(DAY), _quote_time(DAY))


def test_rejected_rows_are_reported_and_the_rest_imported(db, catalog):
    g = _day()
    lines = g.csv.decode().splitlines()
    header = lines[0].split(",")
    row = next(i for i, line in enumerate(lines) if ",IDO," in line and ",CE," in line)
    fields = lines[row].split(",")
    fields[header.index("StrkPric")] = "abc"
    lines[row] = ",".join(fields)
    summary = import_files([_file(g, "\n".join(lines).encode())], db, catalog, None, None)
    assert summary.failed == []
    assert summary.rows_read == g.option_rows
    assert summary.rows_rejected == len(summary.rejects) == 1
    reject = summary.rejects[0]
    assert (reject.file, reject.row, reject.column) == (g.file_name, row + 1, "StrkPric")
    assert "abc" in reject.reason
    assert summary.snapshots_stored == 2


def test_source_given_or_by_exchange(db, catalog):
    nse, bse = _day(DAY), _day(NEXT)
    bse_csv = bse.csv.replace(b",FO,NSE,", b",FO,BSE,")
    summary = import_files([_file(nse), _file(bse, bse_csv)], db, catalog, None, None)
    assert summary.failed == [] and summary.snapshots_stored == 4
    assert history.latest_archived(db, "NIFTY", "nse").timestamp == _quote_time(DAY)
    assert history.latest_archived(db, "NIFTY", "bse").timestamp == _quote_time(NEXT)
    named = import_files([_file(nse)], db, catalog, "my_vendor-1", None)
    assert named.snapshots_stored == 2
    by_name = {s.name: s for s in history.sources(db)}
    assert {"nse", "bse", "my_vendor-1"} <= set(by_name)
    assert sorted(p.product for p in by_name["my_vendor-1"].products) == ["NIFTY", "RELIANCE"]


@pytest.mark.parametrize("name", ["", "-nse", "a b", "x" * 33, "nse/2", "nse.eod", "simulator"])
def test_invalid_source_names_are_refused_before_reading(db, catalog, name):
    def unread() -> bytes:
        raise AssertionError("read a file despite an invalid source")

    with pytest.raises(ValueError, match="source"):
        import_files([InputFile("x.csv", unread)], db, catalog, name, None)
    with pytest.raises(ValueError, match="source"):
        check_source(name)


def test_formats_and_default_sources(db, catalog):
    assert FORMATS == ("nse-json", "udiff", "cboe-eod", "long")
    assert [default_source(f, e) for f, e in [("nse-json", "NSE"), ("udiff", "NSE"),
                                             ("udiff", "BSE"), ("cboe-eod", "CBOE"),
                                             ("long", "NSE")]] == [
        "nse", "nse", "bse", "cboe", "imported"]
    with pytest.raises(ValueError, match="nse-json, udiff, cboe-eod, long"):
        import_files([], db, catalog, None, "csv")


def test_a_file_forced_into_the_wrong_format_fails_alone(db, catalog):
    g = _day()
    summary = import_files([_file(g)], db, catalog, None, "cboe-eod")
    assert len(summary.failed) == 1 and summary.failed[0].startswith(g.file_name)
    assert summary.snapshots_stored == 0
    assert history.sources(db) == []


def test_a_zipped_day_in_a_folder(db, catalog, tmp_path):
    g = _day()
    folder = tmp_path / "files"
    folder.mkdir()
    bhavcopy.write_day(folder, g, zipped=True)
    buffer = io.BytesIO((folder / f"{g.file_name}.zip").read_bytes())
    assert zipfile.ZipFile(buffer).namelist() == [g.file_name]
    files = expand([str(folder)])
    assert [f.name for f in files] == [f"{folder / g.file_name}.zip:{g.file_name}"]
    summary = import_files(files, db, catalog, None, None)
    assert summary.failed == [] and summary.snapshots_stored == 2


# --- Parts of one chain in several files -------------------------------------------------------

NSE_FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds" / "nse"
WEEKLY = NSE_FIXTURES / "option-chain-v3_NIFTY_08-Dec-2026.json"
MONTHLY = NSE_FIXTURES / "option-chain-v3_NIFTY_29-Dec-2026.json"
NSE_TIME = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def _path_file(path: Path, data: bytes | None = None) -> InputFile:
    content = path.read_bytes() if data is None else data
    return InputFile(str(path), lambda: content)


def _own(path: Path, catalog):
    """The snapshot of one file's chain priced on its own (not through the importer)."""
    (chain,) = nse_json.read(path.read_bytes(), str(path), "nse").chains
    terms, instant = product_terms(chain, catalog)
    return build_snapshot(chain, terms, instant, int(chain.timestamp.timestamp()))


def _nifty(engine):
    snap = history.latest_archived(engine, "NIFTY", "nse")
    assert snap is not None
    return snap


def _second_store(tmp_path: Path):
    folder = tmp_path / "second"
    folder.mkdir()
    return folder, open_database(sqlite_url(folder))


def test_files_of_one_expiry_each_give_one_snapshot_together_or_one_after_the_other(
        db, catalog, tmp_path):
    weekly_rows = len(_own(WEEKLY, catalog).chains[0].strikes)
    together = import_files([_path_file(WEEKLY), _path_file(MONTHLY)], db, catalog, None, None)
    assert together.failed == [] and together.rejects == []
    assert (together.files, together.rows_read, together.contracts_stored) == (2, 59, 59)
    # The first file's snapshot stored, then the second file's rows merged into it.
    assert (together.snapshots_stored, together.snapshots_merged,
            together.snapshots_present) == (1, 1, 0)
    merged = _nifty(db)
    assert merged.timestamp == NSE_TIME and merged.sequence == int(NSE_TIME.timestamp())
    assert merged.expiry_dates == (date(2026, 12, 8), date(2026, 12, 29))
    assert history.archive_range(db, "NIFTY", "nse") == (NSE_TIME, NSE_TIME)
    # Each expiry as its own file prices it (pricing is per expiry).
    for path in (WEEKLY, MONTHLY):
        (own,) = _own(path, catalog).chains
        chain = merged.chain_for(own.expiry)
        assert (chain.forward, chain.forward_residual) == (own.forward, own.forward_residual)
        assert_same(chain.calls, own.calls)
        assert_same(chain.puts, own.puts)
    # One summary per expiry and one tick, as for any snapshot.
    for chain in merged.chains:
        (summary,) = history.summaries(db, "NIFTY", chain.expiry, limit=10, source="nse")
        assert (summary.timestamp, summary.atm_strike) == (NSE_TIME, chain.atm_strike)
    assert [t.price for t in history.ticks(db, "NIFTY", limit=10, source="nse")] == [
        merged.spot]

    folder, other = _second_store(tmp_path)
    try:
        first = import_files([_path_file(WEEKLY)], other, catalog, None, None)
        # The weekly file lists one right only at its lowest and highest strikes.
        assert (first.snapshots_stored, first.contracts_stored) == (1, weekly_rows * 2 - 2)
        second = import_files([_path_file(MONTHLY)], other, catalog, None, None)
        assert (second.snapshots_stored, second.snapshots_merged, second.snapshots_present,
                second.contracts_stored) == (0, 1, 0, 59 - first.contracts_stored)
        assert_same(_nifty(other), merged)
        assert _table_rows(folder) == _table_rows(tmp_path)
        # Re-importing either way changes no row.
        before = _table_rows(folder)
        for files in ([WEEKLY, MONTHLY], [MONTHLY], [WEEKLY]):
            again = import_files([_path_file(p) for p in files], other, catalog, None, None)
            assert (again.snapshots_stored, again.snapshots_merged, again.contracts_stored,
                    again.snapshots_present, again.rejects) == (0, 0, 0, len(files), [])
            assert _table_rows(folder) == before
    finally:
        other.dispose()


def test_a_contract_filed_again_with_other_values_supersedes_the_earlier_row(
        db, catalog, tmp_path):
    document = json.loads(WEEKLY.read_text(encoding="utf-8"))
    record = next(r for r in document["records"]["data"] if r["strikePrice"] == 26100)
    record["PE"]["buyPrice1"] = round(record["PE"]["buyPrice1"] + 0.05, 2)
    corrected = tmp_path / "corrected" / WEEKLY.name
    corrected.parent.mkdir()
    corrected.write_text(json.dumps(document), encoding="utf-8")
    (chain,) = nse_json.read(WEEKLY.read_bytes(), str(WEEKLY), "nse").chains
    (row,) = chain.rows[(chain.strike == 26100.0) & (chain.right == PUT)]

    summary = import_files([_path_file(WEEKLY), _path_file(MONTHLY), _path_file(corrected)],
                           db, catalog, None, None)
    assert [(r.file, r.row, r.column, r.reason) for r in summary.rejects] == [
        (str(WEEKLY), row, "bid", f"superseded by {corrected} line {row}")]
    assert summary.rows_rejected == 1
    assert (summary.snapshots_stored, summary.snapshots_merged) == (1, 2)
    snap = _nifty(db)
    chain26 = snap.chain_for(date(2026, 12, 8))
    (k,) = np.flatnonzero(chain26.strikes == 26100.0)
    assert chain26.puts.bid[k] == record["PE"]["buyPrice1"]
    assert snap.expiry_dates == (date(2026, 12, 8), date(2026, 12, 29))

    # The same correction in a later import: the stored snapshot takes it, every other
    # contract as it was; the original file again puts the original price back.
    _, other = _second_store(tmp_path)
    try:
        import_files([_path_file(WEEKLY), _path_file(MONTHLY)], other, catalog, None, None)
        later = import_files([_path_file(corrected)], other, catalog, None, None)
        assert (later.snapshots_merged, later.contracts_stored, later.rejects) == (1, 0, [])
        assert_same(_nifty(other), snap)
        back = import_files([_path_file(WEEKLY)], other, catalog, None, None)
        assert back.snapshots_merged == 1
        assert _nifty(other).chain_for(date(2026, 12, 8)).puts.bid[k] == \
            chain.bid[(chain.strike == 26100.0) & (chain.right == PUT)][0]
    finally:
        other.dispose()


def test_a_merge_after_the_kept_rows_are_dropped_merges_with_the_store(
        db, catalog, tmp_path, monkeypatch):
    expected = import_files([_path_file(WEEKLY), _path_file(MONTHLY)], db, catalog, None, None)
    _, other = _second_store(tmp_path)
    monkeypatch.setattr(importer, "MAX_KEPT_ROWS", 1)
    try:
        # RELIANCE's file between the two NIFTY parts pushes NIFTY's rows out.
        files = [_path_file(WEEKLY), _path_file(NSE_FIXTURES / "option-chain-equities_"
                                                              "RELIANCE.json"),
                 _path_file(MONTHLY)]
        summary = import_files(files, other, catalog, None, None)
        assert (summary.snapshots_stored, summary.snapshots_merged) == (2, 1)
        assert summary.contracts_stored - 38 == expected.contracts_stored
        assert_same(_nifty(other), _nifty(db))
    finally:
        other.dispose()


def test_a_folder_of_one_expiry_files_merges_them(db, catalog, tmp_path):
    folder = tmp_path / "chains"
    folder.mkdir()
    for path in (WEEKLY, MONTHLY):
        (folder / path.name).write_bytes(path.read_bytes())
    summary = import_files(expand([str(folder)]), db, catalog, None, None)
    assert summary.failed == [] and summary.files == 2
    assert _nifty(db).expiry_dates == (date(2026, 12, 8), date(2026, 12, 29))


# --- One file's trouble stays in it ------------------------------------------------------------

def test_an_unpriceable_underlying_is_one_reject_and_the_others_are_imported(db, catalog):
    g = _day()
    lines = g.csv.decode().splitlines()
    col = {name: i for i, name in enumerate(lines[0].split(","))}
    kept, reliance = [lines[0]], []
    first_expiry = None
    for line in lines[1:]:
        fields = line.split(",")
        if fields[col["TckrSymb"]] == "RELIANCE" and fields[col["FinInstrmTp"]] == "STO":
            first_expiry = first_expiry or fields[col["XpryDt"]]
            if fields[col["XpryDt"]] != first_expiry:
                continue
            # RELIANCE's one expiry on the trade date, at the quote time: nothing to price.
            fields[col["XpryDt"]] = fields[col["FininstrmActlXpryDt"]] = DAY.isoformat()
            reliance.append(len(kept) + 1)
            line = ",".join(fields)
        kept.append(line)
    summary = import_files([_file(g, "\n".join(kept).encode())], db, catalog, None, None)
    assert summary.failed == []
    (reject,) = summary.rejects
    assert (reject.file, reject.row, reject.column) == (g.file_name, reliance[0], "")
    assert "RELIANCE" in reject.reason and "no expiry after the quote time" in reject.reason
    assert summary.rows_rejected == len(reliance) > 10
    assert summary.rows_read == len(kept) - 1 - sum(",IDF," in x or ",STF," in x for x in kept)
    assert summary.snapshots_stored == 1
    assert history.latest_archived(db, "NIFTY", "nse") is not None
    assert history.latest_archived(db, "RELIANCE", "nse") is None


def test_a_corrupt_zip_in_a_folder_fails_alone(db, catalog, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    g = _day()
    bhavcopy.write_day(folder, g)
    bad = folder / "BhavCopy_NSE_FO_0_0_0_20261126_F_0000.csv.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    seen = []
    summary = import_files(expand([str(folder)]), db, catalog, None, None,
                           lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    (line,) = summary.failed
    assert line.startswith(f"{bad}: not a readable zip archive")
    assert (summary.files, summary.snapshots_stored) == (2, 2)


# --- One rule for source names -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["nse", "NSE_eod-2", "a", "x" * 32, "nse.eod", "x" * 33,
                                  "_x", "a b", "nse/2", "é", ""])
def test_a_source_name_is_valid_alike_for_the_importer_the_api_and_settings(name):
    from pydantic import TypeAdapter, ValidationError

    from deltastream.settings import Settings
    from deltastream.web.params import SourceParam

    def accepted(check) -> bool:
        try:
            check()
        except (ValueError, ValidationError):
            return False
        return True

    importer_ok = accepted(lambda: check_source(name))
    assert importer_ok == accepted(lambda: TypeAdapter(SourceParam).validate_python(name))
    assert importer_ok == accepted(lambda: Settings(feed_source=name))
    assert importer_ok == (name in {"nse", "NSE_eod-2", "a", "x" * 32})
