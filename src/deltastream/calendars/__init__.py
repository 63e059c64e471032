"""Exchange calendars: listed expiries per product and exact time to expiry."""

from .expiries import (
    ListingCalendar,
    expiry_instant,
    horizon_warnings,
    listing_for,
    time_to_expiry,
    trading_days,
)
from .holidays import TradingDays
from .sessions import ExchangeSessions, Session, regular_open, sessions_for
from .table import (
    Holiday,
    HolidayFileError,
    HolidaySource,
    HolidayTable,
    holiday_table,
    load_holiday_file,
    parse_holidays,
    shipped_holidays,
)

__all__ = ["ExchangeSessions", "Holiday", "HolidayFileError", "HolidaySource", "HolidayTable",
           "ListingCalendar", "Session", "TradingDays", "expiry_instant", "holiday_table",
           "horizon_warnings", "listing_for", "load_holiday_file", "parse_holidays",
           "regular_open", "sessions_for", "shipped_holidays", "time_to_expiry",
           "trading_days"]
