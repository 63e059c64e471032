"""Immutable chain snapshots: what every reader (API, stream, store) sees of one tick.

Arrays are read-only, so a snapshot handed to many readers can never be changed under them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from .types import ExerciseStyle, MarketStatus

# The source name of the simulated market's snapshots (imported ones carry their own; every
# source's name matches core.types.SOURCE_NAME_PATTERN).
SIMULATOR_SOURCE = "simulator"

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
    exchange: str = ""    # NSE, BSE, CBOE, ...: the format of its contract symbols
    timezone: str = "UTC"  # the exchange's IANA zone: its local date counts days to expiry

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
class ContractQuality:
    """Where an imported chain's numbers come from, per contract: two-row (calls, puts)
    arrays over all expiries, aligned with :class:`ContractArrays`.

    ``price_source`` holds :class:`~deltastream.core.types.PriceSource` codes (int8),
    ``flags`` :class:`~deltastream.core.types.QuoteFlag` bits (int16). The ``vendor_*``
    arrays are the IV (decimal) and Greeks the file itself carried, in the chain's units
    (theta per calendar day, vega per volatility point, rho per percentage point), NaN where
    the file had none; they are reported beside ours and never used in place of them.
    """

    price_source: np.ndarray
    flags: np.ndarray
    vendor_iv: np.ndarray
    vendor_delta: np.ndarray
    vendor_gamma: np.ndarray
    vendor_theta: np.ndarray
    vendor_vega: np.ndarray
    vendor_rho: np.ndarray

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(getattr(self, f) for f in self.__dataclass_fields__)


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
    source: str = SIMULATOR_SOURCE
    exchange: str = ""
    monthly: bool = False               # the last listed expiry of its month
    forward_residual: float | None = None  # imported chains: RMS relative residual of the
                                           # put-call parity fit of ``forward``
    quality: ContractQuality | None = None  # imported chains: the product's quality arrays

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
    source: str = SIMULATOR_SOURCE
    quality: ContractQuality | None = None   # imported snapshots only
    forward_residuals: np.ndarray | None = None  # imported: per expiry, RMS relative
                                                 # residual of the parity fit (NaN: none)
    dividend_yields: np.ndarray | None = None    # imported: per expiry, the yield parity
                                                 # implies (None: terms.dividend_yield)
    # Live markets: whether the exchange is in session, and until when (open: this session's
    # close; closed: the next open). None for stored snapshots, which have no session state.
    market_status: MarketStatus | None = None
    market_status_until: datetime | None = None

    def expiries(self) -> list[date]:
        return list(self.expiry_dates)

    def local_date(self) -> date:
        """The snapshot's date in its exchange's time zone (an NSE evening in UTC is already
        tomorrow): days to expiry, valuation dates and expiry days count in these dates."""
        return self.timestamp.astimezone(ZoneInfo(self.terms.timezone)).date()

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
        monthly = monthly_flags(self.expiry_dates)
        residuals = ([None] * len(self.expiry_dates) if self.forward_residuals is None else
                     [None if math.isnan(r) else r for r in self.forward_residuals.tolist()])
        yields = ([t.dividend_yield] * len(self.expiry_dates) if self.dividend_yields is None
                  else self.dividend_yields.tolist())
        return tuple(ExpiryChain(
            product=self.product, expiry=expiry, timestamp=self.timestamp,
            sequence=self.sequence, spot=self.spot, forward=forwards[j],
            time_to_expiry=times[j], rate=t.rate, dividend_yield=yields[j],
            exercise_style=t.exercise_style, model=t.model, currency=t.currency,
            lot_size=t.lot_size, strike_step=t.strike_step, tick_size=t.tick_size,
            strikes=self.strikes[offsets[j]:offsets[j + 1]],
            contracts=self.contracts, columns=(offsets[j], offsets[j + 1]),
            pcr_oi=None if math.isnan(pcr_oi[j]) else pcr_oi[j],
            pcr_volume=None if math.isnan(pcr_volume[j]) else pcr_volume[j],
            atm_strike=strikes[atm[j]], atm_straddle_price=straddle[atm[j]],
            max_pain_strike=None if pain[j] < 0 else strikes[pain[j]],
            source=self.source, exchange=t.exchange, monthly=monthly[j],
            forward_residual=residuals[j], quality=self.quality)
            for j, expiry in enumerate(self.expiry_dates))


_MID = tuple(OptionSide.__dataclass_fields__).index("mid")


def monthly_flags(expiries: tuple[date, ...]) -> list[bool]:
    """Per expiry (ascending), whether it is its month's monthly contract (whose exchange
    symbol names the month only): the last listed expiry of its month, and a week after it
    falls in the next month (so a lone weekly of a one-expiry file is not taken for one)."""
    out = []
    for i, e in enumerate(expiries):
        last_listed = i + 1 == len(expiries) or (e.year, e.month) != (expiries[i + 1].year,
                                                                      expiries[i + 1].month)
        out.append(last_listed and (e + timedelta(days=7)).month != e.month)
    return out


def freeze_snapshot(snap: ChainSnapshot) -> ChainSnapshot:
    """Make every array of ``snap`` read-only again (pickling drops the flag), in place."""
    for a in (snap.offsets, snap.times, snap.forwards, snap.strikes, snap.pcr_oi,
              snap.pcr_volume, snap.atm_index, snap.max_pain_index, *snap.contracts.fields,
              *(() if snap.quality is None else snap.quality.arrays()),
              *(() if snap.forward_residuals is None else (snap.forward_residuals,)),
              *(() if snap.dividend_yields is None else (snap.dividend_yields,))):
        a.setflags(write=False)
    return snap
