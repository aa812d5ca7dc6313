"""The join process's worker: the same `Worker`, limited to its own meeting number."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.durable import Decoded
from bot.runtime.worker import Worker
from phases.events import ArrivedInWaitingRoom, Event, MeetingStarted, Participant
from storage import runtime_state as rs
from storage.db import make_session_factory, session_scope
from storage.journal import JournalEntry
from tests.clock import HandClock
from tests.storage_fixtures import *  # noqa: F403
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

OURS = "ours-uuid=="
OTHER = "other-uuid=="
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


def post(factory, hooks, clock, uuid: str, label: str, *events: Event) -> None:
    with session_scope(factory) as db:
        hooks.journal(db, meeting_uuid=uuid, label=label, at=clock(), events=events)


def worker(factory, hooks, clock, meeting) -> Worker:
    return Worker(
        session_factory=factory,
        control_factory=lambda _uuid: meeting,
        hooks=hooks,
        owner="join-1",
        clock=clock,
        sweep_interval=3600,
        meeting_id="85746065432",
    )


def test_serves_only_its_own_meeting_number(factory):
    hooks, clock = TwoMeetingHooks(), HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    post(factory, hooks, clock, OURS, "start", MeetingStarted())
    post(factory, hooks, clock, OTHER, "other-start", MeetingStarted())
    post(factory, hooks, clock, OURS, "anna", ArrivedInWaitingRoom(participant=ANNA))
    pump = worker(factory, hooks, clock, meeting)
    assert asyncio.run(pump.sweep()) == 2
    assert hooks.started == [OURS]
    assert meeting.admits() == [ANNA.user_id]  # a roster member, admitted in the social time
    with session_scope(factory) as db:
        assert rs.load_meeting(db, meeting_uuid=OTHER) is None
        assert sorted(rs.meetings_with_work(db, now=clock())) == sorted([OTHER, OURS])


def test_a_meeting_leased_elsewhere_is_left_alone(factory):
    hooks, clock = TwoMeetingHooks(), HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    post(factory, hooks, clock, OURS, "start", MeetingStarted())
    with session_scope(factory) as db:
        assert rs.acquire_lease(
            db, meeting_uuid=OURS, owner="serve-1", ttl=timedelta(minutes=5), now=clock()
        )
    post(factory, hooks, clock, OURS, "anna", ArrivedInWaitingRoom(participant=ANNA))
    assert asyncio.run(worker(factory, hooks, clock, meeting).sweep()) == 0
    assert meeting.calls == []


def test_what_the_bot_saw_before_its_meeting_had_a_runtime_is_fed_after_the_journal(factory):
    hooks, clock = TwoMeetingHooks(), HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    pump = worker(factory, hooks, clock, meeting)

    async def scenario() -> None:
        pump.attach(meeting)
        assert meeting.listener is not None
        await meeting.listener(ArrivedInWaitingRoom(participant=ANNA))  # no instance known yet
        assert pump.has_live(OURS)
        post(factory, hooks, clock, OURS, "start", MeetingStarted())
        await pump.sweep()

    asyncio.run(scenario())
    assert meeting.admits() == [ANNA.user_id]
    assert not pump.has_live(OURS)
