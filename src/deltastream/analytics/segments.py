"""Chain statistics of many expiries at once.

The contracts of many chains lie in flat arrays, chain ``j`` occupying
``offsets[j]:offsets[j + 1]`` with ascending strikes; each function returns one value per
chain. Same definitions as :mod:`deltastream.analytics.chain_stats`, in one compiled pass.
"""

from __future__ import annotations

import numba
import numpy as np

NO_INDEX = -1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _max_pain_kernel(k: np.ndarray, c: np.ndarray, p: np.ndarray, offsets: np.ndarray,
                     out: np.ndarray) -> None:  # pragma: no cover - compiled
    for j in range(offsets.size - 1):
        lo, hi = offsets[j], offsets[j + 1]
        total = 0.0
        for i in range(lo, hi):
            total += c[i] + p[i]
        if hi <= lo or total <= 0.0:
            out[j] = NO_INDEX
            continue
        # Puts struck at or above X pay K_i - X: suffix sums of p and p K from the top.
        p_cum = np.empty(hi - lo)
        pk_cum = np.empty(hi - lo)
        acc_p = 0.0
        acc_pk = 0.0
        for i in range(hi - 1, lo - 1, -1):
            acc_p += p[i]
            acc_pk += p[i] * k[i]
            p_cum[i - lo] = acc_p
            pk_cum[i - lo] = acc_pk
        # Calls struck at or below X pay X - K_i: prefix sums of c and c K.
        c_cum = 0.0
        ck_cum = 0.0
        best = NO_INDEX
        best_pay = np.inf
        for i in range(lo, hi):
            c_cum += c[i]
            ck_cum += c[i] * k[i]
            pay = (c_cum * k[i] - ck_cum) + (pk_cum[i - lo] - p_cum[i - lo] * k[i])
            if pay < best_pay:   # strict: ties go to the lowest strike
                best_pay = pay
                best = i
        out[j] = best


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _nearest_kernel(k: np.ndarray, target: np.ndarray, offsets: np.ndarray,
                    out: np.ndarray) -> None:  # pragma: no cover - compiled
    for j in range(offsets.size - 1):
        best = NO_INDEX
        best_dist = np.inf
        for i in range(offsets[j], offsets[j + 1]):
            d = abs(k[i] - target[j])
            if d < best_dist:
                best_dist = d
                best = i
        out[j] = best


def _as_offsets(offsets: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(offsets, dtype=np.int64)


def max_pain_indices(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray,
                     offsets: np.ndarray) -> np.ndarray:
    """Per chain, the flat index of the max-pain strike (the settlement strike with the
    smallest total payout to option holders; ties to the lowest), or -1 when the chain has
    no open interest."""
    out = np.empty(offsets.shape[0] - 1, dtype=np.int64)
    _max_pain_kernel(np.ascontiguousarray(strikes, dtype=np.float64),
                     np.ascontiguousarray(call_oi, dtype=np.float64),
                     np.ascontiguousarray(put_oi, dtype=np.float64), _as_offsets(offsets), out)
    return out


def nearest_indices(strikes: np.ndarray, targets: np.ndarray, offsets: np.ndarray
                    ) -> np.ndarray:
    """Per chain, the flat index of the strike nearest ``targets[j]`` (e.g. the forward;
    ties to the lower strike), or -1 for an empty chain."""
    out = np.empty(offsets.shape[0] - 1, dtype=np.int64)
    _nearest_kernel(np.ascontiguousarray(strikes, dtype=np.float64),
                    np.ascontiguousarray(targets, dtype=np.float64), _as_offsets(offsets), out)
    return out


def segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per chain, the sum of ``values`` over its contracts (0 for an empty chain)."""
    cum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    return cum[offsets[1:]] - cum[offsets[:-1]]
