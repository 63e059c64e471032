"""A year of NSE F&O bhavcopies imported by ``deltastream import``, then served: the IV rank
and percentile of the imported source, recomputed here from the stored ATM IVs; a second
import of the same files changes no row."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
import urllib.parse
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import start_server
from tests.support import bhavcopy

DAYS = 250
START = date(2025, 1, 1)
SUMMARY = re.compile(r"(\d+) files, ([\d,]+) rows read, ([\d,]+) contracts stored, "
                     r"([\d,]+) snapshots stored, ([\d,]+) already present, "
                     r"([\d,]+) rows rejected")


def _import(folder: Path, data: Path) -> tuple[int, ...]:
    run = subprocess.run([sys.executable, "-m", "deltastream", "import", str(folder),
                          "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    found = SUMMARY.search(run.stdout)
    assert found, run.stdout
    return tuple(int(g.replace(",", "")) for g in found.groups())


def _tables(db: Path) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows, in a stable order."""
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {}
        for name in names:
            rows = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{name}"'))
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            out[name] = (len(rows), digest)
    return out


def _stored_atm_ivs(db: Path, product: str) -> list[tuple[int, float | None]]:
    """(epoch microseconds, ATM IV) of the nearest expiry, as the store holds them."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT ts, atm_iv FROM chain_summaries WHERE source = 'nse' AND product = ? "
            "AND expiry_rank = 0 ORDER BY ts", (product,)).fetchall()


def _iso(us: int) -> str:
    # The API's form: milliseconds, Z.
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bhavcopy.GeneratedDay]]:
    folder = tmp_path_factory.mktemp("bhavcopies")
    underlying = bhavcopy.underlyings(["NIFTY", "RELIANCE"], strikes=41)
    return folder, bhavcopy.write_series(folder, START, DAYS, underlying, seed=14)


def test_a_year_of_bhavcopies_gives_iv_rank_and_percentile_and_imports_once(year, tmp_path):
    folder, days = year
    data = tmp_path / "data"
    db = data / "deltastream.db"
    files, rows, contracts, stored, present, rejected = _import(folder, data)
    option_rows = sum(d.option_rows for d in days)
    assert (files, rows, stored, present, rejected) == (DAYS, option_rows, 2 * DAYS, 0, 0)
    assert 0.9 * option_rows <= contracts <= option_rows
    tables = _tables(db)

    # The same files again: everything already there, not one row changed.
    files, rows, contracts, stored, present, rejected = _import(folder, data)
    assert (files, rows, contracts, stored, present) == (DAYS, option_rows, 0, 0, 2 * DAYS)
    assert _tables(db) == tables

    stored_ivs = _stored_atm_ivs(db, "NIFTY")
    assert len(stored_ivs) == DAYS
    ivs = [iv for _, iv in stored_ivs if iv is not None]
    assert len(ivs) == DAYS, "every imported day has a solved ATM IV"
    # The IVs solved from settlement prices are the generating ATM volatility's (the smile
    # moves the ATM strike's by up to a few tenths of a point).
    generating = [d.atm_vols["NIFTY"] for d in days]
    assert max(abs(a - b) for a, b in zip(ivs, generating, strict=True)) < 0.005

    current = ivs[-1]
    rank = 100.0 * (current - min(ivs)) / (max(ivs) - min(ivs))
    percentile = 100.0 * sum(iv < current for iv in ivs) / len(ivs)

    server = start_server(tmp_path, "--hours", "always",
                          "--data-dir", str(data), "--tick-interval", "1")
    try:
        # No 'from' and no interval: the series is every stored point up to 'to'.
        query = urllib.parse.urlencode({
            "source": "nse", "to": _iso(stored_ivs[-1][0]), "lookback_days": 400,
            "limit": 1000})
        status, body = server.get(f"/api/analytics/iv-history/NIFTY?{query}")
    finally:
        server.stop()
    assert status == 200, body
    assert [(p["timestamp"], p["atm_iv"]) for p in body["series"]] == [
        (_iso(ts), pytest.approx(iv, rel=1e-12)) for ts, iv in stored_ivs]
    assert body["lookback"]["observations"] == DAYS
    assert body["iv_rank"]["observations"] == body["iv_percentile"]["observations"] == DAYS
    assert body["current"]["atm_iv"] == pytest.approx(current, rel=1e-12)
    assert body["iv_rank"]["value"] == pytest.approx(rank, rel=1e-9)
    assert body["iv_percentile"]["value"] == pytest.approx(percentile, rel=1e-12)
