"""Commands from the console (`TrustedCommand`): the same command as typed in chat, with the
roster facilitator's rights, answered to the console, each run once."""

from __future__ import annotations

import dataclasses

import pytest

from phases.actions import Admit, Audience, SendChat
from phases.events import ArrivedInWaitingRoom, TimerDue, TrustedCommand
from phases.roster import RosterEntry
from phases.state import Phase

from .helpers import Sim, line, person, to_phase, with_facilitator

COMMANDS = [
    "/status",
    "/next",
    "/case Ana",
    "/extend 5",
    "/pause",
    "/admit all",
    "/hold Ben",
    "/mirror off",
    "/reflection",
    "/end",
    "/nonsense",
]


def trusted(text: str, command_id: str = "c1", **extra: str) -> TrustedCommand:
    return TrustedCommand(facilitator="Mira", text=text, command_id=command_id, **extra)


def _as_console(action):
    """A chat answer to Mira, as the console would get it."""
    if isinstance(action, SendChat) and action.to is Audience.PARTICIPANT:
        if action.recipients and action.recipients[0].key == "k-mira":
            return ("console", action.text)
    return action


@pytest.mark.parametrize(
    "phase", [Phase.SOCIAL, Phase.PRESENTATION, Phase.DISCUSSION, Phase.CLOSING]
)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_console_command_does_what_the_same_chat_command_does(phase, command):
    typed, clicked = to_phase(phase), to_phase(phase)
    by_chat = typed.say("Mira", command, 40, key="k-mira", user_id="u-k-mira")
    by_console = clicked.feed(trusted(command), 40)
    assert [_as_console(a) for a in by_chat] == [
        ("console", a.text) if isinstance(a, SendChat) and a.to is Audience.CONSOLE else a
        for a in by_console
    ]
    fields = [f.name for f in dataclasses.fields(typed.state) if f.name != "recent_messages"]
    for name in fields:
        assert getattr(clicked.state, name) == getattr(typed.state, name), name


def test_answers_go_to_the_console_and_name_the_facilitator():
    sim = to_phase(Phase.CASE_CALL)
    actions = sim.feed(trusted("/next"), 5)
    assert actions == [
        SendChat(
            to=Audience.CONSOLE,
            text=line("next_needs_case"),
            recipients=(actions[0].recipients[0],),
        )
    ]
    assert actions[0].recipients[0].name == "Mira"
    assert actions[0].recipients[0].user_id == ""


def test_rights_come_from_the_roster_not_from_being_in_the_meeting():
    sim = Sim()  # no one is in the meeting, not even Mira
    actions = sim.feed(trusted("/next"), -10)
    assert sim.phase is Phase.MEDITATION
    assert all(not (isinstance(a, SendChat) and a.to is Audience.CONSOLE) for a in actions)
    assert "console:mira" not in sim.state.people  # the console is nobody in the meeting


@pytest.mark.parametrize("name", ["Ana", "Stranger", ""])
def test_a_member_or_stranger_named_by_the_source_is_refused_and_nothing_changes(name):
    sim = to_phase(Phase.PRESENTATION)
    before = sim.state
    actions = sim.feed(TrustedCommand(facilitator=name, text="/end", command_id="x"), 5)
    assert [(a.to, a.text) for a in actions if isinstance(a, SendChat)] == [
        (Audience.CONSOLE, line("refused_member", name=name))
    ]
    assert sim.state.phase is before.phase


def test_the_member_id_decides_over_the_name():
    roster = (
        RosterEntry(display_name="Mira", role="facilitator", member_id="5"),
        RosterEntry(display_name="Ana", member_id="6"),
    )
    wrong = Sim(roster=roster)
    wrong.feed(TrustedCommand(facilitator="Mira", member_id="6", text="/next", command_id="a"), -10)
    assert wrong.phase is Phase.SOCIAL
    right = Sim(roster=roster)
    right.feed(TrustedCommand(facilitator="M.", member_id="5", text="/next", command_id="a"), -10)
    assert right.phase is Phase.MEDITATION


def test_the_same_command_delivered_twice_runs_once():
    sim = to_phase(Phase.PRESENTATION)
    sim.feed(trusted("/extend 5", command_id="same"), 5)
    assert sim.feed(trusted("/extend 5", command_id="same"), 6) == []
    assert sim.state.extension_minutes == 5
    sim.feed(trusted("/extend 5", command_id="other"), 7)
    assert sim.state.extension_minutes == 10


def test_a_button_admits_exactly_the_person_it_names_even_with_a_shared_name():
    sim = with_facilitator()
    first = person("Ana", key="k-ana-1")
    second = person("Ana", key="k-ana-2")
    sim.feed(ArrivedInWaitingRoom(participant=first), -5)
    sim.feed(ArrivedInWaitingRoom(participant=second), -4)
    sim.feed(TimerDue(timer="meditation_start"), 0)
    by_name = sim.feed(trusted("/admit Ana", command_id="n"), 1)
    assert not any(isinstance(a, Admit) for a in by_name)  # ambiguous by name
    by_key = sim.feed(trusted("/admit Ana", command_id="k", target_key="k-ana-2"), 2)
    assert [a.target.key for a in by_key if isinstance(a, Admit)] == ["k-ana-2"]


def test_a_button_for_someone_no_longer_waiting_says_so():
    sim = with_facilitator()
    sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), 1)
    actions = sim.feed(trusted("/admit Ana", target_key="k-gone"), 2)
    assert [(a.to, a.text) for a in actions] == [
        (Audience.CONSOLE, line("no_match", query="Ana", names="Ana"))
    ]


def test_keep_waiting_holds_someone_in_the_waiting_room_past_the_meditation():
    sim = with_facilitator()
    sim.feed(TimerDue(timer="meditation_start"), 0)
    sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), 2)
    sim.feed(ArrivedInWaitingRoom(participant=person("Ben")), 3)
    answer = sim.feed(trusted("/hold Ana", target_key="k-ana"), 4)
    assert [(a.to, a.text) for a in answer] == [
        (Audience.CONSOLE, line("kept_waiting", name="Ana"))
    ]
    end = sim.feed(TimerDue(timer="meditation_end"), 10)
    assert [a.target.key for a in end if isinstance(a, Admit)] == ["k-ben"]
    assert sim.state.people["k-ana"].where == "waiting"
    admitted = sim.feed(trusted("/admit Ana", command_id="c2", target_key="k-ana"), 11)
    assert [a.target.key for a in admitted if isinstance(a, Admit)] == ["k-ana"]
    assert "k-ana" not in sim.state.held


def test_a_button_names_the_presenter_by_key():
    sim = to_phase(Phase.CASE_CALL)
    sim.feed(trusted("/case Ben", target_key="k-ben"), 12)
    assert sim.phase is Phase.PRESENTATION
    assert sim.state.presenter == "k-ben"
