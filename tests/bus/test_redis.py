"""The Redis bus: one fenced writer, standby takeover, readers that survive a Redis restart."""

from __future__ import annotations

import threading
import time

import pytest

from deltastream.bus import bus_feed
from deltastream.bus.redisbus import RedisPublisher, hide_password
from deltastream.runtime.publishing import run_publishing_engine
from deltastream.settings import Settings
from tests.support.products import PRODUCTS
from tests.support.redis_servers import SHARED_URL
from tests.support.waiting import wait_until


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
