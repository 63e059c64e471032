"""Filling orders against a simulated quoted book with depth.

Units: prices ``Decimal`` per unit on the product's tick; sizes and quantities ``int`` units of
the underlying. The vectorised matcher works on integer tick counts (``price / tick``, exact)
and ``int64`` units.

The book: :func:`book_from_quote` builds depth behind a quote. Level ``k`` (0 = the touch) sits
``k x spacing_ticks`` ticks behind the best price on its side (bids down, asks up; bids stop
above zero) and holds ``size x (1 + k x size_growth)`` units rounded down to whole lots (deeper
levels hold more, as real books do): defaults 5 levels, 1 tick apart, +50 % per level.

Rules (invariants the tests pin):

* a market order walks the opposite levels best first, each fill at its level's price (the
  slippage of a large order); what the whole book cannot fill is cancelled (a market order
  never rests);
* a limit order fills against levels priced at or through its limit, at those levels' prices;
  the remainder rests (DAY) or is cancelled (IOC);
* a STOP (STOP_LIMIT) order waits until the book's mid reaches its stop price (a buy stop at or
  above, a sell stop at or below; simulated books have no trades, the mid stands for the last
  price) and then is a market (limit) order;
* a resting limit order that a later quote crosses fills at its own limit price (it was in the
  book when the market came to it), up to the units the opposite side shows at or through the
  limit; resting orders on one contract and side share that size by price, then time priority;
* every level taken is a separate fill (partial fills are separate trades).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from .orders import Order, OrderType, Side, TimeInForce

DEFAULT_LEVELS = 5
DEFAULT_SPACING_TICKS = 1
DEFAULT_SIZE_GROWTH = 0.5


class OrderStatus(StrEnum):
    PENDING = "PENDING"                  # resting (or a stop not yet triggered), nothing filled
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"              # the remainder cancelled (IOC, market, DAY at close)
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class Level:
    price: Decimal
    quantity: int


@dataclass(frozen=True)
class Book:
    """A quoted book: ``bids`` best (highest) first, ``asks`` best (lowest) first."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2


@dataclass(frozen=True)
class Fill:
    quantity: int
    price: Decimal


@dataclass(frozen=True)
class MatchResult:
    """What matching did to an order: its fills, the units still open and its status.
    ``triggered``: a stop order's trigger has been reached (it now behaves as its market or
    limit order)."""

    fills: tuple[Fill, ...]
    remaining: int
    status: OrderStatus
    triggered: bool = False

    @property
    def filled(self) -> int:
        return sum(f.quantity for f in self.fills)


def book_from_quote(bid: Decimal, ask: Decimal, bid_size: int, ask_size: int, tick: Decimal,
                    lot_size: int = 1, levels: int = DEFAULT_LEVELS,
                    spacing_ticks: int = DEFAULT_SPACING_TICKS,
                    size_growth: float = DEFAULT_SIZE_GROWTH) -> Book:
    """Depth behind a quote (the module docstring gives the layout)."""
    def side(best: Decimal, size: int, direction: int) -> tuple[Level, ...]:
        out = []
        for k in range(levels):
            price = best + direction * k * spacing_ticks * tick
            if price <= 0:
                break
            units = Decimal(size) * (1 + Decimal(repr(size_growth)) * k)
            lots = int((units / lot_size).to_integral_value(ROUND_FLOOR))
            if lots > 0:
                out.append(Level(price, lots * lot_size))
        return tuple(out)
    return Book(side(bid, bid_size, -1), side(ask, ask_size, +1))


def _crosses(side: Side, limit: Decimal | None, level_price: Decimal) -> bool:
    if limit is None:
        return True
    return level_price <= limit if side is Side.BUY else level_price >= limit


def _walk(side: Side, quantity: int, limit: Decimal | None, book: Book) -> list[Fill]:
    fills = []
    left = quantity
    for level in (book.asks if side is Side.BUY else book.bids):
        if left == 0 or not _crosses(side, limit, level.price):
            break
        take = min(left, level.quantity)
        fills.append(Fill(take, level.price))
        left -= take
    return fills


def stop_triggered(order: Order, book: Book) -> bool:
    """Whether the book's mid has reached a stop order's trigger."""
    mid = book.mid
    if order.stop_price is None or mid is None:
        return False
    return mid >= order.stop_price if order.side is Side.BUY else mid <= order.stop_price


def _status(quantity: int, filled: int, rests: bool) -> OrderStatus:
    if filled == quantity:
        return OrderStatus.FILLED
    if not rests:
        return OrderStatus.CANCELLED
    return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.PENDING


def match_order(order: Order, book: Book, remaining: int | None = None,
                triggered: bool = False) -> MatchResult:
    """Match an incoming (or a triggered stop) order's ``remaining`` units (default all)
    against ``book``. ``triggered``: the stop already fired on an earlier quote."""
    left = order.quantity if remaining is None else remaining
    is_stop = order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    fired = triggered or (is_stop and stop_triggered(order, book))
    if is_stop and not fired:
        return MatchResult((), left, OrderStatus.PENDING)
    limit = order.limit_price if order.order_type in (OrderType.LIMIT,
                                                      OrderType.STOP_LIMIT) else None
    fills = _walk(order.side, left, limit, book)
    filled = sum(f.quantity for f in fills)
    rests = limit is not None and order.time_in_force is TimeInForce.DAY
    done_before = order.quantity - left
    status = _status(order.quantity, done_before + filled, rests)
    return MatchResult(tuple(fills), left - filled if rests else 0, status, fired)


def match_resting(order: Order, remaining: int, book: Book) -> MatchResult:
    """A resting limit order against a later quote: filled at its limit price up to the units
    the opposite side shows at or through the limit."""
    if order.limit_price is None:
        raise ValueError("only limit orders rest")
    levels = book.asks if order.side is Side.BUY else book.bids
    available = sum(lv.quantity for lv in levels
                    if _crosses(order.side, order.limit_price, lv.price))
    take = min(available, remaining)
    fills = (Fill(take, order.limit_price),) if take else ()
    status = _status(order.quantity, order.quantity - remaining + take, True)
    return MatchResult(fills, remaining - take, status)


def to_ticks(price: Decimal, tick: Decimal) -> int:
    """A price on the tick as a whole number of ticks (exact)."""
    ticks = price / tick
    if ticks != ticks.to_integral_value():
        raise ValueError(f"{price} is not on the tick {tick}")
    return int(ticks)


def match_resting_limits(contract: NDArray[np.int64], is_buy: NDArray[np.bool_],
                         limit_ticks: NDArray[np.int64], remaining: NDArray[np.int64],
                         bid_ticks: NDArray[np.int64], bid_sizes: NDArray[np.int64],
                         ask_ticks: NDArray[np.int64], ask_sizes: NDArray[np.int64]
                         ) -> NDArray[np.int64]:
    """Units each resting limit order fills on one tick (all contracts' books at once), the
    rules of :func:`match_resting` with price-then-time priority among orders of one contract
    and side. Orders are given in time priority (earliest first); ``contract[i]`` indexes rows
    of the book arrays, shape ``(contracts, levels)`` best level first (missing levels: size
    0). Fills are at each order's own limit price."""
    n = contract.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # Units the opposite side shows at or through each order's limit.
    asks_t, asks_s = ask_ticks[contract], ask_sizes[contract]
    bids_t, bids_s = bid_ticks[contract], bid_sizes[contract]
    limit = limit_ticks[:, None]
    available = np.where(is_buy, (asks_s * (asks_t <= limit)).sum(axis=1),
                         (bids_s * (bids_t >= limit)).sum(axis=1))
    # Price then time priority within (contract, side): best limit first, then arrival.
    priority = np.where(is_buy, -limit_ticks, limit_ticks)
    order = np.lexsort((np.arange(n), priority, is_buy, contract))
    group = contract[order] * 2 + is_buy[order]
    wanted = remaining[order]
    ahead = np.cumsum(wanted) - wanted
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    run = np.diff(np.r_[starts, n])
    ahead -= np.repeat(ahead[starts], run)
    filled_sorted = np.clip(available[order] - ahead, 0, wanted)
    filled = np.empty(n, dtype=np.int64)
    filled[order] = filled_sorted
    return filled
