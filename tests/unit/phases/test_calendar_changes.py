"""A facilitator's changes to the calendar and the dates they type, pure: every change
checked against the calendar and the stored overrides, with "now" an argument."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from phases.calendar import CalendarError, DayRange, Override
from phases.calendar_changes import (
    add_session,
    cancel_session,
    move_session,
    parse_day_or_when,
    parse_when,
)
from tests.unit.phases.calendars import THU_10, TORONTO, WED_9, ontario, toronto

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_cancel_a_planned_session_then_restore_it_with_add() -> None:
    cal = ontario()
    change = cancel_session(cal, (), date(2026, 12, 9), now=NOW)
    assert change.put == (Override(kind="cancel", slot=WED_9),) and change.drop == ()
    assert change.message == "cancelled the session of Wed 2026-12-09 19:00"
    restore = add_session(cal, change.put, WED_9, now=NOW)
    assert restore.drop == change.put and restore.put == ()
    assert restore.message.startswith("restored")


def test_move_then_move_again_then_back_then_cancel() -> None:
    cal = ontario()
    first = move_session(cal, (), date(2026, 12, 9), THU_10, now=NOW)
    assert first.put == (Override(kind="move", slot=WED_9, to=THU_10),)
    friday = toronto(2026, 12, 11, 18, 0)
    again = move_session(cal, first.put, date(2026, 12, 10), friday, now=NOW)
    assert again.drop == first.put
    assert again.put == (Override(kind="move", slot=WED_9, to=friday),)
    back = move_session(cal, again.put, date(2026, 12, 11), WED_9, now=NOW)
    assert back.drop == again.put and back.put == ()
    gone = cancel_session(cal, again.put, date(2026, 12, 11), now=NOW)
    assert gone.drop == again.put and gone.put == (Override(kind="cancel", slot=WED_9),)


def test_an_added_session_moves_and_cancels_as_itself() -> None:
    cal = ontario()
    added = toronto(2026, 12, 12, 10, 0)
    overrides = (Override(kind="add", to=added),)
    later = move_session(cal, overrides, date(2026, 12, 12), added + timedelta(hours=2), now=NOW)
    assert later.drop == overrides and later.put == (
        Override(kind="add", to=added + timedelta(hours=2)),
    )
    gone = cancel_session(cal, overrides, date(2026, 12, 12), now=NOW)
    assert gone.drop == overrides and gone.put == ()


def test_a_day_with_two_sessions_needs_the_time() -> None:
    cal = ontario()
    overrides = (Override(kind="add", to=toronto(2026, 12, 9, 10, 0)),)
    with pytest.raises(CalendarError, match="2 sessions .10:00, 19:00."):
        cancel_session(cal, overrides, date(2026, 12, 9), now=NOW)
    change = cancel_session(cal, overrides, toronto(2026, 12, 9, 10, 0), now=NOW)
    assert change.drop == overrides
    with pytest.raises(CalendarError, match="starts at 10:00, 19:00"):
        cancel_session(cal, overrides, toronto(2026, 12, 9, 12, 0), now=NOW)


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        (
            lambda c: cancel_session(c, (), date(2026, 12, 10), now=NOW),
            "no session is planned on Thu",
        ),
        (lambda c: cancel_session(c, (), date(2027, 7, 14), now=NOW), "break .july-august."),
        (lambda c: cancel_session(c, (), date(2026, 11, 25), now=NOW), "has begun"),
        (
            lambda c: cancel_session(
                c, (Override(kind="cancel", slot=WED_9),), date(2026, 12, 9), now=NOW
            ),
            "already cancelled",
        ),
        (
            lambda c: cancel_session(
                c, (Override(kind="move", slot=WED_9, to=THU_10),), date(2026, 12, 9), now=NOW
            ),
            "was moved to Thu 2026-12-10 19:00",
        ),
        (
            lambda c: move_session(c, (), date(2026, 12, 9), toronto(2026, 12, 16, 19, 0), now=NOW),
            "already a session",
        ),
        (
            lambda c: move_session(c, (), date(2026, 12, 9), toronto(2026, 12, 16, 17, 0), now=NOW),
            "too close",
        ),
        (
            lambda c: move_session(c, (), date(2026, 12, 9), toronto(2026, 11, 20, 19, 0), now=NOW),
            "in the past",
        ),
        (lambda c: move_session(c, (), date(2026, 12, 9), WED_9, now=NOW), "already at that time"),
        (lambda c: add_session(c, (), toronto(2026, 12, 9, 20, 30), now=NOW), "too close"),
        (lambda c: add_session(c, (), toronto(2026, 11, 1, 19, 0), now=NOW), "in the past"),
        (lambda c: add_session(c, (), toronto(2029, 12, 5, 19, 0), now=NOW), "three years ahead"),
        (lambda c: cancel_session(c, (), date(2031, 12, 3), now=NOW), "three years ahead"),
        (lambda c: cancel_session(c, (), date(1, 1, 1), now=NOW), "long past"),
    ],
)
def test_changes_that_make_no_sense_are_refused_with_the_reason(attempt, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        attempt(ontario())


def test_a_holiday_has_no_session_to_cancel_or_move() -> None:
    cal = ontario(holidays=(DayRange.parse("12-23"),))
    with pytest.raises(CalendarError, match="holiday"):
        cancel_session(cal, (), date(2026, 12, 23), now=NOW)
    with pytest.raises(CalendarError, match="holiday"):
        move_session(cal, (), date(2026, 12, 23), toronto(2026, 12, 22, 19, 0), now=NOW)


def test_adding_in_the_break_is_allowed_and_noted() -> None:
    change = add_session(ontario(), (), toronto(2027, 7, 14, 19, 0), now=NOW)
    assert change.put == (Override(kind="add", to=toronto(2027, 7, 14, 19, 0)),)
    assert change.notes == ("2027-07-14 is in the group's break (july-august)",)


def test_overrides_compare_as_instants() -> None:
    assert Override(kind="cancel", slot=WED_9.astimezone(UTC)) == Override(
        kind="cancel", slot=WED_9
    )
    with pytest.raises(CalendarError):
        Override(kind="move", slot=WED_9)
    with pytest.raises(CalendarError):
        Override(kind="add", to=datetime(2026, 12, 9, 19, 0))


# -- reading what people type --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "note"),
    [
        (
            "2026-12-10 19:00",
            toronto(2026, 12, 10, 19, 0),
            "2026-12-10 19:00 read as America/Toronto time",
        ),
        (
            "2026-12-10T19:00",
            toronto(2026, 12, 10, 19, 0),
            "2026-12-10T19:00 read as America/Toronto time",
        ),
        ("2026-12-10T19:00-05:00", toronto(2026, 12, 10, 19, 0), ""),
        ("2026-12-11T00:00Z", toronto(2026, 12, 10, 19, 0), ""),
        (
            "2027-07-14 19:00",
            toronto(2027, 7, 14, 19, 0),
            "2027-07-14 19:00 read as America/Toronto time",
        ),
    ],
)
def test_a_date_and_time_is_read_on_the_groups_clock_unless_it_has_an_offset(text, expected, note):
    when, said = parse_when(text, TORONTO, "America/Toronto")
    assert when == expected and when.tzinfo is TORONTO and said == note


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tomorrow", "not a date and time"),
        ("2026-13-01 19:00", "not a date and time"),
        ("2026-12-10", "has no time"),
        ("2027-03-14 02:30", "does not exist in America/Toronto"),
        ("2026-11-01 01:30", r"happens twice in America/Toronto .* -04:00 or -05:00"),
    ],
)
def test_a_date_and_time_that_is_not_one_is_refused(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse_when(text, TORONTO, "America/Toronto")


def test_a_session_is_named_by_its_date_or_its_date_and_time() -> None:
    assert parse_day_or_when("2026-12-09", TORONTO, "America/Toronto") == (date(2026, 12, 9), "")
    when, note = parse_day_or_when("2026-12-09 19:00", TORONTO, "America/Toronto")
    assert when == WED_9 and "read as" in note
    with pytest.raises(CalendarError, match="not a date"):
        parse_day_or_when("next week", TORONTO, "America/Toronto")
    with pytest.raises(CalendarError, match="real date"):
        parse_day_or_when("2026-02-30", TORONTO, "America/Toronto")
