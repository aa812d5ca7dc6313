"""Billing rules: who is billed, how they joined, when the therapy ran, what was sent.

- `members.bill_ohip`: the physician's decision per member (NULL = undecided, never claimed).
- `presence.modality`: `video` / `telephone` from Zoom's join payload ("" for rows stored
  before this revision: `attendance rebuild` re-reads them from the journal).
- `attendance_spans`: each person's join sessions with their modality (billing subtracts the
  gaps between them).
- `phase_changes`: every phase change with its time (the therapy window).
- `billing_claims`: the modality, the sealed health number sent, the records' fingerprint
  and the correction columns; `billing_fees`: the schedules loaded with `billing fees import`.

Revision ID: 0009_billing_rules
Revises: 0008_journal_hardening
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_billing_rules"
down_revision = "0008_journal_hardening"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("members", sa.Column("bill_ohip", sa.Boolean(), nullable=True))
    op.add_column(
        "presence",
        sa.Column("modality", sa.String(length=16), nullable=False, server_default=""),
    )
    op.create_table(
        "attendance_spans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attendance_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", _utc(), nullable=False),
        sa.Column("ends_at", _utc(), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["attendance_id"],
            ["attendance.id"],
            name=op.f("fk_attendance_spans_attendance_id_attendance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_spans")),
    )
    op.create_index(
        op.f("ix_attendance_spans_attendance_id"), "attendance_spans", ["attendance_id"]
    )
    op.create_table(
        "phase_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("meeting_uuid", sa.String(length=128), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("from_phase", sa.String(length=20), nullable=False),
        sa.Column("to_phase", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_changes")),
    )
    op.create_index(op.f("ix_phase_changes_meeting_uuid"), "phase_changes", ["meeting_uuid"])
    for column in (
        sa.Column("modality", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("health_number_enc", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("content_sha256", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("diagnostic_override", sa.String(length=4), nullable=False, server_default=""),
        sa.Column("corrected_at", _utc(), nullable=True),
        sa.Column("correction_note", sa.Text(), nullable=False, server_default=""),
    ):
        op.add_column("billing_claims", column)
    op.create_table(
        "billing_fees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("specialty", sa.String(length=2), nullable=False),
        sa.Column("band", sa.String(length=8), nullable=False),
        sa.Column("unit_fee_cents", sa.Integer(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_fees")),
        sa.UniqueConstraint(
            "specialty", "band", "effective_date", name=op.f("uq_billing_fees_specialty")
        ),
    )


def downgrade() -> None:
    op.drop_table("billing_fees")
    with op.batch_alter_table("billing_claims") as batch:
        for name in (
            "correction_note",
            "corrected_at",
            "diagnostic_override",
            "content_sha256",
            "key_id",
            "health_number_enc",
            "modality",
        ):
            batch.drop_column(name)
    op.drop_index(op.f("ix_phase_changes_meeting_uuid"), table_name="phase_changes")
    op.drop_table("phase_changes")
    op.drop_index(op.f("ix_attendance_spans_attendance_id"), table_name="attendance_spans")
    op.drop_table("attendance_spans")
    with op.batch_alter_table("presence") as batch:
        batch.drop_column("modality")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("bill_ohip")
