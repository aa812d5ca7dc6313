"""Claimable time (pure): the therapy window, absences, the physician's presence, modality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phases.errors import BalintError
from storage.attendance import (
    GROUP_SIZE_RULES,
    Interval,
    PresenceEvent,
    Span,
    claimable_time,
    compute_attendance,
    counts_for_group_size,
    intersect,
    subtract,
    therapy_window,
    whole_minutes,
)
from storage.phase_log import PhaseRecord

START = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def span(begin: float, end: float, modality: str = "video") -> Span:
    return Span(at(begin), at(end), modality)


def changes(*steps: tuple[float, str]) -> list[PhaseRecord]:
    found, previous = [], "social"
    for minutes, phase in steps:
        found.append(PhaseRecord(at=at(minutes), from_phase=previous, to_phase=phase, reason=""))
        previous = phase
    return found


EVENING = changes(
    (0, "meditation"), (10, "case_call"), (12, "presentation"), (60, "return"),
    (105, "closing"), (106, "reflection"), (121, "ended"),
)  # fmt: skip


def window(steps=EVENING, group_end: float | None = 105):
    return therapy_window(
        steps,
        scheduled_start=START,
        scheduled_end=at(105),
        group_end=at(group_end) if group_end is not None else None,
    )


def test_the_window_runs_from_the_meditation_to_the_closing():
    found = window()
    assert (found.start, found.end, found.minutes, found.basis) == (at(0), at(105), 105, "phases")
    assert found.reflection == (Interval(at(106), at(121)),)
    assert whole_minutes(found.counted(reflection=True)) == 120


def test_an_extension_moves_the_closing_and_the_window_with_it():
    extended = changes((0, "meditation"), (10, "case_call"), (120, "closing"), (121, "ended"))
    assert window(extended, group_end=120).minutes == 120


def test_the_group_end_caps_a_late_closing_and_without_state_the_log_decides():
    late = changes((0, "meditation"), (10, "case_call"), (125, "closing"), (126, "ended"))
    assert window(late, group_end=105).minutes == 105
    assert window(late, group_end=None).minutes == 125


def test_a_meeting_ended_by_zoom_and_restarted_keeps_both_stretches():
    restarted = changes(
        (0, "meditation"), (30, "ended"), (40, "discussion"), (105, "closing"), (106, "ended")
    )
    found = window(restarted)
    assert found.therapy == (Interval(at(0), at(30)), Interval(at(40), at(105)))
    assert found.minutes == 95


def test_without_phase_changes_the_schedule_is_the_window():
    found = window([], group_end=None)
    assert (found.basis, found.minutes) == ("schedule", 105)
    assert window([], group_end=120).minutes == 120


@pytest.mark.parametrize(
    ("spans", "physician", "minutes"),
    [
        ([span(-5, 120)], [span(-10, 125)], 105),
        ([span(-15, 65)], [span(-10, 125)], 65),  # social time before the start not counted
        ([span(-5, 40), span(70, 120)], [span(-10, 125)], 75),  # absence subtracted
        ([span(-5, 120)], [span(-10, 30)], 30),  # the physician left at 30
        ([span(-5, 120)], [span(-10, 40), span(70, 125)], 75),  # the physician stepped out
        ([span(-5, 120)], [], 0),
        ([span(-5, 60), span(30, 90, "telephone")], [span(-10, 125)], 90),  # overlap once
    ],
)
def test_claimable_minutes(spans, physician, minutes):
    found = claimable_time(
        spans, window=window().therapy, physician=[s.interval for s in physician]
    )
    assert found.minutes == minutes


@pytest.mark.parametrize(
    ("spans", "modality"),
    [
        ([span(-5, 120)], "video"),
        ([span(-5, 120, "telephone")], "telephone"),
        ([span(-5, 52, "video"), span(52, 105, "telephone")], "telephone"),  # 52 of 105
        ([span(-5, 53, "video"), span(53, 105, "telephone")], "video"),  # 53 of 105
        ([span(-5, 120, "video"), span(0, 120, "telephone")], "video"),  # phone alongside
        ([span(-5, 120, "")], ""),  # unknown: never guessed
        ([span(-5, 20, ""), span(20, 105, "video")], "video"),  # unknown cannot flip it
        ([span(-5, 60, ""), span(60, 105, "telephone")], ""),  # unknown could decide it
    ],
)
def test_the_modality_held_for_most_of_the_claimable_time(spans, modality):
    found = claimable_time(spans, window=window().therapy, physician=[Interval(at(-10), at(125))])
    assert found.modality == modality


@pytest.mark.parametrize(
    ("rule", "role", "billable", "counted"),
    [
        ("members", "member", False, True),
        ("members", "facilitator", False, False),
        ("members", "guest", False, False),
        ("billable_members", "member", False, False),
        ("billable_members", "member", True, True),
        ("members_and_guests", "guest", False, True),
        ("members_and_guests", "facilitator", False, False),
        ("everyone", "facilitator", False, True),
    ],
)
def test_group_size_rules(rule, role, billable, counted):
    inside = [span(100, 101)]
    outside = [span(-20, 0), span(105, 121)]  # social time and reflection only
    therapy = window().therapy
    assert (
        counts_for_group_size(role=role, billable=billable, spans=inside, window=therapy, rule=rule)
        is counted
    )
    assert not counts_for_group_size(
        role=role, billable=billable, spans=outside, window=therapy, rule=rule
    )


def test_an_unknown_group_size_rule_is_refused():
    assert "members" in GROUP_SIZE_RULES
    with pytest.raises(BalintError, match="group size rule"):
        counts_for_group_size(role="member", billable=True, spans=[], window=[], rule="all")


minutes = st.integers(min_value=-30, max_value=150)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(minutes, minutes), max_size=6),
    st.lists(st.tuples(minutes, minutes), max_size=6),
)
def test_intersect_and_subtract_partition_the_time(a, b):
    left = [Interval(at(min(x, y)), at(max(x, y))) for x, y in a if x != y]
    right = [Interval(at(min(x, y)), at(max(x, y))) for x, y in b if x != y]
    both = intersect(left, right)
    only = subtract(left, right)
    total = sum(i.seconds for i in intersect(left, left))
    assert sum(i.seconds for i in both) + sum(i.seconds for i in only) == pytest.approx(total)
    assert not intersect(only, right)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(minutes, minutes), max_size=4),
    st.lists(st.tuples(minutes, minutes), max_size=3),
    st.sampled_from(("member", "guest", "facilitator")),
    st.booleans(),
    st.sampled_from(sorted(GROUP_SIZE_RULES)),
)
def test_the_group_size_counts_a_person_of_its_rule_who_shared_time_with_the_window(
    own, window, role, billable, rule
):
    spans = [span(min(x, y), max(x, y)) for x, y in own]
    parts = [Interval(at(min(x, y)), at(max(x, y))) for x, y in window]
    shared = bool(intersect((s.interval for s in spans), parts))
    of_the_rule = {
        "everyone": True,
        "members_and_guests": role in ("member", "guest"),
        "billable_members": role == "member" and billable,
        "members": role == "member",
    }[rule]
    counted = counts_for_group_size(
        role=role, billable=billable, spans=spans, window=parts, rule=rule
    )
    assert counted is (of_the_rule and shared)


def test_attendance_keeps_each_join_and_how_it_came_in():
    events = [
        PresenceEvent(kind="meeting_started", at=at(-15)),
        PresenceEvent(kind="joined", at=at(-5), participant_key="p", user_id="1", name="Ann",
                      modality="video"),
        PresenceEvent(kind="left", at=at(40), participant_key="p", user_id="1", name="Ann"),
        PresenceEvent(kind="joined", at=at(70), participant_key="p", user_id="2", name="Ann",
                      modality="telephone"),
        PresenceEvent(kind="left", at=at(120), participant_key="p", user_id="2", name="Ann"),
        PresenceEvent(kind="meeting_ended", at=at(125)),
    ]  # fmt: skip
    (person,) = compute_attendance(events).people
    assert person.spans == (span(-5, 40, "video"), span(70, 120, "telephone"))
    assert person.minutes == 95


def test_an_unknown_modality_is_refused():
    with pytest.raises(BalintError, match="modality"):
        PresenceEvent(kind="joined", at=START, modality="carrier pigeon")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(minutes, minutes, st.sampled_from(["video", "telephone", ""])), max_size=5)
)
def test_the_split_by_modality_is_the_claimable_time_and_one_way_in_takes_all_of_it(joins):
    spans = [span(min(x, y), max(x, y), way) for x, y, way in joins if x != y]
    found = claimable_time(spans, window=window().therapy, physician=[Interval(at(-10), at(125))])
    # whole-minute ends: the three parts add up exactly
    assert found.video_minutes + found.telephone_minutes + found.unknown_minutes == found.minutes
    ways = {s.modality for s in spans}
    if len(ways) == 1:
        parts = {
            "video": found.video_minutes,
            "telephone": found.telephone_minutes,
            "": found.unknown_minutes,
        }
        assert parts[ways.pop()] == found.minutes
