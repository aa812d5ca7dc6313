"""Three secondary indexes no query needs any more: dropped.

Every webhook the receiver journals and every entry a meeting worker feeds wrote them, for
nothing a query reads. Measured on a SQLite evening of 20 meetings (docs/benchmarks.md,
"twenty-fifth round"), they were 18 % of the pages written:

- `ix_webhook_journal_unprocessed` (`processed_at`, `event_ts`, `id`) moved every entry when
  it was marked processed. What looks for pending entries uses the partial index of each
  meeting's pending entries instead (migration 0013), which holds only those.
- `ix_presence_meeting_uuid` and `ix_runtime_actions_meeting_uuid` repeat the leading column
  of their table's unique constraint (`meeting_uuid, journal_id`; `meeting_uuid,
  action_key`), whose index serves the same lookups.

Revision ID: 0015_fewer_indexes
Revises: 0014_lease_takes
"""

from __future__ import annotations

from alembic import op

revision = "0015_fewer_indexes"
down_revision = "0014_lease_takes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_webhook_journal_unprocessed", table_name="webhook_journal")
    op.drop_index("ix_presence_meeting_uuid", table_name="presence")
    op.drop_index("ix_runtime_actions_meeting_uuid", table_name="runtime_actions")


def downgrade() -> None:
    op.create_index(
        "ix_runtime_actions_meeting_uuid", "runtime_actions", ["meeting_uuid"], unique=False
    )
    op.create_index("ix_presence_meeting_uuid", "presence", ["meeting_uuid"], unique=False)
    op.create_index(
        "ix_webhook_journal_unprocessed",
        "webhook_journal",
        ["processed_at", "event_ts", "id"],
        unique=False,
    )
