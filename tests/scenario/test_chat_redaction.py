"""No chat text but commands is ever stored: the journal keeps chat lines redacted.

The real serve app (receiver, worker, runtime) with the simulated meeting posting its signed
webhooks, on a SQLite file. Members chat, the facilitator types a command; afterwards the
database files (main file and WAL) and every log record are searched for the chat text: it
is nowhere, while the command is kept. Zoom's retry of a redacted message (the original bytes
again) is still recognised as a duplicate, because the dedupe key is the original body's.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.meeting import zoom_wire as wire
from bot.meeting.simulated import BOT, MeetingOptions
from phases.events import ZoomRole
from storage.db import make_engine, make_session_factory, session_scope
from storage.journal import JournalEntry
from storage.migrate import upgrade
from tests.clock import HandClock
from tests.scenario.serve_harness import (
    SCHEDULED_START,
    CountingMeeting,
    running,
    seed_roster,
    settings_for,
)

pytestmark = pytest.mark.anyio

PUBLIC_LINE = "Zq-patient Quillberry relapsed after the Tuesday visit"
PRIVATE_LINE = "Zq-between us: Marrowfield's diagnosis"
TO_BOT_LINE = "  Zq-not a command /case Quillberry"
COMMAND = "/case Anna"


@pytest.fixture
def database(tmp_path: Path) -> tuple[Path, Engine]:
    path = tmp_path / "serve.db"
    upgrade(f"sqlite:///{path}")
    return path, make_engine(f"sqlite:///{path}")


def _file_bytes(path: Path) -> bytes:
    """The database's bytes on disk: the main file, its WAL and shared-memory index."""
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(part.read_bytes() for part in parts if part.exists())


def _log_text(records: list[logging.LogRecord]) -> str:
    return "\n".join(f"{record.getMessage()} {record.__dict__!r}" for record in records)


async def test_chat_text_is_never_stored_nor_logged_and_commands_are_kept(
    database: tuple[Path, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path, engine = database
    settings = settings_for(f"sqlite:///{path}")
    seed_roster(engine, {"Fay": "facilitator", "Anna": "member", "Ben": "member"})
    clock = HandClock(SCHEDULED_START - timedelta(minutes=10))
    meeting = CountingMeeting(MeetingOptions(), clock=clock)
    factory = make_session_factory(engine)

    async with running(settings, engine=engine, meeting=meeting, clock=clock) as svc:
        await meeting.start()
        await meeting.person_joins("fay", name="Fay", role=ZoomRole.HOST)
        await meeting.person_joins("anna", name="Anna")
        await meeting.person_joins("ben", name="Ben")
        await svc.settle()
        clock.set(clock() + timedelta(seconds=30))
        assert await meeting.person_says("anna", PUBLIC_LINE)
        assert await meeting.person_says("anna", PRIVATE_LINE, to="ben")
        assert await meeting.person_says("ben", TO_BOT_LINE, to=BOT)
        assert await meeting.person_says("fay", COMMAND, to=BOT)
        await svc.settle()
        chats = [w for w in meeting.webhooks if w.event == wire.CHAT_MESSAGE_SENT]
        sent_by_people = [w for w in chats if w.name in ("Anna", "Ben", "Fay")]
        assert len(sent_by_people) == 4

        # Zoom retries the first (redacted) message: the same signed bytes again
        retry = sent_by_people[0]
        response = await svc.client.post(
            settings.server.webhook_path, content=retry.body, headers=retry.headers
        )
        assert response.status_code == 200
        await svc.settle()

        with session_scope(factory) as session:
            rows = list(
                session.scalars(
                    select(JournalEntry).where(JournalEntry.event == wire.CHAT_MESSAGE_SENT)
                )
            )
        stored = {
            json.loads(row.body)["payload"]["object"]["chat_message"]["message_id"]: row
            for row in rows
        }
        assert len(rows) == len(chats)  # the retry was recognised as a duplicate
        for webhook in sent_by_people:
            message = webhook.json()["payload"]["object"]["chat_message"]
            row = stored[message["message_id"]]
            is_command = message["message_content"] == COMMAND
            assert row.redacted is not is_command
            kept = json.loads(row.body)["payload"]["object"]["chat_message"]
            assert kept["message_content"] == (COMMAND if is_command else "")
            assert kept["sender_name"] == message["sender_name"]
            assert row.processed_at is not None
        on_disk = _file_bytes(path)
        assert COMMAND.encode() in on_disk
        for line in (PUBLIC_LINE, PRIVATE_LINE, TO_BOT_LINE):
            assert line.strip().encode() not in on_disk
            assert b"Zq-" not in on_disk
    engine.dispose()
    assert b"Zq-" not in _file_bytes(path)
    logs = _log_text(caplog.records)
    assert "journaled" in logs and "duplicate webhook acknowledged" in logs
    assert "Zq-" not in logs
