"""Put-call ratios, max pain and the at-the-money strike of one expiry's chain."""

from __future__ import annotations

import numpy as np


def put_call_ratio(put_total: float, call_total: float) -> float | None:
    """Puts over calls (open interest or volume); None when there is nothing on the call side."""
    return float(put_total) / float(call_total) if call_total > 0 else None


def max_pain_strike(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray) -> float | None:
    """The settlement strike at which option holders' total payout is smallest.

    Payout at settlement X: sum_i call_oi_i (X - K_i)+ + put_oi_i (K_i - X)+, evaluated at every
    listed strike in O(n) with cumulative sums. Ties go to the lowest strike. None when the
    chain has no open interest.
    """
    k = np.asarray(strikes, dtype=np.float64)
    c = np.asarray(call_oi, dtype=np.float64)
    p = np.asarray(put_oi, dtype=np.float64)
    if k.size == 0 or (c.sum() + p.sum()) <= 0:
        return None
    # Calls struck at or below X pay X - K_i: sum(c_i) * X - sum(c_i K_i) over K_i <= X.
    c_cum = np.cumsum(c)
    ck_cum = np.cumsum(c * k)
    call_pay = c_cum * k - ck_cum
    # Puts struck at or above X pay K_i - X, accumulated from the top.
    p_cum = np.cumsum(p[::-1])[::-1]
    pk_cum = np.cumsum((p * k)[::-1])[::-1]
    put_pay = pk_cum - p_cum * k
    return float(k[int(np.argmin(call_pay + put_pay))])


def atm_index(strikes: np.ndarray, forward: float) -> int:
    """Index of the strike nearest the forward (ties to the lower strike)."""
    return int(np.argmin(np.abs(np.asarray(strikes) - forward)))
