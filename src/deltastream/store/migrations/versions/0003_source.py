"""Sources: a ``source`` column (``simulator`` for every existing row) on ticks, summaries,
archives and session closes, first in their primary keys and in the indexes that lead with
the product or serve pruning. ``market_state`` is unchanged.

SQLite cannot alter a primary key: the four tables are rebuilt in batch mode from their 0002
definitions (given, not reflected, so the CHECK on ``right`` and WITHOUT ROWID are kept) and
their rows copied. PostgreSQL alters them in place (the column's default fills the rows).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PRODUCT = sa.String(32)
SOURCE = sa.String(32)
SIMULATOR = "simulator"
NEAREST = sa.text("expiry_rank = 0")


def _tables(with_source: bool) -> dict[str, tuple[sa.Table, bool]]:
    """The four tables as revision 0002 left them (``with_source``: and with this revision's
    column and keys added), and whether each has a rowid on SQLite."""
    meta = sa.MetaData()
    first = ["source"] if with_source else []

    def lead() -> list[sa.Column]:
        return [sa.Column(name, SOURCE, nullable=False, server_default=SIMULATOR)
                for name in first]

    ticks = sa.Table(
        "underlying_ticks", meta, *lead(),
        sa.Column("product", PRODUCT, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("price", sa.Double, nullable=False),
        sa.Column("volume", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint(*first, "product", "ts", name="pk_underlying_ticks"))
    summaries = sa.Table(
        "chain_summaries", meta, *lead(),
        sa.Column("product", PRODUCT, nullable=False),
        sa.Column("expiry", sa.Date, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("expiry_rank", sa.SmallInteger, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("spot", sa.Double, nullable=False),
        *(sa.Column(name, sa.Double, nullable=True)
          for name in ("pcr_oi", "pcr_volume", "max_pain_strike")),
        sa.Column("atm_strike", sa.Double, nullable=False),
        *(sa.Column(name, sa.Double, nullable=True) for name in ("atm_iv", "atm_straddle")),
        *(sa.Column(name, sa.Double, nullable=False)
          for name in ("call_oi", "put_oi", "call_volume", "put_volume")),
        sa.PrimaryKeyConstraint(*first, "product", "expiry", "ts",
                                name="pk_chain_summaries"))
    archive = sa.Table(
        "chain_archive", meta, *lead(),
        sa.Column("product", PRODUCT, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint(*first, "product", "ts", name="pk_chain_archive"))
    closes = sa.Table(
        "session_close", meta, *lead(),
        sa.Column("product", PRODUCT, nullable=False),
        sa.Column("session_date", sa.Date, nullable=False),
        sa.Column("expiry", sa.Date, nullable=False),
        sa.Column("strike", sa.Double, nullable=False),
        sa.Column("right", sa.String(1), nullable=False),
        sa.Column("close_oi", sa.Double, nullable=False),
        sa.Column("close_last", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint(*first, "product", "session_date", "expiry", "strike",
                                "right", name="pk_session_close"),
        sa.CheckConstraint("\"right\" IN ('C', 'P')", name="ck_session_close_right"))
    return {"underlying_ticks": (ticks, False), "chain_summaries": (summaries, False),
            "chain_archive": (archive, True), "session_close": (closes, True)}


# (table, index name, columns) before and after this revision; the nearest-expiry index is
# partial (rank 0).
_OLD_INDEXES = [("underlying_ticks", "ix_underlying_ticks_ts", ["ts"]),
                ("chain_archive", "ix_chain_archive_ts", ["ts"]),
                ("session_close", "ix_session_close_session_date", ["session_date"]),
                ("chain_summaries", "ix_chain_summaries_nearest", ["product", "ts", "atm_iv"])]
_NEW_INDEXES = [("underlying_ticks", "ix_underlying_ticks_source_ts", ["source", "ts"]),
                ("chain_archive", "ix_chain_archive_source_ts", ["source", "ts"]),
                ("session_close", "ix_session_close_source_session_date",
                 ["source", "session_date"]),
                ("chain_summaries", "ix_chain_summaries_nearest",
                 ["source", "product", "ts", "atm_iv"])]


def _create_indexes(indexes: list[tuple[str, str, list[str]]]) -> None:
    for table, name, columns in indexes:
        partial: dict[str, Any] = ({"sqlite_where": NEAREST, "postgresql_where": NEAREST}
                                   if name == "ix_chain_summaries_nearest" else {})
        op.create_index(name, table, columns, **partial)


def _drop_indexes(indexes: list[tuple[str, str, list[str]]]) -> None:
    for table, name, _ in indexes:
        op.drop_index(name, table)


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def _batch(name: str, table: sa.Table, rowid: bool) -> Any:
    # SQLite: always a rebuild (a key cannot be altered); elsewhere plain ALTERs, no copy.
    return op.batch_alter_table(name, copy_from=table,
                                recreate="always" if _sqlite() else "never",
                                table_kwargs={} if rowid else {"sqlite_with_rowid": False})


def upgrade() -> None:
    # Indexes are rebuilt outside the batches: the partial one must keep its WHERE.
    _drop_indexes(_OLD_INDEXES)
    for name, (table, rowid) in _tables(with_source=False).items():
        key = [c.name for c in table.primary_key.columns]
        with _batch(name, table, rowid) as batch:
            # First on SQLite as in a new database; PostgreSQL only appends columns.
            batch.add_column(sa.Column("source", SOURCE, nullable=False,
                                       server_default=SIMULATOR),
                             **({"insert_before": "product"} if _sqlite() else {}))
            batch.drop_constraint(f"pk_{name}", type_="primary")
            batch.create_primary_key(f"pk_{name}", ["source", *key])
    _create_indexes(_NEW_INDEXES)


def downgrade() -> None:
    # The old keys cannot tell sources apart: only the simulator's rows go back.
    for name in _tables(with_source=False):
        op.execute(sa.text(f"DELETE FROM {name} WHERE source <> :s").bindparams(s=SIMULATOR))
    _drop_indexes(_NEW_INDEXES)
    for name, (table, rowid) in _tables(with_source=True).items():
        key = [c.name for c in table.primary_key.columns if c.name != "source"]
        with _batch(name, table, rowid) as batch:
            batch.drop_constraint(f"pk_{name}", type_="primary")
            batch.drop_column("source")
            batch.create_primary_key(f"pk_{name}", key)
    _create_indexes(_OLD_INDEXES)
