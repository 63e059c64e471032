"""The compiled Poisson sampler draws exactly Poisson-distributed counts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deltastream.market import flow
from deltastream.market.poisson import poisson


@pytest.mark.parametrize("lam", [0.05, 0.7, 4.0, 9.99, 10.0, 23.0, 140.0, 5e4])
def test_counts_follow_the_poisson_law(lam):
    rng = np.random.default_rng(11)
    x = poisson(np.full(200_000, lam), rng)
    assert np.all(x == np.floor(x)) and np.all(x >= 0)
    lo, hi = int(max(0, lam - 7 * np.sqrt(lam) - 2)), int(lam + 7 * np.sqrt(lam) + 3)
    ks = np.arange(lo, hi + 1)
    observed = np.bincount(np.clip(x.astype(np.int64) - lo, 0, hi - lo), minlength=ks.size)
    expected = stats.poisson.pmf(ks, lam) * x.size
    keep = expected > 20
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-4
    assert abs(x.mean() - lam) < 6 * np.sqrt(lam / x.size) + 1e-9


def test_counts_are_reproducible_and_zero_for_no_intensity():
    lam = np.array([[0.0, -1.0, 3.0], [12.0, 1e3, 0.2]])
    a = poisson(lam, np.random.default_rng(5))
    b = poisson(lam, np.random.default_rng(5))
    assert a.shape == lam.shape and np.array_equal(a, b)
    assert a[0, 0] == 0 and a[0, 1] == 0


def test_non_finite_or_huge_intensities_are_refused():
    with pytest.raises(ValueError, match="finite"):
        poisson(np.array([1.0, np.nan]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="finite"):
        poisson(np.array([1e11]), np.random.default_rng(0))


@pytest.mark.parametrize("lam", [18.0, 2.5])
def test_trade_counts_have_the_thinned_poisson_moments(lam):
    # Volume ~ Poisson(rate); with ample open interest, the OI change is the difference of
    # independent Poisson(rate p_open) and Poisson(rate p_close) counts (drawn as such above
    # intensity 10, as a total split binomially below).
    rng = np.random.default_rng(3)
    rate = np.full(200_000, lam)
    traded, new_oi = flow.trade(rate, np.full(rate.size, 1e9), rng)
    change = new_oi - 1e9
    assert traded.mean() == pytest.approx(lam, abs=0.05)
    assert traded.var() == pytest.approx(lam, rel=0.02)
    assert change.mean() == pytest.approx(lam * (0.45 - 0.35), abs=0.05)
    assert change.var() == pytest.approx(lam * (0.45 + 0.35), rel=0.02)


def test_intensities_of_a_whole_day_of_trading_are_drawn():
    # A tick spanning a day of market time: intensities of tens of millions.
    from deltastream.market.poisson import poisson

    rng = np.random.default_rng(3)
    lam = np.full(20_000, 3.0e7)
    counts = poisson(lam, rng)
    assert abs(counts.mean() / 3.0e7 - 1) < 1e-5
    assert abs(counts.std() / np.sqrt(3.0e7) - 1) < 0.03
