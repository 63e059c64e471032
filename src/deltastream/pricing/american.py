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

Inputs, units and Greeks as in :mod:`deltastream.pricing`; Greeks are central finite
differences of the price (bumps stated in :func:`greeks`).
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

# Each American option costs microseconds, so threads pay off on small batches already.
PARALLEL_MIN_SIZE = 64

_Y, _W = np.polynomial.legendre.leggauss(N_LEGENDRE)
_YP, _WP = np.polynomial.legendre.leggauss(N_PREMIUM)


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
                       coef: np.ndarray) -> float:
    """Exercise boundary of a unit-strike put (r > 0) into ``coef``; returns its limit X.

    The boundary scales with the strike, so one solve serves every spot and strike with the
    same T, r, q and sigma.
    """
    X = min(1.0, r / q) if q > 0.0 else 1.0
    n = N_NODES
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
    for _ in range(N_ITERATIONS):
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
    if x <= _boundary_at(coef, T, T, X):
        return 1.0 - x
    premium = 0.0
    for j in range(yp.shape[0]):
        y = yp[j]
        v = T * 0.25 * (1.0 + y) * (1.0 + y)   # T - u
        sv = sig * math.sqrt(v)
        ep = (math.log(x / _boundary_at(coef, T - v, T, X)) + (r - q) * v) / sv + 0.5 * sv
        f = r * math.exp(-r * v) * norm_cdf(sv - ep) - q * x * math.exp(-q * v) * norm_cdf(-ep)
        premium += wp[j] * f * 0.5 * T * (1.0 + y)
    euro = bsm_price_scalar(x, 1.0, T, r, q, sig, False)
    return max(euro + max(premium, 0.0), 1.0 - x)


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
    X = _unit_put_boundary(T, pr, pq, sig, yl, wl, coef)
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
# absolute volatility and rate bumps (each re-solves the boundary).
SPOT_BUMP = 1e-3
VOL_BUMP = 1e-3
RATE_BUMP = 1e-4


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unit_derivatives(x: float, T: float, r: float, q: float, sig: float, coef: np.ndarray,
                      X: float, yp: np.ndarray, wp: np.ndarray, with_speed: bool
                      ) -> tuple[float, float, float, float]:
    """Value and first three spot derivatives of the unit-strike put (central differences;
    the third is NaN unless ``with_speed``)."""
    h = SPOT_BUMP * x
    u0 = _unit_put_value(x, T, r, q, sig, coef, X, yp, wp)
    up = _unit_put_value(x + h, T, r, q, sig, coef, X, yp, wp)
    um = _unit_put_value(x - h, T, r, q, sig, coef, X, yp, wp)
    if not with_speed:
        return u0, (up - um) / (2 * h), (up - 2 * u0 + um) / (h * h), math.nan
    up2 = _unit_put_value(x + 2 * h, T, r, q, sig, coef, X, yp, wp)
    um2 = _unit_put_value(x - 2 * h, T, r, q, sig, coef, X, yp, wp)
    return (u0, (up - um) / (2 * h), (up - 2 * u0 + um) / (h * h),
            (up2 - 2 * up + 2 * um - um2) / (2 * h * h * h))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _spot_greeks(S: float, K: float, T: float, r: float, q: float, sig: float, call: bool,
                 yl: np.ndarray, wl: np.ndarray, yp: np.ndarray, wp: np.ndarray,
                 with_speed: bool) -> tuple[float, float, float, float]:
    """(value, delta, gamma, speed) of an American option whose early exercise matters
    (speed NaN unless ``with_speed``)."""
    ps, pk, pr, pq = (K, S, q, r) if call else (S, K, r, q)
    coef = np.empty(N_NODES + 1)
    X = _unit_put_boundary(T, pr, pq, sig, yl, wl, coef)
    x = ps / pk
    u0, u1, u2, u3 = _unit_derivatives(x, T, pr, pq, sig, coef, X, yp, wp, with_speed)
    if not call:
        return K * u0, u1, u2 / K, u3 / (K * K)
    # C(S) = S u(K/S): differentiate through x = K/S.
    return (S * u0, u0 - x * u1, x * x * u2 / S, -x * x * (3 * u2 + x * u3) / (S * S))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def american_greeks_scalar(S: float, K: float, T: float, r: float, q: float, sig: float,
                           call: bool, yl: np.ndarray, wl: np.ndarray, yp: np.ndarray,
                           wp: np.ndarray, out: np.ndarray, i: int) -> None:
    """Price and Greeks of one American option into ``out[:, i]`` (order of ``Greeks``; the
    first-order ones only when ``out`` has ``N_FIRST_ORDER`` rows)."""
    bsm_greeks_scalar(S, K, T, r, q, sig, call, out, i)
    second = out.shape[0] > N_FIRST_ORDER
    if not math.isfinite(out[0, i]) or T == 0.0:
        return
    intrinsic = max(S - K, 0.0) if call else max(K - S, 0.0)
    pr = q if call else r
    if pr <= 0.0 or sig * math.sqrt(T) < 1e-8:
        # European Greeks, unless exercising now is worth more.
        if intrinsic > out[0, i]:
            for j in range(out.shape[0]):
                out[j, i] = 0.0
            out[0, i] = intrinsic
            out[1, i] = 1.0 if call else -1.0
        return
    value, delta, gamma, speed = _spot_greeks(S, K, T, r, q, sig, call, yl, wl, yp, wp, second)
    value = max(value, intrinsic)
    if second:
        up = _spot_greeks(S, K, T, r, q, sig + VOL_BUMP, call, yl, wl, yp, wp, True)
        dn = _spot_greeks(S, K, T, r, q, sig - VOL_BUMP, call, yl, wl, yp, wp, True)
    else:
        # Vega needs only the bumped values, not their spot derivatives.
        up = (american_price_scalar(S, K, T, r, q, sig + VOL_BUMP, call, yl, wl, yp, wp),
              math.nan, math.nan, math.nan)
        dn = (american_price_scalar(S, K, T, r, q, sig - VOL_BUMP, call, yl, wl, yp, wp),
              math.nan, math.nan, math.nan)
    r_up = american_price_scalar(S, K, T, r + RATE_BUMP, q, sig, call, yl, wl, yp, wp)
    r_dn = american_price_scalar(S, K, T, r - RATE_BUMP, q, sig, call, yl, wl, yp, wp)
    exercised = intrinsic > 0.0 and value <= intrinsic
    out[0, i] = value
    # Exercised: the value is the intrinsic value, whose delta is exactly +-1.
    if exercised:
        delta = 1.0 if call else -1.0
    out[1, i] = min(max(delta, 0.0), 1.0) if call else min(max(delta, -1.0), 0.0)
    out[2, i] = 0.0 if exercised else gamma
    # Where the option is held, the Black-Scholes equation gives theta and charm from the
    # spot derivatives; where it is exercised its value (the intrinsic value) does not decay.
    v2 = sig * sig
    out[3, i] = 0.0 if exercised else (
        r * value - (r - q) * S * delta - 0.5 * v2 * S * S * gamma) / DAYS_PER_YEAR
    out[4, i] = (up[0] - dn[0]) / (2 * VOL_BUMP) * PERCENT
    out[5, i] = (r_up - r_dn) / (2 * RATE_BUMP) * PERCENT
    if not second:
        return
    out[8, i] = 0.0 if exercised else (
        r * delta - (r - q) * (delta + S * gamma) - v2 * S * gamma
        - 0.5 * v2 * S * S * speed) / DAYS_PER_YEAR
    out[6, i] = (up[1] - dn[1]) / (2 * VOL_BUMP) * PERCENT
    out[7, i] = (up[0] - 2 * value + dn[0]) / (VOL_BUMP * VOL_BUMP) * PERCENT * PERCENT


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _greeks_loop(S, K, T, r, q, sig, call, yl, wl, yp, wp, out):
    for i in range(out.shape[1]):
        american_greeks_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i], yl, wl, yp, wp,
                               out, i)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _greeks_loop_parallel(S, K, T, r, q, sig, call, yl, wl, yp, wp, out):
    for i in numba.prange(out.shape[1]):
        american_greeks_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i], yl, wl, yp, wp,
                               out, i)


def greeks(spot: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
           dividend_yield: ArrayLike, vol: ArrayLike, is_call: ArrayLike,
           second_order: bool = True) -> Greeks:
    """Price and Greeks of American options, units as in :mod:`deltastream.pricing`.

    Delta, gamma and speed are central differences in spot (relative step ``SPOT_BUMP``)
    on one exercise boundary; theta and charm follow from them through the Black-Scholes
    equation; vega, vanna and volga use volatility steps of ``VOL_BUMP`` and rho a rate step
    of ``RATE_BUMP``, each with its own boundary. An option that never pays to exercise early
    gets the analytical European Greeks. With ``second_order=False`` only the price and the
    five first-order Greeks are computed (less work); vanna, volga and charm are then NaN.
    """
    shape, (S, K, T, r, q, sig, call) = broadcast_flat(
        spot, strike, time, rate, dividend_yield, vol, is_call)
    out = np.empty((N_GREEKS if second_order else N_FIRST_ORDER, S.shape[0]))
    run_kernel(_greeks_loop, _greeks_loop_parallel, S.shape[0], S, K, T, r, q, sig, call,
               _Y, _W, _YP, _WP, out, min_size=PARALLEL_MIN_SIZE)
    rows = [shaped(row, shape) for row in out]
    if not second_order:
        rows += [shaped(np.full(S.shape[0], np.nan), shape)] * (N_GREEKS - N_FIRST_ORDER)
    return Greeks(*rows)


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
    if P == intrinsic:
        return math.nan, ivs.NO_TIME_VALUE
    lo, hi = IV_MIN_VOL, IV_MAX_VOL
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
