"""One product's definition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from ..core.types import ExerciseStyle
from .earnings import Earnings
from .expiry_rules import ExpirySeries


@dataclass(frozen=True)
class Product:
    """A product: contract terms, market conventions and the parameters of its simulated
    market. Rates and yields are continuous decimals; volatilities annualised decimals."""

    symbol: str
    name: str
    exchange: str
    calendar_code: str          # exchange_calendars code for holidays (XBOM, XNYS)
    timezone: str
    close: time                 # expiry instant on expiry day, exchange time
    currency: str
    tick_size: float            # option premium tick
    strike_step: float
    lot_size: int
    exercise_style: str         # european | american
    rate: float
    dividend_yield: float
    spot: float                 # starting spot of the simulated market
    vol_level: float
    mean_reversion: float
    vol_of_vol: float
    spot_vol_correlation: float
    jump_intensity: float
    jump_mean: float
    jump_std: float
    skew: float                 # SSVI rho
    curvature: float            # SSVI eta
    iv_premium: float           # implied over realised volatility
    expiries: tuple[ExpirySeries, ...]
    peak_trade_rate: float | None     # superseded by session_volume
    peak_open_interest: float | None  # superseded by open_interest
    relative_spread: float      # quoted width deep in the money / intrinsic value
    underlying_volume_rate: float  # units of the underlying traded per second
    extra_holidays: frozenset[date] = frozenset()
    strikes_each_side: int | None = None  # listed strikes above/below the money (None: default)
    spread_ticks: float = 1.0   # quoted width in ticks of the most liquid contracts
    # Order flow per session (market/flow.py): contracts traded, open interest kept, put/call
    # ratios when markets are flat and their response to the recent return, round strikes.
    session_volume: float | None = None
    open_interest: float | None = None
    put_call_oi: float = 1.0
    put_call_volume: float = 1.0
    put_call_sensitivity: float = 0.1
    round_strikes: tuple[float, ...] | None = None
    round_strike_interest: float = 0.8
    oi_reversion: float = 0.2
    earnings: Earnings | None = None  # single stocks' (simulated) earnings schedule
    open: time | None = None    # session open, exchange time (None: the calendar's regular open)
    overnight_gap: float = 1.0  # variance of the close-to-open move / the closed time's share

    @property
    def american(self) -> bool:
        return self.exercise_style == ExerciseStyle.AMERICAN
