"""The command-line entry point."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from deltastream.cli import main
from deltastream.runtime.recorder import start_recording
from deltastream.store import history
from deltastream.store.database import open_database, sqlite_url
from tests.support.recording import STEP, TICKS, make_engine, settings_for


def test_price_demo_prints_a_chain_with_solved_ivs():
    result = CliRunner().invoke(main, ["price", "--spot", "100", "--strike-step", "5",
                                       "--strikes", "5", "--days", "30", "--vol", "0.2"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.strip()[:1].isdigit()]
    assert [float(r.split()[0]) for r in rows] == [90.0, 95.0, 100.0, 105.0, 110.0]
    # The IV solved back from each call price is the input volatility.
    assert all(r.split()[2] == "0.2000" for r in rows)


def test_price_demo_rejects_out_of_range_input():
    result = CliRunner().invoke(main, ["price", "--strikes", "0"])
    assert result.exit_code == 2
    assert "--strikes" in result.output


@pytest.fixture(scope="module")
def recorded_dir(tmp_path_factory):
    """A data directory whose store holds 40 recorded ticks of two products."""
    tmp = tmp_path_factory.mktemp("export")
    engine = make_engine()
    recorder = start_recording(engine, settings_for(tmp))
    for _ in range(TICKS):
        engine.tick()
        engine.clock.advance(STEP)
    assert recorder.close()
    return tmp


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_writes_the_stored_ticks_with_a_progress_bar(recorded_dir, tmp_path, fmt):
    out = tmp_path / f"ticks.{fmt}"
    result = CliRunner().invoke(main, ["export", "--product", "IDX", "--what", "ticks",
                                       "--from", "2026-11-25T12:00:00Z",
                                       "--to", "2026-11-25T20:00:00", "--format", fmt,
                                       "--out", str(out), "--data-dir", str(recorded_dir)])
    assert result.exit_code == 0, result.output
    assert "IDX ticks" in result.output                      # the progress bar's label
    db = open_database(sqlite_url(recorded_dir))
    try:
        stored = history.ticks(db, "IDX", datetime(2026, 11, 25, 12, tzinfo=UTC),
                               datetime(2026, 11, 25, 20, tzinfo=UTC), limit=1000)
    finally:
        db.dispose()
    assert len(stored) == 17
    assert f"{len(stored)} rows of IDX ticks written" in result.output
    table = (pq.read_table(out) if fmt == "parquet"
             else pacsv.read_csv(out, convert_options=pacsv.ConvertOptions(
                 column_types={"timestamp": pa.timestamp("us", tz="UTC")})))
    assert table.column("sequence").to_pylist() == [t.sequence for t in stored]
    assert table.column("price").to_pylist() == [t.price for t in stored]
    assert table.column("timestamp").to_pylist() == [t.timestamp for t in stored]


def test_export_of_archived_chains_and_summaries(recorded_dir, tmp_path):
    for what in ("summaries", "chains"):
        out = tmp_path / f"{what}.parquet"
        result = CliRunner().invoke(main, ["export", "--product", "SML", "--what", what,
                                           "--format", "parquet", "--out", str(out),
                                           "--data-dir", str(recorded_dir)])
        assert result.exit_code == 0, result.output
        assert pq.read_table(out).num_rows > 0


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-11-26T00:00:00Z", "--to", "2026-11-25T00:00:00Z"], "--from"),
    (["--from", "noon"], "not an ISO-8601 time"),
    (["--what", "trades"], "--what"),
])
def test_export_rejects_bad_input(recorded_dir, tmp_path, args, message):
    base = {"--product": "IDX", "--what": "ticks", "--out": str(tmp_path / "x.csv"),
            "--data-dir": str(recorded_dir)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = CliRunner().invoke(main, ["export", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "x.csv").exists()


def test_export_without_a_store_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["export", "--product", "IDX", "--what", "ticks",
                                       "--out", str(tmp_path / "x.csv"),
                                       "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no history store" in result.output


def test_help_shows_each_settings_default_and_no_markup():
    for command in ("serve", "engine"):
        text = CliRunner().invoke(main, [command, "--help"]).output
        assert "``" not in text
        assert "DELTASTREAM_" in text
    text = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200).output
    for shown in ("[default: 127.0.0.1]", "[default: 8001; 1<=x<=65535]", "[default: data]",
                  "[default: no-access-log]", "[default: text]"):
        assert shown in text


def test_a_flag_overrides_its_variable_and_a_variable_its_default(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"DELTASTREAM_HOST": "192.0.2.1", "DELTASTREAM_PORT": str(port)}
        # The variables apply where no flag is given...
        result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path)], env=env)
        assert result.exit_code != 0
        assert f"cannot listen on 192.0.2.1:{port}" in result.output
        # ...and a flag given wins over its variable, even when it names the default.
        result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path),
                                           "--host", "127.0.0.1"], env=env)
        assert f"cannot listen on 127.0.0.1:{port}: the address is in use" in result.output
    assert not any(tmp_path.iterdir())


def test_start_up_says_when_each_product_trades():
    from deltastream.cli import market_hours_line
    from deltastream.settings import Settings

    saturday = Settings(clock="fixed", clock_start="2026-12-05T09:00:00Z")
    line = market_hours_line(saturday)
    assert line is not None and line.startswith("market hours: exchange sessions")
    assert "NIFTY closed until 2026-12-07T03:45:00Z" in line
    assert "SPY closed until 2026-12-07T14:30:00Z" in line
    # Monday 10:00 IST: India open until its close, the US still closed.
    monday = Settings(clock="fixed", clock_start="2026-12-07T04:30:00Z")
    line = market_hours_line(monday) or ""
    assert "NIFTY open until 2026-12-07T10:00:00Z" in line
    assert "AAPL closed until 2026-12-07T14:30:00Z" in line
    assert market_hours_line(Settings(hours="always")) == (
        "market hours: always (every product trades around the clock)")
    assert market_hours_line(Settings(replay_source="tape")) is None


def test_hours_flag_reaches_the_settings(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert "--hours [exchange|always]" in result.output
    result = CliRunner().invoke(main, ["serve", "--hours", "sometimes"])
    assert result.exit_code == 2 and "'sometimes' is not one of" in result.output


@pytest.fixture()
def bhavcopy_dir(tmp_path):
    """Two generated days of NIFTY and RELIANCE, and a third day's file cut short."""
    from datetime import date

    from tests.support import bhavcopy

    folder = tmp_path / "bhavcopies"
    folder.mkdir()
    small = bhavcopy.underlyings(["NIFTY", "RELIANCE"], strikes=11)
    days = [bhavcopy.bhavcopy(d, underlying=small)
            for d in (date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27))]
    for g in days[:2]:
        bhavcopy.write_day(folder, g)
    lines = days[2].csv.decode().splitlines()
    lines[5] = lines[5].replace(",", ";")
    (folder / days[2].file_name).write_text("\n".join(lines))
    return folder, days


def test_import_stores_the_good_files_and_names_the_malformed_one(bhavcopy_dir, tmp_path):
    folder, days = bhavcopy_dir
    data, rejects = tmp_path / "data", tmp_path / "rejects.csv"
    result = CliRunner().invoke(main, ["import", str(folder), "--data-dir", str(data),
                                       "--rejects", str(rejects)])
    assert result.exit_code == 1, result.output
    rows = days[0].option_rows + days[1].option_rows
    assert (f"3 files, {rows:,} rows read, {rows:,} contracts stored, 4 snapshots stored, "
            "0 already present, 0 rows rejected, 0 stored snapshots merged with new rows "
            "in ") in result.stdout
    bad = folder / days[2].file_name
    assert result.stderr.splitlines()[-1].startswith(f"error: {bad}, line 6: ")
    # An explicit report is written even when nothing was rejected: just its header.
    assert rejects.read_text().splitlines() == ["file,row,column,reason"]
    store = open_database(sqlite_url(data))
    try:
        assert [s.name for s in history.sources(store)] == ["nse"]
    finally:
        store.dispose()
    again = CliRunner().invoke(main, ["import", str(folder / "*_2026112[56]_*"),
                                      "--data-dir", str(data)])
    assert again.exit_code == 0, again.output
    assert "2 files, " in again.stdout
    assert ("0 contracts stored, 0 snapshots stored, 4 already present, 0 rows rejected, "
            "0 stored snapshots merged") in again.stdout
    # Not on a terminal: no progress bar, not even its label.
    assert again.stderr == ""


def test_import_writes_rejected_rows_to_the_data_directory(bhavcopy_dir, tmp_path):
    _, days = bhavcopy_dir
    lines = days[0].csv.decode().splitlines()
    lines[3] = lines[3].replace(",CE,", ",XX,").replace(",PE,", ",XX,")
    one = tmp_path / "one.csv"
    one.write_text("\n".join(lines))
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["import", str(one), "--data-dir", str(data),
                                       "--format", "udiff", "--source", "nse_eod"])
    assert result.exit_code == 0, result.output
    assert "1 rows rejected" in result.stdout
    (report,) = (data / "imports").glob("rejects-*.csv")
    assert f"1 rejects listed in {report}" in result.stdout
    header, row = report.read_text().splitlines()
    assert header == "file,row,column,reason"
    assert row.startswith(f"{one},4,OptnTp,")


@pytest.mark.parametrize(("args", "message"), [
    (["--source", "simulator"], "--source"),
    (["--source", "a b"], "--source"),
    (["--format", "xls"], "--format"),
])
def test_import_refuses_bad_options_as_usage_errors(bhavcopy_dir, tmp_path, args, message):
    folder, _ = bhavcopy_dir
    result = CliRunner().invoke(main, ["import", str(folder), "--data-dir",
                                       str(tmp_path / "data"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "data").exists()


def test_import_of_a_missing_path_is_a_usage_error(tmp_path):
    missing = tmp_path / "nowhere.csv"
    result = CliRunner().invoke(main, ["import", str(missing), "--data-dir",
                                       str(tmp_path / "data")])
    assert result.exit_code == 2 and str(missing) in result.output
    assert not (tmp_path / "data").exists()


def test_import_formats_are_the_importers():
    from deltastream.cli import IMPORT_FORMATS
    from deltastream.feeds.importer import FORMATS

    assert IMPORT_FORMATS == FORMATS


def test_import_of_an_unreadable_archive_names_it(tmp_path):
    archive = tmp_path / "BhavCopy_NSE_FO_0_0_0_20261125_F_0000.csv.zip"
    archive.write_bytes(b"PK\x03\x04 not really a zip")
    result = CliRunner().invoke(main, ["import", str(archive), "--data-dir",
                                       str(tmp_path / "data")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {archive}: ")


def test_import_into_a_store_it_cannot_write_is_one_line(bhavcopy_dir, tmp_path):
    from tests.support.faults import chattr_supported, immutable

    folder, days = bhavcopy_dir
    data = tmp_path / "data"
    if not chattr_supported(tmp_path):
        pytest.skip("needs root and a file system with immutable files")
    first = folder / days[0].file_name
    assert CliRunner().invoke(main, ["import", str(first), "--data-dir", str(data)]
                              ).exit_code == 0
    with immutable(*data.glob("deltastream.db*")):
        result = CliRunner().invoke(main, ["import", str(folder / days[1].file_name),
                                           "--data-dir", str(data)])
    assert result.exit_code == 1, result.output
    assert "cannot write to the history store: " in result.output
    assert "Traceback" not in result.output


NSE_FIXTURES = Path(__file__).parent / "fixtures" / "feeds" / "nse"


def test_import_merges_files_of_one_moment_given_one_after_the_other(tmp_path):
    weekly = NSE_FIXTURES / "option-chain-v3_NIFTY_08-Dec-2026.json"
    monthly = NSE_FIXTURES / "option-chain-v3_NIFTY_29-Dec-2026.json"
    data = tmp_path / "data"

    def run(*paths: Path) -> str:
        result = CliRunner().invoke(main, ["import", *map(str, paths), "--data-dir", str(data)])
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "1 snapshots stored, 0 already present, 0 rows rejected, 0 stored snapshots " \
        "merged" in run(weekly)
    assert "29 contracts stored, 0 snapshots stored, 0 already present, 0 rows rejected, " \
        "1 stored snapshots merged with new rows" in run(monthly)
    assert "0 snapshots stored, 2 already present, 0 rows rejected, 0 stored snapshots " \
        "merged" in run(weekly, monthly)
    store = open_database(sqlite_url(data))
    try:
        snap = history.latest_archived(store, "NIFTY", "nse")
        assert [d.isoformat() for d in snap.expiry_dates] == ["2026-12-08", "2026-12-29"]
    finally:
        store.dispose()


def test_import_of_a_folder_with_a_corrupt_zip_imports_the_rest(bhavcopy_dir, tmp_path):
    folder, days = bhavcopy_dir
    (folder / days[2].file_name).unlink()
    bad = folder / "BhavCopy_NSE_FO_0_0_0_20261127_F_0000.csv.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["import", str(folder), "--data-dir", str(data)])
    assert result.exit_code == 1, result.output
    assert "3 files, " in result.stdout and ", 4 snapshots stored, " in result.stdout
    assert result.stderr.splitlines() == [f"error: {bad}: not a readable zip archive: "
                                          "File is not a zip file"]


def test_import_shows_its_progress_on_a_terminal_only(bhavcopy_dir, tmp_path):
    import os
    import pty
    import subprocess
    import sys

    folder, days = bhavcopy_dir
    one = folder / days[0].file_name
    primary, secondary = pty.openpty()
    try:
        run = subprocess.run([sys.executable, "-m", "deltastream", "import", str(one),
                              "--data-dir", str(tmp_path / "data")],
                             stdout=subprocess.PIPE, stderr=secondary, timeout=120)
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:         # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert run.returncode == 0, run.stdout
    assert b"importing" in shown and b"1/1" in shown
    assert b"1 files, " in run.stdout
