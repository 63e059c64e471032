"""Paper trading's flow: place, cancel and list orders, fill resting orders on later ticks,
and report portfolio, positions, P&L, performance and risk, for one user at a time.

Units: money and prices ``Decimal`` in the contract's currency (INR for Indian products, USD
for US ones; each user has one cash account per currency); quantities ``int`` units of the
underlying; times aware UTC datetimes (stored as epoch microseconds).

Placing an order (:meth:`PaperTrading.place`):

1. the body is checked (:func:`deltastream.trading.orders.make_order`) and its contract
   resolved against the expiries the live snapshots list (any accepted symbol spelling, or
   explicit fields);
2. the contract's book is built from the live snapshot's bid/ask: ``touch_lots`` lots at the
   touch and deeper levels behind it (:func:`deltastream.trading.matching.book_from_quote`;
   the simulated quotes carry no sizes, so the touch size is this service's setting);
3. when the product's market is closed (``market_status`` CLOSED) the order is refused with
   the next open (:class:`MarketClosed`), unless ``after_market``: then it is stored PENDING
   and fills from the first open tick on (:meth:`PaperTrading.match_resting`);
4. under the account lock (:meth:`SqlTradingStore.locked`) the idempotency key is looked up
   (a retry returns the stored order), the order is matched (market orders walk the book at
   once and never rest; a limit order fills what crosses and rests the rest, DAY, or cancels
   it, IOC), and the margin is checked: the requirement of the positions after the fills
   plus, for a resting remainder, the units it could still fill at its limit (so a resting
   buy keeps its premium covered), against the cash after the fills. Refused orders are
   stored REJECTED with the figures (:class:`MarginRejected`);
5. order, fills (one row per level taken, each with its charges), and cash are written in
   that transaction.

Modifying an open order (:meth:`PaperTrading.modify`; PENDING or PARTIALLY_FILLED): the
quantity (total units, at least what has filled; equal to it, the order is done, FILLED), the
limit price and the stop price, each checked as at placement (lot multiple, tick). Under the
account lock the amended order is matched at once against the book (a limit moved through the
touch fills as a new order would) and the margin checked again for the amended order; a
refusal leaves the order as it was. After-market orders are amended untouched (checked at the
first open tick, as placed). ``updated_at`` records the change. A modification that changes
nothing answers the order as it stands; with an ``Idempotency-Key`` that holds even when the
order has filled since (the retry of a modification that took effect), without one a closed
order is refused.

Position and loss limits per market (:mod:`deltastream.trading.limits`: open lots per
contract, gross exposure, the day's loss; configured by the ``paper_max_*`` settings) are
checked with the margin, at placement and modification: an order that would pass one is
refused like a margin shortfall (stored REJECTED, :class:`MarginRejected` with ``limit``).
The day is the UTC calendar day (every market's session lies inside one). Resting orders are
counted at placement (open lots count the side's other open orders), not again when they
fill.

Margin requirement per currency: the sum over products of
:func:`deltastream.trading.margin.india_margin` (INR: SPAN-style scan plus exposure) or
:func:`~deltastream.trading.margin.us_margin` (USD: strategy-based rules), each option
repriced at its snapshot IV (the ATM IV where it did not solve). ``margin_available`` =
cash - requirement. A product's requirement depends only on its holdings and its snapshot, so
the service remembers it per set of holdings until the product's next snapshot. Only the
margin of positions and of the order being placed count: other resting orders' remainders
are checked again when they fill, and a fill the margin would not allow is then cancelled
with the reason.

P&L: realised by weighted average cost (:class:`~deltastream.trading.positions.CostMethod`
AVERAGE), charges counted once per fill, net realised = realised - charges; unrealised marks
open units at the snapshot's mid. ``total_pnl`` = net realised + unrealised = (cash + value of
the positions at the mid) - starting cash. Positions are the replay of the fills (the store
keeps no separate position rows).

Expiry (:meth:`PaperTrading.settle_expired`, run by the matcher before each pass): a contract
has expired once a snapshot of its product no longer lists its expiry and was taken on or
after the expiry day (the engine delists an expiry at its instant, the exchange's close on
expiry day). Every open position in it is then settled by
:func:`deltastream.trading.settlement.settle`: Indian (NSE, BSE) options in cash at the
intrinsic value against the settlement price (STT on a long in the money), US options
exercised or assigned into the underlying when at least $0.01 in the money, the others
expire at 0. The settlement price is
the underlying's close on expiry day, to the cent: the spot of the first snapshot after the
expiry when that is the expiry day's closing one (closed market); else the last snapshot this
service saw before the expiry, when on expiry day (markets trading around the clock); else the
last stored underlying tick of expiry day (after a restart); else, logged, the snapshot's spot.
Each settlement is a FILLED order of type SETTLEMENT whose ``reason`` is its kind, a colon
and the figures (kinds CASH_SETTLEMENT, EXPIRED, EXERCISE, ASSIGNMENT; DELIVERY for the
underlying's leg), with one fill; exactly once per user and contract: under the account
lock, keyed by an idempotency key no client can send (it starts with a line break, which no
HTTP header holds) that the store keeps unique per user. Open orders on expired contracts
are cancelled with the reason.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from time import monotonic, sleep
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np

from ..catalog.contract_symbols import contract_symbol
from ..catalog.product import Product
from ..core.snapshot import ChainSnapshot, monthly_flags
from ..core.types import MarketStatus
from ..store import history
from ..store.trading import (
    DAY_US,
    AccountFills,
    ContractRef,
    FillRow,
    Ledger,
    NewOrder,
    OrderRow,
    RestingOrder,
    SqlTradingStore,
)
from ..trading.charges import IndiaCharges, USCharges, fill_charges, to_cents
from ..trading.contracts import ContractError, Instrument, resolve_fields, resolve_symbol
from ..trading.limits import (
    DayHolding,
    LimitError,
    Limits,
    OrderExposure,
    check_limits,
    day_loss,
)
from ..trading.margin import (
    MarginError,
    Market,
    RiskPosition,
    check_order_margin,
    india_margin,
    scan_parameters,
    us_margin,
)
from ..trading.matching import (
    Book,
    Fill,
    MatchResult,
    OrderStatus,
    book_from_quote,
    match_order,
    match_resting_limits,
)
from ..trading.orders import Order, OrderError, OrderType, Side, TimeInForce, make_order
from ..trading.positions import ZERO, Position, apply_fill
from ..trading.settlement import SettlementTrade, settle

DEFAULT_STARTING_CASH: Mapping[str, Decimal] = {"INR": Decimal("1000000"),
                                                "USD": Decimal("100000")}
DEFAULT_TOUCH_LOTS = 10
# Holdings whose margin on a product's latest snapshot is remembered at most (emptied when full).
MAX_MEMO_MARGINS = 4096
# Where a contract's IV did not solve, the scan reprices at the ATM IV, else this.
FALLBACK_VOL = 0.2
AVG_PRICE_PLACES = Decimal("0.0001")
# Seconds of a matching pass's work one transaction takes on at most before it commits and
# lets the accounts' other writers (order placement) in: the next accounts go in the next,
# after a pause longer than a waiting writer's longest retry (SQLite: group commit's 5 ms),
# so that the writer, not the pass's next transaction, takes the lock.
MATCH_LOCK_BUDGET = 0.010
MATCH_LOCK_PAUSE = 0.006
_OPEN = (OrderStatus.PENDING, OrderStatus.PARTIALLY_FILLED)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SETTLEMENT_ORDER_TYPE = "SETTLEMENT"
# Settlement orders' idempotency keys (unique per user in the store) start with a line break,
# which no HTTP header value can hold: no client's Idempotency-Key can take one.
SETTLEMENT_KEY = "\nsettlement {}"
DELIVERY_KEY = "\nsettlement {} delivery"
log = logging.getLogger(__name__)


class TradeError(ValueError):
    """A request field is invalid: ``field`` names it and ``accepted`` says what is."""

    def __init__(self, field: str, message: str, accepted: str | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.accepted = accepted


class MarketClosed(Exception):  # noqa: N818 - the condition, not a failure
    """The product's market is closed; ``next_open`` is when it opens (None: unknown)."""

    def __init__(self, product: str, next_open: datetime | None) -> None:
        when = next_open.isoformat() if next_open else "unknown"
        super().__init__(f"the {product} market is closed; it opens at {when} (send "
                         "after_market: true to queue the order)")
        self.product = product
        self.next_open = next_open


class NoQuote(Exception):  # noqa: N818 - the condition, not a failure
    """No live snapshot quotes the product (the feed has not published it yet)."""


class MarginRejected(Exception):  # noqa: N818 - the condition, not a failure
    """The order would leave less than zero margin available, or pass a position or loss
    limit (``limit``); stored as REJECTED."""

    def __init__(self, order: OrderRow, error: MarginError) -> None:
        super().__init__(str(error))
        self.order = order
        # A position or loss limit's refusal (name and figures), else None.
        self.limit = error if isinstance(error, LimitError) else None
        self.required = error.required
        self.available = error.available


class OrderNotFound(LookupError):  # noqa: N818 - the condition, not a failure
    """No order with this id belongs to the user."""


class NotCancellable(Exception):  # noqa: N818 - the condition, not a failure
    """The order is no longer open (filled, cancelled or rejected): it cannot be ``action``
    (cancelled, modified)."""

    def __init__(self, order: OrderRow, action: str = "cancelled") -> None:
        super().__init__(f"order {order.id} is {order.status}: only PENDING or "
                         f"PARTIALLY_FILLED orders can be {action}")
        self.order = order


def micros(when: datetime) -> int:
    """``when`` (aware) as integer microseconds since the epoch."""
    return (when - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True)
class OrderRequest:
    """What a client sends (strings or numbers, unchecked): ``symbol`` or the explicit
    contract fields, and the order's terms."""

    side: Any
    quantity: Any
    order_type: Any = "MARKET"
    price: Any = None
    stop_price: Any = None
    time_in_force: Any = "DAY"
    symbol: str | None = None
    product: str | None = None
    expiry: Any = None
    strike: Any = None
    option_type: Any = None
    after_market: bool = False


# A modification's field the client did not send: the order keeps its value.
UNCHANGED: Any = object()


@dataclass(frozen=True)
class ModifyRequest:
    """A client's modification of an open order (strings or numbers, unchecked): the new
    ``quantity`` (total units, filled ones included), limit ``price`` and ``stop_price``;
    :data:`UNCHANGED` keeps the order's value."""

    quantity: Any = UNCHANGED
    price: Any = UNCHANGED
    stop_price: Any = UNCHANGED


@dataclass(frozen=True)
class LimitUsage:
    """A market's account as its limits see it: positions, their marks (the mids; the
    average cost without a quote), ``gross`` exposure = sum |units| x mark and the UTC
    day's loss, marked to market (:func:`deltastream.trading.limits.day_loss`)."""

    positions: Mapping[ContractRef, Position]
    marks: Mapping[ContractRef, Decimal]
    gross: Decimal
    day_loss: Decimal
    latest: Callable[[str], ChainSnapshot | None]

    def mark(self, contract: ContractRef) -> Decimal:
        """The contract's mark: its position's, else its quote's mid (0 without one)."""
        if contract in self.marks:
            return self.marks[contract]
        snapshot = self.latest(contract.product)
        quote = None if snapshot is None else quote_of(snapshot, contract)
        return ZERO if quote is None else quote.mid


@dataclass(frozen=True)
class Quote:
    """A contract's quote in a snapshot: bid/ask on the tick, mid, IV and per-unit Greeks
    (the pricing package's units), years to expiry; ``previous_close`` the previous
    session's closing premium (None where unknown, and for the underlying)."""

    bid: Decimal
    ask: Decimal
    mid: Decimal
    iv: float
    delta: float
    gamma: float
    theta: float
    vega: float
    time: float
    previous_close: Decimal | None = None


@dataclass(frozen=True)
class PositionView:
    contract: ContractRef
    symbol: str
    position: Position
    current_price: Decimal | None
    quote: Quote | None

    @property
    def unrealised(self) -> Decimal:
        if self.current_price is None or not self.position.quantity:
            return ZERO
        return to_cents(self.position.unrealised(self.current_price))


@dataclass(frozen=True)
class AccountView:
    """One currency's account: cash, P&L and margin (module docstring)."""

    currency: str
    starting_cash: Decimal
    cash: Decimal
    realised: Decimal          # gross of charges
    charges: Decimal
    unrealised: Decimal
    margin_used: Decimal
    positions: list[PositionView] = field(default_factory=list)

    @property
    def net_realised(self) -> Decimal:
        return self.realised - self.charges

    @property
    def total_pnl(self) -> Decimal:
        return self.net_realised + self.unrealised

    @property
    def margin_available(self) -> Decimal:
        return self.cash - self.margin_used


def _on_tick(value: float, tick: Decimal, rounding: str) -> Decimal:
    return (Decimal(repr(value)) / tick).to_integral_value(rounding) * tick


def _decimal(value: float) -> Decimal:
    return Decimal(repr(round(value, 6)))


def quote_of(snapshot: ChainSnapshot, contract: ContractRef) -> Quote | None:
    """The contract's quote in ``snapshot``; None when the snapshot does not list it or has
    no price for it. The underlying is quoted one tick wide around the spot."""
    tick = Decimal(repr(snapshot.terms.tick_size))
    if contract.right is None:
        bid = _on_tick(snapshot.spot, tick, ROUND_FLOOR)
        ask = bid + tick
        return Quote(bid, ask, (bid + ask) / 2, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    chain = snapshot.chain_for(contract.expiry) if contract.expiry else None
    if chain is None or contract.strike is None:
        return None
    strikes = chain.strikes.tolist()
    target = float(contract.strike)
    index = next((i for i, k in enumerate(strikes) if math.isclose(k, target, rel_tol=1e-12)),
                 None)
    if index is None:
        return None
    side = chain.calls if contract.right == "call" else chain.puts
    bid_f, ask_f, mid_f = (float(side.bid[index]), float(side.ask[index]),
                           float(side.mid[index]))
    if not all(math.isfinite(x) for x in (bid_f, ask_f, mid_f)):
        return None
    iv = float(side.iv[index])
    if not math.isfinite(iv):
        atm = chain.calls.iv[strikes.index(chain.atm_strike)]
        iv = float(atm) if math.isfinite(atm) else FALLBACK_VOL
    close = float(side.last[index]) - float(side.change[index])   # change = last - close
    return Quote(_on_tick(bid_f, tick, ROUND_FLOOR), _on_tick(ask_f, tick, ROUND_CEILING),
                 _decimal(mid_f), iv, float(side.delta[index]), float(side.gamma[index]),
                 float(side.theta[index]), float(side.vega[index]), chain.time_to_expiry,
                 _decimal(close) if math.isfinite(close) else None)


def _contract(instrument: Instrument) -> ContractRef:
    return ContractRef(instrument.product, instrument.expiry, instrument.strike,
                       instrument.right, instrument.currency)


def _avg(fills: Iterable[tuple[int, Decimal]]) -> Decimal | None:
    units = 0
    total = ZERO
    for quantity, price in fills:
        units += quantity
        total += quantity * price
    return None if units == 0 else (total / units).quantize(AVG_PRICE_PLACES)


class PaperTrading:
    """Paper trading over a store and the live snapshots.

    ``latest(product)`` gives a product's live snapshot (None before its first tick) and
    ``products()`` the products traded; ``now()`` the clock (tests pin it)."""

    def __init__(self, store: SqlTradingStore, latest: Callable[[str], ChainSnapshot | None],
                 products: Callable[[], Sequence[str]], *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 starting_cash: Mapping[str, Decimal] = DEFAULT_STARTING_CASH,
                 touch_lots: int = DEFAULT_TOUCH_LOTS,
                 limits: Mapping[str, Limits] | None = None,
                 india_charges: IndiaCharges | None = None,
                 us_charges: USCharges | None = None) -> None:
        self.store = store
        self.latest = latest
        self.products = products
        self.now = now
        self.starting_cash = dict(starting_cash)
        self.touch_lots = touch_lots
        # Expiry: each product's listing last settled against, and its last snapshot seen.
        self._checked_listing: dict[str, tuple[date, ...]] = {}
        self._last_seen: dict[str, ChainSnapshot] = {}
        self.limits = dict(limits or {})
        # Charges per market (trading.charges' defaults unless configured).
        self.india_charges = india_charges or IndiaCharges()
        self.us_charges = us_charges or USCharges()
        # Per product, the margin of each set of holdings on its latest snapshot: an order's
        # margin check prices the holdings before it, which the previous order of the account
        # priced as its holdings after (module docstring). Replaced when the snapshot changes.
        self._margins: dict[str, tuple[ChainSnapshot,
                                       dict[frozenset[tuple[ContractRef, int]], Decimal]]] = {}

    def charges(self, currency: str, side: Side, quantity: int, price: Decimal) -> Decimal:
        """The charges of one fill in the market of ``currency``, by this service's
        schedules."""
        return fill_charges(currency, side, quantity, price, self.india_charges,
                            self.us_charges).total

    # Contracts and books.

    def _snapshots(self) -> dict[str, ChainSnapshot]:
        return {p: s for p in self.products() if (s := self.latest(p)) is not None}

    def resolve(self, request: OrderRequest) -> Instrument:
        """The instrument the request names, listed in the live snapshots; TradeError
        naming the field otherwise."""
        snapshots = self._snapshots()
        # resolve_* read only the contract terms (symbol, exchange, currency, lot size, tick,
        # strike step), which a snapshot's ContractTerms carries under the same names.
        products = {p: cast(Product, s.terms) for p, s in snapshots.items()}
        listed = {p: list(s.expiry_dates) for p, s in snapshots.items()}
        try:
            if request.symbol:
                return resolve_symbol(str(request.symbol), products, listed)
            if request.product:
                return resolve_fields(str(request.product), request.expiry, request.strike,
                                      request.option_type, products, listed)
        except ContractError as error:
            raise TradeError(error.field, error.message,
                             f"a listed contract of {', '.join(sorted(products))}") from error
        raise TradeError("symbol", "is required (or product with expiry, strike and "
                         "option_type)", "a contract symbol such as NIFTY26DEC24500CE")

    def book(self, snapshot: ChainSnapshot, contract: ContractRef) -> Book | None:
        quote = quote_of(snapshot, contract)
        if quote is None:
            return None
        lot = snapshot.terms.lot_size
        size = self.touch_lots * lot
        return book_from_quote(quote.bid, quote.ask, size, size,
                               Decimal(repr(snapshot.terms.tick_size)), lot)

    # Margin.

    def requirement(self, holdings: Mapping[ContractRef, int], currency: str) -> Decimal:
        """Margin the signed ``holdings`` (units) of one currency block (module docstring)."""
        by_product: dict[str, list[tuple[ContractRef, int]]] = defaultdict(list)
        for contract, quantity in holdings.items():
            if quantity and contract.currency == currency:
                by_product[contract.product].append((contract, quantity))
        total = ZERO
        for product, rows in by_product.items():
            snapshot = self.latest(product)
            if snapshot is None:
                continue
            key = frozenset(rows)
            memo = self._margins.get(product)
            if memo is None or memo[0] is not snapshot:
                memo = self._margins[product] = (snapshot, {})
            if key in memo[1]:
                total += memo[1][key]
                continue
            terms = snapshot.terms
            risk = []
            for contract, quantity in rows:
                quote = quote_of(snapshot, contract)
                if contract.right is None:
                    risk.append(RiskPosition(quantity))
                elif quote is not None:
                    risk.append(RiskPosition(quantity, contract.right,
                                             float(contract.strike or 0), quote.time,
                                             quote.iv, terms.exercise_style == "american"))
            market = Market(snapshot.spot, terms.rate, terms.dividend_yield)
            if currency == "INR":
                margin = india_margin(risk, market, scan_parameters(product, terms.exchange)).total
            else:
                margin = us_margin(risk, market).total
            if len(memo[1]) >= MAX_MEMO_MARGINS:
                memo[1].clear()
            memo[1][key] = margin
            total += margin
        return total

    @staticmethod
    def holdings(fills: Iterable[FillRow]) -> dict[ContractRef, int]:
        out: dict[ContractRef, int] = defaultdict(int)
        for fill in fills:
            out[fill.contract] += fill.signed_quantity
        return dict(out)

    # Orders.

    def _open_account(self, user_id: int) -> None:
        self.store.ensure_account(user_id, self.starting_cash, micros(self.now()))

    def place(self, user_id: int, request: OrderRequest,
              idempotency_key: str | None = None) -> OrderRow:
        """Place an order (module docstring). Raises TradeError (a field), MarketClosed,
        NoQuote or MarginRejected."""
        self._open_account(user_id)
        if idempotency_key is not None:
            existing = self.store.order_by_key(user_id, idempotency_key)
            if existing is not None:
                return existing
        instrument = self.resolve(request)
        try:
            order = make_order(request.side, request.quantity, request.order_type,
                               lot_size=instrument.lot_size, tick_size=instrument.tick_size,
                               price=request.price, stop_price=request.stop_price,
                               time_in_force=request.time_in_force)
        except OrderError as error:
            raise TradeError(error.field, error.message, _accepted(error.field, instrument)
                             ) from error
        snapshot = self.latest(instrument.product)
        if snapshot is None:
            raise NoQuote(instrument.product)
        contract = _contract(instrument)
        closed = snapshot.market_status == MarketStatus.CLOSED
        if closed and not request.after_market:
            raise MarketClosed(instrument.product, snapshot.market_status_until)
        book = None if closed else self.book(snapshot, contract)
        if book is None and not closed:
            raise NoQuote(instrument.product)
        now = micros(self.now())
        symbol = (request.symbol or _symbol(contract, snapshot)).strip()

        def write(ledger: Ledger) -> OrderRow | MarginRejected:
            if idempotency_key is not None:
                existing = ledger.order_by_key(idempotency_key)
                if existing is not None:
                    return existing
            new = NewOrder(user_id, idempotency_key, symbol, contract, order.side.value,
                           order.quantity, order.order_type.value, order.limit_price,
                           order.stop_price, order.time_in_force.value,
                           OrderStatus.PENDING.value, 0, None, bool(closed), None, now)
            if book is None:
                # After-market: queued untouched, checked and matched at the first open tick.
                return ledger.insert_order(new)
            result = match_order(order, book)
            try:
                self._check_limits(ledger, contract, order, result, instrument.lot_size)
                self._check_margin(ledger, contract, order, result)
            except MarginError as error:   # a LimitError too
                # Stored REJECTED (committed), then raised.
                return MarginRejected(ledger.insert_order(
                    replace_status(new, OrderStatus.REJECTED, str(error))), error)
            row = ledger.insert_order(new)
            return self._book_fills(ledger, row, order, result.fills, result.status, now)

        # Answered once committed; on SQLite concurrent orders share a commit.
        outcome = self.store.run_locked(user_id, write)
        if isinstance(outcome, MarginRejected):
            raise outcome
        return outcome

    def _check_margin(self, ledger: Ledger, contract: ContractRef, order: Order,
                      result: MatchResult, filled_before: int = 0) -> None:
        cash = ledger.cash()[contract.currency]
        before = _held(ledger)
        sign = order.side.sign
        cash_change = ZERO
        after = dict(before)
        for fill in result.fills:
            charges = self.charges(contract.currency, order.side, fill.quantity, fill.price)
            cash_change += -sign * fill.quantity * fill.price - charges
            after[contract] = after.get(contract, 0) + sign * fill.quantity
        if result.remaining and order.limit_price is not None:
            # The resting remainder may fill at its limit: cover it now.
            cash_change += -sign * result.remaining * order.limit_price
            after[contract] = after.get(contract, 0) + sign * result.remaining
        check_order_margin(cash, self.requirement(before, contract.currency),
                           self.requirement(after, contract.currency), cash_change)

    def _check_limits(self, ledger: Ledger, contract: ContractRef, order: Order,
                      result: MatchResult, lot_size: int, exclude: int | None = None) -> None:
        """Raise LimitError when the order (its fills and resting remainder) would pass one
        of its market's limits (:mod:`deltastream.trading.limits`); ``exclude``: the order
        being modified, not counted among the other open orders."""
        limits = self.limits.get(contract.currency)
        if limits is None or not limits.any:
            return
        usage = self._usage_of(ledger.account, contract.currency)
        sign = order.side.sign
        price = usage.mark(contract)
        cost = sum((self.charges(contract.currency, order.side, f.quantity, f.price)
                    + sign * f.quantity * (f.price - price) for f in result.fills), ZERO)
        pending = 0
        if limits.max_open_lots:
            pending = sign * ledger.open_units(contract, order.side.value, exclude)
        units = sign * (sum(f.quantity for f in result.fills) + result.remaining)
        check_limits(limits, OrderExposure(
            lot_size, usage.positions.get(contract, Position()).quantity, pending, units,
            price, usage.gross, usage.day_loss, cost, contract.currency))

    def limit_usage(self, user_id: int, currency: str) -> LimitUsage:
        """The figures the market's limits are checked against, now: gross exposure and the
        day's loss (:mod:`deltastream.trading.limits`)."""
        return self._usage_of(AccountFills().plus(self.store.fills(user_id)), currency)

    def _usage_of(self, account: AccountFills, currency: str) -> LimitUsage:
        """The limits' figures of the account's positions in ``currency`` now."""
        now = self.now()
        today = micros(datetime(now.year, now.month, now.day, tzinfo=UTC)) // DAY_US
        positions = {c: p for c, p in account.positions.items() if c.currency == currency}
        marks: dict[ContractRef, Decimal] = {}
        holdings: list[DayHolding] = []
        snapshots = {c.product: self.latest(c.product) for c in positions}
        for c, position in positions.items():
            snapshot = snapshots[c.product]
            quote = None if snapshot is None else quote_of(snapshot, c)
            # Without a quote, a position is marked at its average cost (no P&L).
            marks[c] = quote.mid if quote is not None else position.average_cost
            units_at_start, cost_at_start = account.at_day_start(c, today)
            if position.quantity or units_at_start:
                holdings.append(DayHolding(
                    position.quantity, marks[c], units_at_start,
                    None if quote is None else quote.previous_close, cost_at_start))
        gross = sum((abs(p.quantity) * marks[c] for c, p in positions.items()), ZERO)
        loss = day_loss(account.flow_of_day(currency, today), holdings)
        return LimitUsage(positions, marks, gross, loss, self.latest)

    def _book_fills(self, ledger: Ledger, row: OrderRow, order: Order, fills: Sequence[Fill],
                    status: OrderStatus, now: int) -> OrderRow:
        """Write the fills (each with its charges) and the cash they move, and the order's
        new status, filled units and average price."""
        contract = row.contract
        cash = ledger.cash()[contract.currency]
        earlier = _earlier_fills(ledger, [row])[row.id]
        for fill in fills:
            charges = self.charges(contract.currency, order.side, fill.quantity, fill.price)
            ledger.insert_fill(row, fill.quantity, fill.price, charges, now)
            cash += -order.side.sign * fill.quantity * fill.price - charges
        if fills:
            ledger.set_cash(contract.currency, cash, now)
        done = earlier + [(f.quantity, f.price) for f in fills]
        return ledger.update_order(row, status=status.value,
                                   filled_quantity=sum(q for q, _ in done),
                                   avg_fill_price=_avg(done), at=now)

    def cancel(self, user_id: int, order_id: int) -> OrderRow:
        """Cancel the user's open order; OrderNotFound (also for another user's order) or
        NotCancellable."""
        with self.store.locked(user_id) as ledger:
            row = ledger.order(order_id)
            if row is None:
                raise OrderNotFound(order_id)
            if row.status not in (OrderStatus.PENDING, OrderStatus.PARTIALLY_FILLED):
                raise NotCancellable(row)
            return ledger.update_order(row, status=OrderStatus.CANCELLED.value,
                                       filled_quantity=row.filled_quantity,
                                       avg_fill_price=row.avg_fill_price,
                                       at=micros(self.now()), reason="cancelled by the user")

    def modify(self, user_id: int, order_id: int, request: ModifyRequest,
               idempotency_key: str | None = None) -> OrderRow:
        """Change an open order's quantity, limit price or stop price (module docstring,
        Modifying). Raises OrderNotFound (also for another user's order), NotCancellable
        (the order is no longer open), TradeError (a field), NoQuote, or MarginRejected
        (the modification is refused; the order stays as it was)."""
        with self.store.locked(user_id) as ledger:
            row = ledger.order(order_id)
            if row is None:
                raise OrderNotFound(order_id)
            snapshot = self.latest(row.contract.product)
            if snapshot is None:
                raise NoQuote(row.contract.product)
            lot = snapshot.terms.lot_size
            order = _amended(row, request, lot, Decimal(repr(snapshot.terms.tick_size)))
            if ((order.quantity, order.limit_price, order.stop_price)
                    == (row.quantity, row.limit_price, row.stop_price)
                    and (idempotency_key is not None or row.status in _OPEN)):
                # Nothing to change: a retry whose modification is in place (even if the
                # order has filled since) answers the order as it stands.
                return row
            if row.status not in _OPEN:
                raise NotCancellable(row, "modified")
            if order.quantity < row.filled_quantity:
                raise TradeError("quantity", f"{order.quantity} is below the "
                                 f"{row.filled_quantity} units already filled",
                                 f"a multiple of the lot size {lot} of at least "
                                 f"{max(row.filled_quantity, lot)}")
            remaining = order.quantity - row.filled_quantity
            now = micros(self.now())
            if remaining == 0:
                result = MatchResult((), 0, OrderStatus.FILLED)
            elif row.after_market or snapshot.market_status == MarketStatus.CLOSED:
                # Queued after-market: checked and matched at the first open tick, as placed.
                result = MatchResult((), remaining, OrderStatus(row.status))
            else:
                book = self.book(snapshot, row.contract)
                if book is None:
                    raise NoQuote(row.contract.product)
                result = match_order(order, book, remaining)
                try:
                    self._check_limits(ledger, row.contract, order, result, lot, row.id)
                    self._check_margin(ledger, row.contract, order, result)
                except MarginError as error:
                    raise MarginRejected(row, error) from error
            amended = ledger.amend_order(row, quantity=order.quantity,
                                         limit_price=order.limit_price,
                                         stop_price=order.stop_price, at=now)
            return self._book_fills(ledger, amended, order, result.fills, result.status, now)

    def orders(self, user_id: int, status: str | None = None, limit: int = 100
               ) -> list[OrderRow]:
        return self.store.orders(user_id, status, limit)

    def trades(self, user_id: int, limit: int = 100) -> list[tuple[FillRow, str]]:
        """The user's fills (settlements included), newest first, with their symbols."""
        return self.store.trades(user_id, limit)

    def order(self, user_id: int, order_id: int) -> OrderRow:
        row = self.store.order(user_id, order_id)
        if row is None:
            raise OrderNotFound(order_id)
        return row

    def match_resting(self, snapshots: Mapping[str, ChainSnapshot]) -> list[OrderRow]:
        """Fill every resting order a tick's ``snapshots`` (by product) cross: limits at their
        own price up to the size shown at or through them, shared among the orders of one
        contract and side by price, then time priority; stops when triggered; queued
        after-market orders as new orders once their market is open. A fill the margin no
        longer allows cancels the order with the reason. A closed market's snapshot cancels
        its DAY orders (after-market orders excepted: they wait for the open, and rest until
        filled or cancelled). The orders changed.

        Cost: one query reads the open orders of the snapshots' products (the columns matching
        uses, :meth:`SqlTradingStore.resting_orders`); the plain resting limit orders are
        matched all at once (:func:`match_resting_limits`); only the orders that change are
        written, in transactions holding the locks of the accounts that change
        (:meth:`SqlTradingStore.locked_accounts`), with one margin check per account for all
        of its fills (:meth:`_apply_account`). A transaction takes on accounts until its work
        has lasted :data:`MATCH_LOCK_BUDGET` and commits; the rest go in the next. On SQLite
        that bounds how long order placement waits for the write lock, yet needs few commits
        (each syncs the disk) where one per account would need many."""
        planned: dict[int, list[_Planned]] = defaultdict(list)
        # By the contract object: resting_orders gives equal contracts one object.
        books: dict[int, Book | None] = {}
        ticks = {p: Decimal(repr(s.terms.tick_size)) for p, s in snapshots.items()}
        limits: list[tuple[RestingOrder, Book, Decimal]] = []
        for row in self.store.resting_orders(list(snapshots)):
            snapshot = snapshots.get(row.contract.product)
            if snapshot is None:
                continue
            if snapshot.market_status == MarketStatus.CLOSED:
                if row.time_in_force == TimeInForce.DAY and not row.after_market:
                    planned[row.user_id].append(_Planned(row, None))
                continue
            key = id(row.contract)
            if key not in books:
                books[key] = self.book(snapshot, row.contract)
            book = books[key]
            if book is None:
                continue
            if row.order_type == OrderType.LIMIT and not row.after_market:
                limits.append((row, book, ticks[row.contract.product]))
                continue
            result = match_order(_order_of(row), book, row.quantity - row.filled_quantity)
            if result.fills or result.status != row.status:
                planned[row.user_id].append(_Planned(row, result))
        for row, result in _match_limits(limits):
            planned[row.user_id].append(_Planned(row, result))
        changed: list[OrderRow] = []
        now = micros(self.now())
        if not planned:
            return changed
        # The fills other processes booked since this process last saw each account are read
        # before its lock is taken: the locked pass reads only what lands meanwhile. Accounts
        # whose orders are only cancelled (a DAY order at the close) need no fills.
        self.store.refresh(u for u, plans in planned.items()
                           if any(p.result is not None for p in plans))
        waiting = sorted(planned)
        while waiting:
            if len(waiting) < len(planned):
                sleep(MATCH_LOCK_PAUSE)
            with self.store.locked_accounts(waiting) as ledgers:
                until = monotonic() + MATCH_LOCK_BUDGET
                while True:
                    user_id = waiting.pop(0)
                    changed += self._apply_account(
                        ledgers[user_id], sorted(planned[user_id], key=lambda p: p.row.id), now)
                    if not waiting or monotonic() >= until:
                        break
        return changed

    def _apply_account(self, ledger: Ledger, plans: Sequence[_Planned], now: int
                       ) -> list[OrderRow]:
        """One account's changes from a matching pass, under its lock, in time priority.
        The fills happen at one instant (the tick): when the margin after all of them is
        covered they are booked together (one read of the fills and the cash, one cash
        write per currency); otherwise order by order, each fill the margin no longer allows
        cancelling its order."""
        changed: list[OrderRow] = []
        fills: list[tuple[OrderRow, _Planned]] = []
        for plan in plans:
            row = plan.row
            current = ledger.order(row.id)
            if current is None or (current.status, current.filled_quantity) != (
                    row.status, row.filled_quantity):
                continue   # cancelled, modified or filled meanwhile (another worker)
            if plan.result is None:
                # A DAY order whose session has closed (what filled stays filled).
                changed.append(ledger.update_order(
                    current, status=OrderStatus.CANCELLED.value,
                    filled_quantity=current.filled_quantity,
                    avg_fill_price=current.avg_fill_price, at=now,
                    reason="DAY order: the session closed"))
            elif (current.quantity, current.limit_price, current.stop_price) == (
                    row.quantity, row.limit_price, row.stop_price):
                fills.append((current, plan))
            # else modified since the read: the next pass matches its new terms
        if not fills:
            return changed
        if len(fills) > 1 and self._covered_together(ledger, fills):
            return changed + self._book_together(ledger, fills, now)
        for current, plan in fills:
            changed += self._apply_planned(ledger, current, plan, now)
        return changed

    def _covered_together(self, ledger: Ledger, fills: Sequence[tuple[OrderRow, _Planned]]
                          ) -> bool:
        """Whether the margin covers all these fills at once, in each currency."""
        cash = ledger.cash()
        before = _held(ledger)
        after = dict(before)
        change: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for current, plan in fills:
            assert plan.result is not None
            side = Side(current.side)
            for fill in plan.result.fills:
                change[current.contract.currency] += (
                    -side.sign * fill.quantity * fill.price
                    - self.charges(current.contract.currency, side, fill.quantity, fill.price))
                after[current.contract] = (after.get(current.contract, 0)
                                           + side.sign * fill.quantity)
        try:
            for currency, cash_change in change.items():
                check_order_margin(cash[currency], self.requirement(before, currency),
                                   self.requirement(after, currency), cash_change)
        except MarginError:
            return False
        return True

    def _book_together(self, ledger: Ledger, fills: Sequence[tuple[OrderRow, _Planned]],
                       now: int) -> list[OrderRow]:
        """Write the fills of several orders (margin checked), one cash write per currency."""
        cash = ledger.cash()
        earlier = _earlier_fills(ledger, [current for current, _ in fills])
        out = []
        for current, plan in fills:
            assert plan.result is not None
            side, currency = Side(current.side), current.contract.currency
            for fill in plan.result.fills:
                charges = self.charges(currency, side, fill.quantity, fill.price)
                ledger.insert_fill(current, fill.quantity, fill.price, charges, now)
                cash[currency] += -side.sign * fill.quantity * fill.price - charges
            done = earlier[current.id] + [(f.quantity, f.price) for f in plan.result.fills]
            out.append(ledger.update_order(current, status=plan.result.status.value,
                                           filled_quantity=sum(q for q, _ in done),
                                           avg_fill_price=_avg(done), at=now))
        for currency in {current.contract.currency for current, _ in fills}:
            ledger.set_cash(currency, cash[currency], now)
        return out

    def _apply_planned(self, ledger: Ledger, current: OrderRow, plan: _Planned, now: int
                       ) -> list[OrderRow]:
        """Write one order's fills from a matching pass after its own margin check."""
        row = plan.row
        assert plan.result is not None
        order = _order_of(current)
        result = plan.result
        try:
            self._check_margin(ledger, row.contract, order,
                               MatchResult(result.fills, 0, result.status))
        except MarginError as error:
            return [ledger.update_order(current, status=OrderStatus.CANCELLED.value,
                                        filled_quantity=current.filled_quantity,
                                        avg_fill_price=current.avg_fill_price, at=now,
                                        reason=str(error))]
        return [self._book_fills(ledger, current, order, result.fills, result.status, now)]

    # Expiry (module docstring).

    def settle_expired(self, snapshots: Mapping[str, ChainSnapshot]) -> list[OrderRow]:
        """Settle the positions in the expired contracts of the snapshots' products and cancel
        the open orders on them; the settlement orders written and the orders cancelled. A
        product is looked at again only when its listing changes (and at the first call, so
        after a restart)."""
        changed: list[OrderRow] = []
        for product, snapshot in snapshots.items():
            previous = self._last_seen.get(product)
            if self._checked_listing.get(product) != snapshot.expiry_dates:
                changed += self._settle_product(snapshot, previous)
                self._checked_listing[product] = snapshot.expiry_dates
            self._last_seen[product] = snapshot
        return changed

    def _settle_product(self, snapshot: ChainSnapshot, previous: ChainSnapshot | None
                        ) -> list[OrderRow]:
        product = snapshot.product
        today = snapshot.local_date()
        listed = snapshot.expiry_dates
        positions = self.store.expired_positions(product, today, listed)
        orders = [o for o in self.store.open_orders([product])
                  if o.contract.expiry is not None and o.contract.expiry <= today
                  and o.contract.expiry not in listed]
        if not positions and not orders:
            return []
        prices = {e: self.settlement_price(snapshot, e, previous)
                  for e in {c.expiry for _, c in positions if c.expiry is not None}}
        users = sorted({u for u, _ in positions} | {o.user_id for o in orders})
        changed: list[OrderRow] = []
        now = micros(self.now())
        for user_id in users:
            with self.store.locked(user_id) as ledger:
                for order in (o for o in orders if o.user_id == user_id):
                    current = ledger.order(order.id)
                    if current is not None and current.status in (
                            OrderStatus.PENDING, OrderStatus.PARTIALLY_FILLED):
                        changed.append(ledger.update_order(
                            current, status=OrderStatus.CANCELLED.value,
                            filled_quantity=current.filled_quantity,
                            avg_fill_price=current.avg_fill_price, at=now,
                            reason=f"the contract expired on {current.contract.expiry}"))
                contracts = sorted((c for u, c in positions if u == user_id),
                                   key=lambda c: (c.expiry, c.strike, c.right))
                if not contracts:
                    continue
                fills = ledger.fills()
                held = self.holdings(fills)     # read again under the lock
                for contract in contracts:
                    units = held.get(contract, 0)
                    key = SETTLEMENT_KEY.format(_contract_key(contract))
                    if units == 0 or ledger.order_by_key(key) is not None:
                        continue     # settled meanwhile (another process, an earlier pass)
                    assert contract.expiry is not None
                    changed += self._settle_position(ledger, snapshot, contract, units,
                                                     prices[contract.expiry], fills, now)
        return changed

    def _settle_position(self, ledger: Ledger, snapshot: ChainSnapshot, contract: ContractRef,
                         units: int, price: Decimal, fills: Sequence[FillRow], now: int
                         ) -> list[OrderRow]:
        """Write one position's settlement: an order and a fill per trade, and the cash."""
        terms = snapshot.terms
        instrument = Instrument(contract.product, contract.expiry, contract.strike,
                                contract.right, terms.lot_size,
                                Decimal(repr(terms.tick_size)), contract.currency,
                                terms.exchange)
        option_key = _contract_key(contract)
        last = next((f for f in reversed(fills) if f.contract == contract), None)
        traded = None if last is None else ledger.order(last.order_id)
        symbol = traded.symbol if traded is not None else _symbol(contract, snapshot)
        cash = ledger.cash()[contract.currency]
        rows = []
        trades = settle(instrument, units, price)
        for trade in trades:
            leg = _contract(trade.instrument)
            delivery = trade.kind == "DELIVERY"
            reason = _settlement_reason(trade, trades[0].kind, symbol, price)
            row = ledger.insert_order(NewOrder(
                ledger.user_id, (DELIVERY_KEY if delivery else SETTLEMENT_KEY).format(
                    option_key), contract.product if delivery else symbol, leg,
                trade.side.value, trade.quantity, SETTLEMENT_ORDER_TYPE, None, None,
                TimeInForce.DAY.value, OrderStatus.FILLED.value, trade.quantity, trade.price,
                False, reason, now))
            ledger.insert_fill(row, trade.quantity, trade.price, trade.charges, now)
            cash += -trade.side.sign * trade.quantity * trade.price - trade.charges
            rows.append(row)
        ledger.set_cash(contract.currency, cash, now)
        return rows

    def settlement_price(self, snapshot: ChainSnapshot, expiry: date,
                         previous: ChainSnapshot | None = None) -> Decimal:
        """The underlying's close on ``expiry`` day, to the cent (module docstring)."""
        if snapshot.local_date() == expiry and snapshot.market_status == MarketStatus.CLOSED:
            spot = snapshot.spot
        elif (previous is not None and expiry in previous.expiry_dates
              and previous.local_date() == expiry):
            spot = previous.spot
        else:
            zone = ZoneInfo(snapshot.terms.timezone)
            end = datetime.combine(expiry + timedelta(days=1), time(0), zone) - timedelta(
                microseconds=1)
            found = history.ticks(self.store.db, snapshot.product, end=end, limit=1,
                                  source=snapshot.source)
            if found and found[-1].timestamp.astimezone(zone).date() == expiry:
                spot = found[-1].price
            else:
                log.warning("no close of %s on %s is known: settling at the spot %s",
                            snapshot.product, expiry, snapshot.spot)
                spot = snapshot.spot
        return to_cents(Decimal(repr(spot)))

    def reset(self, user_id: int) -> None:
        """Delete the user's orders and fills; cash back to the starting amounts."""
        self._open_account(user_id)
        with self.store.locked(user_id) as ledger:
            ledger.reset(self.starting_cash, micros(self.now()))

    # Reports.

    def accounts(self, user_id: int) -> dict[str, AccountView]:
        """Each currency's account with its positions marked at the live mids."""
        self._open_account(user_id)
        cash = self.store.cash(user_id)
        fills = self.store.fills(user_id)
        by_contract: dict[ContractRef, list[FillRow]] = defaultdict(list)
        for fill in fills:
            by_contract[fill.contract].append(fill)
        views: dict[str, list[PositionView]] = defaultdict(list)
        for contract, rows in by_contract.items():
            position = Position()
            for fill in rows:
                position = apply_fill(position, fill.signed_quantity, fill.price, fill.charges)
            snapshot = self.latest(contract.product)
            quote = None if snapshot is None else quote_of(snapshot, contract)
            views[contract.currency].append(PositionView(
                contract, _symbol(contract, snapshot), position,
                None if quote is None else quote.mid, quote))
        out = {}
        for currency, starting in self.starting_cash.items():
            positions = views.get(currency, [])
            holdings = {v.contract: v.position.quantity for v in positions}
            out[currency] = AccountView(
                currency, starting, cash.get(currency, starting),
                sum((v.position.realised for v in positions), ZERO),
                sum((v.position.charges for v in positions), ZERO),
                sum((v.unrealised for v in positions), ZERO),
                self.requirement(holdings, currency), positions)
        return out


def _held(ledger: Ledger) -> dict[ContractRef, int]:
    """The ledger's signed units by contract (flat ones included, as :meth:`holdings`)."""
    return {c: p.quantity for c, p in ledger.positions().items()}


def _amended(row: OrderRow, request: ModifyRequest, lot_size: int, tick_size: Decimal
             ) -> Order:
    """The order ``row`` with the request's changes, checked as a new order's terms are."""
    def pick(value: Any, current: Any) -> Any:
        return current if value is UNCHANGED else value

    try:
        return make_order(row.side, pick(request.quantity, row.quantity), row.order_type,
                          lot_size=lot_size, tick_size=tick_size,
                          price=pick(request.price, row.limit_price),
                          stop_price=pick(request.stop_price, row.stop_price),
                          time_in_force=row.time_in_force)
    except OrderError as error:
        accepted = {
            "quantity": f"a positive whole multiple of the lot size {lot_size}",
            "price": f"a positive price on the tick {tick_size} (empty for a MARKET or "
                     "STOP order)",
            "stop_price": f"a positive price on the tick {tick_size} (STOP and STOP_LIMIT "
                          "orders only)",
        }.get(error.field, "see the API contract")
        raise TradeError(error.field, error.message, accepted) from error


def _earlier_fills(ledger: Ledger, rows: Sequence[OrderRow]
                   ) -> defaultdict[int, list[tuple[int, Decimal]]]:
    """(quantity, price) of each order's fills so far, by order id; read only for orders that
    have filled before."""
    earlier: defaultdict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for f in ledger.fills_of_orders(row.id for row in rows if row.filled_quantity):
        earlier[f.order_id].append((f.quantity, f.price))
    return earlier


def _contract_key(c: ContractRef) -> str:
    flag = "C" if c.right == "call" else "P"
    return f"{c.product}:{c.expiry}:{format(c.strike, 'f')}:{flag}"


def _settlement_reason(trade: SettlementTrade, kind: str, symbol: str, close: Decimal
                       ) -> str:
    """The settlement order's reason: its kind first, then the figures it used."""
    option = trade.instrument
    if trade.kind == "DELIVERY":
        return (f"DELIVERY: {trade.side.value} {trade.quantity} {option.product} at the strike "
                f"{trade.price} ({kind} of {symbol})")
    on = f"{option.product} closed at {close} on {option.expiry}"
    if trade.kind == "EXPIRED":
        return f"EXPIRED: worthless, {on}"
    if trade.kind == "CASH_SETTLEMENT":
        return (f"CASH_SETTLEMENT: at the intrinsic value {trade.price}, {on}"
                + (f"; STT {trade.charges}" if trade.charges else ""))
    return f"{trade.kind}: at the strike {option.strike}, {on}"


@dataclass(frozen=True)
class _Planned:
    """An order a matching pass changes: ``result`` its match (None: a DAY order to cancel
    at the close)."""

    row: RestingOrder
    result: MatchResult | None


def _order_of(row: OrderRow | RestingOrder) -> Order:
    return Order(Side(row.side), row.quantity, OrderType(row.order_type), row.limit_price,
                 row.stop_price, TimeInForce(row.time_in_force))


def _ticks(price: Decimal, tick: Decimal, rounding: str) -> int:
    return int((price / tick).to_integral_value(rounding))


def _match_limits(limits: Sequence[tuple[RestingOrder, Book, Decimal]]
                  ) -> list[tuple[RestingOrder, MatchResult]]:
    """Resting limit orders (time priority: id order) against their contracts' books and
    ticks, all at once (:func:`match_resting_limits`); those that fill, each at its limit.
    Prices become whole ticks rounded against the order (a buy limit down, a sell limit up;
    asks up, bids down), so an off-tick price never fills an order beyond its limit."""
    if not limits:
        return []
    index: dict[int, int] = {}
    books: list[tuple[Book, Decimal]] = []
    contract = np.empty(len(limits), dtype=np.int64)
    is_buy = np.empty(len(limits), dtype=np.bool_)
    limit_ticks = np.empty(len(limits), dtype=np.int64)
    remaining = np.empty(len(limits), dtype=np.int64)
    in_ticks: dict[tuple[int, int, bool], int] = {}
    for i, (row, book, tick) in enumerate(limits):
        contract[i] = index.setdefault(id(book), len(books))
        if contract[i] == len(books):
            books.append((book, tick))
        buy = row.side == Side.BUY
        is_buy[i] = buy
        assert row.limit_price is not None   # a LIMIT order has one (make_order's rule)
        # Orders share their price objects (resting_orders): one division per price.
        key = (id(row.limit_price), id(tick), buy)
        if key not in in_ticks:
            in_ticks[key] = _ticks(row.limit_price, tick, ROUND_FLOOR if buy else ROUND_CEILING)
        limit_ticks[i] = in_ticks[key]
        remaining[i] = row.quantity - row.filled_quantity
    depth = max(max(len(b.bids), len(b.asks)) for b, _ in books)
    shape = (len(books), depth)
    bid_ticks, bid_sizes = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    ask_ticks, ask_sizes = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    for c, (book, tick) in enumerate(books):
        for k, level in enumerate(book.bids):
            bid_ticks[c, k] = _ticks(level.price, tick, ROUND_FLOOR)
            bid_sizes[c, k] = level.quantity
        for k, level in enumerate(book.asks):
            ask_ticks[c, k] = _ticks(level.price, tick, ROUND_CEILING)
            ask_sizes[c, k] = level.quantity
    filled = match_resting_limits(contract, is_buy, limit_ticks, remaining, bid_ticks,
                                  bid_sizes, ask_ticks, ask_sizes)
    out = []
    for i in np.flatnonzero(filled).tolist():
        row = limits[i][0]
        take = int(filled[i])
        assert row.limit_price is not None
        done = row.filled_quantity + take
        status = OrderStatus.FILLED if done == row.quantity else OrderStatus.PARTIALLY_FILLED
        out.append((row, MatchResult((Fill(take, row.limit_price),),
                                     row.quantity - done, status)))
    return out


def replace_status(order: NewOrder, status: OrderStatus, reason: str) -> NewOrder:
    return replace(order, status=status.value, reason=reason)


def _symbol(contract: ContractRef, snapshot: ChainSnapshot | None) -> str:
    """The contract's exchange symbol (NSE trading symbol or OCC; the product for the
    underlying)."""
    if contract.right is None or contract.expiry is None or contract.strike is None:
        return contract.product
    exchange = snapshot.terms.exchange if snapshot is not None else ""
    monthly = False
    if snapshot is not None and contract.expiry in snapshot.expiry_dates:
        monthly = monthly_flags(snapshot.expiry_dates)[
            snapshot.expiry_dates.index(contract.expiry)]
    try:
        return contract_symbol(exchange, contract.product, contract.expiry, contract.strike,
                               contract.right, monthly)
    except ValueError:
        return (f"{contract.product}{contract.expiry:%Y%m%d}"
                f"{'C' if contract.right == 'call' else 'P'}{format(contract.strike, 'f')}")


def _accepted(field_name: str, instrument: Instrument) -> str:
    return {
        "quantity": f"a positive whole multiple of the lot size {instrument.lot_size}",
        "price": f"a positive price on the tick {instrument.tick_size} "
                 "(empty for a MARKET order)",
        "stop_price": f"a positive price on the tick {instrument.tick_size}",
        "side": "BUY or SELL",
        "order_type": "MARKET, LIMIT, STOP or STOP_LIMIT",
        "time_in_force": "DAY or IOC",
    }.get(field_name, "see the API contract")


@dataclass(frozen=True)
class Realisation:
    """What one fill did to P&L: ``realised`` gross (by average cost), ``charges`` paid, at
    ``at`` (epoch microseconds)."""

    at: int
    currency: str
    realised: Decimal
    charges: Decimal

    @property
    def net(self) -> Decimal:
        return self.realised - self.charges


def realisations(fills: Iterable[FillRow]) -> list[Realisation]:
    """Per fill (in id order), the realised P&L and charges it booked."""
    positions: dict[ContractRef, Position] = {}
    out = []
    for fill in fills:
        before = positions.get(fill.contract, Position())
        after = apply_fill(before, fill.signed_quantity, fill.price, fill.charges)
        positions[fill.contract] = after
        out.append(Realisation(fill.filled_at, fill.contract.currency,
                               after.realised - before.realised, fill.charges))
    return out
