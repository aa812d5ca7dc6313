"""Webhook journal: `redacted` flag; chat text already journaled is removed.

The receiver now journals a chat line that is not a command with its `message_content`
emptied (`webhooks.redaction`) and marks the row `redacted`. This revision adds the column
and applies the same rule to the rows journaled before it (the rule is restated here, not
imported: a migration is a snapshot and `storage` does not import `webhooks`). On SQLite the
rewrite runs with `secure_delete` on, so the old cells are zeroed rather than left in free
pages; PostgreSQL keeps old row versions until `VACUUM` (see `docs/privacy.md`).

Revision ID: 0005_journal_redaction
Revises: 0004_billing
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005_journal_redaction"
down_revision = "0004_billing"
branch_labels = None
depends_on = None

_CHAT_EVENT = "meeting.chat_message_sent"

_journal = sa.table(
    "webhook_journal",
    sa.column("id", sa.Integer()),
    sa.column("event", sa.String()),
    sa.column("body", sa.LargeBinary()),
    sa.column("redacted", sa.Boolean()),
)


def _chat_message(document: Any) -> dict[str, Any] | None:
    payload = document.get("payload") if isinstance(document, dict) else None
    obj = payload.get("object") if isinstance(payload, dict) else None
    message = obj.get("chat_message") if isinstance(obj, dict) else None
    return message if isinstance(message, dict) else None


def _redacted(body: bytes) -> bytes | None:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    message = _chat_message(document)
    if message is None or "message_content" not in message:
        return None
    content = message["message_content"]
    if content is None or content == "":
        return None
    if isinstance(content, str) and content.strip().startswith("/"):
        return None
    message["message_content"] = ""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def upgrade() -> None:
    op.add_column(
        "webhook_journal",
        sa.Column("redacted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    rows = bind.execute(
        sa.select(_journal.c.id, _journal.c.body).where(_journal.c.event == _CHAT_EVENT)
    ).all()
    for entry_id, body in rows:
        replacement = _redacted(bytes(body))
        if replacement is not None:
            bind.execute(
                sa.update(_journal)
                .where(_journal.c.id == entry_id)
                .values(body=replacement, redacted=True)
            )


def downgrade() -> None:
    with op.batch_alter_table("webhook_journal") as batch:
        batch.drop_column("redacted")
