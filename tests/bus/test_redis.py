"""The Redis bus: one fenced writer, standby takeover, readers that survive a Redis restart."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from deltastream.bus import bus_feed
from deltastream.bus.redisbus import RedisBusClient, RedisPublisher, hide_password
from deltastream.core.retry import Unreachable
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
    settings = Settings(hours="always", tick_interval=0.2, strikes_each_side=5, data_dir=tmp_path,
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


def _outage_lines(caplog: pytest.LogCaptureFixture, url: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "deltastream.bus.redisbus" and url in r.getMessage()]


def test_an_unreachable_redis_is_one_line_then_one_line_when_it_is_back(private_redis,
                                                                        caplog):
    caplog.set_level(logging.INFO)
    url = private_redis.url
    private_redis.stop()
    # A lease that outlasts the test: nothing renews it here.
    publisher = RedisPublisher(url, "first", 60.0)
    client = RedisBusClient(url)
    stopped = threading.Event()
    acquired: list[bool] = []
    frames: list[bytes] = []
    threads = [threading.Thread(target=lambda: acquired.append(publisher.acquire(stopped))),
               threading.Thread(target=client.run,
                                args=(lambda kind, data: frames.append(data), lambda up: None))]
    for thread in threads:
        thread.start()
    try:
        time.sleep(4)
        refused = (f"cannot reach {url}: Connection refused; retrying with back-off")
        # Each side says so once, however many attempts it made (0, 0.5, 1.5, 3.5 s, ...).
        assert _outage_lines(caplog, url) == [refused, refused]
        assert publisher.reach.failures >= 3 and client.reach.failures >= 3
        private_redis.start()
        wait_until(lambda: acquired == [True], 30, "the lease once Redis is up")
        wait_until(lambda: not client.reach.down, 30, "the reader once Redis is up")
        assert publisher.publish(1, b"one")
        wait_until(lambda: frames == [b"one"], 10, "the tick through Redis")
        back = [line for line in _outage_lines(caplog, url) if "again after" in line]
        assert len(back) == 2 and all(line.startswith(f"reached {url} again after ")
                                      for line in back)
        # Redis going away while publishing: one attempt per back-off step, not per call.
        caplog.clear()
        private_redis.stop()
        with pytest.raises(Unreachable):
            publisher.publish(2, b"two")
        for _ in range(50):
            with pytest.raises(Unreachable):
                publisher.renew()
        assert publisher.reach.failures == 1
        wait_until(lambda: client.reach.down, 30, "the reader to notice")
        assert _outage_lines(caplog, url) == [refused, refused]
    finally:
        stopped.set()
        client.stop()
        for thread in threads:
            thread.join(30)
        publisher.close()


@pytest.mark.parametrize("url", ["http://x", "redis//nope"])
def test_redis_url_must_be_a_redis_url(url):
    from deltastream.settings import SettingsError

    with pytest.raises(SettingsError, match="redis_url"):
        Settings(redis_url=url)
