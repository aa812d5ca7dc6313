"""`ServiceHooks.decode`: a journaled body is parsed once, into the engine's events and the
attendance fact the step records (`record_presence`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from bot.config import Settings
from bot.meeting import zoom_wire as wire
from bot.runtime import inbox
from bot.runtime.durable import Decoded
from bot.service_hooks import ServiceHooks
from storage import attendance, journal
from storage.db import make_session_factory, session_scope
from storage.journal import JournalEntry
from tests.clock import TEST_NOW
from tests.storage_fixtures import *  # noqa: F403

MEETING = wire.MeetingIdentity()
ANNA = wire.WireParticipant(user_id="16778240", user_name="Anna Example", participant_uuid="p-anna")


def _entry(body: bytes, event: str) -> JournalEntry:
    return JournalEntry(
        id=7, event=event, event_ts=wire.epoch_ms(TEST_NOW), body=body, received_at=TEST_NOW
    )


def test_a_participant_webhook_decodes_to_its_events_and_its_presence() -> None:
    body = wire.participant_body(
        wire.PARTICIPANT_JOINED, meeting=MEETING, participant=ANNA, at=TEST_NOW
    )
    decoded = ServiceHooks(Settings()).decode(_entry(body, wire.PARTICIPANT_JOINED))
    assert decoded.meeting_id == MEETING.meeting_id and decoded.events
    assert decoded.presence is not None
    assert (decoded.presence.kind, decoded.presence.name) == ("joined", "Anna Example")


def test_a_chat_line_carries_no_presence() -> None:
    sender = wire.ChatParty(session_id="16778240", name="Anna Example")
    body = wire.chat_body(
        meeting=MEETING, sender=sender, recipient=None, message_id="m-1", text="/next", at=TEST_NOW
    )
    decoded = ServiceHooks(Settings()).decode(_entry(body, wire.CHAT_MESSAGE_SENT))
    assert decoded.events and decoded.presence is None


def test_the_presence_decoded_is_the_one_recorded_and_a_console_command_records_none(
    sqlite_engine: Engine,
) -> None:
    hooks = ServiceHooks(Settings())
    factory = make_session_factory(sqlite_engine)
    body = wire.meeting_body(wire.MEETING_STARTED, meeting=MEETING, at=TEST_NOW)
    with session_scope(factory) as db:
        started, _new = journal.append(
            db,
            received_at=TEST_NOW,
            event=wire.MEETING_STARTED,
            event_ts=wire.epoch_ms(TEST_NOW),
            meeting_uuid=MEETING.uuid,
            dedupe_key="started",
            body=body,
            parsed_ok=True,
        )
        command = inbox.submit_command(
            db,
            meeting_uuid=MEETING.uuid,
            meeting_id=MEETING.meeting_id,
            facilitator="Facilitator Example",
            member_id="",
            text="/next",
            now=TEST_NOW + timedelta(seconds=1),
        )
        db.flush()
        for entry in (started, journal.entry(db, entry_id=command.entry_id)):
            assert entry is not None
            decoded = hooks.decode(entry)
            assert isinstance(decoded, Decoded)
            hooks.record_presence(db, meeting_uuid=MEETING.uuid, entry=entry, decoded=decoded)
        stored = attendance.presence_events(db, meeting_uuid=MEETING.uuid)
    assert [fact.kind for fact in stored] == ["meeting_started"]
