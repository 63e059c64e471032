"""OHLC candles from ticks, aligned to window boundaries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candle:
    start: float     # window start, seconds since the epoch (UTC)
    open: float
    high: float
    low: float
    close: float
    volume: float    # traded volume summed over the window's ticks
    ticks: int       # number of ticks in the window


def ohlc(timestamps: np.ndarray, prices: np.ndarray, volumes: np.ndarray,
         window_seconds: int) -> list[Candle]:
    """Candles of ``window_seconds`` starting on multiples of the window since the epoch.

    ``timestamps`` (seconds since the epoch) must be ascending; windows without ticks are left
    out rather than invented. Oldest first.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    p = np.asarray(prices, dtype=np.float64)
    v = np.asarray(volumes, dtype=np.float64)
    if t.size == 0:
        return []
    bucket = np.floor(t / window_seconds).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], t.size]
    highs = np.maximum.reduceat(p, starts)
    lows = np.minimum.reduceat(p, starts)
    vols = np.add.reduceat(v, starts)
    return [
        Candle(start=float(bucket[s] * window_seconds), open=float(p[s]), high=float(h),
               low=float(lo), close=float(p[e - 1]), volume=float(vol), ticks=int(e - s))
        for s, e, h, lo, vol in zip(starts, ends, highs, lows, vols, strict=True)
    ]
