"""Orders as a client places them, and the checks every order passes before it reaches the book.

Units: ``quantity`` in units of the underlying (a positive whole multiple of the lot size: 65
for NIFTY, 100 for a US contract); ``limit_price`` and ``stop_price`` ``Decimal`` per unit in
the product's currency, on the product's tick. Order types: MARKET, LIMIT, STOP (a market order
once triggered) and STOP_LIMIT (a limit order once triggered). Time in force: DAY (rests until
the session's close) or IOC (what does not fill at once is cancelled). A check that fails
raises :class:`OrderError` naming the field (``side``, ``quantity``, ``order_type``, ``price``,
``stop_price``, ``time_in_force``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the change of a signed position per unit."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(StrEnum):
    DAY = "DAY"
    IOC = "IOC"


class OrderError(ValueError):
    """An order fails a check; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Order:
    """A validated order (build it with :func:`make_order`)."""

    side: Side
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None = None   # LIMIT and STOP_LIMIT
    stop_price: Decimal | None = None    # STOP and STOP_LIMIT: the trigger
    time_in_force: TimeInForce = TimeInForce.DAY


def _enum(kind: type[StrEnum], value: Any, field: str) -> Any:
    text = str(value).strip().upper().replace("-", "_") if value is not None else ""
    try:
        return kind(text)
    except ValueError:
        allowed = "/".join(m.value for m in kind)
        raise OrderError(field, f"{value!r} is not one of {allowed}") from None


def _price(value: Any, field: str, tick: Decimal) -> Decimal:
    if isinstance(value, float):
        value = repr(value)     # the float's shortest text: 101.05, not 101.0499999...
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise OrderError(field, f"{value!r} is not a price") from None
    if not price.is_finite() or price <= 0:
        raise OrderError(field, f"{value!r} must be a positive price")
    if price % tick != 0:
        raise OrderError(field, f"{format(price, 'f')} is not on the tick "
                                f"{format(tick.normalize(), 'f')}")
    return price


def check_quantity(quantity: Any, lot_size: int) -> int:
    """``quantity`` as a whole number of units, a positive multiple of ``lot_size``."""
    if isinstance(quantity, bool):
        raise OrderError("quantity", f"{quantity!r} is not a number of units")
    try:
        exact = Decimal(str(quantity).strip())
    except InvalidOperation:
        raise OrderError("quantity", f"{quantity!r} is not a number of units") from None
    if not exact.is_finite() or exact != exact.to_integral_value():
        raise OrderError("quantity", f"{quantity!r} is not a whole number of units")
    units = int(exact)
    if units <= 0:
        raise OrderError("quantity", f"{units} must be positive")
    if units % lot_size:
        raise OrderError("quantity", f"{units} is not a multiple of the lot size {lot_size}")
    return units


def make_order(side: Any, quantity: Any, order_type: Any, *, lot_size: int, tick_size: Decimal,
               price: Any = None, stop_price: Any = None,
               time_in_force: Any = TimeInForce.DAY) -> Order:
    """A checked order from a client's values (strings or numbers); an empty ``price`` is
    none (a market order's)."""
    kind = _enum(OrderType, order_type, "order_type")
    needs_limit = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = kind in (OrderType.STOP, OrderType.STOP_LIMIT)
    given = price not in (None, "")
    if needs_limit and not given:
        raise OrderError("price", f"is required for a {kind} order")
    if not needs_limit and given:
        raise OrderError("price", f"must be empty for a {kind} order")
    if needs_stop and stop_price in (None, ""):
        raise OrderError("stop_price", f"is required for a {kind} order")
    if not needs_stop and stop_price not in (None, ""):
        raise OrderError("stop_price", f"must be empty for a {kind} order")
    return Order(
        side=_enum(Side, side, "side"),
        quantity=check_quantity(quantity, lot_size),
        order_type=kind,
        limit_price=_price(price, "price", tick_size) if needs_limit else None,
        stop_price=_price(stop_price, "stop_price", tick_size) if needs_stop else None,
        time_in_force=_enum(TimeInForce, time_in_force, "time_in_force"),
    )
