"""Billing tables: claims files, claims with their Ministry state, named sequences.

Revision ID: 0004_billing
Revises: 0003_runtime
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_billing"
down_revision = "0003_runtime"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "billing_sequences",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_billing_sequences")),
    )
    op.create_table(
        "billing_claim_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("provider_number", sa.String(length=6), nullable=False),
        sa.Column("group_number", sa.String(length=4), nullable=False),
        sa.Column("batch_sequences", sa.JSON(), nullable=False),
        sa.Column("claim_count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_claim_files")),
    )
    op.create_table(
        "billing_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("accounting_number", sa.String(length=8), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("payment_program", sa.String(length=3), nullable=False),
        sa.Column("fee_code", sa.String(length=5), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("modality_item", sa.String(length=5), nullable=False),
        sa.Column("diagnostic_code", sa.String(length=4), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error_codes", sa.JSON(), nullable=False),
        sa.Column("error_messages", sa.JSON(), nullable=False),
        sa.Column("exported_at", _utc(), nullable=False),
        sa.Column("rejected_at", _utc(), nullable=True),
        sa.Column("error_report", sa.String(length=255), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["billing_claim_files.id"],
            name=op.f("fk_billing_claims_file_id_billing_claim_files"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_billing_claims_member_id_members"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["billing_claims.id"],
            name=op.f("fk_billing_claims_replaces_id_billing_claims"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_billing_claims_session_id_sessions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_claims")),
        sa.UniqueConstraint("accounting_number", name=op.f("uq_billing_claims_accounting_number")),
    )
    op.create_index(op.f("ix_billing_claims_file_id"), "billing_claims", ["file_id"])
    op.create_index(op.f("ix_billing_claims_member_id"), "billing_claims", ["member_id"])
    op.create_index(op.f("ix_billing_claims_service_date"), "billing_claims", ["service_date"])
    op.create_index(op.f("ix_billing_claims_session_id"), "billing_claims", ["session_id"])
    op.create_index(op.f("ix_billing_claims_state"), "billing_claims", ["state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_billing_claims_state"), table_name="billing_claims")
    op.drop_index(op.f("ix_billing_claims_session_id"), table_name="billing_claims")
    op.drop_index(op.f("ix_billing_claims_service_date"), table_name="billing_claims")
    op.drop_index(op.f("ix_billing_claims_member_id"), table_name="billing_claims")
    op.drop_index(op.f("ix_billing_claims_file_id"), table_name="billing_claims")
    op.drop_table("billing_claims")
    op.drop_table("billing_claim_files")
    op.drop_table("billing_sequences")
