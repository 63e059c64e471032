"""Self-healing under the way users run the server (gunicorn): the engine's process, killed,
is restarted and continues the stored market, connected clients keep receiving ticks, and
health reports the restarts and how the engine last died; an engine that keeps dying stops
the server."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.stream_clients import Recorder

from .conftest import Server, start_server


def engine_pid(server: Server) -> int | None:
    """The engine's process: the server's child started by multiprocessing's spawn (None
    while there is none)."""
    # Children are listed per thread: a restart is spawned by the supervising thread.
    tasks = Path(f"/proc/{server.process.pid}/task")
    children = [int(pid) for task in tasks.iterdir()
                for pid in (task / "children").read_text().split()]
    for pid in children:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"spawn_main" in cmdline:
            return pid
    return None


@pytest.fixture()
def served(tmp_path):
    server = start_server(tmp_path, "--hours", "always",
                          "--data-dir", str(tmp_path), "--tick-interval", "0.25",
                          "--strikes-each-side", "5", "--clock", "accelerated",
                          "--clock-speed", "60", env={"DELTASTREAM_CLOCK_START":
                                                      "2026-11-25T04:00:00Z"})
    yield server
    if server.process.poll() is None:
        server.stop()


def nifty_sequence(server: Server) -> int:
    status, body = server.get("/api/data/chain/NIFTY?strikes=1")
    assert status == 200
    return body["chains"][0]["sequence"]


def at(text: str) -> float:
    """Epoch seconds of an ISO-8601 UTC time as health writes it."""
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text).timestamp()


def kill_engine_and_recover(server: Server, restarts: int, within: float) -> dict:
    """SIGKILL the engine's process; health once it is 200 again with ``restarts`` restarts
    and the sequence has moved on (``within`` seconds at most)."""
    first = engine_pid(server)
    assert first is not None, "no engine process among the server's children"
    before = nifty_sequence(server)
    killed = time.time()
    os.kill(first, signal.SIGKILL)
    while True:
        status, health = server.get("/api/health")
        pid = engine_pid(server)
        if (status == 200 and pid not in (None, first) and health["engine"]["restarts"] ==
                restarts and nifty_sequence(server) > before):
            break
        assert time.time() - killed < within, f"not healthy {within} s after the kill: {health}"
        time.sleep(0.2)
    engine = health["engine"]
    # Health tells how the engine died, when, and when the running one started.
    assert engine["last_exit"]["cause"] == "killed by signal SIGKILL", engine
    assert killed - 0.01 <= at(engine["last_exit"]["at"]) <= at(engine["started_at"])
    assert at(engine["started_at"]) <= time.time()
    return health


def test_a_killed_engine_is_restarted_and_the_market_goes_on(served):
    status, health = served.get("/api/health")
    assert status == 200, health
    assert health["engine"]["restarts"] == 0 and health["engine"]["last_exit"] is None
    started = at(health["engine"]["started_at"])
    recorder = Recorder(served.base)
    try:
        recorder.wait_for(lambda got: sum(e == "underlying_update" for _, e, _ in got) >= 8)
        first = kill_engine_and_recover(served, 1, 10)
        assert at(first["engine"]["started_at"]) > started
        # The restarted engine continues the stored market: sequences go on, none repeats.
        received_before = len(recorder.of("underlying_update", "NIFTY"))
        recorder.wait_for(lambda got: len([d for _, e, d in got if e == "underlying_update"
                                           and d["product"] == "NIFTY"])
                          >= received_before + 4, timeout=30)
        # Killed again: restarted again (after a longer back-off), and health counts it.
        second = kill_engine_and_recover(served, 2, 20)
        assert at(second["engine"]["last_exit"]["at"]) > at(first["engine"]["started_at"])
        received_before = len(recorder.of("underlying_update", "NIFTY"))
        recorder.wait_for(lambda got: len([d for _, e, d in got if e == "underlying_update"
                                           and d["product"] == "NIFTY"])
                          >= received_before + 4, timeout=30)
    finally:
        recorder.close()
    ids = [d["sequence"] for d in recorder.of("underlying_update", "NIFTY")]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), ids
    assert served.stop() == 0
    log = served.log.read_text()
    assert "the engine process ended (killed by signal SIGKILL); restarting it in 1 s" in log
    assert "the engine process ended (killed by signal SIGKILL); restarting it in 2 s" in log
    assert "Traceback" not in log


def test_an_engine_that_keeps_dying_stops_the_server(tmp_path):
    # Two restarts allowed within the (default, 300 s) window; quick ones.
    server = start_server(tmp_path, "--hours", "always",
                          "--data-dir", str(tmp_path), "--tick-interval", "0.25",
                          "--strikes-each-side", "5",
                          env={"DELTASTREAM_ENGINE_MAX_RESTARTS": "2",
                               "DELTASTREAM_ENGINE_RESTART_DELAY": "0.1"})
    try:
        killed: list[int] = []
        while len(killed) < 3:
            pid = engine_pid(server)
            if pid is not None and pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            assert server.process.poll() is None, server.log.read_text()[-2000:]
            time.sleep(0.05)
        # The third death within the window: no fourth engine, the server stops.
        code = server.process.wait(30)
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    log = server.log.read_text()
    assert code == 1, log[-2000:]
    stopping = [line for line in log.splitlines() if "stopping the server" in line]
    assert len(stopping) == 1, log[-2000:]
    assert stopping[0].endswith("the engine process ended 3 times within 300 s (last: killed "
                                "by signal SIGKILL); stopping the server"), stopping
    assert "Traceback" not in log
