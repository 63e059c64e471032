"""The importer: generated bhavcopies read, priced and stored; a re-import changes nothing;
a malformed file is reported and nothing of it stored; rejected rows reported."""

from __future__ import annotations

import io
import math
import sqlite3
import zipfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import QuantLib as ql

from deltastream.catalog import load_catalog
from deltastream.feeds.importer import (
    FORMATS,
    check_source,
    default_source,
    import_files,
)
from deltastream.feeds.paths import InputFile, expand
from deltastream.store import history
from deltastream.store.database import open_database, sqlite_url
from tests.support import bhavcopy

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


@pytest.mark.parametrize("name", ["", "-nse", "a b", "x" * 33, "nse/2", "simulator"])
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
