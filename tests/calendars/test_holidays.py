"""Holidays beyond exchange_calendars' horizon: the shipped table, --holidays files, the
horizon warning, and the Monday/Wednesday weeklies of US single stocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from dateutil.easter import easter

from deltastream.calendars import (
    HolidayFileError,
    HolidayTable,
    holiday_table,
    horizon_warnings,
    listing_for,
    load_holiday_file,
    parse_holidays,
    shipped_holidays,
    trading_days,
)
from deltastream.catalog import load_catalog

CATALOG = load_catalog()
# Friday 4 December 2026, evening UTC: after the US close (21:00 UTC).
AS_OF = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize("symbol", ["NIFTY", "BANKNIFTY", "FINNIFTY"])
def test_the_january_2027_monthly_moves_off_republic_day(symbol):
    expiries = listing_for(CATALOG[symbol]).expiries_for(AS_OF)
    assert date(2027, 1, 25) in expiries
    assert date(2027, 1, 26) not in expiries


def test_aapl_and_tsla_list_monday_and_wednesday_weeklies():
    want = [date(2026, 12, d) for d in (7, 9, 11, 14, 16, 18)]
    for symbol in ("AAPL", "TSLA"):
        assert listing_for(CATALOG[symbol]).expiries_for(AS_OF)[:6] == want
    # Before 26 January 2026 only Fridays were listed.
    early = listing_for(CATALOG["AAPL"]).expiries_for(datetime(2026, 1, 12, 22, tzinfo=UTC))
    assert all(d.weekday() == 4 or d >= date(2026, 1, 26) for d in early)
    # SPY keeps its dailies; the catalogue's other US names are unchanged.
    assert all(d.weekday() == 4 for d in
               listing_for(CATALOG["SPY"]).expiries_for(AS_OF) if d < date(2026, 12, 7))


def test_the_shipped_xbom_2027_table_against_fixed_dates_and_easter():
    table = shipped_holidays()
    (source,) = table.sources
    assert source.calendar_code == "XBOM" and source.provisional
    assert source.through == date(2027, 12, 31)
    days = {h.name: h.day for h in source.holidays}
    assert days["Republic Day"] == date(2027, 1, 26)
    assert days["Good Friday"] == easter(2027) - timedelta(days=2) == date(2027, 3, 26)
    assert days["Independence Day"] == date(2027, 8, 15)
    assert days["Mahatma Gandhi Jayanti"] == date(2027, 10, 2)
    assert days["Christmas"] == date(2027, 12, 25)
    assert days["Dr. Baba Saheb Ambedkar Jayanti"] == date(2027, 4, 14)
    # The Islamic festivals' dates wait for the moon: provisional one by one.
    provisional = {h.name for h in source.holidays if h.provisional}
    assert provisional == {"Id-ul-Fitr (Ramzan Id)", "Bakri Id (Id-ul-Adha)", "Muharram"}


def test_trading_days_past_exchange_calendars_come_from_the_table():
    xbom = trading_days("XBOM")
    assert xbom.last == date(2026, 12, 31)          # exchange_calendars' data ends here
    assert xbom.covered_until == date(2027, 12, 31)
    assert not xbom.is_trading_day(date(2027, 1, 26))
    assert not xbom.is_trading_day(date(2027, 3, 22))   # Holi, a Monday
    assert xbom.is_trading_day(date(2027, 1, 25))
    assert not xbom.is_trading_day(date(2027, 8, 15))   # a Sunday
    # Without the table the day would trade: the weekday fallback the table replaces.
    assert trading_days("XBOM", frozenset(), HolidayTable()).is_trading_day(date(2027, 1, 26))
    assert trading_days("XBOM", frozenset(), HolidayTable()).covered_until == date(2026, 12, 31)


def test_a_holidays_file_adds_dates_and_coverage(tmp_path):
    path = tmp_path / "holidays.toml"
    path.write_text('[XBOM]\nthrough = 2028-12-31\nholidays = [\n'
                    '  { date = 2028-01-25, name = "Made up", provisional = true },\n]\n'
                    '[XNYS]\nthrough = 2036-12-31\n', encoding="utf-8")
    table = holiday_table(path)
    assert table.through("XBOM") == date(2028, 12, 31)
    assert table.holidays("XBOM") >= {date(2028, 1, 25), date(2027, 1, 26)}
    nifty = listing_for(CATALOG["NIFTY"], holidays=table)
    now = datetime(2027, 12, 1, 5, tzinfo=UTC)
    assert date(2028, 1, 24) in nifty.expiries_for(now)     # 25 Jan 2028 made a holiday
    assert nifty.uncovered(now) == []
    assert horizon_warnings(CATALOG, now, holidays=table) == []


@pytest.mark.parametrize(("text", "message"), [
    ("[XBOM]\nholidays = []\n", "XBOM.through: required"),
    ("[XBOM]\nthrough = 2027-12-31\nholidays = [{ date = \"2027-01-26\" }]\n",
     "XBOM.holidays[0].date: must be a date"),
    ("[XBOM]\nthrough = 2027-06-30\nholidays = [{ date = 2027-08-15 }]\n",
     "is after through"),
    ("[NOPE]\nthrough = 2027-12-31\n", "NOPE: unknown exchange calendar"),
    ("[XBOM]\nthrough = 2027-12-31\ncovers = 1\n", "unknown field covers"),
    ("[XBOM\n", "invalid TOML"),
])
def test_invalid_holiday_files_name_the_entry(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HolidayFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_holiday_file(path)
    with pytest.raises(HolidayFileError, match="cannot read"):
        load_holiday_file(tmp_path / "missing.toml")


def test_the_horizon_warning_names_products_past_a_calendar_that_ends_early():
    # With no table XBOM ends on 2026-12-31: the Indian products' January and February
    # expiries are past it; the US ones (XNYS to 2035) are not.
    lines = horizon_warnings(CATALOG, AS_OF, holidays=HolidayTable())
    named = [line.split(":")[0] for line in lines]
    assert named == ["NIFTY", "BANKNIFTY", "FINNIFTY", "SENSEX"]
    assert "up to 2027-02-23 pass 2026-12-31" in lines[0]
    # With the shipped table nothing listed today is uncovered; in November 2027 the
    # January 2028 monthlies are.
    assert horizon_warnings(CATALOG, AS_OF) == []
    late = horizon_warnings(CATALOG, datetime(2027, 11, 4, tzinfo=UTC))
    assert [line.split(":")[0] for line in late] == ["NIFTY", "BANKNIFTY", "FINNIFTY",
                                                     "SENSEX"]


def test_start_up_warning_and_the_holidays_setting(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from deltastream.cli import calendar_warnings, main
    from deltastream.engine.setup import build_engine
    from deltastream.settings import Settings, SettingsError, from_env

    late = Settings(clock="fixed", clock_start="2027-11-04T05:00:00Z")
    assert [w.split(":")[0] for w in calendar_warnings(late)] == ["NIFTY", "BANKNIFTY",
                                                                  "FINNIFTY", "SENSEX"]
    assert calendar_warnings(Settings(clock="fixed", clock_start="2026-12-04T22:00:00Z")) == []
    path = tmp_path / "holidays.toml"
    path.write_text("[XBOM]\nthrough = 2028-12-31\n", encoding="utf-8")
    monkeypatch.setenv("DELTASTREAM_HOLIDAYS_FILE", str(path))
    assert from_env().holidays_file == path
    assert calendar_warnings(late.with_overrides(holidays_file=path)) == []
    for command in ("serve", "engine"):
        help_text = CliRunner().invoke(main, [command, "--help"]).output
        assert "--holidays FILE" in help_text
    path.write_text("[XBOM]\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"holidays_file: .*XBOM\.through: required"):
        build_engine(CATALOG, Settings(holidays_file=path))


def test_the_documented_holiday_file_example_loads():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text("utf-8")
    (example,) = [b for b in re.findall(r"```toml\n(.*?)```", doc, re.S) if "[XBOM]" in b]
    table = parse_holidays(example, "docs/catalog.md")
    assert table.through("XBOM") == date(2028, 12, 31)
    assert date(2028, 4, 14) == easter(2028) - timedelta(days=2)
    assert date(2028, 4, 14) in table.holidays("XBOM")
