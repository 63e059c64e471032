"""Socket.IO's Redis message queue: an outage in a few lines, messages flowing again after."""

from __future__ import annotations

import logging
import threading
import time

import redis
import socketio

from deltastream.web.socketio_queue import OVERRIDDEN, RedisQueue
from tests.support.waiting import wait_until


def test_the_replaced_methods_still_exist_upstream():
    # Renamed upstream, the replacements would silently stop applying.
    for name in OVERRIDDEN:
        assert callable(getattr(socketio.RedisManager, name, None)), name


def test_the_listener_reports_an_outage_once_and_receives_after_it(private_redis, caplog):
    caplog.set_level(logging.INFO)
    url = private_redis.url
    private_redis.stop()
    queue = RedisQueue(url, "test:socketio")
    received: list[bytes] = []

    def listen() -> None:
        for message in queue._redis_listen_with_retries():
            if message["type"] == "message":
                received.append(message["data"])
                return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(3)
    lines = [r.getMessage() for r in caplog.records if url in r.getMessage()]
    assert lines == [f"cannot reach {url}: Connection refused; retrying with back-off"]
    assert queue.reach.failures >= 3
    # A message it cannot publish is dropped without a line of its own.
    queue._publish({"method": "emit"})
    assert len([r for r in caplog.records if url in r.getMessage()]) == 1
    private_redis.start()
    publisher = redis.Redis.from_url(url)
    wait_until(lambda: publisher.pubsub_numsub("test:socketio")[0][1] == 1, 30,
               "the listener to subscribe again")
    publisher.publish("test:socketio", b"hello")
    listener.join(10)
    assert received == [b"hello"]
    lines = [r.getMessage() for r in caplog.records if url in r.getMessage()]
    assert len(lines) == 2 and lines[1].startswith(f"reached {url} again after ")
    # Nothing else was logged (python-socketio's own per-attempt errors among it).
    assert [r.getMessage() for r in caplog.records] == lines
    publisher.close()
