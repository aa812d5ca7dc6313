"""Runtime: one person key per participant across webhooks and the SDK; commands seen.

Revision ID: 0007_person_keys
Revises: 0005_journal_redaction
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_person_keys"
down_revision = "0005_journal_redaction"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runtime_person_keys",
        sa.Column("meeting_uuid", sa.String(length=128), nullable=False),
        sa.Column("id_kind", sa.String(length=32), nullable=False),
        sa.Column("id_value", sa.String(length=128), nullable=False),
        sa.Column("person_key", sa.String(length=128), nullable=False),
        sa.Column("linked_by", sa.String(length=16), nullable=False),
        sa.Column("seen_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint(
            "meeting_uuid", "id_kind", "id_value", name=op.f("pk_runtime_person_keys")
        ),
    )
    op.create_index(
        op.f("ix_runtime_person_keys_person_key"), "runtime_person_keys", ["person_key"]
    )
    op.create_table(
        "runtime_commands_seen",
        sa.Column("meeting_uuid", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("person_key", sa.String(length=128), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("seen_at", _utc(), nullable=False),
        sa.Column("matched", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint(
            "meeting_uuid", "source", "message_id", name=op.f("pk_runtime_commands_seen")
        ),
    )


def downgrade() -> None:
    op.drop_table("runtime_commands_seen")
    op.drop_index(op.f("ix_runtime_person_keys_person_key"), table_name="runtime_person_keys")
    op.drop_table("runtime_person_keys")
