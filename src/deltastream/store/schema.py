"""The store's tables (SQLAlchemy Core), identical on SQLite and PostgreSQL.

Units and types, the same on both backends:

- ``ts``: BIGINT microseconds since the Unix epoch, UTC (see :mod:`deltastream.store.rows`).
- prices, strikes and spot: the product's currency; IV as a decimal (0.15).
- open interest and volume: contracts (underlying volume: units of the underlying).
- ``expiry`` and ``session_date``: calendar dates (the exchange's).
- ``source``: where the rows came from: ``simulator`` for the simulated market
  (:data:`~deltastream.core.snapshot.SIMULATOR_SOURCE`, the default of rows written before
  sources existed), else the name an import or a live feed gave (``nse``, ``cboe``, ...).
  It leads every history table's primary key: each source is its own history, and a source
  and product's rows are one contiguous key range. ``market_state`` (the simulator's
  checkpoints) has no source.

On SQLite the two largest tables (ticks and summaries) are clustered on their primary key
(``WITHOUT ROWID``): no separate key index, about a fifth less space.

Derived numbers that may be undefined (PCR without call interest, an IV that did not
solve, a straddle without a mid) are NULL, never NaN, so both backends read back the same.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..core.snapshot import SIMULATOR_SOURCE

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

PRODUCT = sa.String(32)
SOURCE = sa.String(32)
DEFAULT_SOURCE = SIMULATOR_SOURCE


def _source() -> sa.Column:
    return sa.Column("source", SOURCE, nullable=False, server_default=DEFAULT_SOURCE)

underlying_ticks = sa.Table(
    "underlying_ticks", metadata,
    _source(),
    sa.Column("product", PRODUCT, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("price", sa.Double, nullable=False),
    sa.Column("volume", sa.Double, nullable=False),
    sa.PrimaryKeyConstraint("source", "product", "ts"),
    # Pruning (the simulator's rows only) walks one source's ticks by time.
    sa.Index(None, "source", "ts"),
    sqlite_with_rowid=False,
)

chain_summaries = sa.Table(
    "chain_summaries", metadata,
    _source(),
    sa.Column("product", PRODUCT, nullable=False),
    sa.Column("expiry", sa.Date, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("expiry_rank", sa.SmallInteger, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("spot", sa.Double, nullable=False),
    sa.Column("pcr_oi", sa.Double, nullable=True),
    sa.Column("pcr_volume", sa.Double, nullable=True),
    sa.Column("max_pain_strike", sa.Double, nullable=True),
    sa.Column("atm_strike", sa.Double, nullable=False),
    sa.Column("atm_iv", sa.Double, nullable=True),
    sa.Column("atm_straddle", sa.Double, nullable=True),
    sa.Column("call_oi", sa.Double, nullable=False),
    sa.Column("put_oi", sa.Double, nullable=False),
    sa.Column("call_volume", sa.Double, nullable=False),
    sa.Column("put_volume", sa.Double, nullable=False),
    sa.PrimaryKeyConstraint("source", "product", "expiry", "ts"),
    # The nearest expiry's series (IV history) read through a partial index that covers
    # the ATM IV.
    sa.Index("ix_chain_summaries_nearest", "source", "product", "ts", "atm_iv",
             sqlite_where=sa.text("expiry_rank = 0"),
             postgresql_where=sa.text("expiry_rank = 0")),
    # No index on ts alone: pruning walks the primary key, expiry by expiry.
    sqlite_with_rowid=False,
)

chain_archive = sa.Table(
    "chain_archive", metadata,
    _source(),
    sa.Column("product", PRODUCT, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.PrimaryKeyConstraint("source", "product", "ts"),
    # A source's archives in time order over all its products (replay, pruning).
    sa.Index(None, "source", "ts"),
)

session_close = sa.Table(
    "session_close", metadata,
    _source(),
    sa.Column("product", PRODUCT, nullable=False),
    sa.Column("session_date", sa.Date, nullable=False),
    sa.Column("expiry", sa.Date, nullable=False),
    sa.Column("strike", sa.Double, nullable=False),
    sa.Column("right", sa.String(1), nullable=False),
    sa.Column("close_oi", sa.Double, nullable=False),
    sa.Column("close_last", sa.Double, nullable=True),
    sa.PrimaryKeyConstraint("source", "product", "session_date", "expiry", "strike", "right"),
    sa.CheckConstraint("\"right\" IN ('C', 'P')", name="right"),
    sa.Index(None, "source", "session_date"),
)

market_state = sa.Table(
    "market_state", metadata,
    sa.Column("product", PRODUCT, nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.PrimaryKeyConstraint("product"),
)

# Accounts (see deltastream.store.accounts): times are BIGINT microseconds since the epoch,
# UTC; tokens and keys are stored only as their SHA-256 (hex). Emails are stored lower-case,
# so the unique constraint is case-insensitive.
users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("email"),
)

refresh_tokens = sa.Table(
    "refresh_tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("family_id", sa.String(32), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("rotated_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("token_hash"),
    sa.Index(None, "family_id"),
    sa.Index(None, "user_id"),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("prefix"),
    sa.Index(None, "user_id"),
)

# The account tables, parents first (not history: the writer and retention never see them).
ACCOUNT_TABLES = {t.name: t for t in (users, refresh_tokens, api_keys)}

# Paper trading (see deltastream.store.trading). Money and prices are exact decimal TEXT (the
# Decimal's own string: no binary rounding, the same on both backends); quantities INTEGER
# units of the underlying; times BIGINT microseconds since the epoch, UTC. A contract is its
# product plus expiry/strike/"right" ("call"/"put"), all NULL for the underlying. Positions
# are not stored: they are the replay of the user's fills (one source of truth).
MONEY = sa.String(40)

paper_accounts = sa.Table(
    "paper_accounts", metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("cash", MONEY, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("user_id", "currency"),
)

paper_orders = sa.Table(
    "paper_orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("product", PRODUCT, nullable=False),
    sa.Column("expiry", sa.Date, nullable=True),
    sa.Column("strike", MONEY, nullable=True),
    sa.Column("right", sa.String(4), nullable=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("order_type", sa.String(10), nullable=False),
    sa.Column("limit_price", MONEY, nullable=True),
    sa.Column("stop_price", MONEY, nullable=True),
    sa.Column("time_in_force", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("filled_quantity", sa.BigInteger, nullable=False),
    sa.Column("avg_fill_price", MONEY, nullable=True),
    sa.Column("after_market", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(255), nullable=True),
    sa.Column("placed_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    # NULL keys never collide (both backends): orders without a key are all distinct.
    sa.UniqueConstraint("user_id", "idempotency_key"),
    sa.Index(None, "user_id", "placed_at"),
    sa.Index(None, "status"),
    sa.Index(None, "user_id", "status"),     # a user's open orders (migration 0007)
)

paper_fills = sa.Table(
    "paper_fills", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("paper_orders.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("product", PRODUCT, nullable=False),
    sa.Column("expiry", sa.Date, nullable=True),
    sa.Column("strike", MONEY, nullable=True),
    sa.Column("right", sa.String(4), nullable=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("price", MONEY, nullable=False),
    sa.Column("charges", MONEY, nullable=False),
    sa.Column("filled_at", sa.BigInteger, nullable=False),
    sa.Index(None, "user_id", "id"),
    sa.Index(None, "order_id"),
)

# The paper-trading tables, parents first.
TRADING_TABLES = {t.name: t for t in (paper_accounts, paper_orders, paper_fills)}

# The paper-trading outbox (deltastream.store.trading): one row per change of an order, fill or
# position, written in the transaction that made the change; web workers tail it by ``id``
# and push each row to its user's Socket.IO room. ``kind`` "order" | "fill" | "position";
# ``payload`` JSON text (money as decimal strings); ``at`` microseconds since the epoch, UTC.
# Kept a day (store.retention.prune_events).
paper_events = sa.Table(
    "paper_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index(None, "at"),
)

EVENT_TABLES = {t.name: t for t in (paper_events,)}

TABLES = {t.name: t for t in (underlying_ticks, chain_summaries, chain_archive, session_close,
                              market_state)}
