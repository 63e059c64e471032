"""`deltastream serve` as a real process: health, a chain, a clean SIGTERM shutdown."""

from __future__ import annotations

import subprocess
import sys
import time


def test_serve_answers_and_stops_cleanly_on_sigterm(server):
    status, health = server.get("/api/health")
    assert status == 200 and health["status"] == "healthy"
    status, body = server.get("/api/data/chain/NIFTY?strikes=41")
    assert status == 200
    chain = body["chains"][0]
    assert len(chain["strikes"]) == 41 and chain["product"] == "NIFTY"
    status, body = server.get("/api/data/chain/SPY")
    assert status == 200 and body["chains"][0]["exercise_style"] == "american"
    # The market moves: a later tick has a later sequence (the first ticks after a cold start
    # may be slow while kernels load).
    first = chain["sequence"]
    deadline = time.monotonic() + 60
    while server.get("/api/data/chain/NIFTY")[1]["chains"][0]["sequence"] <= first:
        assert time.monotonic() < deadline, "no new tick within a minute"
        time.sleep(0.2)
    assert server.stop() == 0
    log = server.log.read_text()
    assert "Shutting down: Master" in log
    assert "Traceback" not in log and "Exception ignored" not in log, log[-3000:]


def test_binds_loopback_by_default(server):
    host = server.base.split("//")[1].split(":")[0]
    assert host == "127.0.0.1"
    log = server.log.read_text()
    assert "Listening at: http://127.0.0.1:" in log
    # Nothing listens beside the port: no runtime-management socket.
    assert "Control socket" not in log


def test_invalid_catalogue_is_a_one_line_error_and_nonzero_exit(tmp_path):
    bad = tmp_path / "catalog.toml"
    bad.write_text("[products.NIFTY]\nstrike_step = -5\n")
    proc = subprocess.run([sys.executable, "-m", "deltastream", "serve", "--catalog", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "products.NIFTY.strike_step: must be > 0" in proc.stderr
    assert "Traceback" not in proc.stderr


