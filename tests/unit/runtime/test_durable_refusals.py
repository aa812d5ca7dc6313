"""The durable runtime reports Zoom's refusals back to the engine, once, across restarts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import MeetingControlError
from bot.meeting.executor import ActionOutcome, MeetingAction
from bot.runtime.durable import REFUSAL_CAUSE, LeaseLost, MeetingRuntime, refusal_event
from phases.actions import AllowSelfMedia, Audience, Mute, SendChat, StopRecording, Target
from phases.events import (
    ActionRefused,
    ArrivedInWaitingRoom,
    Event,
    Joined,
    MeetingStarted,
    Participant,
    ZoomRole,
)
from phases.messages import DEFAULT_MESSAGES
from phases.state import Phase
from storage import runtime_state as rs
from storage.db import session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

UUID = "xRefusedAdmitsUUID=="
FAY = Participant(key="kf", user_id="16777216", name="Fay")
ANNA = Participant(key="ka", user_id="16778240", name="Anna")
BEN = Participant(key="kb", user_id="16779264", name="Ben")
ANNA_LINE = DEFAULT_MESSAGES["refused_admit"].format(
    name="Anna", reason=DEFAULT_MESSAGES["reason_not_privileged"]
)


@dataclass
class AttendeeMeeting(RecordingMeeting):
    """The bot is a plain attendee: Zoom refuses its admissions (chat still works)."""

    async def admit(self, user_id: str) -> None:
        self.calls.append(("refused_admit", user_id))
        raise MeetingControlError("not_privileged", "only the host or a co-host can admit")

    def lines(self) -> list[str]:
        return [arg.split(":", 2)[-1] for what, arg in self.calls if what == "chat"]


def _runtime(
    factory: sessionmaker[Session], hooks: ScriptedHooks, clock: HandClock, meeting: AttendeeMeeting
) -> MeetingRuntime:
    return MeetingRuntime(
        meeting_uuid=UUID,
        control=meeting,
        hooks=hooks,
        session_factory=factory,
        owner="a",
        lease_ttl=timedelta(seconds=30),
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


def _log(factory: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with session_scope(factory) as s:
        return [(a.key, a.kind, a.status) for a in rs.actions_for_meeting(s, meeting_uuid=UUID)]


def test_a_refused_admission_is_reported_once_also_across_restarts(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=14))
    meeting = AttendeeMeeting()
    runtime = _runtime(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "start", MeetingStarted())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(runtime.process_journal())
    clock.advance(minutes=2)
    entry = _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    report = asyncio.run(runtime.process_journal())
    assert meeting.lines() == [ANNA_LINE]
    assert report.handled == 2 and report.executed == 2  # the entry, then its refusal
    admit_key = f"j{entry}:0"
    assert _log(factory)[-2:] == [
        (admit_key, "admit", "refused"),
        (f"{REFUSAL_CAUSE}{admit_key}:0", "send_chat", "done"),
    ]
    state = runtime.load_state()
    assert state is not None and [p.name for p in state.waiting()] == ["Anna"]

    # Restarts find nothing to repeat; the meditation's end retries the admission (refused
    # again), and the facilitator is not told a second time.
    for minutes in (3, 10):
        clock.now = START + timedelta(minutes=minutes)
        again = _runtime(factory, hooks, clock, meeting)
        asyncio.run(again.fire_due_timers())
        asyncio.run(again.process_journal())
    assert meeting.lines().count(ANNA_LINE) == 1
    assert [arg for what, arg in meeting.calls if what == "refused_admit"] == [ANNA.user_id] * 2
    assert again.load_state().phase is Phase.CASE_CALL  # type: ignore[union-attr]
    refusal_causes = [key for key, _, _ in _log(factory) if key.startswith(REFUSAL_CAUSE)]
    assert refusal_causes == [f"{REFUSAL_CAUSE}{admit_key}:0"]


def test_an_admission_planned_before_a_crash_is_refused_and_reported_once_after_it(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = AttendeeMeeting()
    first = _runtime(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "start", MeetingStarted())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(first.process_journal())
    _post(factory, hooks, clock, "ben", ArrivedInWaitingRoom(participant=BEN))
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    # the step commits (Ben's admission claimed with it, Anna's planned); the process dies
    # before carrying either out
    assert first._step_batch().entry_ids
    del first
    for _ in range(2):
        restarted = _runtime(factory, hooks, clock, meeting)
        asyncio.run(restarted.process_journal())
    assert meeting.lines() == [ANNA_LINE]
    assert [arg for what, arg in meeting.calls if what == "refused_admit"] == [ANNA.user_id]


def test_a_refused_refusal_line_is_not_reported_back(factory: sessionmaker[Session]) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = AttendeeMeeting(refuse="not_privileged")  # now every call is refused
    runtime = _runtime(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "start", MeetingStarted())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(runtime.process_journal())
    log = _log(factory)
    assert [(kind, status) for key, kind, status in log if key.startswith(REFUSAL_CAUSE)] == [
        ("send_chat", "refused")
    ]
    with session_scope(factory) as s:
        assert rs.pending_actions(s, meeting_uuid=UUID) == []


@dataclass
class LeaseStealingMeeting(AttendeeMeeting):
    """While the admission is refused, another replica takes the meeting over."""

    factory: sessionmaker[Session] | None = None
    clock: HandClock | None = None

    async def admit(self, user_id: str) -> None:
        assert self.factory is not None and self.clock is not None
        self.clock.advance(minutes=1)  # past the lease's 30 s
        with session_scope(self.factory) as s:
            assert rs.acquire_lease(
                s, meeting_uuid=UUID, owner="b", ttl=timedelta(seconds=30), now=self.clock()
            )
        await super().admit(user_id)


def test_a_lease_lost_during_a_refusal_records_the_outcome_and_feeds_nothing(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = LeaseStealingMeeting(factory=factory, clock=clock)
    runtime = _runtime(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "start", MeetingStarted())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    with pytest.raises(LeaseLost):
        asyncio.run(runtime.process_journal())
    log = _log(factory)
    assert [(kind, status) for _, kind, status in log] == [("admit", "refused")]
    assert meeting.lines() == []


def test_refusal_event_reports_what_the_engine_should_hear():
    anna = Target(key="k-anna", user_id="u1", name="Anna")

    def failed(action: MeetingAction, code: str = "not_privileged") -> ActionOutcome:
        return ActionOutcome(action=action, ok=False, code=code, error="no")

    assert refusal_event(failed(Mute(target=anna))) == ActionRefused(
        kind="mute", target_key="k-anna", target_name="Anna", code="not_privileged"
    )
    assert refusal_event(failed(StopRecording(started_by=anna), "zoom_error")) == ActionRefused(
        kind="stop_recording", code="zoom_error"
    )
    assert refusal_event(failed(AllowSelfMedia(unmute=False, video=None))) == ActionRefused(
        kind="allow_self_media", code="not_privileged"
    )
    assert refusal_event(failed(Mute(target=anna), "not_executed")) is None
    chat = SendChat(to=Audience.EVERYONE, text="hello")
    assert refusal_event(failed(chat)) is None
    assert refusal_event(ActionOutcome(action=Mute(target=anna), ok=True)) is None
