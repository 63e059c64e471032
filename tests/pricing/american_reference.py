"""QuantLib QdFp reference Greeks of the options of test_american_boundary, stored with the
options themselves in ``data/american_greeks_reference.npz`` (computing them takes minutes;
the test reads them and recomputes a sample to show the file is QuantLib's output).

    python -m tests.pricing.american_reference

The options: chains of ten strikes of one side sharing days, rate and yield, 1,800 random and
200 within 0.1 % of the exercise boundary (placed on ours; the file keeps the spots, so the
reference does not move when our boundary does).

The Greeks are finite differences of QdFp's high-precision prices (near the boundary, where the
symmetric put's yield exceeds its rate, with its fixed-point system A: ``uses_fp_a``) that
never reach across the exercise boundary: a central stencil where its lower point still has
time value, else a one-sided one away from the boundary. Each is Richardson-extrapolated over
the steps h, h/2, h/4 and h/8 and stored with its own error estimate (``<greek>_error``: the
difference of the two extrapolations that agree best). Theta is -dV/dT at a fixed spot, from
QuantLib prices at the same expiry date and the rate, yield and variance rates of a maturity T
(1 + e) (for constant parameters V(T (1 + e); r, q, sigma) = V(T; r (1 + e), q (1 + e), sigma
sqrt(1 + e)): only r T, q T and sigma^2 T enter the price). Units: theta per calendar day,
vega per volatility point, as in :mod:`deltastream.pricing`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import QuantLib as ql

from deltastream.pricing import american

REFERENCE = Path(__file__).parent / "data" / "american_greeks_reference.npz"
TODAY = ql.Date(25, 11, 2026)
DC = ql.Actual365Fixed()
CHAIN = 10
N_RANDOM = 1800
N_NEAR = 200
GREEKS = ("delta", "gamma", "theta", "vega")
INPUTS = ("S", "K", "days", "r", "q", "sig", "call")
FIELDS = ("price", *GREEKS, *(f"{g}_error" for g in GREEKS), "exercised")
HALVINGS = 4                       # step sizes h, h/2, h/4, h/8
STEP_SCALES = (1.0, 1.0 / 3.0, 3.0)
# The reference's own error (its Richardson estimate), relative: a tenth of the test's
# tolerance; a step scale that misses it is replaced by the next.
REFERENCE_REL = 1e-4
# QuantLib's price in its exercise region, above the intrinsic value (quantlib_greeks).
EXERCISED_TIME_VALUE = 1e-8


class QdFp:
    """One QuantLib American option whose spot, rates and volatility can be moved; ``fp_a``
    solves the boundary by ALO's fixed-point system A instead of QuantLib's choice."""

    def __init__(self, K: float, days: int, call: bool, fp_a: bool = False,
                 scheme: ql.QdFpIterationScheme | None = None) -> None:
        ql.Settings.instance().evaluationDate = TODAY
        self.spot, self.r, self.q, self.vol = (ql.SimpleQuote(0.0) for _ in range(4))
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(self.spot),
            ql.YieldTermStructureHandle(ql.FlatForward(TODAY, ql.QuoteHandle(self.q), DC)),
            ql.YieldTermStructureHandle(ql.FlatForward(TODAY, ql.QuoteHandle(self.r), DC)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(TODAY, ql.NullCalendar(), ql.QuoteHandle(self.vol), DC)))
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, float(K))
        self.option = ql.VanillaOption(payoff, ql.AmericanExercise(TODAY, TODAY + int(days)))
        self.option.setPricingEngine(ql.QdFpAmericanEngine(
            process, scheme or ql.QdFpAmericanEngine.highPrecisionScheme(),
            ql.QdFpAmericanEngine.FP_A if fp_a else ql.QdFpAmericanEngine.Auto))

    def npv(self, S: float, r: float, q: float, sig: float) -> float:
        for quote, value in ((self.spot, S), (self.r, r), (self.q, q), (self.vol, sig)):
            quote.setValue(float(value))
        return float(self.option.NPV())


def _stencil(f: Callable[[float], float], h: float, f0: float, central: bool
             ) -> tuple[float, float]:
    """First and second derivative at 0 by steps of h: central, or one-sided upwards (both
    second order in h)."""
    if central:
        up, dn = f(h), f(-h)
        return (up - dn) / (2 * h), (up - 2 * f0 + dn) / (h * h)
    f1, f2, f3 = f(h), f(2 * h), f(3 * h)
    return (-3 * f0 + 4 * f1 - f2) / (2 * h), (2 * f0 - 5 * f1 + 4 * f2 - f3) / (h * h)


def _extrapolated(f: Callable[[float], float], h: float, f0: float, central: bool
                  ) -> tuple[float, float, float, float]:
    """(first, second derivative, their error estimates) from the stencils at h, h/2, h/4,
    h/8, Richardson-extrapolated pairwise: of the three extrapolations the adjacent two that
    agree best give the value (the one at the smaller steps) and the error estimate (their
    difference)."""
    cache: dict[float, float] = {0.0: f0}

    def g(e: float) -> float:
        if e not in cache:
            cache[e] = f(e)
        return cache[e]

    steps = [_stencil(g, h / 2**k, f0, central) for k in range(HALVINGS)]
    result = []
    for order in (0, 1):
        rich = [(4 * steps[k + 1][order] - steps[k][order]) / 3 for k in range(HALVINGS - 1)]
        best = min(range(len(rich) - 1), key=lambda k: abs(rich[k + 1] - rich[k]))
        result.append((rich[best + 1], abs(rich[best + 1] - rich[best])))
    return result[0][0], result[1][0], result[0][1], result[1][1]


def _derivatives(f: Callable[[float], float], h: float, f0: float,
                 held: Callable[[float, float], bool], orders: tuple[int, ...] = (0,)
                 ) -> tuple[float, float, float, float]:
    """First and second derivative at 0 of f with error estimates (``_extrapolated``), never
    from a point where ``held`` is false (the option exercised): central, else one-sided
    upwards. QdFp's price jumps by ~1e-9 at some points (its own scheme's switches): where
    the estimate for the derivatives ``orders`` asks for is worse than ``REFERENCE_REL``,
    the steps h/3 and 3h are tried and the best kept."""
    central = held(-h, f(-h))
    best: tuple[float, tuple[float, float, float, float]] | None = None
    for scale in STEP_SCALES:
        found = _extrapolated(f, h * scale, f0, central)
        worst = max(found[2 + k] / max(abs(found[k]), 1e-300) for k in orders)
        if best is None or worst < best[0]:
            best = (worst, found)
        if worst <= REFERENCE_REL:
            break
    assert best is not None
    return best[1]


def uses_fp_a(call: bool, r: float, q: float, near: bool) -> bool:
    """Whether the reference of an option solves QdFp's boundary by fixed-point system A:
    near the boundary where the symmetric put's yield exceeds its rate (a call with r > q, a
    put with q > r). There the high-precision scheme's default (system B) is off by up to
    1.3 % on vega and theta (8 of 33 such options beyond 1e-3), against the finer
    ``FINE_SCHEME``, which system A matches to 1e-4 on all of them (measured)."""
    return near and (r > q if call else q > r)


# A finer QdFp scheme (Chebyshev nodes, fixed-point iterations, integration points,
# tanh-sinh tolerance), ~10 times slower than the high-precision one: the check of the
# reference near the boundary.
FINE_SCHEME = (128, 64, 48, 1e-12)


def quantlib_greeks(S: float, K: float, days: int, r: float, q: float, sig: float,
                    call: bool, near: bool = False,
                    scheme: ql.QdFpIterationScheme | None = None) -> dict[str, float]:
    """Price, delta, gamma, theta (per day), vega (per point), their error estimates
    (``<greek>_error``, same units) and whether exercised.

    QuantLib's price in its exercise region exceeds the intrinsic value by up to ~3e-9 of
    the strike (measured: 1.1e-6 on a put of strike 366, 6 % inside its boundary), more than
    the time value of an option a few 1e-5 from the boundary: an option is taken as exercised
    below ``EXERCISED_TIME_VALUE`` of the strike, and ``near`` (an option known to be held,
    close to the boundary) takes every stencil one-sided, away from it (and the boundary
    by ``uses_fp_a``). ``scheme`` replaces the high-precision scheme (with QuantLib's choice
    of system)."""
    opt = QdFp(K, days, call, fp_a=scheme is None and uses_fp_a(call, r, q, near),
               scheme=scheme)
    T = days / 365.0

    def intrinsic(s: float) -> float:
        return max(s - K, 0.0) if call else max(K - s, 0.0)

    v0 = opt.npv(S, r, q, sig)
    if not near and intrinsic(S) > 0 and v0 - intrinsic(S) <= EXERCISED_TIME_VALUE * K:
        return dict(price=v0, delta=1.0 if call else -1.0, gamma=0.0, theta=0.0, vega=0.0,
                    exercised=True, delta_error=0.0, gamma_error=0.0, theta_error=0.0,
                    vega_error=0.0)

    def held_at(v: float, s: float = S) -> bool:
        return not near and v - intrinsic(s) > EXERCISED_TIME_VALUE * K

    away = -1.0 if call else 1.0   # the spot direction away from the exercise region
    delta, gamma, delta_err, gamma_err = _derivatives(
        lambda e: opt.npv(S + away * e, r, q, sig), 2e-4 * S, v0,
        lambda e, v: held_at(v, S + away * e), orders=(0, 1))
    vega, _, vega_err, _ = _derivatives(lambda e: opt.npv(S, r, q, sig + e), 1e-4, v0,
                                        lambda e, v: held_at(v))
    dv_dt, _, dv_dt_err, _ = _derivatives(
        lambda e: opt.npv(S, r * (1 + e), q * (1 + e), sig * math.sqrt(1 + e)), 1e-4, v0,
        lambda e, v: held_at(v))
    return dict(price=v0, delta=away * delta, gamma=gamma, theta=-dv_dt / T / 365.0,
                vega=vega / 100.0, exercised=False, delta_error=delta_err,
                gamma_error=gamma_err, theta_error=dv_dt_err / T / 365.0,
                vega_error=vega_err / 100.0)


def options() -> dict[str, np.ndarray]:
    """Chains of ten options of one side sharing days, rate and yield: 1,800 random, then
    200 within 0.1 % of their exercise boundary (ours)."""
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


def compute(o: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The reference of the options ``rows`` of ``o`` (rows from N_RANDOM on are near)."""
    ref = [quantlib_greeks(*(o[k][i].item() for k in INPUTS), near=bool(i >= N_RANDOM))
           for i in rows]
    return {k: np.array([x[k] for x in ref]) for k in FIELDS}


def main(workers: int = 2) -> None:
    o = options()
    chunks = np.array_split(np.arange(N_RANDOM + N_NEAR), 8 * workers)
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(compute, [o] * len(chunks), chunks))
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, **o,
                        **{k: np.concatenate([p[k] for p in parts]) for k in FIELDS})


if __name__ == "__main__":
    main()
