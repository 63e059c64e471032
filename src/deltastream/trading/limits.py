"""Position and loss limits of one market's account: the checks an order passes besides the
margin, each refusing with the limit's name and the figures.

Units: ``lot_size`` and positions in units of the underlying (limits on them in lots); money
``Decimal`` in the market's currency. A limit of 0 is off.

The limits (configured per market: :mod:`deltastream.settings`, ``paper_max_*``):

* ``max_open_lots``: per contract, the lots the account may hold on one side: the position
  plus the account's other open orders of the order's side on that contract (they may all
  fill) plus the order (all of it, filled now or resting).
* ``max_gross_exposure``: the sum over the market's open positions of ``|units| x mark``
  (the premium of options, the notional of the underlying; marks are the mids), with the
  order's contract at its position after the order.
* ``max_daily_loss``: the UTC day's loss, marked to market as brokers report the day's P&L:
  -(the cash the day's fills moved, charges included, + the positions' value now at their
  marks - their value when the day began at the previous session's close), :func:`day_loss`.
  A position opened today counts from its fill prices, one carried overnight from the
  previous close (without one, the underlying say: from its cost); last week's loss on a
  position still held does not count against today. Once the loss after the order (its
  charges and the spread it pays against the mid added) passes the limit, orders are refused.

An order that only reduces a position (opposite side, at most the units held) passes every
limit: a trader can always close. A refused order is stored REJECTED with the message, as a
margin refusal is (:class:`LimitError` is a :class:`~deltastream.trading.margin.MarginError`
so the flows that refuse orders on margin refuse them on limits the same way).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from .margin import MarginError

ZERO = Decimal(0)


@dataclass(frozen=True)
class Limits:
    """One market's limits; 0 turns a limit off."""

    max_open_lots: int = 0
    max_gross_exposure: Decimal = ZERO
    max_daily_loss: Decimal = ZERO

    @property
    def any(self) -> bool:
        return bool(self.max_open_lots or self.max_gross_exposure or self.max_daily_loss)


class LimitError(MarginError):
    """An order would pass limit ``name``: ``limit``, the ``current`` figure and the figure
    ``after`` the order, in ``unit`` (lots or the currency)."""

    def __init__(self, name: str, limit: Decimal, current: Decimal, after: Decimal,
                 unit: str) -> None:
        super().__init__(after - current, limit - current)
        self.name = name
        self.limit = limit
        self.current = current
        self.after = after
        self.unit = unit
        self.args = (f"limit {name}: {format(limit, 'f')} {unit}; now {format(current, 'f')}, "
                     f"after the order {format(after, 'f')}",)


@dataclass(frozen=True)
class OrderExposure:
    """What the checks need of an order and its account (units signed: long > 0).

    ``held``: the position in the order's contract; ``pending``: the signed remaining units
    of the account's other open orders of the order's side on that contract; ``units``: the
    order's signed units (filled now and resting); ``mark``: the contract's mark (mid);
    ``gross``: the market's gross exposure now; ``day_loss``: the day's loss now;
    ``order_cost``: what the order's fills cost at once against the mark (charges plus the
    spread: units x (fill price - mark) for a buy, the reverse for a sell); ``currency``
    names the money figures' unit."""

    lot_size: int
    held: int
    pending: int
    units: int
    mark: Decimal
    gross: Decimal
    day_loss: Decimal
    order_cost: Decimal = ZERO
    currency: str = "currency"

    @property
    def reduces(self) -> bool:
        """The order only reduces the position (opposite side, at most the units held)."""
        return self.held * self.units < 0 and abs(self.units) <= abs(self.held)


@dataclass(frozen=True)
class DayHolding:
    """One contract over the day: ``units`` held now, at ``mark``; ``units_at_start`` held
    when the day began, at ``previous_close`` (None: unknown, then at their cost then,
    ``cost_at_start``, the sum of units x price paid)."""

    units: int
    mark: Decimal
    units_at_start: int
    previous_close: Decimal | None
    cost_at_start: Decimal

    @property
    def change(self) -> Decimal:
        """The day's change in the holding's value."""
        start = (self.cost_at_start if self.previous_close is None
                 else self.units_at_start * self.previous_close)
        return self.units * self.mark - start


def day_loss(flow: Decimal, holdings: Iterable[DayHolding]) -> Decimal:
    """The day's loss (> 0 a loss): -(``flow``, the cash the day's fills moved with their
    charges, + the day's change in the holdings' value)."""
    return -(flow + sum((h.change for h in holdings), ZERO))


def check_limits(limits: Limits, order: OrderExposure) -> None:
    """Raise :class:`LimitError` for the first limit (lots, gross, loss) the order passes."""
    if not limits.any or order.reduces:
        return
    if limits.max_open_lots:
        before = order.held + order.pending
        after = before + order.units
        if abs(after) > limits.max_open_lots * order.lot_size and abs(after) > abs(before):
            raise LimitError("max_open_lots", Decimal(limits.max_open_lots),
                             Decimal(abs(before) // order.lot_size),
                             Decimal(abs(after) // order.lot_size), "lots")
    if limits.max_gross_exposure:
        after_gross = (order.gross - abs(order.held) * order.mark
                       + abs(order.held + order.units) * order.mark)
        if after_gross > limits.max_gross_exposure and after_gross > order.gross:
            raise LimitError("max_gross_exposure", limits.max_gross_exposure, order.gross,
                             after_gross, order.currency)
    if limits.max_daily_loss:
        after_loss = order.day_loss + order.order_cost
        if after_loss > limits.max_daily_loss:
            raise LimitError("max_daily_loss", limits.max_daily_loss, order.day_loss,
                             after_loss, order.currency)
