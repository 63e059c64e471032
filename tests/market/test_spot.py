"""The spot process: reproducible, and its realised volatility is the configured level."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.market.spot import SECONDS_PER_YEAR, SpotModel, SpotState, simulate, step

MODEL = SpotModel(vol_level=0.13, mean_reversion=12.0, vol_of_vol=0.25,
                  spot_vol_correlation=-0.7, jump_intensity=3.0, jump_mean=-0.02,
                  jump_std=0.02, drift=0.04)


def test_same_seed_same_path_different_seed_different_path():
    start = SpotState(24500.0, 0.13**2)
    a = simulate(MODEL, start, 1 / SECONDS_PER_YEAR, 1000, np.random.default_rng(5))
    b = simulate(MODEL, start, 1 / SECONDS_PER_YEAR, 1000, np.random.default_rng(5))
    c = simulate(MODEL, start, 1 / SECONDS_PER_YEAR, 1000, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_realised_volatility_of_a_long_path_is_within_10_percent(seed):
    dt = 300 / SECONDS_PER_YEAR
    n = int(10 * SECONDS_PER_YEAR / 300)  # ten years of five-minute steps
    spots, var = simulate(MODEL, SpotState(24500.0, 0.13**2), dt, n,
                          np.random.default_rng(seed))
    returns = np.diff(np.log(spots))
    realised = np.sqrt(np.sum(returns**2) / ((n - 1) * dt))
    assert realised == pytest.approx(0.13, rel=0.10)
    assert np.all(var > 0) and np.all(spots > 0)


def test_spot_and_volatility_are_negatively_correlated():
    dt = 60 / SECONDS_PER_YEAR
    spots, var = simulate(MODEL, SpotState(100.0, 0.13**2), dt, 200_000,
                          np.random.default_rng(9))
    corr = np.corrcoef(np.diff(np.log(spots)), np.diff(np.sqrt(var)))[0, 1]
    assert corr < -0.3


def test_single_steps_move_continuously_from_the_current_state():
    state = SpotState(25000.0, 0.13**2)
    rng = np.random.default_rng(1)
    for _ in range(100):
        nxt = step(MODEL, state, 1 / SECONDS_PER_YEAR, rng)
        # One second of a 13 % vol market: moves of a few basis points, never a reset.
        assert abs(nxt.spot / state.spot - 1) < 0.01
        state = nxt
    assert step(MODEL, state, 0.0, rng) == state
