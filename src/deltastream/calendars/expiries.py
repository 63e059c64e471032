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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from ..catalog.expiry_rules import ExpiryRule, ExpirySeries
from ..catalog.product import Product
from .holidays import TradingDays
from .table import HolidayTable

SECONDS_PER_YEAR = 365.0 * 86400.0


def nominal_dates(rule: ExpiryRule, start: date, end: date) -> list[date]:
    """Nominal (unshifted) expiry dates of ``rule`` in [start, end]."""
    out: list[date] = []
    if rule.kind in ("daily", "weekly"):
        day = start
        while day <= end:
            if (rule.kind == "daily" and day.weekday() < 5) or day.weekday() == rule.weekday:
                out.append(day)
            day += timedelta(days=1)
    else:
        y, m = start.year, start.month
        while date(y, m, 1) <= end:
            d = _monthly(y, m, rule.kind, rule.weekday)
            if start <= d <= end:
                out.append(d)
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return [d for d in out if rule.applies(d)]


def _monthly(year: int, month: int, kind: str, weekday: int) -> date:
    if kind == "monthly_last":
        last = date(year, month, _cal.monthrange(year, month)[1])
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 14)


@dataclass(frozen=True)
class ListingCalendar:
    """Everything needed to list one product's expiries."""

    series: tuple[ExpirySeries, ...]
    calendar_code: str
    timezone: str
    close: time
    extra_holidays: frozenset[date] = frozenset()
    holidays: HolidayTable | None = None     # None: the shipped table

    def trading_days(self) -> TradingDays:
        return trading_days(self.calendar_code, self.extra_holidays, self.holidays)

    def uncovered(self, now: datetime) -> list[date]:
        """Listed expiries at ``now`` after the last date any holiday source covers: their
        shift for a holiday is unknown (taken as trading days on weekdays)."""
        end = self.trading_days().covered_until
        return [e for e in self.expiries_for(now) if e > end]

    def expiry_instant(self, expiry: date) -> datetime:
        """The exchange's close on expiry day (earlier on a half day), in UTC."""
        regular = expiry_instant(expiry, self.close, self.timezone)
        early = self.trading_days().early_close(expiry)
        return min(regular, early) if early is not None else regular

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
    days = cal.trading_days()
    out = []
    for series in cal.series:
        start = local_day - timedelta(days=7)
        end = local_day + timedelta(days=series.horizon_days())
        shifted = sorted({days.previous_or_same(d)
                          for rule in series.rules for d in nominal_dates(rule, start, end)})
        out.append(tuple(d for d in shifted if d >= local_day)[: series.count + 1])
    return tuple(out)


@lru_cache(maxsize=32)
def trading_days(code: str, extra: frozenset[date] = frozenset(),
                 holidays: HolidayTable | None = None) -> TradingDays:
    """Trading days of an exchange calendar (built once; building one takes ~0.1 s), with
    the holiday table ``holidays`` (None: the shipped one)."""
    return TradingDays(code, extra, holidays)


def listing_for(product: Product, extra_holidays: frozenset[date] = frozenset(),
                holidays: HolidayTable | None = None) -> ListingCalendar:
    """The listing calendar of a catalogue product (plus configured extra holidays and a
    holiday table; None: the shipped one)."""
    return ListingCalendar(product.expiries, product.calendar_code, product.timezone,
                           product.close, product.extra_holidays | extra_holidays, holidays)


def horizon_warnings(products: Iterable[Product], now: datetime,
                     extra_holidays: frozenset[date] = frozenset(),
                     holidays: HolidayTable | None = None) -> list[str]:
    """One line per product whose listed expiries at ``now`` pass the last date any holiday
    source covers (exchange_calendars, the shipped table, a ``--holidays`` file)."""
    out = []
    for product in products:
        listing = listing_for(product, extra_holidays, holidays)
        late = listing.uncovered(now)
        if late:
            end = listing.trading_days().covered_until
            out.append(f"{product.symbol}: listed expiries up to {late[-1]} pass {end}, the "
                       f"last date the {product.calendar_code} holidays are known; weekdays "
                       "after it are taken as trading days (add the exchange's holidays with "
                       "--holidays FILE)")
    return out


def expiry_instant(expiry: date, close: time, timezone: str) -> datetime:
    """The exact expiry instant in UTC: ``close`` on expiry day in the exchange's zone."""
    return datetime.combine(expiry, close, ZoneInfo(timezone)).astimezone(UTC)


def time_to_expiry(instant: datetime, now: datetime) -> float:
    """Years (ACT/365) from ``now`` to ``instant``; negative once it has passed."""
    return (instant - now).total_seconds() / SECONDS_PER_YEAR
