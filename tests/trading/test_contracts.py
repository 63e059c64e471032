"""An order's instrument from every accepted spelling, against the default catalogue's
expiries listed on a fixed day (Monday 7 Dec 2026, 10:30 IST)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from deltastream.catalog import load_catalog
from deltastream.trading.contracts import (
    ContractError,
    listed_expiries,
    resolve_fields,
    resolve_symbol,
)

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog():
    products = {p.symbol: p for p in load_catalog()}
    return products, listed_expiries(products.values(), NOW)


def test_the_listing_the_tests_rely_on(catalog):
    _, listed = catalog
    # NIFTY: Tuesday weeklies, the last Tuesday monthly (29 Dec), then Jan and Feb monthlies.
    assert listed["NIFTY"][:4] == [date(2026, 12, 8), date(2026, 12, 15), date(2026, 12, 22),
                                   date(2026, 12, 29)]
    assert date(2026, 12, 11) in listed["AAPL"]
    # At 16:00 IST on 8 Dec the day's weekly has expired (15:30 IST): gone from the listing.
    later = listed_expiries(catalog[0].values(), datetime(2026, 12, 8, 10, 30, tzinfo=UTC))
    assert later["NIFTY"][0] == date(2026, 12, 15)


@pytest.mark.parametrize(("symbol", "expiry", "strike", "right"), [
    ("NIFTY26DEC24500CE", date(2026, 12, 29), Decimal(24500), "call"),   # monthly: last of Dec
    ("NIFTY26D0824500CE", date(2026, 12, 8), Decimal(24500), "call"),    # weekly
    ("NIFTY20261208C24500", date(2026, 12, 8), Decimal(24500), "call"),  # the original feed
    ("NIFTY27JAN21500PE", date(2027, 1, 25), Decimal(21500), "put"),     # older monthly form
    ("AAPL  261211P00212500", date(2026, 12, 11), Decimal("212.5"), "put"),  # OCC
    (" nifty26d0824500pe ", date(2026, 12, 8), Decimal(24500), "put"),   # case, outer spaces
])
def test_every_spelling_names_its_contract(catalog, symbol, expiry, strike, right):
    instrument = resolve_symbol(symbol, *catalog)
    assert (instrument.expiry, instrument.strike, instrument.right) == (expiry, strike, right)
    product = catalog[0][instrument.product]
    assert instrument.lot_size == product.lot_size
    assert instrument.tick_size == Decimal(str(product.tick_size))


def test_a_bare_symbol_trades_the_underlying(catalog):
    spot = resolve_symbol("NIFTY", *catalog)
    assert spot.product == "NIFTY" and not spot.is_option
    assert spot.key == "NIFTY"
    assert resolve_symbol("NIFTY26D0824500CE", *catalog).key == "NIFTY:2026-12-08:24500:C"


@pytest.mark.parametrize(("symbol", "field", "words"), [
    ("NIFTY25JAN21500CE", "expiry", "expired"),          # January 2025: long gone
    ("NIFTY26D0124500CE", "expiry", "expired"),          # 1 Dec 2026, before today
    ("NIFTY26NOV24500CE", "expiry", "expired"),          # November's monthly has passed
    ("NIFTY26D1024500CE", "expiry", "lists no expiry"),  # a Thursday: no NIFTY expiry
    ("NIFTY27MAR24500CE", "expiry", "lists no expiry"),  # March 2027: not listed yet
    ("NIFTY26D0824525CE", "strike", "multiples of 50"),
    ("FOO26D0824500CE", "symbol", "unknown product"),
    ("XYZ", "symbol", "unknown symbol"),
    ("NIFTY 24500 CE", "symbol", "neither"),
    ("NIFTY20261332C24500", "symbol", "no such expiry"),
    ("", "symbol", "empty"),
])
def test_unknown_or_expired_contracts_name_the_field(catalog, symbol, field, words):
    with pytest.raises(ContractError) as caught:
        resolve_symbol(symbol, *catalog)
    assert caught.value.field == field
    assert words in caught.value.message


def test_explicit_fields(catalog):
    option = resolve_fields("nifty", "2026-12-15", 24550, "PE", *catalog)
    assert (option.product, option.expiry, option.strike, option.right) == (
        "NIFTY", date(2026, 12, 15), Decimal(24550), "put")
    assert resolve_fields("AAPL", date(2026, 12, 11), "212.5", "call", *catalog).strike == \
        Decimal("212.5")
    assert not resolve_fields("SPY", None, None, None, *catalog).is_option


@pytest.mark.parametrize(("fields", "field"), [
    (("BOGUS", "2026-12-15", 24500, "CE"), "product"),
    (("NIFTY", None, 24500, "CE"), "expiry"),
    (("NIFTY", "15/12/2026", 24500, "CE"), "expiry"),
    (("NIFTY", "2026-12-16", 24500, "CE"), "expiry"),
    (("NIFTY", "2026-12-15", None, "CE"), "strike"),
    (("NIFTY", "2026-12-15", "abc", "CE"), "strike"),
    (("NIFTY", "2026-12-15", 24510, "CE"), "strike"),
    (("NIFTY", "2026-12-15", 24500, None), "option_type"),
    (("NIFTY", "2026-12-15", 24500, "XX"), "option_type"),
])
def test_explicit_fields_name_the_field_at_fault(catalog, fields, field):
    with pytest.raises(ContractError) as caught:
        resolve_fields(*fields, *catalog)
    assert caught.value.field == field
