"""Paper trading: ``paper_accounts`` (cash per user and currency), ``paper_orders`` (one row
per order; idempotency key unique per user) and ``paper_fills`` (one row per fill, partial
fills included, with its charges). Money and prices are exact decimal TEXT, quantities units
of the underlying, times BIGINT microseconds since the epoch, UTC.

New tables only: nothing existing changes, on SQLite or PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MONEY = sa.String(40)


def _contract() -> list[sa.Column]:
    return [sa.Column("product", sa.String(32), nullable=False),
            sa.Column("expiry", sa.Date, nullable=True),
            sa.Column("strike", MONEY, nullable=True),
            sa.Column("right", sa.String(4), nullable=True),
            sa.Column("currency", sa.String(3), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "paper_accounts",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cash", MONEY, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "currency", name="pk_paper_accounts"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_paper_accounts_user_id_users"))
    op.create_table(
        "paper_orders",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        *_contract(),
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
        sa.PrimaryKeyConstraint("id", name="pk_paper_orders"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_paper_orders_user_id_users"),
        sa.UniqueConstraint("user_id", "idempotency_key",
                            name="uq_paper_orders_user_id_idempotency_key"))
    op.create_index("ix_paper_orders_user_id_placed_at", "paper_orders",
                    ["user_id", "placed_at"])
    op.create_index("ix_paper_orders_status", "paper_orders", ["status"])
    op.create_table(
        "paper_fills",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        *_contract(),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("charges", MONEY, nullable=False),
        sa.Column("filled_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_paper_fills"),
        sa.ForeignKeyConstraint(["order_id"], ["paper_orders.id"], ondelete="CASCADE",
                                name="fk_paper_fills_order_id_paper_orders"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_paper_fills_user_id_users"))
    op.create_index("ix_paper_fills_user_id_id", "paper_fills", ["user_id", "id"])
    op.create_index("ix_paper_fills_order_id", "paper_fills", ["order_id"])


def downgrade() -> None:
    op.drop_table("paper_fills")
    op.drop_table("paper_orders")
    op.drop_table("paper_accounts")
