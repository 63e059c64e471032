"""Put-call ratio, max pain and ATM strike against brute-force recomputation."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.analytics.chain_stats import atm_index, max_pain_strike, put_call_ratio


def brute_force_max_pain(strikes, call_oi, put_oi):
    payouts = [sum(c * max(x - k, 0) + p * max(k - x, 0)
                   for k, c, p in zip(strikes, call_oi, put_oi, strict=True)) for x in strikes]
    return strikes[int(np.argmin(payouts))]


@pytest.mark.parametrize("seed", range(20))
def test_max_pain_equals_brute_force_payout_minimum(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    strikes = 24000.0 + 50.0 * np.arange(n)
    call_oi = rng.integers(0, 5000, n).astype(float)
    put_oi = rng.integers(0, 5000, n).astype(float)
    if call_oi.sum() + put_oi.sum() == 0:
        call_oi[0] = 1.0
    assert max_pain_strike(strikes, call_oi, put_oi) == brute_force_max_pain(
        list(strikes), list(call_oi), list(put_oi))


def test_max_pain_of_textbook_chain():
    # Heavy call OI above 110 and heavy put OI below 90 pin the minimum between them.
    strikes = np.array([80.0, 90.0, 100.0, 110.0, 120.0])
    call_oi = np.array([0.0, 0.0, 100.0, 1000.0, 1000.0])
    put_oi = np.array([1000.0, 1000.0, 100.0, 0.0, 0.0])
    assert max_pain_strike(strikes, call_oi, put_oi) == 100.0


def test_max_pain_without_open_interest_is_none():
    assert max_pain_strike(np.array([1.0, 2.0]), np.zeros(2), np.zeros(2)) is None


def test_put_call_ratio():
    assert put_call_ratio(150.0, 100.0) == 1.5
    assert put_call_ratio(10.0, 0.0) is None


def test_atm_index_is_the_strike_nearest_the_forward():
    strikes = np.array([95.0, 100.0, 105.0])
    assert atm_index(strikes, 101.0) == 1
    assert atm_index(strikes, 103.0) == 2
