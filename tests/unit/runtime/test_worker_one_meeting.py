"""The join process's worker: the same `Worker`, limited to its own meeting number."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.agenda import agenda_from_settings
from bot.config import Settings
from bot.runtime import inbox
from bot.runtime.durable import Decoded
from bot.runtime.worker import Worker
from phases.engine import new_session
from phases.events import ArrivedInWaitingRoom, Event, MeetingEnded, MeetingStarted, Participant
from storage import runtime_state as rs
from storage.db import make_session_factory, session_scope
from storage.journal import JournalEntry
from tests.clock import HandClock
from tests.storage_fixtures import *  # noqa: F403
from tests.unit.runtime.fakes import ROSTER, START, RecordingMeeting, ScriptedHooks

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


def test_a_notice_for_another_meeting_number_is_not_looked_into_twice(factory):
    # On PostgreSQL the join process hears every meeting's journal notices; once it knows a
    # meeting is another number's, further notices for it cost nothing.
    hooks, clock = TwoMeetingHooks(), HandClock(START - timedelta(minutes=10))
    post(factory, hooks, clock, OTHER, "other-start", MeetingStarted())
    pump = worker(factory, hooks, clock, RecordingMeeting())
    asyncio.run(pump.sweep())  # finds OTHER another number's
    for uuid in (OTHER, OURS, OTHER):
        pump._enqueue(uuid, True)  # what `notify` does on the worker's loop
    assert [pump._queue.get_nowait() for _ in range(pump._queue.qsize())] == [OURS]


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


def test_a_console_command_journaled_by_serve_is_run_by_the_join_process(factory):
    """In sdk mode the meeting's runtime lives in the join process: the console (in serve)
    hands its command over through the journal, and this worker runs it for its meeting."""
    hooks, clock = TwoMeetingHooks(), HandClock(START + timedelta(minutes=2))
    meeting = RecordingMeeting()
    post(factory, hooks, clock, OURS, "start", MeetingStarted())
    post(factory, hooks, clock, OURS, "anna", ArrivedInWaitingRoom(participant=ANNA))
    pump = worker(factory, hooks, clock, meeting)
    asyncio.run(pump.sweep())
    assert meeting.admits() == []  # held for the meditation
    for uuid, number in ((OURS, "85746065432"), (OTHER, "999")):
        with session_scope(factory) as db:
            inbox.submit_command(
                db,
                meeting_uuid=uuid,
                meeting_id=number,
                facilitator="Fay",
                member_id="",
                text="/admit Anna",
                target_key=ANNA.key,
                now=clock(),
            )
    asyncio.run(pump.sweep())
    assert meeting.admits() == [ANNA.user_id]
    with session_scope(factory) as db:
        assert rs.load_meeting(db, meeting_uuid=OTHER) is None  # another meeting's command


STALE = "stale-uuid=="


class LeftoverHooks(TwoMeetingHooks):
    """`STALE` is an instance of the same meeting number from an evening without a bot (a
    cancelled one: the calendar says it is no session)."""

    def start_session(self, session, *, meeting_uuid, meeting_id, now):
        if meeting_uuid != STALE:
            return super().start_session(
                session, meeting_uuid=meeting_uuid, meeting_id=meeting_id, now=now
            )
        self.started.append(meeting_uuid)
        return new_session(
            agenda=agenda_from_settings(Settings()),
            roster=ROSTER,
            scheduled_start=START - timedelta(days=7),
            skipped="cancelled",
        )


def test_an_instance_left_over_from_an_evening_without_a_bot_does_not_take_what_it_saw(factory):
    """The join process reads the journal of last week's cancelled evening (no bot ran then)
    before tonight's: what the bot saw tonight waits for tonight's instance."""
    hooks, clock = LeftoverHooks(), HandClock(START - timedelta(days=7))
    meeting = RecordingMeeting()
    post(factory, hooks, clock, STALE, "stale-start", MeetingStarted())
    clock.now = START - timedelta(minutes=10)
    pump = worker(factory, hooks, clock, meeting)

    async def scenario() -> None:
        pump.attach(meeting)
        assert meeting.listener is not None
        await meeting.listener(ArrivedInWaitingRoom(participant=ANNA))
        await pump.process(STALE)
        post(factory, hooks, clock, OURS, "start", MeetingStarted())
        await pump.process(OURS)

    asyncio.run(scenario())
    assert hooks.started == [STALE, OURS]
    assert meeting.admits() == [ANNA.user_id]  # seen by the bot, fed to tonight's session
    assert not pump.has_live(OURS)


def test_what_the_bot_sees_after_its_own_meeting_ended_is_not_kept_waiting(factory):
    """Only an instance found ended when first read is a left-over: the bot's own meeting,
    ended, still gets what the bot reports at the end (nothing waits for another one)."""
    hooks, clock = TwoMeetingHooks(), HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    pump = worker(factory, hooks, clock, meeting)

    async def scenario() -> None:
        pump.attach(meeting)
        post(factory, hooks, clock, OURS, "start", MeetingStarted())
        await pump.process(OURS)
        assert meeting.listener is not None
        await meeting.listener(ArrivedInWaitingRoom(participant=ANNA))
        post(factory, hooks, clock, OURS, "end", MeetingEnded())
        await pump.process(OURS)

    asyncio.run(scenario())
    assert not pump.has_live(OURS) and not pump.has_live(OTHER)
