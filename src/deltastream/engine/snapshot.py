"""Immutable chain snapshots: what every reader (API, stream, store) sees of one tick.

Arrays are read-only, so a snapshot handed to many readers can never be changed under them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

import numpy as np


def frozen(a: np.ndarray) -> np.ndarray:
    """A read-only copy-free view of ``a``."""
    view = a.view()
    view.setflags(write=False)
    return view


@dataclass(frozen=True)
class OptionSide:
    """One side (calls or puts) of an expiry, index-aligned with the chain's strikes."""

    last: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    mid: np.ndarray
    change: np.ndarray          # last - previous session's closing premium
    iv: np.ndarray              # decimal; NaN where no volatility reproduces the mid
    iv_status: np.ndarray       # IVStatus codes
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray           # per calendar day
    vega: np.ndarray            # per volatility point
    rho: np.ndarray             # per percentage point
    open_interest: np.ndarray   # contracts
    volume: np.ndarray          # contracts traded this session
    oi_change: np.ndarray       # open interest - previous session's closing open interest


@dataclass(frozen=True)
class ContractArrays:
    """A product's per-contract arrays at one tick, over all its expiries: one read-only
    two-row array (row 0 calls, row 1 puts) per :class:`OptionSide` field, in field order."""

    fields: tuple[np.ndarray, ...]

    def side(self, row: int, columns: tuple[int, int]) -> OptionSide:
        lo, hi = columns
        return OptionSide(*(a[row, lo:hi] for a in self.fields))


@dataclass(frozen=True)
class ExpiryChain:
    """The option chain of one product and expiry at one tick."""

    product: str
    expiry: date
    timestamp: datetime
    sequence: int
    spot: float
    forward: float
    time_to_expiry: float       # years, ACT/365, to the exact expiry instant
    rate: float
    dividend_yield: float
    exercise_style: str
    model: str
    currency: str
    lot_size: int
    strike_step: float
    tick_size: float
    strikes: np.ndarray
    contracts: ContractArrays   # the product's arrays; this chain is columns lo:hi of them
    columns: tuple[int, int]
    pcr_oi: float | None
    pcr_volume: float | None
    atm_strike: float
    atm_straddle_price: float
    max_pain_strike: float | None

    # Sides are views made on first use: most chains of a tick are never read by a client.
    @cached_property
    def calls(self) -> OptionSide:
        return self.contracts.side(0, self.columns)

    @cached_property
    def puts(self) -> OptionSide:
        return self.contracts.side(1, self.columns)


@dataclass(frozen=True)
class ChainSnapshot:
    """Everything about one product at one tick: the underlying and every listed expiry."""

    product: str
    sequence: int
    timestamp: datetime
    spot: float
    session_volume: float
    tick_volume: float          # underlying volume traded since the previous tick
    chains: tuple[ExpiryChain, ...]

    def expiries(self) -> list[date]:
        return [c.expiry for c in self.chains]

    def chain_for(self, expiry: date) -> ExpiryChain | None:
        for c in self.chains:
            if c.expiry == expiry:
                return c
        return None


def freeze_snapshot(snap: ChainSnapshot) -> ChainSnapshot:
    """Make every array of ``snap`` read-only again (pickling drops the flag), in place."""
    for chain in snap.chains:
        chain.strikes.setflags(write=False)
        for value in chain.contracts.fields:
            value.setflags(write=False)
    return snap
