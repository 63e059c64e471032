"""An index on ``paper_orders (user_id, status)``: a user's open orders (the units an order
on the same contract and side still has to fill, checked against the position limit on
every placement) are found without reading every order the user ever placed, which grew
each placement's cost with the account's history.

An index only: no row changes, on SQLite or PostgreSQL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_paper_orders_user_id_status", "paper_orders", ["user_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_paper_orders_user_id_status", table_name="paper_orders")
