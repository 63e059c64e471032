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


def round_to_grid(price: np.ndarray, tick: np.ndarray | float) -> np.ndarray:
    """Round prices to the decimals of their tick (``tick`` a scalar or one per price), so a
    price on the grid prints exactly (0.1 + 0.2 -> 0.3)."""
    t = np.asarray(tick, dtype=np.float64)
    if t.ndim == 0:
        return np.round(price, tick_decimals(float(t)))
    ticks, which = np.unique(t, return_inverse=True)
    # What np.round does for one number of decimals: scale, round half to even, unscale.
    scale = np.array([10.0 ** tick_decimals(float(u)) for u in ticks])[which]
    return np.rint(price * scale) / scale


def two_sided(mid: np.ndarray, tick: np.ndarray | float,
              relative_spread: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask on the tick grid with ``bid <= mid <= ask`` and ``bid >= 0`` (``tick`` a
    scalar or one per quote).

    Each side sits at least half a tick away from the mid before rounding outwards, so float
    rounding can never put the bid above or the ask below the mid.
    """
    half = 0.5 * spread_ticks(mid, tick, relative_spread) * tick
    bid_ticks = np.maximum(np.floor((mid - half) / tick), 0.0)
    ask_ticks = np.maximum(np.ceil((mid + half) / tick), bid_ticks + 1.0)
    return round_to_grid(bid_ticks * tick, tick), round_to_grid(ask_ticks * tick, tick)


def round_to_tick(price: float, tick: float) -> float:
    """Nearest price on the tick grid."""
    return round(round(price / tick) * tick, tick_decimals(tick)) if math.isfinite(price) else price
