"""Runs a scenario: the simulated meeting plays the people, the engine plays the bot.

The driver owns a `VirtualClock`, a `SimulatedMeeting` and a `SessionRunner`. It jumps the
clock to the next moment of interest (the room opening, a scenario event, or the earliest
wake-up the engine asked for), and at that moment, in this order:

1. opens the room (`meeting.start()`: `MeetingStarted`, the bot joins, early arrivals enter);
2. fires every wake-up that is due (`TimerDue`);
3. plays every scenario event that is due, in file order.

After each of these, the events the meeting reported to its listener (the SDK callback path)
are fed to the runner one by one, and whatever the bot's actions cause (an admission makes
someone join) is fed in turn, until the meeting is quiet. When the story is over and the
engine has ended the session or has nothing left to wake up for, the host ends the meeting
if nobody did. A run that does not settle (more than `MAX_STEPS` events, or 24 hours of
virtual time) stops with `SimulationError` instead of spinning.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.meeting import zoom_wire as wire
from bot.meeting.executor import action_kind
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.runtime.core import SessionRunner, Step
from bot.simulation.clock import VirtualClock
from bot.simulation.play import action_fields, play
from bot.simulation.scenario import Scenario, ScenarioEvent
from bot.simulation.timeline import Timeline, attendance_records
from phases.actions import (
    PhaseChanged,
    ScheduleWakeup,
)
from phases.errors import BalintError
from phases.events import Event, TimerDue
from phases.state import Phase

__all__ = ["MAX_STEPS", "SimulationError", "SimulationResult", "run_scenario"]

_log = logging.getLogger(__name__)

#: Most engine steps one run may take before it is declared stuck.
MAX_STEPS = 100_000
_HORIZON = timedelta(hours=24)


class SimulationError(BalintError):
    """A run did not settle (the engine kept itself busy forever)."""


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """What a run produced: the timeline, the meeting and the runner, for inspection."""

    timeline: Timeline
    meeting: SimulatedMeeting
    runner: SessionRunner


async def run_scenario(
    scenario: Scenario,
    *,
    webhook_sink: Callable[[wire.Webhook], Awaitable[None]] | None = None,
    meeting_options: MeetingOptions | None = None,
) -> SimulationResult:
    """Run `scenario` to the end on a virtual clock.

    Args:
        scenario: a validated scenario.
        webhook_sink: also receives every webhook (e.g. a `WebhookDelivery` sink).
        meeting_options: overrides the meeting settings derived from the scenario.

    Raises:
        SimulationError: the run did not settle.
    """
    return await _Run(scenario, webhook_sink, meeting_options).run()


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        webhook_sink: Callable[[wire.Webhook], Awaitable[None]] | None,
        meeting_options: MeetingOptions | None,
    ) -> None:
        self.scenario = scenario
        first_event = min((scenario.start + e.at for e in scenario.events), default=None)
        begin = scenario.opens_at if first_event is None else min(scenario.opens_at, first_event)
        self.clock = VirtualClock(begin)
        options = meeting_options or MeetingOptions(
            bot_name=scenario.agenda.bot_name,
            bot_role=scenario.bot_role,
            mute_on_entry=scenario.mute_on_entry,
            video_on_entry=scenario.video_on_entry,
            identity=wire.MeetingIdentity(
                start_time=scenario.opens_at,
                duration=scenario.agenda.length_minutes,
            ),
        )
        self.meeting = SimulatedMeeting(options, clock=self.clock.now)
        self.timeline = Timeline(scenario.start)
        self.inbox: deque[Event] = deque()
        self.zoom_pending: list[dict[str, Any]] = []
        self.extra_sink = webhook_sink
        self.steps = 0
        self.meeting.set_listener(self._listen)
        self.meeting.set_webhook_sink(self._on_webhook)
        self.runner, _ = SessionRunner.start(
            agenda=scenario.agenda,
            roster=scenario.roster(),
            scheduled_start=scenario.start,
            control=self.meeting,
            messages=scenario.messages,
        )

    async def _listen(self, event: Event) -> None:
        self.inbox.append(event)

    async def _on_webhook(self, webhook: wire.Webhook) -> None:
        record: dict[str, Any] = {"t": self.timeline.offset(self.clock.now()), "kind": "zoom"}
        record["event"] = webhook.event
        if webhook.name:
            record["name"] = webhook.name
        self.zoom_pending.append(record)
        if self.extra_sink is not None:
            await self.extra_sink(webhook)

    def _flush_zoom(self) -> None:
        self.timeline.records.extend(self.zoom_pending)
        self.zoom_pending.clear()

    async def run(self) -> SimulationResult:
        events = deque(self.scenario.events)
        opened = False
        limit = self.scenario.start + _HORIZON
        while True:
            candidates: list[datetime] = []
            if not opened:
                candidates.append(self.scenario.opens_at)
            if events:
                candidates.append(self.scenario.start + events[0].at)
            wakeup = self.runner.next_wakeup()
            if wakeup is not None and (events or self.runner.state.phase != Phase.ENDED):
                candidates.append(wakeup[1])
            if not candidates:
                break
            now = max(min(candidates), self.clock.now())
            if now > limit:
                raise SimulationError(
                    f"the session did not settle within {_HORIZON} of the start "
                    f"(phase {self.runner.state.phase}, "
                    f"wake-ups {sorted(self.runner.pending_wakeups)})"
                )
            self.clock.advance_to(now)
            if not opened and self.scenario.opens_at <= now:
                opened = True
                await self.meeting.start()
                self._flush_zoom()
                await self._settle()
            while (due := self.runner.next_wakeup()) is not None and due[1] <= now:
                await self._feed(TimerDue(timer=due[0]))
                await self._settle()
            while events and self.scenario.start + events[0].at <= now:
                await self._play(events.popleft())
                await self._settle()
        if self.meeting.running:
            await self.meeting.end()
            self._flush_zoom()
            await self._settle()
        self._finish()
        return SimulationResult(self.timeline, self.meeting, self.runner)

    async def _settle(self) -> None:
        while self.inbox:
            await self._feed(self.inbox.popleft())
        self._flush_zoom()

    async def _feed(self, event: Event) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise SimulationError(f"more than {MAX_STEPS} engine steps: the run does not settle")
        now = self.clock.now()
        step = await self.runner.feed(event, now)
        self._record_step(step, now)
        self._flush_zoom()

    def _record_step(self, step: Step, now: datetime) -> None:
        outcomes = iter(step.outcomes)
        for action in step.actions:
            if isinstance(action, ScheduleWakeup):
                continue
            if isinstance(action, PhaseChanged):
                self.timeline.add(
                    now, "phase", **{"from": action.from_phase, "to": action.to_phase}
                )
                continue
            outcome = next(outcomes)
            fields = action_fields(
                outcome.action, kind=action_kind(action), ok=outcome.ok, error=outcome.code
            )
            self.timeline.add(now, "action", **fields)

    async def _play(self, event: ScenarioEvent) -> None:
        fields = await play(self.meeting, self.scenario, event)
        self.timeline.add(self.clock.now(), "person", **fields)
        self._flush_zoom()

    def _finish(self) -> None:
        scenario = self.scenario
        end = self.clock.now()
        for record in attendance_records(
            self.meeting.presence,
            persons=[(p.name, p.role) for p in scenario.persons],
            start=scenario.start,
            end=end,
        ):
            self.timeline.records.append(record)
        actions = self.timeline.of_kind("action")
        phases = [r["to"] for r in self.timeline.of_kind("phase")]
        self.timeline.add_untimed(
            "summary",
            final_phase=str(self.runner.state.phase),
            phases=phases,
            actions=len(actions),
            refused=sum(1 for a in actions if not a["ok"]),
            webhooks=len(self.meeting.webhooks),
            attended=sum(1 for r in self.timeline.of_kind("attendance") if r["minutes"] > 0),
            ended_at=self.timeline.offset(end),
        )
