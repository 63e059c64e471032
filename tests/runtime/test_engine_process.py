"""The engine in a process of its own: it feeds any number of readers over the local bus,
and the server restarts it (continuing the sequence) when it dies."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import numpy as np
import pytest

from deltastream.bus import bus_feed
from deltastream.bus.local import LocalPublisher
from deltastream.runtime.engine_process import EngineHostProcess
from deltastream.settings import Settings
from tests.support.products import PRODUCTS
from tests.support.waiting import wait_until


def test_engine_process_feeds_two_readers_the_same_ticks_in_order(tmp_path):
    settings = Settings(hours="always", tick_interval=0.2, strikes_each_side=5, data_dir=tmp_path)
    host = EngineHostProcess(settings)
    host.start()
    feeds = [bus_feed(settings, PRODUCTS) for _ in range(2)]
    seen: list[list[tuple[str, int]]] = [[], []]
    for feed, log in zip(feeds, seen, strict=True):
        feed.subscribe(lambda snap, log=log: log.append((snap.product, snap.sequence)))
        feed.start()
    try:
        wait_until(lambda: all(f.status().ticks >= 3 for f in feeds), what="ticks")
        late = bus_feed(settings, PRODUCTS)
        late.start()
        # A reader that connects later has the latest snapshot and the tick history at once.
        wait_until(lambda: late.latest("NIFTY") is not None, 30, "the late reader")
        assert late.ticks.latest("NIFTY").ids.size >= 3
        late.stop()
        snap = feeds[0].latest("NIFTY")
        assert snap is not None and snap.chains
        with pytest.raises(ValueError):
            snap.chains[0].calls.mid[0] = 0.0
        ticks = feeds[0].ticks.latest("NIFTY")
        assert np.all(np.diff(ticks.ids) == 1)
        assert feeds[0].status().running and feeds[0].connected
    finally:
        host.stop()
    wait_until(lambda: not any(f.connected for f in feeds), 30, "disconnect")
    for f in feeds:
        f.stop()
    # Both readers saw the ticks both were connected for, in the same order.
    common = [e for e in seen[0] if e in set(seen[1])]
    assert common == [e for e in seen[1] if e in set(seen[0])]
    assert len(common) >= 3 * len(PRODUCTS)
    sequences = [s for p, s in seen[0] if p == "NIFTY"]
    assert sequences == sorted(set(sequences))
    assert not host.is_alive()


def test_the_server_restarts_an_engine_process_that_died(tmp_path):
    settings = Settings(hours="always", tick_interval=0.2, strikes_each_side=5, data_dir=tmp_path)
    host = EngineHostProcess(settings)
    started = time.time()
    host.start()
    feed = bus_feed(settings, PRODUCTS)
    feed.start()
    try:
        wait_until(lambda: feed.status().ticks >= 2, 120, "ticks")
        first = feed.status().life
        assert first.restarts == 0 and first.last_exit is None
        assert started <= first.started_at <= time.time()
        killed = time.time()
        os.kill(host._process.pid, signal.SIGKILL)
        wait_until(lambda: not feed.connected, 30, "the reader to notice")
        before = feed.status().ticks
        last = feed.last_sequence
        wait_until(lambda: feed.connected and feed.status().ticks > before, 120,
                   "ticks from the restarted engine")
        assert host.restarts == 1
        # The restarted engine continues the sequence: a version never names two snapshots.
        assert feed.last_sequence > last
        # Its readers learn that it was restarted, why and when.
        life = feed.status().life
        assert life.restarts == 1 and life.last_exit == host.last_exit
        assert life.last_exit.cause == "killed by signal SIGKILL"
        assert killed <= life.last_exit.at <= life.started_at <= time.time()
    finally:
        host.stop()
        feed.stop()
    assert not host.is_alive()


def test_an_exit_status_is_collected_before_a_wait_for_any_child(tmp_path):
    """As under gunicorn, whose server process waits for any child that exits: collected
    first, the engine's status still says how it died."""
    host = EngineHostProcess(Settings(hours="always", strikes_each_side=5, data_dir=tmp_path,
                                      engine_restart_delay=0.05))
    host.start()
    try:
        process = host._process
        os.kill(process.pid, signal.SIGKILL)
        # Until it can be waited for (as when the server process hears SIGCHLD).
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        host.collect_exit()
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        wait_until(lambda: host.last_exit is not None, 30, "the exit to be noticed")
        assert host.last_exit.cause == "killed by signal SIGKILL"
        wait_until(lambda: host.restarts == 1 and host.is_alive(), 30, "the restart")
    finally:
        host.stop()


def test_an_engine_that_keeps_dying_is_given_up_on(tmp_path):
    gave_up = threading.Event()
    host = EngineHostProcess(Settings(hours="always", strikes_each_side=5, data_dir=tmp_path,
                                      engine_max_restarts=2, engine_restart_window=120,
                                      engine_restart_delay=0.05), on_give_up=gave_up.set)
    host.start()
    try:
        for restarts in range(3):
            wait_until(lambda restarts=restarts: host.restarts == restarts and host.is_alive(),
                       60, f"engine process {restarts + 1}")
            os.kill(host._process.pid, signal.SIGKILL)
        # The third death within the window is one too many: no fourth engine.
        assert gave_up.wait(30)
        assert host.gave_up == ("the engine process ended 3 times within 120 s (last: killed "
                                "by signal SIGKILL); stopping the server")
        time.sleep(1.0)
        assert host.restarts == 2 and not host.is_alive()
    finally:
        host.stop()


def test_an_engine_finding_its_data_directory_taken_stops_the_server_at_once(tmp_path):
    # Another server's engine got there first (both past the command's check at once).
    taken = LocalPublisher(tmp_path, lambda: [])
    gave_up = threading.Event()
    host = EngineHostProcess(Settings(hours="always", strikes_each_side=5, data_dir=tmp_path),
                             on_give_up=gave_up.set)
    host.start()
    try:
        assert gave_up.wait(60)
        assert host.gave_up == (f"another DeltaStream engine is running on data directory "
                                f"{tmp_path} (pid {os.getpid()}); stopping the server")
        assert host.restarts == 0 and not host.is_alive()
    finally:
        host.stop()
        taken.close()
