"""Initial schema: underlying ticks, chain summaries, chain archive, session closes, market
state.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PRODUCT = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "underlying_ticks",
        sa.Column("product", PRODUCT, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("price", sa.Double, nullable=False),
        sa.Column("volume", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("product", "ts", name="pk_underlying_ticks"),
    )
    op.create_index("ix_underlying_ticks_ts", "underlying_ticks", ["ts"])

    op.create_table(
        "chain_summaries",
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
        sa.PrimaryKeyConstraint("product", "expiry", "ts", name="pk_chain_summaries"),
    )
    op.create_index("ix_chain_summaries_product_expiry_rank_ts", "chain_summaries",
                    ["product", "expiry_rank", "ts"])
    op.create_index("ix_chain_summaries_ts", "chain_summaries", ["ts"])

    op.create_table(
        "chain_archive",
        sa.Column("product", PRODUCT, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("product", "ts", name="pk_chain_archive"),
    )
    op.create_index("ix_chain_archive_ts", "chain_archive", ["ts"])

    op.create_table(
        "session_close",
        sa.Column("product", PRODUCT, nullable=False),
        sa.Column("session_date", sa.Date, nullable=False),
        sa.Column("expiry", sa.Date, nullable=False),
        sa.Column("strike", sa.Double, nullable=False),
        sa.Column("right", sa.String(1), nullable=False),
        sa.Column("close_oi", sa.Double, nullable=False),
        sa.Column("close_last", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("product", "session_date", "expiry", "strike", "right",
                                name="pk_session_close"),
        sa.CheckConstraint("\"right\" IN ('C', 'P')", name="ck_session_close_right"),
    )
    op.create_index("ix_session_close_session_date", "session_close", ["session_date"])

    op.create_table(
        "market_state",
        sa.Column("product", PRODUCT, nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("product", name="pk_market_state"),
    )


def downgrade() -> None:
    for name in ("market_state", "session_close", "chain_archive", "chain_summaries",
                 "underlying_ticks"):
        op.drop_table(name)
