"""A real `deltastream serve` whose history store fails, then recovers.

Made to fail for real: on SQLite the database file made immutable (``chattr +i``: what killed
the engine and a web worker with SIGBUS when the store ran in WAL mode; skipped where the file
system has no inode flags), on PostgreSQL the database refusing connections with its sessions
ended (a database server restarting or taken offline).

While it fails: no 500 anywhere; history routes answer 503 "history store unavailable" with
Retry-After; health answers 200 "degraded" naming the failure; the live chain keeps ticking;
the server, its workers and its engine process stay alive. After: health is healthy again by
itself, writing resumed, and the stored ticks run without a gap through the outage.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.faults import chattr_supported, immutable, postgres_refusing
from tests.support.waiting import wait_until

from .conftest import Server, start_server

PRODUCT = "NIFTY"
CLOCK_START = "2026-11-25T04:00:00Z"      # NIFTY's session is open
HISTORY = [f"/api/data/underlying/{PRODUCT}?from={CLOCK_START}&limit=1000",
           f"/api/analytics/ohlc/{PRODUCT}?window=1",
           f"/api/analytics/pcr/{PRODUCT}?history=true",
           f"/api/analytics/iv-history/{PRODUCT}?lookback_days=1",
           f"/api/data/chain/{PRODUCT}?at=2026-11-25T04:00:30Z"]
LIVE = [f"/api/data/chain/{PRODUCT}?strikes=11", f"/api/data/underlying/{PRODUCT}?limit=5",
        f"/api/analytics/max-pain/{PRODUCT}", f"/api/data/expiries/{PRODUCT}"]


def _serve(tmp_path: Path, *args: str) -> Server:
    return start_server(tmp_path, "--hours", "always",
                        "--tick-interval", "0.25", "--strikes-each-side", "10",
                        "--clock", "accelerated", "--clock-speed", "60",
                        "--archive-every", "60", "--data-dir", str(tmp_path / "data"), *args,
                        env={"DELTASTREAM_CLOCK_START": CLOCK_START})


def _sequence(server: Server) -> int:
    status, body = server.get(f"/api/data/chain/{PRODUCT}?strikes=11")
    assert status == 200, body
    return int(body["chains"][0]["sequence"])


def _stored_ids(server: Server) -> list[int]:
    status, body = server.get(HISTORY[0])
    assert status == 200, body
    return [t["id"] for t in body["ticks"]]


def _check_every_route(server: Server, failing: bool) -> dict[str, Any]:
    """One pass over health, the live routes and the history routes; never a 500."""
    status, health = server.get("/api/health")
    assert status == 200, health
    for path in LIVE:
        status, body = server.get(path)
        assert status == 200, (path, body)
    for path in HISTORY:
        status, body = server.get(path)
        if failing and status == 503:
            assert body["error"] == "history store unavailable", (path, body)
            assert body["detail"]["retry_after_seconds"] > 0
        else:
            assert status == 200, (path, body)
    return health


def _writer_failing(health: dict[str, Any]) -> bool:
    return health["status"] == "degraded" and health["store"]["writing"] is False


def _run_fault(server: Server, fault: Callable[[], Any], reads_fail: bool = True) -> None:
    wait_until(lambda: len(_stored_ids(server)) >= 8, timeout=60, what="stored ticks")
    before = _stored_ids(server)
    with fault():
        # Reads (history, the paper-trading events' tail) may meet the fault before the
        # writer's next counters say so: wait for both.
        wait_until(lambda: _writer_failing(server.get("/api/health")[1]), timeout=30,
                   what="health degraded with the writer failing")
        sequence = _sequence(server)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            health = _check_every_route(server, failing=True)
            assert health["status"] == "degraded", health
            store = health["store"]
            assert store["status"] == "degraded" and store["writing"] is False
            assert store["last_error"] and store["failing_since"]
            assert health["engine"]["running"] and not health["stale"]
            time.sleep(0.5)
        # At least one history route answers 503 (SQLite's rolled-back write leaves a journal
        # that reads cannot roll back while the file is immutable; PostgreSQL refuses all);
        # where reads still work, every route answers from what is stored.
        assert any(server.get(path)[0] == 503 for path in HISTORY) == reads_fail
        assert _sequence(server) >= sequence + 3             # the live market kept ticking
        assert server.process.poll() is None
    wait_until(lambda: server.get("/api/health")[1]["status"] == "healthy", timeout=60,
               what="health healthy again")
    health = _check_every_route(server, failing=False)
    assert health["store"]["status"] == "ok" and health["store"]["writing"] is True
    last = _sequence(server)
    wait_until(lambda: _stored_ids(server)[-1] >= last, timeout=30, what="writing resumed")
    after = _stored_ids(server)
    # Nothing lost: what was stored is still there, and the outage's ticks were written late.
    assert after[:len(before)] == before
    assert after == list(range(after[0], after[-1] + 1))
    text = server.log.read_text()
    assert "Traceback" not in text and "Bus error" not in text, text
    assert text.count("store writer: the database is failing") == 1, text
    assert "store writer: writing again" in text, text


@contextlib.contextmanager
def _stopped(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        if server.process.poll() is None:
            assert server.stop() == 0
        else:
            pytest.fail(f"the server died: {server.process.returncode}\n{server.log.read_text()}")


def test_sqlite_file_made_immutable_degrades_and_recovers(tmp_path):
    if not chattr_supported(tmp_path):
        pytest.skip("chattr +i is not available here (needs root and ext4/xfs/btrfs)")
    with _stopped(_serve(tmp_path)) as server:
        _run_fault(server, lambda: immutable(tmp_path / "data" / "deltastream.db"))


def test_postgresql_refusing_connections_degrades_and_recovers(tmp_path, postgres):
    url = postgres.create()
    with _stopped(_serve(tmp_path, "--database-url", url)) as server:
        _run_fault(server, lambda: postgres_refusing(url))


def test_the_whole_data_directory_made_immutable_degrades_and_recovers(tmp_path):
    # Every file the server keeps there (the database, its journal, the engine's lock and
    # sequence, the writer's counters) and the directory itself: nothing can be written,
    # what is stored can still be read.
    if not chattr_supported(tmp_path):
        pytest.skip("chattr +i is not available here (needs root and ext4/xfs/btrfs)")
    data = tmp_path / "data"
    with _stopped(_serve(tmp_path)) as server:
        _run_fault(server, lambda: immutable(
            *sorted(p for p in data.rglob("*") if p.is_file()), data), reads_fail=False)
        # Said once each, not per tick.
        text = server.log.read_text()
        assert "cannot publish tick" not in text, text
        assert text.count("cannot record the engine's sequence") == 1, text
        assert text.count("cannot publish store writer counters") == 1, text
