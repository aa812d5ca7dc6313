"""The journal's index of every entry by meeting and feeding order: dropped.

Every webhook the receiver journals wrote it, and no query of a running service reads it:
a meeting worker looks only for pending entries, through the partial index of those
(migration 0013). What still reads a meeting's whole history is `balint-bot attendance
rebuild` (by hand, once per session it rebuilds) and the simulator's count of a meeting's
entries: they now scan the journal, 18 to 35 ms for one meeting among 100,000 entries
(68 MB; a weekly group journals some 5,000 a year).

On SQLite a journal batch of a flood over 20 meetings put its rows in as many places of
this index, each a page in the write-ahead log at every commit; without it the receiver
alone answers about a tenth more deliveries a second (docs/benchmarks.md, "twenty-eighth
round").

Revision ID: 0016_journal_order_index
Revises: 0015_fewer_indexes
"""

from __future__ import annotations

from alembic import op

revision = "0016_journal_order_index"
down_revision = "0015_fewer_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_webhook_journal_meeting_order", table_name="webhook_journal")


def downgrade() -> None:
    op.create_index(
        "ix_webhook_journal_meeting_order",
        "webhook_journal",
        ["meeting_uuid", "event_ts", "id"],
        unique=False,
    )
