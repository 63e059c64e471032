"""The engine in its own process feeds the web side complete, read-only snapshots."""

from __future__ import annotations

import time

import numpy as np
import pytest

from deltastream.engine.process import EngineProcess
from deltastream.settings import Settings


def test_engine_process_publishes_read_only_snapshots_and_stops():
    settings = Settings(tick_interval=0.2, strikes_each_side=5)
    feed = EngineProcess(settings, ["NIFTY", "BANKNIFTY", "FINNIFTY", "SENSEX", "AAPL",
                                    "TSLA", "SPY", "QQQ"])
    received = []
    feed.subscribe(received.append)
    feed.start()
    try:
        deadline = time.monotonic() + 120
        while feed.status().ticks < 2:
            assert time.monotonic() < deadline, "no ticks from the engine process"
            time.sleep(0.1)
        assert feed.status().running
        snap = feed.latest("NIFTY")
        assert snap is not None and snap.chains
        chain = snap.chains[0]
        with pytest.raises(ValueError):
            chain.calls.mid[0] = 0.0
        ticks = feed.ticks.latest("NIFTY")
        assert np.all(np.diff(ticks.ids) == 1)
        assert {s.product for s in received} >= {"NIFTY", "SPY"}
    finally:
        feed.stop()
    assert not feed.status().running
