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
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from .database import write_transaction
from .schema import paper_accounts, paper_fills, paper_orders

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


@dataclass(frozen=True)
class OrderRow:
    id: int
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
    updated_at: int


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


class Ledger:
    """One user's account inside a locked transaction (from :meth:`SqlTradingStore.locked`):
    reads see every change made before the lock was taken."""

    def __init__(self, conn: sa.Connection, user_id: int) -> None:
        self.conn = conn
        self.user_id = user_id

    def cash(self) -> dict[str, Decimal]:
        rows = self.conn.execute(sa.select(paper_accounts.c.currency, paper_accounts.c.cash)
                                 .where(paper_accounts.c.user_id == self.user_id)).all()
        return {currency: Decimal(cash) for currency, cash in rows}

    def set_cash(self, currency: str, cash: Decimal, at: int) -> None:
        self.conn.execute(sa.update(paper_accounts)
                          .where(paper_accounts.c.user_id == self.user_id,
                                 paper_accounts.c.currency == currency)
                          .values(cash=_text(cash), updated_at=at))

    def fills(self) -> list[FillRow]:
        return _fills_of(self.conn, self.user_id)

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
        order_id = self.conn.execute(sa.insert(paper_orders).values(**values)
                                     .returning(paper_orders.c.id)).scalar_one()
        return OrderRow(id=int(order_id), updated_at=order.placed_at, **order.__dict__)

    def update_order(self, order: OrderRow, *, status: str, filled_quantity: int,
                     avg_fill_price: Decimal | None, at: int, reason: str | None = None
                     ) -> OrderRow:
        self.conn.execute(sa.update(paper_orders).where(paper_orders.c.id == order.id).values(
            status=status, filled_quantity=filled_quantity,
            avg_fill_price=_text(avg_fill_price), updated_at=at,
            reason=reason if reason is not None else order.reason))
        return replace(order, status=status, filled_quantity=filled_quantity,
                       avg_fill_price=avg_fill_price, updated_at=at,
                       reason=reason if reason is not None else order.reason)

    def amend_order(self, order: OrderRow, *, quantity: int, limit_price: Decimal | None,
                    stop_price: Decimal | None, at: int) -> OrderRow:
        """Change an open order's terms (a client's modification); status and fills are
        :meth:`update_order`'s."""
        self.conn.execute(sa.update(paper_orders).where(paper_orders.c.id == order.id).values(
            quantity=quantity, limit_price=_text(limit_price), stop_price=_text(stop_price),
            updated_at=at))
        return replace(order, quantity=quantity, limit_price=limit_price,
                       stop_price=stop_price, updated_at=at)

    def insert_fill(self, order: OrderRow, quantity: int, price: Decimal, charges: Decimal,
                    at: int) -> FillRow:
        fill_id = self.conn.execute(sa.insert(paper_fills).values(
            order_id=order.id, user_id=self.user_id, **_contract_values(order.contract),
            side=order.side, quantity=quantity, price=_text(price), charges=_text(charges),
            filled_at=at).returning(paper_fills.c.id)).scalar_one()
        return FillRow(int(fill_id), order.id, self.user_id, order.contract, order.side,
                       quantity, price, charges, at)

    def reset(self, starting_cash: Mapping[str, Decimal], at: int) -> None:
        """Delete the user's orders and fills and put the cash back to ``starting_cash``."""
        self.conn.execute(sa.delete(paper_fills).where(paper_fills.c.user_id == self.user_id))
        self.conn.execute(sa.delete(paper_orders).where(paper_orders.c.user_id == self.user_id))
        for currency, cash in starting_cash.items():
            self.set_cash(currency, cash, at)


def _fills_of(conn: sa.Connection, user_id: int) -> list[FillRow]:
    rows = conn.execute(sa.select(paper_fills).where(paper_fills.c.user_id == user_id)
                        .order_by(paper_fills.c.id)).all()
    return [_fill(row) for row in rows]


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

    def ensure_account(self, user_id: int, starting_cash: Mapping[str, Decimal],
                       at: int) -> None:
        """Open the user's cash accounts that do not exist yet with ``starting_cash`` (one
        per currency); existing ones are left as they are."""
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

    @contextlib.contextmanager
    def locked(self, user_id: int) -> Iterator[Ledger]:
        """A transaction holding the user's account lock (module docstring); it commits when
        the block ends and rolls back when it raises."""
        with self._process_lock or contextlib.nullcontext(), \
                write_transaction(self.db) as conn:
            if self.db.dialect.name == "postgresql":
                conn.execute(sa.select(paper_accounts.c.currency)
                             .where(paper_accounts.c.user_id == user_id)
                             .with_for_update()).all()
            yield Ledger(conn, user_id)

    def cash(self, user_id: int) -> dict[str, Decimal]:
        with self.db.connect() as conn:
            return Ledger(conn, user_id).cash()

    def fills(self, user_id: int) -> list[FillRow]:
        with self.db.connect() as conn:
            return _fills_of(conn, user_id)

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

    def open_orders(self, products: Iterable[str] | None = None) -> list[OrderRow]:
        """Every user's resting orders (PENDING or PARTIALLY_FILLED), of ``products`` only
        when given, oldest first (time priority); one query."""
        query = sa.select(paper_orders).where(paper_orders.c.status.in_(OPEN_STATUSES))
        if products is not None:
            query = query.where(paper_orders.c.product.in_(list(products)))
        with self.db.connect() as conn:
            rows = conn.execute(query.order_by(paper_orders.c.id)).all()
        return [_order(row) for row in rows]
