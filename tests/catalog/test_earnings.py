"""Earnings schedules: simulated quarterly dates, the session each moves, catalogue checks."""

from __future__ import annotations

from datetime import date

import pytest

from deltastream.catalog import CatalogError, load_catalog
from deltastream.catalog.earnings import Earnings, EarningsTiming


def test_single_stocks_report_quarterly_after_the_close_and_funds_do_not():
    cat = load_catalog()
    aapl, tsla = cat["AAPL"].earnings, cat["TSLA"].earnings
    assert aapl is not None and tsla is not None
    # Late January, April, July and October Thursdays (AAPL) and Wednesdays (TSLA).
    assert aapl.announcements(date(2026, 1, 1), date(2027, 2, 28)) == [
        date(2026, 1, 29), date(2026, 4, 30), date(2026, 7, 30), date(2026, 10, 29),
        date(2027, 1, 28)]
    assert tsla.announcements(date(2026, 6, 1), date(2027, 2, 28)) == [
        date(2026, 7, 22), date(2026, 10, 21), date(2027, 1, 20)]
    assert {d.weekday() for d in aapl.announcements(date(2026, 1, 1), date(2030, 1, 1))} == {3}
    assert aapl.timing == tsla.timing == EarningsTiming.AFTER_CLOSE
    assert 0.035 <= aapl.move <= 0.045 and 0.07 <= tsla.move <= 0.10
    assert all(cat[s].earnings is None for s in cat.symbols if s not in ("AAPL", "TSLA"))


def test_the_event_is_the_next_weekday_after_the_close_or_the_day_before_the_open():
    after = Earnings(date(2026, 1, 29), 13, 0.04)
    assert after.event_days(date(2026, 1, 1), date(2026, 5, 31)) == [date(2026, 1, 30),
                                                                       date(2026, 5, 1)]
    friday = Earnings(date(2026, 1, 30), 1, 0.04)   # a Friday report moves Monday
    assert friday.event_day(date(2026, 1, 30)) == date(2026, 2, 2)
    before = Earnings(date(2026, 1, 29), 13, 0.04, EarningsTiming.BEFORE_OPEN)
    assert before.event_day(date(2026, 4, 30)) == date(2026, 4, 30)


def test_no_announcement_before_the_first_and_bounds_are_inclusive():
    e = Earnings(date(2026, 1, 29), 13, 0.04)
    assert e.announcements(date(2020, 1, 1), date(2026, 1, 28)) == []
    assert e.announcements(date(2026, 4, 30), date(2026, 7, 30)) == [date(2026, 4, 30),
                                                                     date(2026, 7, 30)]


def test_a_file_sets_a_schedule_and_its_defaults(tmp_path):
    f = tmp_path / "catalog.toml"
    f.write_text("[products.SPY]\nearnings = { first = 2027-02-03, move = 0.02 }\n")
    assert load_catalog(f)["SPY"].earnings == Earnings(date(2027, 2, 3), 13, 0.02,
                                                       EarningsTiming.AFTER_CLOSE)


@pytest.mark.parametrize(("value", "message"), [
    ("{ first = 2027-02-03, move = 0 }", "products.AAPL.earnings.move: must be > 0, got 0"),
    ("{ first = 2027-02-03, move = 0.6 }",
     "products.AAPL.earnings.move: must be <= 0.5, got 0.6"),
    ("{ first = 2027-02-03, move = 0.04, every_weeks = 0 }",
     "products.AAPL.earnings.every_weeks: must be >= 1, got 0"),
    ("{ first = 'soon', move = 0.04 }",
     "products.AAPL.earnings.first: must be a date YYYY-MM-DD, got 'soon'"),
    ("{ first = 2027-02-03, move = 0.04, timing = 'during' }",
     "products.AAPL.earnings.timing: must be 'after_close' or 'before_open', got 'during'"),
    ("{ move = 0.04 }", "products.AAPL.earnings.first: required"),
    ("{ first = 2027-02-03, move = 0.04, size = 2 }",
     "products.AAPL.earnings.size: unknown field"),
])
def test_a_bad_earnings_field_is_named(tmp_path, value, message):
    f = tmp_path / "catalog.toml"
    f.write_text(f"[products.AAPL]\nearnings = {value}\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog(f)
    assert caught.value.errors == [message]
