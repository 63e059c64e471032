"""Two-sided quotes on the exchange's tick grid around a model mid price."""

from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=256)
def tick_decimals(tick: float) -> int:
    """Decimal places needed to print prices on a tick grid (0.05 -> 2, 2.5 -> 1)."""
    for d in range(9):
        if abs(round(tick, d) - tick) < 1e-12:
            return d
    return 9


def spread_ticks(mid: np.ndarray, tick: np.ndarray | float,
                 relative_spread: np.ndarray | float) -> np.ndarray:
    """Quoted width in ticks: a fraction of the premium, at least one tick."""
    width = np.asarray(relative_spread) * mid / tick
    return np.maximum(np.ceil(width), 1.0)


def grid_scale(tick: np.ndarray | float) -> np.ndarray:
    """10 ** (decimals of each tick): what :func:`round_to_grid` scales prices by."""
    t = np.asarray(tick, dtype=np.float64)
    if t.ndim == 0:
        return np.asarray(10.0 ** tick_decimals(float(t)))
    ticks, which = np.unique(t, return_inverse=True)
    return np.array([10.0 ** tick_decimals(float(u)) for u in ticks])[which].reshape(t.shape)


def round_to_grid(price: np.ndarray, tick: np.ndarray | float,
                  scale: np.ndarray | float | None = None) -> np.ndarray:
    """Round prices to the decimals of their tick (``tick`` a scalar or one per price), so a
    price on the grid prints exactly (0.1 + 0.2 -> 0.3). ``scale``, when given, is
    ``grid_scale(tick)``."""
    s = grid_scale(tick) if scale is None else scale
    # What np.round does for one number of decimals: scale, round half to even, unscale.
    return np.rint(price * s) / s


def two_sided(mid: np.ndarray, tick: np.ndarray | float,
              relative_spread: np.ndarray | float,
              scale: np.ndarray | float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask on the tick grid with ``bid <= mid <= ask`` and ``bid >= 0`` (``tick`` a
    scalar or one per quote; ``scale``, when given, is ``grid_scale(tick)``).

    Each side sits at least half a tick away from the mid before rounding outwards, so float
    rounding can never put the bid above or the ask below the mid.
    """
    s = grid_scale(tick) if scale is None else scale
    half = 0.5 * spread_ticks(mid, tick, relative_spread) * tick
    bid_ticks = np.maximum(np.floor((mid - half) / tick), 0.0)
    ask_ticks = np.maximum(np.ceil((mid + half) / tick), bid_ticks + 1.0)
    return round_to_grid(bid_ticks * tick, tick, s), round_to_grid(ask_ticks * tick, tick, s)


def round_to_tick(price: float, tick: float) -> float:
    """Nearest price on the tick grid."""
    return round(round(price / tick) * tick, tick_decimals(tick)) if math.isfinite(price) else price
