"""Black-Scholes-Merton: European options on an asset with a continuous dividend yield.

Inputs (all broadcast against each other, scalars or arrays):

- ``spot`` S and ``strike`` K in currency units, both > 0;
- ``time`` T in years (ACT/365) to the exact expiry instant, >= 0 (0 gives the payoff);
- ``rate`` r and ``dividend_yield`` q, continuously compounded decimals (0.055);
- ``vol`` sigma, annualised decimal (0.15), >= 0 (0 gives the discounted intrinsic value);
- ``is_call`` True for calls, False for puts.

Invalid inputs (non-positive S or K, negative T or sigma, NaN) give NaN, never an exception.
Greek units are those of :mod:`deltastream.pricing` (theta per calendar day, vega and rho per
1 percentage point).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from numpy.typing import ArrayLike

from ._arrays import broadcast_flat, run_kernel, shaped
from ._special import norm_cdf, norm_pdf

DAYS_PER_YEAR = 365.0
_INV_DAYS = 1.0 / DAYS_PER_YEAR
PERCENT = 0.01


class Greeks(NamedTuple):
    """Price and sensitivities of an option, in the units of :mod:`deltastream.pricing`."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray
    rho: np.ndarray
    vanna: np.ndarray
    volga: np.ndarray
    charm: np.ndarray


N_GREEKS = len(Greeks._fields)
N_FIRST_ORDER = 6  # price, delta, gamma, theta, vega, rho


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _inputs_invalid(S: float, K: float, T: float, r: float, q: float, sig: float) -> bool:
    return not (
        S > 0.0 and K > 0.0 and T >= 0.0 and sig >= 0.0
        and math.isfinite(S) and math.isfinite(K) and math.isfinite(T)
        and math.isfinite(r) and math.isfinite(q) and math.isfinite(sig)
    )


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def parity_price(fwd: float, strike: float, d1: float, d2: float, call: bool) -> float:
    """Option value from the discounted forward S e^-qT and discounted strike K e^-rT.

    The out-of-the-money option is priced directly and an in-the-money one as its
    out-of-the-money counterpart plus the intrinsic value, so the time value keeps full
    relative precision and the implied-volatility solver, which subtracts the same intrinsic
    value in the same order, recovers it exactly.
    """
    call_value, put_value = parity_pair(fwd, strike, d1, d2)
    return call_value if call else put_value


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def parity_pair(fwd: float, strike: float, d1: float, d2: float) -> tuple[float, float]:
    """(call, put) values as :func:`parity_price` gives them, from one pair of normal
    probabilities."""
    if fwd < strike:
        otm_call = max(fwd * norm_cdf(d1) - strike * norm_cdf(d2), 0.0)
        return otm_call, otm_call + (strike - fwd)
    otm_put = max(strike * norm_cdf(-d2) - fwd * norm_cdf(-d1), 0.0)
    return otm_put + (fwd - strike), otm_put


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def bsm_price_scalar(S: float, K: float, T: float, r: float, q: float, sig: float,
                     call: bool) -> float:
    """Price of one option (compiled scalar kernel shared with the other pricing modules)."""
    call_value, put_value = bsm_call_put_scalar(S, K, T, r, q, sig)
    return call_value if call else put_value


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def bsm_call_put_scalar(S: float, K: float, T: float, r: float, q: float,
                        sig: float) -> tuple[float, float]:
    """(call, put) prices of one strike: the work of one price, the numbers of two."""
    if _inputs_invalid(S, K, T, r, q, sig):
        return math.nan, math.nan
    if T == 0.0:
        return max(S - K, 0.0), max(K - S, 0.0)
    dq = math.exp(-q * T)
    dr = math.exp(-r * T)
    s = sig * math.sqrt(T)
    if s == 0.0:
        return max(S * dq - K * dr, 0.0), max(-(S * dq - K * dr), 0.0)
    d1 = (math.log(S / K) + (r - q) * T) / s + 0.5 * s
    return parity_pair(S * dq, K * dr, d1, d1 - s)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _price_loop(S, K, T, r, q, sig, call, out):
    for i in range(out.shape[0]):
        out[i] = bsm_price_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i])


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _price_loop_parallel(S, K, T, r, q, sig, call, out):
    for i in numba.prange(out.shape[0]):
        out[i] = bsm_price_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _call_put_loop(S, K, T, r, q, sig, out):
    for i in range(out.shape[1]):
        out[0, i], out[1, i] = bsm_call_put_scalar(S[i], K[i], T[i], r[i], q[i], sig[i])


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _call_put_loop_parallel(S, K, T, r, q, sig, out):
    for i in numba.prange(out.shape[1]):
        out[0, i], out[1, i] = bsm_call_put_scalar(S[i], K[i], T[i], r[i], q[i], sig[i])


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def bsm_greeks_scalar(S: float, K: float, T: float, r: float, q: float, sig: float,
                      call: bool, out: np.ndarray, i: int) -> None:
    """Price and Greeks of one option into ``out[:, i]`` (order of :class:`Greeks`); with
    only ``N_FIRST_ORDER`` rows in ``out``, vanna, volga and charm are skipped."""
    rows = out.shape[0]
    if _inputs_invalid(S, K, T, r, q, sig):
        for j in range(rows):
            out[j, i] = math.nan
        return
    w = 1.0 if call else -1.0
    if T == 0.0:
        for j in range(rows):
            out[j, i] = 0.0
        out[0, i] = max(w * (S - K), 0.0)
        out[1, i] = w if w * (S - K) > 0.0 else 0.0
        return
    dq = math.exp(-q * T)
    dr = math.exp(-r * T)
    sqrt_t = math.sqrt(T)
    s = sig * sqrt_t
    if s == 0.0:
        # Deterministic forward: the option is worth its discounted intrinsic value.
        for j in range(rows):
            out[j, i] = 0.0
        fwd_value = w * (S * dq - K * dr)
        if fwd_value > 0.0:
            out[0, i] = fwd_value
            out[1, i] = w * dq
            out[3, i] = w * (q * S * dq - r * K * dr) / DAYS_PER_YEAR
            out[5, i] = w * K * T * dr * PERCENT
            if rows > N_FIRST_ORDER:
                out[8, i] = w * q * dq / DAYS_PER_YEAR
        return
    sdq = S * dq
    kdr = K * dr
    z = 1.0 if sdq < kdr else -1.0
    d1, d2, a, b, pdf1 = _normal_terms(math.log(S / K), T, r, q, s, z)
    _greeks_of_side(w, S, K, T, r, q, sig, dq, dr, sqrt_t, s, d1, d2, sdq, kdr, z, a, b,
                    pdf1, out, i)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _normal_terms(log_sk: float, T: float, r: float, q: float, s: float,
                  z: float) -> tuple[float, float, float, float, float]:
    """d1, d2, N(z d1), N(z d2) and N'(d1) at total volatility ``s``. Normal probabilities
    of the out-of-the-money side only (z = 1 when S e^-qT < K e^-rT): the in-the-money
    option is that one plus intrinsic value, as in parity_price."""
    d1 = (log_sk + (r - q) * T) / s + 0.5 * s
    d2 = d1 - s
    return d1, d2, norm_cdf(z * d1), norm_cdf(z * d2), norm_pdf(d1)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _greeks_of_side(w: float, S: float, K: float, T: float, r: float, q: float, sig: float,
                    dq: float, dr: float, sqrt_t: float, s: float, d1: float, d2: float,
                    sdq: float, kdr: float, z: float, a: float, b: float, pdf1: float,
                    out: np.ndarray, i: int) -> None:
    """The call's (``w`` = 1) or the put's (-1) price and Greeks from what both share."""
    rows = out.shape[0]
    otm = max(z * (sdq * a - kdr * b), 0.0)
    if z == w:
        price = otm
        nd1 = a
        nd2 = b
    else:
        price = otm + w * (sdq - kdr)
        nd1 = 1.0 - a
        nd2 = 1.0 - b
    vega = sdq * pdf1 * sqrt_t
    # Reciprocals once: divisions cost several times a multiplication in this loop.
    inv_s = 1.0 / s
    inv_sig = 1.0 / sig
    dq_pdf = dq * pdf1
    out[0, i] = price
    out[1, i] = w * dq * nd1
    out[2, i] = dq_pdf * inv_s / S
    out[3, i] = (-0.5 * sdq * pdf1 * sig / sqrt_t - w * r * kdr * nd2
                 + w * q * sdq * nd1) * _INV_DAYS
    out[4, i] = vega * PERCENT
    out[5, i] = w * K * T * dr * nd2 * PERCENT
    if rows == N_FIRST_ORDER:
        return
    out[6, i] = -dq_pdf * d2 * inv_sig * PERCENT
    out[7, i] = vega * d1 * d2 * inv_sig * (PERCENT * PERCENT)
    out[8, i] = (w * q * dq * nd1
                 - dq_pdf * (2.0 * (r - q) * T - d2 * s) * 0.5 * inv_s / T) * _INV_DAYS


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def bsm_greeks_pair_scalar(S: float, K: float, T: float, r: float, q: float, sig_call: float,
                           sig_put: float, out: np.ndarray, i_call: int, i_put: int) -> None:
    """:func:`bsm_greeks_scalar` of a strike's call (at ``sig_call``, into column ``i_call``)
    and put, the same numbers with the shared work done once: the discount factors and
    ln(S/K) always, the normal probabilities too where the two volatilities are equal."""
    sqrt_t = math.sqrt(T)
    if not (T > 0.0 and sig_call * sqrt_t > 0.0 and sig_put * sqrt_t > 0.0
            and not _inputs_invalid(S, K, T, r, q, sig_call)
            and not _inputs_invalid(S, K, T, r, q, sig_put)):
        bsm_greeks_scalar(S, K, T, r, q, sig_call, True, out, i_call)
        bsm_greeks_scalar(S, K, T, r, q, sig_put, False, out, i_put)
        return
    dq = math.exp(-q * T)
    dr = math.exp(-r * T)
    log_sk = math.log(S / K)
    sdq = S * dq
    kdr = K * dr
    z = 1.0 if sdq < kdr else -1.0
    s = sig_call * sqrt_t
    d1, d2, a, b, pdf1 = _normal_terms(log_sk, T, r, q, s, z)
    _greeks_of_side(1.0, S, K, T, r, q, sig_call, dq, dr, sqrt_t, s, d1, d2, sdq, kdr, z, a, b,
                    pdf1, out, i_call)
    if sig_put != sig_call:
        s = sig_put * sqrt_t
        d1, d2, a, b, pdf1 = _normal_terms(log_sk, T, r, q, s, z)
    _greeks_of_side(-1.0, S, K, T, r, q, sig_put, dq, dr, sqrt_t, s, d1, d2, sdq, kdr, z, a, b,
                    pdf1, out, i_put)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _greeks_loop(S, K, T, r, q, sig, call, out):
    for i in range(out.shape[1]):
        bsm_greeks_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i], out, i)


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def _greeks_loop_parallel(S, K, T, r, q, sig, call, out):
    for i in numba.prange(out.shape[1]):
        bsm_greeks_scalar(S[i], K[i], T[i], r[i], q[i], sig[i], call[i], out, i)


def price(spot: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
          dividend_yield: ArrayLike, vol: ArrayLike, is_call: ArrayLike) -> np.ndarray:
    """European option value in currency units."""
    shape, (S, K, T, r, q, sig, call) = broadcast_flat(
        spot, strike, time, rate, dividend_yield, vol, is_call)
    out = np.empty(S.shape[0])
    run_kernel(_price_loop, _price_loop_parallel, out.shape[0], S, K, T, r, q, sig, call, out)
    return shaped(out, shape)


def call_put_prices(spot: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
                    dividend_yield: ArrayLike, vol: ArrayLike) -> np.ndarray:
    """Call and put values at once, shape ``(2, *shape)``: ``[0]`` calls, ``[1]`` puts, the
    numbers :func:`price` gives (a chain's two sides for the work of one)."""
    shape, (S, K, T, r, q, sig) = broadcast_flat(spot, strike, time, rate, dividend_yield, vol,
                                                 bool_last=False)
    out = np.empty((2, S.shape[0]))
    run_kernel(_call_put_loop, _call_put_loop_parallel, out.shape[1], S, K, T, r, q, sig, out)
    return out.reshape((2, *shape))


def greeks(spot: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
           dividend_yield: ArrayLike, vol: ArrayLike, is_call: ArrayLike,
           second_order: bool = True) -> Greeks:
    """Price and analytical Greeks (delta, gamma, theta, vega, rho, vanna, volga, charm).

    With ``second_order=False`` only the price and the five first-order Greeks are computed
    (faster); vanna, volga and charm are then NaN.
    """
    shape, (S, K, T, r, q, sig, call) = broadcast_flat(
        spot, strike, time, rate, dividend_yield, vol, is_call)
    out = np.empty((N_GREEKS if second_order else N_FIRST_ORDER, S.shape[0]))
    run_kernel(_greeks_loop, _greeks_loop_parallel, S.shape[0], S, K, T, r, q, sig, call, out)
    rows = [shaped(row, shape) for row in out]
    if not second_order:
        missing = np.full(S.shape[0], np.nan)
        rows += [shaped(missing, shape)] * (N_GREEKS - N_FIRST_ORDER)
    return Greeks(*rows)
