"""Skew figures from hand-built smiles with known risk reversal and butterfly, ATM IV at the
forward, and the expected-move identities of a lognormal chain priced by the pricing package."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.pricing import black_scholes_merton as bsm
from deltastream.strategy.skew import (
    atm_iv,
    forward_call_delta,
    iv_at_delta,
    skew,
    smile,
    smile_figures,
    straddle_at_forward,
)
from tests.support.specs import EUROPEAN, START, terms

F, T = 100.0, 0.25


def strike_of_call_delta(delta: float, vol: float) -> float:
    """The strike whose forward call delta is ``delta`` at ``vol``: N(d1) = delta."""
    sd = vol * math.sqrt(T)
    return F * math.exp(-sd * norm.ppf(delta) + 0.5 * sd * sd)


# A smile quoted the way a desk quotes it: IV at call deltas (a put delta of -0.25 is a call
# delta of 0.75), with the at-the-money-forward IV.
ATM = 0.20
QUOTES = {0.95: 0.29, 0.90: 0.26, 0.75: 0.23, 0.25: 0.19, 0.10: 0.185, 0.05: 0.19}


def quoted_smile() -> tuple[np.ndarray, np.ndarray]:
    points = [(strike_of_call_delta(d, v), v) for d, v in QUOTES.items()] + [(F, ATM)]
    points.sort()
    return np.array([k for k, _ in points]), np.array([v for _, v in points])


def test_strikes_of_the_quoted_deltas_are_at_those_deltas():
    k, v = quoted_smile()
    deltas = forward_call_delta(k, v, F, T)
    np.testing.assert_allclose(sorted(deltas, reverse=True)[:2], [0.95, 0.90], rtol=1e-12)


def test_risk_reversal_butterfly_and_wings_of_a_quoted_smile():
    k, v = quoted_smile()
    # The smile is the puts' IV below the forward and the calls' above: give each side the
    # smile where it is out of the money and nonsense where it is not, which must be unused.
    calls = np.where(k >= F, v, 9.0)
    puts = np.where(k < F, v, 9.0)
    mids = np.ones_like(k)
    got = smile_figures(k, calls, puts, mids, mids, 99.0, F, T, 0.05)
    assert got.atm_iv == pytest.approx(ATM, abs=1e-14)
    assert got.call25_iv == pytest.approx(0.19, abs=1e-12)
    assert got.put25_iv == pytest.approx(0.23, abs=1e-12)
    assert got.call10_iv == pytest.approx(0.185, abs=1e-12)
    assert got.put10_iv == pytest.approx(0.26, abs=1e-12)
    assert got.rr25 == pytest.approx(0.19 - 0.23, abs=1e-12)
    assert got.bf25 == pytest.approx((0.19 + 0.23) / 2 - ATM, abs=1e-12)


def linear_in_delta_smile(strikes: np.ndarray, a: float, b: float) -> np.ndarray:
    """sigma(K) with sigma = a + b x (forward call delta at sigma), solved per strike."""
    def gap(vol: float, k: float) -> float:
        return vol - (a + b * float(forward_call_delta(np.array([k]), np.array([vol]), F, T)[0]))
    return np.array([brentq(gap, 0.01, 2.0, args=(k,), xtol=1e-15) for k in strikes])


def test_a_smile_linear_in_delta_is_read_exactly_between_listed_strikes():
    # Linear in delta, so linear interpolation in delta is exact wherever the strikes fall.
    a, b = 0.16, 0.12
    k = np.arange(70.0, 135.0, 2.5)
    v = linear_in_delta_smile(k, a, b)
    for d in (0.25, 0.10):
        assert iv_at_delta(k, v, F, T, d) == pytest.approx(a + b * d, abs=1e-12)
        assert iv_at_delta(k, v, F, T, -d) == pytest.approx(a + b * (1 - d), abs=1e-12)
    # Out of the strikes' deltas: none.
    narrow = (k > 95) & (k < 105)
    assert iv_at_delta(k[narrow], v[narrow], F, T, 0.10) is None
    assert iv_at_delta(k, v, F, 0.0, 0.25) is None


def test_atm_iv_is_interpolated_in_log_strike_at_the_forward():
    k = np.array([90.0, 97.0, 104.0, 110.0])
    v = 0.3 - 0.5 * np.log(k / 100.0)          # linear in log strike
    assert atm_iv(k, v, 101.3) == pytest.approx(0.3 - 0.5 * math.log(1.013), abs=1e-14)
    assert atm_iv(k, v, 120.0) is None
    assert atm_iv(k, np.array([np.nan, 0.2, np.nan, 0.21]), 100.0) is not None


def test_a_flat_smile_has_no_skew():
    k = np.arange(60.0, 150.0, 1.0)
    flat = np.full(k.size, 0.22)
    got = smile_figures(k, flat, flat, flat, flat, 99.0, F, T, 0.0)
    assert (got.rr25, got.bf25) == (pytest.approx(0, abs=1e-15), pytest.approx(0, abs=1e-15))
    assert got.put10_iv == pytest.approx(0.22, abs=1e-15)


def test_the_smile_takes_the_other_right_where_one_has_no_iv():
    k = np.array([90.0, 100.0, 110.0])
    got = smile(k, np.array([0.3, np.nan, np.nan]), np.array([np.nan, 0.25, 0.2]), 100.0)
    np.testing.assert_array_equal(got, [0.3, 0.25, 0.2])
    # An IV that did not solve may come as 0: the other right's is taken there too.
    got = smile(k, np.array([0.3, 0.0, 0.21]), np.array([0.0, 0.25, 0.2]), 100.0)
    np.testing.assert_array_equal(got, [0.3, 0.25, 0.21])


def test_expected_moves_of_a_lognormal_chain():
    # A flat-volatility chain priced by the pricing package, strikes through the forward:
    # the straddle at the forward carried to expiry is
    # E|S_T - F| = 2 E(S_T - F)+ = 2 F (2 N(sigma sqrt(T) / 2) - 1), the IV move S sigma sqrt(T).
    s, r, q, vol = 24500.0, 0.065, 0.012, 0.14
    f = s * math.exp((r - q) * T)
    k = f * (1 + np.arange(-40, 41) * 0.005)
    call = bsm.price(s, k, T, r, q, vol, True)
    put = bsm.price(s, k, T, r, q, vol, False)
    ivs = np.full(k.size, vol)
    got = smile_figures(k, ivs, ivs, call, put, s, f, T, r).expected_move
    assert got.straddle == pytest.approx(2 * f * (2 * norm.cdf(vol * math.sqrt(T) / 2) - 1),
                                         rel=1e-10)
    assert got.iv == pytest.approx(s * vol * math.sqrt(T), rel=1e-14)
    assert got.straddle_pct == pytest.approx(got.straddle / s * 100, rel=1e-14)
    assert got.iv_pct == pytest.approx(vol * math.sqrt(T) * 100, rel=1e-14)
    # About sqrt(2/pi) of one standard deviation (the mean absolute move of a normal law).
    assert got.straddle / got.iv == pytest.approx(math.sqrt(2 / math.pi), rel=0.02)


def test_the_straddle_is_interpolated_in_strike_at_the_forward():
    k = np.array([95.0, 100.0, 105.0])
    assert straddle_at_forward(k, np.array([7.0, 4.0, 2.0]), np.array([1.0, 3.0, 6.0]),
                               102.0) == pytest.approx(7.0 + 0.4 * 1.0)
    assert straddle_at_forward(k, k, k, 94.0) is None


def test_served_chains_give_one_row_per_expiry_in_exchange_days():
    engine = Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=2, clock=FixedClock(START),
                    tick_interval=1.0, history=10)
    snap = engine.tick()["IDX"]
    rows = skew(snap)
    assert [r.expiry for r in rows] == list(snap.expiry_dates)
    assert [r.days for r in rows] == [(e - date(2026, 11, 25)).days for e in snap.expiry_dates]
    for row, chain in zip(rows, snap.chains, strict=True):
        fig = row.figures
        assert fig.atm_iv is not None and 0.05 < fig.atm_iv < 1.0
        # An equity index smile: puts richer than calls.
        assert fig.rr25 is not None and fig.rr25 < 0
        assert fig.expected_move.iv == pytest.approx(
            chain.spot * fig.atm_iv * math.sqrt(chain.time_to_expiry), rel=1e-14)
