"""`deltastream serve` as a real process: health, a chain, a clean SIGTERM shutdown."""

from __future__ import annotations

import socket
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




def test_a_port_in_use_is_one_line_before_anything_is_created(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "deltastream", "serve", "--port",
                               str(port), "--data-dir", str(tmp_path / "data")],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"Error: cannot listen on 127.0.0.1:{port}: the address is in use; "
                     "choose another --port or stop the server using it"]
    assert not (tmp_path / "data").exists()


def test_start_up_warns_of_unknown_variables_and_of_binding_beyond_loopback(monkeypatch):
    from deltastream.cli import startup_warnings
    from deltastream.settings import Settings

    # A pinned clock: the holiday horizon's warning depends on the date the market starts.
    pinned = {"clock": "fixed", "clock_start": "2026-12-04T10:00:00Z"}
    monkeypatch.setenv("DELTASTREAM_PORTT", "9")
    warnings = startup_warnings(Settings(host="0.0.0.0", **pinned), bind=True)
    assert warnings[0].startswith("DELTASTREAM_PORTT is not a DeltaStream setting")
    assert "did you mean DELTASTREAM_PORT?" in warnings[0]
    assert warnings[1].startswith("binding 0.0.0.0: the server is reachable")
    monkeypatch.delenv("DELTASTREAM_PORTT")
    assert startup_warnings(Settings(**pinned), bind=True) == []
