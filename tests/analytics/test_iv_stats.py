"""IV rank and IV percentile against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deltastream.analytics.iv_stats import iv_percentile, iv_rank

# 20 daily ATM IVs: min 0.10, max 0.30.
SERIES = [0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.22, 0.24, 0.26, 0.30,
          0.11, 0.13, 0.15, 0.17, 0.19, 0.21, 0.23, 0.25, 0.27, 0.29]


def test_iv_rank_hand_computed():
    # (0.15 - 0.10) / (0.30 - 0.10) = 25 %
    r = iv_rank(SERIES, 0.15)
    assert r.value == pytest.approx(25.0) and r.observations == 20 and r.reason is None
    assert iv_rank(SERIES, 0.30).value == pytest.approx(100.0)
    assert iv_rank(SERIES, 0.10).value == pytest.approx(0.0)
    assert iv_rank(SERIES, 0.25).value == pytest.approx(75.0)
    # Outside the lookback's range: clipped.
    assert iv_rank(SERIES, 0.40).value == 100.0
    assert iv_rank(SERIES, 0.05).value == 0.0


def test_iv_percentile_hand_computed():
    # Below 0.15: 0.10 0.11 0.12 0.13 0.14 -> 5 of 20 = 25 %
    p = iv_percentile(SERIES, 0.15)
    assert p.value == pytest.approx(25.0) and p.observations == 20
    # Below 0.295: all but 0.30 -> 19 of 20
    assert iv_percentile(SERIES, 0.295).value == pytest.approx(95.0)
    assert iv_percentile(SERIES, 0.10).value == 0.0          # strictly below
    assert iv_percentile(np.array(SERIES), 0.31).value == 100.0


def test_rank_and_percentile_differ_on_a_skewed_history():
    # One spike: rank says low, percentile says high.
    series = [0.15] * 19 + [0.60]
    assert iv_rank(series, 0.20).value == pytest.approx(100 * 0.05 / 0.45)
    assert iv_percentile(series, 0.20).value == pytest.approx(95.0)


def test_unsolved_ivs_are_ignored_and_too_few_observations_give_a_reason():
    with_nan = [*SERIES, math.nan, math.nan]
    assert iv_rank(with_nan, 0.15).observations == 20
    short = iv_rank(SERIES[:5], 0.15)
    assert short.value is None and short.observations == 5
    assert "5 observations" in short.reason and "20" in short.reason
    assert iv_percentile(SERIES[:5], 0.15, min_observations=5).value == pytest.approx(60.0)
    assert iv_percentile((v for v in SERIES), 0.15).value == pytest.approx(25.0)
    assert iv_percentile([], 0.15).value is None
    flat = iv_rank([0.2] * 30, 0.2)
    assert flat.value is None and "max = min" in flat.reason
    missing = iv_rank(SERIES, math.nan)
    assert missing.value is None and "current" in missing.reason
