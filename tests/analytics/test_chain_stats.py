"""Put-call ratio, max pain and ATM strike against brute-force recomputation."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.analytics.chain_stats import (
    atm_index,
    max_pain_distance_pct,
    max_pain_strike,
    payout_curve,
    put_call_ratio,
)


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


def brute_force_payouts(strikes, call_oi, put_oi):
    calls = [sum(c * max(x - k, 0) for k, c in zip(strikes, call_oi, strict=True))
             for x in strikes]
    puts = [sum(p * max(k - x, 0) for k, p in zip(strikes, put_oi, strict=True))
            for x in strikes]
    return calls, puts


@pytest.mark.parametrize("seed", range(20))
def test_payout_curve_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    strikes = np.sort(rng.choice(np.arange(100, 400) * 5.0, n, replace=False))
    call_oi = rng.integers(0, 5000, n).astype(float)
    put_oi = rng.integers(0, 5000, n).astype(float)
    calls, puts = payout_curve(strikes, call_oi, put_oi)
    want_calls, want_puts = brute_force_payouts(list(strikes), list(call_oi), list(put_oi))
    scale = float(np.sum((call_oi + put_oi) * strikes)) + 1.0
    np.testing.assert_allclose(calls, want_calls, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(puts, want_puts, rtol=0, atol=1e-12 * scale)


def test_payout_curve_of_textbook_chain():
    # One call at 100 and two puts at 110: settling at 120 pays 20 on the call, at 90 pays
    # 2 x 20 on the puts.
    strikes = np.array([90.0, 100.0, 110.0, 120.0])
    calls, puts = payout_curve(strikes, np.array([0.0, 1.0, 0.0, 0.0]),
                               np.array([0.0, 0.0, 2.0, 0.0]))
    assert calls.tolist() == [0.0, 0.0, 10.0, 20.0]
    assert puts.tolist() == [40.0, 20.0, 0.0, 0.0]


def test_max_pain_distance_is_percent_of_spot():
    # 24,000 under a spot of 25,000 is 4 % below it.
    assert max_pain_distance_pct(24_000.0, 25_000.0) == pytest.approx(-4.0)
    assert max_pain_distance_pct(25_500.0, 25_000.0) == pytest.approx(2.0)
    assert max_pain_distance_pct(None, 25_000.0) is None
