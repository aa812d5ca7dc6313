"""Table tests of `ActionRefused`: the facilitators learn, once, what Zoom would not let the
bot do, and the engine's view stays true (a refused admission leaves the person waiting)."""

from __future__ import annotations

import pytest

from phases.actions import Admit, Audience, SendChat
from phases.agenda import Agenda
from phases.events import (
    ActionRefused,
    ArrivedInWaitingRoom,
    Joined,
    LeftWaitingRoom,
    TimerDue,
    ZoomRole,
)
from phases.state import Phase

from .helpers import Sim, chats, line, person, to_phase, with_facilitator

NOT_HOST = line("reason_not_privileged")


def refused(kind: str, name: str = "", code: str = "not_privileged") -> ActionRefused:
    key = f"k-{name.split()[0].lower()}" if name else ""
    return ActionRefused(kind=kind, target_key=key, target_name=name, code=code)


def private(actions: list) -> list[str]:
    return chats(actions, Audience.FACILITATORS)


def held_then_refused() -> Sim:
    """Ana waits through the meditation; at its end the bot's admission is refused."""
    sim = with_facilitator()
    sim.feed(TimerDue(timer="meditation_start"), 0)
    sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), 3)
    end = sim.feed(TimerDue(timer="meditation_end"), 10)
    assert [a.target.name for a in end if isinstance(a, Admit)] == ["Ana"]
    return sim


def test_a_refused_admission_tells_the_facilitators_once_and_ana_stays_waiting():
    sim = held_then_refused()
    actions = sim.feed(refused("admit", "Ana"), 10)
    assert private(actions) == [line("refused_admit", name="Ana", reason=NOT_HOST)]
    recipients = [a.recipients for a in actions if isinstance(a, SendChat)]
    assert [[t.name for t in r] for r in recipients] == [["Mira"]]
    assert [p.name for p in sim.state.waiting()] == ["Ana"]
    assert sim.phase is Phase.CASE_CALL
    assert sim.feed(refused("admit", "Ana"), 11) == []  # one line per person
    retry = sim.say("Mira", "/admit Ana", 12)  # the facilitator can retry by command
    assert [a.target.name for a in retry if isinstance(a, Admit)] == ["Ana"]
    assert sim.feed(refused("admit", "Ana"), 12) == []


def test_each_person_refused_gets_their_own_line():
    sim = held_then_refused()
    sim.feed(ArrivedInWaitingRoom(participant=person("Stranger")), 11)
    sim.say("Mira", "/admit Stranger", 12)
    first = sim.feed(refused("admit", "Ana"), 12)
    second = sim.feed(refused("admit", "Stranger"), 12)
    assert private(first + second) == [
        line("refused_admit", name="Ana", reason=NOT_HOST),
        line("refused_admit", name="Stranger", reason=NOT_HOST),
    ]


@pytest.mark.parametrize("where", ["joined", "left"])
def test_a_refused_admission_of_someone_no_longer_waiting_says_nothing(where):
    sim = held_then_refused()
    ana = person("Ana")
    if where == "joined":  # a facilitator let her in by hand meanwhile
        sim.feed(Joined(participant=ana), 10)
    else:
        sim.feed(LeftWaitingRoom(participant=ana), 10)
    assert sim.feed(refused("admit", "Ana"), 10) == []


def test_a_refused_mirror_is_reported_once_per_discussion():
    sim = to_phase(Phase.DISCUSSION, Agenda(max_cases=2))
    first = sim.feed(refused("mute", "Ana"), 4)
    assert private(first) == [line("refused_mirror", name="Ana", reason=NOT_HOST)]
    assert sim.feed(refused("stop_video", "Ana"), 4) == []
    assert sim.feed(refused("mute", "Ana"), 5) == []
    for minute, command in ((6, "/next"), (7, "/next"), (8, "/case Ben"), (9, "/next")):
        sim.say("Mira", command, minute)
    sim.say("Mira", "/next", 10)
    assert sim.phase is Phase.DISCUSSION and sim.state.presenter == "k-ben"
    again = sim.feed(refused("stop_video", "Ben"), 10)
    assert private(again) == [line("refused_mirror", name="Ben", reason=NOT_HOST)]


@pytest.mark.parametrize(
    ("kind", "name", "action"),
    [
        ("mute", "Ben", "mute Ben"),  # not the presenter: not about the mirror
        ("stop_video", "Ben", "stop Ben's video"),
        ("put_in_waiting_room", "Ben", "move Ben to the waiting room"),
        ("rename", "Ben", "rename Ben"),
        ("ask_unmute", "Ana", "ask Ana to unmute"),
        ("ask_start_video", "Ana", "ask Ana to start their video"),
        ("stop_recording", "", line("act_stop_recording")),
        ("allow_self_media", "", line("act_allow_self_media")),
        ("teleport", "", line("act_other", kind="teleport")),
    ],
)
def test_other_refusals_are_reported_once_per_kind_and_code(kind, name, action):
    sim = to_phase(Phase.DISCUSSION)
    first = sim.feed(refused(kind, name), 4)
    assert private(first) == [line("refused_action", action=action, reason=NOT_HOST)]
    assert sim.feed(refused(kind, name), 5) == []
    other = sim.feed(refused(kind, name, code="zoom_error"), 6)
    reason = line("reason_other", code="zoom_error")
    assert private(other) == [line("refused_action", action=action, reason=reason)]


def test_a_refused_mute_in_the_meditation_is_not_about_the_mirror():
    sim = with_facilitator()
    sim.feed(TimerDue(timer="meditation_start"), 0)
    actions = sim.feed(refused("mute", "Ben"), 2)
    assert private(actions) == [line("refused_action", action="mute Ben", reason=NOT_HOST)]


@pytest.mark.parametrize(
    "event",
    [
        refused("send_chat", "Ana"),  # reporting it by chat could loop
        refused("admit", "Ana", code="not_executed"),  # observe-only mode, by design
        refused("mute", "Ana", code="not_executed"),
    ],
)
def test_chat_and_observe_only_refusals_are_ignored(event):
    sim = held_then_refused()
    before = sim.state
    assert sim.feed(event, 10) == []
    assert sim.state == before


def test_with_no_facilitator_present_the_line_waits_for_the_next_refusal():
    sim = Sim()
    sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), -5)
    alone = sim.feed(refused("admit", "Ana"), -5)
    assert [a.recipients for a in alone if isinstance(a, SendChat)] == [()]
    sim.enter("Mira", -4, role=ZoomRole.HOST)
    later = sim.feed(refused("admit", "Ana"), -4)
    assert private(later) == [line("refused_admit", name="Ana", reason=NOT_HOST)]


def test_an_unknown_target_is_named_as_the_action_named_them():
    sim = with_facilitator()
    event = ActionRefused(kind="admit", target_key="k-x", target_name="Visitor", code="x")
    actions = sim.feed(event, -3)
    reason = line("reason_other", code="x")
    assert private(actions) == [line("refused_admit", name="Visitor", reason=reason)]
    nobody = ActionRefused(kind="rename", code="x")
    named = sim.feed(nobody, -3)
    action = line("act_rename", name=line("someone"))
    assert private(named) == [line("refused_action", action=action, reason=reason)]


def test_the_refusal_lines_can_be_overridden():
    sim = Sim(messages={"reason_not_privileged": "je ne suis pas hôte"})
    sim.enter("Mira", -14, role=ZoomRole.HOST)
    sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), -5)
    actions = sim.feed(refused("admit", "Ana"), -5)
    assert private(actions) == [line("refused_admit", name="Ana", reason="je ne suis pas hôte")]
