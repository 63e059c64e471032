"""Listed expiries by exchange rule, holidays, the 2025-09 switch and exact times to expiry."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from deltastream.calendars import listing_for, time_to_expiry, trading_days
from deltastream.catalog import load_catalog

CATALOG = load_catalog()


def listed(symbol: str, when: datetime) -> list[date]:
    return listing_for(CATALOG[symbol]).expiries_for(when)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_nifty_on_the_2026_11_24_holiday():
    # 24 Nov 2026 is an NSE holiday; the November monthly (last Tuesday, the 24th) moved to
    # Monday the 23rd and has expired; the nearest expiry is Tuesday 1 Dec.
    assert not trading_days("XBOM").is_trading_day(date(2026, 11, 24))
    expiries = listed("NIFTY", utc(2026, 11, 24, 5, 0))
    assert expiries[0] == date(2026, 12, 1)
    assert date(2026, 11, 23) not in expiries
    on_the_23rd = listed("NIFTY", utc(2026, 11, 23, 5, 0))
    assert on_the_23rd[0] == date(2026, 11, 23)


def test_expiry_disappears_at_the_exact_instant():
    # The 23 Nov 2026 NIFTY expiry is at 15:30 IST = 10:00 UTC.
    assert listed("NIFTY", utc(2026, 11, 23, 9, 59, 59))[0] == date(2026, 11, 23)
    assert listed("NIFTY", utc(2026, 11, 23, 10, 0, 0))[0] == date(2026, 12, 1)


def test_nifty_weeklies_and_monthlies_after_the_switch():
    expiries = listed("NIFTY", utc(2026, 12, 2, 5, 0))
    assert expiries[:4] == [date(2026, 12, 8), date(2026, 12, 15), date(2026, 12, 22),
                            date(2026, 12, 29)]
    # Monthlies: last Tuesday of December, January (Republic Day, the 26th: moved to Monday
    # the 25th) and February.
    assert {date(2026, 12, 29), date(2027, 1, 25), date(2027, 2, 23)} <= set(expiries)


def test_the_2025_09_switch_from_thursday_to_tuesday():
    expiries = listed("NIFTY", utc(2025, 8, 20, 5, 0))
    assert expiries[:4] == [date(2025, 8, 21), date(2025, 8, 28), date(2025, 9, 2),
                            date(2025, 9, 9)]
    assert date(2025, 9, 30) in expiries  # September monthly: last Tuesday
    bank = listed("BANKNIFTY", utc(2025, 8, 20, 5, 0))
    assert bank == [date(2025, 8, 28), date(2025, 9, 30), date(2025, 10, 28)]


@pytest.mark.parametrize("symbol", ["BANKNIFTY", "FINNIFTY"])
def test_monthly_only_products(symbol):
    assert listed(symbol, utc(2026, 12, 2, 5, 0)) == [date(2026, 12, 29), date(2027, 1, 25),
                                                      date(2027, 2, 23)]


def test_sensex_thursday_weeklies_and_monthly():
    expiries = listed("SENSEX", utc(2026, 11, 25, 5, 0))
    assert expiries[:4] == [date(2026, 11, 26), date(2026, 12, 3), date(2026, 12, 10),
                            date(2026, 12, 17)]
    assert date(2026, 12, 31) in expiries  # last Thursday of December


def test_spy_lists_every_trading_weekday_and_skips_us_holidays():
    expiries = listed("SPY", utc(2026, 11, 25, 15, 0))
    # Thanksgiving (26 Nov 2026) is an NYSE holiday.
    assert expiries[:4] == [date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30),
                            date(2026, 12, 1)]
    assert date(2026, 11, 26) not in expiries
    assert date(2026, 12, 18) in expiries  # December monthly, third Friday


def test_aapl_good_friday_weekly_moves_to_thursday():
    # Good Friday, 3 April 2026, is an NYSE holiday: that week's expiry is Thursday 2 April.
    # The Monday and Wednesday weeklies (30 March, 1 April) come before it.
    expiries = listed("AAPL", utc(2026, 3, 30, 15, 0))
    assert expiries[:3] == [date(2026, 3, 30), date(2026, 4, 1), date(2026, 4, 2)]
    assert date(2026, 4, 3) not in expiries
    assert date(2026, 4, 17) in expiries  # April monthly, third Friday


def test_xbom_holiday_shifts_in_2026():
    # Holi, 3 March 2026 (a Tuesday), is an NSE holiday: the weekly moves to Monday 2 March;
    # 31 March (the last Tuesday) is one too: the March monthly moves to Monday 30 March.
    xbom = trading_days("XBOM")
    assert not xbom.is_trading_day(date(2026, 3, 3))
    assert not xbom.is_trading_day(date(2026, 3, 31))
    expiries = listed("NIFTY", utc(2026, 2, 25, 5, 0))
    assert expiries[:2] == [date(2026, 3, 2), date(2026, 3, 10)]
    assert date(2026, 3, 30) in expiries and date(2026, 3, 31) not in expiries


def test_beyond_every_holiday_source_weekends_only_plus_configured_holidays(tmp_path):
    # exchange_calendars' XBOM ends in 2026 and the shipped table in 2027: June 2028 is
    # covered by no source (the start-up warning names such listings).
    assert trading_days("XBOM").covered_until < date(2028, 6, 1)
    expiries = listed("NIFTY", utc(2028, 6, 1, 5, 0))
    assert expiries[0] == date(2028, 6, 6) and expiries[1] == date(2028, 6, 13)
    toml = tmp_path / "catalog.toml"
    toml.write_text('[products.NIFTY]\nextra_holidays = ["2028-06-13"]\n')
    shifted = listing_for(load_catalog(toml)["NIFTY"]).expiries_for(utc(2028, 6, 1, 5, 0))
    assert shifted[1] == date(2028, 6, 12)


def test_time_to_expiry_is_act_365_to_the_exact_instant():
    nifty = listing_for(CATALOG["NIFTY"])
    now = utc(2026, 11, 25, 10, 0)
    # 1 Dec 2026 15:30 IST is 10:00 UTC: exactly six days.
    assert nifty.time_to_expiry(date(2026, 12, 1), now) == pytest.approx(6 / 365, abs=1e-15)
    spy = listing_for(CATALOG["SPY"])
    # 30 Nov 2026 16:00 New York (EST, UTC-5) is 21:00 UTC.
    assert spy.expiry_instant(date(2026, 11, 30)) == utc(2026, 11, 30, 21, 0)
    assert time_to_expiry(utc(2026, 11, 27, 21, 0), utc(2026, 11, 26, 21, 0)) == 1 / 365


def test_us_half_day_expiry_is_at_the_early_close():
    # The day after Thanksgiving NYSE closes at 13:00 New York (18:00 UTC).
    spy = listing_for(CATALOG["SPY"])
    assert spy.expiry_instant(date(2026, 11, 27)) == utc(2026, 11, 27, 18, 0)
    assert date(2026, 11, 27) not in spy.expiries_for(utc(2026, 11, 27, 18, 0))


def test_catalogue_membership_and_configured_holidays():
    assert "NIFTY" in CATALOG and "NOPE" not in CATALOG
    nifty = listing_for(CATALOG["NIFTY"], frozenset({date(2027, 6, 8)}))
    assert nifty.expiries_for(utc(2027, 6, 1, 5, 0))[1] == date(2027, 6, 7)
    assert listed("NIFTY", utc(2027, 6, 1, 5, 0))[1] == date(2027, 6, 8)
