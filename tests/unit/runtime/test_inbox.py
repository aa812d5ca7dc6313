"""A console command on the runtime's one way in: journaled, decoded, run once, answered.

The console journals a command (`bot.runtime.inbox.submit_command`); the meeting's runtime
takes it from the journal like a webhook, wherever it runs (serve, or the join process in
sdk mode), and the engine runs it with the roster facilitator's rights.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.runtime import inbox
from bot.runtime.durable import MeetingRuntime
from phases.events import Joined, MeetingStarted, Participant
from storage import journal
from storage.db import session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

UUID = "xInboxUUID=="
ANNA = Participant(key="WH-ANNA-UUID", user_id="167782403", name="Anna")


def _opened(factory: sessionmaker[Session]) -> tuple[MeetingRuntime, RecordingMeeting, HandClock]:
    """The case call, with Anna in the meeting and no facilitator in Zoom at all."""
    clock = HandClock(START + timedelta(minutes=12))
    meeting = RecordingMeeting()
    hooks = ScriptedHooks()
    runtime = MeetingRuntime(
        meeting_uuid=UUID,
        control=meeting,
        hooks=hooks,
        session_factory=factory,
        owner="a",
        lease_ttl=timedelta(seconds=30),
        clock=clock,
    )
    with session_scope(factory) as db:
        hooks.journal(
            db,
            meeting_uuid=UUID,
            label="start",
            at=clock(),
            events=[MeetingStarted(), Joined(participant=ANNA)],
        )
    asyncio.run(runtime.process_journal())
    return runtime, meeting, clock


def _submit(factory: sessionmaker[Session], clock: HandClock, who: str, text: str) -> int:
    with session_scope(factory) as db:
        submitted = inbox.submit_command(
            db,
            meeting_uuid=UUID,
            meeting_id="85746065432",
            facilitator=who,
            member_id="",
            text=text,
            now=clock(),
        )
    return submitted.entry_id


def _outcome(factory: sessionmaker[Session], entry_id: int) -> inbox.CommandOutcome:
    with session_scope(factory) as db:
        return inbox.command_outcome(db, meeting_uuid=UUID, entry_id=entry_id)


def test_a_facilitator_outside_zoom_steers_the_meeting_and_the_answer_stays_in_the_console(
    factory: sessionmaker[Session],
) -> None:
    runtime, meeting, clock = _opened(factory)
    before = list(meeting.calls)
    entry = _submit(factory, clock, "Fay", "/case Zed")
    assert _outcome(factory, entry) == inbox.CommandOutcome(processed=False)
    asyncio.run(runtime.process_journal())
    outcome = _outcome(factory, entry)
    assert outcome.processed and len(outcome.replies) == 1 and "Zed" in outcome.replies[0]
    assert meeting.calls == before  # an answer to the console calls nothing in the meeting
    entry = _submit(factory, clock, "Fay", "/case Anna")
    asyncio.run(runtime.process_journal())
    state = runtime.load_state()
    assert state is not None and str(state.phase) == "presentation"
    assert _outcome(factory, entry) == inbox.CommandOutcome(processed=True)


def test_a_member_named_by_the_console_is_refused(factory: sessionmaker[Session]) -> None:
    runtime, _meeting, clock = _opened(factory)
    entry = _submit(factory, clock, "Anna", "/next")
    asyncio.run(runtime.process_journal())
    state = runtime.load_state()
    assert state is not None and str(state.phase) == "case_call"
    assert _outcome(factory, entry).replies  # told, in the console, that they may not


def test_one_press_runs_once_even_if_its_command_is_journaled_again(
    factory: sessionmaker[Session],
) -> None:
    runtime, _meeting, clock = _opened(factory)
    first = _submit(factory, clock, "Fay", "/extend 5")
    with session_scope(factory) as db:
        entry = journal.entry(db, entry_id=first)
        assert entry is not None
        body = entry.body
        command_id = json.loads(body)["command_id"]
        # the same press again under its own dedupe key: the journal keeps one entry
        _id, new = journal.record(
            db,
            received_at=clock(),
            event=inbox.COMMAND_EVENT,
            event_ts=entry.event_ts,
            meeting_uuid=UUID,
            dedupe_key=f"console:{command_id}",
            body=body,
            parsed_ok=True,
        )
        assert not new
        # and a copy that slipped in under another key: the engine runs the command id once
        journal.record(
            db,
            received_at=clock(),
            event=inbox.COMMAND_EVENT,
            event_ts=entry.event_ts,
            meeting_uuid=UUID,
            dedupe_key="copy",
            body=body,
            parsed_ok=True,
        )
    asyncio.run(runtime.process_journal())
    state = runtime.load_state()
    assert state is not None and state.extension_minutes == 5
