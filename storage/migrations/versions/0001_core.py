"""Core tables: groups, modules, sessions, roster, presence, attendance, reconciliation, audit.

Revision ID: 0001_core
Revises: (none; first of the chain 0001_core -> 0002_journal -> 0003_runtime -> 0004_billing)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("command", sa.String(length=100), nullable=False),
        sa.Column("records", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_groups_name")),
    )
    op.create_table(
        "presence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_uuid", sa.String(length=128), nullable=False),
        sa.Column("journal_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("participant_key", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("registrant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presence")),
        sa.UniqueConstraint("meeting_uuid", "journal_id", name=op.f("uq_presence_meeting_uuid")),
    )
    op.create_index(op.f("ix_presence_meeting_uuid"), "presence", ["meeting_uuid"])
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("registrant_id", sa.String(length=64), nullable=False),
        sa.Column("province", sa.String(length=2), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("referring_name", sa.String(length=200), nullable=False),
        sa.Column("referring_number", sa.String(length=6), nullable=False),
        sa.Column("diagnostic_code", sa.String(length=4), nullable=False),
        sa.Column("relationship_basis", sa.String(length=16), nullable=False),
        sa.Column("relationship_date", sa.Date(), nullable=True),
        sa.Column("consent_date", sa.Date(), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("health_number_enc", sa.LargeBinary(), nullable=True),
        sa.Column("version_code_enc", sa.LargeBinary(), nullable=True),
        sa.Column("birth_date_enc", sa.LargeBinary(), nullable=True),
        sa.Column("health_number_last4", sa.String(length=4), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_members_group_id_groups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("group_id", "name_key", name=op.f("uq_members_group_id")),
    )
    op.create_index(op.f("ix_members_group_id"), "members", ["group_id"])
    op.create_table(
        "modules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_modules_group_id_groups"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modules")),
        sa.UniqueConstraint("group_id", "name", name=op.f("uq_modules_group_id")),
    )
    op.create_index(op.f("ix_modules_group_id"), "modules", ["group_id"])
    op.create_table(
        "member_modules",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("module_name", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_modules_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "module_name", name=op.f("pk_member_modules")),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=True),
        sa.Column("meeting_uuid", sa.String(length=128), nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=False),
        sa.Column("scheduled_start", _utc(), nullable=False),
        sa.Column("finalized_at", _utc(), nullable=True),
        sa.Column("therapy_start", _utc(), nullable=True),
        sa.Column("therapy_end", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_sessions_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["module_id"],
            ["modules.id"],
            name=op.f("fk_sessions_module_id_modules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("meeting_uuid", name=op.f("uq_sessions_meeting_uuid")),
    )
    op.create_index(op.f("ix_sessions_group_id"), "sessions", ["group_id"])
    op.create_index(op.f("ix_sessions_module_id"), "sessions", ["module_id"])
    op.create_index(op.f("ix_sessions_scheduled_start"), "sessions", ["scheduled_start"])
    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("person_key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("waiting_minutes", sa.Integer(), nullable=False),
        sa.Column("first_join", _utc(), nullable=True),
        sa.Column("last_leave", _utc(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("left_early", sa.Boolean(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_attendance_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_attendance_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance")),
        sa.UniqueConstraint("session_id", "person_key", name=op.f("uq_attendance_session_id")),
    )
    op.create_index(op.f("ix_attendance_member_id"), "attendance", ["member_id"])
    op.create_index(op.f("ix_attendance_session_id"), "attendance", ["session_id"])
    op.create_table(
        "reconcile_disagreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("person_key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("ours", sa.String(length=64), nullable=False),
        sa.Column("theirs", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_reconcile_disagreements_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_disagreements")),
    )
    op.create_index(
        op.f("ix_reconcile_disagreements_session_id"), "reconcile_disagreements", ["session_id"]
    )
    op.create_table(
        "therapy_intervals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", _utc(), nullable=False),
        sa.Column("ends_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_therapy_intervals_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_therapy_intervals")),
    )
    op.create_index(op.f("ix_therapy_intervals_session_id"), "therapy_intervals", ["session_id"])


def downgrade() -> None:
    for table in (
        "therapy_intervals",
        "reconcile_disagreements",
        "attendance",
        "sessions",
        "member_modules",
        "modules",
        "members",
        "presence",
        "groups",
        "audit_log",
    ):
        op.drop_table(table)
