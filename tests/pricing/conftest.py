"""Shared option grids for the pricing tests: fixed seeds, so every run checks the same options."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest


@dataclass(frozen=True)
class OptionGrid:
    spot: np.ndarray
    strike: np.ndarray
    time: np.ndarray
    rate: np.ndarray
    dividend_yield: np.ndarray
    vol: np.ndarray
    is_call: np.ndarray

    def __len__(self) -> int:
        return self.spot.shape[0]

    def args(self) -> tuple[np.ndarray, ...]:
        return (self.spot, self.strike, self.time, self.rate, self.dividend_yield, self.vol,
                self.is_call)


def make_grid(seed: int, n: int, t_min: float, t_max: float) -> OptionGrid:
    rng = np.random.default_rng(seed)
    spot = rng.uniform(50.0, 500.0, n)
    return OptionGrid(
        spot=spot,
        strike=spot * rng.uniform(0.5, 1.5, n),
        time=rng.uniform(t_min, t_max, n),
        rate=rng.uniform(0.0, 0.08, n),
        dividend_yield=rng.uniform(0.0, 0.03, n),
        vol=rng.uniform(0.05, 1.5, n),
        is_call=rng.random(n) < 0.5,
    )


@pytest.fixture(scope="session")
def grid() -> OptionGrid:
    """20,000 options: S 50-500, K/S 0.5-1.5, T 1 day-2 years, r 0-8 %, q 0-3 %, vol 5-150 %."""
    return make_grid(20251125, 20_000, 1.0 / 365.0, 2.0)


@pytest.fixture(scope="session")
def stress() -> OptionGrid:
    """5,000 options expiring in one to two days, same other ranges."""
    return make_grid(7, 5_000, 1.0 / 365.0, 2.0 / 365.0)
