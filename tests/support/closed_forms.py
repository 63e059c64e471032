"""Closed-form European option prices that tests and fixture generators make markets with:
Black-76 on a forward, and Black-Scholes-Merton on a spot with a continuous dividend yield
(price and Greeks).

Units: times in years, rates and dividend yields continuously compounded per year, and
volatilities per year, all as decimals. Greeks of :func:`black_scholes`: delta per unit of the
spot, gamma per unit of the spot squared, theta per calendar day (a 365-day year), vega per
volatility point (0.01), rho per unit of the rate (1.00 = 100 percentage points; a caller that
files rho per percentage point divides it by 100).

Written independently of ``deltastream.pricing`` (scipy's normal distribution), so that a
test comparing the package with these prices compares two implementations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr
from scipy.stats import norm


def black76(forward: float, strike: npt.ArrayLike, time: float, rate: float,
            vol: npt.ArrayLike, call: bool) -> np.ndarray:
    """Discounted Black-76 prices of options on ``forward`` (vectorised over ``strike`` and
    ``vol``); at ``time <= 0`` the intrinsic value."""
    strike = np.asarray(strike, dtype=np.float64)
    if time <= 0:
        return np.maximum(forward - strike, 0.0) if call else np.maximum(strike - forward, 0.0)
    s = np.asarray(vol, dtype=np.float64) * math.sqrt(time)
    d1 = np.log(forward / strike) / s + 0.5 * s
    d2 = d1 - s
    df = math.exp(-rate * time)
    if call:
        return df * (forward * ndtr(d1) - strike * ndtr(d2))
    return df * (strike * ndtr(-d2) - forward * ndtr(-d1))


def forward_price(spot: float, time: float, rate: float, dividend: float) -> float:
    """The forward of ``spot`` for ``time`` years: ``S exp((r - q) T)``."""
    return spot * math.exp((rate - dividend) * time)


@dataclass(frozen=True)
class BlackScholes:
    """A Black-Scholes-Merton price and its Greeks (units in the module docstring)."""

    price: float
    delta: float
    gamma: float
    theta: float
    vega: float
    rho: float


def black_scholes(spot: float, strike: float, time: float, rate: float, dividend: float,
                  vol: float, call: bool) -> BlackScholes:
    """Black-Scholes-Merton with a continuous dividend yield, for ``time > 0``."""
    forward = forward_price(spot, time, rate, dividend)
    d1 = (math.log(forward / strike) + 0.5 * vol * vol * time) / (vol * math.sqrt(time))
    d2 = d1 - vol * math.sqrt(time)
    df, dq = math.exp(-rate * time), math.exp(-dividend * time)
    sign = 1 if call else -1
    theta_year = (-spot * dq * norm.pdf(d1) * vol / (2 * math.sqrt(time))
                  - sign * rate * strike * df * norm.cdf(sign * d2)
                  + sign * dividend * spot * dq * norm.cdf(sign * d1))
    return BlackScholes(
        price=sign * (spot * dq * norm.cdf(sign * d1) - strike * df * norm.cdf(sign * d2)),
        delta=sign * dq * norm.cdf(sign * d1),
        gamma=dq * norm.pdf(d1) / (spot * vol * math.sqrt(time)),
        theta=theta_year / 365,
        vega=spot * dq * norm.pdf(d1) * math.sqrt(time) / 100,
        rho=sign * strike * time * df * norm.cdf(sign * d2))
