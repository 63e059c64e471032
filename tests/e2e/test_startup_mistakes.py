"""Start-up mistakes, with a real `deltastream serve`: a data directory another server's engine
runs on, an unusable data directory, an unreachable database, an unreachable Redis, a market
that cannot run (a replay of a source or range the store lacks, a replay and a feed at once).
Each is one line (or, for Redis, a wait told in a few lines), and nothing is created by a
refusal."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.redis_servers import PrivateRedis
from tests.support.store import tape_day
from tests.support.waiting import wait_until

from .conftest import fetch, start_server

FAST = ("--tick-interval", "0.25")


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deltastream", *args],
                          capture_output=True, text=True, timeout=timeout)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if not p.name.endswith(("-wal", "-shm", "-journal", ".tmp"))}


def test_a_second_server_on_a_used_data_directory_refuses_in_one_line(tmp_path):
    data = tmp_path / "data"
    first = start_server(tmp_path, "--hours", "always", "--data-dir", str(data), *FAST)
    web = None
    try:
        host = first.base.removeprefix("http://")
        running = (f"another DeltaStream engine is running on data directory {data} "
                   f"(deltastream serve on {host}, pid {first.process.pid}); stop it or choose "
                   "another --data-dir")
        # The running server's own files, its store writer's counters among them.
        wait_until(lambda: (data / "store-writer.json").exists(), 30, "the writer's counters")
        before = _tree(data)
        port = free_port()
        second = _run("serve", "--port", str(port), "--data-dir", str(data))
        assert second.returncode == 1
        assert second.stderr.splitlines() == [
            f"Error: {running} (web processes for it: serve --role web)"]
        assert not _listening(port)
        assert _tree(data) == before           # no metrics directory, nothing else
        # The engine alone is refused alike.
        engine = _run("engine", "--data-dir", str(data))
        assert engine.returncode == 1 and engine.stderr.splitlines() == [f"Error: {running}"]
        # Web processes serving the running engine are the way to add some.
        web = start_server(tmp_path, "--hours", "always",
                           "--role", "web", "--data-dir", str(data), *FAST)
        status, health = web.get("/api/health")
        assert status == 200 and health["bus"] == {**health["bus"], "kind": "local",
                                                   "connected": True}
        assert web.stop() == 0 and first.stop() == 0
        log = first.log.read_text()
        assert "EngineLockedError" not in log and "Traceback" not in log
    finally:
        for server in (first, web):
            if server is not None and server.process.poll() is None:
                server.process.kill()
                server.process.wait()


@pytest.mark.parametrize(("where", "why"), [
    ("afile", "it is a file, not a directory"),
    ("afile/data", "{tmp}/afile is a file, not a directory"),
    ("x" * 300 + "/data", "the name xxxxxxxxxxxxxxxx… has 300 bytes, more than the 255 a file "
                          "name may have"),
])
def test_an_unusable_data_directory_is_one_line_and_creates_nothing(tmp_path, where, why):
    (tmp_path / "afile").write_text("not a directory\n")
    before = _tree(tmp_path)
    data_dir = tmp_path / where
    port = free_port()
    for command in (["serve", "--port", str(port)], ["engine"]):
        proc = _run(*command, "--data-dir", str(data_dir))
        assert proc.returncode == 1
        assert proc.stderr.splitlines() == [
            f"Error: data directory {data_dir} cannot be used: "
            f"{why.format(tmp=tmp_path)}; choose another --data-dir"]
    # Also when named by the environment rather than the flag.
    proc = subprocess.run([sys.executable, "-m", "deltastream", "serve", "--port", str(port)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DELTASTREAM_DATA_DIR": str(data_dir)})
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1
    assert _tree(tmp_path) == before
    assert not _listening(port)


def test_an_unreachable_database_is_one_line_and_creates_nothing(tmp_path):
    data = tmp_path / "data"
    proc = _run("serve", "--port", str(free_port()), "--data-dir", str(data),
                "--database-url", "postgresql+psycopg://127.0.0.1:1/x")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        'Error: database postgresql+psycopg://127.0.0.1:1/x unavailable: connection failed: '
        'connection to server at "127.0.0.1", port 1 failed: Connection refused Is the server '
        'running on that host and accepting TCP/IP connections?']
    assert not data.exists()


@pytest.fixture(scope="module")
def tape(tmp_path_factory) -> tuple[Path, str]:
    """A data directory whose store holds the imported source 'tape' (two products, twelve
    snapshots), and the stored range as the refusals word it."""
    data = tmp_path_factory.mktemp("tape")
    day = tape_day(12, seed=21, data_dir=data)
    first, last = (next(iter(step.values())).timestamp for step in (day[0], day[-1]))
    stored = f"{first:%Y-%m-%dT%H:%M:%S}Z to {last:%Y-%m-%dT%H:%M:%S}Z"
    return data, stored


FEED = "http://127.0.0.1:1/option-chain?symbol=NIFTY"


# What serve is given as flags, and the engine command (whose market is configured as its web
# processes' is, by the environment) as DELTASTREAM_* variables.
@pytest.mark.parametrize(("market", "message"), [
    ({"replay": "nse"},
     "--replay: no stored snapshots of source 'nse'; stored sources: tape"),
    ({"replay": "tape", "from": "2030-01-01", "to": "2030-01-02"},
     "--from/--to: source 'tape' has no snapshot from 2030-01-01T00:00:00Z to "
     "2030-01-02T00:00:00Z (it has {stored})"),
    ({"replay": "tape", "from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"},
     "--from 2030-01-02T00:00:00Z is after --to 2030-01-01T00:00:00Z"),
    ({"replay": "tape", "feed-url": FEED},
     "--replay and --feed-url: choose one market (a replay of stored snapshots or a live feed)"),
    ({"feed-url": "http://127.0.0.1:1/option-chain"},
     "--feed-url: feed URL http://127.0.0.1:1/option-chain has no symbol= query parameter "
     "naming the product it serves (e.g. ...?symbol=NIFTY)"),
], ids=["unknown-source", "empty-range", "reversed-range", "replay-and-feed",
        "feed-without-symbol"])
def test_a_market_that_cannot_run_is_one_line_and_creates_nothing(tape, market, message):
    data, stored = tape
    expected = [f"Error: {message.format(stored=stored)}"]
    before = _tree(data)
    port = free_port()
    flags = [arg for name, value in market.items() for arg in (f"--{name}", value)]
    served = _run("serve", "--port", str(port), "--data-dir", str(data), *flags)
    assert (served.returncode, served.stderr.splitlines()) == (1, expected)
    assert not _listening(port)
    variables = {"replay": "DELTASTREAM_REPLAY_SOURCE", "from": "DELTASTREAM_REPLAY_FROM",
                 "to": "DELTASTREAM_REPLAY_TO", "feed-url": "DELTASTREAM_FEED_URLS"}
    alone = subprocess.run(
        [sys.executable, "-m", "deltastream", "engine", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, **{variables[name]: value for name, value in market.items()}})
    assert (alone.returncode, alone.stderr.splitlines()) == (1, expected)
    # No engine lock, bus socket, metrics or log files; the store as it was.
    assert _tree(data) == before


def _about_redis(log: Path, url: str) -> list[str]:
    return [line for line in log.read_text().splitlines()
            if url in line and ("reach" in line or "retry" in line)]


def test_an_unreachable_redis_at_start_is_one_line_then_the_server_serves_when_it_comes(
        tmp_path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis_server = PrivateRedis(port)
    log = tmp_path / "server.log"
    http = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deltastream", "serve", "--port", str(http), "--data-dir",
         str(tmp_path / "data"), "--redis-url", url, *FAST],
        stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http}"
    try:
        started = time.monotonic()
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                status, health = fetch(base + "/api/health")
                break
            except OSError:
                assert time.monotonic() - started < 120, log.read_text()
                time.sleep(0.2)
        # The server waits for Redis, saying so (503, the bus disconnected) ...
        assert status == 503 and not health["bus"]["connected"]
        while not _about_redis(log, url):
            assert time.monotonic() - started < 120, log.read_text()
            time.sleep(0.2)
        # ... in one line for the server (its engine process's; the web workers leave it to
        # that process): 15 s of retrying later, still that line (a summary would come at the
        # end of a minute).
        time.sleep(15)
        assert fetch(base + "/api/health")[0] == 503
        lines = _about_redis(log, url)
        assert len(lines) == 1, lines
        assert lines[0].endswith(f"cannot reach {url}: Connection refused; retrying with "
                                 "back-off"), lines
        redis_server.start()
        deadline = time.monotonic() + 60
        while fetch(base + "/api/health")[0] != 200:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        back = [line for line in _about_redis(log, url) if "again after" in line]
        assert len(back) == 1 and f"reached {url} again after " in back[0], back
        proc.terminate()
        assert proc.wait(30) == 0
        assert "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        redis_server.stop()
