"""The in-process session runner: one engine state plus one meeting, stepped event by event.

`SessionRunner` is the smallest thing that makes the pure engine act: it feeds one event
into `phases.engine.handle`, carries out the meeting actions through the `MeetingControl`
port (via `bot.meeting.executor.execute`, so a Zoom refusal becomes a failed outcome and
never stops the other actions), and keeps the table of pending wake-ups the engine asked for.

It deliberately has no clock, no scheduler and no persistence: the caller passes `now`, fires
`TimerDue` for the wake-ups it reads from `pending_wakeups`, and stores `runner.state` if it
wants to. The simulator's driver uses it with a virtual clock; the durable runtime wraps it
with the database and APScheduler.

Refusals: a meeting action Zoom refused is reported back to the engine as `ActionRefused`
(see `refusal_event`) within the same `feed`, at the same `now`, so the engine can tell the
facilitators what they must do by hand. The actions that produces are carried out in the
same step, and their own refusals are not reported back again (no loops).

Re-entrancy: `feed` must not be called again while it is running. A meeting's listener may
fire while an action is executing (admitting someone makes them join); listeners should queue
such events and feed them after the current step returns, which keeps the engine's view of
time and order well defined.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.meeting.executor import ActionOutcome, action_kind, execute
from bot.meeting.port import MeetingControl
from phases.actions import (
    Action,
    AllowSelfMedia,
    PhaseChanged,
    ScheduleWakeup,
    SendChat,
    StopRecording,
)
from phases.agenda import Agenda
from phases.engine import handle, new_session
from phases.events import ActionRefused, Event, TimerDue
from phases.roster import RosterEntry
from phases.state import SessionState

__all__ = ["SessionRunner", "Step", "refusal_event"]

_log = logging.getLogger(__name__)


def refusal_event(outcome: ActionOutcome) -> ActionRefused | None:
    """The event that reports a failed outcome back to the engine, or None when there is
    nothing to report: a success, a refused chat line (reporting it by chat could loop), or
    observe-only mode's `not_executed` (nothing is carried out there by design)."""
    action = outcome.action
    if outcome.ok or outcome.code == "not_executed" or isinstance(action, SendChat):
        return None
    if isinstance(action, StopRecording | AllowSelfMedia):
        return ActionRefused(kind=action_kind(action), code=outcome.code)
    target = action.target
    return ActionRefused(
        kind=action_kind(action),
        target_key=target.key,
        target_name=target.name,
        code=outcome.code,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """What one `feed` did.

    Args:
        actions: every action the engine returned, in order.
        outcomes: one outcome per meeting action, in the order they were carried out.
        wakeups: the wake-ups the engine asked for in this step.
        transitions: the phase changes the engine recorded in this step.
    """

    actions: list[Action] = field(default_factory=list)
    outcomes: list[ActionOutcome] = field(default_factory=list)
    wakeups: list[ScheduleWakeup] = field(default_factory=list)
    transitions: list[PhaseChanged] = field(default_factory=list)


class SessionRunner:
    """Runs one session: engine state, meeting control and pending wake-ups.

    Args:
        state: the engine state to continue from (from `new_session` or `SessionState.from_json`).
        control: the meeting the actions are carried out in.
    """

    def __init__(self, state: SessionState, control: MeetingControl) -> None:
        self._state = state
        self._control = control
        self.pending_wakeups: dict[str, datetime] = {}

    @classmethod
    def start(
        cls,
        *,
        agenda: Agenda,
        roster: Sequence[RosterEntry],
        scheduled_start: datetime,
        control: MeetingControl,
        messages: Mapping[str, str] | None = None,
    ) -> tuple[SessionRunner, list[ScheduleWakeup]]:
        """Begin a new session with `new_session` and arm its initial wake-ups.

        Returns the runner and the initial wake-ups (also recorded in `pending_wakeups`).
        """
        state, actions = new_session(
            agenda=agenda,
            roster=tuple(roster),
            scheduled_start=scheduled_start,
            messages=messages,
        )
        runner = cls(state, control)
        wakeups = [a for a in actions if isinstance(a, ScheduleWakeup)]
        for wakeup in wakeups:
            runner.pending_wakeups[wakeup.timer] = wakeup.at
        return runner, wakeups

    @property
    def state(self) -> SessionState:
        """The engine state after the last step."""
        return self._state

    @property
    def control(self) -> MeetingControl:
        """The meeting this runner acts in."""
        return self._control

    def next_wakeup(self) -> tuple[str, datetime] | None:
        """The earliest pending wake-up as `(timer, at)`, or None when none is pending."""
        if not self.pending_wakeups:
            return None
        timer = min(self.pending_wakeups, key=lambda name: (self.pending_wakeups[name], name))
        return timer, self.pending_wakeups[timer]

    async def feed(self, event: Event, now: datetime) -> Step:
        """Handle one event at `now` and carry out the resulting actions.

        A `TimerDue` removes its timer from `pending_wakeups` before the engine sees it; a
        `ScheduleWakeup` (re-)arms its timer name. Meeting actions run in the engine's order.
        Each refused one is then fed back as `ActionRefused` (see the module docstring); what
        that produces is part of the same step.
        """
        if isinstance(event, TimerDue):
            self.pending_wakeups.pop(event.timer, None)
        before = self._state.phase
        self._state, actions = handle(self._state, event, now)
        step = Step()
        await self._carry_out(actions, step)
        refusals = [r for r in map(refusal_event, step.outcomes) if r is not None]
        for refusal in refusals:
            self._state, actions = handle(self._state, refusal, now)
            await self._carry_out(actions, step)
        if self._state.phase != before and not step.transitions:
            _log.info(
                "phase changed",
                extra={"old_phase": str(before), "new_phase": str(self._state.phase)},
            )
        return step

    async def _carry_out(self, actions: Sequence[Action], step: Step) -> None:
        """Arm wake-ups, record phase changes and execute meeting actions into `step`."""
        step.actions.extend(actions)
        for action in actions:
            if isinstance(action, ScheduleWakeup):
                self.pending_wakeups[action.timer] = action.at
                step.wakeups.append(action)
            elif isinstance(action, PhaseChanged):
                step.transitions.append(action)
                _log.info(
                    "phase changed",
                    extra={
                        "old_phase": action.from_phase,
                        "new_phase": action.to_phase,
                        "reason": action.reason,
                    },
                )
            else:
                outcome = await execute(action, self._control)
                if not outcome.ok:
                    # INFO, not WARNING: the refusal is returned in the step for the caller
                    # to act on; an unconfigured CLI (simulate) must not spill it on stderr.
                    _log.info(
                        "meeting action refused",
                        extra={"action": type(action).__name__, "code": outcome.code},
                    )
                step.outcomes.append(outcome)
