"""American options: the exercise boundary by fixed-point iteration, then the premium.

Method (Andersen, Lake and Offengenheim, "High-performance American option pricing", 2016):
for a put, the early-exercise boundary ``B(tau)`` (tau = time to maturity) solves the
smooth-pasting fixed-point system

    B(tau) = K exp(-(r - q) tau) N(tau, B) / D(tau, B)
    N = phi(d-(tau, B/K)) / (sigma sqrt tau)
        + r  int_0^tau e^{r u} phi(d-(tau-u, B(tau)/B(u))) / (sigma sqrt(tau-u)) du
    D = phi(d+(tau, B/K)) / (sigma sqrt tau) + N(d+(tau, B/K))
        + q  int_0^tau e^{q u} [N(d+(tau-u, .)) + phi(d+(tau-u, .)) / (sigma sqrt(tau-u))] du

with ``d+-(tau, z) = (ln z + (r - q) tau +- sigma^2 tau / 2) / (sigma sqrt tau)``. The boundary
is represented by Chebyshev interpolation of ``H = ln(B/X)^2`` in ``sqrt(tau)`` (``X`` its limit
at expiry, ``K min(1, r/q)``), which is smooth where ``B`` itself has a square-root-log
singularity; the integrals use Gauss-Legendre after ``tau - u = tau (1 + y)^2 / 4``, which
removes the ``1/sqrt(tau - u)`` singularity. The value is the European price plus the
early-exercise premium

    int_0^T [r K e^{-r(T-u)} N(-d-(T-u, S/B(u))) - q S e^{-q(T-u)} N(-d+(T-u, S/B(u)))] du.

Calls follow from puts by McDonald-Schroder symmetry, C(S, K, r, q) = P(K, S, q, r). A put with
r <= 0 (a call with q <= 0) is never exercised early and is priced as European.

Inputs, units and Greeks as in :mod:`deltastream.pricing`; Greeks are finite differences of
the held value (bumps stated in :func:`greeks`) whose stencils never reach into the exercise
region, and near the boundary they come from a finer scheme. In the exercise region the value
is the intrinsic one: delta -1 (put) or +1 (call), every other Greek 0 (theta included: see
:func:`_exercised_greeks`); the implied-volatility solver reports such a price as
``EARLY_EXERCISE``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import ArrayLike

from ..core import types as ivs
from ._arrays import broadcast_flat, run_kernel, shaped
from ._special import norm_cdf, norm_pdf
from .black_scholes_merton import (
    DAYS_PER_YEAR,
    N_FIRST_ORDER,
    N_GREEKS,
    PERCENT,
    Greeks,
    bsm_greeks_scalar,
    bsm_price_scalar,
)
from .implied_vol import GUESS_TABLE, iv_scalar

# Scheme: Chebyshev nodes for the boundary, fixed-point iterations, Legendre nodes for the
# boundary integrals and for the premium integral.
N_NODES = 5
N_ITERATIONS = 4
N_LEGENDRE = 8
N_PREMIUM = 24
# The Greeks of an option near its exercise boundary (the log-distance of the spot from it
# under NEAR_BOUNDARY standard deviations of the log-spot at expiry) come from a finer scheme:
# there gamma and theta depend on the boundary's exact place, which the coarse scheme knows to
# a few parts in 10^6 of the strike only. Few options of a chain are that near.
NEAR_BOUNDARY = 1.0
N_NODES_FINE = 12
N_ITERATIONS_FINE = 8
N_LEGENDRE_FINE = 24
N_PREMIUM_FINE = 48

# Each American option costs microseconds, so threads pay off on small batches already.
PARALLEL_MIN_SIZE = 64

_Y, _W = np.polynomial.legendre.leggauss(N_LEGENDRE)
_YP, _WP = np.polynomial.legendre.leggauss(N_PREMIUM)
_YF, _WF = np.polynomial.legendre.leggauss(N_LEGENDRE_FINE)
_YPF, _WPF = np.polynomial.legendre.leggauss(N_PREMIUM_FINE)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _clenshaw(coef: np.ndarray, x: float) -> float:
    b1 = 0.0
    b2 = 0.0
    for k in range(coef.shape[0] - 1, 0, -1):
        b1, b2 = 2.0 * x * b1 - b2 + coef[k], b1
    return x * b1 - b2 + coef[0]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _chebyshev_coefficients(values: np.ndarray, coef: np.ndarray) -> None:
    # Interpolation on the Chebyshev-Lobatto points x_i = cos(i pi / n); the first and last
    # coefficients are halved so that plain Clenshaw evaluates the interpolant.
    n = values.shape[0] - 1
    for k in range(n + 1):
        acc = 0.0
        for i in range(n + 1):
            term = values[i] * math.cos(k * i * math.pi / n)
            acc += 0.5 * term if (i == 0 or i == n) else term
        coef[k] = acc * 2.0 / n
    coef[0] *= 0.5
    coef[n] *= 0.5


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _boundary_at(coef: np.ndarray, u: float, T: float, X: float) -> float:
    x = 2.0 * math.sqrt(max(u, 0.0) / T) - 1.0
    h = max(_clenshaw(coef, x), 0.0)
    return X * math.exp(-math.sqrt(h))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unit_put_boundary(T: float, r: float, q: float, sig: float, yl: np.ndarray, wl: np.ndarray,
                       coef: np.ndarray, iterations: int) -> float:
    """Exercise boundary of a unit-strike put (r > 0) into ``coef`` (one coefficient per
    Chebyshev node); returns its limit X.

    The boundary scales with the strike, so one solve serves every spot and strike with the
    same T, r, q and sigma.
    """
    X = min(1.0, r / q) if q > 0.0 else 1.0
    n = coef.shape[0] - 1
    # Nodes in sqrt(tau): tau_i = T ((1 + x_i) / 2)^2 with x_i = cos(i pi / n).
    taus = np.empty(n + 1)
    for i in range(n + 1):
        taus[i] = T * (0.5 * (1.0 + math.cos(i * math.pi / n))) ** 2
    # Initial guess: Barone-Adesi-Whaley-style interpolation between X and the perpetual
    # boundary; the fixed-point iterations then converge from it.
    s2 = sig * sig
    m_ = r - q - 0.5 * s2
    lam = (-m_ - math.sqrt(m_ * m_ + 2.0 * s2 * r)) / s2
    b_inf = min(lam / (lam - 1.0), X * (1.0 - 1e-12))
    H = np.empty(n + 1)
    for i in range(n + 1):
        t = taus[i]
        h = ((r - q) * t - 2.0 * sig * math.sqrt(t)) * X / (X - b_inf)
        H[i] = math.log((b_inf + (X - b_inf) * math.exp(h)) / X) ** 2
    _chebyshev_coefficients(H, coef)
    for _ in range(iterations):
        for i in range(n):  # node n is tau = 0, where B = X
            tau = taus[i]
            b_tau = _boundary_at(coef, tau, T, X)
            st = math.sqrt(tau)
            sst = sig * st
            dp = (math.log(b_tau) + (r - q) * tau) / sst + 0.5 * sst
            dm = dp - sst
            n_int = 0.0
            d_phi = 0.0
            d_cdf = 0.0
            for j in range(yl.shape[0]):
                y = yl[j]
                v = tau * 0.25 * (1.0 + y) * (1.0 + y)     # tau - u
                u = tau - v
                sv = sig * math.sqrt(v)
                ep = (math.log(b_tau / _boundary_at(coef, u, T, X)) + (r - q) * v) / sv + 0.5 * sv
                equ = math.exp(q * u)
                n_int += wl[j] * math.exp(r * u) * norm_pdf(ep - sv)
                d_phi += wl[j] * equ * norm_pdf(ep)
                d_cdf += wl[j] * equ * norm_cdf(ep) * 0.5 * (1.0 + y)
            num = norm_pdf(dm) / sst + r * st / sig * n_int
            den = norm_pdf(dp) / sst + norm_cdf(dp) + q * (st / sig * d_phi + tau * d_cdf)
            b_new = min(max(math.exp(-(r - q) * tau) * num / den, 1e-12 * X), X)
            H[i] = math.log(b_new / X) ** 2
        H[n] = 0.0
        _chebyshev_coefficients(H, coef)
    return X


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unit_put_value(x: float, T: float, r: float, q: float, sig: float, coef: np.ndarray,
                    X: float, yp: np.ndarray, wp: np.ndarray) -> float:
    """American put of unit strike at spot ``x``: European value plus the exercise premium."""
    b = _boundary_at(coef, T, T, X)
    if x <= b:
        return 1.0 - x
    euro = bsm_price_scalar(x, 1.0, T, r, q, sig, False)
    premium = _unit_premium(x, T, r, q, sig, coef, X, yp, wp, _premium_split(x, b, T, sig))
    return max(euro + max(premium, 0.0), 1.0 - x)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _premium_split(x: float, b: float, T: float, sig: float) -> float:
    # Near the boundary the premium's integrand steps from 0 at T - u of the order of
    # (ln(x / b) / sigma)^2, a sliver of sqrt(T - u) that the Legendre nodes of the whole
    # interval miss: a panel of its own, [0, twice that], resolves it.
    # (A split of 1 or more is the whole interval.)
    return 2.0 * math.log(x / b) / (sig * math.sqrt(T))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unit_premium(x: float, T: float, r: float, q: float, sig: float, coef: np.ndarray,
                  X: float, yp: np.ndarray, wp: np.ndarray, split: float) -> float:
    """Early-exercise premium of the unit-strike put at spot ``x`` (the integral above), by
    Gauss-Legendre in ``s = sqrt((T - u) / T)`` on [0, 1], or, when ``0 < split < 1``, on the
    panels [0, split], [split, 4 split], [4 split, 16 split], ... up to 1 (graded, so that
    the step of the integrand is resolved at every spot of a stencil near the boundary)."""
    premium = 0.0
    a = 0.0
    c = split if 0.0 < split < 1.0 else 1.0
    while a < 1.0:
        for j in range(yp.shape[0]):
            s = a + (c - a) * 0.5 * (1.0 + yp[j])
            v = T * s * s   # T - u
            sv = sig * math.sqrt(v)
            ep = (math.log(x / _boundary_at(coef, T - v, T, X)) + (r - q) * v) / sv + 0.5 * sv
            f = (r * math.exp(-r * v) * norm_cdf(sv - ep)
                 - q * x * math.exp(-q * v) * norm_cdf(-ep))
            premium += wp[j] * f * T * s * (c - a)   # dv = 2 T s ds, ds = (c - a) / 2 dy
        a, c = c, min(4.0 * c, 1.0)
    return premium


@numba.njit(cache=True, nogil=True, error_model="numpy")
def american_price_scalar(S: float, K: float, T: float, r: float, q: float, sig: float,
                          call: bool, yl: np.ndarray, wl: np.ndarray, yp: np.ndarray,
                          wp: np.ndarray) -> float:
    euro = bsm_price_scalar(S, K, T, r, q, sig, call)
    if not math.isfinite(euro) or T == 0.0:
        return euro
    intrinsic = max(S - K, 0.0) if call else max(K - S, 0.0)
    # Put-call symmetry: a call is a put with spot and strike, rate and yield swapped.
    ps, pk, pr, pq = (K, S, q, r) if call else (S, K, r, q)
    if pr <= 0.0 or sig * math.sqrt(T) < 1e-8:
        # Never exercised early, or deterministic: exercise now or hold, whichever is worth
        # more.
        return max(euro, intrinsic)
    coef = np.empty(N_NODES + 1)
    X = _unit_put_boundary(T, pr, pq, sig, yl, wl, coef, N_ITERATIONS)
    if ps / pk <= _boundary_at(coef, T, T, X):
        return intrinsic  # exercise now: exactly the intrinsic value
    return max(pk * _unit_put_value(ps / pk, T, pr, pq, sig, coef, X, yp, wp), intrinsic)
@numba.njit(cache=True, nogil=True, error_model="numpy")
def _price_loop(S, K, T, r, q, sig, call, yl, wl, yp, wp, out):
    for i in range(out.shape[0]):
        out[i] = american_price_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i],
                                       yl, wl, yp, wp)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _price_loop_parallel(S, K, T, r, q, sig, call, yl, wl, yp, wp, out):
    for i in numba.prange(out.shape[0]):
        out[i] = american_price_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i],
                                       yl, wl, yp, wp)


def price(spot: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
          dividend_yield: ArrayLike, vol: ArrayLike, is_call: ArrayLike) -> np.ndarray:
    """American option value in currency units."""
    shape, (S, K, T, r, q, sig, call) = broadcast_flat(
        spot, strike, time, rate, dividend_yield, vol, is_call)
    out = np.empty(S.shape[0])
    run_kernel(_price_loop, _price_loop_parallel, out.shape[0], S, K, T, r, q, sig, call,
               _Y, _W, _YP, _WP, out, min_size=PARALLEL_MIN_SIZE)
    return shaped(out, shape)


# Finite-difference steps: relative spot bump (the boundary is reused, so these are cheap),
# absolute volatility and rate bumps (each re-solves the boundary). A stencil never reaches
# into the exercise region: where the central one would, it is one-sided, away from it.
SPOT_BUMP = 1e-3
VOL_BUMP = 1e-4
RATE_BUMP = 1e-4


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unit_put_held(x: float, T: float, r: float, q: float, sig: float, coef: np.ndarray,
                   X: float, yp: np.ndarray, wp: np.ndarray, split: float) -> float:
    """Value of holding the unit-strike put at ``x``: European value plus the premium, with
    no floor at the intrinsic value, so that it is smooth in ``x`` for finite differences."""
    return (bsm_price_scalar(x, 1.0, T, r, q, sig, False)
            + _unit_premium(x, T, r, q, sig, coef, X, yp, wp, split))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unit_derivatives(x: float, b: float, u0: float, T: float, r: float, q: float, sig: float,
                      coef: np.ndarray, X: float, yp: np.ndarray, wp: np.ndarray, split: float,
                      with_speed: bool) -> tuple[float, float, float]:
    """First three spot derivatives of the held unit-strike put (value ``u0``) at ``x`` above
    its boundary ``b``; the third is NaN unless ``with_speed``.

    Central differences where the stencil stays above ``b``; otherwise one-sided upwards
    (second-order accurate as well), so that no point lies in the exercise region, where the
    value is the intrinsic one and its kink would enter gamma.
    """
    h = SPOT_BUMP * x
    if x - (2.0 if with_speed else 1.0) * h > b:
        up = _unit_put_held(x + h, T, r, q, sig, coef, X, yp, wp, split)
        um = _unit_put_held(x - h, T, r, q, sig, coef, X, yp, wp, split)
        d1 = (up - um) / (2 * h)
        d2 = (up - 2 * u0 + um) / (h * h)
        if not with_speed:
            return d1, d2, math.nan
        up2 = _unit_put_held(x + 2 * h, T, r, q, sig, coef, X, yp, wp, split)
        um2 = _unit_put_held(x - 2 * h, T, r, q, sig, coef, X, yp, wp, split)
        return d1, d2, (up2 - 2 * up + 2 * um - um2) / (2 * h * h * h)
    # Near the boundary the value bends fast: the one-sided stencil, whose error is some
    # ten times the central one's, takes a tenth of the step.
    h = 0.1 * h
    u1 = _unit_put_held(x + h, T, r, q, sig, coef, X, yp, wp, split)
    u2 = _unit_put_held(x + 2 * h, T, r, q, sig, coef, X, yp, wp, split)
    u3 = _unit_put_held(x + 3 * h, T, r, q, sig, coef, X, yp, wp, split)
    d1 = (-3 * u0 + 4 * u1 - u2) / (2 * h)
    d2 = (2 * u0 - 5 * u1 + 4 * u2 - u3) / (h * h)
    if not with_speed:
        return d1, d2, math.nan
    u4 = _unit_put_held(x + 4 * h, T, r, q, sig, coef, X, yp, wp, split)
    return d1, d2, (-5 * u0 + 18 * u1 - 24 * u2 + 14 * u3 - 3 * u4) / (2 * h * h * h)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _spot_greeks(S: float, K: float, T: float, r: float, q: float, sig: float, call: bool,
                 scheme: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], nodes: int,
                 iterations: int, order: int, split: float
                 ) -> tuple[float, float, float, float, bool, float]:
    """(value, delta, gamma, speed, exercised, split) of an American option whose early
    exercise matters, by the boundary scheme given (Legendre nodes and weights of the
    boundary and premium integrals, Chebyshev nodes, iterations).

    ``order`` 0: the value only (the derivatives NaN); 2: with delta and gamma; 3: with speed
    as well. ``exercised``: the spot is in the exercise region, where the value is the
    intrinsic one and the derivatives are not computed. ``split`` is the premium panel (see
    :func:`_unit_premium`); negative, it is chosen for this option and returned, so that the
    bumped options of one option's Greeks share its quadrature.
    """
    yl, wl, yp, wp = scheme
    ps, pk, pr, pq = (K, S, q, r) if call else (S, K, r, q)
    coef = np.empty(nodes + 1)
    X = _unit_put_boundary(T, pr, pq, sig, yl, wl, coef, iterations)
    x = ps / pk
    b = _boundary_at(coef, T, T, X)
    intrinsic = max(S - K, 0.0) if call else max(K - S, 0.0)
    if x <= b:
        return intrinsic, math.nan, math.nan, math.nan, True, split
    if split < 0.0:
        # From the stencil's lowest spot: the one-sided stencil starts at x.
        low = x * (1.0 - 2.0 * SPOT_BUMP)
        split = _premium_split(low if low > b else x, b, T, sig)
    u0 = _unit_put_held(x, T, pr, pq, sig, coef, X, yp, wp, split)
    # The held value can fall a rounding error under the intrinsic one just above the
    # boundary: exercising is then at least as good, as price() decides.
    if x < 1.0 and u0 <= 1.0 - x:
        return intrinsic, math.nan, math.nan, math.nan, True, split
    if order == 0:
        return pk * u0, math.nan, math.nan, math.nan, False, split
    u1, u2, u3 = _unit_derivatives(x, b, u0, T, pr, pq, sig, coef, X, yp, wp, split,
                                   order == 3)
    if not call:
        return K * u0, u1, u2 / K, u3 / (K * K), False, split
    # C(S) = S u(K/S): differentiate through x = K/S.
    return (S * u0, u0 - x * u1, x * x * u2 / S, -x * x * (3 * u2 + x * u3) / (S * S), False,
            split)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _first(f0: float, f1: float, f2: float, step: float) -> float:
    # d/dp from values at p, p + s1, p + s2: central (s1 = step < 0, s2 = -step) or
    # one-sided (s1 = step > 0, s2 = 2 step), both second-order accurate.
    if step < 0.0:
        return (f2 - f1) / (-2.0 * step)
    return (-3.0 * f0 + 4.0 * f1 - f2) / (2.0 * step)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _second(f0: float, f1: float, f2: float, step: float) -> float:
    # d2/dp2 from the same stencils (the one-sided one first-order accurate).
    if step < 0.0:
        return (f1 - 2.0 * f0 + f2) / (step * step)
    return (f0 - 2.0 * f1 + f2) / (step * step)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def american_greeks_scalar(S: float, K: float, T: float, r: float, q: float, sig: float,
                           call: bool, yl: np.ndarray, wl: np.ndarray, yp: np.ndarray,
                           wp: np.ndarray, fine: tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray],
                           out: np.ndarray, i: int) -> None:
    """Price and Greeks of one American option into ``out[:, i]`` (order of ``Greeks``; the
    first-order ones only when ``out`` has ``N_FIRST_ORDER`` rows). ``fine`` holds the
    Legendre nodes and weights of the scheme used near the boundary."""
    bsm_greeks_scalar(S, K, T, r, q, sig, call, out, i)
    second = out.shape[0] > N_FIRST_ORDER
    if not math.isfinite(out[0, i]) or T == 0.0:
        return
    intrinsic = max(S - K, 0.0) if call else max(K - S, 0.0)
    pr = q if call else r
    if pr <= 0.0 or sig * math.sqrt(T) < 1e-8:
        # European Greeks, unless exercising now is worth more.
        if intrinsic > out[0, i]:
            _exercised_greeks(intrinsic, call, out, i)
        return
    order = 3 if second else 2
    scheme = (yl, wl, yp, wp)
    nodes, iterations = N_NODES, N_ITERATIONS
    value, delta, gamma, speed, exercised, split = _spot_greeks(
        S, K, T, r, q, sig, call, scheme, nodes, iterations, order, -1.0)
    coarse_value, coarse_exercised = value, exercised
    if split < 2.0 * NEAR_BOUNDARY:
        # Near the boundary (split is twice the distance to it in standard deviations).
        scheme = fine
        nodes, iterations = N_NODES_FINE, N_ITERATIONS_FINE
        value, delta, gamma, speed, exercised, split = _spot_greeks(
            S, K, T, r, q, sig, call, scheme, nodes, iterations, order, -1.0)
    if exercised:
        _exercised_greeks(intrinsic, call, out, i)
        return
    # Vega: volatility steps down and up, or, where the lower volatility puts the spot in the
    # exercise region (its boundary is further from the strike), two steps up (a higher
    # volatility only moves the boundary away). Vanna and volga need the bumped spot
    # derivatives too.
    bumped = 3 if second else 0
    lo = _spot_greeks(S, K, T, r, q, sig - VOL_BUMP, call, scheme, nodes, iterations, bumped,
                      split)
    hi = _spot_greeks(S, K, T, r, q, sig + VOL_BUMP, call, scheme, nodes, iterations, bumped,
                      split)
    step = -VOL_BUMP
    if lo[4]:
        lo, step = hi, VOL_BUMP
        hi = _spot_greeks(S, K, T, r, q, sig + 2 * VOL_BUMP, call, scheme, nodes, iterations,
                          bumped, split)
    # Rho: the same, away from the side whose rate puts the spot in the exercise region (a
    # higher rate for a put, a lower one for a call); differences of price() itself (rho has
    # no finer reference to meet).
    r_lo = american_price_scalar(S, K, T, r - RATE_BUMP, q, sig, call, yl, wl, yp, wp)
    r_hi = american_price_scalar(S, K, T, r + RATE_BUMP, q, sig, call, yl, wl, yp, wp)
    if coarse_exercised:
        rho = 0.0
    elif r_hi <= intrinsic < r_lo:
        r_far = american_price_scalar(S, K, T, r - 2 * RATE_BUMP, q, sig, call, yl, wl, yp, wp)
        rho = -_first(coarse_value, r_lo, r_far, RATE_BUMP)
    elif r_lo <= intrinsic < r_hi:
        r_far = american_price_scalar(S, K, T, r + 2 * RATE_BUMP, q, sig, call, yl, wl, yp, wp)
        rho = _first(coarse_value, r_hi, r_far, RATE_BUMP)
    else:
        rho = (r_hi - r_lo) / (2 * RATE_BUMP)
    out[0, i] = value
    out[1, i] = min(max(delta, 0.0), 1.0) if call else min(max(delta, -1.0), 0.0)
    out[2, i] = gamma
    # Where the option is held, the Black-Scholes equation gives theta and charm from the
    # spot derivatives.
    v2 = sig * sig
    out[3, i] = (r * value - (r - q) * S * delta - 0.5 * v2 * S * S * gamma) / DAYS_PER_YEAR
    out[4, i] = _first(value, lo[0], hi[0], step) * PERCENT
    out[5, i] = rho * PERCENT
    if not second:
        return
    out[8, i] = (r * delta - (r - q) * (delta + S * gamma) - v2 * S * gamma
                 - 0.5 * v2 * S * S * speed) / DAYS_PER_YEAR
    out[6, i] = _first(delta, lo[1], hi[1], step) * PERCENT
    out[7, i] = _second(value, lo[0], hi[0], step) * PERCENT * PERCENT


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _exercised_greeks(intrinsic: float, call: bool, out: np.ndarray, i: int) -> None:
    """An option in the exercise region is worth its intrinsic value, S - K or K - S, at every
    nearby volatility, rate and maturity (the region only grows as expiry nears): delta +-1
    and every other Greek 0. Theta, -dV/dT at a fixed spot, is 0 too, not the carry
    r K - q S: the carry is what exercising earns over holding, not a change of the value,
    and the held option's theta tends to 0 at the boundary (smooth pasting in time)."""
    for j in range(out.shape[0]):
        out[j, i] = 0.0
    out[0, i] = intrinsic
    out[1, i] = 1.0 if call else -1.0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _greeks_loop(S, K, T, r, q, sig, call, yl, wl, yp, wp, fine, out):
    for i in range(out.shape[1]):
        american_greeks_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i], yl, wl, yp, wp,
                               fine, out, i)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _greeks_loop_parallel(S, K, T, r, q, sig, call, yl, wl, yp, wp, fine, out):
    for i in numba.prange(out.shape[1]):
        american_greeks_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i], yl, wl, yp, wp,
                               fine, out, i)


def greeks(spot: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
           dividend_yield: ArrayLike, vol: ArrayLike, is_call: ArrayLike,
           second_order: bool = True) -> Greeks:
    """Price and Greeks of American options, units as in :mod:`deltastream.pricing`.

    Delta, gamma and speed are central differences in spot (relative step ``SPOT_BUMP``)
    on one exercise boundary, one-sided away from it (a tenth of the step) where the central
    stencil would reach it; theta and charm follow from them through the Black-Scholes
    equation; vega, vanna and volga use volatility steps of ``VOL_BUMP`` and rho a rate step
    of ``RATE_BUMP``, each with its own boundary, one-sided where a step would exercise. Within
    ``NEAR_BOUNDARY`` standard deviations of the boundary all but rho come from the finer
    scheme. In the exercise region: delta -+1, the other Greeks 0. An option that never pays
    to exercise early gets the analytical European Greeks. With ``second_order=False`` only
    the price and the five first-order Greeks are computed (less work); vanna, volga and
    charm are then NaN.
    """
    shape, (S, K, T, r, q, sig, call) = broadcast_flat(
        spot, strike, time, rate, dividend_yield, vol, is_call)
    out = np.empty((N_GREEKS if second_order else N_FIRST_ORDER, S.shape[0]))
    run_kernel(_greeks_loop, _greeks_loop_parallel, S.shape[0], S, K, T, r, q, sig, call,
               _Y, _W, _YP, _WP, (_YF, _WF, _YPF, _WPF), out, min_size=PARALLEL_MIN_SIZE)
    rows = [shaped(row, shape) for row in out]
    if not second_order:
        rows += [shaped(np.full(S.shape[0], np.nan), shape)] * (N_GREEKS - N_FIRST_ORDER)
    return Greeks(*rows)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _boundary_loop(K, T, r, q, sig, call, yl, wl, out):
    coef = np.empty(N_NODES_FINE + 1)
    for i in range(out.shape[0]):
        pr, pq = (q[i], r[i]) if call[i] else (r[i], q[i])
        if not (T[i] > 0.0 and pr > 0.0 and sig[i] > 0.0 and K[i] > 0.0):
            out[i] = math.nan
            continue
        X = _unit_put_boundary(T[i], pr, pq, sig[i], yl, wl, coef, N_ITERATIONS_FINE)
        b = _boundary_at(coef, T[i], T[i], X)
        # The call's boundary by symmetry: exercised where K / S <= b.
        out[i] = K[i] / b if call[i] else K[i] * b


def exercise_boundary(strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
                      dividend_yield: ArrayLike, vol: ArrayLike, is_call: ArrayLike
                      ) -> np.ndarray:
    """The spot at which exercising now is optimal (a put at or below it, a call at or above
    it), in currency units, by the fine scheme the Greeks use near it; NaN for an option never
    exercised early (a put at a rate <= 0, a call at a yield <= 0) or without time or
    volatility."""
    shape, (K, T, r, q, sig, call) = broadcast_flat(
        strike, time, rate, dividend_yield, vol, is_call)
    out = np.empty(K.shape[0])
    _boundary_loop(K, T, r, q, sig, call, _YF, _WF, out)
    return shaped(out, shape)


IV_TOL = 1e-10
IV_MAX_ITER = 60
IV_MIN_VOL = 1e-4
IV_MAX_VOL = 10.0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def american_iv_scalar(P: float, S: float, K: float, T: float, r: float, q: float, call: bool,
                       guess: float, table: np.ndarray, yl: np.ndarray, wl: np.ndarray,
                       yp: np.ndarray, wp: np.ndarray) -> tuple[float, int]:
    """Volatility at which the American price is ``P``: (sigma, IVStatus code).

    A Newton step with the European vega as slope to start, secant steps after, all inside a
    bracket that every evaluation narrows. A good ``guess`` (the surface volatility a quote
    came from) makes this one or two price evaluations.
    """
    if not (math.isfinite(P) and math.isfinite(S) and math.isfinite(K) and math.isfinite(r)
            and math.isfinite(q) and S > 0.0 and K > 0.0 and not math.isnan(T)):
        return math.nan, ivs.INVALID_INPUT
    if T <= 0.0:
        return math.nan, ivs.NON_POSITIVE_TIME
    if P <= 0.0:
        return math.nan, ivs.NON_POSITIVE_PRICE
    if P >= (S if call else K):
        return math.nan, ivs.ABOVE_UPPER_BOUND
    intrinsic = max(S - K, 0.0) if call else max(K - S, 0.0)
    if P < intrinsic:
        return math.nan, ivs.BELOW_INTRINSIC
    lo, hi = IV_MIN_VOL, IV_MAX_VOL
    if P == intrinsic:
        # Worth exactly exercising: in the exercise region at a low volatility (then at every
        # volatility up to some level, so none is implied), or no time value at all. (1 %:
        # lower than any traded, and the boundary solve is reliable there, not at IV_MIN_VOL.)
        exercised = intrinsic > 0.0 and (
            american_price_scalar(S, K, T, r, q, 0.01, call, yl, wl, yp, wp) == intrinsic)
        return math.nan, ivs.EARLY_EXERCISE if exercised else ivs.NO_TIME_VALUE
    if guess > lo and guess < hi and (
            american_price_scalar(S, K, T, r, q, guess, call, yl, wl, yp, wp) == P):
        return guess, ivs.OK
    f_lo = american_price_scalar(S, K, T, r, q, lo, call, yl, wl, yp, wp) - P
    if f_lo >= 0.0:
        # Even (almost) no volatility is worth more than the price.
        return math.nan, ivs.NO_TIME_VALUE if f_lo == 0.0 else ivs.BELOW_INTRINSIC
    sig = guess
    if not (sig > lo and sig < hi):
        sig, status = iv_scalar(P, S, K, T, r, q, call, table)
        if status != ivs.OK or not (sig > lo and sig < hi):
            sig = 0.3
    prev_sig = math.nan
    prev_f = math.nan
    for _ in range(IV_MAX_ITER):
        f = american_price_scalar(S, K, T, r, q, sig, call, yl, wl, yp, wp) - P
        if f == 0.0:
            return sig, ivs.OK
        if f < 0.0:
            lo = sig
        else:
            hi = sig
        if math.isfinite(prev_f) and f != prev_f:
            step = -f * (sig - prev_sig) / (f - prev_f)
        else:
            vega = (bsm_price_scalar(S, K, T, r, q, sig + 1e-6, call)
                    - bsm_price_scalar(S, K, T, r, q, sig - 1e-6, call)) / 2e-6
            step = -f / vega if vega > 0.0 else math.nan
        new = sig + step
        if not (new > lo and new < hi):
            new = 0.5 * (lo + hi)
        if abs(new - sig) <= IV_TOL * max(sig, 1e-3):
            return new, ivs.OK
        prev_sig, prev_f = sig, f
        sig = new
        if hi - lo <= IV_TOL * lo:
            return 0.5 * (lo + hi), ivs.OK
    return math.nan, ivs.NOT_CONVERGED


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _iv_loop(P, S, K, T, r, q, call, guess, table, yl, wl, yp, wp, out, status):
    for i in range(out.shape[0]):
        out[i], st = american_iv_scalar(P[i], S[i], K[i], T[i], r[i], q[i], call[i], guess[i],
                                        table, yl, wl, yp, wp)
        status[i] = st


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _iv_loop_parallel(P, S, K, T, r, q, call, guess, table, yl, wl, yp, wp, out, status):
    for i in numba.prange(out.shape[0]):
        out[i], st = american_iv_scalar(P[i], S[i], K[i], T[i], r[i], q[i], call[i], guess[i],
                                        table, yl, wl, yp, wp)
        status[i] = st


def implied_vol(price: ArrayLike, spot: ArrayLike, strike: ArrayLike, time: ArrayLike,
                rate: ArrayLike, dividend_yield: ArrayLike, is_call: ArrayLike,
                guess: ArrayLike = np.nan) -> tuple[np.ndarray, np.ndarray]:
    """Implied volatility of American option prices: (vol, int8 IVStatus codes).

    ``guess`` (optional, broadcast) starts the search; NaN starts from the European implied
    volatility of the price. Where no volatility reproduces the price the result is NaN
    with the reason.
    """
    shape, (P, S, K, T, r, q, g, call) = broadcast_flat(
        price, spot, strike, time, rate, dividend_yield, guess, is_call)
    out = np.empty(P.shape[0])
    status = np.empty(P.shape[0], dtype=np.int8)
    run_kernel(_iv_loop, _iv_loop_parallel, P.shape[0], P, S, K, T, r, q, call, g,
               GUESS_TABLE, _Y, _W, _YP, _WP, out, status, min_size=PARALLEL_MIN_SIZE)
    return shaped(out, shape), shaped(status, shape)
