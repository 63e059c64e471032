"""Order flow: traded volume and open interest per contract.

Contracts trade in Poisson-distributed numbers of lots each tick, at a rate that is highest
near the money, on round strikes and on near expiries. Each traded contract either opens new
positions (open interest +1), closes existing ones (-1, never below zero) or transfers them.
Volume accumulates through the session and is reset at each session open by the caller.
"""

from __future__ import annotations

import numpy as np


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


def trade(rate: np.ndarray, open_interest: np.ndarray, rng: np.random.Generator,
          open_prob: float = 0.45, close_prob: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one tick: returns (contracts traded, new open interest), both >= 0.

    Trades arrive as a Poisson process of intensity ``rate``; each opens, closes or transfers
    positions independently, so (by Poisson thinning) the three counts are independent
    Poisson draws of intensities ``rate * p``: one draw per outcome, no binomial splits.
    """
    lam = np.asarray(rate, dtype=np.float64)
    counts = rng.poisson(np.stack([lam * open_prob, lam * close_prob,
                                   lam * (1.0 - open_prob - close_prob)])).astype(np.float64)
    opened, closing, transferred = counts
    new_oi = open_interest + opened - np.minimum(closing, open_interest + opened)
    return opened + closing + transferred, new_oi
