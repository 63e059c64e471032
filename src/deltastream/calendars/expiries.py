"""Listed expiries by exchange rule, and the exact time to each expiry.

A product's expiries are the union of its series (for example NIFTY's weeklies and
monthlies). Each series lists its next ``count`` expiries; its rules carry effective dates so
that historical dates resolve under the rule of their time (NSE moved its expiries from
Thursday to Tuesday on 2025-09-01). A nominal expiry that is not a trading day moves to the
previous trading day. An expiry is listed until its exact instant (the exchange's close on
expiry day, in the exchange's time zone) has passed.
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from .holidays import TradingDays

SECONDS_PER_YEAR = 365.0 * 86400.0
WEEKDAYS = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4}
KINDS = ("daily", "weekly", "monthly_last", "monthly_third")


@dataclass(frozen=True)
class ExpiryRule:
    """Nominal expiry dates of one kind, valid for nominal dates in [effective_from, until)."""

    kind: str                        # daily | weekly | monthly_last | monthly_third
    weekday: int = 4                 # Monday 0 ... Friday 4 (ignored for daily)
    effective_from: date | None = None
    effective_until: date | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown expiry rule kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not 0 <= self.weekday <= 4:
            raise ValueError(f"weekday must be 0-4 (Monday-Friday), got {self.weekday}")

    def applies(self, nominal: date) -> bool:
        return ((self.effective_from is None or nominal >= self.effective_from)
                and (self.effective_until is None or nominal < self.effective_until))

    def nominal_dates(self, start: date, end: date) -> list[date]:
        """Nominal (unshifted) expiry dates in [start, end]."""
        out: list[date] = []
        if self.kind in ("daily", "weekly"):
            day = start
            while day <= end:
                if (self.kind == "daily" and day.weekday() < 5) or day.weekday() == self.weekday:
                    out.append(day)
                day += timedelta(days=1)
        else:
            y, m = start.year, start.month
            while date(y, m, 1) <= end:
                d = _monthly(y, m, self.kind, self.weekday)
                if start <= d <= end:
                    out.append(d)
                y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return [d for d in out if self.applies(d)]


def _monthly(year: int, month: int, kind: str, weekday: int) -> date:
    if kind == "monthly_last":
        last = date(year, month, _cal.monthrange(year, month)[1])
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 14)


@dataclass(frozen=True)
class ExpirySeries:
    """A family of expiries (weeklies, monthlies, dailies) and how many are listed at once."""

    name: str
    count: int
    rules: tuple[ExpiryRule, ...]

    def horizon_days(self) -> int:
        kinds = {r.kind for r in self.rules}
        if kinds <= {"daily"}:
            return 7 * self.count + 21
        if kinds <= {"daily", "weekly"}:
            return 7 * self.count + 21
        return 31 * self.count + 62


@dataclass(frozen=True)
class ListingCalendar:
    """Everything needed to list one product's expiries."""

    series: tuple[ExpirySeries, ...]
    calendar_code: str
    timezone: str
    close: time
    extra_holidays: frozenset[date] = frozenset()

    def expiry_instant(self, expiry: date) -> datetime:
        return expiry_instant(expiry, self.close, self.timezone)

    def time_to_expiry(self, expiry: date, now: datetime) -> float:
        return time_to_expiry(self.expiry_instant(expiry), now)

    def expiries_for(self, now: datetime) -> list[date]:
        """Listed expiries at ``now`` (timezone-aware), ascending, without passed ones."""
        local_day = now.astimezone(ZoneInfo(self.timezone)).date()
        listed: set[date] = set()
        for series, upcoming in zip(self.series, _upcoming(self, local_day), strict=True):
            live = [e for e in upcoming if self.expiry_instant(e) > now]
            listed.update(live[: series.count])
        return sorted(listed)


@lru_cache(maxsize=1024)
def _upcoming(cal: ListingCalendar, local_day: date) -> tuple[tuple[date, ...], ...]:
    """Per series, its next ``count + 1`` expiries from ``local_day`` on (the spare covers an
    expiry later today whose instant has already passed)."""
    days = trading_days(cal.calendar_code, cal.extra_holidays)
    out = []
    for series in cal.series:
        start = local_day - timedelta(days=7)
        end = local_day + timedelta(days=series.horizon_days())
        shifted = sorted({days.previous_or_same(d)
                          for rule in series.rules for d in rule.nominal_dates(start, end)})
        out.append(tuple(d for d in shifted if d >= local_day)[: series.count + 1])
    return tuple(out)


@lru_cache(maxsize=32)
def trading_days(code: str, extra: frozenset[date] = frozenset()) -> TradingDays:
    """Trading days of an exchange calendar (built once; building one takes ~0.1 s)."""
    return TradingDays(code, extra)


def expiry_instant(expiry: date, close: time, timezone: str) -> datetime:
    """The exact expiry instant in UTC: ``close`` on expiry day in the exchange's zone."""
    return datetime.combine(expiry, close, ZoneInfo(timezone)).astimezone(UTC)


def time_to_expiry(instant: datetime, now: datetime) -> float:
    """Years (ACT/365) from ``now`` to ``instant``; negative once it has passed."""
    return (instant - now).total_seconds() / SECONDS_PER_YEAR
