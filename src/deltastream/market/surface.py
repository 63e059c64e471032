"""Implied-volatility surface: SSVI (Gatheral and Jacquier, 2014), free of static arbitrage.

Total implied variance at log-moneyness ``k = ln(K/F)`` and expiry ``T`` (years) is

    w(k, T) = theta/2 * (1 + rho phi k + sqrt((phi k + rho)^2 + 1 - rho^2)),
    phi(theta) = eta / (theta^gamma (1 + theta)^(1 - gamma)),

with ``theta(T)`` the at-the-money total variance. With ``eta (1 + |rho|) <= 2`` and
``0 < gamma <= 1/2`` there is no butterfly arbitrage, and a non-decreasing ``theta(T)`` rules
out calendar arbitrage.

The at-the-money term structure follows the market's current variance ``v``: it starts near
the instantaneous level and reverts to the long-run level at the mean-reversion speed,

    theta(T) = premium^2 * (sigma_L^2 T + (v - theta_d)(1 - exp(-kappa T)) / kappa),

the expected integrated variance of the spot process (``theta_d`` its diffusive long-run
variance), scaled by an implied-over-realised volatility premium. Scheduled events (a single
stock's earnings) add their one-day variance to every expiry after them
(:func:`event_variance`): ``theta(T) + sum of move_i^2 over events before T``, so the first
expiry spanning an announcement is bid up and the term structure kinks there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class SurfaceModel:
    """Shape of one product's surface."""

    skew: float            # rho of SSVI, negative for equity indices
    curvature: float       # eta of SSVI
    decay: float = 0.4     # gamma of SSVI's power-law phi
    premium: float = 1.08  # implied / realised volatility

    def __post_init__(self) -> None:
        if not -1.0 < self.skew < 1.0:
            raise ValueError(f"skew must be in (-1, 1), got {self.skew}")
        if not 0.0 < self.decay <= 0.5:
            raise ValueError(f"decay must be in (0, 0.5], got {self.decay}")
        if not 0.0 < self.curvature * (1.0 + abs(self.skew)) <= 2.0:
            raise ValueError("curvature * (1 + |skew|) must be in (0, 2] (no butterfly arbitrage)")


def atm_total_variance(time: ArrayLike, variance: ArrayLike, vol_level: ArrayLike,
                       diffusive_variance: ArrayLike, mean_reversion: ArrayLike,
                       premium: ArrayLike) -> np.ndarray:
    """theta(T): at-the-money total implied variance for expiries ``time`` (years); the
    parameters are scalars or arrays broadcasting with ``time``."""
    t = np.asarray(time, dtype=np.float64)
    v, v_d, vol, prem = (np.asarray(a, dtype=np.float64)
                         for a in (variance, diffusive_variance, vol_level, premium))
    kappa = np.maximum(mean_reversion, 1e-12)
    reverting = (v - v_d) * -np.expm1(-kappa * t) / kappa
    return np.asarray(prem**2 * (vol**2 * t + reverting))


def event_variance(time: ArrayLike, event_times: ArrayLike, event_variances: ArrayLike
                   ) -> np.ndarray:
    """The scheduled events' share of theta(T): the sum of the variances of the events at
    ``event_times`` (years from now, increasing) strictly between now and each expiry
    ``time``. A step function non-decreasing in T, so adding it to theta keeps the surface
    free of calendar arbitrage."""
    t = np.asarray(time, dtype=np.float64)
    at = np.asarray(event_times, dtype=np.float64)
    cumulative = np.concatenate(([0.0], np.cumsum(event_variances, dtype=np.float64)))
    passed = cumulative[np.searchsorted(at, 0.0, side="right")]
    return np.maximum(cumulative[np.searchsorted(at, t, side="left")] - passed, 0.0)


def total_variance(log_moneyness: ArrayLike, theta: ArrayLike, model: SurfaceModel) -> np.ndarray:
    """w(k, theta): SSVI total implied variance."""
    return total_variance_of(log_moneyness, theta, model.skew, model.curvature, model.decay)


def total_variance_of(log_moneyness: ArrayLike, theta: ArrayLike, skew: ArrayLike,
                      curvature: ArrayLike, decay: ArrayLike) -> np.ndarray:
    """w(k, theta) with the SSVI parameters (rho, eta, gamma) given per point, so that many
    products' surfaces evaluate in one pass."""
    return ssvi_total_variance(log_moneyness, theta, skew, ssvi_phi(theta, curvature, decay))


def ssvi_phi(theta: ArrayLike, curvature: ArrayLike, decay: ArrayLike) -> np.ndarray:
    """phi(theta) = eta / (theta^gamma (1 + theta)^(1 - gamma)): one per expiry."""
    th = np.asarray(theta, dtype=np.float64)
    gamma = np.asarray(decay, dtype=np.float64)
    return np.asarray(curvature) / (th**gamma * (1.0 + th) ** (1.0 - gamma))


def ssvi_total_variance(log_moneyness: ArrayLike, theta: ArrayLike, skew: ArrayLike,
                        phi: ArrayLike) -> np.ndarray:
    """w(k, theta) given phi(theta) (see :func:`ssvi_phi`)."""
    k = np.asarray(log_moneyness, dtype=np.float64)
    th = np.asarray(theta, dtype=np.float64)
    rho = np.asarray(skew, dtype=np.float64)
    pk = np.asarray(phi) * k
    return 0.5 * th * (1.0 + rho * pk + np.sqrt((pk + rho) ** 2 + 1.0 - rho * rho))


def implied_vol(log_moneyness: ArrayLike, time: ArrayLike, theta: ArrayLike,
                model: SurfaceModel) -> np.ndarray:
    """Implied volatility sigma(k, T) = sqrt(w / T) (annualised decimal)."""
    return np.sqrt(total_variance(log_moneyness, theta, model) / np.asarray(time))
