"""Webhook journal: chat already journaled is cut to its command, as the receiver now does.

The receiver used to keep any chat line that started with "/" whole ("/next" and a second
line, or 100 KB after a slash) and kept unknown keys of a chat body. It now keeps only the
command the first line parses to, its argument cut to 100 characters, and only the fields
our model reads (`webhooks.redaction`). This revision applies that rule to the rows
journaled before it. The rule is restated here, not imported (a migration is a snapshot and
`storage` does not import `webhooks`), in a simpler and stricter form: the verb must be one
of the commands as of this revision, written in ASCII; any other slash-word is kept as "/".
On SQLite the rewrite runs with `secure_delete` on, as in 0005. No schema change; downgrade
does nothing (the text removed cannot be brought back).

Rows journaled for meetings that are not the group's stay: which meeting is the group's is
a setting, which a migration cannot read (see `docs/privacy.md`).

Revision ID: 0008_journal_hardening
Revises: 0007_person_keys
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008_journal_hardening"
down_revision = "0007_person_keys"
branch_labels = None
depends_on = None

_CHAT_EVENT = "meeting.chat_message_sent"
_BARE = {"help", "status", "next", "pause", "resume", "reflection", "end"}
_WITH_ARGUMENT = {"case", "extend", "admit", "hold", "mirror"}
_SLASHES = ("/", "\uff0f", "\u2215")
_CHAT_KEYS = {
    "date_time",
    "sender_session_id",
    "sender_name",
    "sender_email",
    "sender_type",
    "recipient_session_id",
    "recipient_name",
    "recipient_email",
    "recipient_type",
    "message_id",
}

_journal = sa.table(
    "webhook_journal",
    sa.column("id", sa.Integer()),
    sa.column("event", sa.String()),
    sa.column("body", sa.LargeBinary()),
    sa.column("redacted", sa.Boolean()),
)


def _command(content: Any) -> str:
    if not isinstance(content, str):
        return ""
    lines = content.strip().splitlines()
    first = lines[0].strip() if lines else ""
    if not first.startswith(_SLASHES):
        return ""
    verb, _, rest = first[1:].strip().partition(" ")
    verb = verb.lower()
    argument = " ".join(rest.split())[:100].strip()
    if verb in _BARE:
        return f"/{verb}"
    if verb in _WITH_ARGUMENT:
        return f"/{verb} {argument}" if argument else f"/{verb}"
    return "/"


def _short(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and len(value) <= 256


def _pick(table: Any, keys: set[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        return {}
    return {key: value for key, value in table.items() if key in keys and _short(value)}


def _rebuilt(document: Any, event: str) -> Any:
    rebuilt = _pick(document, {"event", "event_ts"})
    payload = document.get("payload") if isinstance(document, dict) else None
    obj = payload.get("object") if isinstance(payload, dict) else None
    kept_payload = _pick(payload, {"account_id"})
    kept_payload["object"] = _pick(obj, {"id", "uuid"})
    rebuilt["payload"] = kept_payload
    message = obj.get("chat_message") if isinstance(obj, dict) else None
    if event == _CHAT_EVENT and isinstance(message, dict):
        kept = _pick(message, _CHAT_KEYS)
        if "message_content" in message:
            kept["message_content"] = _command(message["message_content"])
        if isinstance(message.get("file_ids"), list):
            kept["file_ids"] = [value for value in message["file_ids"][:20] if _short(value)]
        kept_payload["object"]["chat_message"] = kept
    return rebuilt


def _replacement(body: bytes, event: str) -> bytes | None:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    rebuilt = _rebuilt(document, event)
    if rebuilt == document:
        return None
    try:
        return json.dumps(rebuilt, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(rebuilt, separators=(",", ":")).encode("ascii")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    rows = bind.execute(
        sa.select(_journal.c.id, _journal.c.event, _journal.c.body).where(
            sa.func.lower(_journal.c.event).contains("chat")
        )
    ).all()
    for entry_id, event, body in rows:
        replacement = _replacement(bytes(body), event)
        if replacement is not None:
            bind.execute(
                sa.update(_journal)
                .where(_journal.c.id == entry_id)
                .values(body=replacement, redacted=True)
            )


def downgrade() -> None:
    """Nothing to undo in the schema; the chat text removed is gone."""
