"""Implied volatility of European options (Black-Scholes-Merton and Black-76), vectorized.

The price is first reduced to the normalised out-of-the-money Black price
``b(x, s) = exp(x/2) N(x/s + s/2) - exp(-x/2) N(x/s - s/2)`` with ``x = -|ln(F/K)|`` and
``s = sigma * sqrt(T)``: an in-the-money price is turned into its out-of-the-money counterpart
by put-call parity, so the solver never fights the intrinsic value. ``b`` is evaluated through
``erfcx`` so that prices far below the smallest double still have a finite logarithm.

The root of ``ln b(x, s) = ln beta`` is found with Halley steps on ``ln b`` (cubic convergence;
``ln b`` is close to linear in ``1/s^2`` for tiny prices, where Newton on the price itself
stalls), kept inside a bracket that every evaluation narrows, so it cannot diverge. It stops when
the step is below 4 ulps of ``s``: machine precision, typically in two to four iterations.

Every input gets a status (:class:`~deltastream.core.types.IVStatus`); where no volatility
reproduces the price the result is NaN, never 0 or a floor.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import ArrayLike

from ..core import types as ivs
from ._arrays import broadcast_flat, run_kernel, shaped
from ._special import erfcx, norm_cdf, norm_ppf
from .black_scholes_merton import (
    N_FIRST_ORDER,
    N_GREEKS,
    Greeks,
    bsm_greeks_pair_scalar,
    bsm_greeks_scalar,
)

_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_ACCEPT_STEP = 1e-7
_MAX_ITER = 60
_MAX_U = 1.0 - 2.0**-52
# No double price has a solution beyond this log-moneyness: b(x, s) < exp(-x^2/8).
_MAX_ABS_X = 1400.0
# Starting-point table: ratio of the solution to the asymptotic guess on a grid of sqrt(|x|)
# and eta = N^-1(b exp(-x/2)), built once at import from the solver itself (~0.1 s). Fine
# enough in both that a start from it converges in two evaluations almost everywhere.
_TABLE_N_A = 385
_TABLE_SQRT_A_STEP = 2.0 / (_TABLE_N_A - 1)
_TABLE_N_ETA = 641
_TABLE_ETA_MIN = -12.0
_TABLE_ETA_STEP = 20.0 / (_TABLE_N_ETA - 1)



@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _log_b_and_derivs(x: float, s: float) -> tuple[float, float, float]:
    """ln b(x, s) for x <= 0, with d(ln b)/ds and d2(ln b)/ds2."""
    h = x / s
    t = 0.5 * s
    if h + t < 0.0:
        # Both arguments of erfcx positive: scaled form, no underflow and no exp.
        diff = erfcx(-(h + t) / _SQRT2) - erfcx(-(h - t) / _SQRT2)
        log_b = -0.5 * (h * h + t * t) + math.log(0.5 * diff)
        g1 = _SQRT_2_OVER_PI / diff
    else:
        b = math.exp(0.5 * x) * norm_cdf(h + t) - math.exp(-0.5 * x) * norm_cdf(h - t)
        log_b = math.log(b)
        g1 = math.exp(-0.5 * (h * h + t * t) - _LN_SQRT_2PI - log_b)
    # b'' = b' (h^2/s - s/4), so (ln b)'' = g1 (h^2/s - s/4) - g1^2.
    g2 = g1 * (h * h / s - 0.25 * s) - g1 * g1
    return log_b, g1, g2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _solve_s(x: float, log_beta: float, s: float) -> tuple[float, int]:
    """Bracketed Halley iteration on ln b(x, s) = log_beta from s; returns (s, evaluations)."""
    lo = 0.0
    hi = math.inf
    for it in range(_MAX_ITER):
        log_b, g1, g2 = _log_b_and_derivs(x, s)
        f = log_b - log_beta
        if f == 0.0:
            return s, it + 1
        if f < 0.0:
            lo = s
        else:
            hi = s
        newton = -f / g1
        denom = 1.0 - 0.5 * newton * g2 / g1
        step = newton / denom if denom > 0.5 else newton
        # Halley's error after a step is of the order of the step cubed: once the step is below
        # 1e-7 relative, the new point is exact to machine precision without another evaluation.
        # Tested before the bracket: a step below half an ulp leaves s on the bracket's edge
        # (from an exact start, say), and s is then the root already.
        if abs(step) <= _ACCEPT_STEP * s:
            return s + step, it + 1
        s_new = s + step
        if not (s_new > lo and s_new < hi):
            s_new = s + newton
            if not (s_new > lo and s_new < hi):
                s_new = 0.5 * (lo + hi) if hi < math.inf else 2.0 * s
                if lo == 0.0 and hi < math.inf:
                    s_new = 0.5 * hi
        if abs(s_new - s) <= _ACCEPT_STEP * s:
            return s_new, it + 1
        s = s_new
    return math.nan, _MAX_ITER


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _asymptotic_s(x: float, beta: float) -> tuple[float, float]:
    """(eta, s0) with eta = N^-1(u), u = beta exp(-x/2) in (0, 1), and a starting point s0.

    s0 = 2 N^-1((1 + u)/2) + 2|x| / (sqrt(eta^2 + 2|x|) + |eta|) is exact at the money and in
    both limits (s ~ |x|/|eta| for tiny prices, s ~ 2 eta near the upper bound); the tabulated
    ratio s/s0 in between is smooth.
    """
    u = min(beta * math.exp(-0.5 * x), _MAX_U)
    eta = norm_ppf(u)
    root = math.sqrt(eta * eta - 2.0 * x)
    s0 = 2.0 * norm_ppf(0.5 + 0.5 * u) - 2.0 * x / (root + abs(eta))
    return eta, s0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _guess_s(x: float, beta: float, table: np.ndarray) -> float:
    eta, s0 = _asymptotic_s(x, beta)
    fa = math.sqrt(-x) / _TABLE_SQRT_A_STEP
    fe = (eta - _TABLE_ETA_MIN) / _TABLE_ETA_STEP
    na = table.shape[0] - 1
    ne = table.shape[1] - 1
    if not (fa < na and fe >= 0.0 and fe < ne):
        return s0
    i = int(fa)
    j = int(fe)
    wa = fa - i
    we = fe - j
    ratio = ((1.0 - wa) * ((1.0 - we) * table[i, j] + we * table[i, j + 1])
             + wa * ((1.0 - we) * table[i + 1, j] + we * table[i + 1, j + 1]))
    return s0 * ratio


@numba.njit(cache=True, nogil=True, error_model="numpy")
def normalised_implied_s(x: float, beta: float, table: np.ndarray) -> tuple[float, int]:
    """Solve b(x, s) = beta for s > 0 given x <= 0 and 0 < beta < exp(x/2); (s, evaluations)."""
    if not (x > -_MAX_ABS_X):
        return math.nan, 0
    return _solve_s(x, math.log(beta), _guess_s(x, beta, table))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fill_guess_table(table: np.ndarray) -> None:
    for i in range(table.shape[0]):
        x = -((i * _TABLE_SQRT_A_STEP) ** 2)
        for j in range(table.shape[1]):
            eta = _TABLE_ETA_MIN + j * _TABLE_ETA_STEP
            u = norm_cdf(eta)
            beta = u * math.exp(0.5 * x)
            s0 = _asymptotic_s(x, beta)[1]
            s = _solve_s(x, math.log(beta), s0)[0]
            table[i, j] = s / s0 if math.isfinite(s) and s > 0.0 else 1.0


def _make_guess_table() -> np.ndarray:
    table = np.ones((_TABLE_N_A, _TABLE_N_ETA))
    _fill_guess_table(table)
    return table


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def iv_scalar(P: float, S: float, K: float, T: float, r: float, q: float,
              call: bool, table: np.ndarray) -> tuple[float, int]:
    """Implied volatility of one BSM price: (sigma, status code)."""
    return iv_scalar_from(P, S, K, T, r, q, call, math.nan, table)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def iv_scalar_from(P: float, S: float, K: float, T: float, r: float, q: float,
                   call: bool, guess: float, table: np.ndarray) -> tuple[float, int]:
    """Implied volatility of one BSM price, the search starting at ``guess`` (a volatility)
    when it is positive and finite, else at the tabulated starting point: (sigma, status)."""
    status = _input_status(P, S, K, T, r, q)
    if status != ivs.OK:
        return math.nan, status
    fwd, strike, x, root, cap, sqrt_t = _discounted_terms(S, K, T, r, q)
    otm, status = _out_of_the_money_price(P, fwd, strike, call)
    if status != ivs.OK:
        return math.nan, status
    return _iv_of_normalised(x, otm / root, cap, sqrt_t, guess, table)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _input_status(P: float, S: float, K: float, T: float, r: float, q: float) -> int:
    if not (math.isfinite(P) and math.isfinite(S) and math.isfinite(K) and math.isfinite(r)
            and math.isfinite(q) and S > 0.0 and K > 0.0 and not math.isnan(T)):
        return ivs.INVALID_INPUT
    if T <= 0.0:
        return ivs.NON_POSITIVE_TIME
    if P <= 0.0:
        return ivs.NON_POSITIVE_PRICE
    return ivs.OK


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _discounted_terms(S: float, K: float, T: float, r: float,
                      q: float) -> tuple[float, float, float, float, float, float]:
    """What a strike's call and put share: the discounted forward and strike, x = -|ln(F/K)|,
    sqrt(F K) (the price unit), the bound exp(x/2) on the normalised price, and sqrt(T)."""
    fwd = S * math.exp(-q * T)      # discounted forward
    strike = K * math.exp(-r * T)   # discounted strike
    x = -abs(math.log(fwd / strike))
    return fwd, strike, x, math.sqrt(fwd * strike), math.exp(0.5 * x), math.sqrt(T)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _out_of_the_money_price(P: float, fwd: float, strike: float,
                            call: bool) -> tuple[float, int]:
    """The out-of-the-money counterpart of price ``P`` (put-call parity), or a status why
    none exists."""
    intrinsic = fwd - strike if call else strike - fwd
    upper = fwd if call else strike
    if P >= upper:
        return math.nan, ivs.ABOVE_UPPER_BOUND
    if intrinsic > 0.0:
        if P < intrinsic:
            return math.nan, ivs.BELOW_INTRINSIC
        otm = P - intrinsic
        if otm <= 0.0:
            return math.nan, ivs.NO_TIME_VALUE
        return otm, ivs.OK
    return P, ivs.OK


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _iv_of_normalised(x: float, beta: float, cap: float, sqrt_t: float, guess: float,
                      table: np.ndarray) -> tuple[float, int]:
    if beta >= cap:
        return math.nan, ivs.ABOVE_UPPER_BOUND
    s = math.nan
    if x > -_MAX_ABS_X and guess > 0.0 and guess * sqrt_t < math.inf:
        # A close start saves evaluations; where it fails (prices with hardly a significant
        # digit left), the tabulated start decides, as without a guess.
        s = _solve_s(x, math.log(beta), guess * sqrt_t)[0]
    if not math.isfinite(s):
        s = normalised_implied_s(x, beta, table)[0]
    if not math.isfinite(s):
        return math.nan, ivs.NOT_CONVERGED
    return s / sqrt_t, ivs.OK


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _iv_loop(P, S, K, T, r, q, call, table, out, status):
    for i in range(out.shape[0]):
        out[i], st = iv_scalar(P[i], S[i], K[i], T[i], r[i], q[i], call[i], table)
        status[i] = st


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _iv_loop_parallel(P, S, K, T, r, q, call, table, out, status):
    for i in numba.prange(out.shape[0]):
        out[i], st = iv_scalar(P[i], S[i], K[i], T[i], r[i], q[i], call[i], table)
        status[i] = st


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _iv_greeks_loop(P, S, K, T, r, q, call, guess, table, iv, status, greeks):
    for i in range(P.shape[0]):
        iv[i], st = iv_scalar_from(P[i], S[i], K[i], T[i], r[i], q[i], call[i], guess[i], table)
        status[i] = st
        bsm_greeks_scalar(S[i], K[i], T[i], r[i], q[i], iv[i], call[i], greeks, i)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _iv_greeks_loop_parallel(P, S, K, T, r, q, call, guess, table, iv, status, greeks):
    for i in numba.prange(P.shape[0]):
        iv[i], st = iv_scalar_from(P[i], S[i], K[i], T[i], r[i], q[i], call[i], guess[i], table)
        status[i] = st
        bsm_greeks_scalar(S[i], K[i], T[i], r[i], q[i], iv[i], call[i], greeks, i)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _iv_pair(Pc: float, Pp: float, S: float, K: float, T: float, r: float, q: float,
             guess: float, table: np.ndarray) -> tuple[float, int, float, int]:
    """:func:`iv_scalar_from` of a strike's call and put prices: (call sigma, status, put
    sigma, status). Where both reduce to the same out-of-the-money price, one solve serves
    both: the same inputs to the same computation."""
    status_c = _input_status(Pc, S, K, T, r, q)
    status_p = _input_status(Pp, S, K, T, r, q)
    if status_c != ivs.OK and status_p != ivs.OK:
        return math.nan, status_c, math.nan, status_p
    fwd, strike, x, root, cap, sqrt_t = _discounted_terms(S, K, T, r, q)
    otm_c = otm_p = math.nan
    if status_c == ivs.OK:
        otm_c, status_c = _out_of_the_money_price(Pc, fwd, strike, True)
    if status_p == ivs.OK:
        otm_p, status_p = _out_of_the_money_price(Pp, fwd, strike, False)
    sig_c = sig_p = math.nan
    if status_c == ivs.OK:
        sig_c, status_c = _iv_of_normalised(x, otm_c / root, cap, sqrt_t, guess, table)
    if status_p == ivs.OK:
        if otm_p / root == otm_c / root:
            sig_p, status_p = sig_c, status_c
        else:
            sig_p, status_p = _iv_of_normalised(x, otm_p / root, cap, sqrt_t, guess, table)
    return sig_c, status_c, sig_p, status_p


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _iv_greeks_pair_at(P, S, K, T, r, q, guess, table, iv, status, greeks, i):
    n = S.shape[0]
    iv[i], st_c, iv[n + i], st_p = _iv_pair(P[0, i], P[1, i], S[i], K[i], T[i], r[i], q[i],
                                            guess[i], table)
    status[i] = st_c
    status[n + i] = st_p
    bsm_greeks_pair_scalar(S[i], K[i], T[i], r[i], q[i], iv[i], iv[n + i], greeks, i, n + i)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _iv_greeks_pairs_loop(P, S, K, T, r, q, guess, table, iv, status, greeks):
    for i in range(S.shape[0]):
        _iv_greeks_pair_at(P, S, K, T, r, q, guess, table, iv, status, greeks, i)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _iv_greeks_pairs_loop_parallel(P, S, K, T, r, q, guess, table, iv, status, greeks):
    for i in numba.prange(S.shape[0]):
        _iv_greeks_pair_at(P, S, K, T, r, q, guess, table, iv, status, greeks, i)


GUESS_TABLE = _make_guess_table()


def implied_vol(price: ArrayLike, spot: ArrayLike, strike: ArrayLike, time: ArrayLike,
                rate: ArrayLike, dividend_yield: ArrayLike,
                is_call: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Black-Scholes-Merton implied volatility of European option prices.

    Returns ``(vol, status)``: vol as an annualised decimal (NaN where none exists) and an
    ``int8`` array of :class:`IVStatus` codes. Units as in :mod:`deltastream.pricing`.
    """
    shape, (P, S, K, T, r, q, call) = broadcast_flat(
        price, spot, strike, time, rate, dividend_yield, is_call)
    out = np.empty(P.shape[0])
    status = np.empty(P.shape[0], dtype=np.int8)
    run_kernel(_iv_loop, _iv_loop_parallel, out.shape[0],
               P, S, K, T, r, q, call, GUESS_TABLE, out, status)
    return shaped(out, shape), shaped(status, shape)


def implied_vol_black76(price: ArrayLike, forward: ArrayLike, strike: ArrayLike,
                        time: ArrayLike, rate: ArrayLike,
                        is_call: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Black-76 implied volatility of European options on a forward (discounting at ``rate``)."""
    # Black-76 is Black-Scholes-Merton on the forward with the dividend yield equal to the rate.
    return implied_vol(price, forward, strike, time, rate, rate, is_call)


def implied_vol_and_greeks(price: ArrayLike, spot: ArrayLike, strike: ArrayLike,
                           time: ArrayLike, rate: ArrayLike, dividend_yield: ArrayLike,
                           is_call: ArrayLike, guess: ArrayLike = np.nan
                           ) -> tuple[np.ndarray, np.ndarray, Greeks]:
    """Implied volatility of European prices and the Greeks at it, in one pass.

    The same numbers as :func:`implied_vol` followed by
    ``black_scholes_merton.greeks(..., second_order=False)`` at the solved volatility, without
    the intermediate arrays: ``(vol, status, greeks)`` with vanna, volga and charm NaN.
    ``guess`` (optional, broadcast; e.g. the volatility a quote was made from) starts the
    search where it is positive and finite.
    """
    shape, (P, S, K, T, r, q, g, call) = broadcast_flat(
        price, spot, strike, time, rate, dividend_yield, guess, is_call)
    n = P.shape[0]
    iv = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    out = np.empty((N_FIRST_ORDER, n))
    run_kernel(_iv_greeks_loop, _iv_greeks_loop_parallel, n,
               P, S, K, T, r, q, call, g, GUESS_TABLE, iv, status, out)
    missing = shaped(np.full(n, np.nan), shape)
    return (shaped(iv, shape), shaped(status, shape),
            Greeks(*(shaped(row, shape) for row in out),
                   *[missing] * (N_GREEKS - N_FIRST_ORDER)))


def chain_implied_vol_and_greeks(prices: ArrayLike, spot: ArrayLike, strike: ArrayLike,
                                 time: ArrayLike, rate: ArrayLike, dividend_yield: ArrayLike,
                                 guess: ArrayLike = np.nan
                                 ) -> tuple[np.ndarray, np.ndarray, Greeks]:
    """:func:`implied_vol_and_greeks` of a chain: ``prices`` of shape (2, n) hold the calls
    (row 0) and puts (row 1) of n strikes; the other inputs broadcast to (n,). The same
    numbers, with the work a call and a put of one strike share done once."""
    P = np.asarray(prices, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != 2:
        raise ValueError(f"prices must have shape (2, n), got {P.shape}")
    _, (S, K, T, r, q, g) = broadcast_flat(
        np.broadcast_to(spot, P.shape[1:]), strike, time, rate, dividend_yield, guess,
        bool_last=False)
    iv = np.empty(P.size)
    status = np.empty(P.size, dtype=np.int8)
    out = np.empty((N_FIRST_ORDER, P.size))
    run_kernel(_iv_greeks_pairs_loop, _iv_greeks_pairs_loop_parallel, P.size,
               P, S, K, T, r, q, g, GUESS_TABLE, iv, status, out)
    missing = np.full(P.shape, np.nan)
    return (iv.reshape(P.shape), status.reshape(P.shape),
            Greeks(*(row.reshape(P.shape) for row in out),
                   *[missing] * (N_GREEKS - N_FIRST_ORDER)))
