"""What the live page shows, computed from the engine's stored state: pure, no I/O.

`live_view(state, now=..., arrivals=...)` reads a `SessionState` (as the runtime saved it)
and the waiting-room arrival times (from the presence the journal recorded) and returns the
page's content: the phase and its clock, the next warning and nudge, the case and presenter,
the mirror, who waits and why, and the roster against who is here. It decides nothing: the
engine does. The "why" of each person waiting restates the engine's policy in words: its
doubt about who they are first (`phases.engine.doubt`: not on the roster, a name that fits
several, a phone caller, inactive, not enrolled in the module, by name only, a second person
with the same name), then the meditation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from phases.engine import as_participant, doubt, wakeups
from phases.identity import resolve
from phases.state import Person, Phase, SessionState

__all__ = ["LiveView", "PresentRow", "RosterRow", "WaitingRow", "live_view", "why_waiting"]

_LABELS = {
    Phase.SOCIAL: "Social (room open)",
    Phase.MEDITATION: "Meditation",
    Phase.CASE_CALL: "Case call",
    Phase.PRESENTATION: "Presentation",
    Phase.QUESTIONS: "Questions",
    Phase.DISCUSSION: "Discussion (one-way mirror)",
    Phase.RETURN: "Return",
    Phase.CLOSING: "Closing",
    Phase.REFLECTION: "Reflection",
    Phase.ENDED: "Ended",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingRow:
    """Someone in the waiting room: since when, and why they wait."""

    key: str
    name: str
    roster_name: str
    since: datetime | None
    why: str
    facilitator: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PresentRow:
    """Someone in the meeting proper."""

    key: str
    name: str
    roster_name: str
    role: str
    facilitator: bool
    presenter: bool
    muted: bool
    video: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RosterRow:
    """A roster entry against the meeting: here, waiting, left, or missing."""

    name: str
    role: str
    status: str
    shown_as: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveView:
    """Everything the live page shows (see the module docstring)."""

    phase: str
    phase_label: str
    phase_since: datetime
    phase_minutes: int
    ends_at: datetime
    minutes_left: int
    paused: bool
    ended: bool
    next_warning: datetime | None
    next_warning_minutes: int | None
    next_nudge: datetime | None
    presenter: str
    cases: int
    max_cases: int
    mirror_on: bool
    mirror_phase: bool
    presenter_muted: bool | None
    presenter_video: bool | None
    waiting: tuple[WaitingRow, ...]
    present: tuple[PresentRow, ...]
    roster: tuple[RosterRow, ...]
    missing: int
    can_extend: bool
    can_reflect: bool
    can_name_case: bool
    reflection_minutes: int


def _minutes(seconds: float) -> int:
    return max(0, math.ceil(seconds / 60))


def why_waiting(state: SessionState, person: Person) -> str:
    """Why the engine keeps `person` in the waiting room, in the facilitators' words: the
    engine's own doubt about who they are (`phases.engine.doubt`), else its policy."""
    if person.key in state.held:
        return "held by a facilitator: stays until admitted"
    if person.is_facilitator:
        return "facilitator: being let in"
    if f"refused_admit:{person.key}" in state.said:
        return "Zoom refused the bot's admission: admit by hand in Zoom"
    reason = doubt(state, person)
    if reason:
        return _doubt_words(state, person, reason)
    if state.phase is Phase.REFLECTION and person.kind == "guest":
        return "the reflection is for the group's members: admit by hand if you wish"
    if person.key in state.approved:
        return "admitted by a facilitator: being let in"
    back = person.key in state.was_in  # dropped and came back: let in at once
    if state.phase is Phase.MEDITATION and state.setup.agenda.hold_during_meditation and not back:
        end = state.meditation_ends_at or state.setup.meditation_end
        return f"meditation: let in at {_clock(state, end)}"
    if state.phase is Phase.ENDED:
        return "the session has ended"
    return "roster member: being let in"


def _doubt_words(state: SessionState, person: Person, reason: str) -> str:
    """`phases.engine.doubt`'s reason as the page says it, with the likely roster match."""
    roster = person.roster_name
    if reason in ("unknown", "ambiguous", "phone"):
        found = resolve(state.setup.roster, as_participant(person))
        names = ", ".join(entry.display_name for entry in found.likely)
        if reason == "ambiguous":
            return f"name fits several on the roster ({names})"
        hint = f" (perhaps {names}?)" if names else ""
        if reason == "phone":
            return f"phone caller: cannot tell who it is{hint}; admit with /admit … as NAME"
        return f"not on the roster{hint}"
    return {
        "inactive": f"no longer on the roster ({roster}, missing from the last import)",
        "not_enrolled": f"{roster} is not enrolled in this module",
        "name_only": f"looks like {roster} by name only: this group admits by name only by hand",
        "duplicate": f"someone showing as {roster} is already here",
    }.get(reason, reason)


def _clock(state: SessionState, moment: datetime) -> str:
    return moment.astimezone(state.setup.scheduled_start.tzinfo).strftime("%H:%M")


def live_view(state: SessionState, *, now: datetime, arrivals: Mapping[str, datetime]) -> LiveView:
    """The live page's content for `state` at `now`.

    Args:
        state: the engine state the runtime stored.
        now: the service's current time.
        arrivals: participant key -> when they last entered the waiting room.
    """
    agenda = state.setup.agenda
    ends_at = state.group_end
    if state.phase is Phase.REFLECTION and state.reflection_ends_at is not None:
        ends_at = state.reflection_ends_at
    ahead = wakeups(state) if state.phase is not Phase.ENDED else []
    warning = next((w for w in ahead if w.timer.startswith("warning_") and w.at > now), None)
    nudge = next((w for w in ahead if w.timer.startswith("budget_") and w.at > now), None)
    presenter = state.people.get(state.presenter) if state.presenter else None
    people = sorted(state.people.values(), key=lambda p: (p.seq, p.name))
    waiting = tuple(
        WaitingRow(
            key=p.key,
            name=p.name,
            roster_name=p.roster_name,
            since=arrivals.get(p.key),
            why=why_waiting(state, p),
            facilitator=p.is_facilitator,
        )
        for p in state.waiting()
    )
    present = tuple(
        PresentRow(
            key=p.key,
            name=p.name,
            roster_name=p.roster_name,
            role="facilitator" if p.is_facilitator else p.kind,
            facilitator=p.is_facilitator,
            presenter=p.key == state.presenter,
            muted=p.muted,
            video=p.video,
        )
        for p in people
        if p.where == "meeting"
    )
    roster_rows = []
    for entry in state.setup.roster:
        seen = [p for p in people if p.kind != "guest" and p.roster_name == entry.display_name]
        status = "missing"
        for where, label in (("meeting", "here"), ("waiting", "waiting"), ("gone", "left")):
            if any(p.where == where for p in seen):
                status = label
                break
        shown = next((p.name for p in seen if p.where != "gone"), seen[0].name if seen else "")
        roster_rows.append(
            RosterRow(name=entry.display_name, role=entry.role, status=status, shown_as=shown)
        )
    in_time = state.phase not in (Phase.CLOSING, Phase.REFLECTION, Phase.ENDED)
    return LiveView(
        phase=state.phase.value,
        phase_label=_LABELS[state.phase],
        phase_since=state.phase_since,
        phase_minutes=max(0, int((now - state.phase_since).total_seconds() // 60)),
        ends_at=ends_at,
        minutes_left=_minutes((ends_at - now).total_seconds()),
        paused=state.paused,
        ended=state.phase is Phase.ENDED,
        next_warning=warning.at if warning is not None else None,
        next_warning_minutes=int(warning.timer.removeprefix("warning_")) if warning else None,
        next_nudge=nudge.at if nudge is not None else None,
        presenter=(presenter.roster_name or presenter.name) if presenter is not None else "",
        cases=state.cases,
        max_cases=agenda.max_cases,
        mirror_on=state.mirror_on,
        mirror_phase=state.phase is Phase.DISCUSSION,
        presenter_muted=presenter.muted if presenter is not None else None,
        presenter_video=presenter.video if presenter is not None else None,
        waiting=waiting,
        present=present,
        roster=tuple(roster_rows),
        missing=sum(1 for row in roster_rows if row.status == "missing"),
        can_extend=in_time,
        can_reflect=state.phase is Phase.CLOSING and agenda.reflection_minutes > 0,
        can_name_case=state.phase in (Phase.CASE_CALL, Phase.PRESENTATION, Phase.RETURN),
        reflection_minutes=agenda.reflection_minutes,
    )
