"""The virtual clock and the timeline's output forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.meeting.simulated import Presence
from bot.simulation.clock import ClockError, VirtualClock
from bot.simulation.timeline import Timeline, attendance_records, format_offset

START = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


def test_the_clock_moves_only_forward():
    clock = VirtualClock(START)
    clock.advance(timedelta(minutes=5))
    clock.advance_to(START + timedelta(minutes=5))  # standing still is fine
    assert clock.now() == START + timedelta(minutes=5)
    with pytest.raises(ClockError):
        clock.advance_to(START)
    with pytest.raises(ClockError):
        VirtualClock(datetime(2026, 12, 3))


@pytest.mark.parametrize(
    ("seconds", "text"), [(-720, "-12:00"), (0, "0:00"), (600, "10:00"), (6330, "105:30")]
)
def test_offsets_print_as_signed_minutes(seconds, text):
    assert format_offset(seconds).strip() == text


def test_jsonl_and_text_carry_the_same_records():
    timeline = Timeline(START)
    timeline.add(
        START + timedelta(minutes=10), "phase", **{"from": "meditation", "to": "case_call"}
    )
    timeline.add(
        START + timedelta(minutes=10),
        "action",
        action="send_chat",
        to="everyone",
        text="Who has a case?",
        ok=True,
    )
    timeline.add(START, "action", action="admit", target="Anna", ok=False, error="not_privileged")
    lines = [json.loads(line) for line in timeline.to_jsonl().splitlines()]
    assert lines[0] == {"t": 600.0, "kind": "phase", "from": "meditation", "to": "case_call"}
    text = timeline.to_text()
    assert "meditation -> case_call" in text
    assert "send_chat to everyone: Who has a case?" in text
    assert "admit Anna  REFUSED (not_privileged)" in text


def test_attendance_sums_rejoins_and_excludes_the_waiting_room():
    m = timedelta(minutes=1)
    presence = [
        Presence(
            handle="Anna",
            name="Anna",
            place="waiting_room",
            start=START + 3 * m,
            end=START + 10 * m,
        ),
        Presence(
            handle="Anna", name="Anna", place="meeting", start=START + 10 * m, end=START + 40 * m
        ),
        Presence(handle="Anna", name="Anna", place="meeting", start=START + 45 * m, end=None),
    ]
    [anna, ben] = attendance_records(
        presence,
        persons=[("Anna", "member"), ("Ben", "member")],
        start=START,
        end=START + 100 * m,
    )
    assert anna == {
        "kind": "attendance",
        "name": "Anna",
        "role": "member",
        "minutes": 85.0,
        "first_join": 600.0,
        "last_leave": 6000.0,
        "late": True,
    }
    assert (ben["minutes"], ben["first_join"], ben["late"]) == (0.0, None, None)
