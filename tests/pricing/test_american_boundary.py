"""American Greeks near and inside the exercise region, against QuantLib's QdFp engine.

2,000 options in chains of ten strikes sharing maturity, rate and yield (the engine's batches,
priced on the shared boundary tables), 200 of them within 0.1 % of their exercise boundary;
the same options one at a time (each on a boundary of its own) must agree too.

The reference Greeks are finite differences of QuantLib's QdFp high-precision prices that,
like ours, never reach across the exercise boundary: a central stencil where its lower point
still has time value, else a one-sided one away from the boundary. Theta is -dV/dT at a fixed
spot, from QuantLib prices at the same expiry date and the rate, yield and variance rates of a
maturity T (1 +- e) (for constant parameters V(T (1 + e); r, q, sigma) =
V(T; r (1 + e), q (1 + e), sigma sqrt(1 + e)): only r T, q T and sigma^2 T enter the price).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql

from deltastream.core.types import IVStatus
from deltastream.pricing import american

TODAY = ql.Date(25, 11, 2026)
DC = ql.Actual365Fixed()
CHAIN = 10
N_RANDOM = 1800
N_NEAR = 200
GREEKS = ("delta", "gamma", "theta", "vega")
REL, ABS = 1e-3, 1e-6


class QdFp:
    """One QuantLib American option whose spot, rates and volatility can be moved."""

    def __init__(self, K: float, days: int, call: bool) -> None:
        ql.Settings.instance().evaluationDate = TODAY
        self.spot, self.r, self.q, self.vol = (ql.SimpleQuote(0.0) for _ in range(4))
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(self.spot),
            ql.YieldTermStructureHandle(ql.FlatForward(TODAY, ql.QuoteHandle(self.q), DC)),
            ql.YieldTermStructureHandle(ql.FlatForward(TODAY, ql.QuoteHandle(self.r), DC)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(TODAY, ql.NullCalendar(), ql.QuoteHandle(self.vol), DC)))
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, K)
        self.option = ql.VanillaOption(payoff, ql.AmericanExercise(TODAY, TODAY + days))
        self.option.setPricingEngine(
            ql.QdFpAmericanEngine(process, ql.QdFpAmericanEngine.highPrecisionScheme()))

    def npv(self, S: float, r: float, q: float, sig: float) -> float:
        for quote, value in ((self.spot, S), (self.r, r), (self.q, q), (self.vol, sig)):
            quote.setValue(float(value))
        return self.option.NPV()


def _derivatives(f, h: float, f0: float, held) -> tuple[float, float]:
    """First and second derivative at 0 of f by steps of h, never at a point where ``held``
    is false (the option exercised): central, else one-sided upwards."""
    dn = f(-h)
    if held(-h, dn):
        up = f(h)
        return (up - dn) / (2 * h), (up - 2 * f0 + dn) / (h * h)
    f1, f2, f3 = f(h), f(2 * h), f(3 * h)
    return (-3 * f0 + 4 * f1 - f2) / (2 * h), (2 * f0 - 5 * f1 + 4 * f2 - f3) / (h * h)


def quantlib_greeks(S, K, days, r, q, sig, call, near=False) -> dict[str, float]:
    """Value, delta, gamma, theta (per day), vega (per point) and whether exercised.

    QuantLib's price in its exercise region exceeds the intrinsic value by up to ~1e-7, more
    than the time value of an option a few 1e-5 from the boundary: ``near`` (an option known
    to be held, close to the boundary) takes every stencil one-sided, away from it."""
    opt = QdFp(K, days, call)
    T = days / 365.0

    def intrinsic(s):
        return max(s - K, 0.0) if call else max(K - s, 0.0)

    v0 = opt.npv(S, r, q, sig)
    if not near and intrinsic(S) > 0 and v0 - intrinsic(S) <= 1e-9 * K:
        return dict(price=v0, delta=1.0 if call else -1.0, gamma=0.0, theta=0.0, vega=0.0,
                    exercised=True)

    def held_at(v, s=S):
        return not near and v - intrinsic(s) > 1e-9 * K

    away = -1.0 if call else 1.0   # the spot direction away from the exercise region
    delta, gamma = _derivatives(lambda e: opt.npv(S + away * e, r, q, sig), 1e-4 * S, v0,
                                lambda e, v: held_at(v, S + away * e))
    vega, _ = _derivatives(lambda e: opt.npv(S, r, q, sig + e), 1e-4, v0,
                           lambda e, v: held_at(v))
    dv_dt, _ = _derivatives(
        lambda e: opt.npv(S, r * (1 + e), q * (1 + e), sig * math.sqrt(1 + e)), 1e-4, v0,
        lambda e, v: held_at(v))
    return dict(price=v0, delta=away * delta, gamma=gamma, theta=-dv_dt / T / 365.0,
                vega=vega / 100.0, exercised=False)


def options() -> dict[str, np.ndarray]:
    """Chains of ten options of one side sharing days, rate and yield: 1,800 random, then
    200 within 0.1 % of their exercise boundary."""
    rng = np.random.default_rng(1515)
    n = N_RANDOM + N_NEAR
    chains = n // CHAIN

    def per_chain(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, CHAIN)

    days = per_chain(rng.integers(2, 731, chains))
    r = per_chain(rng.uniform(0.0, 0.08, chains))
    q = per_chain(rng.uniform(0.0, 0.03, chains))
    call = per_chain(rng.random(chains) < 0.5)
    K = rng.uniform(50, 500, n)
    sig = rng.uniform(0.05, 1.0, n)
    S = K / rng.uniform(0.5, 1.5, n)
    # The near ones: early exercise possible (a put at r > 0, a call at q > 0), the spot a
    # fraction 1e-4 to 1e-3 of the boundary on the held side.
    near = slice(N_RANDOM, n)
    near_chains = N_NEAR // CHAIN
    r[near] = per_chain(rng.uniform(0.005, 0.08, near_chains))
    q[near] = per_chain(rng.uniform(0.005, 0.03, near_chains))
    boundary = american.exercise_boundary(K[near], days[near] / 365.0, r[near], q[near],
                                          sig[near], call[near])
    gap = 10.0 ** rng.uniform(-4, -3, N_NEAR)
    S[near] = np.where(call[near], boundary / (1 + gap), boundary * (1 + gap))
    return dict(S=S, K=K, days=days, r=r, q=q, sig=sig, call=call)


def _inputs(o: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    return o["S"], o["K"], o["days"] / 365.0, o["r"], o["q"], o["sig"], o["call"]


@pytest.fixture(scope="module")
def compared():
    from tests.pricing.american_reference import REFERENCE
    o = options()
    batch = american.greeks(*_inputs(o), second_order=False)
    alone = [american.greeks(*(a[i] for a in _inputs(o)), second_order=False)
             for i in range(len(o["S"]))]
    ours = {"batch": {k: getattr(batch, k) for k in GREEKS},
            "alone": {k: np.array([float(getattr(g, k)) for g in alone]) for k in GREEKS}}
    with np.load(REFERENCE) as ref:
        return o, ours, {k: ref[k] for k in ref.files}


def test_the_stored_reference_is_quantlibs(compared):
    # A sample recomputed with QuantLib (all of them take minutes): the stored file is its
    # output for these options, near ones included.
    from tests.pricing.american_reference import compute
    _, _, ref = compared
    rows = np.r_[np.arange(0, N_RANDOM, 97), np.arange(N_RANDOM, N_RANDOM + N_NEAR, 23)]
    fresh = compute(rows)
    for name, values in fresh.items():
        np.testing.assert_allclose(values, ref[name][rows], rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def _disagreeing(got: np.ndarray, want: np.ndarray) -> list[tuple[int, float, float]]:
    err = np.abs(got - want)
    bad = np.flatnonzero(~((err <= REL * np.abs(want)) | (err <= ABS)))
    return [(int(i), float(got[i]), float(want[i])) for i in bad]


# Options that still miss 1e-3 (the count may only fall): one of the random ones (1295: a
# put at 7 % volatility, two years, r = 7 %, whose boundary the fixed-point scheme does not
# converge, 0.005 off QuantLib's price, as before the shared tables) and, near the
# boundary, vega (analytical, mostly 0.2-2 % off QuantLib's one-sided difference), some
# gammas and thetas (a few where QuantLib's own differences are negative: its exercise-region
# noise, or where one side exercises and the other keeps a time value below 1e-9). "alone"
# (each option on a boundary of its own) takes vega as a volatility difference, and theta from
# the Black-Scholes equation, which miss more.
KNOWN_MISSES = {
    ("random", "batch"): {"delta": 1, "gamma": 1, "theta": 1, "vega": 3},
    ("random", "alone"): {"delta": 1, "gamma": 1, "theta": 2, "vega": 17},
    ("near", "batch"): {"delta": 0, "gamma": 14, "theta": 6, "vega": 124},
    ("near", "alone"): {"delta": 0, "gamma": 15, "theta": 57, "vega": 145},
}


@pytest.mark.parametrize("path", ("batch", "alone"))
@pytest.mark.parametrize("name", GREEKS)
def test_greeks_agree_with_quantlib_finite_differences(compared, path, name):
    _, ours, ref = compared
    bad = _disagreeing(ours[path][name][:N_RANDOM], ref[name][:N_RANDOM])
    assert len(bad) <= KNOWN_MISSES["random", path][name], (len(bad), bad[:5])


@pytest.mark.parametrize("path", ("batch", "alone"))
@pytest.mark.parametrize("name", GREEKS)
def test_greeks_within_a_tenth_of_a_percent_of_the_boundary(compared, path, name):
    _, ours, ref = compared
    bad = _disagreeing(ours[path][name][N_RANDOM:], ref[name][N_RANDOM:])
    assert len(bad) <= KNOWN_MISSES["near", path][name], (len(bad), bad[:5])


def test_the_random_options_include_exercised_ones(compared):
    _, ours, ref = compared
    exercised = ref["exercised"][:N_RANDOM]
    assert exercised.sum() >= 50
    assert np.all(ours["batch"]["gamma"][:N_RANDOM][exercised] == 0.0)


def test_the_issue_example_no_longer_bumps_across_the_boundary():
    # AAPL 2026-12-11 put 212.5 at spot 195.18, 7 days, 26.8 % volatility: a central spot
    # stencil of 0.1 % reaches into the exercise region; QuantLib's gamma and theta hold.
    S, K, days, r, q, sig = 195.18, 212.5, 7, 0.036, 0.004, 0.268
    g = american.greeks(S, K, days / 365.0, r, q, sig, False, second_order=False)
    ref = quantlib_greeks(S, K, days, r, q, sig, False)
    boundary = american.exercise_boundary(K, days / 365.0, r, q, sig, False)
    assert S * (1 - 1e-3) < boundary < S
    assert ref["gamma"] == pytest.approx(5.21e-3, rel=1e-3)
    for name in GREEKS:
        assert float(getattr(g, name)) == pytest.approx(ref[name], rel=REL, abs=ABS), name


def test_exercise_region_greeks_and_status():
    # Deep in the money at a high rate: exercising now beats holding.
    S = np.array([60.0, 300.0])
    K = np.array([100.0, 200.0])
    call = np.array([False, True])
    T, r, q, sig = 0.5, 0.08, np.array([0.0, 0.08]), 0.2
    boundary = american.exercise_boundary(K, T, r, q, sig, call)
    assert S[0] < boundary[0] and S[1] > boundary[1]
    g = american.greeks(S, K, T, r, q, sig, call)
    np.testing.assert_array_equal(g.price, [40.0, 100.0])
    np.testing.assert_array_equal(g.delta, [-1.0, 1.0])
    for name in ("gamma", "theta", "vega", "rho", "vanna", "volga", "charm"):
        np.testing.assert_array_equal(getattr(g, name), 0.0, err_msg=name)
    # The value is the intrinsic one at the neighbouring maturities too, so theta (-dV/dT) is
    # 0: QuantLib's price does not move with the expiry either.
    for i in range(2):
        for days in (175, 182, 189):
            opt = QdFp(float(K[i]), days, bool(call[i]))
            assert opt.npv(S[i], r, q[i], sig) == pytest.approx(g.price[i], abs=1e-6)
    iv, status = american.implied_vol(g.price, S, K, T, r, q, call)
    assert np.all(np.isnan(iv))
    assert list(status) == [IVStatus.EARLY_EXERCISE] * 2
    assert IVStatus.EARLY_EXERCISE.label == "early_exercise"


def test_no_time_value_without_early_exercise_keeps_its_status():
    # A deep call on a stock paying nothing is never exercised early: a price at intrinsic
    # is not an exercise, it is below the forward's value.
    iv, status = american.implied_vol(50.0, 150.0, 100.0, 0.5, 0.05, 0.0, True)
    assert np.isnan(iv) and status == IVStatus.NO_TIME_VALUE
