"""Paper-trading events: ``paper_events``, the outbox of order, fill and position changes
(one row per change, written in the transaction that made it; web workers tail it by ``id``
and push each row to its user's Socket.IO room). ``kind`` "order" | "fill" | "position",
``payload`` JSON text, ``at`` BIGINT microseconds since the epoch, UTC.

A new table only: nothing existing changes, on SQLite or PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_paper_events"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_paper_events_user_id_users"))
    op.create_index("ix_paper_events_at", "paper_events", ["at"])


def downgrade() -> None:
    op.drop_table("paper_events")
