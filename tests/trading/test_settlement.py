"""Expiry by hand: Indian cash settlement at the close, US exercise and assignment into the
underlying from $0.01 in the money, worthless options expiring; the trades applied to the
positions book the P&L a trader expects."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from deltastream.trading.contracts import Instrument
from deltastream.trading.orders import Side
from deltastream.trading.positions import Position, apply_fill
from deltastream.trading.settlement import (
    SettlementTrade,
    intrinsic,
    settle,
    settle_cash,
    settle_physical,
)


def nifty(strike: int, right: str) -> Instrument:
    return Instrument("NIFTY", date(2026, 12, 29), Decimal(strike), right, 65, Decimal("0.05"),
                      "INR", "NSE")


def aapl(strike: str, right: str) -> Instrument:
    return Instrument("AAPL", date(2026, 12, 18), Decimal(strike), right, 100,
                      Decimal("0.01"), "USD", "NASDAQ")


def test_intrinsic_values():
    assert intrinsic("call", Decimal(24000), Decimal("24180.35")) == Decimal("180.35")
    assert intrinsic("put", Decimal(24000), Decimal("24180.35")) == 0
    assert intrinsic("put", Decimal(24200), Decimal("24180.35")) == Decimal("19.65")


def test_an_indian_long_call_is_cash_settled_at_the_close():
    # Long 130 NIFTY 24000 CE at an average 150; expiry-day close 24,180.35: intrinsic
    # 180.35. Closed by a sell of 130 at 180.35; STT 0.125 % of 130 x 180.35 = 23,445.50 x
    # 0.00125 = 29.306875 -> 29.31. Realised 130 x (180.35 - 150) = 3,945.50.
    [trade] = settle_cash(nifty(24000, "call"), 130, Decimal("24180.35"))
    assert trade == SettlementTrade(nifty(24000, "call"), Side.SELL, 130, Decimal("180.35"),
                                    "CASH_SETTLEMENT", Decimal("29.31"))
    held = Position(quantity=130, cost=Decimal(130 * 150))
    after = apply_fill(held, trade.signed_quantity, trade.price, trade.charges)
    assert (after.quantity, after.realised, after.net_realised) == (
        0, Decimal("3945.50"), Decimal("3916.19"))


def test_an_indian_short_in_the_money_pays_the_intrinsic_value_without_stt():
    # Short 65 of the 24000 CE sold at 120: bought back at 180.35; realised 65 x (120 -
    # 180.35) = -3,922.75.
    [trade] = settle(nifty(24000, "call"), -65, Decimal("24180.35"))
    assert (trade.side, trade.quantity, trade.price, trade.kind, trade.charges) == (
        Side.BUY, 65, Decimal("180.35"), "CASH_SETTLEMENT", Decimal("0.00"))
    held = Position(quantity=-65, cost=Decimal(-65 * 120))
    assert apply_fill(held, trade.signed_quantity, trade.price).realised == Decimal("-3922.75")


def test_an_out_of_the_money_indian_option_expires_worthless():
    # Short 65 of the 24000 PE sold at 80: expires at 0; the whole 65 x 80 = 5,200 is kept.
    [trade] = settle(nifty(24000, "put"), -65, Decimal("24180.35"))
    assert (trade.side, trade.price, trade.kind) == (Side.BUY, 0, "EXPIRED")
    held = Position(quantity=-65, cost=Decimal(-65 * 80))
    assert apply_fill(held, trade.signed_quantity, trade.price).realised == 5200


def test_a_us_long_call_is_exercised_into_shares():
    # Long 100 AAPL 210 C bought at 3.00; close 215: exercised. The option closes at 0
    # (realised -300) and 100 shares are bought at 210; marked at 215 they are worth +500:
    # in all 100 x (5 - 3) = +200.
    option, shares = settle(aapl("210", "call"), 100, Decimal("215.00"))
    assert (option.side, option.quantity, option.price, option.kind) == (
        Side.SELL, 100, 0, "EXERCISE")
    assert (shares.instrument.key, shares.side, shares.quantity, shares.price, shares.kind) == (
        "AAPL", Side.BUY, 100, Decimal(210), "DELIVERY")
    closed = apply_fill(Position(quantity=100, cost=Decimal(300)), option.signed_quantity,
                        option.price)
    stock = apply_fill(Position(), shares.signed_quantity, shares.price)
    assert closed.realised + stock.unrealised(Decimal(215)) == 200


@pytest.mark.parametrize(("right", "strike", "quantity", "kind", "shares_side"), [
    ("put", "220", 100, "EXERCISE", Side.SELL),      # long put exercised: sells at 220
    ("put", "220", -200, "ASSIGNMENT", Side.BUY),    # short put assigned: buys at 220
    ("call", "210", -100, "ASSIGNMENT", Side.SELL),  # short call assigned: sells at 210
])
def test_us_exercise_and_assignment(right, strike, quantity, kind, shares_side):
    option, shares = settle_physical(aapl(strike, right), quantity, Decimal("215.00"))
    assert (option.kind, option.quantity, option.price) == (kind, abs(quantity), 0)
    assert option.side is (Side.SELL if quantity > 0 else Side.BUY)
    assert (shares.side, shares.quantity, shares.price) == (shares_side, abs(quantity),
                                                            Decimal(strike))
    assert not shares.instrument.is_option


@pytest.mark.parametrize(("close", "exercised"), [
    ("210.01", True),      # exactly $0.01 in the money: exercised
    ("210.009", False),    # under a cent: expires
    ("210.00", False),     # at the money: expires
    ("190.00", False),
])
def test_the_us_exercise_threshold_is_one_cent(close, exercised):
    trades = settle(aapl("210", "call"), 100, Decimal(close))
    assert (len(trades) == 2) is exercised
    assert trades[0].kind == ("EXERCISE" if exercised else "EXPIRED")


def test_only_option_positions_settle():
    underlying = Instrument("AAPL", None, None, None, 100, Decimal("0.01"), "USD", "NASDAQ")
    with pytest.raises(ValueError):
        settle(underlying, 100, Decimal(215))
    with pytest.raises(ValueError):
        settle(nifty(24000, "call"), 0, Decimal(24000))
