"""The durable runtime records every phase change exactly once, in the transaction that saves
the state it leads to: in a batch and in the batch's fallback, for a command both sources
deliver, for a timer fired again, and when a replica loses its lease (billing derives the
therapy window from this log, so a change logged twice or lost would move a claim)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.durable import Decoded, LeaseLost, MeetingRuntime
from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Event,
    Joined,
    MeetingEnded,
    MeetingStarted,
    Participant,
    ZoomRole,
)
from phases.state import Phase
from storage.db import session_scope
from storage.journal import JournalEntry
from storage.phase_log import phase_changes
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

UUID = "pl0gUHIiRCAAAtBlDkcVyw=="
FAY = Participant(key="kf", user_id="16777216", name="Fay")
ANNA = Participant(key="ka", user_id="16778240", name="Anna")
TTL = timedelta(seconds=30)


def _runtime(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    owner: str = "a",
    meeting: RecordingMeeting | None = None,
) -> MeetingRuntime:
    return MeetingRuntime(
        meeting_uuid=UUID,
        control=meeting or RecordingMeeting(),
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


def _next(message_id: str) -> ChatMessage:
    return ChatMessage(sender=FAY, text="/next", message_id=message_id)


def _log(factory: sessionmaker[Session]) -> list[tuple[str, str, str, datetime]]:
    with session_scope(factory) as s:
        return [
            (change.from_phase, change.to_phase, change.reason, change.at)
            for change in phase_changes(s, meeting_uuid=UUID)
        ]


def test_a_whole_evening_logs_each_change_once_with_when_it_began(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    runtime = _runtime(factory, hooks, clock)
    _post(factory, hooks, clock, "start", MeetingStarted())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(runtime.process_journal())
    assert _log(factory) == []  # the social time is no change

    clock.now = START + timedelta(seconds=40)  # the doorbell rang late
    asyncio.run(runtime.fire_due_timers())
    asyncio.run(runtime.fire_due_timers())  # fired already: nothing more
    clock.advance(minutes=20)
    _post(factory, hooks, clock, "next", _next("MSnext1"))
    asyncio.run(runtime.process_journal())
    asyncio.run(runtime.feed_live(_next("MSnext1")))  # the SDK bot saw the same line
    clock.advance(minutes=70)
    _post(factory, hooks, clock, "end", ChatMessage(sender=FAY, text="/end", message_id="MSend"))
    clock.advance(minutes=5)
    _post(factory, hooks, clock, "zoom-end", MeetingEnded())
    asyncio.run(runtime.process_journal())
    asyncio.run(runtime.process_journal())  # nothing left to step

    log = _log(factory)
    assert [(old, new) for old, new, _, _ in log] == [
        ("social", "meditation"),
        ("meditation", "case_call"),
        ("case_call", "closing"),
        ("closing", "ended"),
    ]
    assert log[0][3] == START  # the meditation began at the scheduled start, not 40 s late
    assert log[2][2] == "/end"
    assert runtime.load_state().phase == Phase.ENDED  # type: ignore[union-attr]


class _FlakyHooks(ScriptedHooks):
    """Hooks whose presence recording fails with a database error for one entry, once."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_on: int | None = None
        self.failures = 0

    def record_presence(
        self, session: Session, *, meeting_uuid: str, entry: JournalEntry, decoded: Decoded
    ) -> None:
        if entry.id == self.fail_on and self.failures == 0:
            self.failures += 1
            raise OperationalError("INSERT INTO attendance", {}, Exception("database is locked"))
        super().record_presence(session, meeting_uuid=meeting_uuid, entry=entry, decoded=decoded)


@pytest.mark.parametrize("fails", [False, True], ids=["batch", "batch-rolled-back"])
def test_a_batch_logs_the_changes_it_makes_once_even_when_it_falls_back(
    factory: sessionmaker[Session], fails: bool
) -> None:
    hooks = _FlakyHooks()
    clock = HandClock(START - timedelta(minutes=10))
    runtime = _runtime(factory, hooks, clock)
    _post(factory, hooks, clock, "start", MeetingStarted())
    clock.advance(seconds=5)
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    clock.advance(seconds=5)
    _post(factory, hooks, clock, "next1", _next("MSn1"))  # social -> meditation
    clock.advance(seconds=5)
    _post(factory, hooks, clock, "next2", _next("MSn2"))  # meditation -> case call
    clock.advance(seconds=5)
    late = _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    if fails:  # the batch's last entry fails after both changes were made in it
        hooks.fail_on = late
    report = asyncio.run(runtime.process_journal())
    assert report.handled == 5
    assert hooks.failures == (1 if fails else 0)
    began = START - timedelta(minutes=10)
    assert _log(factory) == [
        ("social", "meditation", "/next", began + timedelta(seconds=10)),
        ("meditation", "case_call", "/next", began + timedelta(seconds=15)),
    ]


def test_a_replica_that_lost_its_lease_logs_nothing_and_its_successor_logs_once(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=5))
    a = _runtime(factory, hooks, clock, owner="a")
    b = _runtime(factory, hooks, clock, owner="b")
    _post(factory, hooks, clock, "start", MeetingStarted())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(a.process_journal())
    _post(factory, hooks, clock, "next", _next("MSn1"))
    with pytest.raises(LeaseLost):  # a holds the meeting: b is fenced out
        asyncio.run(b.process_journal())
    assert _log(factory) == []
    clock.advance(seconds=31)  # a died: its lease was not renewed
    asyncio.run(b.process_journal())
    assert [new for _, new, _, _ in _log(factory)] == ["meditation"]

    due = b.pending_wakeups()["meditation_end"]
    clock.now = due - timedelta(seconds=10)
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(b.process_journal())  # b renews its lease
    clock.now = due
    with pytest.raises(LeaseLost):  # a comes back and tries to fire it: b owns the meeting
        asyncio.run(a.fire_due_timers())
    assert [new for _, new, _, _ in _log(factory)] == ["meditation"]
    asyncio.run(b.fire_due_timers())
    asyncio.run(b.fire_due_timers())
    assert [new for _, new, _, _ in _log(factory)] == ["meditation", "case_call"]
    assert b.load_state().phase == Phase.CASE_CALL  # type: ignore[union-attr]
