"""The durable runtime reports the successes the engine asked to hear about (`confirm`) back to
it as `ActionDone`, once: the bot's welcome follows Zoom's admissions, never precedes them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.meeting.executor import ActionOutcome
from bot.runtime.durable import DONE_CAUSE, confirmation_event
from phases.actions import Admit, Mute, StopRecording, StopVideo, Target
from phases.events import ActionDone, ArrivedInWaitingRoom, Joined, MeetingStarted, ZoomRole
from phases.messages import DEFAULT_MESSAGES
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks
from tests.unit.runtime.test_durable_refusals import ANNA, FAY, _log, _post, _runtime

WELCOME = DEFAULT_MESSAGES["welcome_after_meditation"].format(names="Anna")


@dataclass
class HostMeeting(RecordingMeeting):
    """The bot is host: Zoom carries out what it asks."""

    def lines(self) -> list[str]:
        return [arg.split(":", 2)[-1] for what, arg in self.calls if what == "chat"]


def test_the_welcome_is_said_after_zoom_admitted_and_only_once(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=14))
    meeting = HostMeeting()
    runtime = _runtime(factory, hooks, clock, meeting)  # type: ignore[arg-type]
    _post(factory, hooks, clock, "start", MeetingStarted())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(runtime.process_journal())
    clock.now = START + timedelta(minutes=3)
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(runtime.process_journal())
    assert WELCOME not in meeting.lines()
    clock.now = START + timedelta(minutes=10)
    asyncio.run(runtime.fire_due_timers())
    calls = [what for what, _ in meeting.calls]
    admitted_at = max(i for i, what in enumerate(calls) if what == "admit")
    said_at = [
        i for i, (what, arg) in enumerate(meeting.calls) if what == "chat" and WELCOME in arg
    ]
    assert len(said_at) == 1 and said_at[0] > admitted_at
    done = [(key, kind) for key, kind, _ in _log(factory) if key.startswith(DONE_CAUSE)]
    assert [kind for _, kind in done] == ["send_chat"]
    # A restart repeats nothing.
    again = _runtime(factory, hooks, clock, meeting)  # type: ignore[arg-type]
    asyncio.run(again.fire_due_timers())
    asyncio.run(again.process_journal())
    assert meeting.lines().count(WELCOME) == 1


def test_confirmation_event_reports_only_what_the_engine_asked_for():
    anna = Target(key="k-anna", user_id="u1", name="Anna")

    def ok(action: Admit | Mute | StopVideo | StopRecording) -> ActionOutcome:
        return ActionOutcome(action=action, ok=True)

    assert confirmation_event(ok(Admit(target=anna, confirm=True))) == ActionDone(
        kind="admit", target_key="k-anna", target_name="Anna"
    )
    assert confirmation_event(ok(StopVideo(target=anna, confirm=True))) == ActionDone(
        kind="stop_video", target_key="k-anna", target_name="Anna"
    )
    assert confirmation_event(ok(StopRecording(started_by=anna, confirm=True))) == ActionDone(
        kind="stop_recording"
    )
    assert confirmation_event(ok(Admit(target=anna))) is None  # not asked for
    refused = ActionOutcome(action=Mute(target=anna, confirm=True), ok=False, code="not_privileged")
    assert confirmation_event(refused) is None
