"""Benchmark of the phase engine: events handled per second over a realistic session.

`python -m bench.engine [--rounds N] [--seed S]` builds one full evening (12 members and two
facilitators drifting in during the social time and the meditation, a guest in the waiting
room, people dropping out and back, mute and video toggles all along, chat lines and
commands, two cases, the timers of a 105-minute group and its reflection), then replays it
through `handle` on one core, starting from `new_session` each round. It prints the engine's
events per second next to two baselines measured in the same run over the same events: a
no-op loop (the floor: what iterating and calling costs) and a JSON round trip of the state
(what persisting the state after every event would cost), with the ratios.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from phases.agenda import Agenda
from phases.engine import handle, new_session
from phases.events import (
    ArrivedInWaitingRoom,
    AudioMuted,
    AudioUnmuted,
    ChatMessage,
    Event,
    Joined,
    Left,
    MeetingEnded,
    MeetingStarted,
    Participant,
    TimerDue,
    VideoOff,
    VideoOn,
    ZoomRole,
)
from phases.roster import RosterEntry
from phases.state import SessionState

__all__ = ["build_session", "main", "measure"]

START = datetime(2026, 12, 2, 19, 0, tzinfo=timezone(timedelta(hours=-5)))
MEMBERS = ("Ana", "Ben", "Chloé", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea")
FACILITATORS = ("Mira", "Noor")

Timeline = list[tuple[Event, datetime]]


def build_session(seed: int = 7) -> tuple[Agenda, tuple[RosterEntry, ...], Timeline]:
    """One realistic evening as (agenda, roster, time-ordered events)."""
    rng = random.Random(seed)
    agenda = Agenda()
    roster = tuple(
        RosterEntry(display_name=name, first_name=name, last_name="Lastname") for name in MEMBERS
    ) + tuple(
        RosterEntry(display_name=name, role="facilitator", registrant_id=f"reg-{name}")
        for name in FACILITATORS
    )
    joins = 0

    def person(name: str) -> Participant:
        reg = f"reg-{name}" if name in FACILITATORS else ""
        return Participant(
            key=f"k-{name}", user_id=f"u-{name}-{joins}", name=name, registrant_id=reg
        )

    timed: list[tuple[float, int, Event]] = []  # (minute, order, event)

    def at(minute: float, event: Event) -> None:
        timed.append((minute, len(timed), event))

    at(-15, MeetingStarted())
    lead = FACILITATORS[0]
    at(-14, Joined(participant=person(lead), role=ZoomRole.HOST))
    at(-6, ArrivedInWaitingRoom(participant=person(FACILITATORS[1])))
    at(-5.9, Joined(participant=person(FACILITATORS[1]), role=ZoomRole.ATTENDEE))
    at(
        -4,
        ArrivedInWaitingRoom(participant=Participant(key="k-guest", user_id="u-g", name="Visitor")),
    )
    for name in MEMBERS:
        arrive = rng.uniform(-13, 14)
        shown = name if rng.random() < 0.8 else f"{name} Lastname"
        joins += 1
        who = Participant(key=f"k-{name}", user_id=f"u-{name}-{joins}", name=shown)
        at(arrive, ArrivedInWaitingRoom(participant=who))
        admitted = arrive + 0.05 if not 0 <= arrive < 10 else 10.05
        at(admitted, Joined(participant=who))
        minute = admitted + 1
        while minute < 104:
            roll = rng.random()
            if roll < 0.4:
                at(minute, AudioUnmuted(participant=who))
                at(minute + rng.uniform(0.2, 3), AudioMuted(participant=who))
            elif roll < 0.7:
                at(minute, VideoOff(participant=who))
                at(minute + rng.uniform(0.2, 3), VideoOn(participant=who))
            elif roll < 0.9:
                at(minute, ChatMessage(sender=who, text="thank you", message_id=f"m{len(timed)}"))
            elif roll < 0.93:
                at(minute, Left(participant=who))
                joins += 1
                who = Participant(key=who.key, user_id=f"u-{name}-{joins}", name=shown)
                at(minute + 0.5, ArrivedInWaitingRoom(participant=who))
                at(minute + 0.55, Joined(participant=who))
            minute += rng.uniform(1, 4)
    host = person(lead)
    commands = [
        (12, f"/case {MEMBERS[0]}"),
        (24, "/next"),
        (36, "/next"),
        (60, "/next"),
        (61, "/status"),
        (64, "/next"),
        (66, f"/case {MEMBERS[1]}"),
        (72, "/next"),
        (80, "/next"),
        (95, "/next"),
        (100, "/extend 5"),
        (111, "/reflection"),
    ]
    for minute, text in commands:
        at(minute, ChatMessage(sender=host, text=text, message_id=f"c{minute}"))
    for minute, timer in (
        (0, "meditation_start"),
        (10, "meditation_end"),
        (22, "budget_presentation"),
        (95, "warning_10"),
        (103, "warning_2"),
        (105, "group_end"),
        (110, "group_end"),
        (126, "reflection_end"),
    ):
        at(minute, TimerDue(timer=timer))
    at(127, MeetingEnded())
    timed.sort(key=lambda item: (item[0], item[1]))
    timeline = [(event, START + timedelta(minutes=minute)) for minute, _, event in timed]
    return agenda, roster, timeline


def _engine_round(agenda: Agenda, roster: Sequence[RosterEntry], timeline: Timeline) -> int:
    state, _ = new_session(agenda=agenda, roster=roster, scheduled_start=START)
    for event, now in timeline:
        state, _ = handle(state, event, now)
    return len(timeline)


def _noop(state: SessionState, event: Event, now: datetime) -> tuple[SessionState, list[Event]]:
    return state, [event] if now is None else []


def _noop_round(agenda: Agenda, roster: Sequence[RosterEntry], timeline: Timeline) -> int:
    state, _ = new_session(agenda=agenda, roster=roster, scheduled_start=START)
    for event, now in timeline:
        state, _ = _noop(state, event, now)
    return len(timeline)


def _json_round(agenda: Agenda, roster: Sequence[RosterEntry], timeline: Timeline) -> int:
    """A JSON round trip of a mid-session state, once per event."""
    state, _ = new_session(agenda=agenda, roster=roster, scheduled_start=START)
    for event, now in timeline[: len(timeline) // 2]:
        state, _ = handle(state, event, now)
    for _ in timeline:
        state = SessionState.from_json(state.to_json())
    return len(timeline)


def measure(
    runner: Callable[[Agenda, Sequence[RosterEntry], Timeline], int],
    rounds: int,
    seed: int = 7,
) -> float:
    """Best-of-five events per second of `runner` over `rounds` replays of one session.

    Measured in CPU time of this process, so other work on a shared machine skews it less.
    """
    agenda, roster, timeline = build_session(seed)
    best = 0.0
    for _ in range(5):
        began = time.process_time()
        events = sum(runner(agenda, roster, timeline) for _ in range(rounds))
        elapsed = max(time.process_time() - began, 1e-9)
        best = max(best, events / elapsed)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    parser.add_argument("--rounds", type=int, default=20, help="replays per measurement")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated evening")
    args = parser.parse_args(argv)
    _, _, timeline = build_session(args.seed)
    engine = measure(_engine_round, args.rounds, args.seed)
    noop = measure(_noop_round, args.rounds, args.seed)
    json_trip = measure(_json_round, max(1, args.rounds // 4), args.seed)
    print(f"session: {len(timeline)} events, {args.rounds} replays, one core")
    print(f"engine handle:        {engine:>12,.0f} events/s  ({1e6 / engine:.1f} us/event)")
    print(f"baseline no-op loop:  {noop:>12,.0f} events/s  (engine is {noop / engine:.1f}x slower)")
    print(
        f"baseline JSON trip:   {json_trip:>12,.0f} states/s  "
        f"(one JSON round trip costs as much as {engine / json_trip:.1f} handle calls)"
    )
    target = 50_000
    verdict = "meets" if engine >= target else "MISSES"
    print(f"target {target:,} events/s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
