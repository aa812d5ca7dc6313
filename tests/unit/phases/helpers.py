"""Plain builders for engine tests: a clock, people, and a session driven one event at a time.

`Sim.feed` checks the JSON round trip after every step, so every table test also checks that
the state survives a restart at that point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

from phases.actions import Action, Audience, PhaseChanged, SendChat
from phases.agenda import Agenda
from phases.engine import handle, new_session
from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Event,
    Joined,
    Participant,
    TimerDue,
    ZoomRole,
)
from phases.messages import DEFAULT_MESSAGES, Messages
from phases.roster import RosterEntry
from phases.state import Phase, SessionState

T0 = datetime(2026, 12, 2, 19, 0, tzinfo=timezone(timedelta(hours=-5)))

ROSTER = (
    RosterEntry(display_name="Ana", email="ana@example.org", first_name="Ana", last_name="Lopez"),
    RosterEntry(display_name="Ben", registrant_id="reg-ben"),
    RosterEntry(display_name="Chloé"),
    RosterEntry(display_name="Dev"),
    RosterEntry(
        display_name="Mira",
        role="facilitator",
        first_name="Mira",
        last_name="Keller",
        registrant_id="reg-mira",
    ),
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def person(
    name: str, key: str | None = None, user_id: str | None = None, **extra: str | bool
) -> Participant:
    key = key or f"k-{name.split()[0].lower()}"
    return Participant(key=key, user_id=user_id or f"u-{key}", name=name, **extra)


def line(key: str, **values: object) -> str:
    """A catalogue line; placeholders not given are blank, as in the meeting."""
    assert key in DEFAULT_MESSAGES, key
    return Messages().text(key, **values)


def chats(actions: Sequence[Action], to: Audience | None = None) -> list[str]:
    return [a.text for a in actions if isinstance(a, SendChat) and (to is None or a.to == to)]


def kinds(actions: Sequence[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def transitions(actions: Sequence[Action]) -> list[tuple[str, str]]:
    return [(a.from_phase, a.to_phase) for a in actions if isinstance(a, PhaseChanged)]


class Sim:
    """One session under test, fed events with explicit times (minutes from the start)."""

    def __init__(
        self,
        agenda: Agenda | None = None,
        roster: Sequence[RosterEntry] = ROSTER,
        messages: Mapping[str, str] | None = None,
    ) -> None:
        self.state, self.initial = new_session(
            agenda=agenda or Agenda(), roster=roster, scheduled_start=T0, messages=messages
        )

    @property
    def phase(self) -> Phase:
        return self.state.phase

    def feed(self, event: Event, minute: float) -> list[Action]:
        self.state, actions = handle(self.state, event, at(minute))
        text = self.state.to_json()
        again = SessionState.from_json(text)
        assert again == self.state
        assert again.to_json() == text
        return actions

    def enter(
        self, name: str, minute: float, role: ZoomRole = ZoomRole.ATTENDEE, **kw: str | bool
    ) -> list[Action]:
        """Arrive in the waiting room and (as if admitted) join; returns both steps' actions."""
        who = person(name, **kw)
        first = self.feed(ArrivedInWaitingRoom(participant=who), minute)
        return first + self.feed(Joined(participant=who, role=role), minute)

    def say(self, name: str, text: str, minute: float, **kw: str | bool) -> list[Action]:
        return self.feed(ChatMessage(sender=person(name, **kw), text=text), minute)


def with_facilitator(agenda: Agenda | None = None, minute: float = -14) -> Sim:
    sim = Sim(agenda)
    sim.enter("Mira", minute, role=ZoomRole.HOST)
    return sim


def to_phase(target: Phase, agenda: Agenda | None = None, presenter: str = "Ana") -> Sim:
    """A session with Mira (host) and `presenter` present, walked to `target` by commands."""
    sim = with_facilitator(agenda)
    sim.enter(presenter, -10)
    sim.enter("Ben", -9)
    if target is Phase.SOCIAL:
        return sim
    minute = 0.0
    route = {
        Phase.MEDITATION: [],
        Phase.CASE_CALL: ["/next"],
        Phase.PRESENTATION: ["/next", f"/case {presenter}"],
        Phase.QUESTIONS: ["/next", f"/case {presenter}", "/next"],
        Phase.DISCUSSION: ["/next", f"/case {presenter}", "/next", "/next"],
        Phase.RETURN: ["/next", f"/case {presenter}", "/next", "/next", "/next"],
        Phase.CLOSING: ["/end"],
        Phase.REFLECTION: ["/end", "/reflection"],
        Phase.ENDED: ["/end", "/end"],
    }[target]
    sim.feed(TimerDue(timer="meditation_start"), minute)
    for command in route:
        minute += 1
        sim.say("Mira", command, minute)
    assert sim.phase is target, (sim.phase, target)
    return sim
