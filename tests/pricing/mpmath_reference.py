"""High-precision Black-Scholes-Merton values with mpmath (40 significant digits)."""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 40


def bsm_price(S, K, T, r, q, sigma, call: bool) -> mp.mpf:
    # Values already of mpmath type are kept as they are, so mp.diff can perturb them.
    S, K, T, r, q, sigma = (v if isinstance(v, mp.mpf) else mp.mpf(float(v))
                            for v in (S, K, T, r, q, sigma))
    s = sigma * mp.sqrt(T)
    d1 = (mp.log(S / K) + (r - q) * T) / s + s / 2
    d2 = d1 - s
    if call:
        return S * mp.exp(-q * T) * mp.ncdf(d1) - K * mp.exp(-r * T) * mp.ncdf(d2)
    return K * mp.exp(-r * T) * mp.ncdf(-d2) - S * mp.exp(-q * T) * mp.ncdf(-d1)


def volga(S, K, T, r, q, sigma, call: bool) -> float:
    """d2V/dsigma2 per (volatility point)^2."""
    f = lambda v: bsm_price(S, K, T, r, q, v, call)  # noqa: E731
    return float(mp.diff(f, mp.mpf(float(sigma)), 2) / 10_000)


def charm(S, K, T, r, q, sigma, call: bool) -> float:
    """d(delta)/dt per calendar day (t = calendar time, so -d2V/dS dT / 365)."""
    f = lambda s_, t_: bsm_price(s_, K, t_, r, q, sigma, call)  # noqa: E731
    return float(-mp.diff(f, (mp.mpf(float(S)), mp.mpf(float(T))), (1, 1)) / 365)
