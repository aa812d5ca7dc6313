"""Webhook journal: every signed Zoom delivery, stored before it is acknowledged.

Revision ID: 0002_journal
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_journal"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_journal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("event", sa.String(length=128), nullable=False),
        sa.Column("event_ts", sa.BigInteger(), nullable=True),
        sa.Column("meeting_uuid", sa.String(length=128), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("parsed_ok", sa.Boolean(), nullable=False),
        sa.Column("parse_error", sa.Text(), nullable=True),
        sa.Column("processed_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_journal")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_webhook_journal_dedupe_key")),
    )
    op.create_index(
        "ix_webhook_journal_meeting_order",
        "webhook_journal",
        ["meeting_uuid", "event_ts", "id"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_journal_unprocessed",
        "webhook_journal",
        ["processed_at", "event_ts", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_journal_unprocessed", table_name="webhook_journal")
    op.drop_index("ix_webhook_journal_meeting_order", table_name="webhook_journal")
    op.drop_table("webhook_journal")
