"""Exchange calendars: listed expiries per product and exact time to expiry."""

from .expiries import (
    ListingCalendar,
    expiry_instant,
    listing_for,
    time_to_expiry,
    trading_days,
)
from .holidays import TradingDays

__all__ = ["ListingCalendar", "TradingDays", "expiry_instant", "listing_for",
           "time_to_expiry", "trading_days"]
