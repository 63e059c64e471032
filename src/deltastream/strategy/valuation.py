"""Value of a position at other underlying prices and later times, priced with the served
surface: the P&L today and at chosen dates before the front expiry, and at the front expiry
for positions with legs that outlive it (calendars, diagonals).

Units: prices in the product's currency per unit; quantities signed units; time in years
(ACT/365); ``elapsed`` years from the snapshot's time; P&L in money for the whole position.

Smile dynamics as the underlying moves to ``S`` (from the served spot ``S0``):

- ``sticky_strike`` (default): each option keeps its served IV (the smile's IV at its strike
  where its own did not solve);
- ``sticky_moneyness``: each option takes the served smile's IV at the strike of equal
  moneyness, ``sigma(K S0 / S)`` (the smile moves with the underlying).

Each option is priced with its product's model at ``T - elapsed``: Black-Scholes-Merton on the
spot with the chain's rate and dividend yield for European products (the model the engine
solved the served IV with), :func:`deltastream.pricing.american.price` for American ones. An
option at or past its expiry is worth its intrinsic value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np

from ..core.snapshot import ChainSnapshot
from ..core.types import ExerciseStyle
from ..pricing import american
from ..pricing import black_scholes_merton as bsm
from .density import Smile, served_smile
from .legs import Position

SMILES = ("sticky_strike", "sticky_moneyness")


@dataclass(frozen=True)
class Valuer:
    """Values ``position`` on ``snap``'s surface (module docstring)."""

    snap: ChainSnapshot
    position: Position
    smile: str = "sticky_strike"

    @property
    def american(self) -> bool:
        return self.snap.terms.exercise_style == ExerciseStyle.AMERICAN

    def smile_of(self, expiry: date) -> Smile | None:
        cache: dict[date, Smile | None] = self.__dict__.setdefault("_smiles", {})
        if expiry not in cache:
            chain = self.snap.chain_for(expiry)
            cache[expiry] = None if chain is None else served_smile(chain)
        return cache[expiry]

    def values(self, spots: np.ndarray, elapsed: float) -> np.ndarray:
        """Sum of quantity x unit value at each price of ``spots``, ``elapsed`` years on."""
        spots = np.asarray(spots, dtype=float)
        total = np.zeros(spots.shape)
        alive = []
        for c in self.position.contracts:
            if c.quantity == 0:
                continue
            if c.kind == "underlying":
                total += c.quantity * spots
            elif c.time - elapsed <= 0:
                assert c.strike is not None
                intrinsic = (spots - c.strike if c.kind == "call" else c.strike - spots)
                total += c.quantity * np.maximum(intrinsic, 0.0)
            else:
                alive.append(c)
        if not alive:
            return total
        # Every live option in one call of the pricer: (prices, options) arrays.
        strike = np.array([c.strike for c in alive], dtype=float)
        chains = [self.snap.chain_for(c.expiry) for c in alive if c.expiry is not None]
        rate = np.array([ch.rate for ch in chains if ch is not None])
        carry = np.array([ch.dividend_yield for ch in chains if ch is not None])
        remaining = np.array([c.time - elapsed for c in alive])
        is_call = np.array([c.kind == "call" for c in alive])
        # At a price of 0 the models' log(S/K) is undefined; a price 1e-9 of the strike
        # gives the limit (call 0, put its discounted strike) to rounding.
        at = np.maximum(spots[:, None], 1e-9 * strike[None, :])
        vol = np.column_stack([self._vol(c.expiry, c.strike, c.iv, at[:, i])
                               for i, c in enumerate(alive)
                               if c.expiry is not None and c.strike is not None])
        pricer = american.price if self.american else bsm.price
        unit = pricer(at, strike, remaining, rate, carry, vol, is_call)
        return total + unit @ np.array([c.quantity for c in alive])

    def _vol(self, expiry: date, strike: float, served: float | None,
             spots: np.ndarray) -> np.ndarray:
        smile = self.smile_of(expiry)
        if self.smile == "sticky_moneyness" and smile is not None:
            return smile.iv(strike * self.snap.spot / spots)
        if served is None and smile is not None:
            served = float(smile.iv(np.array([strike]))[0])
        return np.full(spots.shape, served if served is not None else np.nan)

    def pnl(self, elapsed: float) -> Callable[[np.ndarray], np.ndarray]:
        """The position's P&L as a function of the underlying's price, ``elapsed`` years on."""
        return lambda spots: self.values(spots, elapsed) - self.position.cost

    def final_slope(self, elapsed: float) -> float:
        """d(P&L)/dS as S grows without bound: calls count 1 once expired or American (deep
        in the money they are exercised), ``exp(-q tau)`` while European and alive."""
        slope = 0.0
        for c in self.position.contracts:
            if c.kind == "underlying":
                slope += c.quantity
            elif c.kind == "call":
                remaining = c.time - elapsed
                if remaining <= 0 or self.american:
                    slope += c.quantity
                else:
                    chain = self.snap.chain_for(c.expiry) if c.expiry else None
                    q = 0.0 if chain is None else chain.dividend_yield
                    slope += c.quantity * float(np.exp(-q * remaining))
        return slope
