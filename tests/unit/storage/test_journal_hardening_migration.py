"""Revision 0008: chat journaled before it is cut to its command; other rows are untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from storage.db import make_engine, make_session_factory, session_scope
from storage.migrate import upgrade
from storage.tables.journal import JournalEntry

SECRET = "Qv-my patient Jane Roe"


def _chat(content: Any, event: str = "meeting.chat_message_sent", **extra: Any) -> bytes:
    message = {"message_id": "m-1", "sender_name": "Petra", "message_content": content, **extra}
    return json.dumps(
        {
            "event": event,
            "event_ts": 1772643790113,
            "payload": {"object": {"id": 85746065432, "uuid": "u==", "chat_message": message}},
        }
    ).encode()


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        (_chat(f"/next\n{SECRET}"), "/next"),
        (_chat(f"/case Anna  Keller\n{SECRET}"), "/case Anna Keller"),
        (_chat("/" + "x" * 5000), "/"),
        (_chat(f"/Next {SECRET}"), "/next"),
        (_chat("/status", note=SECRET), "/status"),
    ],
)
def test_upgrade_cuts_chat_already_journaled_to_its_command(
    tmp_path: Path, body: bytes, kept: str
) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0007_person_keys")
    rows = {
        "chat": ("meeting.chat_message_sent", body),
        "file": ("meeting.chat_message_file_sent", _chat(SECRET, "meeting.chat_message_file_sent")),
        "command": ("meeting.chat_message_sent", _chat("/next")),
        "other": ("meeting.started", b'{"event":"meeting.started","note":"Qv-kept"}'),
    }
    engine = make_engine(url)
    with engine.begin() as connection:
        for key, (event, raw) in rows.items():
            connection.execute(
                text(
                    "INSERT INTO webhook_journal (received_at, event, dedupe_key, body, parsed_ok)"
                    " VALUES (:at, :event, :key, :body, 1)"
                ),
                {"at": datetime(2026, 3, 4, tzinfo=UTC), "event": event, "key": key, "body": raw},
            )
    engine.dispose()

    upgrade(url)

    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        stored = {row.dedupe_key: row for row in session.scalars(select(JournalEntry))}
        message = json.loads(stored["chat"].body)["payload"]["object"]["chat_message"]
        assert message["message_content"] == kept and "note" not in message
        assert stored["chat"].redacted is True
        assert "chat_message" not in json.loads(stored["file"].body)["payload"]["object"]
        for key in ("command", "other"):
            assert (stored[key].body, stored[key].redacted) == (rows[key][1], False)
    engine.dispose()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("old.db*"))
    assert SECRET.encode() not in on_disk and b"Qv-kept" in on_disk
