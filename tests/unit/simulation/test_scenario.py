"""Scenario files: offsets, every field checked, the story checked, errors that say where."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.simulation.scenario import ScenarioError, load_scenario, parse_offset, parse_scenario
from phases.events import ZoomRole


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-12m", timedelta(minutes=-12)),
        ("3m30s", timedelta(minutes=3, seconds=30)),
        ("1h05m", timedelta(hours=1, minutes=5)),
        ("95m", timedelta(minutes=95)),
        ("45s", timedelta(seconds=45)),
        ("0m", timedelta(0)),
        ("-1h", timedelta(hours=-1)),
    ],
)
def test_offsets(text, expected):
    assert parse_offset(text) == expected


@pytest.mark.parametrize("text", ["", "12", "m", "5 m", "1m1h", "+3m", "-", "3x", "1.5m"])
def test_bad_offsets(text):
    with pytest.raises(ValueError):
        parse_offset(text)


def scenario(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "meeting": {"start": "2026-12-02T19:00:00-05:00"},
        "person": [
            {"name": "Helen", "role": "facilitator"},
            {"name": "Anna", "role": "member", "email": "anna@example.org"},
            {"name": "Visitor", "role": "guest"},
        ],
        "event": [
            {"at": "-10m", "who": "Helen", "do": "join"},
            {"at": "-5m", "who": "Anna", "do": "join"},
            {"at": "12m", "who": "Helen", "do": "say", "text": "/case Anna"},
            {"at": "20m", "who": "Anna", "do": "say", "text": "hi", "to": "Helen"},
            {"at": "106m", "who": "Helen", "do": "end_meeting"},
        ],
    }
    data.update(changes)
    return data


def with_event(number: int, **fields: Any) -> dict[str, Any]:
    data = scenario()
    data["event"][number - 1] = {**data["event"][number - 1], **fields}
    return data


def test_a_good_scenario_parses():
    parsed = parse_scenario(scenario())
    assert parsed.start.isoformat() == "2026-12-02T19:00:00-05:00"
    assert parsed.opens_at == parsed.start - timedelta(minutes=15)
    assert [e.number for e in parsed.events] == [1, 2, 3, 4, 5]
    assert parsed.bot_role is ZoomRole.HOST
    roster = parsed.roster()
    assert [(r.display_name, r.role) for r in roster] == [
        ("Helen", "facilitator"),
        ("Anna", "member"),
    ]  # the guest is not on the roster
    assert parsed.persons[2].accepts_requests is True


def test_events_run_in_time_order_and_ties_keep_file_order():
    data = scenario()
    data["event"] = [
        {"at": "5m", "who": "Anna", "do": "join"},
        {"at": "-10m", "who": "Helen", "do": "join"},
        {"at": "5m", "who": "Anna", "do": "unmute"},
    ]
    parsed = parse_scenario(data)
    assert [e.number for e in parsed.events] == [2, 1, 3]


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, source="s.toml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (with_event(3, do="dance"), r"event 3 field 'do': 'dance' is not one of"),
        (with_event(2, at="soon"), r"event 2 field 'at'"),
        (with_event(2, who="Nobody"), r"event 2 field 'who': 'Nobody' is not a \[\[person\]\]"),
        (with_event(3, text=None), r"event 3 field 'text': missing"),
        (with_event(1, text="x"), r"event 1 field 'text': only a 'say' event"),
        (with_event(3, to="Zed"), r"event 3 field 'to': 'Zed' is not everyone, bot"),
        (with_event(3, to="Helen"), r"event 3 field 'to': a person cannot chat privately"),
        (with_event(2, colour="red"), r"event 2: unknown field\(s\) \['colour'\]"),
        (with_event(2, do="leave"), r"event 2 field 'do': 'Anna' cannot leave: not in the"),
        (with_event(2, who="Helen"), r"event 2 field 'do': 'Helen' already joined \(event 1\)"),
        (with_event(5, who="Anna"), r"event 5 field 'who': 'Anna' cannot end the meeting"),
        (with_event(4, at="200m"), r"event 4 field 'at': the meeting already ended at event 5"),
    ],
)
def test_bad_events_name_the_field_and_the_event_number(data, pattern):
    message = error_of(data)
    assert message.startswith("s.toml: ")
    assert re.search(pattern, message), message


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"meeting": {}}, r"\[meeting\] field 'start': missing"),
        ({"meeting": {"start": "2026-12-02T19:00:00"}}, r"field 'start': needs a UTC offset"),
        ({"meeting": {"start": "tonight"}}, r"field 'start': 'tonight' is not an ISO"),
        (
            {"meeting": {"start": "2026-12-02T19:00:00-05:00", "bot_role": "boss"}},
            r"field 'bot_role': 'boss' is not one of host, co-host, attendee",
        ),
        (
            {"meeting": {"start": "2026-12-02T19:00:00-05:00", "agenda": "missing.toml"}},
            r"field 'agenda': cannot read",
        ),
        ({"extras": {}}, r"top level: unknown table"),
        ({"person": [{"name": "A"}, {"name": "A"}]}, r"person 2 field 'name': 'A' appears twice"),
        ({"person": [{"name": "A", "role": "boss"}]}, r"person 1 field 'role': 'boss'"),
        ({"person": [{"role": "member"}]}, r"person 1 field 'name': missing"),
        ({"person": [{"name": "bot"}]}, r"person 1 field 'name': 'bot' is reserved"),
        (
            {"person": [{"name": "A", "accepts_requests": "yes"}]},
            r"person 1 field 'accepts_requests': expected true or false",
        ),
    ],
)
def test_bad_meeting_and_person_fields_are_named(changes, pattern):
    data = scenario(**changes)
    if "person" in changes:
        data["event"] = []
    assert re.search(pattern, error_of(data)), error_of(data)


def test_an_agenda_file_is_read_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "agendas").mkdir()
    (tmp_path / "agendas" / "short.toml").write_text(
        "[agenda]\nmeditation_minutes = 0\nlength_minutes = 60\nwarning_minutes = [5]\n"
        "max_cases = 1\n\n[group]\nname = 'ignored here'\n"
    )
    path = tmp_path / "s.toml"
    path.write_text(
        '[meeting]\nstart = "2026-12-03T18:45:00-08:00"\nagenda = "agendas/short.toml"\n'
    )
    parsed = load_scenario(path)
    assert parsed.agenda.length_minutes == 60 and parsed.agenda.max_cases == 1
    assert parsed.agenda_source == "agendas/short.toml"


def test_an_invalid_agenda_file_is_reported_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("length_minutes = 5\n")
    path = tmp_path / "s.toml"
    path.write_text('[meeting]\nstart = "2026-12-03T18:45:00-08:00"\nagenda = "a.toml"\n')
    with pytest.raises(ScenarioError, match=r"field 'agenda': .*key length_minutes"):
        load_scenario(path)


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[meeting\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(path)


# -- how people present in Zoom (issue 13) --------------------------------------------------------


def test_joins_as_a_display_name_or_a_table_and_by_phone():
    data = scenario()
    data["meeting"]["admit_by_name"] = False
    data["person"] = [
        {"name": "Helen", "role": "facilitator", "registrant_id": "reg-h"},
        {
            "name": "Anna",
            "role": "member",
            "first_name": "Anna",
            "last_name": "Smith",
            "email": "anna@example.org",
            "registrant_id": "reg-a",
            "joins_as": "Dr. Anna Smith",
        },
        {
            "name": "Visitor",
            "role": "guest",
            "joins_as": {"name": "Anna", "email": "v@example.org", "signed_in": True},
        },
        {"name": "Caller", "role": "guest", "phone": "+14165550142", "joins_as": "416****142"},
        {
            "name": "Plain",
            "role": "member",
            "registrant_id": "reg-p",
            "joins_as": {"registrant_id": ""},
        },
        {"name": "Omar", "role": "member", "standing": "inactive"},
    ]
    data["event"] = [{"at": "-10m", "who": "Helen", "do": "join"}]
    parsed = parse_scenario(data)
    assert parsed.agenda.admit_by_name is False
    anna, visitor, caller, plain = (
        parsed.person(n).presents for n in ("Anna", "Visitor", "Caller", "Plain")
    )
    assert (anna.name, anna.email, anna.registrant_id, anna.signed_in) == (
        "Dr. Anna Smith",
        "anna@example.org",
        "reg-a",
        False,
    )
    assert (visitor.name, visitor.email, visitor.signed_in) == ("Anna", "v@example.org", True)
    assert (caller.name, caller.phone) == ("416****142", "+14165550142")
    assert (plain.name, plain.registrant_id) == ("Plain", "")  # the meeting's plain link
    roster = {e.display_name: e for e in parsed.roster()}
    assert roster["Anna"].full_name == "Anna Smith" and roster["Anna"].registrant_id == "reg-a"
    assert roster["Omar"].standing == "inactive"
    assert "Visitor" not in roster and "Caller" not in roster


@pytest.mark.parametrize(
    ("person", "message"),
    [
        ({"name": "X", "role": "member", "standing": "gone"}, "person 4 field 'standing'"),
        ({"name": "X", "role": "guest", "standing": "inactive"}, "a guest is not on the roster"),
        ({"name": "X", "role": "member", "joins_as": 3}, "field 'joins_as'"),
        ({"name": "X", "role": "member", "joins_as": {"nick": "Y"}}, "unknown field(s) ['nick']"),
        ({"name": "X", "role": "member", "signed_in": "yes"}, "field 'signed_in'"),
        ({"name": "X", "role": "member", "phone": 416}, "field 'phone'"),
    ],
)
def test_bad_identity_fields_are_named(person, message):
    data = scenario()
    data["person"].append(person)
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario(data)


@pytest.mark.parametrize("do", ["say", "video_on", "record"])
def test_a_telephone_caller_cannot_chat_or_show_video(do):
    data = scenario()
    data["person"].append({"name": "Caller", "role": "guest", "phone": "+14165550142"})
    data["event"].insert(2, {"at": "0m", "who": "Caller", "do": "join"})
    extra = {"text": "hi"} if do == "say" else {}
    data["event"].insert(3, {"at": "1m", "who": "Caller", "do": do, **extra})
    with pytest.raises(ScenarioError, match="joins by telephone and cannot"):
        parse_scenario(data)
