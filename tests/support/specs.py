"""Small, self-contained product definitions for engine and web tests.

Weekly Friday expiries at 16:00 UTC, so the tests do not depend on exchange calendars.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from deltastream.engine.chains import ContractTerms
from deltastream.market.simulator import ProductSpec
from deltastream.market.spot import SpotModel
from deltastream.market.surface import SurfaceModel

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def fridays(now: datetime, count: int = 4) -> list[date]:
    d = now.date()
    first = d + timedelta(days=(4 - d.weekday()) % 7)
    out = [first + timedelta(weeks=i) for i in range(count + 1)]
    return [e for e in out if datetime.combine(e, time(16), UTC) > now][:count]


def friday_close(expiry: date) -> datetime:
    return datetime.combine(expiry, time(16), UTC)


def spec(symbol: str, spot: float, step: float, tick: float, american: bool,
         strikes_each_side: int = 20) -> ProductSpec:
    return ProductSpec(
        symbol=symbol, timezone="UTC", tick_size=tick, strike_step=step, american=american,
        rate=0.05, dividend_yield=0.01, start_spot=spot,
        spot_model=SpotModel(vol_level=0.2, mean_reversion=12.0, vol_of_vol=0.3,
                             spot_vol_correlation=-0.7, jump_intensity=3.0, jump_mean=-0.02,
                             jump_std=0.02, drift=0.04),
        surface_model=SurfaceModel(skew=-0.6, curvature=1.0),
        listed_expiries=fridays, expiry_instant=friday_close,
        strikes_each_side=strikes_each_side)


def terms(s: ProductSpec, currency: str = "INR", lot: int = 50) -> ContractTerms:
    return ContractTerms(symbol=s.symbol, exercise_style="american" if s.american else "european",
                         rate=s.rate, dividend_yield=s.dividend_yield, currency=currency,
                         lot_size=lot, strike_step=s.strike_step, tick_size=s.tick_size)


EUROPEAN = spec("IDX", 24500.0, 50.0, 0.05, False)
