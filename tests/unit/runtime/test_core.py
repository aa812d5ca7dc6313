"""`SessionRunner`: the engine's actions carried out through the port, wake-ups tracked."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.runtime.core import SessionRunner, Step
from phases.actions import Admit, SendChat
from phases.agenda import Agenda
from phases.events import Event, TimerDue, ZoomRole
from phases.roster import RosterEntry
from phases.state import Phase

START = datetime(2026, 12, 2, 19, 0, tzinfo=ZoneInfo("America/Toronto"))
ROSTER = (RosterEntry(display_name="Helen", role="facilitator"), RosterEntry(display_name="Anna"))


def make(bot_role: ZoomRole = ZoomRole.HOST) -> tuple[SessionRunner, SimulatedMeeting, list[Event]]:
    now = {"t": START - timedelta(minutes=15)}
    meeting = SimulatedMeeting(MeetingOptions(bot_role=bot_role), clock=lambda: now["t"])
    inbox: list[Event] = []

    async def listen(event: Event) -> None:
        inbox.append(event)

    meeting.set_listener(listen)
    runner, wakeups = SessionRunner.start(
        agenda=Agenda(), roster=ROSTER, scheduled_start=START, control=meeting
    )
    assert wakeups and runner.pending_wakeups == {w.timer: w.at for w in wakeups}
    return runner, meeting, inbox


async def drain(runner: SessionRunner, inbox: list[Event], now: datetime) -> list[Step]:
    steps = []
    while inbox:
        steps.append(await runner.feed(inbox.pop(0), now))
    return steps


def test_start_arms_the_initial_wakeups_and_next_wakeup_is_the_earliest():
    runner, _, _ = make()
    timer, at = runner.next_wakeup() or ("", START)
    assert at == min(runner.pending_wakeups.values())
    assert runner.pending_wakeups[timer] == at
    assert runner.state.phase is Phase.SOCIAL


def test_a_timer_due_is_removed_and_phase_changes_are_reported():
    async def main() -> None:
        runner, meeting, inbox = make()
        await meeting.start()
        await drain(runner, inbox, START - timedelta(minutes=15))
        step = await runner.feed(TimerDue(timer="meditation_start"), START)
        assert "meditation_start" not in runner.pending_wakeups
        assert [(t.from_phase, t.to_phase) for t in step.transitions] == [("social", "meditation")]
        assert runner.state.phase is Phase.MEDITATION
        # The meditation line went out through the meeting, once, as a carried-out action.
        sent = [o for o in step.outcomes if isinstance(o.action, SendChat)]
        assert sent and all(o.ok for o in sent)
        assert any(line.to == "everyone" for line in meeting.chat_log)

    asyncio.run(main())


def test_meeting_actions_are_executed_and_refusals_returned_not_raised():
    async def main() -> None:
        runner, meeting, inbox = make(bot_role=ZoomRole.ATTENDEE)
        await meeting.start()
        await drain(runner, inbox, START - timedelta(minutes=15))
        await meeting.person_joins("Anna")
        steps = await drain(runner, inbox, START - timedelta(minutes=10))
        outcomes = [o for s in steps for o in s.outcomes]
        admit = [o for o in outcomes if isinstance(o.action, Admit)]
        assert len(admit) == 1 and not admit[0].ok and admit[0].code == "not_privileged"
        assert meeting.where_is("Anna") == "waiting"

    asyncio.run(main())


def test_an_admission_the_runner_executes_comes_back_as_a_joined_event():
    async def main() -> None:
        runner, meeting, inbox = make()
        await meeting.start()
        await drain(runner, inbox, START - timedelta(minutes=15))
        await meeting.person_joins("Anna")
        steps = await drain(runner, inbox, START - timedelta(minutes=10))
        assert meeting.where_is("Anna") == "meeting"
        assert any(isinstance(o.action, Admit) and o.ok for s in steps for o in s.outcomes)
        assert runner.state.to_json()  # the state stays serialisable throughout

    asyncio.run(main())
