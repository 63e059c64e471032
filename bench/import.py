"""Importing NSE F&O bhavcopies: a full day at real size, or many days, into a fresh store.

    python bench/import.py [--runs 3] [--days N]

Generates the UDiFF F&O bhavcopy of a day with every index and stock option (5 indices and
180 stocks: about 59,000 option rows and 560 futures, 12 MB; tests/support/bhavcopy.py) and
imports it with the importer ``deltastream import`` runs (detect, parse, price every chain,
store each file in one transaction) into a fresh SQLite store in a temporary directory.
Prints option rows per second, the time of each phase (parse, price, store) and the peak
resident memory of the process; with ``--runs`` the median run.

``--days N`` imports N consecutive trading days into one store instead (the file of each is
generated when the importer reads it; that time is shown apart as ``generate`` and is not
part of the import's), and extrapolates a year of 250 days from the mean day, showing the
first and last tenth of the days apart so that a store slowing as it grows shows.

Targets: a day imported, solved and stored in <= 10 s; a year in <= 30 min; <= 1 GB.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import bhavcopy

from deltastream.catalog import load_catalog
from deltastream.feeds.importer import ImportSummary, import_files
from deltastream.feeds.paths import InputFile
from deltastream.store.database import open_database, sqlite_url

START = date(2025, 6, 2)
YEAR_DAYS = 250
TARGET_DAY_S = 10.0
TARGET_YEAR_S = 30 * 60.0
TARGET_RSS_MB = 1024.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB on Linux


def phases(summary: ImportSummary) -> str:
    s = summary.seconds
    return (f"parse {s['parse']:.2f} s, price {s['price']:.2f} s, "
            f"store {s['store']:.2f} s")


def check(summary: ImportSummary) -> None:
    if summary.failed:
        raise SystemExit("import failed: " + "; ".join(summary.failed))


def one_day(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    day = bhavcopy.bhavcopy(START)
    print(f"generated {day.file_name}: {day.option_rows:,} option rows, "
          f"{len(day.csv) / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s")
    catalog = load_catalog()
    runs = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="ds-import-") as tmp:
            db = open_database(sqlite_url(Path(tmp)))
            files = [InputFile(day.file_name, lambda: day.csv)]
            started = time.perf_counter()
            summary = import_files(files, db, catalog, None, None)
            wall = time.perf_counter() - started
            db.dispose()
        check(summary)
        runs.append((wall, summary))
        print(f"run {run + 1}: {wall:.2f} s, {summary.rows_read / wall:,.0f} rows/s "
              f"({phases(summary)}); {summary.snapshots_stored} snapshots, "
              f"{summary.contracts_stored:,} contracts, {summary.rows_rejected} rejected")
    wall, summary = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    rss = peak_rss_mb()
    print(f"median: {summary.rows_read:,} option rows in {wall:.2f} s = "
          f"{summary.rows_read / wall:,.0f} rows/s ({phases(summary)}); "
          f"peak RSS {rss:,.0f} MB")
    verdict(wall, TARGET_DAY_S, "a day", summary)
    if rss > TARGET_RSS_MB:
        print(f"memory: {rss:,.0f} MB is over the {TARGET_RSS_MB:,.0f} MB target")


def verdict(wall: float, target: float, what: str, summary: ImportSummary) -> None:
    if wall <= target:
        print(f"{what}: {wall:.1f} s, within the {target:.0f} s target")
        return
    slowest = max(("parse", "price", "store"), key=lambda k: summary.seconds[k])
    print(f"{what}: {wall:.1f} s is {wall / target:.1f}x the {target:.0f} s target; the "
          f"slowest phase is {slowest} ({summary.seconds[slowest]:.1f} s)")


def many_days(args: argparse.Namespace) -> None:
    underlying = bhavcopy.underlyings()
    generated = bhavcopy.series(START, args.days, underlying)
    generating = [0.0]

    def reader() -> bytes:
        started = time.perf_counter()
        csv = next(generated).csv
        generating[0] += time.perf_counter() - started
        return csv

    names = [f"BhavCopy_NSE_FO_0_0_0_{d:%Y%m%d}_F_0000.csv"
             for d in bhavcopy.trading_days_from(START, args.days)]
    files = [InputFile(name, reader) for name in names]
    per_day: list[float] = []
    last = [time.perf_counter(), 0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        per_day.append(now - last[0] - (generating[0] - last[1]))
        last[0], last[1] = now, generating[0]
        if done % 10 == 0 or done == total:
            print(f"  {done}/{total} days, peak RSS {peak_rss_mb():,.0f} MB", flush=True)

    with tempfile.TemporaryDirectory(prefix="ds-import-") as tmp:
        db = open_database(sqlite_url(Path(tmp)))
        started = time.perf_counter()
        summary = import_files(files, db, load_catalog(), None, None, progress)
        wall = time.perf_counter() - started - generating[0]
        size = sum(p.stat().st_size for p in Path(tmp).glob("deltastream.db*"))
        db.dispose()
    check(summary)
    tenth = max(1, len(per_day) // 10)
    mean = wall / args.days
    print(f"{args.days} days: {summary.rows_read:,} option rows imported in {wall:.1f} s "
          f"(generate {generating[0]:.1f} s apart) = {summary.rows_read / wall:,.0f} rows/s "
          f"({phases(summary)}); {summary.snapshots_stored:,} snapshots; "
          f"store {size / 1e6:,.0f} MB; peak RSS {peak_rss_mb():,.0f} MB")
    first, latest = statistics.mean(per_day[:tenth]), statistics.mean(per_day[-tenth:])
    print(f"per day: mean {mean:.2f} s, first {tenth} days {first:.2f} s, "
          f"last {tenth} days {latest:.2f} s")
    year = mean * YEAR_DAYS
    print(f"a year of {YEAR_DAYS} days, extrapolated from the mean day: {year / 60:.1f} min")
    verdict(year, TARGET_YEAR_S, "a year", summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of the one-day import")
    parser.add_argument("--days", type=int, default=0,
                        help="import this many consecutive days into one store instead")
    args = parser.parse_args()
    if args.days:
        many_days(args)
    else:
        one_day(args)


if __name__ == "__main__":
    main()
