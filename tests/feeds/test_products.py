"""Terms of imported chains: catalogue products keep theirs (the file's lot size aside) and
their exchange's calendar; other products are created from the data with their market's
defaults (style, currency, time zone and close, holidays, rate, tick, lot size)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from deltastream.catalog import load_catalog
from deltastream.catalog.defaults import DEFAULT_PRODUCTS
from deltastream.feeds.products import (
    FALLBACK_STRIKE_STEP,
    US_LOT_SIZE,
    product_terms,
    strike_step,
)
from deltastream.feeds.records import ImportedChain

QUOTED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def imported(product: str, exchange: str, currency: str, strikes: list[list[float]],
             lot_size: int | None = None, exercise_style: str | None = None) -> ImportedChain:
    """A chain whose expiry ``j`` (weekly from 2026-12-04) lists ``strikes[j]``, calls only:
    the terms do not look at prices."""
    expiry = np.concatenate([np.full(len(ks), np.datetime64("2026-12-04") + 7 * j)
                             for j, ks in enumerate(strikes)]).astype("datetime64[D]")
    k = np.concatenate([np.asarray(ks, dtype=np.float64) for ks in strikes])
    nan = np.full(k.size, np.nan)
    return ImportedChain(
        source="test", product=product, exchange=exchange, currency=currency,
        timestamp=QUOTED, session_date=QUOTED.date(), underlying_price=100.0, expiry=expiry,
        strike=k, right=np.zeros(k.size, dtype=np.int8), bid=nan, ask=nan, bid_size=nan,
        ask_size=nan, last=nan, close=nan, settlement=nan, change=nan, volume=nan,
        open_interest=nan, oi_change=nan, vendor_iv=nan, vendor_delta=nan, vendor_gamma=nan,
        vendor_theta=nan, vendor_vega=nan, vendor_rho=nan, rows=np.arange(k.size),
        lot_size=lot_size, exercise_style=exercise_style)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_a_catalogue_product_keeps_its_terms_and_calendar(catalog):
    chain = imported("NIFTY", "NSE", "INR", [[24000.0, 24100.0, 24150.0]])
    terms, instant = product_terms(chain, catalog)
    nifty = DEFAULT_PRODUCTS["NIFTY"]
    assert (terms.symbol, terms.exchange, terms.currency) == ("NIFTY", "NSE", "INR")
    assert terms.exercise_style == "european"
    assert (terms.rate, terms.dividend_yield) == (nifty["rate"], nifty["dividend_yield"])
    assert (terms.strike_step, terms.tick_size) == (nifty["strike_step"], nifty["tick_size"])
    assert terms.lot_size == nifty["lot_size"]      # the file gives none
    # 15:30 in Kolkata (UTC+05:30) is 10:00 UTC.
    assert instant(date(2026, 12, 29)) == datetime(2026, 12, 29, 10, 0, tzinfo=UTC)


def test_the_files_lot_size_wins_over_the_catalogues(catalog):
    # Lot sizes change over the years: a file states the lot of its own day.
    terms, _ = product_terms(imported("NIFTY", "NSE", "INR", [[24000.0]], lot_size=75),
                             catalog)
    assert terms.lot_size == 75


def test_a_us_catalogue_product_expires_early_on_a_half_day(catalog):
    terms, instant = product_terms(imported("AAPL", "CBOE", "USD", [[190.0, 195.0]]),
                                   catalog)
    assert terms.exercise_style == "american" and terms.currency == "USD"
    assert terms.rate == DEFAULT_PRODUCTS["AAPL"]["rate"]
    # The day after Thanksgiving the NYSE closes at 13:00 New York time (18:00 UTC).
    assert instant(date(2026, 11, 27)) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    # A normal Friday: 16:00 New York time, EST (21:00 UTC) and EDT (20:00 UTC).
    assert instant(date(2026, 12, 18)) == datetime(2026, 12, 18, 21, 0, tzinfo=UTC)
    assert instant(date(2027, 6, 18)) == datetime(2027, 6, 18, 20, 0, tzinfo=UTC)


def test_an_indian_stock_is_created_from_the_data(catalog):
    strikes = [[1140.0, 1160.0, 1180.0, 1190.0, 1200.0, 1220.0, 1240.0],
               [1100.0, 1120.0, 1140.0, 1160.0, 1180.0, 1200.0, 1210.0]]
    chain = imported("RELIANCE", "NSE", "INR", strikes, lot_size=500)
    terms, instant = product_terms(chain, catalog)
    assert "RELIANCE" not in catalog
    assert terms.symbol == "RELIANCE" and terms.exchange == "NSE"
    assert (terms.exercise_style, terms.currency) == ("european", "INR")
    assert terms.rate == catalog["NIFTY"].rate
    assert terms.dividend_yield == 0.0
    assert (terms.lot_size, terms.tick_size) == (500, 0.05)
    # Gaps of 20 (9 of them) beat gaps of 10 (4).
    assert terms.strike_step == 20.0
    assert instant(date(2026, 12, 31)) == datetime(2026, 12, 31, 10, 0, tzinfo=UTC)


def test_an_indian_product_takes_the_catalogues_nifty_rate(tmp_path: Path):
    path = tmp_path / "catalog.toml"
    path.write_text("[products.NIFTY]\nrate = 0.0725\n", encoding="utf-8")
    terms, _ = product_terms(imported("SBIN", "BSE", "INR", [[800.0, 810.0]]),
                             load_catalog(path))
    assert terms.rate == 0.0725 and terms.exchange == "BSE"


def test_an_indian_product_without_a_lot_size_gets_one(catalog):
    terms, _ = product_terms(imported("TCS", "NSE", "INR", [[4000.0, 4050.0]]), catalog)
    assert terms.lot_size == 1


def test_a_us_equity_is_created_american_with_the_us_rate(catalog):
    terms, instant = product_terms(imported("XYZ", "CBOE", "USD", [[40.0, 42.5, 45.0]]),
                                   catalog)
    assert (terms.exercise_style, terms.currency, terms.exchange) == ("american", "USD", "CBOE")
    assert terms.rate == DEFAULT_PRODUCTS["AAPL"]["rate"]
    assert (terms.lot_size, terms.tick_size, terms.strike_step) == (US_LOT_SIZE, 0.01, 2.5)
    assert instant(date(2026, 11, 27)) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def test_a_us_index_is_european_and_the_files_style_wins(catalog):
    spx, _ = product_terms(imported("SPXW", "CBOE", "USD", [[6000.0, 6005.0]]), catalog)
    assert spx.exercise_style == "european"
    said, _ = product_terms(imported("XYZ", "CBOE", "USD", [[40.0]], lot_size=10,
                                     exercise_style="european"), catalog)
    assert (said.exercise_style, said.lot_size) == ("european", 10)


def test_the_currency_decides_when_the_exchange_is_unknown(catalog):
    terms, instant = product_terms(imported("ABC", "", "USD", [[10.0, 11.0]]), catalog)
    assert terms.exercise_style == "american" and terms.exchange == "CBOE"
    assert instant(date(2026, 12, 18)) == datetime(2026, 12, 18, 21, 0, tzinfo=UTC)
    terms, _ = product_terms(imported("XYZIN", "", "INR", [[10.0, 11.0]]), catalog)
    assert terms.exchange == "NSE" and terms.exercise_style == "european"


def test_a_product_of_another_market_gets_neutral_defaults(catalog):
    terms, instant = product_terms(imported("SX5E", "eurex", "EUR", [[4900.0, 4950.0]]),
                                   catalog)
    assert (terms.exchange, terms.currency, terms.exercise_style) == ("EUREX", "EUR",
                                                                      "european")
    assert terms.rate == 0.0 and terms.lot_size == 1
    # 16:00 UTC, even on a Saturday: no calendar is assumed.
    assert instant(date(2026, 12, 19)) == datetime(2026, 12, 19, 16, 0, tzinfo=UTC)


def test_strike_step_is_the_most_common_gap():
    e = np.array(["2026-12-04"] * 5 + ["2026-12-11"] * 3, dtype="datetime64[D]")
    # Expiry one: 1172.5 1175 1177.5 1180 1190; expiry two: 1000 1010 1020.
    k = np.array([1177.5, 1172.5, 1190.0, 1175.0, 1180.0, 1010.0, 1000.0, 1020.0])
    # Three gaps of 2.5 within expiry one against three of 10 (one there, two in expiry
    # two): the tie goes to the smaller; the gap between expiries is not a gap.
    assert strike_step(e, k) == 2.5
    assert strike_step(e[:1], k[:1]) == FALLBACK_STRIKE_STEP
    # A strike listed twice is not a gap of 0.
    assert strike_step(np.repeat(e[:1], 3), np.array([5.0, 5.0, 5.5])) == 0.5
