"""Self-healing under the way users run the server (gunicorn): the engine's process, killed,
is restarted and continues the stored market, and connected clients keep receiving ticks."""

from __future__ import annotations

import os
import signal
import time
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
    server = start_server(tmp_path, "--data-dir", str(tmp_path), "--tick-interval", "0.25",
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


def test_a_killed_engine_is_restarted_and_the_market_goes_on(served):
    recorder = Recorder(served.base)
    try:
        recorder.wait_for(lambda got: sum(e == "underlying_update" for _, e, _ in got) >= 8)
        first = engine_pid(served)
        assert first is not None, "no engine process among the server's children"
        before = nifty_sequence(served)
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            status, health = served.get("/api/health")
            pid = engine_pid(served)
            if status == 200 and pid not in (None, first) and nifty_sequence(served) > before:
                break
            assert time.monotonic() - killed < 10, f"not healthy 10 s after the kill: {health}"
            time.sleep(0.2)
        # The restarted engine continues the stored market: sequences go on, none repeats.
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
    assert "the engine process was killed by signal SIGKILL" in log or \
        "the engine process exited (status collected by the server process)" in log, log[-2000:]
    assert "Traceback" not in log
