"""The default catalogue and user catalogue files."""

from __future__ import annotations

from datetime import date, time

import pytest

from deltastream.catalog import CatalogError, load_catalog


def test_default_products_in_contract_order_with_their_terms():
    cat = load_catalog()
    assert cat.symbols == ["NIFTY", "BANKNIFTY", "FINNIFTY", "SENSEX", "AAPL", "TSLA", "SPY",
                           "QQQ"]
    assert [cat[s].spot for s in cat.symbols] == [24500, 52000, 23500, 80500, 195, 248, 592, 510]
    assert [cat[s].strike_step for s in cat.symbols] == [50, 100, 25, 100, 2.5, 5, 1, 1]
    assert [cat[s].lot_size for s in cat.symbols] == [65, 30, 60, 20, 100, 100, 100, 100]
    for s in ["NIFTY", "BANKNIFTY", "FINNIFTY", "SENSEX"]:
        p = cat[s]
        assert (p.exercise_style, p.currency, p.tick_size, p.timezone) == (
            "european", "INR", 0.05, "Asia/Kolkata")
        assert p.rate == pytest.approx(0.055)
    for s in ["AAPL", "TSLA", "SPY", "QQQ"]:
        p = cat[s]
        assert (p.exercise_style, p.currency, p.tick_size, p.timezone) == (
            "american", "USD", 0.01, "America/New_York")
        assert p.rate == pytest.approx(0.036)


def test_a_file_changes_a_field_and_adds_a_product(tmp_path):
    f = tmp_path / "catalog.toml"
    f.write_text("""
[products.NIFTY]
rate = 0.06

[products.RELIANCE]
name = "Reliance Industries"
exchange = "NSE"
calendar_code = "XBOM"
timezone = "Asia/Kolkata"
close = "15:30"
currency = "INR"
tick_size = 0.05
strike_step = 10
lot_size = 500
exercise_style = "european"
rate = 0.055
dividend_yield = 0.004
spot = 1400
vol_level = 0.24
mean_reversion = 10
vol_of_vol = 0.4
spot_vol_correlation = -0.5
jump_intensity = 4
jump_mean = -0.01
jump_std = 0.03
skew = -0.4
curvature = 1.2
iv_premium = 1.05
peak_trade_rate = 5
peak_open_interest = 20000
relative_spread = 0.004
underlying_volume_rate = 5000
expiries = [{ name = "monthly", count = 3, rules = [{ kind = "monthly_last", weekday = "TUE" }] }]
""")
    cat = load_catalog(f)
    assert cat["NIFTY"].rate == 0.06 and cat["NIFTY"].lot_size == 65
    assert cat.symbols[-1] == "RELIANCE" and cat["RELIANCE"].lot_size == 500


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[products.NIFTY]\nstrike_step = -5\n", "products.NIFTY.strike_step: must be > 0, got -5"),
        ("[products.NIFTY]\nlot_size = 'many'\n",
         "products.NIFTY.lot_size: must be a number, got 'many'"),
        ("[products.NIFTY]\nlot_size = 6.5\n",
         "products.NIFTY.lot_size: must be a whole number, got 6.5"),
        ("[products.NIFTY]\nrate = nan\n", "products.NIFTY.rate: must be finite"),
        ("[products.NIFTY]\nrate = true\n", "products.NIFTY.rate: must be a number, got True"),
        ("[products.NIFTY]\ntimezone = 'Mars/Olympus'\n",
         "products.NIFTY.timezone: unknown time zone 'Mars/Olympus'"),
        ("[products.NIFTY]\ncalendar_code = 'XMARS'\n",
         "products.NIFTY.calendar_code: unknown exchange calendar 'XMARS'"),
        ("[products.NIFTY]\nclose = '25:00'\n", "products.NIFTY.close: must be HH:MM"),
        ("[products.NIFTY]\nexercise_style = 'bermudan'\n",
         "products.NIFTY.exercise_style: must be 'european' or 'american', got 'bermudan'"),
        ("[products.NIFTY]\nstrikes = 5\n", "products.NIFTY.strikes: unknown field"),
        ("[products.NIFTY]\nextra_holidays = ['2027-02-30']\n",
         "products.NIFTY.extra_holidays[0]: must be a date YYYY-MM-DD"),
        ("[products.NEW]\nname = 'x'\n",
         "products.NEW: a new product needs every field; missing exchange, calendar_code, "),
        ("[products.NIFTY]\nexpiries = [{ name = 'w', count = 2, rules = "
         "[{ kind = 'fortnightly' }] }]\n", "products.NIFTY.expiries[0].rules[0].kind: must be "
         "'daily', 'weekly', 'monthly_last' or 'monthly_third', got 'fortnightly'"),
        ("[products.NIFTY]\nexpiries = [{ count = 2, rules = [] }]\n",
         "products.NIFTY.expiries[0].rules: must not be empty"),
        ("[products.NIFTY]\nskew = -0.9\ncurvature = 1.5\n",
         "products.NIFTY.curvature: curvature * (1 + |skew|) must be <= 2"),
        ("[products.'a b']\nrate = 0.1\n", "products.a b: not a valid symbol"),
        ("[products]\nNIFTY = 3\n", "products.NIFTY: must be a table, got 3"),
        ("products = 3\n", "products: must be a table of products"),
        ("[prodcts.NIFTY]\nrate = 0.1\n", "prodcts: unknown section (expected products)"),
        ("[products.NIFTY\nrate = 1\n", "invalid TOML"),
    ],
)
def test_invalid_files_name_the_field(tmp_path, toml, message):
    f = tmp_path / "catalog.toml"
    f.write_text(toml)
    with pytest.raises(CatalogError) as err:
        load_catalog(f)
    assert message in str(err.value)
    assert "\n" not in str(err.value) and err.value.errors == [str(err.value)]


def test_every_error_of_a_file_at_once_one_line_each(tmp_path):
    f = tmp_path / "catalog.toml"
    f.write_text("""
bogus = 1
[products.NIFTY]
strike_step = -5
rate = "high"
[products.SPY]
expiries = [{ count = 0, rules = [{ kind = "weekly", weekday = "SUN" }] }]
[products.NEW]
name = "x"
""")
    with pytest.raises(CatalogError) as err:
        load_catalog(f)
    assert err.value.errors == [
        "bogus: unknown section (expected products)",
        "products.NIFTY.strike_step: must be > 0, got -5",
        "products.NIFTY.rate: must be a number, got 'high'",
        "products.SPY.expiries[0].count: must be >= 1, got 0",
        "products.SPY.expiries[0].rules[0].weekday: must be 'MON', 'TUE', 'WED', 'THU' or "
        "'FRI', got 'SUN'",
        "products.NEW: a new product needs every field; missing exchange, calendar_code, "
        "timezone, close, currency, tick_size, strike_step, lot_size, exercise_style, rate, "
        "dividend_yield, spot, vol_level, mean_reversion, vol_of_vol, spot_vol_correlation, "
        "jump_intensity, jump_mean, jump_std, skew, curvature, iv_premium, expiries, "
        "relative_spread, underlying_volume_rate",
    ]
    assert str(err.value).splitlines() == [f"{f}: 6 errors in the catalogue",
                                           *(f"  {e}" for e in err.value.errors)]


def test_the_documented_example_loads(tmp_path, documented_example):
    f = tmp_path / "catalog.toml"
    f.write_text(documented_example)
    cat = load_catalog(f)
    assert cat["NIFTY"].rate == 0.06 and date(2027, 6, 8) in cat["NIFTY"].extra_holidays
    p = cat["RELIANCE"]
    assert (p.symbol, p.close, p.strikes_each_side, p.american) == (
        "RELIANCE", time(15, 30), 20, False)
    (series,) = p.expiries
    assert (series.name, series.count) == ("monthly", 3)
    assert [(r.kind, r.weekday, r.effective_from, r.effective_until) for r in series.rules] == [
        ("monthly_last", 3, None, date(2025, 9, 1)), ("monthly_last", 1, date(2025, 9, 1), None)]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.toml")
