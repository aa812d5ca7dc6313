"""MeetingDriver: the join process's durable runtime, limited to its own meeting number."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.meeting.sdk_driver import MeetingDriver
from bot.runtime.durable import Decoded
from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Event,
    Joined,
    MeetingStarted,
    Participant,
    ZoomRole,
)
from phases.state import Phase, SessionState
from storage import runtime_state as rs
from storage.db import make_session_factory, session_scope
from storage.journal import JournalEntry
from tests.clock import HandClock
from tests.storage_fixtures import *  # noqa: F403
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

OURS = "ours-uuid=="
OTHER = "other-uuid=="
FAY = Participant(key="kf", user_id="16777216", name="Fay")
ANNA = Participant(key="ka", user_id="16778240", name="Anna")


class TwoMeetingHooks(ScriptedHooks):
    """Entries labelled "other..." belong to another meeting number."""

    def decode(self, entry: JournalEntry) -> Decoded:
        decoded = super().decode(entry)
        if entry.dedupe_key.startswith("other"):
            return Decoded(meeting_id="999", events=decoded.events, at=decoded.at)
        return decoded


@pytest.fixture
def factory(sqlite_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(sqlite_engine)


def post(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    uuid: str,
    label: str,
    *events: Event,
) -> None:
    with session_scope(factory) as session:
        hooks.journal(session, meeting_uuid=uuid, label=label, at=clock(), events=events)


def make(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    meeting: RecordingMeeting,
    owner: str = "join-1",
) -> MeetingDriver:
    return MeetingDriver(
        meeting_id="85746065432",
        control=meeting,
        hooks=hooks,
        session_factory=factory,
        owner=owner,
        clock=clock,
        lease_ttl=timedelta(seconds=30),
        interval=0.01,
    )


def test_serves_only_its_own_meeting_number(factory):
    hooks, clock, meeting = (
        TwoMeetingHooks(),
        HandClock(START - timedelta(minutes=10)),
        RecordingMeeting(),
    )
    post(factory, hooks, clock, OURS, "start", MeetingStarted())
    post(factory, hooks, clock, OTHER, "other-start", MeetingStarted())
    post(factory, hooks, clock, OURS, "anna", ArrivedInWaitingRoom(participant=ANNA))
    driver = make(factory, hooks, clock, meeting)
    assert driver.meeting_uuids() == [OURS]
    assert asyncio.run(driver.step()) == 2
    assert hooks.started == [OURS]
    assert meeting.admits() == [ANNA.user_id]  # a roster member, admitted in the social time
    assert driver.meeting_uuids() == [OURS]  # live until it ends
    with session_scope(factory) as session:
        assert rs.load_meeting(session, meeting_uuid=OTHER) is None


def test_a_meeting_leased_elsewhere_is_left_alone(factory):
    hooks, clock, meeting = (
        TwoMeetingHooks(),
        HandClock(START - timedelta(minutes=10)),
        RecordingMeeting(),
    )
    post(factory, hooks, clock, OURS, "start", MeetingStarted())
    with session_scope(factory) as session:
        assert rs.acquire_lease(
            session, meeting_uuid=OURS, owner="serve-1", ttl=timedelta(minutes=5), now=clock()
        )
    post(factory, hooks, clock, OURS, "anna", ArrivedInWaitingRoom(participant=ANNA))
    driver = make(factory, hooks, clock, meeting)
    asyncio.run(driver.step())
    assert driver.lease_refusals == 1
    assert meeting.calls == []


def test_chat_seen_by_the_bot_is_fed_at_once(factory):
    hooks, clock, meeting = (
        TwoMeetingHooks(),
        HandClock(START + timedelta(minutes=11)),
        RecordingMeeting(),
    )
    post(factory, hooks, clock, OURS, "start", MeetingStarted())
    post(factory, hooks, clock, OURS, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    post(factory, hooks, clock, OURS, "anna", Joined(participant=ANNA))
    driver = make(factory, hooks, clock, meeting)
    asyncio.run(driver.step())
    with session_scope(factory) as session:
        record = rs.load_meeting(session, meeting_uuid=OURS)
    assert record is not None
    assert SessionState.from_json(record.state_json).phase == Phase.CASE_CALL
    before = len(meeting.calls)
    chat = ChatMessage(sender=FAY, text="/case Anna", private=False, message_id="m-1")
    asyncio.run(driver.on_event(chat))
    assert meeting.calls[before:] == []  # the listener only queues
    assert asyncio.run(driver.feed_chats()) == 1
    with session_scope(factory) as session:
        record = rs.load_meeting(session, meeting_uuid=OURS)
    assert record is not None
    assert SessionState.from_json(record.state_json).phase == Phase.PRESENTATION
    assert len(meeting.calls) > before


def test_run_stops_when_the_meeting_closes_and_releases_the_lease(factory):
    hooks, clock, meeting = (
        TwoMeetingHooks(),
        HandClock(START - timedelta(minutes=10)),
        RecordingMeeting(),
    )
    post(factory, hooks, clock, OURS, "start", MeetingStarted())
    driver = make(factory, hooks, clock, meeting)

    async def scenario() -> None:
        closed = asyncio.Event()
        task = asyncio.create_task(driver.run(closed))
        await asyncio.sleep(0.05)
        post(factory, hooks, clock, OURS, "anna", ArrivedInWaitingRoom(participant=ANNA))
        await driver.on_event(ArrivedInWaitingRoom(participant=ANNA))  # a nudge
        await asyncio.sleep(0.05)
        closed.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert meeting.admits() == [ANNA.user_id]
    with session_scope(factory) as session:
        assert rs.lease_owner(session, meeting_uuid=OURS, now=clock()) is None
