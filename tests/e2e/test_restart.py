"""Restart safety of a real server: run, SIGKILL the whole process group, restart.

The database is intact, the market continues from the last stored state (the first tick
after the restart is exactly what the stored checkpoint evolves to, numbered after the last
tick the killed engine published), stored history is still served, and open-interest and
premium changes are measured against the stored session close. On SQLite, and on the
PostgreSQL at 127.0.0.1:5432 when one answers there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from deltastream.catalog import load_catalog
from deltastream.core.types import TradingHours
from deltastream.engine.setup import build_engine
from deltastream.market.checkpoint import decode, restore
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.store import history
from deltastream.store.database import open_database, sqlite_url
from deltastream.store.schema import market_state, underlying_ticks

from .conftest import Server, start_server

# Five minutes before midnight in Kolkata: NIFTY's session rolls early in the first run.
CLOCK_START = "2026-11-25T18:25:00Z"
SPEED = "120"
PRODUCT = "NIFTY"
KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> tuple[str, dict[str, str]]:
    """(URL, extra environment) of an empty database."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "data"), {}
    url = request.getfixturevalue("postgres").create()
    return url, {"DELTASTREAM_DATABASE_URL": url}


def serve(tmp_path, env: dict[str, str]) -> Server:
    return start_server(tmp_path, "--hours", "always",
                        "--tick-interval", "0.25", "--strikes-each-side", "10",
                        "--clock", "accelerated",
                        "--clock-speed", SPEED, "--data-dir", str(tmp_path / "data"),
                        "--archive-every", "600",
                        env={"DELTASTREAM_CLOCK_START": CLOCK_START, **env}, new_session=True)


def kill_group(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(30)


def stored_ticks(db: sa.Engine) -> list:
    t = underlying_ticks
    with db.connect() as conn:
        return conn.execute(sa.select(t.c.sequence, t.c.ts, t.c.price)
                            .where(t.c.product == PRODUCT).order_by(t.c.ts)).all()


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def test_sigkill_and_restart_continue_the_stored_market(tmp_path, database):
    url, env = database
    first = serve(tmp_path, env)
    try:
        db = open_database(url)
        # Run until NIFTY's session has rolled (its close stored) and a while after.
        wait_for(lambda: history.last_session_date(db, PRODUCT) is not None,
                 "the first session close")
        wait_for(lambda: len(stored_ticks(db)) >= 30, "30 stored ticks", 240.0)
    finally:
        kill_group(first)

    # The database is intact: every tick from 1 on, and each product's checkpoint belongs
    # to its newest stored tick (they are written in one transaction).
    if db.dialect.name == "sqlite":
        with db.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    before = stored_ticks(db)
    assert [r.sequence for r in before] == list(range(1, len(before) + 1))
    with db.connect() as conn:
        states = {r.product: r for r in conn.execute(sa.select(market_state))}
        newest = {r.product: r.sequence for r in conn.execute(
            sa.select(underlying_ticks.c.product, sa.func.max(underlying_ticks.c.sequence)
                      .label("sequence")).group_by(underlying_ticks.c.product))}
    assert len(states) == 8 and {p: s.sequence for p, s in states.items()} == newest
    checkpoint = decode(states[PRODUCT].payload)
    assert checkpoint.spot == before[-1].price

    second = serve(tmp_path, env)
    try:
        wait_for(lambda: len(stored_ticks(db)) > len(before) + 3, "ticks after the restart",
                 240.0)
        after = stored_ticks(db)
        # The stored run is kept as it was, and the restart continues after it. The killed
        # engine may have put its last tick on the bus before its writer committed it: the
        # restart then continues after that tick's number (readers never see a number twice),
        # leaving its one number unstored.
        assert after[:len(before)] == before
        resumed = after[len(before)]
        skipped = resumed.sequence - before[-1].sequence - 1
        assert skipped in (0, 1), [r.sequence for r in after]
        assert [r.sequence for r in after[len(before):]] == list(
            range(resumed.sequence, resumed.sequence + len(after) - len(before)))
        assert resumed.ts > before[-1].ts

        # The first tick after the restart is the stored state evolved to its time: a
        # market that started again from the base price (or anywhere else) could not match.
        market = build_engine(load_catalog(), Settings(hours=TradingHours.ALWAYS), FixedClock(
            checkpoint.time)).market.products[PRODUCT]
        restore(market, checkpoint)
        expected = market.advance(history.ticks(db, PRODUCT, limit=1, newest=False,
                                                start=datetime.fromtimestamp(
                                                    resumed.ts / 1e6, UTC))[0].timestamp)
        assert resumed.price == expected.spot
        assert abs(resumed.price / before[-1].price - 1) < 0.01

        # Stored history of the first run is still served.
        start = history.ticks(db, PRODUCT, limit=1, newest=False)[0].timestamp
        end = history.ticks(db, PRODUCT, end=datetime.fromtimestamp(before[-1].ts / 1e6, UTC),
                            limit=1)[0].timestamp
        status, body = second.get(f"/api/data/underlying/{PRODUCT}?limit=1000"
                                  f"&from={quote(start.isoformat())}"
                                  f"&to={quote(end.isoformat())}")
        assert status == 200
        assert [(t["id"], t["price"]) for t in body["ticks"]] == [
            (r.sequence, r.price) for r in before]

        # Changes are against the stored close of the previous session.
        status, body = second.get(f"/api/data/chain/{PRODUCT}?limit=10&strikes=201")
        assert status == 200
        chain_time = datetime.fromisoformat(body["chains"][0]["timestamp"].replace("Z", "+00:00"))
        session = history.last_session_date(db, PRODUCT, before=chain_time.astimezone(
            KOLKATA).date())
        assert session is not None
        closes = {(c.expiry.isoformat(), c.strike, c.right): c
                  for c in history.session_closes(db, PRODUCT, session)}
        checked = 0
        for chain in body["chains"]:
            for right, side in (("C", "calls"), ("P", "puts")):
                for option in chain[side]:
                    close = closes.get((chain["expiry"], option["strike"], right))
                    if close is None:
                        continue
                    assert option["oi_change"] == option["open_interest"] - close.close_oi
                    assert option["change"] == pytest.approx(option["last"] - close.close_last,
                                                             abs=1e-6)
                    checked += 1
        assert checked > 100
        assert second.stop() == 0
    finally:
        if second.process.poll() is None:
            kill_group(second)
        db.dispose()


def test_unreachable_database_is_a_one_line_error_and_nonzero_exit(tmp_path):
    url = "postgresql+psycopg://deltastream:s3cret@127.0.0.1:9/history"
    proc = subprocess.run([sys.executable, "-m", "deltastream", "serve", "--data-dir",
                           str(tmp_path), "--database-url", url],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "postgresql+psycopg://deltastream:***@127.0.0.1:9/history" in lines[0]
    assert "s3cret" not in proc.stderr and "Traceback" not in proc.stderr
