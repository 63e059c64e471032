"""Smaller history tables: the nearest expiry's summaries through a partial index (instead
of an index over every expiry's rank), no index on the summaries' time alone (pruning walks
the primary key), and on SQLite ticks and summaries clustered on their primary key (WITHOUT
ROWID, rebuilt in place).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PRODUCT = sa.String(32)
NEAREST = sa.text("expiry_rank = 0")


def _ticks_columns() -> list[sa.Column]:
    return [sa.Column("product", PRODUCT, nullable=False),
            sa.Column("ts", sa.BigInteger, nullable=False),
            sa.Column("sequence", sa.BigInteger, nullable=False),
            sa.Column("price", sa.Double, nullable=False),
            sa.Column("volume", sa.Double, nullable=False)]


def _summary_columns() -> list[sa.Column]:
    return [sa.Column("product", PRODUCT, nullable=False),
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
              for name in ("call_oi", "put_oi", "call_volume", "put_volume"))]


def _rebuild_without_rowid(name: str, columns: list[sa.Column], key: list[str]) -> None:
    names = ", ".join(f'"{c.name}"' for c in columns)
    op.create_table(f"{name}_new", *columns, sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"),
                    sqlite_with_rowid=False)
    op.execute(f"INSERT INTO {name}_new ({names}) SELECT {names} FROM {name}")
    op.drop_table(name)
    op.rename_table(f"{name}_new", name)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_without_rowid("underlying_ticks", _ticks_columns(), ["product", "ts"])
        op.create_index("ix_underlying_ticks_ts", "underlying_ticks", ["ts"])
        _rebuild_without_rowid("chain_summaries", _summary_columns(),
                               ["product", "expiry", "ts"])
    else:
        op.drop_index("ix_chain_summaries_product_expiry_rank_ts", "chain_summaries")
        op.drop_index("ix_chain_summaries_ts", "chain_summaries")
    op.create_index("ix_chain_summaries_nearest", "chain_summaries",
                    ["product", "ts", "atm_iv"],
                    sqlite_where=NEAREST, postgresql_where=NEAREST)


def downgrade() -> None:
    op.drop_index("ix_chain_summaries_nearest", "chain_summaries")
    op.create_index("ix_chain_summaries_product_expiry_rank_ts", "chain_summaries",
                    ["product", "expiry_rank", "ts"])
    op.create_index("ix_chain_summaries_ts", "chain_summaries", ["ts"])
