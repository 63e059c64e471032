"""The engine process serves its ticks on a local socket to any number of web processes."""

from __future__ import annotations

import socket
import threading

import pytest

from deltastream.bus import bus_feed
from deltastream.bus.local import (
    EngineLockedError,
    LocalPublisher,
    engine_lock_holder,
    socket_address,
)
from deltastream.runtime.publishing import run_publishing_engine
from deltastream.settings import Settings
from tests.support.products import PRODUCTS
from tests.support.waiting import wait_until


def test_one_engine_per_data_directory(tmp_path):
    first = LocalPublisher(tmp_path, lambda: [])
    try:
        with pytest.raises(EngineLockedError, match=str(tmp_path)):
            LocalPublisher(tmp_path, lambda: [])
    finally:
        first.close()
    LocalPublisher(tmp_path, lambda: []).close()


def test_the_engine_holding_a_data_directory_is_known_by_its_own_words(tmp_path):
    data = tmp_path / "data"
    assert engine_lock_holder(data) is None
    assert not data.exists()                      # asking creates nothing
    first = LocalPublisher(data, lambda: [], owner="deltastream serve on 127.0.0.1:8001, "
                                                   "pid 1200")
    try:
        assert engine_lock_holder(data) == "deltastream serve on 127.0.0.1:8001, pid 1200"
        with pytest.raises(EngineLockedError) as refused:
            LocalPublisher(data, lambda: [], owner="second")
        assert str(refused.value) == (
            f"another DeltaStream engine is running on data directory {data} "
            "(deltastream serve on 127.0.0.1:8001, pid 1200)")
        # Asking does not take the lock from the engine, nor leave one behind.
        assert engine_lock_holder(data) == "deltastream serve on 127.0.0.1:8001, pid 1200"
    finally:
        first.close()
    # The file outlives its engine; without the lock its words mean nothing.
    assert (data / "engine.lock").exists()
    assert engine_lock_holder(data) is None
    # A new engine replaces the words of the last one.
    LocalPublisher(data, lambda: [], owner="deltastream engine, pid 7").close()
    assert (data / "engine.lock").read_text() == "deltastream engine, pid 7\n"


def test_a_reader_that_stops_reading_is_dropped_and_others_keep_up(tmp_path):
    settings = Settings(hours="always", tick_interval=0.05, strikes_each_side=5, data_dir=tmp_path,
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


def test_a_sequence_file_that_cannot_be_written_is_said_once_and_ticks_still_go_out(
        tmp_path, caplog):
    publisher = LocalPublisher(tmp_path, lambda: [])
    try:
        (tmp_path / "engine.tmp").mkdir()       # where each sequence is written first
        with caplog.at_level("INFO", logger="deltastream.bus.local"):
            assert all(publisher.publish(n, b"tick") for n in (1, 2, 3))
            warnings = [r for r in caplog.records if r.levelname == "WARNING"]
            assert len(warnings) == 1 and "cannot record the engine's sequence" in (
                warnings[0].getMessage())
            (tmp_path / "engine.tmp").rmdir()
            assert publisher.publish(4, b"tick") and publisher.last_sequence() == 4
            assert caplog.records[-1].getMessage().startswith("recording the engine's sequence")
    finally:
        publisher.close()
