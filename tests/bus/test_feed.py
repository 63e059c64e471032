"""A web process's feed reports the life (start, restarts, last exit) of the engine whose
ticks it serves, as the latest applied tick tells it; asking its status never yields."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deltastream.bus.codec import encode_tick
from deltastream.bus.feed import BusFeed
from deltastream.bus.local import FRAME_TICK, LocalBusClient, LocalBusServer, pack_frame
from deltastream.core.feed import EngineExit, EngineLife
from deltastream.engine.setup import engine_from_settings
from deltastream.settings import Settings
from tests.support.products import PRODUCTS
from tests.support.waiting import wait_until

KILLED = EngineExit("killed by signal SIGKILL", 1_795_000_000.0)


@pytest.fixture(scope="module")
def engine():
    return engine_from_settings(Settings(hours="always", clock="fixed",
                                         clock_start="2026-11-25T05:00:00Z", strikes_each_side=5))


def test_the_feed_reports_the_life_of_the_engine_it_follows(engine, tmp_path):
    server = LocalBusServer(str(tmp_path / "engine.sock"), lambda: [])
    feed = BusFeed(PRODUCTS, 1000, 1.0, LocalBusClient(server.address), "local", "test")
    feed.start()

    def send(engine_id: str, life: EngineLife) -> None:
        published = engine.tick()
        server.publish(pack_frame(FRAME_TICK, encode_tick(engine_id, engine.sequence,
                                                          published, 0.1, None, life)))

    try:
        wait_until(lambda: feed.connected, 30, "the connection")
        assert feed.status().life == EngineLife()
        first = EngineLife(started_at=1_795_000_000.0)
        send("a", first)
        wait_until(lambda: feed.status().ticks == 1, 30, "the first tick")
        assert feed.status().life == first
        # The engine restarted by its server: the next engine's ticks carry the count and
        # how the previous one ended.
        restarted = EngineLife(started_at=1_795_000_002.0, restarts=1, last_exit=KILLED)
        send("b", restarted)
        wait_until(lambda: feed.status().ticks == 2, 30, "the restarted engine's tick")
        assert feed.status().life == restarted
        assert feed.status().life.last_exit.cause == "killed by signal SIGKILL"
    finally:
        feed.stop()
        server.close()


# Under gevent (as in a web worker): the feed's reader is a greenlet, and asking the feed's
# status must not yield to the other greenlets (each yield sent a health check to the back of
# the queue, behind every other connection's request).
STATUS_UNDER_GEVENT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()

    import sys

    import greenlet

    from deltastream.bus.feed import BusFeed
    from deltastream.bus.local import LocalBusClient, LocalBusServer
    from tests.support.waiting import wait_until

    server = LocalBusServer(sys.argv[1], lambda: [])
    feed = BusFeed(["NIFTY"], 1000, 1.0, LocalBusClient(server.address), "local", "test")
    feed.start()
    wait_until(lambda: feed.connected, 30, "the connection")
    switches = []
    greenlet.settrace(lambda event, args: switches.append(event))
    statuses = [feed.status() for _ in range(100)]
    greenlet.settrace(None)
    print(len(switches), all(s.running for s in statuses))
    feed.stop()
    server.close()
""")


def test_the_feeds_status_never_yields_under_gevent(tmp_path):
    done = subprocess.run([sys.executable, "-c", STATUS_UNDER_GEVENT,
                           str(tmp_path / "engine.sock")], capture_output=True, text=True,
                          timeout=60, check=False, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True"]
