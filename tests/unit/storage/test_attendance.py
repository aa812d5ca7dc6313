"""Attendance from presence events: intervals, rejoins, waiting room, therapy time, order-free."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from phases.roster import RosterEntry
from storage import attendance as att
from storage.attendance import AttendancePolicy, PresenceEvent, compute_attendance
from storage.sessions import ensure_session
from storage.tables.core import AttendanceRecord, SessionRecord, TherapyInterval
from tests.clock import TEST_NOW

START = datetime(2026, 10, 7, 23, 0, tzinfo=UTC)  # 19:00 Toronto
ROSTER = (
    RosterEntry(display_name="Fay", role="facilitator", member_id="1"),
    RosterEntry(display_name="Ann", member_id="2", email="ann@example.org"),
    RosterEntry(display_name="Ben", member_id="3", registrant_id="reg-ben"),
)
POLICY = AttendancePolicy(present_minutes=60, exclude_names=frozenset({"Balint Companion"}))


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def ev(kind: Any, minutes: float, key: str = "", name: str = "", **more: str) -> PresenceEvent:
    return PresenceEvent(kind=kind, at=at(minutes), participant_key=key, name=name, **more)


SCENARIO = (
    ev("meeting_started", -15),
    ev("joined", -14, "bot", "Balint Companion"),
    ev("joined", -10, "f1", "Fay"),
    ev("waiting_joined", -2, "a1", "Ann (she/her)", email="ann@example.org"),
    ev("waiting_left", 0, "a1", "Ann (she/her)", email="ann@example.org"),
    ev("joined", 0, "a1", "Ann (she/her)", email="ann@example.org"),
    ev("left", 30, "a1", "Ann (she/her)", email="ann@example.org"),
    ev("joined", 32, "a2", "ann"),  # rejoin: new participant uuid, same roster name
    ev("joined", 20, "b1", "iPhone", registrant_id="reg-ben"),  # late, matched by registrant
    ev("left", 80, "b1", "", registrant_id="reg-ben"),  # leaves early; name missing on leave
    ev("joined", 10, "g1", "Guest iPad"),
    ev("left", 15, "g1", "Guest iPad"),
    ev("left", 105, "f1", "Fay"),
    ev("meeting_ended", 106),
)


def test_scenario_per_person():
    result = compute_attendance(SCENARIO, roster=ROSTER, scheduled_start=START, policy=POLICY)
    people = {p.name: p for p in result.people}
    assert set(people) == {"Fay", "Ann", "Ben", "Guest iPad"}  # bot excluded, Ann joined up
    fay, ann, ben, guest = people["Fay"], people["Ann"], people["Ben"], people["Guest iPad"]
    assert (fay.role, fay.minutes, fay.late, fay.left_early, fay.present) == (
        "facilitator",
        115,
        False,
        False,
        True,
    )
    assert ann.member_id == "2" and ann.person_key == "member:2"
    assert [(i.start, i.end) for i in ann.intervals] == [(at(0), at(30)), (at(32), at(106))]
    assert (ann.minutes, ann.waiting_minutes) == (30 + 74, 2)
    assert (ann.first_join, ann.last_leave) == (at(0), at(106))
    assert (ann.late, ann.left_early, ann.present) == (False, False, True)
    assert (ben.minutes, ben.late, ben.left_early, ben.present) == (60, True, True, True)
    assert (guest.role, guest.member_id, guest.minutes, guest.present) == ("guest", "", 5, False)
    assert [(i.start, i.end) for i in result.therapy] == [(at(-10), at(105))]
    assert (result.therapy_start, result.therapy_end) == (at(-10), at(105))
    assert [p.name for p in result.people] == ["Fay", "Ann", "Guest iPad", "Ben"]


def test_missed_join_counts_from_meeting_start_and_open_join_to_meeting_end():
    events = [
        ev("meeting_started", 0),
        ev("left", 50, "x", "Cal"),
        ev("joined", 5, "y", "Dee"),
        ev("meeting_ended", 90),
    ]
    people = {p.name: p for p in compute_attendance(events, policy=POLICY).people}
    assert people["Cal"].minutes == 50 and people["Cal"].left_early
    assert people["Dee"].minutes == 85 and not people["Dee"].left_early


def test_overlapping_join_sessions_count_once():
    events = [
        ev("joined", 0, "a", "Ann"),
        ev("joined", 10, "b", "Ann"),
        ev("left", 40, "a", "Ann"),
        ev("left", 50, "b", "Ann"),
        ev("meeting_ended", 60),
    ]
    (ann,) = compute_attendance(events, roster=ROSTER, scheduled_start=START).people
    assert ann.minutes == 50 and len(ann.intervals) == 1


def test_no_events_no_people():
    result = compute_attendance([], roster=ROSTER)
    assert result.people == () and result.therapy == () and result.started_at is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_shuffled_duplicated_order_gives_the_same_attendance(data):
    base = data.draw(st.lists(st.sampled_from(SCENARIO + _extra()), min_size=1, max_size=25))
    ordered = sorted(set(base), key=PresenceEvent.sort_key)
    shuffled = data.draw(st.permutations(base))
    dupes = data.draw(st.lists(st.sampled_from(base), max_size=10))
    mixed = list(shuffled) + dupes
    mixed = data.draw(st.permutations(mixed))
    expected = compute_attendance(ordered, roster=ROSTER, scheduled_start=START, policy=POLICY)
    got = compute_attendance(mixed, roster=ROSTER, scheduled_start=START, policy=POLICY)
    assert got == expected


def _extra() -> tuple[PresenceEvent, ...]:
    return (
        ev("joined", 30, "a1", "Ann (she/her)", email="ann@example.org"),  # same time as left
        ev("waiting_joined", 40, "g2", "Stranger"),
        ev("waiting_left", 45, "g2", "Stranger"),
        ev("left", 30, "f1", "Fay"),
        ev("joined", 31, "f2", "fay"),
        ev("left", 60, "f2", "fay"),
        ev("meeting_ended", 90),
    )


# ------------------------------------------------------------------------- with a database


def _store(db_session: Session, events: Sequence[PresenceEvent], uuid: str = "m-uuid-1") -> None:
    for index, event in enumerate(events):
        att.record_presence(db_session, meeting_uuid=uuid, journal_id=index + 1, event=event)


def test_record_presence_is_idempotent_per_journal_id(db_session):
    assert att.record_presence(db_session, meeting_uuid="u", journal_id=7, event=SCENARIO[0])
    assert not att.record_presence(db_session, meeting_uuid="u", journal_id=7, event=SCENARIO[1])
    assert att.record_presence(db_session, meeting_uuid="other", journal_id=7, event=SCENARIO[1])
    db_session.commit()
    assert att.presence_events(db_session, meeting_uuid="u") == (SCENARIO[0],)


def test_finalize_stores_what_the_pure_function_computes(db_session):
    from storage.crypto import Keyring
    from storage.roster import ROSTER_HEADERS, import_roster, parse_roster

    header = ",".join(ROSTER_HEADERS)
    rows = parse_roster(
        f"{header}\nF,X,Fay,,facilitator,,,,,,,,,,,,,\nA,Y,Ann,ann@example.org,facilitator,,,,,,,,,,,,,\n",
        today=TEST_NOW.date(),
    )
    import_roster(
        db_session, group_name="G", rows=rows, keyring=Keyring.from_text(None), now=TEST_NOW
    )
    session_id = ensure_session(
        db_session,
        group_name="G",
        meeting_uuid="m-uuid-1",
        meeting_id="123",
        scheduled_start=START,
        now=TEST_NOW,
    )
    _store(db_session, SCENARIO)
    _store(db_session, SCENARIO)  # a replay changes nothing
    db_session.commit()
    live = att.attendance_for(db_session, meeting_uuid="m-uuid-1", policy=POLICY)
    result = att.finalize(db_session, meeting_uuid="m-uuid-1", policy=POLICY, now=at(200))
    db_session.commit()
    assert result == live
    stored = att.stored_attendance(db_session, session_id=session_id)
    assert [(r.name, r.minutes, r.present, r.role) for r in stored] == [
        (p.name, p.minutes, p.present, p.role) for p in result.people
    ]
    assert all(r.first_join is None or r.first_join.tzinfo is not None for r in stored)
    record = db_session.get(SessionRecord, session_id)
    assert (record.therapy_start, record.therapy_end) == (result.therapy_start, result.therapy_end)
    assert record.finalized_at == at(200)
    att.finalize(db_session, meeting_uuid="m-uuid-1", policy=POLICY, now=at(300))
    db_session.commit()
    assert db_session.query(AttendanceRecord).count() == len(result.people)
    assert db_session.query(TherapyInterval).count() == len(result.therapy)
    # the join sessions are stored with each row, once, whatever the re-finalising
    stored = att.stored_attendance(db_session, session_id=session_id)
    spans = att.stored_spans(db_session, session_ids=[session_id])
    assert [spans.get(r.id, ()) for r in stored] == [p.spans for p in result.people]
    assert sum(len(found) for found in spans.values()) == sum(len(p.spans) for p in result.people)


def test_the_modality_zoom_reported_is_stored_with_the_presence(db_session):
    joined = att.PresenceEvent(kind="joined", at=at(1), participant_key="p", user_id="9",
                               name="Caller", modality="telephone")  # fmt: skip
    assert att.record_presence(db_session, meeting_uuid="u", journal_id=1, event=joined)
    db_session.commit()
    assert att.presence_events(db_session, meeting_uuid="u") == (joined,)


def test_a_leave_without_participant_uuid_pairs_with_its_join_by_user_id():
    events = [
        ev("meeting_started", 0),
        PresenceEvent(kind="joined", at=at(10), participant_key="pk-1", user_id="77", name="Ann"),
        PresenceEvent(kind="left", at=at(30), user_id="77", name="Ann"),
        ev("meeting_ended", 100),
    ]
    (ann,) = compute_attendance(events, roster=ROSTER, scheduled_start=START).people
    assert [(i.start, i.end) for i in ann.intervals] == [(at(10), at(30))]
