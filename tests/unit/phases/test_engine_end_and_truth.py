"""Table tests of issue 16's engine rules: the facilitator is in charge of the end, each
latecomer is told when they come in (without flooding the waiting room), and the bot says
what it did only once Zoom did it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from phases.actions import Admit, Audience, ScheduleWakeup
from phases.agenda import Agenda
from phases.engine import WAITING_LINE_SECONDS, wakeups
from phases.events import (
    ActionDone,
    ActionRefused,
    ArrivedInWaitingRoom,
    Joined,
    RecordingStarted,
    TimerDue,
)
from phases.state import Phase

from .helpers import Sim, at, chats, line, person, to_phase, transitions, with_facilitator

NOT_HOST = line("reason_not_privileged")
WAITING = line("waiting_meditation", time="19:10")


def private(actions: list) -> list[str]:
    return chats(actions, Audience.FACILITATORS)


def admitted(actions: list) -> list[str]:
    return [a.target.name for a in actions if isinstance(a, Admit)]


# -- the end ----------------------------------------------------------------------------------


def past_the_end(phase: Phase = Phase.RETURN) -> Sim:
    sim = to_phase(phase)
    sim.feed(TimerDue(timer="group_end"), 105)
    assert sim.phase is phase
    return sim


@pytest.mark.parametrize("command", ["/next", "/end"])
def test_next_or_end_past_the_end_closes_the_group(command):
    sim = past_the_end(Phase.DISCUSSION)
    actions = sim.say("Mira", command, 107)
    assert transitions(actions) == [("discussion", "closing")]
    assert chats(actions, Audience.EVERYONE) == [line("closing")]


def test_extend_past_the_end_counts_from_now_and_the_group_goes_on():
    sim = past_the_end(Phase.DISCUSSION)
    actions = sim.say("Mira", "/extend 10", 107)
    assert chats(actions) == [line("extended", minutes=10, time="20:57")]
    assert sim.state.group_end == at(117)
    assert sim.phase is Phase.DISCUSSION
    assert [w.timer for w in wakeups(sim.state)][-2:] == ["group_end", "group_close"]
    assert transitions(sim.feed(TimerDue(timer="group_close"), 115)) == []  # stale
    # The new end is told again, and the grace runs from it.
    end = sim.feed(TimerDue(timer="group_end"), 117)
    assert private(end) == [line("overrun", time="20:57", close="21:07")]
    assert transitions(sim.feed(TimerDue(timer="group_close"), 127)) == [("discussion", "closing")]


def test_extend_a_few_seconds_past_the_end_rounds_up_to_whole_minutes():
    sim = past_the_end()
    sim.say("Mira", "/extend 5", 105.5)
    assert sim.state.group_end == at(111)


def test_the_overrun_line_waits_for_a_facilitator_and_status_says_zero_minutes():
    sim = Sim()
    sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), -5)
    sim.feed(Joined(participant=person("Ana")), -5)
    assert private(sim.feed(TimerDue(timer="group_end"), 105)) == []
    came = sim.enter("Mira", 106, registrant_id="reg-mira")  # her registration link
    assert private(came) == [line("overrun", time="20:45", close="20:55")]
    status = sim.say("Mira", "/status", 107)
    assert "0 minutes left" in chats(status)[0]


def test_past_the_grace_extend_is_refused_as_before():
    sim = past_the_end()
    sim.feed(TimerDue(timer="group_close"), 115)
    assert sim.phase is Phase.CLOSING
    assert chats(sim.say("Mira", "/extend 5", 116)) == [line("extend_after_end")]


def test_the_grace_is_a_setting():
    assert Agenda().overrun_grace_minutes == 10
    sim = to_phase(Phase.RETURN, Agenda(overrun_grace_minutes=3))
    sim.feed(TimerDue(timer="group_end"), 105)
    assert transitions(sim.feed(TimerDue(timer="group_close"), 108)) == [("return", "closing")]


# -- the waiting room -------------------------------------------------------------------------


def in_meditation() -> Sim:
    sim = with_facilitator()
    sim.feed(TimerDue(timer="meditation_start"), 0)
    return sim


def arrive(sim: Sim, name: str, minute: float) -> list:
    return sim.feed(ArrivedInWaitingRoom(participant=person(name)), minute)


def test_three_latecomers_are_each_told_when_they_will_be_let_in():
    sim = in_meditation()
    for name, minute in (("Ana", 3), ("Ben", 7), ("Dev", 9 + 59 / 60)):
        assert chats(arrive(sim, name, minute), Audience.WAITING_ROOM) == [WAITING], name
    end = sim.feed(TimerDue(timer="meditation_end"), 10)
    assert admitted(end) == ["Ana", "Ben", "Dev"]


def test_a_crowd_gets_one_line_then_one_more_for_those_who_came_since():
    sim = in_meditation()
    assert chats(arrive(sim, "Ana", 3), Audience.WAITING_ROOM) == [WAITING]
    second = arrive(sim, "Ben", 3.1)
    assert chats(second) == []
    due = at(3) + timedelta(seconds=WAITING_LINE_SECONDS)
    assert second == [ScheduleWakeup(at=due, timer="waiting_line")]
    assert arrive(sim, "Dev", 3.2) == []  # the wake-up is armed already
    assert ScheduleWakeup(at=due, timer="waiting_line") in wakeups(sim.state)
    assert chats(sim.feed(TimerDue(timer="waiting_line"), 3.4)) == []  # early
    assert chats(sim.feed(TimerDue(timer="waiting_line"), 3.5), Audience.WAITING_ROOM) == [WAITING]
    assert chats(sim.feed(TimerDue(timer="waiting_line"), 4)) == []


def test_a_pending_waiting_line_is_dropped_when_the_meditation_ends():
    sim = in_meditation()
    arrive(sim, "Ana", 9.8)
    arrive(sim, "Ben", 9.9)
    end = sim.feed(TimerDue(timer="meditation_end"), 10)
    assert chats(end, Audience.WAITING_ROOM) == []
    assert chats(sim.feed(TimerDue(timer="waiting_line"), 10.5), Audience.WAITING_ROOM) == []


def test_the_reflection_admits_members_only_even_a_guest_let_in_before():
    sim = to_phase(Phase.CASE_CALL)
    arrive(sim, "Stranger", 12)
    sim.say("Mira", "/admit Stranger", 13)
    sim.feed(Joined(participant=person("Stranger")), 13)
    assert "k-stranger" in sim.state.approved
    sim.say("Mira", "/end", 20)
    sim.say("Mira", "/reflection", 21)
    assert sim.phase is Phase.REFLECTION
    again = arrive(sim, "Stranger", 22)
    assert admitted(again) == []
    assert private(again) == [line("unknown_waiting", name="Stranger")]
    assert admitted(arrive(sim, "Dev", 22)) == ["Dev"]
    assert admitted(sim.say("Mira", "/admit Stranger", 23)) == ["Stranger"]  # by hand


# -- truthful chat ----------------------------------------------------------------------------


def held(*names: str) -> Sim:
    sim = in_meditation()
    for minute, name in enumerate(names, start=3):
        arrive(sim, name, minute)
    end = sim.feed(TimerDue(timer="meditation_end"), 10)
    assert admitted(end) == list(names)
    assert chats(end, Audience.EVERYONE) == ["Who has a case?"]
    return sim


def test_no_welcome_after_every_admission_was_refused():
    sim = held("Ana", "Ben")
    first = sim.feed(ActionRefused(kind="admit", target_key="k-ana", code="not_privileged"), 10)
    second = sim.feed(ActionRefused(kind="admit", target_key="k-ben", code="not_privileged"), 10)
    assert chats(first + second, Audience.EVERYONE) == []
    assert private(first + second) == [
        line("refused_admit", name="Ana", reason=NOT_HOST),
        line("refused_admit", name="Ben", reason=NOT_HOST),
    ]
    assert sim.state.awaiting == frozenset()


def test_the_welcome_names_only_those_zoom_let_in():
    sim = held("Ana", "Ben", "Dev")
    sim.feed(ActionDone(kind="admit", target_key="k-ana"), 10)
    sim.feed(ActionRefused(kind="admit", target_key="k-ben", code="not_privileged"), 10)
    last = sim.feed(ActionDone(kind="admit", target_key="k-dev"), 10)
    assert chats(last, Audience.EVERYONE) == [line("welcome_after_meditation", names="Ana, Dev")]


def test_a_refused_recording_stop_is_not_announced_as_stopped():
    sim = with_facilitator()
    sim.enter("Ben", -9)
    sim.feed(RecordingStarted(participant=person("Ben")), -5)
    refused = sim.feed(ActionRefused(kind="stop_recording", code="not_privileged"), -5)
    said = private(refused)
    assert said == [line("refused_action", action=line("act_stop_recording"), reason=NOT_HOST)]
    assert line("recording_stopped", name="Ben") not in said
    assert sim.state.awaiting == frozenset()


def test_a_refused_mirror_asks_the_presenter_to_do_it_themselves():
    sim = to_phase(Phase.QUESTIONS)
    sim.say("Mira", "/next", 20)
    refused = sim.feed(ActionRefused(kind="mute", target_key="k-ana", code="not_privileged"), 20)
    assert chats(refused, Audience.PARTICIPANT) == [line("mirror_self", name="Ana")]
    assert private(refused) == [line("refused_mirror", name="Ana", reason=NOT_HOST)]
    # the stopped video that did work is not announced as the whole mirror
    assert sim.feed(ActionDone(kind="stop_video", target_key="k-ana"), 20) == []
