"""Unit tests of the engine's parts: agenda, roster matching, catalogue, commands, state JSON."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import AgendaSettings
from phases.agenda import Agenda
from phases.commands import (
    AdmitCmd,
    BadUsage,
    CaseCmd,
    EndCmd,
    ExtendCmd,
    HelpCmd,
    HoldCmd,
    MirrorCmd,
    NextCmd,
    PauseCmd,
    ReflectionCmd,
    ResumeCmd,
    StatusCmd,
    Unknown,
    parse,
)
from phases.engine import handle, new_session
from phases.errors import AgendaError, BalintError, StateError
from phases.events import MeetingStarted, TimerDue
from phases.messages import DEFAULT_MESSAGES, PLACEHOLDERS, Messages
from phases.roster import RosterEntry, normalise_name
from phases.state import Phase, SessionState

from .helpers import T0, Sim, chats, to_phase

# -- agenda -----------------------------------------------------------------------------------


def test_agenda_defaults_mirror_the_settings():
    settings_names = set(AgendaSettings.model_fields) - {"messages"}
    agenda_names = set(Agenda.__dataclass_fields__) - {"bot_name", "admit_by_name"}
    assert agenda_names == settings_names
    defaults = AgendaSettings()
    for name in settings_names:
        value = getattr(defaults, name)
        assert getattr(Agenda(), name) == (tuple(value) if isinstance(value, list) else value)


@pytest.mark.parametrize(
    "values",
    [
        {"meditation_minutes": -1},
        {"length_minutes": 0},
        {"max_cases": 0},
        {"mirror_reminder_seconds": 0},
        {"meditation_minutes": True},
        {"hold_during_meditation": "yes"},
        {"meditation_minutes": 60, "length_minutes": 60},
        {"warning_minutes": (10, 10)},
        {"warning_minutes": (0,)},
        {"warning_minutes": (105,)},
        {"warning_minutes": ("5",)},
        {"bot_name": "  "},
    ],
)
def test_agenda_refuses_inconsistent_values(values):
    with pytest.raises(AgendaError):
        Agenda(**values)


def test_agenda_dict_round_trip_and_errors():
    agenda = Agenda(warning_minutes=(5,), bot_name="Helper")
    assert agenda.to_dict() == {**dataclasses.asdict(agenda), "warning_minutes": [5]}
    assert Agenda.from_dict(agenda.to_dict()) == agenda
    assert Agenda.from_dict(json.loads(json.dumps(agenda.to_dict()))) == agenda
    with pytest.raises(AgendaError):
        Agenda.from_dict({"nonsense": 1})
    assert issubclass(AgendaError, BalintError)


# -- roster -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [("  Zoë   MARTIN ", "zoe martin"), ("ÉLODIE", "elodie"), ("", ""), ("\tAna\n", "ana")],
)
def test_normalise_name(raw, folded):
    assert normalise_name(raw) == folded


def test_roster_entry_checks():
    with pytest.raises(AgendaError):
        RosterEntry(display_name="  ")
    with pytest.raises(AgendaError):
        RosterEntry(display_name="X", role="boss")  # type: ignore[arg-type]
    with pytest.raises(AgendaError, match="standing"):
        RosterEntry(display_name="X", standing="gone")  # type: ignore[arg-type]
    assert RosterEntry(display_name="Anna", first_name="Anna", last_name="Smith").full_name == (
        "Anna Smith"
    )
    assert RosterEntry(display_name="Anna").full_name == ""


# -- messages ---------------------------------------------------------------------------------


def test_every_line_is_short_and_formats():
    catalogue = Messages()
    for key, text in DEFAULT_MESSAGES.items():
        filled = catalogue.text(key, **dict.fromkeys(PLACEHOLDERS[key], "Ana"))
        assert "{" not in filled and len(filled) <= 200, key
        assert text


def test_overrides_replace_lines_and_missing_values_are_blank():
    catalogue = Messages({"case_call": "Qui a un cas ?", "warning": "Plus que {minutes} minutes."})
    assert catalogue.text("case_call") == "Qui a un cas ?"
    assert catalogue.text("warning", minutes=5) == "Plus que 5 minutes."
    assert catalogue.text("warning") == "Plus que  minutes."


@pytest.mark.parametrize(
    "overrides",
    [
        {"no_such_line": "x"},
        {"warning": "{hours} left"},
        {"warning": "{minutes!r} left"},
        {"warning": "{minutes:>4} left"},
        {"warning": "{} left"},
        {"warning": "{minutes.real}"},
        {"warning": "oops {"},
        {"warning": 5},
    ],
)
def test_bad_overrides_are_refused(overrides):
    with pytest.raises(AgendaError):
        Messages(overrides)


def test_engine_speaks_the_overrides():
    sim = Sim(messages={"case_call": "Qui a un cas ?"})
    actions = sim.feed(MeetingStarted(), 11)
    assert chats(actions)[-1] == "Qui a un cas ?"


# -- commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/help", HelpCmd()),
        ("  /STATUS  ", StatusCmd()),
        ("/next please", NextCmd()),
        ("/case   Zoë  Martin", CaseCmd("Zoë Martin")),
        ("/Cäse ana", CaseCmd("ana")),
        ("/extend 10", ExtendCmd(10)),
        ("/ÉXTEND  10 min", ExtendCmd(10)),
        ("/extend 120", ExtendCmd(120)),
        ("/extend 121", BadUsage("extend")),
        ("/extend -5", BadUsage("extend")),
        ("/extend ٣", BadUsage("extend")),
        ("/pause", PauseCmd()),
        ("/resume", ResumeCmd()),
        ("/admit  ALL", AdmitCmd("", everyone=True)),
        ("/admit Stranger  Danger", AdmitCmd("Stranger Danger")),
        ("/hold ben", HoldCmd("ben")),
        ("/mirror OFF", MirrorCmd(False)),
        ("/mirror on", MirrorCmd(True)),
        ("/mirror", BadUsage("mirror")),
        ("/reflection", ReflectionCmd()),
        ("／end", EndCmd()),
        ("/", Unknown("")),
        ("/dance now", Unknown("dance")),
        ("hello /next", None),
        ("", None),
    ],
)
def test_parse(text, command):
    assert parse(text) == command


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parse_never_raises(text):
    parse(text)
    parse("/" + text)


# -- state JSON -------------------------------------------------------------------------------


def test_state_round_trip_keeps_text_and_value():
    sim = to_phase(Phase.DISCUSSION)
    text = sim.state.to_json()
    again = SessionState.from_json(text)
    assert again == sim.state and again.to_json() == text
    assert again.group_end == T0 + timedelta(minutes=105)
    assert [p.name for p in again.waiting()] == []
    assert [p.name for p in again.facilitators_present()] == ["Mira"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format=2),
        lambda d: d.update(phase="nap"),
        lambda d: d.update(scheduled_start="2026-12-02T19:00:00"),
        lambda d: d.update(phase_since=None),
        lambda d: d["people"][0].__setitem__(5, "moon"),
        lambda d: d["people"][0].pop(),
        lambda d: d.update(agenda={"length_minutes": -1}),
        lambda d: d.update(roster=[{"display_name": ""}]),
        lambda d: d.update(messages={"nope": "x"}),
        lambda d: d.pop("cases"),
    ],
)
def test_unreadable_state_raises_state_error(mutate):
    data = json.loads(to_phase(Phase.CASE_CALL).state.to_json())
    mutate(data)
    with pytest.raises(StateError):
        SessionState.from_json(json.dumps(data))


@pytest.mark.parametrize("text", ["", "[]", "null", "{", '{"format": 1}'])
def test_garbage_is_a_state_error(text):
    with pytest.raises(StateError):
        SessionState.from_json(text)


def test_a_zone_aware_start_round_trips_and_speaks_local_time():
    start = T0.astimezone(ZoneInfo("America/Toronto"))
    state, _ = new_session(agenda=Agenda(), roster=(), scheduled_start=start)
    text = state.to_json()
    again = SessionState.from_json(text)
    assert again == state and again.to_json() == text
    _, actions = handle(again, TimerDue(timer="meditation_start"), start)
    assert chats(actions) == ["We begin with a 10-minute meditation. Latecomers join at 19:10."]
