"""Scale-out as deployed: `deltastream engine` alone, web processes that serve its ticks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
import redis

from .conftest import start_server

FAST = ("--tick-interval", "0.25")
REDIS_URL = "redis://127.0.0.1:6379/0"


def _engine(data_dir, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "deltastream", "engine", "--data-dir", str(data_dir), *FAST,
         *args], env={**os.environ, "DELTASTREAM_STRIKES_EACH_SIDE": "10", **(env or {})},
        stdout=(data_dir.parent / f"engine-{uuid.uuid4().hex[:6]}.log").open("wb"),
        stderr=subprocess.STDOUT)


def _sequence(server) -> int:
    status, body = server.get("/api/data/chain/NIFTY")
    assert status == 200
    return body["chains"][0]["sequence"]


def test_web_processes_serve_an_engine_on_the_same_host(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    engine = _engine(data)
    web = None
    try:
        web = start_server(tmp_path, "--role", "web", "--workers", "2", "--data-dir", str(data),
                           *FAST)
        status, health = web.get("/api/health")
        assert status == 200 and health["bus"]["kind"] == "local"
        assert health["bus"]["connected"] and not health["stale"]
        first = _sequence(web)
        deadline = time.monotonic() + 60
        while _sequence(web) <= first:
            assert time.monotonic() < deadline, "no new tick through the bus"
            time.sleep(0.1)
        # A second engine on the same data directory refuses to start.
        second = subprocess.run([sys.executable, "-m", "deltastream", "engine", "--data-dir",
                                 str(data)], capture_output=True, text=True, timeout=120)
        assert second.returncode != 0
        assert "another DeltaStream engine is running" in second.stderr
        assert "Traceback" not in second.stderr
        # The engine stopping leaves the web process serving the last snapshot, flagged stale.
        engine.terminate()
        assert engine.wait(60) == 0
        deadline = time.monotonic() + 30
        while True:
            status, health = web.get("/api/health")
            if status == 503:
                break
            assert time.monotonic() < deadline, "health never noticed the engine was gone"
            time.sleep(0.2)
        assert health["stale"] and not health["bus"]["connected"]
        assert web.get("/api/data/chain/NIFTY")[0] == 200
        assert web.stop() == 0
    finally:
        for p in (engine, web.process if web else None):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_two_web_processes_on_redis_serve_the_same_ticks(tmp_path):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc}); CI runs one there")
    env = {"DELTASTREAM_REDIS_PREFIX": f"deltastream-test-{uuid.uuid4().hex[:12]}",
           "DELTASTREAM_REDIS_URL": REDIS_URL}
    (tmp_path / "engine").mkdir()
    engine = _engine(tmp_path / "engine", env=env)
    webs = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            webs.append(start_server(tmp_path / name, "--role", "web", "--data-dir",
                                     str(tmp_path / name), *FAST, env=env))
        for web in webs:
            status, health = web.get("/api/health")
            assert status == 200 and health["bus"]["kind"] == "redis"
        # Both serve the engine's snapshots: the same sequence has the same chain.
        deadline = time.monotonic() + 60
        while True:
            a = webs[0].get("/api/data/chain/NIFTY?strikes=5")[1]["chains"][0]
            b = webs[1].get("/api/data/chain/NIFTY?strikes=5")[1]["chains"][0]
            if a["sequence"] == b["sequence"]:
                assert a == b
                break
            assert time.monotonic() < deadline, "the web processes never agreed"
            time.sleep(0.05)
        for web in webs:
            assert web.stop() == 0
    finally:
        engine.kill()
        engine.wait()
        for web in webs:
            if web.process.poll() is None:
                web.process.kill()
                web.process.wait()
