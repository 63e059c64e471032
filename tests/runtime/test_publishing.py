"""Publishing engines on Redis: one holds the writer's lease and publishes; a standby takes
over within seconds when it dies, continuing the stored market and the sequence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import redis

from deltastream.bus.codec import decode_tick
from deltastream.bus.redisbus import RedisPublisher
from deltastream.core.feed import EngineLife
from tests.support.redis_servers import SHARED_URL
from tests.support.waiting import wait_until

# Around the clock: an accelerated market must trade at any hour.
FAST = {"DELTASTREAM_TICK_INTERVAL": "0.25", "DELTASTREAM_STRIKES_EACH_SIDE": "5",
        "DELTASTREAM_HOURS": "always"}


def _engine(prefix: str, url: str, data_dir) -> subprocess.Popen:
    # An hour of market time per wall second: the market moves visibly between ticks, and
    # a market started afresh would be hours of market time behind the stored one. (Faster
    # clocks roll a session and list new expiries on every tick, whose first pricing, not the
    # takeover, would then set the pace.)
    env = {**os.environ, **FAST, "DELTASTREAM_REDIS_PREFIX": prefix,
           "DELTASTREAM_ENGINE_LEASE": "2", "DELTASTREAM_CLOCK": "accelerated",
           "DELTASTREAM_CLOCK_SPEED": "3600"}
    return subprocess.Popen([sys.executable, "-m", "deltastream", "engine", "--redis-url", url,
                             "--data-dir", str(data_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_standby_takes_over_within_five_seconds_without_duplicate_sequences(redis_prefix,
                                                                             tmp_path):
    client = redis.Redis.from_url(SHARED_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"{redis_prefix}:tick")
    received: list[tuple[float, str, int, float, float, EngineLife]] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message is not None:
                tick = decode_tick(message["data"])
                nifty = tick.snapshots["NIFTY"]
                received.append((time.monotonic(), tick.engine_id, tick.sequence,
                                 nifty.spot, nifty.timestamp.timestamp(), tick.life))

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
        # (a fresh market would start at today's wall time, hours of market time earlier:
        # the first engine ran for more than ten wall seconds) and its spot from the stored
        # spot.
        assert first_standby[4] >= last_active[4] - 3600
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
    # Nothing restarts an engine run alone: each says when it started, and no restarts.
    lives = {r[1]: r[5] for r in received}
    assert len(lives) == 2
    assert all(life.restarts == 0 and life.last_exit is None and life.started_at
               for life in lives.values()), lives
    assert sequences == sorted(sequences), "sequences went backwards"
