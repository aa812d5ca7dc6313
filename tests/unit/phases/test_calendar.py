"""The group's calendar, pure: cadence, time zones, modules, breaks, overrides, matching.

Every date is fixed; "now" is an argument. The Ontario calendar is seed 000's (Wednesdays at
19:00 Toronto, modules from September, January and April, no July or August); the monthly
one is seed 001's (first Thursday, 18:45 Los Angeles, 90 minutes).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from phases.actions import Audience, SendChat
from phases.agenda import Agenda
from phases.calendar import (
    Calendar,
    CalendarError,
    DayRange,
    MatchedSession,
    ModuleRule,
    MonthlyDay,
    Override,
    SkippedMeeting,
    UnplannedSession,
)
from phases.engine import handle, new_session, wakeups
from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Joined,
    MeetingEnded,
    MeetingStarted,
    RecordingStarted,
    TimerDue,
    ZoomRole,
)
from phases.messages import DEFAULT_MESSAGES, PLACEHOLDERS
from phases.roster import RosterEntry
from phases.state import Phase, SessionState
from storage.sessions import module_bounds
from tests.unit.phases.calendars import (
    LOS_ANGELES,
    SUMMER,
    THU_10,
    TORONTO,
    WED_9,
    monthly,
    ontario,
    toronto,
)
from tests.unit.phases.helpers import person


def starts(cal: Calendar, first: date, last: date, overrides=()) -> list[str]:
    return [f"{row.start:%Y-%m-%d %H:%M%z}" for row in cal.plan(first, last, overrides)]


# -- cadence and time zones -----------------------------------------------------------------


def test_a_19_00_toronto_session_is_19_00_local_in_winter_and_in_summer_time() -> None:
    cal = ontario(breaks=())
    # clocks fall back on Sunday 1 November 2026 and spring forward on Sunday 14 March 2027
    assert starts(cal, date(2026, 10, 28), date(2026, 11, 4)) == [
        "2026-10-28 19:00-0400",
        "2026-11-04 19:00-0500",
    ]
    assert starts(cal, date(2027, 3, 10), date(2027, 3, 17)) == [
        "2027-03-10 19:00-0500",
        "2027-03-17 19:00-0400",
    ]
    rows = cal.plan(date(2026, 11, 4), date(2026, 11, 4))
    assert rows[0].start.astimezone(UTC) == datetime(2026, 11, 5, 0, 0, tzinfo=UTC)
    assert rows[0].end == toronto(2026, 11, 4, 20, 45)


def test_a_session_across_the_change_of_clocks_lasts_its_length() -> None:
    night = Calendar(zone=TORONTO, weekday=5, start_time=time(23, 30), length=timedelta(hours=3))
    (row,) = night.plan(date(2026, 10, 31), date(2026, 10, 31))
    # the clocks fall back at 02:00: three real hours after 23:30 EDT is 01:30 EST
    assert row.end.astimezone(UTC) - row.start.astimezone(UTC) == timedelta(hours=3)
    assert f"{row.end:%H:%M%z}" == "01:30-0500"


@pytest.mark.parametrize(
    ("text", "month", "expected"),
    [
        ("first thursday", (2027, 1), date(2027, 1, 7)),
        ("first thursday", (2026, 10), date(2026, 10, 1)),  # the 1st is a Thursday
        ("second tuesday", (2027, 2), date(2027, 2, 9)),
        ("fourth monday", (2027, 3), date(2027, 3, 22)),
        ("last friday", (2027, 1), date(2027, 1, 29)),
        ("last friday", (2026, 7), date(2026, 7, 31)),  # the last day is a Friday
        ("LAST Thu", (2027, 2), date(2027, 2, 25)),
        (15, (2027, 2), date(2027, 2, 15)),
        ("31", (2027, 2), date(2027, 2, 28)),  # past the month's end: its last day
        ("31", (2028, 2), date(2028, 2, 29)),
        (31, (2027, 4), date(2027, 4, 30)),
    ],
)
def test_the_day_of_a_monthly_group(text: str | int, month: tuple[int, int], expected: date):
    assert MonthlyDay.parse(text).in_month(*month) == expected


@pytest.mark.parametrize("text", ["thursday", "fifth thursday", "first funday", "0", "32", ""])
def test_a_day_of_the_month_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(CalendarError):
        MonthlyDay.parse(text)


def test_the_monthly_group_meets_on_the_first_thursday_in_its_terms() -> None:
    cal = monthly()
    rows = cal.plan(date(2027, 1, 1), date(2027, 12, 31))
    assert [f"{r.start:%Y-%m-%d %H:%M%z}" for r in rows] == [
        "2027-01-07 18:45-0800",
        "2027-02-04 18:45-0800",
        "2027-03-04 18:45-0800",
        "2027-04-01 18:45-0700",  # Pacific daylight time: still 18:45 on the group's clock
        "2027-09-02 18:45-0700",
        "2027-10-07 18:45-0700",
        "2027-11-04 18:45-0700",
        "2027-12-02 18:45-0800",
    ]
    assert [(r.module, r.number) for r in rows[:4]] == [("2027-01", n) for n in (1, 2, 3, 4)]
    assert cal.describe() == "monthly on the first Thursday of each month at 18:45"


# -- breaks, holidays and modules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        (
            "july-august",
            [date(2027, 7, 1), date(2027, 8, 31)],
            [date(2027, 6, 30), date(2027, 9, 1)],
        ),
        ("July", [date(2027, 7, 15)], [date(2027, 8, 1)]),
        ("december-january", [date(2026, 12, 1), date(2027, 1, 31)], [date(2027, 2, 1)]),
        ("12-21..01-03", [date(2026, 12, 21), date(2027, 1, 3)], [date(2027, 1, 4)]),
        ("12-25", [date(2026, 12, 25), date(2031, 12, 25)], [date(2026, 12, 24)]),
        ("2026-12-21..2027-01-04", [date(2027, 1, 4)], [date(2027, 12, 21)]),
        ("2026-09-30", [date(2026, 9, 30)], [date(2027, 9, 30)]),
        (date(2026, 9, 30), [date(2026, 9, 30)], [date(2027, 9, 30)]),
    ],
)
def test_breaks_and_holidays_as_written(text, inside: list[date], outside: list[date]) -> None:
    days = DayRange.parse(text)
    assert all(days.contains(day) for day in inside)
    assert not any(days.contains(day) for day in outside)


@pytest.mark.parametrize(
    "text", ["julember", "2027-02-30", "2027-01-05..2027-01-01", "13-01", "06-31..07-02", "soon"]
)
def test_a_break_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(CalendarError):
        DayRange.parse(text)


@pytest.mark.parametrize("year", [2026, 2027, 2031])
@pytest.mark.parametrize("month", [9, 1, 4])
def test_the_ontario_modules_are_the_ones_storage_has_always_named(year: int, month: int) -> None:
    """September-December, January-March, April-June: `storage.sessions.module_bounds`."""
    name = f"{year}-{month:02d}"
    first, last = module_bounds(name)
    cal = ontario()
    for day in (first, last, first + (last - first) / 2):
        span = cal.module_on(day)
        assert span is not None and span.name == name
        assert (span.starts_on, span.ends_on) == (first, last)
    assert cal.module_on(date(year, 7, 1)) is None and cal.module_on(date(year, 8, 31)) is None


def test_a_module_of_13_sessions_skips_its_holidays_and_then_stops() -> None:
    cal = ontario(
        modules=(ModuleRule(start_month=9, sessions=13), ModuleRule(start_month=1, sessions=10)),
        holidays=(DayRange.parse("2026-09-30"), DayRange.parse("12-23")),  # 12-23: after it
    )
    rows = cal.plan(date(2026, 9, 1), date(2026, 12, 31))
    held = [r for r in rows if r.live]
    assert len(held) == 13
    assert [r.number for r in held] == list(range(1, 14))
    assert held[0].day == date(2026, 9, 2) and held[-1].day == date(2026, 12, 2)  # one later
    (holiday,) = [r for r in rows if not r.live]
    assert (holiday.day, holiday.status, holiday.note) == (
        date(2026, 9, 30),
        "cancelled",
        "holiday",
    )
    assert holiday.number is None
    winter = [r for r in cal.plan(date(2027, 1, 1), date(2027, 3, 31)) if r.live]
    assert len(winter) == 10 and winter[-1].day == date(2027, 3, 10)


def test_a_break_inside_a_module_pauses_it() -> None:
    cal = ontario(
        modules=(ModuleRule(start_month=1, sessions=12),),
        breaks=(*SUMMER, DayRange.parse("03-08..03-14")),  # March break
    )
    rows = cal.plan(date(2027, 1, 1), date(2027, 6, 30))
    assert date(2027, 3, 10) not in [r.day for r in rows]
    assert len(rows) == 12 and rows[-1].day == date(2027, 3, 31)


def test_without_modules_every_slot_is_planned_and_in_no_module() -> None:
    cal = ontario(modules=(), breaks=())
    rows = cal.plan(date(2027, 7, 1), date(2027, 8, 31))
    assert len(rows) == 8 and all(r.module is None and r.number is None for r in rows)


def test_contradictory_parts_are_refused() -> None:
    with pytest.raises(CalendarError, match="monthly"):
        Calendar(zone=TORONTO, cadence="monthly")
    with pytest.raises(CalendarError, match="same month"):
        Calendar(zone=TORONTO, modules=(ModuleRule(start_month=9), ModuleRule(start_month=9)))
    with pytest.raises(CalendarError):
        ModuleRule(start_month=13)
    with pytest.raises(CalendarError):
        ModuleRule(start_month=9, sessions=0)


# -- overrides in the plan --------------------------------------------------------------------


def test_cancelled_moved_and_added_sessions_in_the_plan() -> None:
    cal = ontario()
    overrides = (
        Override(kind="cancel", slot=toronto(2026, 12, 2, 19, 0)),
        Override(kind="move", slot=WED_9, to=THU_10),
        Override(kind="add", to=toronto(2027, 7, 14, 19, 0)),
        Override(kind="cancel", slot=toronto(2026, 12, 3, 19, 0)),  # no such slot: ignored
    )
    rows = cal.plan(date(2026, 11, 25), date(2026, 12, 16), overrides)
    assert [(r.day.isoformat(), r.status, r.number, r.note) for r in rows] == [
        ("2026-11-25", "planned", 13, ""),
        ("2026-12-02", "cancelled", 14, "cancelled"),
        ("2026-12-10", "moved", 15, ""),
        ("2026-12-16", "planned", 16, ""),
    ]
    assert rows[2].moved_from == WED_9 and rows[2].module == "2026-09"
    (added,) = cal.plan(date(2027, 7, 1), date(2027, 8, 31), overrides)
    assert (added.status, added.module, added.number) == ("added", None, None)


def test_coming_sessions_look_past_the_break() -> None:
    cal = ontario()
    rows = cal.coming(toronto(2027, 6, 30, 20, 0), count=2)
    assert [r.day for r in rows] == [date(2027, 9, 1), date(2027, 9, 8)]


# -- matching a starting meeting ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        (toronto(2026, 12, 2, 17, 59), None),  # before the window: an unplanned session
        (toronto(2026, 12, 2, 18, 0), toronto(2026, 12, 2, 19, 0)),  # the window opens
        (toronto(2026, 12, 2, 18, 47), toronto(2026, 12, 2, 19, 0)),
        (toronto(2026, 12, 2, 19, 40), toronto(2026, 12, 2, 19, 0)),  # restarted mid-session
        (toronto(2026, 12, 2, 20, 59), toronto(2026, 12, 2, 19, 0)),  # during the reflection
        (toronto(2026, 12, 2, 21, 0), None),  # after the reflection: unplanned
    ],
)
def test_a_meeting_is_the_session_whose_window_contains_its_start(started, expected) -> None:
    match = ontario().match(started)
    if expected is None:
        assert isinstance(match, UnplannedSession)
        assert match.scheduled_start == started
    else:
        assert isinstance(match, MatchedSession)
        assert match.scheduled_start == expected
        assert match.module is not None and match.module.name == "2026-09"


def test_a_thursday_meeting_is_not_wednesdays_session_but_an_unplanned_one() -> None:
    """The old rule mapped it to Wednesday's slot, so it opened straight in `closing`."""
    started = datetime(2026, 12, 3, 23, 50, tzinfo=UTC)  # Thursday 18:50 in Toronto
    match = ontario().match(started)
    assert isinstance(match, UnplannedSession)
    assert match.scheduled_start == toronto(2026, 12, 3, 18, 50)
    assert match.scheduled_start.tzinfo is TORONTO  # the engine tells times in this zone
    assert match.module is not None and match.module.name == "2026-09"


def test_a_moved_session_is_matched_at_its_new_time_and_its_old_slot_is_skipped() -> None:
    overrides = (Override(kind="move", slot=WED_9, to=THU_10),)
    match = ontario().match(toronto(2026, 12, 10, 18, 40), overrides)
    assert isinstance(match, MatchedSession)
    assert (match.scheduled_start, match.session.status) == (THU_10, "moved")
    assert match.module is not None and match.module.name == "2026-09"
    old = ontario().match(toronto(2026, 12, 9, 18, 55), overrides)
    assert isinstance(old, SkippedMeeting) and old.reason == "moved"
    assert "moved to Thu 2026-12-10 19:00" in old.detail


def test_a_moved_session_keeps_its_module_across_the_module_boundary() -> None:
    last = toronto(2026, 12, 30, 19, 0)
    overrides = (Override(kind="move", slot=last, to=toronto(2027, 1, 5, 19, 0)),)
    match = ontario().match(toronto(2027, 1, 5, 18, 50), overrides)
    assert isinstance(match, MatchedSession)
    assert match.module is not None and match.module.name == "2026-09"


@pytest.mark.parametrize(
    ("calendar", "started", "overrides", "reason"),
    [
        (
            ontario(),
            toronto(2026, 12, 9, 18, 50),
            (Override(kind="cancel", slot=WED_9),),
            "cancelled",
        ),
        (
            ontario(holidays=(DayRange.parse("12-23"),)),
            toronto(2026, 12, 23, 18, 50),
            (),
            "holiday",
        ),
        (ontario(), toronto(2026, 7, 15, 18, 50), (), "break"),  # a July evening
        (ontario(), toronto(2026, 8, 3, 10, 0), (), "break"),  # any time in the break
    ],
)
def test_skipped_meetings(calendar: Calendar, started, overrides, reason: str) -> None:
    match = calendar.match(started, overrides)
    assert isinstance(match, SkippedMeeting)
    assert match.reason == reason


def test_a_session_added_in_the_break_is_held() -> None:
    added = toronto(2026, 7, 15, 19, 0)
    match = ontario().match(toronto(2026, 7, 15, 18, 50), (Override(kind="add", to=added),))
    assert isinstance(match, MatchedSession)
    assert (match.scheduled_start, match.session.status, match.module) == (added, "added", None)


def test_when_two_windows_contain_the_meeting_the_session_under_way_wins() -> None:
    # overlapping windows: only a change of settings makes them (commands refuse them)
    overrides = (Override(kind="add", to=toronto(2026, 12, 2, 21, 30)),)
    cal = ontario()
    restarted = cal.match(toronto(2026, 12, 2, 20, 40), overrides)
    assert isinstance(restarted, MatchedSession) and restarted.scheduled_start.hour == 19
    after = cal.match(toronto(2026, 12, 2, 21, 5), overrides)
    assert isinstance(after, MatchedSession) and after.scheduled_start.hour == 21
    early = ontario(reflection=timedelta(0)).match(toronto(2026, 12, 2, 18, 30), overrides)
    assert isinstance(early, MatchedSession) and early.scheduled_start.hour == 19


def test_the_monthly_group_matches_its_first_thursday_only() -> None:
    cal = monthly()
    first = cal.match(datetime(2027, 1, 7, 18, 40, tzinfo=LOS_ANGELES))
    assert isinstance(first, MatchedSession)
    assert first.scheduled_start == datetime(2027, 1, 7, 18, 45, tzinfo=LOS_ANGELES)
    assert first.session.end == datetime(2027, 1, 7, 20, 15, tzinfo=LOS_ANGELES)
    second = cal.match(datetime(2027, 1, 14, 18, 40, tzinfo=LOS_ANGELES))
    assert isinstance(second, UnplannedSession)


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(CalendarError, match="timezone-aware"):
        ontario().match(datetime(2026, 12, 2, 19, 0))


# -- the engine state of a skipped meeting and of an unplanned session ---------------------------


def test_a_skipped_meeting_is_inert_and_survives_a_restart() -> None:
    start = toronto(2026, 7, 15, 18, 50)
    state, first = new_session(agenda=Agenda(), roster=(), scheduled_start=start, skipped="break")
    assert first == [] and state.phase is Phase.ENDED and wakeups(state) == []
    assert SessionState.from_json(state.to_json()) == state
    anna = person("Anna")
    for event in (
        MeetingStarted(),
        ArrivedInWaitingRoom(participant=anna),
        RecordingStarted(participant=anna),
        ChatMessage(sender=anna, text="/status", message_id="m1"),
        TimerDue(timer="meditation_start"),
        MeetingEnded(),
    ):
        after, actions = handle(state, event, start + timedelta(minutes=5))
        assert actions == [] and after == state


def test_a_session_state_without_skipped_reads_as_before() -> None:
    state, _ = new_session(agenda=Agenda(), roster=(), scheduled_start=WED_9)
    assert '"skipped"' not in state.to_json() and '"unplanned"' not in state.to_json()
    again = SessionState.from_json(state.to_json())
    assert again.setup.skipped == "" and not again.setup.unplanned


def test_the_facilitators_are_told_once_privately_of_an_unplanned_session() -> None:
    """Told when the first facilitator is in the meeting (none is when it starts), with the
    start and end on the group's clock; never again, not even after a restart."""
    match = ontario().match(datetime(2026, 12, 3, 23, 50, tzinfo=UTC))  # Thursday 18:50
    assert isinstance(match, UnplannedSession)
    start = match.scheduled_start
    roster = (
        RosterEntry(display_name="Fay", role="facilitator", registrant_id="reg-fay"),
        RosterEntry(display_name="Anna"),
    )
    agenda = Agenda(length_minutes=105)
    state, _ = new_session(agenda=agenda, roster=roster, scheduled_start=start, unplanned=True)
    told: list[SendChat] = []
    fay = person("Fay", registrant_id="reg-fay")  # her registration link: a facilitator (#13)
    steps = [
        MeetingStarted(),
        Joined(participant=person("Anna"), role=ZoomRole.ATTENDEE),
        Joined(participant=fay, role=ZoomRole.ATTENDEE),
        Joined(participant=person("Host Two"), role=ZoomRole.HOST),
        TimerDue(timer="meditation_end"),
    ]
    for minute, event in enumerate(steps):
        state, actions = handle(state, event, start + timedelta(minutes=minute))
        state = SessionState.from_json(state.to_json())  # a restart between any two events
        chats = [a for a in actions if isinstance(a, SendChat) and "calendar" in a.text]
        if minute < 2:
            assert chats == []  # no facilitator there yet
        told += chats
    (line,) = told
    assert line.to is Audience.FACILITATORS
    assert [r.name for r in line.recipients] == ["Fay"]
    assert line.text == DEFAULT_MESSAGES["unplanned_session"].format(
        date="2026-12-03", time="18:50", end="20:35"
    )
    assert PLACEHOLDERS["unplanned_session"] == {"date", "time", "end"}


def test_a_planned_session_tells_nothing_of_the_calendar() -> None:
    roster = (RosterEntry(display_name="Fay", role="facilitator"),)
    state, _ = new_session(agenda=Agenda(), roster=roster, scheduled_start=WED_9)
    for event in (MeetingStarted(), Joined(participant=person("Fay"), role=ZoomRole.HOST)):
        state, actions = handle(state, event, WED_9 - timedelta(minutes=5))
        assert not [a for a in actions if isinstance(a, SendChat) and "calendar" in a.text]
