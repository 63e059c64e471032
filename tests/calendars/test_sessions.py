"""Exchange sessions: opens and closes in the exchange's zone, early closes, holidays, and the
status/until a market shows at the boundaries (all instants pinned, UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from deltastream.calendars import ExchangeSessions, sessions_for, trading_days
from deltastream.catalog import load_catalog
from deltastream.core.types import MarketStatus

CATALOG = load_catalog()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_nse_session_is_0915_to_1530_ist() -> None:
    s = sessions_for(CATALOG["NIFTY"]).session_on(date(2026, 12, 4))
    assert s is not None
    # IST is UTC+05:30 all year.
    assert (s.open, s.close) == (utc(2026, 12, 4, 3, 45), utc(2026, 12, 4, 10, 0))


def test_us_session_follows_daylight_saving() -> None:
    us = sessions_for(CATALOG["SPY"])
    summer, winter = us.session_on(date(2026, 7, 15)), us.session_on(date(2026, 12, 4))
    assert summer is not None and winter is not None
    assert (summer.open, summer.close) == (utc(2026, 7, 15, 13, 30), utc(2026, 7, 15, 20, 0))
    assert (winter.open, winter.close) == (utc(2026, 12, 4, 14, 30), utc(2026, 12, 4, 21, 0))


def test_us_early_close_day_after_thanksgiving() -> None:
    s = sessions_for(CATALOG["AAPL"]).session_on(date(2026, 11, 27))
    assert s is not None
    assert (s.open, s.close) == (utc(2026, 11, 27, 14, 30), utc(2026, 11, 27, 18, 0))  # 13:00 ET
    status, until = sessions_for(CATALOG["AAPL"]).status(utc(2026, 11, 27, 18, 0))
    assert (status, until) == (MarketStatus.CLOSED, utc(2026, 11, 30, 14, 30))


@pytest.mark.parametrize(("symbol", "holiday", "reopens"), [
    ("SPY", date(2026, 12, 25), date(2026, 12, 28)),      # a Friday: Monday
    ("NIFTY", date(2027, 1, 26), date(2027, 1, 27))])
def test_holidays_have_no_session(symbol: str, holiday: date, reopens: date) -> None:
    sessions = sessions_for(CATALOG[symbol])
    assert sessions.session_on(holiday) is None
    before = sessions.previous_close(datetime.combine(holiday, time(12), UTC))
    after = sessions.next_open(datetime.combine(holiday, time(12), UTC))
    assert before.day == holiday - timedelta(days=1)
    assert after.day == reopens


def test_nse_republic_day_2027_comes_from_the_shipped_table() -> None:
    days = trading_days("XBOM")
    # Past exchange_calendars' XBOM data: only the shipped table knows the holiday.
    assert days.last < date(2027, 1, 26) <= days.covered_until
    assert sessions_for(CATALOG["NIFTY"]).status(utc(2027, 1, 26, 6, 0)) == (
        MarketStatus.CLOSED, utc(2027, 1, 27, 3, 45))


def test_status_and_until_at_the_boundaries() -> None:
    nse = sessions_for(CATALOG["NIFTY"])
    opens, closes = utc(2026, 12, 4, 3, 45), utc(2026, 12, 4, 10, 0)
    tiny = timedelta(microseconds=1)
    assert nse.status(opens - tiny) == (MarketStatus.CLOSED, opens)
    assert nse.status(opens) == (MarketStatus.OPEN, closes)
    assert nse.status(closes - tiny) == (MarketStatus.OPEN, closes)
    # Friday's close: closed over the weekend until Monday's open.
    assert nse.status(closes) == (MarketStatus.CLOSED, utc(2026, 12, 7, 3, 45))
    assert nse.in_session(opens) and not nse.in_session(closes)


def test_weekend_previous_close_and_next_open() -> None:
    us = sessions_for(CATALOG["QQQ"])
    saturday = utc(2026, 12, 5, 12, 0)
    assert us.previous_close(saturday).close == utc(2026, 12, 4, 21, 0)
    assert us.next_open(saturday).open == utc(2026, 12, 7, 14, 30)
    # At a close instant, that session is the previous close.
    assert us.previous_close(utc(2026, 12, 4, 21, 0)).day == date(2026, 12, 4)


def test_between_lists_sessions_open_in_the_interval() -> None:
    nse = sessions_for(CATALOG["NIFTY"])
    days = [s.day for s in nse.between(utc(2026, 12, 4, 10, 0), utc(2026, 12, 8, 4, 0))]
    assert days == [date(2026, 12, 7), date(2026, 12, 8)]   # not Friday (closed at the start)


def test_unset_open_is_the_calendars_regular_open() -> None:
    from dataclasses import replace

    nifty = replace(CATALOG["NIFTY"], open=None)
    s = sessions_for(nifty).session_on(date(2026, 12, 4))
    assert s is not None and s.open == utc(2026, 12, 4, 3, 45)


def test_a_session_must_open_before_it_closes() -> None:
    with pytest.raises(ValueError, match="open before it closes"):
        ExchangeSessions(trading_days("XNYS"), "America/New_York", time(16), time(9, 30))
