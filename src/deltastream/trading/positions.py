"""Net positions per contract, realised and unrealised P&L, and portfolio Greeks.

Units: ``quantity`` signed ``int`` units of the underlying (long > 0, short < 0); prices and
money ``Decimal`` in the contract's currency, kept exact (an average cost may carry more than
two decimals; round with :func:`charges.to_cents` to show it). P&L is per unit price change x
units: a unit is what the price is quoted for, so a position's value is quantity x price.

Realised P&L, two methods:

* ``AVERAGE`` (default, weighted average cost, as Indian brokers report it): buys into a long
  (sells into a short) move the average cost to the quantity-weighted mean of the old cost and
  the fill price; a fill against the position realises (fill - average) x closed units (times
  -1 for a short), rounded to 0.01 when only part of the position closes (the open units'
  cost keeps the rounding: a position closed in full realises exactly cash in less cash out),
  and leaves the average unchanged;
* ``FIFO``: a fill against the position closes the oldest open lots first at their own prices.

Either way, a fill larger than the position closes it and opens the rest on the other side at
the fill price (through zero). Charges are booked once, with the fill that incurred them, into
``charges``; ``realised`` is gross of them and :attr:`Position.net_realised` is net.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from .charges import to_cents

ZERO = Decimal(0)


class CostMethod(StrEnum):
    AVERAGE = "AVERAGE"
    FIFO = "FIFO"


@dataclass(frozen=True)
class Lot:
    """Open units (signed) bought or sold at one price, for FIFO."""

    quantity: int
    price: Decimal


@dataclass(frozen=True)
class Position:
    """One contract's net position. ``cost`` is the open units' signed cost, sum of units x
    price paid (negative for a short), kept exact so that closing all of a position realises
    exactly what was paid and received; ``lots`` the open lots oldest first (FIFO only)."""

    quantity: int = 0
    cost: Decimal = ZERO
    realised: Decimal = ZERO
    charges: Decimal = ZERO
    lots: tuple[Lot, ...] = ()
    method: CostMethod = CostMethod.AVERAGE

    @property
    def average_cost(self) -> Decimal:
        """Cost per open unit (zero when flat)."""
        return self.cost / self.quantity if self.quantity else ZERO

    @property
    def net_realised(self) -> Decimal:
        return self.realised - self.charges

    def unrealised(self, mark: Decimal) -> Decimal:
        """P&L of the open units marked at ``mark`` (the mid): mark x quantity - cost."""
        return mark * self.quantity - self.cost


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def _average(position: Position, quantity: int, price: Decimal) -> tuple[int, Decimal, Decimal]:
    """(quantity, cost, realised now) after a fill, by weighted average cost."""
    held, cost = position.quantity, position.cost
    if held == 0 or _sign(held) == _sign(quantity):
        return held + quantity, cost + quantity * price, ZERO
    # Signed units closed (the sign of the holding). Their share of the cost may not be a
    # finite decimal (cost x 65 / 195): a partial close realises it rounded to 0.01 and the
    # open units' cost keeps the rounding, so that a position closed in full has realised
    # exactly the cash it received less the cash it paid.
    closed = min(abs(quantity), abs(held)) * _sign(held)
    if closed == held:
        realised = price * closed - cost
    else:
        realised = to_cents(price * closed - cost * closed / held)
    closed_cost = price * closed - realised
    opened = quantity + closed          # beyond the holding: through zero, at the fill price
    held, cost = held - closed, cost - closed_cost
    if opened:
        held, cost = opened, opened * price
    return held, cost, realised


def _fifo(position: Position, quantity: int, price: Decimal
          ) -> tuple[tuple[Lot, ...], Decimal]:
    """(open lots, realised now) after a fill, closing the oldest lots first."""
    lots = list(position.lots)
    realised = ZERO
    left = quantity
    while left and lots and _sign(lots[0].quantity) != _sign(left):
        lot = lots.pop(0)
        closed = min(abs(left), abs(lot.quantity)) * _sign(lot.quantity)
        realised += (price - lot.price) * closed
        left += closed
        if lot.quantity != closed:
            lots.insert(0, Lot(lot.quantity - closed, lot.price))
    if left:
        lots.append(Lot(left, price))
    return tuple(lots), realised


def apply_fill(position: Position, quantity: int, price: Decimal,
               charges: Decimal = ZERO) -> Position:
    """The position after a fill of ``quantity`` signed units (buy > 0, sell < 0) at
    ``price`` with its ``charges`` (booked once, here)."""
    if quantity == 0:
        raise ValueError("a fill has a non-zero quantity")
    charged = position.charges + charges
    if position.method is CostMethod.FIFO:
        lots, realised = _fifo(position, quantity, price)
        cost = sum((lot.price * lot.quantity for lot in lots), ZERO)
        return replace(position, quantity=position.quantity + quantity, cost=cost,
                       realised=position.realised + realised, charges=charged, lots=lots)
    held, cost, realised = _average(position, quantity, price)
    return replace(position, quantity=held, cost=cost, realised=position.realised + realised,
                   charges=charged)


def replay(fills: Iterable[tuple[int, Decimal, Decimal]],
           method: CostMethod = CostMethod.AVERAGE) -> Position:
    """The position a sequence of (signed quantity, price, charges) fills leaves."""
    position = Position(method=method)
    for quantity, price, charges in fills:
        position = apply_fill(position, quantity, price, charges)
    return position


@dataclass(frozen=True)
class GreekExposure:
    """A portfolio's Greeks: sum of quantity x multiplier x the per-unit Greek (the pricing
    package's units: delta per 1 of spot, gamma per unit of spot, theta per calendar day,
    vega per volatility point)."""

    delta: float
    gamma: float
    theta: float
    vega: float


def portfolio_greeks(holdings: Iterable[tuple[int, float, float, float, float, float]]
                     ) -> GreekExposure:
    """Sum of quantity x multiplier x Greek over (quantity, multiplier, delta, gamma, theta,
    vega) rows; with quantities in units the multiplier is 1 (an underlying position is a
    row of delta 1)."""
    delta = gamma = theta = vega = 0.0
    for quantity, multiplier, d, g, t, v in holdings:
        size = quantity * multiplier
        delta += size * d
        gamma += size * g
        theta += size * t
        vega += size * v
    return GreekExposure(delta, gamma, theta, vega)
