"""The durable runtime: restart without repeats, the out-of-order rule, chat once, leases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.durable import LeaseLost, MeetingRuntime
from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Event,
    Joined,
    Left,
    MeetingStarted,
    Participant,
    ZoomRole,
)
from phases.state import Phase
from storage import journal
from storage import runtime_state as rs
from storage.db import bound_engine, session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

UUID = "4118UHIiRCAAAtBlDkcVyw=="
FAY = Participant(key="kf", user_id="16777216", name="Fay")
ANNA = Participant(key="ka", user_id="16778240", name="Anna")
BEN = Participant(key="kb", user_id="16779264", name="Ben")
TTL = timedelta(seconds=30)


def _runtime(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    meeting: RecordingMeeting,
    owner: str = "a",
) -> MeetingRuntime:
    return MeetingRuntime(
        meeting_uuid=UUID,
        control=meeting,
        hooks=hooks,
        session_factory=factory,
        owner=owner,
        lease_ttl=TTL,
        clock=clock,
    )


def _post(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    label: str,
    *events: Event,
) -> int:
    with session_scope(factory) as s:
        return hooks.journal(s, meeting_uuid=UUID, label=label, at=clock(), events=events)


def test_restart_during_meditation_admits_the_held_latecomer_once(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=14))
    meeting = RecordingMeeting()
    first = _runtime(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "start", MeetingStarted())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(first.process_journal())
    clock.now = START
    asyncio.run(first.fire_due_timers())
    assert first.load_state().phase == Phase.MEDITATION  # type: ignore[union-attr]
    clock.advance(minutes=3)
    _post(factory, hooks, clock, "ben", ArrivedInWaitingRoom(participant=BEN))
    asyncio.run(first.process_journal())
    assert meeting.admits() == []  # held during the meditation
    # the process stops: everything in memory is discarded; only the database remains
    del first
    clock.now = START + timedelta(minutes=10)
    for _ in range(2):  # two restarts, each firing whatever is due
        again = _runtime(factory, hooks, clock, meeting)
        asyncio.run(again.fire_due_timers())
        asyncio.run(again.process_journal())
    assert meeting.admits() == [BEN.user_id]
    assert again.load_state().phase == Phase.CASE_CALL  # type: ignore[union-attr]
    with session_scope(factory) as s:
        admits = rs.actions_for_meeting(s, meeting_uuid=UUID, kind="admit")
    assert [(a.status, a.key.startswith("t:meditation_end@")) for a in admits] == [("done", True)]
    assert hooks.started == [UUID]


def _crash_after_planning(
    factory: sessionmaker[Session],
) -> tuple[ScriptedHooks, HandClock, RecordingMeeting]:
    """Anna and Ben arrive and the process dies right after the step that planned both
    admissions and claimed Anna's (to be carried out once it had committed). Returns the
    hooks, clock and meeting it ran with, for the restart."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    runtime = _runtime(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "start", MeetingStarted())
    asyncio.run(runtime.process_journal())
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    _post(factory, hooks, clock, "ben", ArrivedInWaitingRoom(participant=BEN))
    assert runtime._step_batch().entry_ids
    return hooks, clock, meeting


def test_crash_after_planning_executes_once_and_a_claimed_action_is_never_repeated(
    factory: sessionmaker[Session],
) -> None:
    hooks, clock, meeting = _crash_after_planning(factory)
    with session_scope(factory) as s:
        admits = rs.actions_for_meeting(s, meeting_uuid=UUID, kind="admit")
        assert [a.status for a in admits] == ["executing", "planned"]
        assert [p.id for p in rs.pending_actions(s, meeting_uuid=UUID)] == [admits[1].id]
    restarted = _runtime(factory, hooks, clock, meeting)
    asyncio.run(restarted.process_journal())
    assert meeting.admits() == [BEN.user_id]
    with session_scope(factory) as s:
        statuses = [a.status for a in rs.actions_for_meeting(s, meeting_uuid=UUID, kind="admit")]
    assert statuses == ["interrupted", "done"]


def test_a_restart_with_news_abandons_leftovers_in_its_first_step_and_admits_in_order(
    factory: sessionmaker[Session],
) -> None:
    hooks, clock, meeting = _crash_after_planning(factory)
    _post(factory, hooks, clock, "fay", ArrivedInWaitingRoom(participant=FAY))
    commits: list[int] = []
    engine = bound_engine(factory)

    def count(_connection: object) -> None:
        commits.append(1)

    event.listen(engine, "commit", count)
    committed_at_admit: list[int] = []
    restarted = _runtime(factory, hooks, clock, meeting)
    admit = meeting.admit

    async def counting_admit(user_id: str) -> None:
        committed_at_admit.append(len(commits))
        await admit(user_id)

    meeting.admit = counting_admit  # type: ignore[method-assign]
    try:
        asyncio.run(restarted.process_journal())
    finally:
        event.remove(engine, "commit", count)
    # Ben's admission, planned before the crash, first; then Fay's, from the new entry
    assert meeting.admits() == [BEN.user_id, FAY.user_id]
    # the step that abandoned the leftovers is the visit's first transaction, then Ben's
    # outcome: no transaction of its own for the leftovers (that made it [1, 3])
    assert committed_at_admit == [1, 2], committed_at_admit
    with session_scope(factory) as s:
        statuses = [a.status for a in rs.actions_for_meeting(s, meeting_uuid=UUID, kind="admit")]
    assert statuses == ["interrupted", "done", "done"]


def test_late_event_does_not_undo_newer_state_but_presence_is_recorded(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START + timedelta(minutes=20))
    meeting = RecordingMeeting()
    runtime = _runtime(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "start", MeetingStarted())
    clock.advance(minutes=1)
    joined_at = clock()
    clock.advance(minutes=1)
    _post(factory, hooks, clock, "anna-joins", Joined(participant=ANNA))
    clock.advance(minutes=1)
    _post(factory, hooks, clock, "anna-leaves", Left(participant=ANNA))
    asyncio.run(runtime.process_journal())
    # a retry of an older "joined" arrives after the "left"
    with session_scope(factory) as s:
        late = hooks.journal(
            s, meeting_uuid=UUID, label="late", at=joined_at, events=[Joined(participant=ANNA)]
        )
    report = asyncio.run(runtime.process_journal())
    assert (report.fed, report.dropped) == (0, 1)
    assert late in hooks.presence
    state = runtime.load_state()
    assert state is not None
    assert all(p.where != "meeting" for p in state.people.values() if p.key == ANNA.key)


def test_chat_command_from_webhook_and_callback_runs_once(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START + timedelta(minutes=12))
    meeting = RecordingMeeting()
    runtime = _runtime(factory, hooks, clock, meeting)
    command = ChatMessage(sender=FAY, text="/case Zed", message_id="MS17QzIy")
    _post(
        factory,
        hooks,
        clock,
        "start",
        MeetingStarted(),
        Joined(participant=FAY, role=ZoomRole.HOST),
    )
    asyncio.run(runtime.process_journal())
    asyncio.run(runtime.feed_live(command))
    _post(factory, hooks, clock, "chat", command)
    asyncio.run(runtime.process_journal())
    asyncio.run(runtime.feed_live(command))
    replies = [arg for what, arg in meeting.calls if what == "chat" and "Zed" in arg]
    assert len(replies) == 1


def test_a_second_owner_is_fenced_out_until_the_lease_expires(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=5))
    meeting = RecordingMeeting()
    a = _runtime(factory, hooks, clock, meeting, owner="a")
    b = _runtime(factory, hooks, clock, meeting, owner="b")
    _post(factory, hooks, clock, "start", MeetingStarted())
    asyncio.run(a.process_journal())
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    with pytest.raises(LeaseLost):
        asyncio.run(b.process_journal())
    clock.advance(seconds=31)  # a died: its lease was not renewed
    asyncio.run(b.process_journal())
    assert meeting.admits() == [ANNA.user_id]
    _post(factory, hooks, clock, "ben", ArrivedInWaitingRoom(participant=BEN))
    with pytest.raises(LeaseLost):  # a comes back: b owns the meeting now
        asyncio.run(a.process_journal())
    assert meeting.admits() == [ANNA.user_id]


def test_an_undecodable_entry_is_skipped_and_does_not_block_the_meeting(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    runtime = _runtime(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "start", MeetingStarted())
    poison = _post(factory, hooks, clock, "poison")
    del hooks.script["poison"]  # decode raises KeyError for it
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    report = asyncio.run(runtime.process_journal())
    assert (report.handled, report.dropped) == (3, 1)
    assert meeting.admits() == [ANNA.user_id]
    with session_scope(factory) as s:
        entry = journal.entry(s, entry_id=poison)
        assert entry is not None and entry.processed_at is not None
        # marked unparsed, named by the error's type only (not one of our errors)
        assert (entry.parsed_ok, entry.parse_error) == (False, "KeyError")


def test_actions_planned_long_before_a_restart_expire_instead_of_running_late(
    factory: sessionmaker[Session],
) -> None:
    hooks, clock, meeting = _crash_after_planning(factory)
    clock.advance(minutes=11)  # the restart comes after the default 10-minute expiry
    asyncio.run(_runtime(factory, hooks, clock, meeting).process_journal())
    assert meeting.admits() == []
    with session_scope(factory) as s:
        log = rs.actions_for_meeting(s, meeting_uuid=UUID, kind="admit")
    assert [a.status for a in log] == ["interrupted", "expired"]
