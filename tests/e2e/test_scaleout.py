"""Scale-out as deployed: `deltastream engine` alone, web processes that serve its ticks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import redis

from tests.support.ports import free_port
from tests.support.products import PRODUCTS
from tests.support.redis_servers import PrivateRedis
from tests.support.stream_clients import Recorder

from .conftest import start_server

FAST = ("--tick-interval", "0.25", "--hours", "always")  # motion at any hour
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


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable ({exc}); CI runs one there")


def _ticks(rec: Recorder) -> list[tuple[str, int]]:
    return [(d["product"], d["sequence"]) for _, e, d in rec.snapshot()
            if e == "underlying_update"]


def _stop_all(engine: subprocess.Popen, webs: list) -> None:
    engine.kill()
    engine.wait()
    for web in webs:
        if web.process.poll() is None:
            web.process.kill()
            web.process.wait()


def test_two_web_processes_and_one_engine_stream_the_same_ticks_in_order(tmp_path):
    _require_redis()
    env = {"DELTASTREAM_REDIS_PREFIX": f"deltastream-test-{uuid.uuid4().hex[:12]}",
           "DELTASTREAM_REDIS_URL": REDIS_URL}
    (tmp_path / "engine").mkdir()
    engine = _engine(tmp_path / "engine", env=env)
    webs = []
    clients = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            webs.append(start_server(tmp_path / name, "--role", "web", "--data-dir",
                                     str(tmp_path / name), *FAST, env=env))
        for web in webs:
            status, health = web.get("/api/health")
            assert status == 200 and health["bus"]["kind"] == "redis"
        clients = [Recorder(web.base) for web in webs]
        for rec in clients:
            rec.wait_for(lambda got: len([1 for _, e, _ in got if e == "underlying_update"])
                         >= 10 * len(PRODUCTS), 120)
        a, b = (_ticks(rec) for rec in clients)
        common = set(a) & set(b)
        assert len(common) >= 8 * len(PRODUCTS)
        assert [t for t in a if t in common] == [t for t in b if t in common]
        # The same sequence is the same snapshot on both: REST agrees too.
        deadline = time.monotonic() + 60
        while True:
            ca = webs[0].get("/api/data/chain/NIFTY?strikes=5")[1]["chains"][0]
            cb = webs[1].get("/api/data/chain/NIFTY?strikes=5")[1]["chains"][0]
            if ca["sequence"] == cb["sequence"]:
                assert ca == cb
                break
            assert time.monotonic() < deadline, "the web processes never agreed"
            time.sleep(0.05)
    finally:
        for rec in clients:
            rec.close()
        _stop_all(engine, webs)


def test_web_processes_and_their_clients_recover_from_a_redis_restart(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    private = PrivateRedis(free_port())
    private.start()
    env = {"DELTASTREAM_REDIS_URL": private.url}
    (tmp_path / "engine").mkdir()
    (tmp_path / "web").mkdir()
    engine = _engine(tmp_path / "engine", env=env)
    webs = []
    rec = None
    try:
        webs.append(start_server(tmp_path / "web", "--role", "web", "--data-dir",
                                 str(tmp_path / "web"), *FAST, env=env))
        web = webs[0]
        rec = Recorder(web.base)
        rec.wait_for(lambda got: len(_ticks(rec)) >= 3 * len(PRODUCTS), 120)
        private.stop()
        deadline = time.monotonic() + 30
        while (health := web.get("/api/health"))[0] != 503:
            assert time.monotonic() < deadline, "health never noticed Redis was gone"
            time.sleep(0.2)
        assert health[1]["stale"] and not health[1]["bus"]["connected"]
        assert web.get("/api/data/chain/NIFTY")[0] == 200      # the last snapshot
        before = max(s for _, s in _ticks(rec))
        time.sleep(2)
        private.start()
        # Without a restart: the web process reconnects, the engine publishes again, and the
        # client (still connected to the web process) receives the new ticks.
        rec.wait_for(lambda got: max(s for _, s in _ticks(rec)) > before + 3, 120)
        deadline = time.monotonic() + 30
        while web.get("/api/health")[0] != 200:
            assert time.monotonic() < deadline, "health never recovered"
            time.sleep(0.2)
        assert web.get("/api/health")[1]["bus"]["reconnects"] >= 1
        assert rec.client.connected
    finally:
        if rec is not None:
            rec.close()
        _stop_all(engine, webs)
        private.stop()
