"""The phase table: what each phase allows and where `/next` leads, as data.

Theory of operation
-------------------
A session is a line of phases. Two kinds of force move it along:

* The clock, and only at fixed marks: at the scheduled start `social` becomes `meditation`
  (or `case_call` when there is no meditation); at the meditation's end `meditation` becomes
  `case_call` and everyone held is admitted; at the group's end the facilitators are told
  privately, and `overrun_grace_minutes` after it (start + length + every
  `/extend`) any phase before `closing` becomes `closing`; at the reflection's end
  `reflection` becomes `ended`. Warnings are posted at the configured marks before the end.
  Nothing else moves by itself: the facilitator leads the room.
* The facilitator, by command: `/next` follows `NEXT` below, `/case NAME` starts a
  presentation, `/end` closes, `/reflection` opens the reflection; `MeetingEnded` ends all.
  If Zoom ended the meeting before the group's end and it starts again (a host ending it by
  mistake), `MeetingStarted` picks up the phase it was in and the clock catches up.

Clock marks are not driven by the timers themselves. On every event, before anything else,
the engine "catches up": it compares `now` with the marks and makes every move that is due
(unless `/pause` is in force). Timers (`ScheduleWakeup` / `TimerDue`) are only doorbells
that make sure an event arrives when a mark passes. This is why a stale or early `TimerDue`,
or one for an unknown name, does nothing; why `/extend` only has to re-arm the doorbells;
why `/resume` makes whatever fell due during the pause happen at once; and why a session
created after its scheduled start (a late open, or a restart without saved state) lands in
the right phase on its first event: the catch-up walks it forward, posting only the line of
the phase it lands in (a warning whose mark has passed together with a later one is skipped
in favour of the latest; warnings are skipped entirely once the end has passed).

Admission policy per phase (`Rule.arrivals`):
  "admit" -> roster members (and people a facilitator approved) are admitted at once;
  "members" -> roster members only (the reflection is for the group's own members: a guest
             waits and the facilitators are told, even one a facilitator let in before);
  "hold"  -> non-facilitators wait (meditation, if `hold_during_meditation`);
  "none"  -> the bot admits nobody but facilitators (after the group is over).
Someone the bot cannot tell (not on the roster, a phone caller, an ambiguous or duplicate
name, a member no longer on the roster or not in the current module: `phases.identity` and
`phases.engine`) is never admitted by policy. Facilitators (by Zoom role, or by Zoom's own
evidence of a roster facilitator) are always admitted.

The presenter's one-way mirror applies exactly while the phase has `mirror=True`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from phases.agenda import Agenda
from phases.state import Phase

__all__ = ["BEFORE_CLOSING", "NEXT", "RULES", "Rule"]

Arrivals = Literal["admit", "members", "hold", "none"]


@dataclass(frozen=True, slots=True)
class Rule:
    """What a phase allows.

    Args:
        arrivals: admission policy (see the module docstring).
        budget: reads the phase's soft time budget (minutes) from the agenda, or None.
        case_allowed: `/case NAME` may start a presentation here.
        mirror: the presenter is behind the one-way mirror.
        entry_line: the catalogue key posted to everyone on entering, or "".
    """

    arrivals: Arrivals
    budget: Callable[[Agenda], int] | None = None
    case_allowed: bool = False
    mirror: bool = False
    entry_line: str = ""


RULES: Mapping[Phase, Rule] = {
    Phase.SOCIAL: Rule("admit"),
    Phase.MEDITATION: Rule("hold", entry_line="meditation_start"),
    Phase.CASE_CALL: Rule("admit", case_allowed=True, entry_line="case_call"),
    Phase.PRESENTATION: Rule(
        "admit",
        budget=lambda a: a.presentation_budget_minutes,
        case_allowed=True,
        entry_line="presentation_start",
    ),
    Phase.QUESTIONS: Rule(
        "admit", budget=lambda a: a.questions_budget_minutes, entry_line="questions_start"
    ),
    Phase.DISCUSSION: Rule(
        "admit",
        budget=lambda a: a.discussion_budget_minutes,
        mirror=True,
        entry_line="discussion_start",
    ),
    Phase.RETURN: Rule("admit", case_allowed=True, entry_line="return_start"),
    Phase.CLOSING: Rule("admit", entry_line="closing"),
    Phase.REFLECTION: Rule("members", entry_line="reflection_start"),
    Phase.ENDED: Rule("none"),
}

#: Where `/next` leads. `case_call` needs `/case NAME`; `return` leads to `case_call` only
#: while cases remain (the engine checks); `closing` leads to `reflection` only when the
#: agenda has one, else to `ended`.
NEXT: Mapping[Phase, Phase] = {
    Phase.SOCIAL: Phase.MEDITATION,
    Phase.MEDITATION: Phase.CASE_CALL,
    Phase.PRESENTATION: Phase.QUESTIONS,
    Phase.QUESTIONS: Phase.DISCUSSION,
    Phase.DISCUSSION: Phase.RETURN,
    Phase.RETURN: Phase.CASE_CALL,
    Phase.CLOSING: Phase.REFLECTION,
    Phase.REFLECTION: Phase.ENDED,
}

#: Phases the group's end moves to `closing`.
BEFORE_CLOSING: frozenset[Phase] = frozenset(
    {
        Phase.SOCIAL,
        Phase.MEDITATION,
        Phase.CASE_CALL,
        Phase.PRESENTATION,
        Phase.QUESTIONS,
        Phase.DISCUSSION,
        Phase.RETURN,
    }
)
