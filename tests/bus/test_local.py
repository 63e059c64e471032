"""The engine process serves its ticks on a local socket to any number of web processes."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from deltastream.bus import bus_feed
from deltastream.bus.local import EngineLockedError, LocalPublisher, socket_address
from deltastream.runtime.engine_process import EngineHostProcess
from deltastream.runtime.publishing import run_publishing_engine
from deltastream.settings import Settings

PRODUCTS = ["NIFTY", "BANKNIFTY", "FINNIFTY", "SENSEX", "AAPL", "TSLA", "SPY", "QQQ"]


def wait_until(condition, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_engine_process_feeds_two_readers_the_same_ticks_in_order(tmp_path):
    settings = Settings(tick_interval=0.2, strikes_each_side=5, data_dir=tmp_path)
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


def test_one_engine_per_data_directory(tmp_path):
    first = LocalPublisher(tmp_path, lambda: [])
    try:
        with pytest.raises(EngineLockedError, match=str(tmp_path)):
            LocalPublisher(tmp_path, lambda: [])
    finally:
        first.close()
    LocalPublisher(tmp_path, lambda: []).close()


def test_a_reader_that_stops_reading_is_dropped_and_others_keep_up(tmp_path):
    settings = Settings(tick_interval=0.05, strikes_each_side=5, data_dir=tmp_path,
                        clock="fixed", clock_start="2026-11-25T05:00:00Z")
    stopped = threading.Event()
    engine = threading.Thread(target=run_publishing_engine, args=(settings, stopped))
    engine.start()
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    feed = bus_feed(settings, PRODUCTS)
    try:
        wait_until(lambda: _connect(stuck, socket_address(tmp_path)), 120, "the socket")
        feed.start()
        wait_until(lambda: feed.status().ticks >= 40, 120, "ticks with a stuck reader")
        # The stuck reader was disconnected: its socket reaches end of stream once drained.
        stuck.settimeout(30)
        received = 0
        while chunk := stuck.recv(1 << 20):
            received += len(chunk)
        assert received > 0
        assert feed.connected and feed.reconnects == 0
    finally:
        stopped.set()
        engine.join(30)
        feed.stop()
        stuck.close()


def _connect(sock: socket.socket, address: str) -> bool:
    try:
        sock.connect(address)
    except OSError:
        return False
    return True


def test_the_server_restarts_an_engine_process_that_died(tmp_path):
    import os
    import signal

    settings = Settings(tick_interval=0.2, strikes_each_side=5, data_dir=tmp_path)
    host = EngineHostProcess(settings)
    host.start()
    feed = bus_feed(settings, PRODUCTS)
    feed.start()
    try:
        wait_until(lambda: feed.status().ticks >= 2, 120, "ticks")
        os.kill(host._process.pid, signal.SIGKILL)
        wait_until(lambda: not feed.connected, 30, "the reader to notice")
        before = feed.status().ticks
        last = feed.last_sequence
        wait_until(lambda: feed.connected and feed.status().ticks > before, 120,
                   "ticks from the restarted engine")
        assert host.restarts == 1
        # The restarted engine continues the sequence: a version never names two snapshots.
        assert feed.last_sequence > last
    finally:
        host.stop()
        feed.stop()
    assert not host.is_alive()
