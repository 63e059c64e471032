"""The parity forward of an expiry: synthetic chains generated from a known forward (Black-76
prices in closed form, tests.support.closed_forms) give that forward back, exactly
for exact prices and within a provable bound for prices rounded to a tick; outlier quotes,
missing sides and deep in-the-money strikes do not move it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deltastream.feeds.forward import (
    MIN_STRIKES,
    ForwardStatus,
    fit_forward,
    fit_forwards,
)
from tests.support.closed_forms import black76

TICK = 0.05


def chain(forward: float, step: float, time: float, rate: float, each_side: int = 20
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strikes around ``forward`` and their exact call and put prices on a skewed smile."""
    strikes = np.round(forward / step) * step + step * np.arange(-each_side, each_side + 1)
    strikes = strikes[strikes > 0]
    m = np.log(strikes / forward)
    vol = 0.18 - 0.25 * m + 0.6 * m * m
    return (strikes, black76(forward, strikes, time, rate, vol, True),
            black76(forward, strikes, time, rate, vol, False))


def test_exact_prices_give_the_generating_forward():
    for forward, step, time, rate in [(24567.3, 50.0, 25 / 365, 0.055),
                                      (1234.56, 10.0, 0.4, 0.07),
                                      (592.1, 1.0, 3 / 365, 0.036),
                                      (80512.0, 100.0, 1.2, 0.0)]:
        k, c, p = chain(forward, step, time, rate)
        fit = fit_forward(k, c, p, time, rate)
        assert fit.status == ForwardStatus.OK
        assert fit.forward == pytest.approx(forward, rel=1e-9)
        assert fit.residual < 1e-12
        assert fit.strikes_used >= 10


def test_outliers_missing_sides_and_shuffled_strikes_do_not_move_it():
    forward, time, rate = 24567.3, 25 / 365, 0.055
    k, c, p = chain(forward, 50.0, time, rate)
    atm = int(np.argmin(np.abs(k - forward)))
    c_bad, p_bad = c.copy(), p.copy()
    c_bad[atm] *= 1.3            # a stale call at the money
    p_bad[atm + 2] += 40.0       # a put far off
    c_bad[atm - 3] = 0.05        # a call quoted at the minimum tick
    p_bad[atm + 1] = np.nan      # missing sides
    c_bad[atm - 1] = np.nan
    order = np.random.default_rng(3).permutation(k.size)
    fit = fit_forward(k[order], c_bad[order], p_bad[order], time, rate)
    assert fit.forward == pytest.approx(forward, rel=1e-9)
    # The three outliers and the two one-sided strikes are not among the strikes used.
    assert fit.strikes_used == 12 - 3
    assert fit.residual < 1e-12


def test_deep_in_the_money_strikes_far_from_the_money_are_not_used():
    forward, time, rate = 1500.0, 0.2, 0.06
    k, c, p = chain(forward, 10.0, time, rate, each_side=40)
    far = np.abs(k - forward) > 200
    # Stale deep quotes: every one of them 2 % off, a third of the chain.
    c, p = np.where(far & (k < forward), c * 1.02, c), np.where(far & (k > forward), p * 1.02, p)
    assert far.sum() > k.size / 3
    assert fit_forward(k, c, p, time, rate).forward == pytest.approx(forward, rel=1e-9)


def test_prices_rounded_to_a_tick_are_within_a_tick_of_the_forward():
    # Each strike's estimate K + (C - P) / DF is off by at most one tick / DF (each price
    # by half a tick), so any weighted mean of estimates is too: that is the bound. Typical
    # errors are far smaller.
    rng = np.random.default_rng(2026)
    errors = []
    for _ in range(300):
        forward = float(rng.uniform(100.0, 60000.0))
        step = forward * float(rng.choice([0.0025, 0.005, 0.01, 0.02]))
        time, rate = float(rng.uniform(2 / 365, 1.0)), float(rng.uniform(0.0, 0.08))
        k, c, p = chain(forward, step, time, rate, each_side=30)
        c, p = np.round(c / TICK) * TICK, np.round(p / TICK) * TICK
        fit = fit_forward(k, np.where(c > 0, c, np.nan), np.where(p > 0, p, np.nan), time,
                          rate)
        unit = TICK / math.exp(-rate * time)
        errors.append(abs(fit.forward - forward) / unit)
        assert fit.residual <= TICK / fit.forward
    assert max(errors) <= 1.0
    assert float(np.median(errors)) < 0.15


def test_rounded_prices_with_outliers_stay_within_the_bound():
    forward, time, rate = 24567.3, 25 / 365, 0.055
    k, c, p = chain(forward, 50.0, time, rate)
    c, p = np.round(c / TICK) * TICK, np.round(p / TICK) * TICK
    atm = int(np.argmin(np.abs(k - forward)))
    c[atm] += 25.0
    p[atm - 1] -= 30.0
    fit = fit_forward(k, c, p, time, rate)
    assert abs(fit.forward - forward) <= TICK / math.exp(-rate * time)


def test_residual_is_the_rms_relative_parity_error():
    # Four strikes, C - P off parity by +d, -d, +d, -d: median and mean are the forward, no
    # strike is an outlier, and the RMS of (C - P - DF (F - K)) / F is d / F.
    forward, time, rate, d = 100.0, 0.5, 0.05, 0.02
    k = np.array([90.0, 95.0, 105.0, 110.0])
    df = math.exp(-rate * time)
    c = np.full(4, 10.0)
    p = c - df * (forward - k) - d * np.array([1, -1, 1, -1])
    fit = fit_forward(k, c, p, time, rate)
    assert fit.forward == pytest.approx(forward, rel=1e-12)
    assert fit.residual == pytest.approx(d / forward, rel=1e-9)
    assert fit.strikes_used == 4


def test_weights_weigh_the_least_squares_fit():
    # Two strikes estimating F - a and F + a, weighted 3 and 1: F - a / 2.
    forward, time, rate, a = 100.0, 0.25, 0.04, 0.4
    df = math.exp(-rate * time)
    k = np.array([98.0, 102.0])
    p = np.array([3.0, 5.0])
    c = p + df * (forward + np.array([-a, a]) - k)
    assert fit_forward(k, c, p, time, rate, weights=[3.0, 1.0]).forward == pytest.approx(
        forward - a / 2, rel=1e-12)
    # A zero weight leaves the strike out: one strike left is too few.
    fit = fit_forward(k, c, p, time, rate, weights=[1.0, 0.0])
    assert math.isnan(fit.forward) and fit.status == ForwardStatus.TOO_FEW_STRIKES


@pytest.mark.parametrize("usable", [0, 1])
def test_fewer_than_two_strikes_priced_on_both_sides_give_nan(usable):
    forward, time, rate = 500.0, 0.1, 0.05
    k, c, p = chain(forward, 5.0, time, rate, each_side=4)
    p[usable:] = np.nan
    fit = fit_forward(k, c, p, time, rate)
    assert usable < MIN_STRIKES
    assert math.isnan(fit.forward) and math.isnan(fit.residual)
    assert fit.strikes_used == 0 and fit.status == ForwardStatus.TOO_FEW_STRIKES


def test_two_strikes_are_enough():
    forward, time, rate = 500.0, 0.1, 0.05
    k, c, p = chain(forward, 5.0, time, rate, each_side=4)
    keep = np.zeros(k.size, dtype=bool)
    keep[[0, -1]] = True
    fit = fit_forward(k, c, np.where(keep, p, np.nan), time, rate)
    assert fit.forward == pytest.approx(forward, rel=1e-9) and fit.strikes_used == 2


@pytest.mark.parametrize(("time", "rate"), [(0.0, 0.05), (-0.1, 0.05), (math.nan, 0.05),
                                            (0.1, math.nan), (math.inf, 0.05)])
def test_bad_time_or_rate_is_reported_not_raised(time, rate):
    k, c, p = chain(100.0, 1.0, 0.1, 0.05)
    fit = fit_forward(k, c, p, time, rate)
    assert math.isnan(fit.forward) and fit.status == ForwardStatus.INVALID_INPUT


def test_garbage_strikes_and_prices_are_skipped():
    forward, time, rate = 250.0, 0.3, 0.03
    k, c, p = chain(forward, 2.5, time, rate)
    k = np.concatenate([k, [np.nan, -5.0, 0.0, 250.0]])
    c = np.concatenate([c, [1.0, 1.0, 1.0, -3.0]])
    p = np.concatenate([p, [1.0, 1.0, 1.0, np.inf]])
    assert fit_forward(k, c, p, time, rate).forward == pytest.approx(forward, rel=1e-9)
    empty = fit_forward([], [], [], time, rate)
    assert math.isnan(empty.forward) and empty.status == ForwardStatus.TOO_FEW_STRIKES


def test_many_expiries_at_once_equal_one_at_a_time():
    rng = np.random.default_rng(5)
    parts, expected = [], []
    for j in range(7):
        forward = float(rng.uniform(200, 30000))
        time, rate = float(rng.uniform(1 / 365, 2.0)), 0.05
        k, c, p = chain(forward, forward * 0.01, time, rate, each_side=int(rng.integers(3, 30)))
        c = np.round(c / TICK) * TICK
        if j == 3:
            p[:] = np.nan           # an expiry that cannot be fitted
        parts.append((k, c, p, time, rate))
        expected.append(fit_forward(k, c, p, time, rate))
    offsets = np.concatenate([[0], np.cumsum([len(x[0]) for x in parts])])
    fits = fit_forwards(np.concatenate([x[0] for x in parts]),
                        np.concatenate([x[1] for x in parts]),
                        np.concatenate([x[2] for x in parts]), offsets,
                        [x[3] for x in parts], [x[4] for x in parts])
    for j, one in enumerate(expected):
        assert (math.isnan(one.forward) and math.isnan(fits.forward[j])) or (
            fits.forward[j] == pytest.approx(one.forward, rel=1e-15))
        assert fits.strikes_used[j] == one.strikes_used
        assert fits.status[j] == one.status
    assert fits.status[3] == ForwardStatus.TOO_FEW_STRIKES
