"""`SessionRunner` reports Zoom's refusals back to the engine within the same step."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.meeting.executor import ActionOutcome, MeetingAction
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.runtime.core import SessionRunner, Step, refusal_event
from phases.actions import (
    Admit,
    AllowSelfMedia,
    Audience,
    Mute,
    SendChat,
    StopRecording,
    Target,
)
from phases.agenda import Agenda
from phases.events import ActionRefused, Event, ZoomRole
from phases.messages import DEFAULT_MESSAGES
from phases.roster import RosterEntry

START = datetime(2026, 12, 2, 19, 0, tzinfo=ZoneInfo("America/Toronto"))
ROSTER = (RosterEntry(display_name="Helen", role="facilitator"), RosterEntry(display_name="Anna"))
NOT_HOST = DEFAULT_MESSAGES["reason_not_privileged"]
ANNA_LINE = DEFAULT_MESSAGES["refused_admit"].format(name="Anna", reason=NOT_HOST)


async def drain(runner: SessionRunner, inbox: list[Event], now: datetime) -> list[Step]:
    steps = []
    while inbox:
        steps.append(await runner.feed(inbox.pop(0), now))
    return steps


def test_an_attendee_bot_tells_the_facilitator_it_could_not_admit_anna_once():
    async def main() -> None:
        now = START - timedelta(minutes=15)
        meeting = SimulatedMeeting(MeetingOptions(bot_role=ZoomRole.ATTENDEE), clock=lambda: now)
        inbox: list[Event] = []

        async def listen(event: Event) -> None:
            inbox.append(event)

        meeting.set_listener(listen)
        runner, _ = SessionRunner.start(
            agenda=Agenda(), roster=ROSTER, scheduled_start=START, control=meeting
        )
        await meeting.start()
        await meeting.person_joins("Helen", role=ZoomRole.HOST)
        await drain(runner, inbox, now)
        await meeting.person_joins("Anna")
        steps = await drain(runner, inbox, now)

        [step] = [s for s in steps if any(isinstance(o.action, Admit) for o in s.outcomes)]
        kinds = [(type(o.action).__name__, o.ok, o.code) for o in step.outcomes]
        assert kinds == [("Admit", False, "not_privileged"), ("SendChat", True, "")]
        [line] = [a for a in step.actions if isinstance(a, SendChat)]
        assert line.to is Audience.FACILITATORS and line.text == ANNA_LINE
        assert [t.name for t in line.recipients] == ["Helen"]
        assert [(c.to, c.text) for c in meeting.chat_log] == [("Helen", ANNA_LINE)]
        assert [p.name for p in runner.state.waiting()] == ["Anna"]

        # Retrying by command is refused again, and the facilitator is not told twice.
        await meeting.person_says("Helen", "/admit Anna")
        retry = await drain(runner, inbox, now)
        outcomes = [o for s in retry for o in s.outcomes]
        assert [(type(o.action).__name__, o.ok) for o in outcomes] == [("Admit", False)]
        assert [c.text for c in meeting.chat_log].count(ANNA_LINE) == 1

    asyncio.run(main())


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
