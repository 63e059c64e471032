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

The boundary integrals use ``u = tau sin^2(theta)``, in which both ends are smooth (the
boundary is a polynomial in ``sqrt(u)``, the kernel singular in ``sqrt(tau - u)``), so
Gauss-Legendre converges spectrally: 16 points and 8 nodes give the boundary to ~5e-8, where
the map in ``tau - u`` alone left 5e-6. Where the fixed point oscillates (long maturities at a low
volatility and a high rate) a node's step against its previous one is halved.

Near the boundary the premium integrand turns over within ``v ~ (ln(x/B(T))/sigma)^2`` of
``u = T``; graded panels resolve that layer (without them gamma there is percents off), and
the panel that reaches ``u = 0`` is mapped to be smooth in ``sqrt(u)`` too. Within 1e-4 of
the boundary vega and theta are small differences (both vanish on it, by smooth pasting):
where the put's yield exceeds its rate they hold to 1e-3 only with the boundary to ~1e-9,
so an option within ``GAP_REFINE`` of it has its boundary solved again on 16 nodes and
theta from central differences in the rates (``_refined_put``: a few options per tick; 8
nodes everywhere keep the tick's speed).

Batches share boundaries: options with the same T, r and q (one side of an expiry's chain) use
one table of boundaries on a fixed grid of volatilities, interpolated in ``ln sigma``
(:mod:`deltastream.pricing._boundary_tables`), kept across calls and ticks. That also gives
the boundary's derivative in sigma, so vega is the exact derivative of the price (the implied
volatility solver takes Newton steps on it), and the boundary at a rate and a yield
``RATE_BUMP`` higher gives rho and theta (by the scaling of constant parameters); delta and
gamma are analytical spot derivatives, which never reach across the boundary. An option
exercised now is worth its intrinsic value: delta -1/+1, every other Greek 0, and a price at
the intrinsic value implies no volatility (``IVStatus.EARLY_EXERCISE``).

Inputs, units and Greeks as in :mod:`deltastream.pricing`.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike

from ..core import types as ivs
from . import _boundary_tables as tables
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
N_NODES = 8
N_ITERATIONS = 12
N_LEGENDRE = 16
N_PREMIUM = 24
MAX_PANELS = 12

# Each American option costs microseconds, so threads pay off on small batches already.
PARALLEL_MIN_SIZE = 64

_Y, _W = np.polynomial.legendre.leggauss(N_LEGENDRE)
_YP, _WP = np.polynomial.legendre.leggauss(N_PREMIUM)
# The premium's single panel in phi = pi (1 + y) / 4 (see _unit_put_derivatives): its sines
# and cosines at the Legendre nodes, constants of the compiled kernels.
_SIN_P = np.sin(0.25 * np.pi * (1.0 + _YP))
_COS_P = np.cos(0.25 * np.pi * (1.0 + _YP))


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
    """Exercise boundary of a unit-strike put (r > 0) into ``coef`` (Chebyshev nodes: its
    length less one), after ``iterations`` fixed-point sweeps; returns its limit X.

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
    # The previous iteration's step per node: a step against it is an oscillation.
    last_step = np.zeros(n)
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
                # u = tau sin^2(theta), tau - u = tau cos^2(theta): both sqrt(u) (in which the
                # boundary is a polynomial) and sqrt(tau - u) (the kernel's singularity) are
                # smooth in theta, so Gauss-Legendre converges spectrally (the map
                # tau - u = tau (1 + y)^2 / 4 alone leaves a sqrt(u) at u = 0: 5e-6 of B).
                theta = 0.25 * math.pi * (1.0 + yl[j])
                cos_t = math.cos(theta)
                v = tau * cos_t * cos_t     # tau - u
                u = tau - v
                # dv / sqrt(v) = sqrt(tau) (pi / 2) sin(theta) dy; the cdf term's dv / tau
                # carries one more cos(theta) (its 0.5 (1 + y) before).
                wj = wl[j] * 0.5 * math.pi * math.sin(theta)
                sv = sig * math.sqrt(v)
                ep = (math.log(b_tau / _boundary_at(coef, u, T, X)) + (r - q) * v) / sv + 0.5 * sv
                equ = math.exp(q * u)
                n_int += wj * math.exp(r * u) * norm_pdf(ep - sv)
                d_phi += wj * equ * norm_pdf(ep)
                d_cdf += wj * equ * norm_cdf(ep) * cos_t
            num = norm_pdf(dm) / sst + r * st / sig * n_int
            den = norm_pdf(dp) / sst + norm_cdf(dp) + q * (st / sig * d_phi + tau * d_cdf)
            b_new = min(max(math.exp(-(r - q) * tau) * num / den, 1e-12 * X), X)
            step = b_new - b_tau
            if step * last_step[i] < 0.0:
                # The fixed point oscillates (long maturities at a low volatility and a high
                # rate: the map's slope there is below -1): half steps contract it.
                step *= 0.5
                b_new = b_tau + step
            last_step[i] = step
            H[i] = math.log(b_new / X) ** 2
        H[n] = 0.0
        _chebyshev_coefficients(H, coef)
    return X



# Steps: absolute volatility steps (vanna, volga), the rate step of the
# boundary's rate derivative, and the relative spot step of speed (a difference of the
# analytical gamma).
SPOT_BUMP = 1e-3
VOL_BUMP = 1e-3
RATE_BUMP = 1e-6
# Relative volatility step of the boundary's sigma derivative off the tables' grid.
SIG_STEP = 1e-4
# Where the put's yield exceeds its rate (the boundary's limit X = r / q < 1: calls on a
# dividend at a higher rate), within GAP_REFINE (relative, either side) of the boundary, vega
# and theta are small differences that 8 nodes leave up to 3 % off (or exercise the option
# early): they need the boundary to ~1e-9, and the option's boundary is solved again
# (_refined_put) on N_FINE nodes with N_FINE_ITERATIONS sweeps (measured on the 195 near
# options of tests/pricing/test_american_boundary.py: 12 nodes, or 10 sweeps, still exercise
# one of them; 12 sweeps are as good as 24 there). Elsewhere 8 nodes hold the
# Greeks within 1e-3 down to 1e-4 of the boundary (measured). An option so close is rare:
# ~5 per tick of the 121,000 of bench/market.py's US universe, none in the default catalogue.
GAP_REFINE = 1e-3
N_FINE = 16
N_FINE_ITERATIONS = 16

# What _unit_put_derivatives computes besides the value: the volatility derivative, or every
# derivative (spot, volatility, and the rate's when asked).
VALUE = 0
WITH_VEGA = 1
ALL = 2
# ALL with the derivatives in the put's rate and yield too (theta, and rho: a call's rate is
# its symmetric put's yield).
WITH_RATES = 3


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _unit_put_derivatives(x: float, T: float, Th: float, r: float, q: float, sig: float,
                          coef: np.ndarray, dcoef: np.ndarray, X: float, yp: np.ndarray,
                          wp: np.ndarray, level: int, coef_r: np.ndarray, Th_r: float,
                          X_r: float, coef_q: np.ndarray, Th_q: float, X_q: float,
                          coef_rm: np.ndarray, Th_rm: float, X_rm: float, coef_qm: np.ndarray,
                          Th_qm: float, X_qm: float, central: bool
                          ) -> tuple[float, float, float, float, float, float, bool]:
    """American put of unit strike at spot ``x`` on the boundary ``coef`` (represented on
    ``[0, Th]``, ``Th >= T``; ``dcoef`` its volatility derivative): (value, d/dx, d2/dx2,
    d/dsigma, d/dr, d/dq, exercised), the derivatives as ``level`` asks (else 0). The
    derivatives are exact for that boundary, never a spot bump (a bump would cross the
    boundary of an option near it), and include the boundary's own move: in volatility from
    ``dcoef``, in r from the boundary ``coef_r`` (on ``[0, Th_r]``, limit ``X_r``) at
    ``r + RATE_BUMP``, in q from ``coef_q`` at ``q + RATE_BUMP``: a forward difference
    against ``coef``, or with ``central`` a central one against ``coef_rm`` and ``coef_qm``
    (the boundaries at ``r - RATE_BUMP`` and ``q - RATE_BUMP``; then ``coef`` may be a finer
    solve than the bumped ones, the differences being of like with like)."""
    if x <= _boundary_at(coef, T, Th, X):
        return 1.0 - x, -1.0, 0.0, 0.0, 0.0, 0.0, True
    log_x = math.log(x / X)
    log_xr = math.log(X_r / X_rm) if central else math.log(X_r / X)
    log_xq = math.log(X_q / X_qm) if central else math.log(X_q / X)
    rate_step = 2.0 * RATE_BUMP if central else RATE_BUMP
    st = math.sqrt(T)
    # Near the boundary the integrand turns over within v ~ (ln(x / B(T)) / sigma)^2 of
    # v = 0: graded panels [0, 4 v1], [4 v1, 16 v1], ... up to T resolve that layer (the
    # first with the square-root substitution, the others plain Gauss-Legendre).
    gap = math.log(x / _boundary_at(coef, T, Th, X))
    # (At most MAX_PANELS: closer still, the layer holds no more than rounding error.)
    first_edge = max(4.0 * gap * gap / (sig * sig), T * 4.0 ** -(MAX_PANELS - 1))
    n_panels = 1
    if first_edge < T / 4.0:
        n_panels = math.ceil(math.log(T / first_edge) / math.log(4.0) - 1e-9)
    else:
        first_edge = T
    p0 = 0.0
    p1 = 0.0
    p2 = 0.0
    ps = 0.0
    pr = 0.0
    pq = 0.0
    n_points = yp.shape[0]
    for k in range(n_panels * n_points):
        panel = k // n_points
        y = yp[k % n_points]
        wy = wp[k % n_points]
        # The boundary is a polynomial in sqrt(u) = sqrt(T - v), the integrand a function of
        # sqrt(v): the panel touching u = 0 is mapped to be smooth in sqrt(u) as well
        # (Gauss-Legendre straight across a sqrt(u) end point loses digits).
        if n_panels == 1:
            sin_p = _SIN_P[k]
            cos_p = _COS_P[k]
            v = T * sin_p * sin_p   # T - u
            w = wy * 0.5 * math.pi * T * sin_p * cos_p
        elif panel == 0:
            v = first_edge * 0.25 * (1.0 + y) * (1.0 + y)
            w = wy * 0.5 * first_edge * (1.0 + y)
        elif panel == n_panels - 1:
            start = first_edge * 4.0 ** (panel - 1)
            v = T - (T - start) * 0.25 * (1.0 - y) * (1.0 - y)
            w = wy * 0.5 * (T - start) * (1.0 - y)
        else:
            start = first_edge * 4.0 ** (panel - 1)
            end = first_edge * 4.0 ** panel
            v = start + (end - start) * 0.5 * (1.0 + y)
            w = wy * 0.5 * (end - start)
        sv = sig * math.sqrt(v)
        # ln(x / B(u)) = ln(x / X) + sqrt(h(u)), h the Chebyshev interpolant of ln(B/X)^2.
        xc = 2.0 * math.sqrt(max(T - v, 0.0) / Th) - 1.0
        h = _clenshaw(coef, xc)
        root_h = math.sqrt(h) if h > 0.0 else 0.0
        ep = (log_x + root_h + (r - q) * v) / sv + 0.5 * sv
        a = sv - ep
        dr = math.exp(-r * v)
        dq = math.exp(-q * v)
        cdf_a = norm_cdf(a)
        cdf_m = norm_cdf(-ep)
        p0 += w * (r * dr * cdf_a - q * dq * x * cdf_m)
        if level == VALUE:
            continue
        pa = norm_pdf(a)
        pe = norm_pdf(ep)
        # Derivative of the integrand in ln B(u) at fixed inputs.
        by_log_b = (r * dr * pa - q * dq * x * pe) / sv
        # d ln B / d sigma = -(dh / d sigma) / (2 sqrt h).
        dlog_b = -_clenshaw(dcoef, xc) / (2.0 * root_h) if root_h > 1e-150 else 0.0
        ps += w * (r * dr * pa * ep / sig + q * dq * x * pe * a / sig + by_log_b * dlog_b)
        if level == WITH_VEGA:
            continue
        p1 += w * (-r * dr * pa / (x * sv) - q * dq * cdf_m + q * dq * pe / sv)
        p2 += w * (-r * dr * pa / (x * x * sv) * (a / sv - 1.0) + q * dq * pe / (x * sv)
                   - q * dq * ep * pe / (x * sv * sv))
        if level != WITH_RATES:
            continue
        # ln B at the bumped rate (yield) minus ln B, per unit of rate.
        root_rm = root_h
        root_qm = root_h
        if central:
            hrm = _clenshaw(coef_rm, 2.0 * math.sqrt(max(T - v, 0.0) / Th_rm) - 1.0)
            root_rm = math.sqrt(hrm) if hrm > 0.0 else 0.0
            hqm = _clenshaw(coef_qm, 2.0 * math.sqrt(max(T - v, 0.0) / Th_qm) - 1.0)
            root_qm = math.sqrt(hqm) if hqm > 0.0 else 0.0
        hr = _clenshaw(coef_r, 2.0 * math.sqrt(max(T - v, 0.0) / Th_r) - 1.0)
        dlog_b_r = (log_xr - (math.sqrt(hr) if hr > 0.0 else 0.0) + root_rm) / rate_step
        hq = _clenshaw(coef_q, 2.0 * math.sqrt(max(T - v, 0.0) / Th_q) - 1.0)
        dlog_b_q = (log_xq - (math.sqrt(hq) if hq > 0.0 else 0.0) + root_qm) / rate_step
        carry = v / sv * (q * dq * x * pe - r * dr * pa)
        pr += w * (dr * (1.0 - r * v) * cdf_a + carry + by_log_b * dlog_b_r)
        pq += w * (-dq * (1.0 - q * v) * x * cdf_m - carry + by_log_b * dlog_b_q)
    d1 = (math.log(x) + (r - q + 0.5 * sig * sig) * T) / (sig * st)
    d2 = d1 - sig * st
    disc_q = math.exp(-q * T)
    euro = math.exp(-r * T) * norm_cdf(-d2) - x * disc_q * norm_cdf(-d1)
    if not p0 > 0.0:
        p0, p1, p2, ps, pr, pq = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    value = euro + p0
    if value <= 1.0 - x:
        return 1.0 - x, -1.0, 0.0, 0.0, 0.0, 0.0, True
    n1 = norm_pdf(d1)
    return (value, -disc_q * norm_cdf(-d1) + p1, disc_q * n1 / (x * sig * st) + p2,
            x * disc_q * n1 * st + ps, -T * math.exp(-r * T) * norm_cdf(-d2) + pr,
            x * T * disc_q * norm_cdf(-d1) + pq, False)


# Interpolation in ln(sigma) from the shared tables (_boundary_tables): a stencil that needs an
# unsolved node reports its first node instead of a value; OUT_OF_GRID means solve directly.
_N_SIG = tables.N_SIG
_LAGRANGE = tables.LAGRANGE
_LOG_SIG_MIN = tables.LOG_SIG_MIN
_LOG_SIG_STEP = tables.LOG_SIG_STEP
READY = -1
OUT_OF_GRID = -2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _interpolated_boundary(pool: np.ndarray, solved: np.ndarray, slot: int, sig: float,
                           coef: np.ndarray, dcoef: np.ndarray) -> int:
    """Boundary coefficients at ``sig`` from the table ``slot`` into ``coef``, their
    derivative in sigma into ``dcoef``: READY, the first node of a stencil still to solve,
    or OUT_OF_GRID."""
    if slot < 0 or not sig > 0.0:
        return OUT_OF_GRID
    t = (math.log(sig) - _LOG_SIG_MIN) / _LOG_SIG_STEP
    first = math.floor(t) - (_LAGRANGE // 2 - 1)
    if first < 0 or first + _LAGRANGE > _N_SIG:
        return OUT_OF_GRID
    for j in range(_LAGRANGE):
        if not solved[slot, first + j]:
            return first
    t -= first
    for c in range(coef.shape[0]):
        coef[c] = 0.0
        dcoef[c] = 0.0
    dt_dsig = 1.0 / (sig * _LOG_SIG_STEP)
    # ln(B/X)^2 grows like sigma^2: its coefficients over sigma^2 are far smoother in
    # sigma (interpolated, the boundary lands 20-100 times closer to its solve, ~1e-10).
    for j in range(_LAGRANGE):
        # Lagrange weight of node j at t and its derivative (product rule).
        w = 1.0
        dw = 0.0
        for m in range(_LAGRANGE):
            if m != j:
                f = (t - m) / (j - m)
                dw = dw * f + w / (j - m)
                w *= f
        node_var = math.exp(2.0 * (_LOG_SIG_MIN + _LOG_SIG_STEP * (first + j)))
        for c in range(coef.shape[0]):
            scaled = pool[slot, first + j, c] / node_var
            coef[c] += w * scaled
            dcoef[c] += dw * dt_dsig * scaled
    var = sig * sig
    for c in range(coef.shape[0]):
        dcoef[c] = 2.0 * sig * coef[c] + var * dcoef[c]
        coef[c] *= var
    return READY


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _boundary_for(T: float, r: float, q: float, sig: float, slot: int, pool: np.ndarray,
                  solved: np.ndarray, horizons: np.ndarray, yl: np.ndarray, wl: np.ndarray,
                  coef: np.ndarray, dcoef: np.ndarray, derivative: bool
                  ) -> tuple[int, float, float, bool]:
    """The unit put boundary at ``sig`` into ``coef`` (its volatility derivative into
    ``dcoef``), from the table ``slot`` or, off the grid, solved for it: (READY or the node to
    solve, horizon Th, limit X, whether ``dcoef`` holds the derivative). Off the grid the
    derivative is a central difference of two more solves, at sigma (1 +- SIG_STEP), when
    ``derivative`` asks for it (the solve is a smooth function of sigma: a fixed number of
    iterations from a smooth start), so a single option's vega and theta are the chain's."""
    X = min(1.0, r / q) if q > 0.0 else 1.0
    found = _interpolated_boundary(pool, solved, slot, sig, coef, dcoef)
    if found >= 0:
        return found, T, X, False
    if found == OUT_OF_GRID:
        if not derivative:
            X = _unit_put_boundary(T, r, q, sig, yl, wl, coef, N_ITERATIONS)
            for c in range(dcoef.shape[0]):
                dcoef[c] = 0.0
            return READY, T, X, False
        h = SIG_STEP * sig
        _unit_put_boundary(T, r, q, sig + h, yl, wl, dcoef, N_ITERATIONS)
        lower = np.empty(coef.shape[0])
        _unit_put_boundary(T, r, q, sig - h, yl, wl, lower, N_ITERATIONS)
        for c in range(dcoef.shape[0]):
            dcoef[c] = (dcoef[c] - lower[c]) / (2.0 * h)
        X = _unit_put_boundary(T, r, q, sig, yl, wl, coef, N_ITERATIONS)
        return READY, T, X, True
    return READY, horizons[slot], X, True


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _held_put(x: float, T: float, r: float, q: float, sig: float, slot: int, level: int,
              slot_r: int, slot_q: int, pool: np.ndarray, solved: np.ndarray,
              horizons: np.ndarray, yl: np.ndarray, wl: np.ndarray, yp: np.ndarray,
              wp: np.ndarray, coef: np.ndarray, dcoef: np.ndarray
              ) -> tuple[float, float, float, float, float, float, bool, int, int, int, float,
                         float]:
    """Unit put (r > 0, sigma sqrt(T) >= 1e-8) on its boundary from the table ``slot`` (at
    level WITH_RATES the boundaries at ``r + RATE_BUMP`` and ``q + RATE_BUMP`` from
    ``slot_r`` and ``slot_q``): (value, d/dx, d2/dx2, d/dsigma, d/dr, d/dq, exercised, READY
    or the node to solve of each of the three tables, Th, X); the boundary stays in ``coef``.
    Off the grid d/dsigma is NaN at the levels VALUE and ALL (the boundary is solved once,
    without its derivative)."""
    # Vega (the implied volatility's Newton steps, the first-order Greeks) needs the
    # boundary's derivative in sigma; volatility bumps (vanna, volga) do not.
    need, Th, X, has_dcoef = _boundary_for(T, r, q, sig, slot, pool, solved, horizons, yl,
                                           wl, coef, dcoef,
                                           level in (WITH_VEGA, WITH_RATES))
    need_r = READY
    need_q = READY
    coef_r = coef
    coef_q = coef
    Th_r, X_r, Th_q, X_q = Th, X, Th, X
    if level == WITH_RATES:
        coef_r = np.empty(coef.shape[0])
        coef_q = np.empty(coef.shape[0])
        scratch = np.empty(coef.shape[0])
        need_r, Th_r, X_r, _ = _boundary_for(T, r + RATE_BUMP, q, sig, slot_r, pool, solved,
                                             horizons, yl, wl, coef_r, scratch, False)
        need_q, Th_q, X_q, _ = _boundary_for(T, r, q + RATE_BUMP, sig, slot_q, pool, solved,
                                             horizons, yl, wl, coef_q, scratch, False)
    if need >= 0 or need_r >= 0 or need_q >= 0:
        return (math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, False, need,
                need_r, need_q, T, X)
    u, u1, u2, us, ur, uq, exercised = _unit_put_derivatives(
        x, T, Th, r, q, sig, coef, dcoef, X, yp, wp, level, coef_r, Th_r, X_r, coef_q, Th_q,
        X_q, coef, Th, X, coef, Th, X, False)
    if not has_dcoef:
        us = math.nan
    return u, u1, u2, us, ur, uq, exercised, READY, READY, READY, Th, X


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _refined_put(x: float, T: float, Th: float, r: float, q: float, sig: float,
                 yl: np.ndarray, wl: np.ndarray, yp: np.ndarray, wp: np.ndarray
                 ) -> tuple[float, float, float, float, float, float, bool]:
    """Unit put near its exercise boundary (r > 0, sigma sqrt(T) >= 1e-8) on a boundary solved
    for it over ``[0, Th]``: (value, d/dx, d2/dx2, d/dsigma, d/dr, d/dq, exercised).

    The boundary and its volatility derivative (a central difference of solves at
    sigma (1 +- SIG_STEP)) on ``N_FINE`` nodes; its rate and yield derivatives central
    differences of 8-node solves at r +- RATE_BUMP and q +- RATE_BUMP (their relative error
    enters as such, the boundary's level divided by the distance to it). Central: here the
    terms of the scaling formula for theta (r dV/dr + q dV/dq + sigma/2 dV/dsigma) nearly
    cancel and magnify a forward difference's first-order error to tens of percent."""
    coef = np.empty(N_FINE + 1)
    dcoef = np.empty(N_FINE + 1)
    lower = np.empty(N_FINE + 1)
    h = SIG_STEP * sig
    _unit_put_boundary(Th, r, q, sig + h, yl, wl, dcoef, N_FINE_ITERATIONS)
    _unit_put_boundary(Th, r, q, sig - h, yl, wl, lower, N_FINE_ITERATIONS)
    for c in range(N_FINE + 1):
        dcoef[c] = (dcoef[c] - lower[c]) / (2.0 * h)
    X = _unit_put_boundary(Th, r, q, sig, yl, wl, coef, N_FINE_ITERATIONS)
    coef_r = np.empty(N_NODES + 1)
    coef_q = np.empty(N_NODES + 1)
    coef_rm = np.empty(N_NODES + 1)
    coef_qm = np.empty(N_NODES + 1)
    X_r = _unit_put_boundary(Th, r + RATE_BUMP, q, sig, yl, wl, coef_r, N_ITERATIONS)
    X_q = _unit_put_boundary(Th, r, q + RATE_BUMP, sig, yl, wl, coef_q, N_ITERATIONS)
    X_rm = _unit_put_boundary(Th, r - RATE_BUMP, q, sig, yl, wl, coef_rm, N_ITERATIONS)
    X_qm = _unit_put_boundary(Th, r, q - RATE_BUMP, sig, yl, wl, coef_qm, N_ITERATIONS)
    return _unit_put_derivatives(x, T, Th, r, q, sig, coef, dcoef, X, yp, wp, WITH_RATES,
                                 coef_r, Th, X_r, coef_q, Th, X_q, coef_rm, Th, X_rm, coef_qm,
                                 Th, X_qm, True)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _price_on_table(S: float, K: float, T: float, r: float, q: float, sig: float, call: bool,
                    slot: int, level: int, pool: np.ndarray, solved: np.ndarray,
                    horizons: np.ndarray, yl: np.ndarray, wl: np.ndarray, yp: np.ndarray,
                    wp: np.ndarray) -> tuple[float, float, bool, int]:
    """(American value, its derivative in sigma (NaN unless ``level`` is WITH_VEGA and the
    boundary came from a table), exercised now, READY or the table node to solve first)."""
    euro = bsm_price_scalar(S, K, T, r, q, sig, call)
    if not math.isfinite(euro) or T == 0.0:
        return euro, math.nan, False, READY
    intrinsic = max(S - K, 0.0) if call else max(K - S, 0.0)
    # Put-call symmetry: a call is a put with spot and strike, rate and yield swapped.
    ps, pk, pr, pq = (K, S, q, r) if call else (S, K, r, q)
    if pr <= 0.0 or sig * math.sqrt(T) < 1e-8:
        # Never exercised early, or deterministic: exercise now or hold, whichever is worth
        # more.
        return max(euro, intrinsic), math.nan, intrinsic > euro, READY
    coef = np.empty(N_NODES + 1)
    dcoef = np.empty(N_NODES + 1)
    u, _, _, us, _, _, exercised, need, _, _, _, _ = _held_put(
        ps / pk, T, pr, pq, sig, slot, level, -1, -1, pool, solved, horizons, yl, wl, yp, wp,
        coef, dcoef)
    if need >= 0:
        return math.nan, math.nan, False, need
    if exercised or pk * u <= intrinsic:
        return intrinsic, 0.0, intrinsic > 0.0, READY
    return pk * u, pk * us, False, READY


_NO_POOL = np.zeros((0, tables.N_SIG, N_NODES + 1))
_NO_SOLVED = np.zeros((0, tables.N_SIG), dtype=np.bool_)
_NO_HORIZONS = np.zeros(0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def american_price_scalar(S: float, K: float, T: float, r: float, q: float, sig: float,
                          call: bool, yl: np.ndarray, wl: np.ndarray, yp: np.ndarray,
                          wp: np.ndarray) -> float:
    """American value of one option with a boundary solved for it alone."""
    return _price_on_table(S, K, T, r, q, sig, call, -1, VALUE, _NO_POOL, _NO_SOLVED, _NO_HORIZONS,
                           yl, wl, yp, wp)[0]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fill_nodes(slots, nodes, pool, horizons, rates, yields, sig_nodes, yl, wl):
    for i in range(slots.shape[0]):
        s, k = slots[i], nodes[i]
        _unit_put_boundary(horizons[s], rates[s], yields[s], sig_nodes[k], yl, wl, pool[s, k],
                           N_ITERATIONS)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _fill_nodes_parallel(slots, nodes, pool, horizons, rates, yields, sig_nodes, yl, wl):
    for i in numba.prange(slots.shape[0]):
        s, k = slots[i], nodes[i]
        _unit_put_boundary(horizons[s], rates[s], yields[s], sig_nodes[k], yl, wl, pool[s, k],
                           N_ITERATIONS)


def _solve_pending(kernel: Any, n: int, needs: np.ndarray, slots: tuple[np.ndarray, ...],
                   *args: Any) -> None:
    """Run ``kernel(index, *args)`` over all ``n`` options, solving the table nodes that its
    stencils report missing in ``needs`` (node, per option and slot array) and running it again
    on those options, until none is missing. Holds the tables' lock."""
    t = tables.TABLES
    index = np.arange(n)
    with t.lock:
        for _ in range(_MAX_ROUNDS):
            needs[:, index] = READY
            run_kernel(kernel[0], kernel[1], index.shape[0], index, *args, t.coef, t.solved,
                       t.horizon, _Y, _W, _YP, _WP, needs, min_size=PARALLEL_MIN_SIZE)
            pending = needs[:, index] >= 0
            if not pending.any():
                return
            pairs_s, pairs_k = [], []
            for row, slot in enumerate(slots):
                rows = index[pending[row]]
                s, k = t.missing_nodes(slot[rows], needs[row, rows])
                pairs_s.append(s)
                pairs_k.append(k)
            s, k = np.concatenate(pairs_s), np.concatenate(pairs_k)
            flat = np.unique(s * tables.N_SIG + k)
            s, k = np.divmod(flat, tables.N_SIG)
            run_kernel(_fill_nodes, _fill_nodes_parallel, s.shape[0], s, k, t.coef, t.horizon,
                       t.rate, t.dividend_yield, tables.SIG_NODES, _Y, _W, min_size=8)
            t.solved[s, k] = True
            index = index[pending.any(axis=0)]
        # Unreachable in practice (each round solves what the previous one missed): solve
        # the rest option by option.
        for slot in slots:
            slot[index] = -1
        run_kernel(kernel[0], kernel[1], index.shape[0], index, *args, t.coef, t.solved,
                   t.horizon, _Y, _W, _YP, _WP, needs, min_size=PARALLEL_MIN_SIZE)


_MAX_ROUNDS = 20


def _put_keys(T: np.ndarray, r: np.ndarray, q: np.ndarray, sig: np.ndarray, call: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate and yield of the equivalent put (swapped for calls), and where early exercise
    can matter (put rate > 0, with time and volatility)."""
    pr = np.where(call, q, r)
    pq = np.where(call, r, q)
    with np.errstate(invalid="ignore"):
        eligible = (pr > 0.0) & (T > 0.0) & np.isfinite(T) & np.isfinite(pq) & (sig > 0.0)
    return pr, pq, eligible


def _table_slots(T: np.ndarray, r: np.ndarray, q: np.ndarray, sig: np.ndarray,
                 call: np.ndarray) -> np.ndarray:
    pr, pq, eligible = _put_keys(T, r, q, sig, call)
    with tables.TABLES.lock:
        return tables.TABLES.slots(T, pr, pq, eligible)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _price_kernel_body(index, S, K, T, r, q, sig, call, slot, out, pool, solved, horizons,
                       yl, wl, yp, wp, needs, j):
    i = index[j]
    out[i], _, _, needs[0, i] = _price_on_table(S[i], K[i], T[i], r[i], q[i], sig[i],
                                                call[i], slot[i], VALUE, pool, solved, horizons, yl,
                                                wl, yp, wp)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _price_loop(index, S, K, T, r, q, sig, call, slot, out, pool, solved, horizons,
                yl, wl, yp, wp, needs):
    for j in range(index.shape[0]):
        _price_kernel_body(index, S, K, T, r, q, sig, call, slot, out, pool, solved,
                           horizons, yl, wl, yp, wp, needs, j)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _price_loop_parallel(index, S, K, T, r, q, sig, call, slot, out, pool, solved, horizons,
                         yl, wl, yp, wp, needs):
    for j in numba.prange(index.shape[0]):
        _price_kernel_body(index, S, K, T, r, q, sig, call, slot, out, pool, solved,
                           horizons, yl, wl, yp, wp, needs, j)


def price(spot: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
          dividend_yield: ArrayLike, vol: ArrayLike, is_call: ArrayLike) -> np.ndarray:
    """American option value in currency units."""
    shape, (S, K, T, r, q, sig, call) = broadcast_flat(
        spot, strike, time, rate, dividend_yield, vol, is_call)
    n = S.shape[0]
    out = np.empty(n)
    slot = _table_slots(T, r, q, sig, call)
    needs = np.empty((1, n), dtype=np.int64)
    _solve_pending((_price_loop, _price_loop_parallel), n, needs, (slot,),
                   S, K, T, r, q, sig, call, slot, out)
    return shaped(out, shape)




@numba.njit(cache=True, nogil=True, error_model="numpy")
def _to_spot(call: bool, S: float, K: float, u: float, u1: float, u2: float
             ) -> tuple[float, float, float]:
    """Value, delta and gamma in the option's own spot from the unit put's (x = S/K for a
    put; a call is C(S) = S u(K/S), with x = K/S)."""
    if not call:
        return K * u, u1, u2 / K
    x = K / S
    return S * u, u - x * u1, x * x * u2 / S


@numba.njit(cache=True, nogil=True, error_model="numpy")
def american_greeks_on_table(S: float, K: float, T: float, r: float, q: float, sig: float,
                             call: bool, slot: int, slot_r: int, slot_q: int,
                             pool: np.ndarray, solved: np.ndarray, horizons: np.ndarray,
                             yl: np.ndarray, wl: np.ndarray, yp: np.ndarray, wp: np.ndarray,
                             out: np.ndarray, i: int) -> tuple[int, int, int]:
    """Price and Greeks of one American option into ``out[:, i]`` (order of ``Greeks``; the
    first-order ones only when ``out`` has ``N_FIRST_ORDER`` rows); returns the table nodes
    still to solve (of ``slot`` and of the symmetric put's rate- and yield-bumped tables
    ``slot_r`` and ``slot_q``; READY when none).

    Delta, gamma, vega and rho are exact derivatives of the value on its exercise boundary,
    the boundary's own move with volatility and rate included. Theta is -dV/dT from the
    scaling of constant parameters (only r T, q T and sigma^2 T enter the value, so
    T dV/dT = r dV/dr + q dV/dq + sigma/2 dV/dsigma): no difference of large terms, which the
    Black-Scholes equation would take near the boundary. Off the tables' grid (a single
    option, a small group) the boundary's volatility derivative is a difference of solves at
    sigma (1 +- SIG_STEP), so the same formulas hold. Within ``GAP_REFINE`` of the boundary,
    where the put's yield exceeds its rate, the first-order Greeks come from a finer boundary
    solved for the option (``_refined_put``). Vanna and volga are central differences in
    volatility (steps of ``VOL_BUMP``, one-sided upwards where the lower volatility would
    exercise: the boundary recedes as volatility grows), speed (for charm) a difference of the
    analytical gamma. In the exercise region: the intrinsic value, delta -1/+1 and every
    other Greek 0 (the value K - S or S - K does not move with time, volatility or the
    rate)."""
    bsm_greeks_scalar(S, K, T, r, q, sig, call, out, i)
    second = out.shape[0] > N_FIRST_ORDER
    if not math.isfinite(out[0, i]) or T == 0.0:
        return READY, READY, READY
    intrinsic = max(S - K, 0.0) if call else max(K - S, 0.0)
    ps, pk, pr, pq = (K, S, q, r) if call else (S, K, r, q)
    if pr <= 0.0 or sig * math.sqrt(T) < 1e-8:
        # European Greeks, unless exercising now is worth more.
        if intrinsic > out[0, i]:
            for j in range(out.shape[0]):
                out[j, i] = 0.0
            out[0, i] = intrinsic
            out[1, i] = 1.0 if call else -1.0
        return READY, READY, READY
    x = ps / pk
    coef = np.empty(N_NODES + 1)
    dcoef = np.empty(N_NODES + 1)
    u, u1, u2, us, ur, uq, exercised, need, need_r, need_q, Th, X = _held_put(
        x, T, pr, pq, sig, slot, WITH_RATES, slot_r, slot_q, pool, solved, horizons, yl, wl,
        yp, wp, coef, dcoef)
    if need >= 0 or need_r >= 0 or need_q >= 0:
        return need, need_r, need_q
    # The table's values, which the volatility steps below are differences against.
    u_table, u1_table, u2_table = u, u1, u2
    # (Both sides of the rate steps on one side of r = q, where X = min(1, r / q) has a kink.)
    if (pq - pr > 2.0 * RATE_BUMP and pr > 2.0 * RATE_BUMP
            and abs(math.log(x / _boundary_at(coef, T, Th, X))) < GAP_REFINE):
        u, u1, u2, us, ur, uq, exercised = _refined_put(x, T, Th, pr, pq, sig, yl, wl, yp, wp)
    if exercised or pk * u <= intrinsic:
        for j in range(out.shape[0]):
            out[j, i] = 0.0
        out[0, i] = intrinsic
        out[1, i] = 1.0 if call else -1.0
        return READY, READY, READY
    value, delta, gamma = _to_spot(call, S, K, u, u1, u2)
    du = us
    d2u = math.nan
    dvanna = math.nan
    if second or not math.isfinite(us):
        # Volatility steps, each on the boundary interpolated (or solved) at its volatility;
        # one-sided upwards where the lower one exercises.
        bump = np.empty(N_NODES + 1)
        dbump = np.empty(N_NODES + 1)
        h = min(VOL_BUMP, 0.5 * sig)
        up = _held_put(x, T, pr, pq, sig + h, slot, ALL, -1, -1, pool, solved, horizons, yl,
                       wl, yp, wp, bump, dbump)
        dn = _held_put(x, T, pr, pq, sig - h, slot, ALL, -1, -1, pool, solved, horizons, yl,
                       wl, yp, wp, bump, dbump)
        if up[7] >= 0 or dn[7] >= 0:
            return up[7] if up[7] >= 0 else dn[7], READY, READY
        up_spot = _to_spot(call, S, K, up[0], up[1], up[2])
        if dn[6]:
            up2 = _held_put(x, T, pr, pq, sig + 2 * h, slot, ALL, -1, -1, pool, solved,
                            horizons, yl, wl, yp, wp, bump, dbump)
            if up2[7] >= 0:
                return up2[7], READY, READY
            fd = (-3.0 * u_table + 4.0 * up[0] - up2[0]) / (2 * h)
            d2u = (u_table - 2.0 * up[0] + up2[0]) / (h * h)
            dvanna = (up_spot[1] - _to_spot(call, S, K, u_table, u1_table, u2_table)[1]) / h
        else:
            fd = (up[0] - dn[0]) / (2 * h)
            d2u = (up[0] - 2.0 * u_table + dn[0]) / (h * h)
            dn_spot = _to_spot(call, S, K, dn[0], dn[1], dn[2])
            dvanna = (up_spot[1] - dn_spot[1]) / (2 * h)
        if not math.isfinite(us):
            du = fd
    out[0, i] = value
    out[1, i] = min(max(delta, 0.0), 1.0) if call else min(max(delta, -1.0), 0.0)
    out[2, i] = gamma
    v2 = sig * sig
    if math.isfinite(us):
        out[3, i] = -pk * (pr * ur + pq * uq + 0.5 * sig * us) / T / DAYS_PER_YEAR
    else:
        out[3, i] = (r * value - (r - q) * S * delta
                     - 0.5 * v2 * S * S * gamma) / DAYS_PER_YEAR
    out[4, i] = pk * du * PERCENT
    # The option's rate is the symmetric put's yield for a call.
    out[5, i] = pk * (uq if call else ur) * PERCENT
    if not second:
        return READY, READY, READY
    # Speed: a central difference of the analytical gamma on the same boundary.
    hs = SPOT_BUMP * S
    x_up = K / (S + hs) if call else (S + hs) / K
    x_dn = K / (S - hs) if call else (S - hs) / K
    a = _unit_put_derivatives(x_up, T, Th, pr, pq, sig, coef, dcoef, X, yp, wp, ALL, coef, Th,
                              X, coef, Th, X, coef, Th, X, coef, Th, X, False)
    b = _unit_put_derivatives(x_dn, T, Th, pr, pq, sig, coef, dcoef, X, yp, wp, ALL, coef, Th,
                              X, coef, Th, X, coef, Th, X, coef, Th, X, False)
    g_up = _to_spot(call, S + hs, K, a[0], a[1], a[2])
    g_dn = _to_spot(call, S - hs, K, b[0], b[1], b[2])
    speed = (g_up[2] - g_dn[2]) / (2 * hs)
    out[6, i] = dvanna * PERCENT
    out[7, i] = pk * d2u * PERCENT * PERCENT
    out[8, i] = (r * delta - (r - q) * (delta + S * gamma) - v2 * S * gamma
                 - 0.5 * v2 * S * S * speed) / DAYS_PER_YEAR
    return READY, READY, READY


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _greeks_body(index, S, K, T, r, q, sig, call, slot, slot_r, slot_q, out, pool, solved,
                 horizons, yl, wl, yp, wp, needs, j):
    i = index[j]
    needs[0, i], needs[1, i], needs[2, i] = american_greeks_on_table(
        S[i], K[i], T[i], r[i], q[i], sig[i], call[i], slot[i], slot_r[i], slot_q[i], pool,
        solved, horizons, yl, wl, yp, wp, out, i)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _greeks_loop(index, S, K, T, r, q, sig, call, slot, slot_r, slot_q, out, pool, solved,
                 horizons, yl, wl, yp, wp, needs):
    for j in range(index.shape[0]):
        _greeks_body(index, S, K, T, r, q, sig, call, slot, slot_r, slot_q, out, pool, solved,
                     horizons, yl, wl, yp, wp, needs, j)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _greeks_loop_parallel(index, S, K, T, r, q, sig, call, slot, slot_r, slot_q, out, pool,
                          solved, horizons, yl, wl, yp, wp, needs):
    for j in numba.prange(index.shape[0]):
        _greeks_body(index, S, K, T, r, q, sig, call, slot, slot_r, slot_q, out, pool, solved,
                     horizons, yl, wl, yp, wp, needs, j)


def greeks(spot: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
           dividend_yield: ArrayLike, vol: ArrayLike, is_call: ArrayLike,
           second_order: bool = True) -> Greeks:
    """Price and Greeks of American options, units as in :mod:`deltastream.pricing`.

    Delta, gamma, vega and rho are exact derivatives of the value on its exercise boundary
    (no spot bump reaches across it; the boundary's move with volatility comes from the
    interpolation in volatility, its move with the rate from the boundary at the rate plus
    ``RATE_BUMP``; off the tables from solves at nearby volatilities and rates); theta from the
    scaling of constant parameters, charm through the Black-Scholes equation (speed from a
    spot step of ``SPOT_BUMP`` of the analytical gamma); vanna and volga use volatility steps
    of ``VOL_BUMP``, never into the exercise region. In the exercise region the price is the
    intrinsic value, delta -1 (put) or +1 (call), every other Greek 0. An option that never
    pays to exercise early gets the analytical European Greeks. With ``second_order=False``
    only the price and the five first-order Greeks are computed (less work); vanna, volga
    and charm are then NaN.
    """
    shape, (S, K, T, r, q, sig, call) = broadcast_flat(
        spot, strike, time, rate, dividend_yield, vol, is_call)
    n = S.shape[0]
    out = np.empty((N_GREEKS if second_order else N_FIRST_ORDER, n))
    # The symmetric put's rate and yield bumped (a call's are its yield and rate).
    slot = _table_slots(T, r, q, sig, call)
    slot_r = _table_slots(T, np.where(call, r, r + RATE_BUMP), np.where(call, q + RATE_BUMP, q),
                          sig, call)
    slot_q = _table_slots(T, np.where(call, r + RATE_BUMP, r), np.where(call, q, q + RATE_BUMP),
                          sig, call)
    needs = np.empty((3, n), dtype=np.int64)
    _solve_pending((_greeks_loop, _greeks_loop_parallel), n, needs, (slot, slot_r, slot_q),
                   S, K, T, r, q, sig, call, slot, slot_r, slot_q, out)
    rows = [shaped(row, shape) for row in out]
    if not second_order:
        rows += [shaped(np.full(n, np.nan), shape)] * (N_GREEKS - N_FIRST_ORDER)
    return Greeks(*rows)


IV_TOL = 1e-10
IV_NEWTON_ACCEPT = 1e-7
IV_MAX_ITER = 60
IV_MIN_VOL = 1e-4
IV_MAX_VOL = 10.0
# A price at the intrinsic value is an exercise (EARLY_EXERCISE) when the model exercises
# the option now at this volatility, below any traded one (the boundary solve is reliable
# here, not at IV_MIN_VOL); the exercise region's Greeks are those at this volatility.
EXERCISE_CHECK_VOL = 0.05
# The lowest volatility the shared boundary tables interpolate at (the second grid node
# above their first, for the six-point stencil).
IV_TABLE_FLOOR = tables.SIG_MIN * tables.SIG_RATIO ** (tables.LAGRANGE // 2 - 1) * 1.000001


@numba.njit(cache=True, nogil=True, error_model="numpy")
def american_iv_on_table(P: float, S: float, K: float, T: float, r: float, q: float,
                         call: bool, guess: float, table: np.ndarray, slot: int,
                         pool: np.ndarray, solved: np.ndarray, horizons: np.ndarray,
                         yl: np.ndarray, wl: np.ndarray, yp: np.ndarray, wp: np.ndarray
                         ) -> tuple[float, int, int]:
    """Volatility at which the American price is ``P``: (sigma, IVStatus code, READY or the
    table node to solve before asking again).

    Newton steps with the American vega (the exact derivative of the price on the shared
    boundary table, or on boundaries solved at nearby volatilities off it), all inside a
    bracket that every evaluation narrows; it stops when the step is below ``IV_TOL``
    relative. A good ``guess`` (the surface volatility a quote came from) makes this two
    price evaluations.
    """
    if not (math.isfinite(P) and math.isfinite(S) and math.isfinite(K) and math.isfinite(r)
            and math.isfinite(q) and S > 0.0 and K > 0.0 and not math.isnan(T)):
        return math.nan, ivs.INVALID_INPUT, READY
    if T <= 0.0:
        return math.nan, ivs.NON_POSITIVE_TIME, READY
    if P <= 0.0:
        return math.nan, ivs.NON_POSITIVE_PRICE, READY
    if P >= (S if call else K):
        return math.nan, ivs.ABOVE_UPPER_BOUND, READY
    intrinsic = max(S - K, 0.0) if call else max(K - S, 0.0)
    if P < intrinsic:
        return math.nan, ivs.BELOW_INTRINSIC, READY
    if P == intrinsic:
        # Worth exactly exercising: in the exercise region at a low volatility (then at every
        # volatility up to some level, so none is implied), or no time value at all.
        if intrinsic > 0.0:
            _, _, exercised, need = _price_on_table(S, K, T, r, q, EXERCISE_CHECK_VOL, call,
                                                    slot, VALUE, pool, solved, horizons, yl, wl, yp,
                                                    wp)
            if need >= 0:
                return math.nan, ivs.NOT_CONVERGED, need
            if exercised:
                return math.nan, ivs.EARLY_EXERCISE, READY
        return math.nan, ivs.NO_TIME_VALUE, READY
    lo, hi = IV_MIN_VOL, IV_MAX_VOL
    sig = guess
    if not (sig > lo and sig < hi):
        sig, status = iv_scalar(P, S, K, T, r, q, call, table)
        if status != ivs.OK or not (sig > lo and sig < hi):
            sig = 0.3
    floor_checked = False
    prev_sig = math.nan
    prev_f = math.nan
    for _ in range(IV_MAX_ITER):
        f, vega, _, need = _price_on_table(S, K, T, r, q, sig, call, slot, WITH_VEGA, pool,
                                           solved, horizons, yl, wl, yp, wp)
        if need >= 0:
            return math.nan, ivs.NOT_CONVERGED, need
        f -= P
        if f == 0.0:
            return sig, ivs.OK, READY
        if f < 0.0:
            lo = sig
        else:
            hi = sig
            if not floor_checked and lo < IV_TABLE_FLOOR:
                # The solution may lie low: bracket it at the table's lowest volatility and
                # only below that (rare) check that a solution exists at all, at IV_MIN_VOL.
                floor_checked = True
                f_floor, _, _, need = _price_on_table(S, K, T, r, q, IV_TABLE_FLOOR, call,
                                                      slot, VALUE, pool, solved, horizons, yl, wl,
                                                      yp, wp)
                if need >= 0:
                    return math.nan, ivs.NOT_CONVERGED, need
                if f_floor < P:
                    lo = IV_TABLE_FLOOR
                else:
                    f_lo = american_price_scalar(S, K, T, r, q, IV_MIN_VOL, call, yl, wl, yp,
                                                 wp) - P
                    if f_lo >= 0.0:
                        # Even (almost) no volatility is worth more than the price.
                        return (math.nan,
                                ivs.NO_TIME_VALUE if f_lo == 0.0 else ivs.BELOW_INTRINSIC,
                                READY)
                    hi = min(hi, IV_TABLE_FLOOR)
        exact_slope = vega > 0.0
        if not exact_slope:
            if math.isfinite(prev_f) and f != prev_f:
                vega = (f - prev_f) / (sig - prev_sig)
            else:
                vega = (bsm_price_scalar(S, K, T, r, q, sig + 1e-6, call)
                        - bsm_price_scalar(S, K, T, r, q, sig - 1e-6, call)) / 2e-6
        step = -f / vega if vega > 0.0 else math.nan
        new = sig + step
        if not (new > lo and new < hi):
            new = 0.5 * (lo + hi)
        # Newton on the exact slope converges quadratically: after a step this small the
        # next one would be below IV_TOL.
        if abs(new - sig) <= (IV_NEWTON_ACCEPT if exact_slope else IV_TOL) * max(sig, 1e-3):
            return new, ivs.OK, READY
        prev_sig, prev_f = sig, f
        sig = new
        if hi - lo <= IV_TOL * lo:
            return 0.5 * (lo + hi), ivs.OK, READY
    return math.nan, ivs.NOT_CONVERGED, READY


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _iv_body(index, P, S, K, T, r, q, call, guess, table, slot, out, status, pool, solved,
             horizons, yl, wl, yp, wp, needs, j):
    i = index[j]
    out[i], status[i], needs[0, i] = american_iv_on_table(
        P[i], S[i], K[i], T[i], r[i], q[i], call[i], guess[i], table, slot[i], pool, solved,
        horizons, yl, wl, yp, wp)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _iv_loop(index, P, S, K, T, r, q, call, guess, table, slot, out, status, pool, solved,
             horizons, yl, wl, yp, wp, needs):
    for j in range(index.shape[0]):
        _iv_body(index, P, S, K, T, r, q, call, guess, table, slot, out, status, pool, solved,
                 horizons, yl, wl, yp, wp, needs, j)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _iv_loop_parallel(index, P, S, K, T, r, q, call, guess, table, slot, out, status, pool,
                      solved, horizons, yl, wl, yp, wp, needs):
    for j in numba.prange(index.shape[0]):
        _iv_body(index, P, S, K, T, r, q, call, guess, table, slot, out, status, pool, solved,
                 horizons, yl, wl, yp, wp, needs, j)


def implied_vol(price: ArrayLike, spot: ArrayLike, strike: ArrayLike, time: ArrayLike,
                rate: ArrayLike, dividend_yield: ArrayLike, is_call: ArrayLike,
                guess: ArrayLike = np.nan) -> tuple[np.ndarray, np.ndarray]:
    """Implied volatility of American option prices: (vol, int8 IVStatus codes).

    ``guess`` (optional, broadcast) starts the search; NaN starts from the European implied
    volatility of the price. Where no volatility reproduces the price the result is NaN
    with the reason; a price at the intrinsic value of an option the model exercises now is
    ``EARLY_EXERCISE`` (its Greeks are those of ``greeks`` at ``EXERCISE_CHECK_VOL``).
    """
    shape, (P, S, K, T, r, q, g, call) = broadcast_flat(
        price, spot, strike, time, rate, dividend_yield, guess, is_call)
    n = P.shape[0]
    out = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    # Options share tables by maturity, rate and yield; the volatility only picks the nodes.
    slot = _table_slots(T, r, q, np.ones(n), call)
    needs = np.empty((1, n), dtype=np.int64)
    _solve_pending((_iv_loop, _iv_loop_parallel), n, needs, (slot,),
                   P, S, K, T, r, q, call, g, GUESS_TABLE, slot, out, status)
    return shaped(out, shape), shaped(status, shape)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _boundary_loop(K, T, r, q, sig, call, yl, wl, out):
    coef = np.empty(N_NODES + 1)
    for i in range(out.shape[0]):
        pr, pq = (q[i], r[i]) if call[i] else (r[i], q[i])
        if not (pr > 0.0 and T[i] > 0.0 and sig[i] * math.sqrt(T[i]) >= 1e-8):
            out[i] = math.nan
            continue
        X = _unit_put_boundary(T[i], pr, pq, sig[i], yl, wl, coef, N_ITERATIONS)
        b = _boundary_at(coef, T[i], T[i], X)
        # A call is exercised where K / S is at or below the put boundary of its symmetry.
        out[i] = K[i] / b if call[i] else K[i] * b


def exercise_boundary(strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
                      dividend_yield: ArrayLike, vol: ArrayLike, is_call: ArrayLike
                      ) -> np.ndarray:
    """The spot at which exercising now is optimal (a put at or below it, a call at or above
    it), in currency units, on the boundary the prices use; NaN for an option never exercised
    early (a put at a rate <= 0, a call at a yield <= 0) or without time or volatility."""
    shape, (K, T, r, q, sig, call) = broadcast_flat(
        strike, time, rate, dividend_yield, vol, is_call)
    out = np.empty(K.shape[0])
    _boundary_loop(K, T, r, q, sig, call, _Y, _W, out)
    return shaped(out, shape)
