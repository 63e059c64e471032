"""The Redis bus: one fenced writer, standby takeover, readers that survive a Redis restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis

from deltastream.bus import bus_feed
from deltastream.bus.codec import decode_tick
from deltastream.bus.redisbus import RedisPublisher, hide_password
from deltastream.runtime.publishing import run_publishing_engine
from deltastream.settings import Settings

from .conftest import SHARED_URL
from .test_local import PRODUCTS, wait_until

FAST = {"DELTASTREAM_TICK_INTERVAL": "0.25", "DELTASTREAM_STRIKES_EACH_SIDE": "5"}


def test_hide_password():
    assert hide_password("redis://user:secret@host:6379/0") == "redis://user:***@host:6379/0"
    assert hide_password("redis://:secret@host/1") == "redis://:***@host/1"
    assert hide_password("redis://host:6379") == "redis://host:6379"


def test_only_the_lease_holder_publishes(redis_prefix):
    first = RedisPublisher(SHARED_URL, "first", 1.0, redis_prefix)
    second = RedisPublisher(SHARED_URL, "second", 1.0, redis_prefix)
    stopped = threading.Event()
    assert first.acquire(stopped)
    assert first.publish(1, b"one")
    assert first.standbys() == []
    # The second cannot publish, nor take the lease while the first renews it.
    assert not second.publish(2, b"two")
    timer = threading.Timer(0.5, stopped.set)
    timer.start()
    assert not second.acquire(stopped)
    assert second.standbys() == ["second"]
    assert first.renew()
    assert first.last_sequence() == 1
    # Once the first's lease lapses, the second takes over and the first is fenced off.
    time.sleep(1.1)
    assert second.acquire(threading.Event())
    assert not first.renew()
    assert not first.publish(2, b"late")
    assert second.publish(2, b"two")
    assert second.last_sequence() == 2
    first.close()
    second.close()


def _engine(prefix: str, url: str, data_dir) -> subprocess.Popen:
    # A day of market time per wall second: the market moves visibly between ticks.
    env = {**os.environ, **FAST, "DELTASTREAM_REDIS_PREFIX": prefix,
           "DELTASTREAM_ENGINE_LEASE": "2", "DELTASTREAM_CLOCK": "accelerated",
           "DELTASTREAM_CLOCK_SPEED": "86400"}
    return subprocess.Popen([sys.executable, "-m", "deltastream", "engine", "--redis-url", url,
                             "--data-dir", str(data_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_standby_takes_over_within_five_seconds_without_duplicate_sequences(redis_prefix,
                                                                             tmp_path):
    client = redis.Redis.from_url(SHARED_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"{redis_prefix}:tick")
    received: list[tuple[float, str, int, float, float]] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message is not None:
                tick = decode_tick(message["data"])
                nifty = tick.snapshots["NIFTY"]
                received.append((time.monotonic(), tick.engine_id, tick.sequence,
                                 nifty.spot, nifty.timestamp.timestamp()))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    # Both engines share one store (the data directory's database), as in a deployment.
    engines = [_engine(redis_prefix, SHARED_URL, tmp_path)]
    try:
        wait_until(lambda: len(received) >= 3, 180, "the first engine's ticks")
        engines.append(_engine(redis_prefix, SHARED_URL, tmp_path))
        watcher = RedisPublisher(SHARED_URL, "watcher", 2.0, redis_prefix)
        wait_until(lambda: watcher.standbys(), 180, "the standby to be ready")
        active_id = received[-1][1]
        active = next(p for p in engines if f"-{p.pid}-" in active_id)
        standby = next(p for p in engines if p is not active)
        assert all(e == active_id for _, e, *_ in received), "the standby published"
        active.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        last_active = received[-1]
        wait_until(lambda: received[-1][1] != active_id, 30, "the standby's takeover")
        first_standby = next(r for r in received if r[1] != active_id)
        took_over = first_standby[0]
        assert took_over - killed_at <= 5.0, f"takeover took {took_over - killed_at:.1f} s"
        assert f"-{standby.pid}-" in received[-1][1]
        # The standby continues the stored market: its clock goes on from the stored time
        # (a fresh market would start at today's wall time, days of market time earlier)
        # and its spot from the stored spot.
        assert first_standby[4] >= last_active[4] - 86400 * 2
        assert abs(first_standby[3] / last_active[3] - 1) < 0.02
        wait_until(lambda: len([r for r in received if r[1] != active_id]) >= 3, 30, "ticks")
    finally:
        for p in engines:
            p.kill()
            p.wait(30)
        done.set()
        listener.join(10)
        pubsub.close()
    sequences = [r[2] for r in received]
    assert len(sequences) == len(set(sequences)), "a sequence number was published twice"
    assert sequences == sorted(sequences), "sequences went backwards"


def test_readers_recover_from_a_redis_restart_on_their_own(private_redis, tmp_path):
    settings = Settings(tick_interval=0.2, strikes_each_side=5, data_dir=tmp_path,
                        redis_url=private_redis.url, engine_lease=1.0)
    stopped = threading.Event()
    engine = threading.Thread(target=run_publishing_engine, args=(settings, stopped))
    engine.start()
    feed = bus_feed(settings, PRODUCTS)
    feed.start()
    try:
        wait_until(lambda: feed.status().ticks >= 3, 180, "ticks over Redis")
        private_redis.stop()
        wait_until(lambda: not feed.connected, 30, "the reader to notice")
        before = feed.last_sequence
        assert feed.latest("NIFTY") is not None       # still serving the last snapshot
        assert not feed.status().running
        time.sleep(1.5)
        private_redis.start()
        wait_until(lambda: feed.connected and feed.last_sequence > before + 2, 60,
                   "ticks after Redis came back")
        assert feed.reconnects >= 1
        assert feed.status().running
    finally:
        stopped.set()
        engine.join(30)
        feed.stop()


@pytest.mark.parametrize("url", ["http://x", "redis//nope"])
def test_redis_url_must_be_a_redis_url(url):
    from deltastream.settings import SettingsError

    with pytest.raises(SettingsError, match="redis_url"):
        Settings(redis_url=url)
