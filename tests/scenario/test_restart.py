"""Restart mid-session: latecomers held during the meditation are admitted once, on time.

The real app runs with the simulator as the Zoom meeting (its signed webhooks come back to
the receiver). The service is stopped while a latecomer waits during the meditation (app,
worker and scheduler torn down, every in-memory object dropped) and a new one is started
on the same SQLite file: it resumes in the meditation and admits the latecomer at its end,
exactly once, however often it is restarted again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.meeting.simulated import BOT, MeetingOptions
from phases.events import ZoomRole
from phases.state import Phase, SessionState
from storage import runtime_state as rs
from storage.db import make_session_factory, session_scope
from tests.clock import HandClock
from tests.scenario.serve_harness import (
    SCHEDULED_START,
    CountingMeeting,
    running,
    seed_roster,
    settings_for,
)

pytestmark = pytest.mark.anyio


def _phase(engine: Engine, uuid: str) -> Phase:
    with session_scope(make_session_factory(engine)) as session:
        record = rs.load_meeting(session, meeting_uuid=uuid)
    assert record is not None
    return SessionState.from_json(record.state_json).phase


async def test_latecomer_held_in_meditation_is_admitted_once_after_a_restart(
    sqlite_file: tuple[str, Engine],
) -> None:
    url, engine = sqlite_file
    settings = settings_for(url)
    seed_roster(engine, {"Fay": "facilitator", "Anna": "member", "Ben": "member"})
    clock = HandClock(SCHEDULED_START - timedelta(minutes=15))
    meeting = CountingMeeting(MeetingOptions(), clock=clock)
    uuid = meeting.options.identity.uuid
    factory = make_session_factory(engine)

    async with running(settings, engine=engine, meeting=meeting, clock=clock, owner="one") as svc:
        await meeting.start()
        await meeting.person_joins("fay", name="Fay")
        await svc.settle()
        clock.set(clock() + timedelta(minutes=5))
        await meeting.person_joins("anna", name="Anna")
        await svc.settle()
        assert meeting.where_is("fay") == "meeting"
        assert meeting.where_is("anna") == "meeting"
        clock.set(SCHEDULED_START)
        await svc.settle()
        assert _phase(engine, uuid) == Phase.MEDITATION
        clock.set(SCHEDULED_START + timedelta(minutes=3))
        await meeting.person_joins("ben", name="Ben")
        await svc.settle()
        assert meeting.where_is("ben") == "waiting"
        ben = meeting.user_id_of("ben")
        assert ben not in meeting.admit_calls
    del svc

    # a new process on the same database, twice; the meditation ends in between
    clock.set(SCHEDULED_START + timedelta(minutes=10))
    for owner in ("two", "three"):
        async with running(
            settings, engine=engine, meeting=meeting, clock=clock, owner=owner
        ) as svc:
            await svc.settle()
            clock.set(clock() + timedelta(seconds=30))
            await svc.settle()
            ready = await svc.client.get("/readyz")
            assert ready.status_code == 200, ready.text
    assert meeting.where_is("ben") == "meeting"
    assert meeting.admit_calls.count(ben) == 1
    with session_scope(factory) as session:
        admits = rs.actions_for_meeting(session, meeting_uuid=uuid, kind="admit")
    bens = [a for a in admits if f'"user_id": "{ben}"' in a.payload]
    assert [a.status for a in bens] == ["done"]
    assert bens[0].key.startswith("t:meditation_end@")
    assert _phase(engine, uuid) == Phase.CASE_CALL


async def test_commands_and_the_mirror_survive_a_restart_and_run_once(
    sqlite_file: tuple[str, Engine],
) -> None:
    """Chat commands arrive by webhook AND by the meeting's callback: each runs once. After a
    restart in the discussion, the presenter unmuting (seen only by the callback, Zoom has no
    webhook for it) still reaches the engine, and its answer is carried out."""
    url, engine = sqlite_file
    settings = settings_for(url)
    seed_roster(engine, {"Fay": "facilitator", "Anna": "member"})
    clock = HandClock(SCHEDULED_START - timedelta(minutes=5))
    meeting = CountingMeeting(MeetingOptions(), clock=clock)
    uuid = meeting.options.identity.uuid

    def bot_lines() -> list[str]:
        return [line.text for line in meeting.chat_log if line.sender == BOT]

    async with running(settings, engine=engine, meeting=meeting, clock=clock, owner="one") as svc:
        await meeting.start()
        await meeting.person_joins("fay", name="Fay")
        # a co-host: Zoom lets her unmute behind the mirror, so the bot has to answer
        await meeting.person_joins("anna", name="Anna", role=ZoomRole.CO_HOST)
        await svc.settle()
        clock.set(SCHEDULED_START + timedelta(minutes=10))
        await svc.settle()
        assert _phase(engine, uuid) == Phase.CASE_CALL
        before = len(bot_lines())
        assert await meeting.person_says("fay", "/case Anna")
        await svc.settle()
        assert _phase(engine, uuid) == Phase.PRESENTATION
        after_case = bot_lines()[before:]
        assert len(after_case) == len(set(after_case)) >= 1  # answered, and only once
        for _ in range(2):
            clock.set(clock() + timedelta(minutes=5))
            assert await meeting.person_says("fay", "/next")
            await svc.settle()
        assert _phase(engine, uuid) == Phase.DISCUSSION
        anna = meeting.state_of("anna")
        assert anna is not None and anna.audio_muted

    clock.set(clock() + timedelta(minutes=1))
    async with running(settings, engine=engine, meeting=meeting, clock=clock, owner="two") as svc:
        await svc.settle()
        lines = len(bot_lines())
        assert await meeting.person_unmutes("anna")
        await svc.settle()
        assert _phase(engine, uuid) == Phase.DISCUSSION
    # the new process saw the unmute through the callback and the engine answered it
    with session_scope(make_session_factory(engine)) as session:
        log = rs.actions_for_meeting(session, meeting_uuid=uuid)
    answered = [a for a in log if a.key.startswith("live:")]
    assert answered and all(a.status == "done" for a in answered)
    assert len(bot_lines()) > lines or any(a.kind == "mute" for a in answered)
    assert len({a.key for a in log}) == len(log)
