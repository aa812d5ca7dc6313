"""Runtime leases count their takes.

Every step of a meeting takes its lease first, in its own transaction (the fence). Counting
the takes lets a runtime tell, from that one write, whether anyone took the lease since its
own last take: if not, the engine state, wake-ups and person ids its last committed step saved
are still what the database holds, and the step need not read them again
(`bot.runtime.durable`). A released lease now expires instead of being deleted, so the count
never starts over.

Revision ID: 0014_lease_takes
Revises: 0013_journal_pending
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_lease_takes"
down_revision = "0013_journal_pending"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runtime_leases") as batch:
        batch.add_column(sa.Column("takes", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("runtime_leases") as batch:
        batch.drop_column("takes")
