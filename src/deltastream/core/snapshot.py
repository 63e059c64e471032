"""Immutable chain snapshots: what every reader (API, stream, store) sees of one tick.

Arrays are read-only, so a snapshot handed to many readers can never be changed under them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from .types import ExerciseStyle

MODEL_EUROPEAN = "black_scholes_merton"
MODEL_AMERICAN = "american_fixed_point_boundary"


@dataclass(frozen=True)
class ContractTerms:
    """The product terms a chain is priced with."""

    symbol: str
    exercise_style: str   # an ExerciseStyle value
    rate: float
    dividend_yield: float
    currency: str
    lot_size: int
    strike_step: float
    tick_size: float

    @property
    def model(self) -> str:
        return MODEL_AMERICAN if self.exercise_style == ExerciseStyle.AMERICAN else MODEL_EUROPEAN


def _cached(obj: object, name: str, make: Callable[[], Any]) -> Any:
    # Made on first use and kept. Two threads may race to make it; both make equal values,
    # so the race is harmless, and no lock is taken (readers run in greenlets and threads).
    value = obj.__dict__.get(name)
    if value is None:
        value = make()
        obj.__dict__[name] = value
    return value


def read_only(a: np.ndarray) -> np.ndarray:
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
    @property
    def calls(self) -> OptionSide:
        return _cached(self, "_calls", lambda: self.contracts.side(0, self.columns))

    @property
    def puts(self) -> OptionSide:
        return _cached(self, "_puts", lambda: self.contracts.side(1, self.columns))


@dataclass(frozen=True)
class ChainSnapshot:
    """Everything about one product at one tick: the underlying and every listed expiry.

    The engine fills flat arrays over all expiries (expiry ``j`` is columns
    ``offsets[j]:offsets[j + 1]``); the per-expiry :class:`ExpiryChain` objects readers use
    are views of them, made on first read (building them is no part of the engine's tick).
    """

    product: str
    sequence: int
    timestamp: datetime
    spot: float
    session_volume: float
    tick_volume: float          # underlying volume traded since the previous tick
    terms: ContractTerms
    expiry_dates: tuple[date, ...]
    offsets: np.ndarray
    times: np.ndarray           # years to each expiry instant
    forwards: np.ndarray
    strikes: np.ndarray         # flat, ascending within each expiry
    contracts: ContractArrays
    pcr_oi: np.ndarray          # per expiry; NaN where there is no call open interest
    pcr_volume: np.ndarray
    atm_index: np.ndarray       # per expiry: column of the strike nearest the forward
    max_pain_index: np.ndarray  # per expiry: column of the max-pain strike, -1 without OI

    def expiries(self) -> list[date]:
        return list(self.expiry_dates)

    @property
    def chains(self) -> tuple[ExpiryChain, ...]:
        return _cached(self, "_chains", self._make_chains)

    def chain_for(self, expiry: date) -> ExpiryChain | None:
        for c in self.chains:
            if c.expiry == expiry:
                return c
        return None

    def _make_chains(self) -> tuple[ExpiryChain, ...]:
        t = self.terms
        offsets = self.offsets.tolist()
        strikes = self.strikes.tolist()
        mid = self.contracts.fields[_MID]
        straddle = (mid[0] + mid[1]).tolist()
        forwards, times = self.forwards.tolist(), self.times.tolist()
        pcr_oi, pcr_volume = self.pcr_oi.tolist(), self.pcr_volume.tolist()
        atm, pain = self.atm_index.tolist(), self.max_pain_index.tolist()
        return tuple(ExpiryChain(
            product=self.product, expiry=expiry, timestamp=self.timestamp,
            sequence=self.sequence, spot=self.spot, forward=forwards[j],
            time_to_expiry=times[j], rate=t.rate, dividend_yield=t.dividend_yield,
            exercise_style=t.exercise_style, model=t.model, currency=t.currency,
            lot_size=t.lot_size, strike_step=t.strike_step, tick_size=t.tick_size,
            strikes=self.strikes[offsets[j]:offsets[j + 1]],
            contracts=self.contracts, columns=(offsets[j], offsets[j + 1]),
            pcr_oi=None if math.isnan(pcr_oi[j]) else pcr_oi[j],
            pcr_volume=None if math.isnan(pcr_volume[j]) else pcr_volume[j],
            atm_strike=strikes[atm[j]], atm_straddle_price=straddle[atm[j]],
            max_pain_strike=None if pain[j] < 0 else strikes[pain[j]])
            for j, expiry in enumerate(self.expiry_dates))


_MID = tuple(OptionSide.__dataclass_fields__).index("mid")


def freeze_snapshot(snap: ChainSnapshot) -> ChainSnapshot:
    """Make every array of ``snap`` read-only again (pickling drops the flag), in place."""
    for a in (snap.offsets, snap.times, snap.forwards, snap.strikes, snap.pcr_oi,
              snap.pcr_volume, snap.atm_index, snap.max_pain_index, *snap.contracts.fields):
        a.setflags(write=False)
    return snap
