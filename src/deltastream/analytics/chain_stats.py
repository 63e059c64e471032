"""Put-call ratios, max pain and the at-the-money strike of one expiry's chain."""

from __future__ import annotations

import numpy as np


def put_call_ratio(put_total: float, call_total: float) -> float | None:
    """Puts over calls (open interest or volume); None when there is nothing on the call side."""
    return float(put_total) / float(call_total) if call_total > 0 else None


def payout_curve(strikes: np.ndarray, call_oi: np.ndarray,
                 put_oi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Option holders' total payout if the underlying settles at each listed strike.

    Returns ``(call_payout, put_payout)`` with, at settlement X = strikes[j],
    call_payout[j] = sum_i call_oi_i (X - K_i)+ and put_payout[j] = sum_i put_oi_i (K_i - X)+
    (in price units times contracts), computed in O(n) with cumulative sums. ``strikes``
    ascending.
    """
    k = np.asarray(strikes, dtype=np.float64)
    c = np.asarray(call_oi, dtype=np.float64)
    p = np.asarray(put_oi, dtype=np.float64)
    # Calls struck at or below X pay X - K_i: sum(c_i) * X - sum(c_i K_i) over K_i <= X.
    call_pay = np.cumsum(c) * k - np.cumsum(c * k)
    # Puts struck at or above X pay K_i - X, accumulated from the top.
    put_pay = np.cumsum((p * k)[::-1])[::-1] - np.cumsum(p[::-1])[::-1] * k
    return call_pay, put_pay


def max_pain_strike(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray) -> float | None:
    """The settlement strike at which option holders' total payout is smallest.

    The payout is :func:`payout_curve`'s total at every listed strike. Ties go to the lowest
    strike. None when the chain has no open interest.
    """
    k = np.asarray(strikes, dtype=np.float64)
    if k.size == 0 or (np.sum(call_oi) + np.sum(put_oi)) <= 0:
        return None
    call_pay, put_pay = payout_curve(k, call_oi, put_oi)
    return float(k[int(np.argmin(call_pay + put_pay))])


def max_pain_distance_pct(max_pain: float | None, spot: float) -> float | None:
    """Max pain's distance from spot in percent of spot, (max pain - spot) / spot x 100
    (positive above spot); None without a max pain."""
    return None if max_pain is None else (max_pain - spot) / spot * 100


def atm_index(strikes: np.ndarray, forward: float) -> int:
    """Index of the strike nearest the forward (ties to the lower strike)."""
    return int(np.argmin(np.abs(np.asarray(strikes) - forward)))
