"""Roster standing and phone callers: `members.status`, `presence.phone`.

A member missing from a later roster import becomes `inactive` (the row is kept for history;
the bot no longer admits them). A presence fact remembers whether it was a telephone caller,
whom attendance never matches by name. Existing rows are active members and not callers.

Revision ID: 0006_roster_status
Revises: 0005_journal_redaction
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_roster_status"
down_revision = "0005_journal_redaction"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "members",
        sa.Column("status", sa.String(length=16), nullable=False, server_default="active"),
    )
    op.add_column(
        "presence",
        sa.Column("phone", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("presence") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("status")
