"""An exchange's trading sessions: when each trading day opens and closes, as UTC instants.

A session runs from its open (inclusive) to its close (exclusive), ``open`` and ``close``
being the exchange's local clock times (``HH:MM`` of the catalogue) on a trading day of
:class:`~deltastream.calendars.holidays.TradingDays`; on a half day the close is the
exchange's early close (US 2026-11-27: 13:00 ET). Holidays and weekends have no session.
Every instant returned is timezone-aware UTC; daylight-saving changes are the zone's
(``zoneinfo``). Sessions never overlap and are ordered by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..catalog.product import Product
from ..core.types import MarketStatus
from .expiries import trading_days
from .holidays import TradingDays, _exchange_calendar
from .table import HolidayTable

# The longest run of days without a session any calendar has (weekends around a week of
# holidays stay far below it); beyond it a search gives up rather than loop forever.
MAX_CLOSED_DAYS = 31


@dataclass(frozen=True)
class Session:
    """One trading day's session: [open, close) in UTC."""

    day: date           # the exchange's local date
    open: datetime
    close: datetime

    def contains(self, when: datetime) -> bool:
        return self.open <= when < self.close


class ExchangeSessions:
    """The sessions of one exchange: ``open`` and ``close`` local times in ``timezone`` on
    the trading days of ``days`` (early closes from ``days.early_close``)."""

    def __init__(self, days: TradingDays, timezone: str, open_time: time,
                 close_time: time) -> None:
        if not open_time < close_time:
            raise ValueError(f"a session must open before it closes, got {open_time} - "
                             f"{close_time}")
        self.days = days
        self.timezone = timezone
        self.open_time = open_time
        self.close_time = close_time
        self._tz = ZoneInfo(timezone)
        self._cache: dict[date, Session | None] = {}

    def session_on(self, day: date) -> Session | None:
        """The session of local date ``day``, None when the exchange is closed all day."""
        if day in self._cache:
            return self._cache[day]
        session = None
        if self.days.is_trading_day(day):
            opens = datetime.combine(day, self.open_time, self._tz).astimezone(UTC)
            closes = datetime.combine(day, self.close_time, self._tz).astimezone(UTC)
            early = self.days.early_close(day)
            if early is not None and opens < early < closes:
                closes = early.astimezone(UTC)
            session = Session(day, opens, closes)
        self._cache[day] = session
        return session

    def local_date(self, when: datetime) -> date:
        return when.astimezone(self._tz).date()

    def current(self, when: datetime) -> Session | None:
        """The session ``when`` falls in (open <= when < close), None outside sessions."""
        session = self.session_on(self.local_date(when))
        return session if session is not None and session.contains(when) else None

    def in_session(self, when: datetime) -> bool:
        return self.current(when) is not None

    def next_open(self, when: datetime) -> Session:
        """The first session opening strictly after ``when``."""
        day = self.local_date(when)
        for _ in range(MAX_CLOSED_DAYS + 1):
            session = self.session_on(day)
            if session is not None and session.open > when:
                return session
            day += timedelta(days=1)
        raise ValueError(f"no session opens in the {MAX_CLOSED_DAYS} days after {when}")

    def previous_close(self, when: datetime) -> Session:
        """The last session closed at or before ``when``."""
        day = self.local_date(when)
        for _ in range(MAX_CLOSED_DAYS + 1):
            session = self.session_on(day)
            if session is not None and session.close <= when:
                return session
            day -= timedelta(days=1)
        raise ValueError(f"no session closed in the {MAX_CLOSED_DAYS} days before {when}")

    def status(self, when: datetime) -> tuple[MarketStatus, datetime]:
        """Open (until this session's close) or closed (until the next open) at ``when``."""
        session = self.current(when)
        if session is not None:
            return MarketStatus.OPEN, session.close
        return MarketStatus.CLOSED, self.next_open(when).open

    def between(self, start: datetime, end: datetime) -> list[Session]:
        """The sessions that are open at some instant of (start, end], in order."""
        out: list[Session] = []
        day = self.local_date(start)
        last = self.local_date(end)
        while day <= last:
            session = self.session_on(day)
            if session is not None and session.close > start and session.open <= end:
                out.append(session)
            day += timedelta(days=1)
        return out


def regular_open(calendar_code: str) -> time:
    """The exchange calendar's regular (latest listed) opening time, local."""
    return _exchange_calendar(calendar_code).open_times[-1][1]


def sessions_for(product: Product, extra_holidays: frozenset[date] = frozenset(),
                 holidays: HolidayTable | None = None) -> ExchangeSessions:
    """The sessions of a catalogue product's exchange (its ``open`` to ``close``; an unset
    ``open`` is the calendar's regular one), with its and the configured extra holidays and
    a holiday table (None: the shipped one)."""
    days = trading_days(product.calendar_code, product.extra_holidays | extra_holidays,
                        holidays)
    opens = product.open if product.open is not None else regular_open(product.calendar_code)
    return ExchangeSessions(days, product.timezone, opens, product.close)
