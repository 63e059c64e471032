"""OHLC candles aligned to window boundaries."""

from __future__ import annotations

import numpy as np

from deltastream.analytics.candles import ohlc


def test_candles_align_to_window_boundaries_and_skip_empty_windows():
    t = np.array([0.0, 10.0, 59.0, 60.0, 61.0, 185.0])
    p = np.array([100.0, 103.0, 99.0, 101.0, 102.0, 98.0])
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    candles = ohlc(t + 1_700_000_040.0, p, v, 60)
    assert [c.start for c in candles] == [1_700_000_040.0, 1_700_000_100.0, 1_700_000_220.0]
    first = candles[0]
    assert (first.open, first.high, first.low, first.close) == (100.0, 103.0, 99.0, 99.0)
    assert first.volume == 6.0 and first.ticks == 3
    assert (candles[1].open, candles[1].close, candles[1].volume) == (101.0, 102.0, 9.0)
    assert candles[2].ticks == 1


def test_no_ticks_no_candles():
    assert ohlc(np.array([]), np.array([]), np.array([]), 60) == []
