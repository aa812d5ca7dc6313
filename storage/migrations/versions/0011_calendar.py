"""The group's calendar: the facilitators' changes (`calendar_overrides`).

Revision ID: 0011_calendar
Revises: 0010_console
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_calendar"
down_revision = "0010_console"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calendar_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("slot_start", _utc(), nullable=True),
        sa.Column("new_start", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_calendar_overrides_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_overrides")),
        sa.UniqueConstraint("new_start", "group_id", name=op.f("uq_calendar_overrides_new_start")),
        sa.UniqueConstraint(
            "slot_start", "group_id", name=op.f("uq_calendar_overrides_slot_start")
        ),
    )
    op.create_index(op.f("ix_calendar_overrides_group_id"), "calendar_overrides", ["group_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_calendar_overrides_group_id"), table_name="calendar_overrides")
    op.drop_table("calendar_overrides")
