"""Trading days from exchange_calendars, continued by holiday tables past its horizon.

Within exchange_calendars' published sessions they are the truth; after its last session a
holiday table (the shipped ``holidays.toml`` and a ``--holidays`` file, see ``table``) says
which weekdays are closed, up to the table's ``through``. Past every source (``covered_until``)
only weekends are closed: listings that reach that far are named by a start-up warning
(``expiries.horizon_warnings``), never assumed silently.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from .table import HolidayTable, shipped_holidays

CALENDAR_START = "2015-01-01"
CALENDAR_END = "2035-12-31"


@lru_cache(maxsize=8)
def _exchange_calendar(code: str) -> Any:
    import exchange_calendars as xcals

    # A fixed span, so the result does not depend on today's date; calendars whose holidays
    # are only published to an earlier year (XBOM) end where their data ends.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return xcals.get_calendar(code, start=CALENDAR_START, end=CALENDAR_END)
        except ValueError:
            return xcals.get_calendar(code, start=CALENDAR_START)


class TradingDays:
    """Which dates an exchange trades on.

    Within exchange_calendars' published range (``XBOM`` for NSE and BSE, ``XNYS`` for the
    US) its sessions are the truth; past its last published session weekdays trade unless a
    holiday table (``holidays``: by default the shipped one) closes them. Any date of the
    table or of ``extra_holidays`` (configuration) is closed wherever it falls. Dates after
    ``covered_until`` are known to no source: only weekends are closed there.
    """

    def __init__(self, calendar_code: str, extra_holidays: frozenset[date] = frozenset(),
                 holidays: HolidayTable | None = None) -> None:
        self.calendar_code = calendar_code
        table = shipped_holidays() if holidays is None else holidays
        self.extra_holidays = extra_holidays | table.holidays(calendar_code)
        cal = _exchange_calendar(calendar_code)
        self.first = cal.first_session.date()
        self.last = cal.last_session.date()
        through = table.through(calendar_code)
        self.covered_until = self.last if through is None else max(self.last, through)
        self._sessions = frozenset(d.date() for d in cal.sessions)
        # Sessions that close early (US half days), as UTC close instants.
        self._early_closes = {d.date(): cal.session_close(d).to_pydatetime()
                              for d in cal.early_closes
                              if cal.first_session <= d <= cal.last_session}

    def is_trading_day(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        if self.first <= day <= self.last:
            return day in self._sessions
        return day.weekday() < 5

    def early_close(self, day: date) -> datetime | None:
        """The (UTC) close of ``day`` when the exchange closes early that day, else None."""
        return self._early_closes.get(day)

    def previous_or_same(self, day: date) -> date:
        """The latest trading day on or before ``day``."""
        for _ in range(31):
            if self.is_trading_day(day):
                return day
            day -= timedelta(days=1)
        raise ValueError(f"no trading day in the month before {day}")
