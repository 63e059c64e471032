"""Contract symbols as the exchanges write them (NSE/BSE trading symbols, OCC), and read back."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from deltastream.catalog.contract_symbols import (
    ContractSymbol,
    ContractSymbolError,
    contract_symbol,
    nse_symbol,
    occ_symbol,
    parse_contract_symbol,
)


@pytest.mark.parametrize(("args", "symbol"), [
    # The exchanges' own examples of each form.
    (("NIFTY", date(2026, 12, 29), 24500, "call", True), "NIFTY26DEC24500CE"),
    (("NIFTY", date(2026, 12, 8), 24500, "call", False), "NIFTY26D0824500CE"),
    (("BANKNIFTY", date(2027, 1, 27), 52000, "put", True), "BANKNIFTY27JAN52000PE"),
    (("FINNIFTY", date(2026, 10, 6), 23050, "put", False), "FINNIFTY26O0623050PE"),
    (("FINNIFTY", date(2026, 11, 3), 23050, "put", False), "FINNIFTY26N0323050PE"),
    (("SENSEX", date(2026, 9, 3), 80500, "call", False), "SENSEX2690380500CE"),
    (("M&M", date(2026, 12, 29), Decimal("3172.5"), "call", True), "M&M26DEC3172.5CE"),
])
def test_nse_and_bse_trading_symbols(args, symbol):
    assert nse_symbol(*args) == symbol
    assert contract_symbol("NSE", *args) == symbol
    parsed = parse_contract_symbol(symbol)
    underlying, expiry, strike, right, monthly = args
    assert (parsed.underlying, parsed.strike, parsed.right, parsed.monthly) == (
        underlying, Decimal(str(strike)), right, monthly)
    # A monthly symbol names the month, a weekly one the day.
    assert parsed.expiry == (expiry.replace(day=1) if monthly else expiry)


@pytest.mark.parametrize(("args", "symbol"), [
    (("AAPL", date(2026, 12, 11), Decimal("212.5"), "put"), "AAPL  261211P00212500"),
    (("SPY", date(2027, 1, 15), 600, "call"), "SPY   270115C00600000"),
    (("QQQ", date(2026, 12, 7), Decimal("510.25"), "call"), "QQQ   261207C00510250"),
    (("GOOGL", date(2026, 12, 9), Decimal("0.5"), "put"), "GOOGL 261209P00000500"),
])
def test_occ_symbols(args, symbol):
    assert occ_symbol(*args) == symbol
    assert contract_symbol("NASDAQ", *args, monthly=False) == symbol
    assert len(symbol) == 21
    root, expiry, strike, right = args
    assert parse_contract_symbol(symbol) == ContractSymbol(root, expiry,
                                                           Decimal(str(strike)), right)


def test_every_day_and_strike_reads_back_as_written():
    day = date(2026, 1, 1)
    for n in range(0, 730, 3):
        expiry = day + timedelta(days=n)
        for strike in (Decimal("0.05"), Decimal("99.5"), Decimal(24550), Decimal("1172.25")):
            for right in ("call", "put"):
                weekly = parse_contract_symbol(nse_symbol("NIFTY", expiry, strike, right, False))
                assert (weekly.expiry, weekly.strike, weekly.right) == (expiry, strike, right)
                occ = parse_contract_symbol(occ_symbol("SPY", expiry, strike, right))
                assert (occ.expiry, occ.strike, occ.right) == (expiry, strike, right)


@pytest.mark.parametrize(("text", "part"), [
    ("NIFTY24500CE", "neither"),
    ("NIFTY26XYZ24500CE", "neither"),
    ("NIFTY26DEC24500XX", "neither"),
    ("AAPL  261311P00212500", "no such expiry"),     # month 13
    ("NIFTY26D3224500CE", "no such expiry"),         # December 32nd
    ("", "neither"),
])
def test_what_is_not_a_symbol_is_refused_saying_why(text, part):
    with pytest.raises(ContractSymbolError, match=part):
        parse_contract_symbol(text)


@pytest.mark.parametrize(("call", "part"), [
    (lambda: occ_symbol("TOOLONGX", date(2026, 12, 11), 100, "call"), "1-6 characters"),
    (lambda: occ_symbol("AAPL", date(2026, 12, 11), Decimal("0.0005"), "call"), "thousandths"),
    (lambda: occ_symbol("AAPL", date(2026, 12, 11), 100_000, "call"), "thousandths"),
    (lambda: nse_symbol("NIFTY", date(2026, 12, 8), 0, "call", False), "positive"),
    (lambda: nse_symbol("NIFTY", date(2026, 12, 8), 100, "straddle", False), "'call' or 'put'"),
])
def test_contracts_the_format_cannot_hold_are_refused(call, part):
    with pytest.raises(ContractSymbolError, match=part):
        call()
