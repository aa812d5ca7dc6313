"""A meeting the calendar says is no session: the runtime feeds none of its events and
stores nothing of it but its one record (marked ended) and the journal's processed marks,
whichever way its causes arrive (a batch of webhooks, one entry per transaction, what the
SDK bot saw, a trusted command)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.agenda import agenda_from_settings
from bot.config import Settings
from bot.runtime.durable import MeetingRuntime
from phases.actions import Action
from phases.engine import new_session
from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Joined,
    MeetingEnded,
    MeetingStarted,
    Participant,
    TrustedCommand,
    ZoomRole,
)
from phases.state import SessionState
from storage import journal
from storage import runtime_state as rs
from storage.db import session_scope
from storage.tables.runtime import RuntimeCommandSeen, RuntimePersonKey
from tests.clock import HandClock
from tests.unit.runtime.fakes import ROSTER, START, RecordingMeeting, ScriptedHooks

UUID = "cancelled-evening=="
FAY = Participant(key="kf", user_id="16777216", name="Fay")
ANNA = Participant(key="ka", user_id="16778240", name="Anna")


class _SkippingHooks(ScriptedHooks):
    """Hooks whose calendar says the meeting is a cancelled session."""

    def start_session(
        self, session: Session, *, meeting_uuid: str, meeting_id: str, now: datetime
    ) -> tuple[SessionState, Sequence[Action]]:
        self.started.append(meeting_uuid)
        return new_session(
            agenda=agenda_from_settings(Settings()),
            roster=ROSTER,
            scheduled_start=START,
            skipped="cancelled",
        )


def _count(factory: sessionmaker[Session], table: type[object]) -> int:
    with session_scope(factory) as db:
        return db.scalar(select(func.count()).select_from(table)) or 0  # type: ignore[arg-type]


def test_nothing_of_a_skipped_meeting_is_fed_or_stored(factory: sessionmaker[Session]) -> None:
    hooks = _SkippingHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    runtime = MeetingRuntime(
        meeting_uuid=UUID,
        control=meeting,
        hooks=hooks,
        session_factory=factory,
        owner="a",
        lease_ttl=timedelta(seconds=30),
        clock=clock,
    )

    def post(label: str, *events: object) -> int:
        with session_scope(factory) as db:
            return hooks.journal(db, meeting_uuid=UUID, label=label, at=clock(), events=events)  # type: ignore[arg-type]

    post("start", MeetingStarted())
    post("fay", Joined(participant=FAY, role=ZoomRole.HOST))
    post("anna", ArrivedInWaitingRoom(participant=ANNA))
    post("status", ChatMessage(sender=FAY, text="/status", message_id="m1"))
    report = asyncio.run(runtime.process_journal())  # one batch
    assert (report.handled, report.fed, report.dropped) == (4, 0, 4)
    with session_scope(factory) as db:
        first = rs.load_meeting(db, meeting_uuid=UUID)
    assert first is not None and first.ended

    clock.advance(minutes=20)
    asyncio.run(runtime.feed_live(Joined(participant=ANNA, role=ZoomRole.ATTENDEE)))
    post("console", TrustedCommand(facilitator="Fay", text="/next", command_id="c1"))
    asyncio.run(runtime.process_journal())
    entry = post("end", MeetingEnded())
    runtime._step_entry(entry)  # the one-per-transaction path (after a failed batch)

    assert hooks.started == [UUID]  # matched once, then remembered
    assert hooks.presence == [] and hooks.finalized == []
    assert meeting.calls == []
    assert _count(factory, RuntimePersonKey) == 0
    assert _count(factory, RuntimeCommandSeen) == 0
    with session_scope(factory) as db:
        record = rs.load_meeting(db, meeting_uuid=UUID)
        assert rs.actions_for_meeting(db, meeting_uuid=UUID) == []
        assert rs.pending_wakeups(db, meeting_uuid=UUID) == {}
        assert journal.unprocessed(db, meeting_uuid=UUID, limit=10) == []
    assert record == first  # written once, when the meeting was found to be no session
    assert record.cursors == {}
    state = SessionState.from_json(record.state_json)
    assert state.setup.skipped == "cancelled" and state.people == {}
