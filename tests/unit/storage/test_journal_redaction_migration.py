"""Revision 0005: chat text journaled before it is removed on upgrade; commands are kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text

from storage.db import make_engine, make_session_factory, session_scope
from storage.migrate import upgrade
from storage.tables.journal import JournalEntry

SECRET_LINE = "Qv-the patient in room four"


def _chat(message_id: str, content: str) -> bytes:
    return json.dumps(
        {
            "event": "meeting.chat_message_sent",
            "event_ts": 1772643790113,
            "payload": {
                "object": {
                    "id": 85746065432,
                    "uuid": "4118UHIiRCAAAtBlDkcVyw==",
                    "chat_message": {"message_id": message_id, "message_content": content},
                }
            },
        }
    ).encode()


def test_upgrade_redacts_chat_already_journaled(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0004_billing")
    rows = {
        "chat": ("meeting.chat_message_sent", _chat("m-1", SECRET_LINE)),
        "command": ("meeting.chat_message_sent", _chat("m-2", "/next")),
        "other": ("meeting.started", b'{"event":"meeting.started","note":"Qv-kept"}'),
        "garbage": ("meeting.chat_message_sent", b"not json"),
    }
    engine = make_engine(url)
    with engine.begin() as connection:
        for key, (event, body) in rows.items():
            connection.execute(
                text(
                    "INSERT INTO webhook_journal (received_at, event, dedupe_key, body, parsed_ok)"
                    " VALUES (:at, :event, :key, :body, 1)"
                ),
                {"at": datetime(2026, 3, 4, tzinfo=UTC), "event": event, "key": key, "body": body},
            )
    engine.dispose()
    assert SECRET_LINE.encode() in path.read_bytes()

    upgrade(url)

    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        stored = {row.dedupe_key: row for row in session.scalars(select(JournalEntry))}
        assert stored["chat"].redacted is True
        message = json.loads(stored["chat"].body)["payload"]["object"]["chat_message"]
        assert message == {"message_id": "m-1", "message_content": ""}
        for key in ("command", "other", "garbage"):
            assert stored[key].redacted is False
            assert stored[key].body == rows[key][1]
    engine.dispose()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("old.db*"))
    assert SECRET_LINE.encode() not in on_disk
    assert b"Qv-kept" in on_disk
