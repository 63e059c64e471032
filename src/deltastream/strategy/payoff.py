"""The P&L of a position at its front expiry: exact for piecewise-linear payoffs, numeric for
positions with legs still alive then (calendars, diagonals), and the price grid it is shown on.

Units: prices and strikes in the product's currency per unit; quantities signed units of the
underlying (lots x lot size; long > 0); P&L in money for the whole position (quantity x
price), net of the premium paid or received.

Piecewise-linear P&L (every option leg expires at the valuation expiry): written as
``P&L(x) = intercept + slope x + sum_k weight_k (x - kink_k)^+`` (a put is
``(K - x)^+ = (x - K)^+ - x + K``). On each segment between 0, the kinks and infinity it is
linear, so its roots (breakevens) are solved per segment in closed form, and its extremes are
among its values at 0 and at the kinks, or unbounded when the slope beyond the last kink is
non-zero (P&L is finite at a price of 0).

The grid for charts: ``points`` prices spanning +-``GRID_SD`` standard deviations (of the
widest volatility given) around the forward, where the density is ~0, and at least every
strike +-10 %, with every strike and every extra point (breakevens, the spot) included
exactly (the grid is then ``points`` plus those).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

# The chart grid spans +-GRID_SD standard deviations of log price (module docstring).
GRID_SD = 5.0
# Numeric (calendar) P&L: sampled at this many points per side of the forward to bracket
# its roots and extremes, and its roots refined to this relative tolerance.
SCAN_POINTS = 2001
ROOT_RTOL = 1e-13


@dataclass(frozen=True)
class Payoff:
    """``intercept + slope x + sum weights (x - kinks)^+``; ``kinks`` ascending, unique."""

    intercept: float
    slope: float
    kinks: np.ndarray
    weights: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = self.intercept + self.slope * x
        for k, w in zip(self.kinks.tolist(), self.weights.tolist(), strict=True):
            out = out + w * np.maximum(x - k, 0.0)
        return out

    def segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(lo, hi, a, b)``: on ``[lo, hi]`` the P&L is ``a + b x`` (hi of the last is inf)."""
        lo = np.concatenate(([0.0], self.kinks))
        hi = np.concatenate((self.kinks, [np.inf]))
        b = self.slope + np.concatenate(([0.0], np.cumsum(self.weights)))
        a = self.intercept - np.concatenate(([0.0], np.cumsum(self.weights * self.kinks)))
        return lo, hi, a, b

    @property
    def final_slope(self) -> float:
        return float(self.slope + self.weights.sum())


def payoff(kinds: list[str], strikes: list[float], quantities: list[float], cost: float
           ) -> Payoff:
    """The expiry P&L of options and underlying (``kinds`` "call" | "put" | "underlying";
    the underlying's strike ignored) less ``cost`` (sum of quantity x price paid)."""
    intercept, slope = -cost, 0.0
    by_strike: dict[float, float] = {}
    for kind, strike, q in zip(kinds, strikes, quantities, strict=True):
        if kind == "underlying":
            slope += q
            continue
        by_strike[strike] = by_strike.get(strike, 0.0) + q
        if kind == "put":
            slope -= q
            intercept += q * strike
    kinks = np.array(sorted(k for k, w in by_strike.items() if w != 0), dtype=float)
    weights = np.array([by_strike[k] for k in kinks.tolist()], dtype=float)
    return Payoff(intercept, slope, kinks, weights)


def breakevens(p: Payoff, level: float = 0.0) -> np.ndarray:
    """Every price > 0 where the P&L crosses or touches ``level``, ascending. A segment flat
    at exactly ``level`` has no single root and gives none."""
    lo, hi, a, b = p.segments()
    roots: list[float] = []
    for lo_i, hi_i, a_i, b_i in zip(lo.tolist(), hi.tolist(), a.tolist(), b.tolist(),
                                    strict=True):
        if b_i == 0:
            continue
        root = (level - a_i) / b_i
        if lo_i < root <= hi_i or (root == lo_i and lo_i > 0):
            roots.append(root)
    out = np.unique(np.array(roots, dtype=float))
    return out[out > 0]


@dataclass(frozen=True)
class Extremes:
    """Max profit and max loss (the smallest P&L, negative for a loss); None where
    unbounded."""

    max_profit: float | None
    max_profit_unbounded: bool
    max_loss: float | None
    max_loss_unbounded: bool


def extremes(p: Payoff) -> Extremes:
    """Exact extremes of a piecewise-linear P&L (module docstring)."""
    values = p(np.concatenate(([0.0], p.kinks)))
    up = p.final_slope
    high = None if up > 0 else float(values.max())
    low = None if up < 0 else float(values.min())
    return Extremes(high, up > 0, low, up < 0)


def numeric_breakevens(f: Callable[[np.ndarray], np.ndarray], grid: np.ndarray,
                       level: float = 0.0) -> np.ndarray:
    """Roots of a continuous ``f`` bracketed by sign changes on ``grid`` (ascending), each
    refined by Brent's method to ``ROOT_RTOL``; grid points where ``f`` is exactly
    ``level`` are roots too."""
    values = f(grid) - level
    roots = grid[values == 0].tolist()
    change = np.flatnonzero(values[:-1] * values[1:] < 0)
    for i in change.tolist():
        roots.append(brentq(lambda x: float(f(np.array([x]))[0]) - level,
                            float(grid[i]), float(grid[i + 1]),
                            xtol=1e-12, rtol=ROOT_RTOL))
    return np.unique(np.array(roots, dtype=float))


def numeric_extremes(f: Callable[[np.ndarray], np.ndarray], grid: np.ndarray,
                     final_slope: float) -> Extremes:
    """Extremes of a continuous ``f``: the best grid point refined by a bounded scalar
    search between its neighbours; unbounded above/below when ``final_slope`` (the slope
    as the price grows without bound) is positive/negative. A price of 0 is a grid point."""
    values = f(grid)

    def refine(sign: float) -> float:
        i = int(np.argmax(sign * values))
        best = float(values[i])
        lo, hi = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, grid.size - 1)])
        if hi > lo:
            found = minimize_scalar(lambda x: -sign * float(f(np.array([x]))[0]),
                                    bounds=(lo, hi), method="bounded",
                                    options={"xatol": 1e-9 * max(hi, 1.0)})
            best = max(best, -float(found.fun)) if sign > 0 else min(best, float(found.fun))
        return best

    tolerance = 1e-12
    return Extremes(None if final_slope > tolerance else refine(1.0),
                    final_slope > tolerance,
                    None if final_slope < -tolerance else refine(-1.0),
                    final_slope < -tolerance)


def price_grid(forward: float, vol_sqrt_t: float, strikes: np.ndarray, points: int,
               extra: np.ndarray) -> np.ndarray:
    """The chart's prices (module docstring): ``points`` uniform prices plus every strike
    and every point of ``extra`` (breakevens), ascending, unique, all > 0."""
    spread = GRID_SD * max(vol_sqrt_t, 1e-4)
    lo, hi = forward * math.exp(-spread), forward * math.exp(spread)
    if strikes.size:
        lo = min(lo, float(strikes.min()) * 0.9)
        hi = max(hi, float(strikes.max()) * 1.1)
    if extra.size:
        lo = min(lo, float(extra.min()) * 0.95)
        hi = max(hi, float(extra.max()) * 1.05)
    uniform = np.linspace(max(lo, 0.0), hi, points)
    grid = np.unique(np.concatenate((uniform, strikes, extra)))
    return grid[grid > 0]
