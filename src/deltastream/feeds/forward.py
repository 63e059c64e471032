"""The forward price of an expiry implied by put-call parity on its quoted options.

For European options on one underlying, ``C - P = DF (F - K)`` at every strike ``K``, with
``DF = exp(-rate * time)`` (continuous rate, time in years ACT/365). Each strike with both a
call and a put price therefore estimates the forward, ``F_K = K + (C - P) / DF``, and no
dividend assumption is needed: whatever the underlying pays is in ``F``.

The fit is robust, never one strike:

1. usable strikes: a finite positive strike, finite positive call and put prices and a
   positive finite weight;
2. a provisional forward: the median estimate of the few usable strikes where ``|C - P|`` is
   smallest (the strikes nearest the money, where both sides are most liquid);
3. the ``nearest`` usable strikes around that provisional forward (deep in-the-money quotes
   are wide and stale: they are left out);
4. their median estimate and its scaled median absolute deviation; estimates further than
   ``TRIM`` deviations from the median are outliers (a stale or erroneous quote) and are
   dropped; done twice, the second time around the mean of the first;
5. the forward: the weighted least-squares fit of parity over the strikes kept (with ``DF``
   known that is the weighted mean of their estimates).

``residual`` is the root mean square of ``(C - P - DF (F - K)) / F`` over the strikes kept: a
relative figure, 0 for prices exactly at parity, about ``tick / F`` for prices rounded to a
tick. Prices in currency units; the forward in the same units.

Nothing here raises on bad data: an expiry that cannot be fitted gets a NaN forward and
residual and a :class:`ForwardStatus` saying why (fewer than :data:`MIN_STRIKES` usable
strikes, or a non-positive or non-finite time or rate). What to do then is the caller's
choice (the importer falls back to the expiry's future, then to the spot carried at the
catalogue's dividend yield: see :mod:`deltastream.feeds.build`).

American options hold parity only approximately (the early-exercise premium); near the money
and at short maturities, where the fit looks, the difference is small.

Everything works on many expiries at once (:func:`fit_forwards`, flat arrays and offsets as
in the chain snapshots) with a fixed number of NumPy operations, whatever the number of
expiries; :func:`fit_forward` fits one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike

# At least this many strikes must survive the fit.
MIN_STRIKES = 2
# Strikes whose estimates make the provisional forward.
PROVISIONAL = 5
# Strikes around the provisional forward that the fit uses.
NEAREST = 12
# Estimates further than this many (scaled) median absolute deviations are outliers.
TRIM = 3.0
# The deviation's floor, relative to the forward: with exact prices the deviation is rounding
# noise, and an estimate within it is never an outlier.
SCALE_FLOOR = 1e-9
# Scaled MAD: a consistent estimator of the standard deviation of normal noise.
MAD_SCALE = 1.4826


class ForwardStatus(IntEnum):
    """Whether an expiry's forward could be fitted; ``.label`` is the reporting string."""

    OK = 0
    TOO_FEW_STRIKES = 1   # fewer than MIN_STRIKES strikes with both sides priced
    INVALID_INPUT = 2     # time <= 0, or time or rate not finite

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class ForwardFit:
    """One expiry's fit: the forward (NaN when not fitted), the RMS relative parity residual
    over the strikes used (NaN when not fitted), how many strikes it used, and why not."""

    forward: float
    residual: float
    strikes_used: int
    status: ForwardStatus = ForwardStatus.OK


@dataclass(frozen=True)
class ForwardFits:
    """Per expiry of :func:`fit_forwards`: forwards, residuals, strikes used (int64) and
    :class:`ForwardStatus` codes (int8)."""

    forward: np.ndarray
    residual: np.ndarray
    strikes_used: np.ndarray
    status: np.ndarray


def fit_forward(strikes: ArrayLike, call_prices: ArrayLike, put_prices: ArrayLike,
                time: float, rate: float, weights: ArrayLike | None = None,
                nearest: int = NEAREST) -> ForwardFit:
    """The forward of one expiry from its strikes' call and put prices (NaN: no price).

    ``weights`` (optional, per strike, relative) weigh the strikes in the final least-squares
    fit; a zero or NaN weight leaves a strike out. Strikes may come in any order.
    """
    k = np.asarray(strikes, dtype=np.float64).ravel()
    fits = fit_forwards(k, call_prices, put_prices, np.array([0, k.size]),
                        np.array([time], dtype=np.float64), np.array([rate], dtype=np.float64),
                        weights, nearest)
    return ForwardFit(float(fits.forward[0]), float(fits.residual[0]),
                      int(fits.strikes_used[0]), ForwardStatus(int(fits.status[0])))


def fit_forwards(strikes: ArrayLike, call_prices: ArrayLike, put_prices: ArrayLike,
                 offsets: ArrayLike, times: ArrayLike, rates: ArrayLike,
                 weights: ArrayLike | None = None, nearest: int = NEAREST) -> ForwardFits:
    """:func:`fit_forward` of many expiries at once: expiry ``j`` is entries
    ``offsets[j]:offsets[j + 1]`` of the flat per-strike arrays; ``times`` (years) and
    ``rates`` have one entry per expiry."""
    k = np.asarray(strikes, dtype=np.float64).ravel()
    c = np.asarray(call_prices, dtype=np.float64).ravel()
    p = np.asarray(put_prices, dtype=np.float64).ravel()
    bounds = np.asarray(offsets, dtype=np.int64).ravel()
    t = np.asarray(times, dtype=np.float64).ravel()
    r = np.asarray(rates, dtype=np.float64).ravel()
    w = (np.ones_like(k) if weights is None
         else np.asarray(weights, dtype=np.float64).ravel())
    m = bounds.size - 1
    seg = np.repeat(np.arange(m), np.diff(bounds))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        df_expiry = np.exp(-r * t)
        valid = np.isfinite(t) & (t > 0) & np.isfinite(r) & (df_expiry > 0)
        df = df_expiry[seg]
        usable = (valid[seg] & np.isfinite(k) & (k > 0) & np.isfinite(c) & (c > 0)
                  & np.isfinite(p) & (p > 0) & np.isfinite(w) & (w > 0))
        estimate = np.where(usable, k + (c - p) / df, np.nan)

    # The provisional forward: the median estimate of the strikes with the smallest |C - P|.
    closest = usable & (_rank(np.where(usable, np.abs(c - p), np.inf), bounds, seg)
                        < PROVISIONAL)
    provisional = _segment_median(estimate, seg, closest, m)
    with np.errstate(invalid="ignore"):
        distance = np.where(usable, np.abs(k - provisional[seg]), np.inf)
    chosen = usable & (_rank(distance, bounds, seg) < max(int(nearest), MIN_STRIKES))

    centre = _segment_median(estimate, seg, chosen, m)
    kept = chosen
    for _ in range(2):
        with np.errstate(invalid="ignore"):
            deviation = np.abs(estimate - centre[seg])
            scale = np.maximum(MAD_SCALE * _segment_median(deviation, seg, kept, m),
                               SCALE_FLOOR * np.abs(centre))
            kept = chosen & (deviation <= TRIM * scale[seg])
        centre = _segment_mean(estimate, w, seg, kept, m)

    used = np.bincount(seg[kept], minlength=m)
    ok = valid & (used >= MIN_STRIKES)
    forward = np.where(ok, centre, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(kept, df * (estimate - forward[seg]), 0.0)
        mean_square = np.bincount(seg, weights=gap * gap, minlength=m) / np.maximum(used, 1)
        residual = np.where(ok, np.sqrt(mean_square) / forward, np.nan)
    status = np.where(~valid, ForwardStatus.INVALID_INPUT,
                      np.where(ok, ForwardStatus.OK, ForwardStatus.TOO_FEW_STRIKES))
    return ForwardFits(forward=forward, residual=residual,
                       strikes_used=np.where(ok, used, 0).astype(np.int64),
                       status=status.astype(np.int8))


def nearest_strikes(strikes: ArrayLike, offsets: ArrayLike, centres: ArrayLike,
                    count: int) -> np.ndarray:
    """Per expiry (``offsets`` as in :func:`fit_forwards`), a mask of the ``count`` strikes
    nearest its ``centres`` entry (ties in entry order); none where the centre is NaN."""
    k = np.asarray(strikes, dtype=np.float64).ravel()
    bounds = np.asarray(offsets, dtype=np.int64).ravel()
    seg = np.repeat(np.arange(bounds.size - 1), np.diff(bounds))
    with np.errstate(invalid="ignore"):
        distance = np.abs(k - np.asarray(centres, dtype=np.float64)[seg])
    known = np.isfinite(distance)
    return known & (_rank(np.where(known, distance, np.inf), bounds, seg) < count)


def _rank(key: np.ndarray, bounds: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Each entry's 0-based rank by ``key`` within its expiry (ties in entry order)."""
    order = np.lexsort((key, seg))
    rank = np.empty(key.size, dtype=np.int64)
    rank[order] = np.arange(key.size) - bounds[seg[order]]
    return rank


def _segment_median(values: np.ndarray, seg: np.ndarray, mask: np.ndarray,
                    m: int) -> np.ndarray:
    """Per expiry, the median of ``values`` where ``mask`` (NaN where none)."""
    where = np.flatnonzero(mask)
    s, v = seg[where], values[where]
    v = v[np.lexsort((v, s))]
    counts = np.bincount(s, minlength=m)
    starts = np.cumsum(counts) - counts
    out = np.full(m, np.nan)
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = 0.5 * (v[lo] + v[hi])
    return out


def _segment_mean(values: np.ndarray, weights: np.ndarray, seg: np.ndarray,
                  mask: np.ndarray, m: int) -> np.ndarray:
    """Per expiry, the ``weights``-weighted mean of ``values`` where ``mask`` (NaN where
    none)."""
    w = np.where(mask, weights, 0.0)
    total = np.bincount(seg, weights=w, minlength=m)
    weighted = np.bincount(seg, weights=np.where(mask, w * values, 0.0), minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, weighted / total, np.nan)
