"""Where today's implied volatility stands in its own history: IV rank and IV percentile.

Both take a lookback series of IVs (decimals, e.g. one ATM IV per day) and the current IV,
and answer in percent (0-100). Non-finite observations (unsolved IVs) are ignored. With too
few observations, or a current IV that is not a number, the value is None and ``reason``
says why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

MIN_OBSERVATIONS = 20


@dataclass(frozen=True)
class IVStat:
    """A statistic in percent (0-100), or None with the reason."""

    value: float | None
    observations: int       # finite observations in the lookback
    reason: str | None = None


def _clean(series: Iterable[float]) -> np.ndarray:
    a = np.asarray(list(series) if not isinstance(series, np.ndarray) else series,
                   dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def _unavailable(obs: np.ndarray, current: float, min_observations: int) -> IVStat | None:
    if not math.isfinite(current):
        return IVStat(None, obs.size, "current IV is not available")
    if obs.size < min_observations:
        return IVStat(None, obs.size, f"only {obs.size} observations in the lookback "
                                      f"(at least {min_observations} needed)")
    return None


def iv_rank(series: Iterable[float], current: float,
            min_observations: int = MIN_OBSERVATIONS) -> IVStat:
    """(current - min) / (max - min) of the lookback, in percent; clipped to 0-100 when the
    current IV lies outside the lookback's range."""
    obs = _clean(series)
    current = float(current)
    missing = _unavailable(obs, current, min_observations)
    if missing is not None:
        return missing
    low, high = float(obs.min()), float(obs.max())
    if high <= low:
        return IVStat(None, obs.size, "IV did not move over the lookback (max = min)")
    rank = 100.0 * (current - low) / (high - low)
    return IVStat(min(100.0, max(0.0, rank)), obs.size)


def iv_percentile(series: Iterable[float], current: float,
                  min_observations: int = MIN_OBSERVATIONS) -> IVStat:
    """Percent of the lookback's observations strictly below the current IV."""
    obs = _clean(series)
    current = float(current)
    missing = _unavailable(obs, current, min_observations)
    if missing is not None:
        return missing
    return IVStat(100.0 * float(np.count_nonzero(obs < current)) / obs.size, obs.size)
