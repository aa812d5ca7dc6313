"""Runtime tables: engine state per meeting, pending wake-ups, the action log, leases.

Revision ID: 0003_runtime
Revises: 0002_journal
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_runtime"
down_revision = "0002_journal"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runtime_meetings",
        sa.Column("meeting_uuid", sa.String(length=128), nullable=False),
        sa.Column("meeting_id", sa.String(length=64), nullable=False),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("last_event_ts", sa.BigInteger(), nullable=False),
        sa.Column("cursors_json", sa.Text(), nullable=False),
        sa.Column("last_now", _utc(), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("meeting_uuid", name=op.f("pk_runtime_meetings")),
    )
    op.create_table(
        "runtime_wakeups",
        sa.Column("meeting_uuid", sa.String(length=128), nullable=False),
        sa.Column("timer", sa.String(length=100), nullable=False),
        sa.Column("due_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("meeting_uuid", "timer", name=op.f("pk_runtime_wakeups")),
    )
    op.create_index(op.f("ix_runtime_wakeups_due_at"), "runtime_wakeups", ["due_at"])
    op.create_table(
        "runtime_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("meeting_uuid", sa.String(length=128), nullable=False),
        sa.Column("action_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("executed_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runtime_actions")),
        sa.UniqueConstraint(
            "meeting_uuid", "action_key", name=op.f("uq_runtime_actions_meeting_uuid")
        ),
    )
    op.create_index(op.f("ix_runtime_actions_meeting_uuid"), "runtime_actions", ["meeting_uuid"])
    op.create_table(
        "runtime_leases",
        sa.Column("meeting_uuid", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("acquired_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("meeting_uuid", name=op.f("pk_runtime_leases")),
    )


def downgrade() -> None:
    op.drop_table("runtime_leases")
    op.drop_index(op.f("ix_runtime_actions_meeting_uuid"), table_name="runtime_actions")
    op.drop_table("runtime_actions")
    op.drop_index(op.f("ix_runtime_wakeups_due_at"), table_name="runtime_wakeups")
    op.drop_table("runtime_wakeups")
    op.drop_table("runtime_meetings")
