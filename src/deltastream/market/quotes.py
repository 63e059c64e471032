"""Two-sided quotes on the exchange's tick grid around a model mid price, and the quoting
model that sets their width.

The width of a quote is a whole number of ticks, the same for the call and the put of one
strike (so put-call parity holds within the quoted spreads), set by a market maker's costs:

- ``floor_ticks`` (the catalogue's ``spread_ticks``, 1 by default, as on NSE's and the US
  listed index options) on the most liquid contracts: at the money, near expiry, calm;
- times ``sqrt(1 / liquidity)``, where ``liquidity`` is the trading interest of the contract
  relative to a plain strike at the money with a week to go
  (:func:`deltastream.market.flow.liquidity`, dimensionless, 1 there, more on round strikes
  and near expiry): away from the money, further from expiry and wherever little trades, a
  position waits longer for the trade that closes it (the waiting time goes as
  ``1 / liquidity``, the price risk over it as its square root);
- times ``variance_ratio ** 0.25`` (the square root of the volatility ratio), the expiry's
  at-the-money implied variance over its long-run level: a riskier position to hold; the
  two factors together are never taken below 1, so nothing is quoted below the floor;
- plus ``relative_spread`` of the strike's intrinsic value (discounted, in premium units)
  weighted by ``z^2 / (1 + z^2)``, ``z`` the log-moneyness in at-the-money standard deviations:
  nothing at the money, most of it deep in the money, where an option trades as a costly
  substitute for the underlying.

Invariants of :func:`two_sided`: ``bid <= mid <= ask``, ``bid >= 0``, ``ask > bid``, both on the
tick grid, ``ask - bid`` the requested width (more only where the bid is floored at zero or a
mid exactly on the grid needs two ticks to straddle it).
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Mids within this many ticks of a grid price count as on it: float error stays far below.
GRID_EPSILON = 1e-7


@functools.lru_cache(maxsize=256)
def tick_decimals(tick: float) -> int:
    """Decimal places needed to print prices on a tick grid (0.05 -> 2, 2.5 -> 1)."""
    for d in range(9):
        if abs(round(tick, d) - tick) < 1e-12:
            return d
    return 9


def spread_ticks(tick: np.ndarray | float, floor_ticks: np.ndarray | float,
                 liquidity: np.ndarray, variance_ratio: np.ndarray | float,
                 log_moneyness: np.ndarray, atm_std: np.ndarray | float,
                 intrinsic: np.ndarray, relative_spread: np.ndarray | float) -> np.ndarray:
    """Quoted width rounded to whole ticks (at least 1) of each strike's call and put, by the model
    in the module docstring.

    ``tick`` and ``intrinsic`` (discounted ``|F - K|``) in premium units; ``floor_ticks`` in
    ticks; ``liquidity``, ``variance_ratio``, ``log_moneyness`` (``ln K/F``) and ``atm_std`` (the
    at-the-money standard deviation of ``ln F`` to expiry) dimensionless.
    """
    illiquidity = np.sqrt(1.0 / np.maximum(liquidity, 1e-6))
    z2 = (np.asarray(log_moneyness) / np.maximum(atm_std, 1e-6)) ** 2
    # More liquid than the reference, or calmer than usual, never quotes below the floor.
    width = (np.asarray(floor_ticks) * np.maximum(illiquidity * np.sqrt(np.sqrt(variance_ratio)),
                                                  1.0)
             + np.asarray(relative_spread) * intrinsic * (z2 / (1.0 + z2)) / tick)
    return np.maximum(np.rint(width), 1.0)


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


def two_sided(mid: np.ndarray, tick: np.ndarray | float, width: np.ndarray | float,
              scale: np.ndarray | float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask on the tick grid, ``width`` ticks apart (a whole number, at least 1),
    centred on the mid as nearly as the grid allows, with ``bid <= mid <= ask`` and
    ``bid >= 0`` (``tick`` a scalar or one per quote; ``scale``, when given, is
    ``grid_scale(tick)``).

    The bid is at most the grid price below ``mid - GRID_EPSILON`` ticks and the ask at least
    the one above ``mid + GRID_EPSILON``, so float rounding never puts the bid above or the ask
    below the mid; a mid on the grid is therefore straddled by two ticks.
    """
    s = grid_scale(tick) if scale is None else scale
    m = mid / tick
    below = np.floor(m - GRID_EPSILON)
    above = np.ceil(m + GRID_EPSILON)
    w = np.maximum(np.maximum(np.ceil(np.asarray(width) - GRID_EPSILON), 1.0), above - below)
    bid_ticks = np.clip(np.rint(m - 0.5 * w), above - w, below)
    ask_ticks = bid_ticks + w
    bid_ticks = np.maximum(bid_ticks, 0.0)
    return round_to_grid(bid_ticks * tick, tick, s), round_to_grid(ask_ticks * tick, tick, s)


def round_to_tick(price: float, tick: float) -> float:
    """Nearest price on the tick grid."""
    return round(round(price / tick) * tick, tick_decimals(tick)) if math.isfinite(price) else price
