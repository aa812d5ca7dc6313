"""A restart under the same lease owner id (`[server] instance_id`): no wait, no repeats.

A restarted `serve` keeps its owner id, so it takes its lease back at once. The lease then
no longer tells the new runtime from a stale one of the same owner still in flight; the
action log's claims must: every action is carried out at most once, whichever runtime
reaches it, and the held latecomer is admitted exactly once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.durable import LeaseLost, MeetingRuntime
from phases.events import ArrivedInWaitingRoom, Event, Joined, MeetingStarted, Participant, ZoomRole
from phases.state import Phase
from storage import runtime_state as rs
from storage.db import session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

UUID = "gkvvW3tZQhS3WmjXh2yS5A=="
FAY = Participant(key="kf", user_id="16777216", name="Fay")
BEN = Participant(key="kb", user_id="16779264", name="Ben")
TTL = timedelta(seconds=30)
OWNER = "serve:replica-1"


class GatedMeeting(RecordingMeeting):
    """A meeting whose `admit` is entered, then waits for the test to open the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def admit(self, user_id: str) -> None:
        self.entered.set()
        await self.gate.wait()
        await super().admit(user_id)


def _runtime(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    meeting: RecordingMeeting,
) -> MeetingRuntime:
    return MeetingRuntime(
        meeting_uuid=UUID,
        control=meeting,
        hooks=hooks,
        session_factory=factory,
        owner=OWNER,
        lease_ttl=TTL,
        clock=clock,
    )


def _post(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    label: str,
    *events: Event,
) -> None:
    with session_scope(factory) as s:
        hooks.journal(s, meeting_uuid=UUID, label=label, at=clock(), events=events)


def _held_in_meditation(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    meeting: RecordingMeeting,
) -> MeetingRuntime:
    """A runtime that has Ben held in the waiting room during the meditation."""
    runtime = _runtime(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "start", MeetingStarted())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(runtime.process_journal())
    clock.now = START
    asyncio.run(runtime.fire_due_timers())
    clock.advance(minutes=3)
    _post(factory, hooks, clock, "ben", ArrivedInWaitingRoom(participant=BEN))
    asyncio.run(runtime.process_journal())
    assert meeting.admits() == []
    clock.now = START + timedelta(minutes=9, seconds=50)
    with session_scope(factory) as s:  # the process's last step held the lease
        assert rs.acquire_lease(s, meeting_uuid=UUID, owner=OWNER, ttl=TTL, now=clock())
    return runtime


def _admit_statuses(factory: sessionmaker[Session]) -> list[str]:
    with session_scope(factory) as s:
        return [a.status for a in rs.actions_for_meeting(s, meeting_uuid=UUID, kind="admit")]


def test_a_restart_with_the_same_owner_takes_the_lease_back_at_once(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=14))
    meeting = RecordingMeeting()
    _held_in_meditation(factory, hooks, clock, meeting)
    # the process dies just before the meditation ends; its lease is still fresh at the end
    clock.now = START + timedelta(minutes=10)
    with session_scope(factory) as s:
        assert rs.lease_owner(s, meeting_uuid=UUID, now=clock()) == OWNER
    other = MeetingRuntime(
        meeting_uuid=UUID,
        control=meeting,
        hooks=hooks,
        session_factory=factory,
        owner="serve:replica-2",
        lease_ttl=TTL,
        clock=clock,
    )
    with pytest.raises(LeaseLost):  # another replica still has to wait for the lease
        asyncio.run(other.fire_due_timers())
    assert meeting.admits() == []
    restarted = _runtime(factory, hooks, clock, meeting)
    asyncio.run(restarted.fire_due_timers())  # no LeaseLost, no clock advance needed
    assert meeting.admits() == [BEN.user_id]
    assert restarted.load_state().phase == Phase.CASE_CALL  # type: ignore[union-attr]
    assert _admit_statuses(factory) == ["done"]


def test_a_stale_runtime_of_the_same_owner_cannot_repeat_an_action_in_flight(
    factory: sessionmaker[Session],
) -> None:
    """The old runtime is inside Ben's admit when the new one resumes: the new one marks it
    interrupted and does not repeat it; the old one's call completes once."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=14))
    meeting = GatedMeeting()
    stale = _held_in_meditation(factory, hooks, clock, meeting)
    clock.now = START + timedelta(minutes=10)

    async def race() -> None:
        in_flight = asyncio.create_task(stale.fire_due_timers())
        await asyncio.wait_for(meeting.entered.wait(), timeout=5)
        restarted = _runtime(factory, hooks, clock, meeting)
        await restarted.fire_due_timers()
        await restarted.process_journal()
        assert _admit_statuses(factory) == ["interrupted"]
        meeting.gate.set()
        await in_flight
        await restarted.fire_due_timers()

    asyncio.run(race())
    assert meeting.admits() == [BEN.user_id]
    assert len(_admit_statuses(factory)) == 1


def test_two_runtimes_of_the_same_owner_racing_for_planned_actions_run_each_once(
    factory: sessionmaker[Session],
) -> None:
    """A step planned (committed) the admit, then both runtimes carry out what is planned at
    the same time: the claim (planned -> executing) lets exactly one of them call Zoom."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=14))
    meeting = GatedMeeting()
    stale = _held_in_meditation(factory, hooks, clock, meeting)
    clock.now = START + timedelta(minutes=10)
    with session_scope(factory) as s:
        (_uuid, timer, due), *_ = rs.due_wakeups(s, now=clock(), meeting_uuid=UUID)
    stale._step_timer(timer, due)  # planned and committed, not yet carried out
    restarted = _runtime(factory, hooks, clock, meeting)
    meeting.gate.set()

    async def race() -> None:
        await asyncio.gather(stale._execute_planned(), restarted.process_journal())

    asyncio.run(race())
    assert meeting.admits() == [BEN.user_id]
    assert _admit_statuses(factory) == ["done"]
