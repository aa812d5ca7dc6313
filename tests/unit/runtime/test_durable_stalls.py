"""A database that hangs mid-call: the runtime never waits past its deadline, and every action
is still carried out once and every event fed once, whether the hung call commits late or
fails (see "A database that hangs" in `bot.runtime.durable`).

The database is real; a statement hook makes one chosen statement hang on its database
thread until the test lets it go on (commit) or fail (a server that went away).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import DatabaseStalled
from bot.runtime.database_calls import DatabaseCalls
from bot.runtime.durable import MeetingRuntime
from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Joined,
    MeetingStarted,
    Participant,
    ZoomRole,
)
from phases.state import Phase
from storage import runtime_state as rs
from storage.db import make_session_factory, session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, HangingStatement, RecordingMeeting, ScriptedHooks

pytestmark = pytest.mark.anyio

UUID = "xStalledDatabaseUUID=="
FAY = Participant(key="kf", user_id="16777216", name="Fay")
ANNA = Participant(key="ka", user_id="16778240", name="Anna")
FAY_SDK = Participant(key="pid-fay", user_id="16777216", name="Fay")


def _claim(statement: str, parameters: Any) -> bool:
    return statement.startswith("UPDATE runtime_actions") and "executing" in str(parameters)


def _outcome(statement: str, _parameters: Any) -> bool:
    return statement.startswith("UPDATE runtime_actions") and "executed_at" in statement


def _state_saved(statement: str, _parameters: Any) -> bool:
    return statement.startswith("UPDATE runtime_meetings")


@dataclass
class Meeting:
    """A runtime on a database whose statements can be made to hang."""

    runtime: MeetingRuntime
    calls: DatabaseCalls
    control: RecordingMeeting
    hooks: ScriptedHooks
    factory: sessionmaker[Session]
    clock: HandClock
    hang: HangingStatement

    def post(self, label: str, *events: Any) -> None:
        with session_scope(self.factory) as db:
            self.hooks.journal(db, meeting_uuid=UUID, label=label, at=self.clock(), events=events)

    def actions(self, kind: str) -> list[rs.ActionRecord]:
        with session_scope(self.factory) as db:
            return rs.actions_for_meeting(db, meeting_uuid=UUID, kind=kind)


async def settled(calls: DatabaseCalls, entry: Callable[[], Awaitable[Any]]) -> None:
    """Call a runtime's entry point once the hung call has returned, again if a call of its
    own overran meanwhile (a loaded machine): as the worker does until it gets through."""
    for _ in range(50):
        for _ in range(1000):
            if not calls.stalled:
                break
            await asyncio.sleep(0.01)
        try:
            await entry()
        except DatabaseStalled:
            continue
        return
    raise AssertionError("the database never answered")


@pytest.fixture
def meeting(db_engine: Engine) -> Iterator[Meeting]:
    factory = make_session_factory(db_engine)
    calls = DatabaseCalls(deadline=0.5)
    clock = HandClock(START - timedelta(minutes=10))
    control = RecordingMeeting()
    hooks = ScriptedHooks()
    runtime = MeetingRuntime(
        meeting_uuid=UUID,
        control=control,
        hooks=hooks,
        session_factory=factory,
        owner="a",
        lease_ttl=timedelta(seconds=30),
        clock=clock,
        calls=calls,
    )
    hang = HangingStatement(db_engine)
    yield Meeting(runtime, calls, control, hooks, factory, clock, hang)
    hang.remove()
    # a call still hung returns now: its connection back in the pool before the engine is
    # disposed (one returned to a disposed pool is never closed)
    deadline = time.monotonic() + 10
    while calls.stalled and time.monotonic() < deadline:
        time.sleep(0.01)


async def _opened(meeting: Meeting) -> None:
    """The meeting is running with Fay in it; Anna now waits in the waiting room."""
    meeting.post("start", MeetingStarted(), Joined(participant=FAY, role=ZoomRole.HOST))
    await settled(meeting.calls, meeting.runtime.process_journal)
    meeting.post("anna", ArrivedInWaitingRoom(participant=ANNA))


@pytest.mark.parametrize("commits", [True, False], ids=["commits-late", "fails-late"])
async def test_a_claim_that_hangs_carries_the_action_out_once(
    meeting: Meeting, commits: bool
) -> None:
    await _opened(meeting)
    meeting.hang.arm(_claim)
    with pytest.raises(DatabaseStalled) as overran:
        await meeting.runtime.process_journal()
    assert overran.value.call is not None and meeting.control.admits() == []
    with pytest.raises(DatabaseStalled) as refused:  # nothing starts while the claim hangs
        await meeting.runtime.process_journal()
    assert refused.value.call is None

    meeting.hang.go_on(fail=not commits)
    await settled(meeting.calls, meeting.runtime.process_journal)
    await settled(meeting.calls, meeting.runtime.process_journal)
    assert meeting.control.admits() == [ANNA.user_id]
    assert [a.status for a in meeting.actions("admit")] == ["done"]


async def test_an_outcome_that_hangs_and_fails_is_recorded_again_and_its_refusal_fed_once(
    meeting: Meeting,
) -> None:
    await _opened(meeting)
    meeting.control.refuse = "not_privileged"  # Zoom refuses the admission
    meeting.hang.arm(_outcome)
    with pytest.raises(DatabaseStalled):
        await meeting.runtime.process_journal()
    meeting.control.refuse = ""
    meeting.hang.go_on(fail=True)  # the outcome (and the refusal's step) rolled back
    await settled(meeting.calls, meeting.runtime.process_journal)
    await settled(meeting.calls, meeting.runtime.process_journal)
    assert [a.status for a in meeting.actions("admit")] == ["refused"]
    told = [arg for what, arg in meeting.control.calls if what == "chat" and "Anna" in arg]
    assert len(told) == 1  # the facilitators hear of the refusal once


@pytest.mark.parametrize("commits", [True, False], ids=["commits-late", "fails-late"])
async def test_an_event_from_the_meeting_whose_step_hangs_is_fed_once(
    meeting: Meeting, commits: bool
) -> None:
    await _opened(meeting)
    await settled(meeting.calls, meeting.runtime.process_journal)
    assert _phase(meeting) == Phase.SOCIAL
    # Fay types /next and the bot sees it (a line without a message id: only feeding it
    # once keeps it from running twice)
    meeting.hang.arm(_state_saved)
    with pytest.raises(DatabaseStalled):
        await meeting.runtime.feed_live(ChatMessage(sender=FAY_SDK, text="/next", message_id=""))
    meeting.hang.go_on(fail=not commits)
    await settled(meeting.calls, meeting.runtime.process_journal)
    await settled(meeting.calls, meeting.runtime.process_journal)
    assert _phase(meeting) == Phase.MEDITATION  # not a second /next: not the case call


def _phase(meeting: Meeting) -> Phase:
    state = meeting.runtime.load_state()
    assert state is not None
    return state.phase


async def test_a_journal_step_that_commits_late_has_its_actions_carried_out(
    meeting: Meeting,
) -> None:
    await _opened(meeting)
    meeting.hang.arm(_state_saved)
    with pytest.raises(DatabaseStalled):
        await meeting.runtime.process_journal()
    meeting.hang.go_on()
    await settled(
        meeting.calls, meeting.runtime.process_journal
    )  # nothing left in the journal: only the actions
    assert meeting.control.admits() == [ANNA.user_id]


async def test_while_a_call_hangs_another_meeting_sharing_the_calls_waits(
    meeting: Meeting,
) -> None:
    await _opened(meeting)
    other = MeetingRuntime(
        meeting_uuid="xAnotherMeetingUUID==",
        control=RecordingMeeting(),
        hooks=meeting.hooks,
        session_factory=meeting.factory,
        owner="a",
        lease_ttl=timedelta(seconds=30),
        clock=meeting.clock,
        calls=meeting.calls,
    )
    meeting.hang.arm(_claim)
    with pytest.raises(DatabaseStalled):
        await meeting.runtime.process_journal()
    with pytest.raises(DatabaseStalled) as refused:
        await other.process_journal()
    assert refused.value.call is None
    meeting.hang.go_on()
    await settled(meeting.calls, other.process_journal)
    await settled(meeting.calls, meeting.runtime.process_journal)
    assert meeting.control.admits() == [ANNA.user_id]


@dataclass
class SlowMeeting(RecordingMeeting):
    """Zoom takes its time over an admission: until `answer` is set."""

    answer: asyncio.Event = field(default_factory=asyncio.Event)
    asked: asyncio.Event = field(default_factory=asyncio.Event)

    async def admit(self, user_id: str) -> None:
        self.asked.set()
        await self.answer.wait()
        await super().admit(user_id)


async def test_an_outcome_refused_because_another_call_hangs_is_recorded_later(
    meeting: Meeting,
) -> None:
    """An action carried out while another meeting's call hangs: its outcome cannot be
    recorded then, and must not be lost."""
    slow = SlowMeeting()
    runtime = MeetingRuntime(
        meeting_uuid=UUID,
        control=slow,
        hooks=meeting.hooks,
        session_factory=meeting.factory,
        owner="a",
        lease_ttl=timedelta(seconds=30),
        clock=meeting.clock,
        calls=meeting.calls,
    )
    other = MeetingRuntime(
        meeting_uuid="xAnotherMeetingUUID==",
        control=RecordingMeeting(),
        hooks=meeting.hooks,
        session_factory=meeting.factory,
        owner="a",
        lease_ttl=timedelta(seconds=30),
        clock=meeting.clock,
        calls=meeting.calls,
    )
    meeting.post("start", MeetingStarted(), Joined(participant=FAY, role=ZoomRole.HOST))
    await settled(meeting.calls, runtime.process_journal)
    meeting.post("anna", ArrivedInWaitingRoom(participant=ANNA))
    admitting = asyncio.create_task(runtime.process_journal())
    await slow.asked.wait()  # Zoom is admitting Anna...
    meeting.hang.arm(lambda statement, _: "runtime_leases" in statement)
    with pytest.raises(DatabaseStalled):  # ...while the other meeting's lease hangs
        await other.process_journal()
    slow.answer.set()
    with pytest.raises(DatabaseStalled) as refused:
        await admitting
    assert refused.value.call is None and slow.admits() == [ANNA.user_id]
    meeting.hang.go_on()
    await settled(meeting.calls, runtime.process_journal)
    assert slow.admits() == [ANNA.user_id]
    assert [a.status for a in meeting.actions("admit")] == ["done"]
