"""Order flow: traded volume and open interest per contract.

Contracts trade in Poisson-distributed numbers of lots each tick, at a rate that is highest
near the money, on round strikes and on near expiries. Each traded contract either opens new
positions (open interest +1), closes existing ones (-1, never below zero) or transfers them.
Volume accumulates through the session and is reset at each session open by the caller.
"""

from __future__ import annotations

import numba
import numpy as np

from .poisson import RESERVE, check_intensities, draw, uniforms_needed


def liquidity(log_moneyness: np.ndarray, atm_std: np.ndarray | float, strikes: np.ndarray,
              strike_step: float, time: np.ndarray | float) -> np.ndarray:
    """Relative trading interest: a bell around the money, bumps on round strikes, more for
    near expiries. Dimensionless, 1 at the money on a plain strike with a week to go."""
    width = np.maximum(np.asarray(atm_std) * 1.5, 1e-4)
    bell = np.exp(-0.5 * (log_moneyness / width) ** 2) + 0.02
    idx = np.rint(strikes / strike_step).astype(np.int64)
    round_bonus = 1.0 + 1.5 * (idx % 10 == 0) + 0.5 * (idx % 5 == 0)
    term = 1.0 / np.sqrt(np.maximum(np.asarray(time), 1.0 / 365.0) * 52.0)
    return bell * round_bonus * term


def initial_open_interest(weight: np.ndarray, base: float,
                          rng: np.random.Generator) -> np.ndarray:
    """A plausible open-interest profile for a freshly started market (contracts)."""
    noise = rng.lognormal(0.0, 0.35, weight.shape[0])
    return np.floor(base * weight * noise)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _trade_kernel(lam: np.ndarray, oi: np.ndarray, open_prob: float, close_prob: float,
                  u: np.ndarray, start: int, traded: np.ndarray,
                  new_oi: np.ndarray) -> int:  # pragma: no cover - compiled
    transfer_prob = 1.0 - open_prob - close_prob
    j = 0
    for i in range(start, lam.size):
        if u.size - j < 3 * RESERVE:
            return i
        opened, j = draw(lam[i] * open_prob, u, j)
        closing, j = draw(lam[i] * close_prob, u, j)
        transferred, j = draw(lam[i] * transfer_prob, u, j)
        if opened < 0.0 or closing < 0.0 or transferred < 0.0:
            return i   # out of uniforms: this contract again, from a fresh buffer
        held = oi[i] + opened
        new_oi[i] = held - min(closing, held)
        traded[i] = opened + closing + transferred
    return lam.size


def trade(rate: np.ndarray, open_interest: np.ndarray, rng: np.random.Generator,
          open_prob: float = 0.45, close_prob: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one tick: returns (contracts traded, new open interest), both >= 0.

    Trades arrive as a Poisson process of intensity ``rate`` (contracts this tick); each
    opens positions (open interest +1), closes them (-1, never below zero) or transfers them
    independently, so (by Poisson thinning) the three counts are independent Poisson counts
    of intensities ``rate * p``.
    """
    lam = np.ascontiguousarray(rate, dtype=np.float64).reshape(-1)
    check_intensities(lam)
    oi = np.ascontiguousarray(open_interest, dtype=np.float64).reshape(-1)
    traded, new_oi = np.empty_like(lam), np.empty_like(lam)
    n_u = uniforms_needed(lam * min(open_prob, close_prob, 1.0 - open_prob - close_prob)) * 3
    done = 0
    while done < lam.size:
        done = _trade_kernel(lam, oi, float(open_prob), float(close_prob), rng.random(n_u),
                             done, traded, new_oi)
    return traded, new_oi
