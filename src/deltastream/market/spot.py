"""The underlying's price path: stochastic volatility with mean reversion, negative spot-vol
correlation and occasional jumps (a Bates model), simulated on the market's own clock.

Variance follows ``dv = kappa (theta - v) dt + xi sqrt(v) dW_v`` and the log-price
``d ln S = (mu - lambda kbar - v/2) dt + sqrt(v) dW_S + J dN`` with ``corr(dW_S, dW_v) = rho``,
jumps ``J ~ N(jump_mean, jump_std)`` arriving at ``jump_intensity`` per year, and ``kbar`` the
jump compensator. ``theta`` is set so that the total variance per year (diffusion plus jumps)
is the product's configured volatility level squared, which is what the realised volatility
of a long path converges to. Time is in years (ACT/365).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

SECONDS_PER_YEAR = 365.0 * 86400.0
MIN_VARIANCE = 1e-6


@dataclass(frozen=True)
class SpotModel:
    """Parameters of one underlying's price process (annualised decimals)."""

    vol_level: float            # long-run total volatility (diffusion + jumps)
    mean_reversion: float       # kappa, per year
    vol_of_vol: float           # xi, volatility of the variance
    spot_vol_correlation: float  # rho, negative for equities
    jump_intensity: float       # jumps per year
    jump_mean: float            # mean log jump size
    jump_std: float             # std of the log jump size
    drift: float = 0.0          # mu, continuous per year

    @property
    def jump_variance_rate(self) -> float:
        return self.jump_intensity * (self.jump_mean**2 + self.jump_std**2)

    @property
    def diffusive_variance(self) -> float:
        """theta: the long-run variance of the diffusion, so total variance is vol_level^2."""
        return max(self.vol_level**2 - self.jump_variance_rate, 0.25 * self.vol_level**2)

    @property
    def jump_compensator(self) -> float:
        return math.exp(self.jump_mean + 0.5 * self.jump_std**2) - 1.0


@dataclass(frozen=True)
class SpotState:
    """The process state: spot price and instantaneous variance."""

    spot: float
    variance: float


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _evolve(log_s, v, dt, drift, kappa, theta, xi, rho, z_spot, z_vol, jumps, out_log_s,
            out_v):
    # Full-truncation Euler: the variance may dip below zero inside a step but only its
    # positive part drives the price, and the state is floored so it stays usable.
    rho_c = math.sqrt(1.0 - rho * rho)
    sdt = math.sqrt(dt)
    for i in range(z_spot.shape[0]):
        vp = max(v, 0.0)
        sv = math.sqrt(vp) * sdt
        log_s += (drift - 0.5 * vp) * dt + sv * (rho * z_vol[i] + rho_c * z_spot[i]) + jumps[i]
        v = max(v + kappa * (theta - vp) * dt + xi * sv * z_vol[i], MIN_VARIANCE)
        out_log_s[i] = log_s
        out_v[i] = v


def simulate(model: SpotModel, state: SpotState, dt: float, steps: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Advance ``steps`` steps of ``dt`` years; returns (spots, variances) after each step.

    Every draw comes from ``rng``, in a fixed order, so a seed reproduces the path exactly.
    """
    if steps <= 0:
        return np.empty(0), np.empty(0)
    z = rng.standard_normal((2, steps))
    n_jumps = rng.poisson(model.jump_intensity * dt, steps)
    jumps = np.zeros(steps)
    if n_jumps.any():
        hit = np.flatnonzero(n_jumps)
        k = n_jumps[hit]
        jumps[hit] = model.jump_mean * k + model.jump_std * np.sqrt(k) * rng.standard_normal(
            hit.size)
    drift = model.drift - model.jump_intensity * model.jump_compensator
    log_s = np.empty(steps)
    var = np.empty(steps)
    _evolve(math.log(state.spot), state.variance, dt, drift, model.mean_reversion,
            model.diffusive_variance, model.vol_of_vol, model.spot_vol_correlation, z[0], z[1],
            jumps, log_s, var)
    return np.exp(log_s), var


def step(model: SpotModel, state: SpotState, dt: float, rng: np.random.Generator) -> SpotState:
    """One step of ``dt`` years."""
    if dt <= 0.0:
        return state
    spots, var = simulate(model, state, dt, 1, rng)
    return SpotState(float(spots[0]), float(var[0]))
