"""Trading days from exchange_calendars, with a weekends-only fallback past its horizon."""

from __future__ import annotations

import warnings
from datetime import date, timedelta
from functools import lru_cache

import pandas as pd


@lru_cache(maxsize=8)
def _exchange_calendar(code: str):  # type: ignore[no-untyped-def]
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xcals.get_calendar(code)


class TradingDays:
    """Which dates an exchange trades on.

    Within exchange_calendars' published range (``XBOM`` for NSE and BSE, ``XNYS`` for the
    US) its sessions are the truth; past its last published session only weekends are closed,
    plus any ``extra_holidays`` from configuration.
    """

    def __init__(self, calendar_code: str, extra_holidays: frozenset[date] = frozenset()) -> None:
        self.calendar_code = calendar_code
        self.extra_holidays = extra_holidays
        cal = _exchange_calendar(calendar_code)
        self.first = cal.first_session.date()
        self.last = cal.last_session.date()
        self._sessions = frozenset(d.date() for d in cal.sessions)

    def is_trading_day(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        if self.first <= day <= self.last:
            return day in self._sessions
        return day.weekday() < 5

    def previous_or_same(self, day: date) -> date:
        """The latest trading day on or before ``day``."""
        for _ in range(31):
            if self.is_trading_day(day):
                return day
            day -= timedelta(days=1)
        raise ValueError(f"no trading day in the month before {day}")

    def next_trading_days(self, start: date, count: int) -> list[date]:
        """The first ``count`` trading days on or after ``start``."""
        out: list[date] = []
        day = start
        while len(out) < count:
            if self.is_trading_day(day):
                out.append(day)
            day += timedelta(days=1)
        return out


def to_date(value: pd.Timestamp | date) -> date:
    return value.date() if isinstance(value, pd.Timestamp) else value
