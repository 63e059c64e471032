"""The paper-trading tables' reads and writes (cash per account and currency, orders, fills) on
SQLite and PostgreSQL; the rules (validation, matching, charges, margin) are
:mod:`deltastream.trading`'s and the flow :mod:`deltastream.papertrade`'s.

Units: money and prices exact ``Decimal`` (stored as their decimal text), quantities ``int``
units of the underlying, times integer microseconds since the Unix epoch, UTC.

Positions are not stored: they are the replay of a user's fills in id order (each fill's
signed quantity, price and charges; :func:`deltastream.trading.positions.replay`), so a
position can never disagree with the trades that made it.

Serialisation: every change of a user's cash, orders or fills runs inside
:meth:`SqlTradingStore.locked`, a transaction that first locks that user's account rows
(``SELECT ... FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE``, the database's write lock, on
SQLite). Two concurrent orders of one user therefore run one after the other, and the second
sees the cash and positions the first left: together they cannot exceed the margin.

Fills cached per process (:class:`AccountFills`): a store remembers what each account's fills
add up to as its last committed transaction left them (each contract's position, the latest
day's cash and units, how many fills and the newest one; not the fills themselves), so an order
reads only what changed since. Under the account lock a :class:`Ledger` checks the memory
against the database with one query (the user's fills from the newest remembered one on, and
their count): the newest remembered fill still stored unchanged and the count the remembered
ones plus the newer ones, the newer ones are added; anything else (a reset, another process's
changes the count does not explain) reads the fills again in full. A ledger's own writes update
its copy, which the store keeps only once the transaction committed: what is remembered was
always stored. :meth:`SqlTradingStore.refresh` reads, before a lock is taken, what other
processes added since (the matching pass does so for the accounts it is about to fill), so the
read under the lock, which holds SQLite's one write lock, is short.

Events (the outbox): every write of an order or a fill through a :class:`Ledger` also writes a
``paper_events`` row in the same transaction (under group commit on SQLite queued, and written
together, in order, at the end of the ledger's work): ``order`` (the order after the change),
``fill`` (the fill and its order's symbol) and ``position`` (the contract's position after the
fill, replayed from the fills); a reset writes the flat positions. So an event exists exactly when
its change committed, whichever process made it. Payloads are JSON objects of the stored
values (money as decimal strings, dates ISO); :func:`order_of_event`,
:func:`fill_of_event` and :func:`position_of_event` read them back.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import exc

from ..trading.positions import Position, apply_fill
from .database import write_transaction
from .group_commit import GroupCommit
from .schema import paper_accounts, paper_events, paper_fills, paper_orders

T = TypeVar("T")

OPEN_STATUSES = ("PENDING", "PARTIALLY_FILLED")


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


@dataclass(frozen=True)
class ContractRef:
    """A contract as stored: ``right`` "call" | "put", all three None for the underlying."""

    product: str
    expiry: date | None
    strike: Decimal | None
    right: str | None
    currency: str


class RestingOrder(NamedTuple):
    """An open order as a matching pass reads it (:meth:`SqlTradingStore.resting_orders`):
    the fields of :class:`OrderRow` that matching uses."""

    id: int
    user_id: int
    contract: ContractRef
    side: str
    quantity: int
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str
    status: str
    filled_quantity: int
    after_market: bool


@dataclass(frozen=True)
class NewOrder:
    """An order to insert (its id comes from the database)."""

    user_id: int
    idempotency_key: str | None
    symbol: str
    contract: ContractRef
    side: str
    quantity: int
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str
    status: str
    filled_quantity: int
    avg_fill_price: Decimal | None
    after_market: bool
    reason: str | None
    placed_at: int


@dataclass(frozen=True)
class OrderRow(NewOrder):
    """An order as stored: the fields it was placed with (as they stand now), its id and
    when it last changed (epoch µs)."""

    id: int
    updated_at: int


@dataclass(frozen=True)
class FillRow:
    id: int
    order_id: int
    user_id: int
    contract: ContractRef
    side: str
    quantity: int          # units, positive; ``side`` gives the sign
    price: Decimal
    charges: Decimal
    filled_at: int

    @property
    def signed_quantity(self) -> int:
        return self.quantity if self.side == "BUY" else -self.quantity


@dataclass(frozen=True)
class AccountFills:
    """What a user's fills in id order add up to: ``positions`` each contract's position
    (every fill of it replayed); ``count`` fills so far, the newest ``newest`` (what a later
    read is checked against); and the fills of the UTC day ``day`` (days since the epoch,
    :data:`DAY_US`; the newest fill's): ``day_flow`` the cash they moved by currency
    (-signed units x price - charges), ``day_units`` the signed units by contract and
    ``day_start_cost`` each open position's cost when that day's first fill came. The
    fills themselves are not kept: the size is the contracts', not the history's.
    Immutable: a change makes a new one (:meth:`plus`)."""

    count: int = 0
    newest: FillRow | None = None
    positions: Mapping[ContractRef, Position] = field(default_factory=dict)
    day: int = 0
    day_flow: Mapping[str, Decimal] = field(default_factory=dict)
    day_units: Mapping[ContractRef, int] = field(default_factory=dict)
    day_start_cost: Mapping[ContractRef, Decimal] = field(default_factory=dict)

    def plus(self, new: Iterable[FillRow]) -> AccountFills:
        """These fills and ``new`` ones after them."""
        added = tuple(new)
        if not added:
            return self
        positions = dict(self.positions)
        day, flow, units = self.day, dict(self.day_flow), dict(self.day_units)
        start_cost = self.day_start_cost
        for fill in added:
            contract = fill.contract
            fill_day = fill.filled_at // DAY_US
            if fill_day > day:
                day, flow, units = fill_day, {}, {}
                start_cost = {c: p.cost for c, p in positions.items() if p.quantity}
            if fill_day == day:     # (not an earlier day's committed after a later one's)
                flow[contract.currency] = (flow.get(contract.currency, _ZERO)
                                           - fill.signed_quantity * fill.price - fill.charges)
                units[contract] = units.get(contract, 0) + fill.signed_quantity
            positions[contract] = apply_fill(positions.get(contract, _FLAT),
                                             fill.signed_quantity, fill.price, fill.charges)
        return AccountFills(self.count + len(added), added[-1], positions, day, flow, units,
                            start_cost)

    def at_day_start(self, contract: ContractRef, today: int) -> tuple[int, Decimal]:
        """The units of ``contract`` held when UTC day ``today`` began, and their cost."""
        held = self.positions.get(contract, _FLAT)
        if self.day != today:
            return held.quantity, held.cost
        return (held.quantity - self.day_units.get(contract, 0),
                self.day_start_cost.get(contract, _ZERO))

    def flow_of_day(self, currency: str, today: int) -> Decimal:
        """The cash the fills of UTC day ``today`` moved in ``currency``, charges included."""
        return self.day_flow.get(currency, _ZERO) if self.day == today else _ZERO


_FLAT = Position()
_ZERO = Decimal(0)
# Microseconds in a day: fill times (epoch µs, UTC) // DAY_US is the UTC day.
DAY_US = 86_400_000_000
# Accounts whose fills a store remembers at most (module docstring); forgotten all at once.
MAX_CACHED_ACCOUNTS = 4096


def _contract_values(c: ContractRef) -> dict[str, Any]:
    return {"product": c.product, "expiry": c.expiry, "strike": _text(c.strike),
            "right": c.right, "currency": c.currency}


def _contract(m: sa.RowMapping) -> ContractRef:
    return ContractRef(m["product"], m["expiry"], _money(m["strike"]), m["right"], m["currency"])


def _order(row: sa.Row[Any]) -> OrderRow:
    m = row._mapping
    return OrderRow(
        id=int(m["id"]), user_id=int(m["user_id"]), idempotency_key=m["idempotency_key"],
        symbol=m["symbol"], contract=_contract(m), side=m["side"], quantity=int(m["quantity"]),
        order_type=m["order_type"], limit_price=_money(m["limit_price"]),
        stop_price=_money(m["stop_price"]), time_in_force=m["time_in_force"],
        status=m["status"], filled_quantity=int(m["filled_quantity"]),
        avg_fill_price=_money(m["avg_fill_price"]), after_market=bool(m["after_market"]),
        reason=m["reason"], placed_at=int(m["placed_at"]), updated_at=int(m["updated_at"]))


def _fill(row: sa.Row[Any]) -> FillRow:
    m = row._mapping
    return FillRow(int(m["id"]), int(m["order_id"]), int(m["user_id"]), _contract(m),
                   m["side"], int(m["quantity"]), Decimal(m["price"]), Decimal(m["charges"]),
                   int(m["filled_at"]))


ORDER_EVENT, FILL_EVENT, POSITION_EVENT = "order", "fill", "position"
EVENT_KINDS = (ORDER_EVENT, FILL_EVENT, POSITION_EVENT)


@dataclass(frozen=True)
class PaperEvent:
    """A row of the outbox: ``payload`` as decoded JSON (read it with :func:`order_of_event`,
    :func:`fill_of_event` or :func:`position_of_event` by ``kind``); ``at`` epoch µs."""

    id: int
    user_id: int
    kind: str
    payload: dict[str, Any]
    at: int


def _contract_payload(c: ContractRef) -> dict[str, Any]:
    return {"product": c.product, "expiry": None if c.expiry is None else c.expiry.isoformat(),
            "strike": _text(c.strike), "right": c.right, "currency": c.currency}


def _contract_of(p: Mapping[str, Any]) -> ContractRef:
    return ContractRef(p["product"], None if p["expiry"] is None else date.fromisoformat(
        p["expiry"]), _money(p["strike"]), p["right"], p["currency"])


def _order_payload(order: OrderRow) -> dict[str, Any]:
    values = {k: v for k, v in order.__dict__.items() if k != "contract"}
    values.update(_contract_payload(order.contract), limit_price=_text(order.limit_price),
                  stop_price=_text(order.stop_price),
                  avg_fill_price=_text(order.avg_fill_price))
    return values


def order_of_event(payload: Mapping[str, Any]) -> OrderRow:
    """The order an ``order`` event carries (as it was after the change)."""
    p = payload
    return OrderRow(
        id=int(p["id"]), user_id=int(p["user_id"]), idempotency_key=p["idempotency_key"],
        symbol=p["symbol"], contract=_contract_of(p), side=p["side"],
        quantity=int(p["quantity"]), order_type=p["order_type"],
        limit_price=_money(p["limit_price"]), stop_price=_money(p["stop_price"]),
        time_in_force=p["time_in_force"], status=p["status"],
        filled_quantity=int(p["filled_quantity"]), avg_fill_price=_money(p["avg_fill_price"]),
        after_market=bool(p["after_market"]), reason=p["reason"],
        placed_at=int(p["placed_at"]), updated_at=int(p["updated_at"]))


def fill_of_event(payload: Mapping[str, Any]) -> tuple[FillRow, str]:
    """The fill a ``fill`` event carries and its order's symbol."""
    p = payload
    return (FillRow(int(p["id"]), int(p["order_id"]), int(p["user_id"]), _contract_of(p),
                    p["side"], int(p["quantity"]), Decimal(p["price"]), Decimal(p["charges"]),
                    int(p["filled_at"])), p["symbol"])


def position_of_event(payload: Mapping[str, Any]) -> tuple[ContractRef, Position]:
    """The contract and its whole position (every fill of it replayed) a ``position`` event
    carries."""
    p = payload
    return _contract_of(p), Position(int(p["quantity"]), Decimal(p["cost"]),
                                     Decimal(p["realised"]), Decimal(p["charges"]))


def _position_payload(contract: ContractRef, position: Position) -> dict[str, Any]:
    return {**_contract_payload(contract), "quantity": position.quantity,
            "cost": _text(position.cost), "realised": _text(position.realised),
            "charges": _text(position.charges)}


def _state(order: OrderRow) -> tuple[Any, ...]:
    """What a client sees change in an order (besides its update time)."""
    return (order.status, order.filled_quantity, order.avg_fill_price, order.reason,
            order.quantity, order.limit_price, order.stop_price)


def _same_contract(table: sa.Table, c: ContractRef) -> list[sa.ColumnElement[bool]]:
    def equal(column: sa.Column[Any], value: Any) -> sa.ColumnElement[bool]:
        return column.is_(None) if value is None else column == value
    values = _contract_values(c)
    return [equal(table.c[name], values[name]) for name in values]


# The writes of an order's placement, built once and given their values when run: building a
# statement with .values() costs more CPU than SQLite takes to run it.
_INSERT_ORDER = sa.insert(paper_orders).returning(paper_orders.c.id)
_INSERT_FILL = sa.insert(paper_fills).returning(paper_fills.c.id)
_INSERT_EVENT = sa.insert(paper_events)
_UPDATE_ORDER = sa.update(paper_orders).where(paper_orders.c.id == sa.bindparam("the_order"))
_SET_CASH = sa.update(paper_accounts).where(paper_accounts.c.user_id == sa.bindparam("the_user"),
                                            paper_accounts.c.currency
                                            == sa.bindparam("the_currency"))


_CASH = sa.select(paper_accounts.c.currency, paper_accounts.c.cash).where(
    paper_accounts.c.user_id == sa.bindparam("the_user"))
_FILLS = (sa.select(paper_fills).where(paper_fills.c.user_id == sa.bindparam("the_user"))
          .order_by(paper_fills.c.id))
# The fills from a given one on, each row with the count of all the user's fills.
_FILLS_FROM = (sa.select(paper_fills, sa.select(sa.func.count()).select_from(paper_fills)
                         .where(paper_fills.c.user_id == sa.bindparam("the_user"))
                         .scalar_subquery().label("fills_count"))
               .where(paper_fills.c.user_id == sa.bindparam("the_user"),
                      paper_fills.c.id >= sa.bindparam("the_id"))
               .order_by(paper_fills.c.id))


_O = paper_orders
# Units still to fill of a user's open orders on one contract and side, but for one order.
_OPEN_UNITS = (sa.select(sa.func.coalesce(sa.func.sum(_O.c.quantity - _O.c.filled_quantity), 0))
               .where(_O.c.user_id == sa.bindparam("the_user"),
                      _O.c.status.in_(OPEN_STATUSES), _O.c.side == sa.bindparam("the_side"),
                      _O.c.id != sa.bindparam("the_order"),
                      *(_O.c[name].is_not_distinct_from(sa.bindparam(f"the_{name}"))
                        for name in ("product", "expiry", "strike", "right", "currency"))))


class Ledger:
    """One user's account inside a locked transaction (from :meth:`SqlTradingStore.locked`):
    reads see every change made before the lock was taken."""

    def __init__(self, conn: sa.Connection, user_id: int,
                 remembered: AccountFills | None = None, *, batch_events: bool = False
                 ) -> None:
        self.conn = conn
        self.user_id = user_id
        # What the store remembers of the user's fills (module docstring), checked at first use.
        self._remembered = remembered
        # The user's fills in id order, read once per transaction: the lock keeps every other
        # writer out, and this ledger's own writes keep it current.
        self._account: AccountFills | None = None
        # The user's cash by currency, read once per transaction and kept current the same way.
        self._cash: dict[str, Decimal] | None = None
        # Outbox rows of this ledger's changes, in order, written together by :meth:`flush`
        # when ``batch_events`` (group commit on SQLite, whose one writer commits ids in
        # order), else each at once: on PostgreSQL an id is taken at the insert, and the outbox
        # tail relies on a transaction's rows taking theirs as its changes happen.
        self._events: list[dict[str, Any]] = []
        self._batch_events = batch_events

    @property
    def account(self) -> AccountFills:
        """The user's fills as this transaction sees them, and their positions."""
        if self._account is None:
            self._account = _fills_since(self.conn, self.user_id, self._remembered)
        return self._account

    def positions(self) -> Mapping[ContractRef, Position]:
        """Each contract's position (flat ones included), from every fill so far."""
        return self.account.positions

    def _event(self, kind: str, payload: Mapping[str, Any], at: int) -> None:
        """Queue an outbox row for this transaction (module docstring; :meth:`flush`)."""
        self._events.append({"user_id": self.user_id, "kind": kind,
                             "payload": orjson.dumps(payload).decode(), "at": at})
        if not self._batch_events:
            self.flush()

    def flush(self) -> None:
        """Write the queued outbox rows, in the order of their changes, with one statement;
        the store does it before the transaction commits."""
        if self._events:
            self.conn.execute(_INSERT_EVENT, self._events)
            self._events = []

    def position(self, contract: ContractRef) -> Position:
        """The user's position in ``contract``: the replay of its fills in id order."""
        return self.account.positions.get(contract, _FLAT)

    def cash(self) -> dict[str, Decimal]:
        if self._cash is None:
            rows = self.conn.execute(_CASH, {"the_user": self.user_id}).all()
            self._cash = {currency: Decimal(cash) for currency, cash in rows}
        return dict(self._cash)

    def set_cash(self, currency: str, cash: Decimal, at: int) -> None:
        self.conn.execute(_SET_CASH, {"the_user": self.user_id, "the_currency": currency,
                                      "cash": _text(cash), "updated_at": at})
        if self._cash is not None:
            self._cash[currency] = cash

    def fills(self) -> list[FillRow]:
        """The user's fills in id order, as this transaction sees them (read in full)."""
        return _fills_of(self.conn, self.user_id)

    def fills_of_orders(self, order_ids: Iterable[int]) -> list[FillRow]:
        """The fills of these orders of the user's, in id order."""
        ids = sorted(set(order_ids))
        if not ids:
            return []
        rows = self.conn.execute(sa.select(paper_fills).where(
            paper_fills.c.user_id == self.user_id, paper_fills.c.order_id.in_(ids))
            .order_by(paper_fills.c.id)).all()
        return [_fill(row) for row in rows]

    def open_units(self, contract: ContractRef, side: str, exclude: int | None = None) -> int:
        """Units still to fill of the user's open orders on ``contract`` and ``side``
        (``exclude``: an order not counted)."""
        values = {f"the_{k}": v for k, v in _contract_values(contract).items()}
        return int(self.conn.scalar(_OPEN_UNITS, {
            "the_user": self.user_id, "the_side": side, "the_order": exclude or 0,
            **values}) or 0)

    def order_by_key(self, key: str) -> OrderRow | None:
        row = self.conn.execute(sa.select(paper_orders).where(
            paper_orders.c.user_id == self.user_id,
            paper_orders.c.idempotency_key == key)).first()
        return None if row is None else _order(row)

    def order(self, order_id: int) -> OrderRow | None:
        row = self.conn.execute(sa.select(paper_orders).where(
            paper_orders.c.user_id == self.user_id, paper_orders.c.id == order_id)).first()
        return None if row is None else _order(row)

    def open_orders(self) -> list[OrderRow]:
        """The user's open orders (PENDING or PARTIALLY_FILLED), oldest first."""
        rows = self.conn.execute(sa.select(paper_orders).where(
            paper_orders.c.user_id == self.user_id,
            paper_orders.c.status.in_(OPEN_STATUSES)).order_by(paper_orders.c.id)).all()
        return [_order(row) for row in rows]

    def insert_order(self, order: NewOrder) -> OrderRow:
        values = {k: v for k, v in order.__dict__.items() if k != "contract"}
        values.update(_contract_values(order.contract), limit_price=_text(order.limit_price),
                      stop_price=_text(order.stop_price),
                      avg_fill_price=_text(order.avg_fill_price), updated_at=order.placed_at)
        order_id = self.conn.execute(_INSERT_ORDER, values).scalar_one()
        row = OrderRow(id=int(order_id), updated_at=order.placed_at, **order.__dict__)
        self._event(ORDER_EVENT, _order_payload(row), row.updated_at)
        return row

    def update_order(self, order: OrderRow, *, status: str, filled_quantity: int,
                     avg_fill_price: Decimal | None, at: int, reason: str | None = None
                     ) -> OrderRow:
        self.conn.execute(_UPDATE_ORDER, {
            "the_order": order.id, "status": status, "filled_quantity": filled_quantity,
            "avg_fill_price": _text(avg_fill_price), "updated_at": at,
            "reason": reason if reason is not None else order.reason})
        row = replace(order, status=status, filled_quantity=filled_quantity,
                      avg_fill_price=avg_fill_price, updated_at=at,
                      reason=reason if reason is not None else order.reason)
        if _state(row) != _state(order):    # a resting order re-stated unchanged is no news
            self._event(ORDER_EVENT, _order_payload(row), at)
        return row

    def amend_order(self, order: OrderRow, *, quantity: int, limit_price: Decimal | None,
                    stop_price: Decimal | None, at: int) -> OrderRow:
        """Change an open order's terms (a client's modification); status and fills are
        :meth:`update_order`'s."""
        self.conn.execute(sa.update(paper_orders).where(paper_orders.c.id == order.id).values(
            quantity=quantity, limit_price=_text(limit_price), stop_price=_text(stop_price),
            updated_at=at))
        row = replace(order, quantity=quantity, limit_price=limit_price,
                      stop_price=stop_price, updated_at=at)
        self._event(ORDER_EVENT, _order_payload(row), at)
        return row

    def insert_fill(self, order: OrderRow, quantity: int, price: Decimal, charges: Decimal,
                    at: int) -> FillRow:
        account = self.account     # read before the insert, which it must not count twice
        fill_id = self.conn.execute(_INSERT_FILL, {
            "order_id": order.id, "user_id": self.user_id, **_contract_values(order.contract),
            "side": order.side, "quantity": quantity, "price": _text(price),
            "charges": _text(charges), "filled_at": at}).scalar_one()
        fill = FillRow(int(fill_id), order.id, self.user_id, order.contract, order.side,
                       quantity, price, charges, at)
        self._account = account.plus((fill,))
        self._event(FILL_EVENT, {**_contract_payload(fill.contract), "id": fill.id,
                                 "order_id": fill.order_id, "user_id": fill.user_id,
                                 "symbol": order.symbol, "side": fill.side,
                                 "quantity": fill.quantity, "price": _text(fill.price),
                                 "charges": _text(fill.charges), "filled_at": fill.filled_at},
                    at)
        self._event(POSITION_EVENT,
                    _position_payload(fill.contract, self.position(fill.contract)), at)
        return fill

    def reset(self, starting_cash: Mapping[str, Decimal], at: int) -> None:
        """Delete the user's orders and fills and put the cash back to ``starting_cash``;
        every contract the user held gets a flat ``position`` event."""
        held = set(self.account.positions)     # every contract the user has traded
        self.conn.execute(sa.delete(paper_fills).where(paper_fills.c.user_id == self.user_id))
        self.conn.execute(sa.delete(paper_orders).where(paper_orders.c.user_id == self.user_id))
        self._account = AccountFills()
        for currency, cash in starting_cash.items():
            self.set_cash(currency, cash, at)
        for contract in sorted(held, key=repr):
            self._event(POSITION_EVENT, _position_payload(contract, Position()), at)


def _fills_of(conn: sa.Connection, user_id: int) -> list[FillRow]:
    rows = conn.execute(_FILLS, {"the_user": user_id}).all()
    return [_fill(row) for row in rows]


def _fills_since(conn: sa.Connection, user_id: int, remembered: AccountFills | None
                 ) -> AccountFills:
    """The user's fills now: ``remembered`` and the newer ones when the database still holds
    exactly those (module docstring), else all of them read again."""
    if remembered is not None and remembered.newest is not None:
        newest = remembered.newest
        rows = conn.execute(_FILLS_FROM, {"the_user": user_id, "the_id": newest.id}).all()
        if rows and rows[0]._mapping["fills_count"] == remembered.count + len(rows) - 1:
            found = [_fill(row) for row in rows]
            if found[0] == newest:
                return remembered.plus(found[1:])
    return AccountFills().plus(_fills_of(conn, user_id))


class SqlTradingStore:
    """Paper-trading rows in the store's database (opened and migrated by
    :func:`deltastream.store.database.open_database`)."""

    def __init__(self, db_engine: sa.Engine) -> None:
        self.db = db_engine
        # SQLite has one write lock per database: this process's writers queue on a lock of
        # their own (FIFO-ish, no waiting in SQLite's busy handler, which sleeps up to 100 ms
        # between retries) and only contend in SQLite with other processes. A plain
        # threading lock: under gevent's monkey-patching it is the cooperative one.
        self._process_lock = threading.Lock() if db_engine.dialect.name == "sqlite" else None
        # (user, currency) accounts this store saw exist: each order's placement opens the
        # accounts first, and this spares it the read.
        self._opened: set[tuple[int, str]] = set()
        # SQLite: :meth:`run_locked`'s units of this process commit in batches.
        self.group = (None if self._process_lock is None
                      else GroupCommit(db_engine, self._process_lock))
        # Each account's fills as its last committed transaction here left them (module
        # docstring).
        self._remembered: dict[int, AccountFills] = {}

    def _ledger(self, conn: sa.Connection, user_id: int, *, batch_events: bool = False
                ) -> Ledger:
        return Ledger(conn, user_id, self._remembered.get(user_id), batch_events=batch_events)

    def _committed(self, ledger: Ledger) -> None:
        """Remember the fills of a ledger whose transaction committed."""
        if ledger._account is not None:
            self._remember(ledger.user_id, ledger._account)

    def _remember(self, user_id: int, account: AccountFills) -> None:
        if len(self._remembered) >= MAX_CACHED_ACCOUNTS and user_id not in self._remembered:
            self._remembered.clear()
        self._remembered[user_id] = account

    def refresh(self, user_ids: Iterable[int]) -> None:
        """Read what the users' remembered fills lack, outside any lock: a locked
        transaction that follows then reads only the fills committed after this (module
        docstring), which keeps the write lock it holds short. Each user's read is a
        transaction of its own, so no writer's commit waits for all of them. What is
        remembered is always a committed state of the user's fills, which the locked read
        checks as it checks any other."""
        with self.db.connect() as conn:
            for user_id in user_ids:
                self._remember(user_id, _fills_since(conn, user_id,
                                                     self._remembered.get(user_id)))
                conn.rollback()     # ends the read (SQLite: its shared lock)

    def ensure_account(self, user_id: int, starting_cash: Mapping[str, Decimal],
                       at: int) -> None:
        """Open the user's cash accounts that do not exist yet with ``starting_cash`` (one
        per currency); existing ones are left as they are."""
        if all((user_id, c) in self._opened for c in starting_cash):
            return      # no read: accounts are never deleted but with their user
        with self.db.connect() as conn:
            have = set(conn.execute(sa.select(paper_accounts.c.currency)
                                    .where(paper_accounts.c.user_id == user_id)).scalars())
        missing = [c for c in starting_cash if c not in have]
        for currency in missing:
            try:
                with self.db.begin() as conn:
                    conn.execute(sa.insert(paper_accounts).values(
                        user_id=user_id, currency=currency,
                        cash=_text(starting_cash[currency]), updated_at=at))
            except exc.IntegrityError:
                pass   # a concurrent request opened it first: the same starting cash
        self._opened.update((user_id, c) for c in starting_cash)

    @contextlib.contextmanager
    def locked(self, user_id: int) -> Iterator[Ledger]:
        """A transaction holding the user's account lock (module docstring); it commits when
        the block ends and rolls back when it raises."""
        with self._process_lock or contextlib.nullcontext():
            with write_transaction(self.db) as conn:
                if self.db.dialect.name == "postgresql":
                    conn.execute(sa.select(paper_accounts.c.currency)
                                 .where(paper_accounts.c.user_id == user_id)
                                 .with_for_update()).all()
                ledger = self._ledger(conn, user_id)
                yield ledger
                ledger.flush()
            self._committed(ledger)

    @contextlib.contextmanager
    def locked_accounts(self, user_ids: Iterable[int]) -> Iterator[dict[int, Ledger]]:
        """One transaction holding the account locks of ``user_ids`` (as :meth:`locked`; on
        PostgreSQL taken in id order, so two such transactions cannot deadlock), a ledger per
        user; it commits when the block ends and rolls back when it raises."""
        users = sorted(set(user_ids))
        with self._process_lock or contextlib.nullcontext():
            with write_transaction(self.db) as conn:
                if self.db.dialect.name == "postgresql":
                    conn.execute(sa.select(paper_accounts.c.user_id)
                                 .where(paper_accounts.c.user_id.in_(users))
                                 .order_by(paper_accounts.c.user_id, paper_accounts.c.currency)
                                 .with_for_update()).all()
                ledgers = {user_id: self._ledger(conn, user_id) for user_id in users}
                yield ledgers
                for ledger in ledgers.values():
                    ledger.flush()
            for ledger in ledgers.values():
                self._committed(ledger)

    def run_locked(self, user_id: int, work: Callable[[Ledger], T]) -> T:
        """``work`` on the user's :class:`Ledger` under the account lock, as in :meth:`locked`;
        its result once its changes are committed (its exception: its changes rolled back).
        On SQLite the units of this process's callers are group-committed
        (:mod:`deltastream.store.group_commit`): same serialisation and visibility, one
        commit per batch."""
        if self.group is None:
            with self.locked(user_id) as ledger:
                return work(ledger)
        ledgers: list[Ledger] = []

        def unit(conn: sa.Connection) -> T:
            ledgers.append(self._ledger(conn, user_id, batch_events=True))
            result = work(ledgers[-1])
            ledgers[-1].flush()
            return result

        result = self.group.run(unit)
        self._committed(ledgers[-1])
        return result

    def cash(self, user_id: int) -> dict[str, Decimal]:
        with self.db.connect() as conn:
            return Ledger(conn, user_id).cash()

    def fills(self, user_id: int) -> list[FillRow]:
        with self.db.connect() as conn:
            return _fills_of(conn, user_id)

    def trades(self, user_id: int, limit: int = 100) -> list[tuple[FillRow, str]]:
        """The user's fills, newest first, each with its order's symbol."""
        query = (sa.select(paper_fills, paper_orders.c.symbol)
                 .join(paper_orders, paper_orders.c.id == paper_fills.c.order_id)
                 .where(paper_fills.c.user_id == user_id)
                 .order_by(paper_fills.c.id.desc()).limit(limit))
        with self.db.connect() as conn:
            return [(_fill(row), row._mapping["symbol"]) for row in conn.execute(query).all()]

    def order(self, user_id: int, order_id: int) -> OrderRow | None:
        """The user's order ``order_id``; None for another user's or an unknown one."""
        with self.db.connect() as conn:
            return Ledger(conn, user_id).order(order_id)

    def order_by_key(self, user_id: int, key: str) -> OrderRow | None:
        with self.db.connect() as conn:
            return Ledger(conn, user_id).order_by_key(key)

    def orders(self, user_id: int, status: str | None = None, limit: int = 100
               ) -> list[OrderRow]:
        """The user's orders, newest first; ``status`` filters one status."""
        query = sa.select(paper_orders).where(paper_orders.c.user_id == user_id)
        if status is not None:
            query = query.where(paper_orders.c.status == status)
        query = query.order_by(paper_orders.c.id.desc()).limit(limit)
        with self.db.connect() as conn:
            return [_order(row) for row in conn.execute(query).all()]

    def expired_positions(self, product: str, through: date, listed: Iterable[date]
                          ) -> dict[tuple[int, ContractRef], int]:
        """Every user's net units (non-zero only) in ``product``'s options that expire on or
        before ``through`` and are not ``listed`` (the expired ones), by user and contract;
        one aggregate query. A settled position nets to zero and drops out."""
        f = paper_fills
        signed = sa.case((f.c.side == "BUY", f.c.quantity), else_=-f.c.quantity)
        keys = (f.c.user_id, f.c.product, f.c.expiry, f.c.strike, f.c.right, f.c.currency)
        query = (sa.select(*keys, sa.func.sum(signed).label("units"))
                 .where(f.c.product == product, f.c.expiry.is_not(None),
                        f.c.expiry <= through, f.c.expiry.not_in(list(listed)))
                 .group_by(*keys).having(sa.func.sum(signed) != 0))
        with self.db.connect() as conn:
            rows = conn.execute(query).all()
        return {(int(r.user_id), _contract(r._mapping)): int(r.units) for r in rows}

    def resting_orders(self, products: Iterable[str]) -> list[RestingOrder]:
        """The open orders (PENDING or PARTIALLY_FILLED) of ``products``, oldest first, as a
        matching pass reads them: one query of the columns matching uses, plain tuples, and
        one object per distinct contract and price (a pass reads thousands of orders; only
        those that change are read again in full, under their account's lock)."""
        o = paper_orders
        query = (sa.select(o.c.id, o.c.user_id, o.c.product, o.c.expiry, o.c.strike,
                           o.c.right, o.c.currency, o.c.side, o.c.quantity, o.c.order_type,
                           o.c.limit_price, o.c.stop_price, o.c.time_in_force, o.c.status,
                           o.c.filled_quantity, o.c.after_market)
                 .where(o.c.status.in_(OPEN_STATUSES), o.c.product.in_(list(products)))
                 .order_by(o.c.id))
        with self.db.connect() as conn:
            rows = conn.execute(query).all()
        contracts: dict[tuple[Any, ...], ContractRef] = {}
        prices: dict[str | None, Decimal | None] = {None: None}
        out = []
        for (order_id, user_id, product, expiry, strike, right, currency, side, quantity,
             order_type, limit, stop, tif, status, filled, after_market) in rows:
            key = (product, expiry, strike, right, currency)
            contract = contracts.get(key)
            if contract is None:
                contract = contracts[key] = ContractRef(product, expiry, _money(strike), right,
                                                        currency)
            for text in (limit, stop):
                if text not in prices:
                    prices[text] = Decimal(text)
            out.append(RestingOrder(order_id, user_id, contract, side, quantity, order_type,
                                    prices[limit], prices[stop], tif, status, filled,
                                    bool(after_market)))
        return out

    def open_orders(self, products: Iterable[str] | None = None) -> list[OrderRow]:
        """Every user's resting orders (PENDING or PARTIALLY_FILLED), of ``products`` only
        when given, oldest first (time priority); one query."""
        query = sa.select(paper_orders).where(paper_orders.c.status.in_(OPEN_STATUSES))
        if products is not None:
            query = query.where(paper_orders.c.product.in_(list(products)))
        with self.db.connect() as conn:
            rows = conn.execute(query.order_by(paper_orders.c.id)).all()
        return [_order(row) for row in rows]

    # The outbox.

    def last_event_id(self) -> int:
        """The newest event's id; 0 when there is none."""
        with self.db.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.max(paper_events.c.id))) or 0)

    def events_after(self, after_id: int, limit: int = 1000,
                     also: Iterable[int] = ()) -> list[PaperEvent]:
        """Up to ``limit`` events with an id above ``after_id``, and those of ``also`` (ids
        a reader saw missing), in id order."""
        e = paper_events
        condition = e.c.id > after_id
        missing = sorted(also)
        if missing:
            condition = sa.or_(condition, e.c.id.in_(missing))
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(e).where(condition).order_by(e.c.id)
                                .limit(limit)).all()
        return [PaperEvent(int(r.id), int(r.user_id), r.kind, orjson.loads(r.payload),
                           int(r.at)) for r in rows]
