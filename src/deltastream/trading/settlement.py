"""Expiry: what happens to an option position when its contract expires, as trade records.

Units: ``quantity`` signed ``int`` units of the underlying (long > 0); prices ``Decimal`` per
unit in the contract's currency; money rounded half-up to 0.01.

* Indian index options (NSE, BSE) are cash-settled at the expiry day's close: the position is
  closed at its intrinsic value against the settlement price, max(S - K, 0) for a call and
  max(K - S, 0) for a put (a ``CASH_SETTLEMENT`` trade, or ``EXPIRED`` at 0 when out of the
  money). A long position settled in the money pays STT of 0.125 % of the intrinsic value it
  receives (Finance Act 2024; configurable), booked as the trade's charges.
* US options are physically settled: an option at least $0.01 in the money against the
  closing price of the underlying is exercised automatically (OCC's exercise-by-exception
  threshold), long positions by their holder (``EXERCISE``) and short ones by assignment
  (``ASSIGNMENT``): the option is closed at 0 and the underlying is bought or sold at the
  strike (a call exercised or a put assigned buys it, a put exercised or a call assigned sells
  it). Anything else expires worthless (``EXPIRED`` at 0).

Every settlement returns the trades to store; applying them with
:func:`positions.apply_fill` closes the option position and books the P&L.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from .charges import to_cents
from .contracts import Instrument
from .orders import Side

US_EXERCISE_THRESHOLD = Decimal("0.01")
INDIA_EXERCISE_STT = Decimal("0.00125")
INDIAN_EXCHANGES = frozenset({"NSE", "BSE"})


@dataclass(frozen=True)
class SettlementTrade:
    """A trade expiry makes: ``kind`` is CASH_SETTLEMENT, EXERCISE, ASSIGNMENT, EXPIRED or
    DELIVERY (the underlying leg of an exercise or assignment)."""

    instrument: Instrument
    side: Side
    quantity: int          # units, positive
    price: Decimal
    kind: str
    charges: Decimal = Decimal("0.00")

    @property
    def signed_quantity(self) -> int:
        return self.quantity * self.side.sign


def intrinsic(right: str, strike: Decimal, settlement_price: Decimal) -> Decimal:
    """An option's value at expiry per unit."""
    value = settlement_price - strike if right == "call" else strike - settlement_price
    return max(value, Decimal(0))


def _closing_side(quantity: int) -> Side:
    return Side.SELL if quantity > 0 else Side.BUY


def settle_cash(instrument: Instrument, quantity: int, settlement_price: Decimal,
                exercise_stt_rate: Decimal = INDIA_EXERCISE_STT) -> list[SettlementTrade]:
    """Cash settlement of ``quantity`` units of an Indian option at ``settlement_price``."""
    if instrument.right is None or instrument.strike is None or quantity == 0:
        raise ValueError("cash settlement closes a non-zero option position")
    value = intrinsic(instrument.right, instrument.strike, settlement_price)
    units = abs(quantity)
    if value == 0:
        return [SettlementTrade(instrument, _closing_side(quantity), units, value, "EXPIRED")]
    stt = to_cents(units * value * exercise_stt_rate) if quantity > 0 else Decimal("0.00")
    return [SettlementTrade(instrument, _closing_side(quantity), units, value,
                            "CASH_SETTLEMENT", stt)]


def settle_physical(instrument: Instrument, quantity: int, underlying_close: Decimal
                    ) -> list[SettlementTrade]:
    """Exercise, assignment or expiry of ``quantity`` units of a US option against the
    underlying's close."""
    if instrument.right is None or instrument.strike is None or quantity == 0:
        raise ValueError("physical settlement closes a non-zero option position")
    units = abs(quantity)
    closing = _closing_side(quantity)
    zero = Decimal("0")
    if intrinsic(instrument.right, instrument.strike, underlying_close) < US_EXERCISE_THRESHOLD:
        return [SettlementTrade(instrument, closing, units, zero, "EXPIRED")]
    underlying = replace(instrument, expiry=None, strike=None, right=None)
    long = quantity > 0
    buys_underlying = (instrument.right == "call") == long
    return [
        SettlementTrade(instrument, closing, units, zero, "EXERCISE" if long else "ASSIGNMENT"),
        SettlementTrade(underlying, Side.BUY if buys_underlying else Side.SELL, units,
                        instrument.strike, "DELIVERY"),
    ]


def settle(instrument: Instrument, quantity: int, settlement_price: Decimal
           ) -> list[SettlementTrade]:
    """An expiring position's trades by its market: cash for NSE/BSE, physical otherwise."""
    if instrument.exchange in INDIAN_EXCHANGES:
        return settle_cash(instrument, quantity, settlement_price)
    return settle_physical(instrument, quantity, settlement_price)
