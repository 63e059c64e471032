"""Two-sided quotes on the exchange's tick grid around a model mid price."""

from __future__ import annotations

import functools
import math

import numba
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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _last_kernel(previous: np.ndarray, traded: np.ndarray, bid: np.ndarray, ask: np.ndarray,
                 tick: float, scale: float, u: np.ndarray,
                 out: np.ndarray) -> None:  # pragma: no cover - compiled
    for i in range(previous.size):
        if traded[i] > 0.0:
            width = np.rint((ask[i] - bid[i]) / tick)
            price = bid[i] + min(np.floor(u[i] * (width + 1.0)), width) * tick
        else:
            price = min(max(previous[i], bid[i]), ask[i])
        out[i] = np.rint(price * scale) / scale   # np.round(price, decimals)


def last_traded(previous: np.ndarray, traded: np.ndarray, bid: np.ndarray, ask: np.ndarray,
                tick: float, rng: np.random.Generator) -> np.ndarray:
    """Last-traded prices: a fresh print inside the spread where a trade happened this tick
    (``traded`` > 0), uniform over the ticks from the bid to the ask.

    Where nothing traded the previous print stands, brought inside the current spread (the
    market has moved through it, so a trade would print at least at the near side).
    """
    def flat(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float64).reshape(-1)

    b = flat(bid)
    out = np.empty_like(b)
    _last_kernel(flat(previous), flat(traded), b, flat(ask), float(tick),
                 10.0 ** tick_decimals(tick), rng.random(b.size), out)
    return out


def round_to_tick(price: float, tick: float) -> float:
    """Nearest price on the tick grid."""
    return round(round(price / tick) * tick, tick_decimals(tick)) if math.isfinite(price) else price
