"""Exchange calendars: listed expiries per product and exact time to expiry."""

from .expiries import (
    ExpiryRule,
    ExpirySeries,
    ListingCalendar,
    expiry_instant,
    time_to_expiry,
    trading_days,
)
from .holidays import TradingDays

__all__ = ["ExpiryRule", "ExpirySeries", "ListingCalendar", "TradingDays", "expiry_instant",
           "time_to_expiry", "trading_days"]
