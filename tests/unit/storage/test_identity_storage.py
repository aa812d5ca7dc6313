"""Roster standing and attendance identity (issue 13): the same resolver as the engine."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from phases.agenda import Agenda
from phases.engine import handle, new_session
from phases.events import ArrivedInWaitingRoom, ChatMessage, Participant
from phases.roster import RosterEntry
from storage import attendance as att
from storage import health_number, person_keys
from storage import runtime_state as rs
from storage.attendance import PresenceEvent, compute_attendance
from storage.crypto import Keyring, generate_key
from storage.roster import (
    ROSTER_HEADERS,
    RosterImportError,
    import_roster,
    list_members,
    parse_roster,
    roster_entries,
)
from storage.sessions import ensure_session
from storage.tables.core import AttendanceRecord, Member
from tests.clock import TEST_NOW

HEADER = ",".join(ROSTER_HEADERS)
KEYRING = Keyring.from_text(generate_key())
TODAY = date(2026, 11, 29)
START = datetime(2026, 10, 7, 23, 0, tzinfo=UTC)  # 19:00 Toronto, module 2026-09


_RNG = random.Random(13)
_NUMBERS: dict[str, str] = {}


def row(display: str, role: str = "member", registrant: str = "", modules: str = "", **kw: str):
    """One roster CSV line; a member gets a synthetic health number (one per name) and a
    birth date, as the roster requires."""
    value = dict.fromkeys(ROSTER_HEADERS, "")
    value.update(
        first_name=kw.get("first", display),
        last_name=kw.get("last", "Example"),
        display_name=display,
        email=kw.get("email", ""),
        role=role,
        registrant_id=registrant,
        modules=modules,
    )
    if role == "member":
        number = _NUMBERS.setdefault(display, health_number.generate(_RNG))
        value.update(health_number=number, birth_date="1980-01-01")
    out = io.StringIO()
    csv.DictWriter(out, fieldnames=ROSTER_HEADERS, lineterminator="").writerow(value)
    return out.getvalue()


def load(session: Session, *rows: str) -> Any:
    parsed = parse_roster("\n".join((HEADER, *rows)) + "\n", today=TODAY)
    result = import_roster(session, group_name="G", rows=parsed, keyring=KEYRING, now=TEST_NOW)
    session.commit()
    return result


# -- roster standing ---------------------------------------------------------------------------


def test_a_member_missing_from_a_later_import_becomes_inactive_and_comes_back(db_session):
    load(db_session, row("Fay", "facilitator"), row("Ann"), row("Omar"))
    result = load(db_session, row("Fay", "facilitator"), row("Ann"))
    assert result.deactivated == 1
    standing = {e.display_name: e.standing for e in roster_entries(db_session, group_name="G")}
    assert standing == {"Fay": "active", "Ann": "active", "Omar": "inactive"}
    assert {m.display_name: m.status for m in list_members(db_session, group_name="G")} == {
        "Fay": "active",
        "Ann": "active",
        "Omar": "inactive",
    }
    assert load(db_session, row("Fay", "facilitator"), row("Ann"), row("Omar")).deactivated == 0
    assert all(e.standing == "active" for e in roster_entries(db_session, group_name="G"))


def test_a_registrant_id_from_registrants_sync_survives_a_later_import(db_session):
    load(db_session, row("Ann"))
    ann = db_session.scalars(select(Member)).one()
    ann.registrant_id = "reg-from-zoom"  # what `registrants sync` stores
    db_session.commit()
    load(db_session, row("Ann"))  # the file leaves the column blank
    assert roster_entries(db_session, group_name="G")[0].registrant_id == "reg-from-zoom"
    load(db_session, row("Ann", registrant="reg-new"))  # a file that says one wins
    assert roster_entries(db_session, group_name="G")[0].registrant_id == "reg-new"


def test_closed_modules_mark_members_not_enrolled_in_the_current_one(db_session):
    load(
        db_session,
        row("Fay", "facilitator"),
        row("Ann", modules="2026-09"),
        row("Ben", modules="2026-01"),
        row("Cal"),
    )
    entries = roster_entries(db_session, group_name="G", module="2026-09")
    assert {e.display_name: e.standing for e in entries} == {
        "Fay": "active",  # facilitators are not enrolled in modules
        "Ann": "active",
        "Ben": "not_enrolled",
        "Cal": "not_enrolled",
    }
    assert all(e.standing == "active" for e in roster_entries(db_session, group_name="G"))


def test_a_closed_module_nobody_is_enrolled_in_restricts_nobody(db_session, caplog):
    load(db_session, row("Ann"), row("Ben"))
    entries = roster_entries(db_session, group_name="G", module="2026-09")
    assert all(e.standing == "active" for e in entries)
    assert "no member is enrolled in 2026-09" in caplog.text


def test_full_names_reach_the_engine(db_session):
    load(db_session, row("Maya", "facilitator", first="Maya", last="Reyes"))
    (maya,) = roster_entries(db_session, group_name="G")
    assert maya.full_name == "Maya Reyes"


def test_overlong_roster_fields_are_refused_by_name(db_session):
    try:
        parse_roster(f"{HEADER}\n{row('A' * 201, first='A', last='B')}\n", today=TODAY)
    except RosterImportError as refused:
        assert [(p.row, p.field) for p in refused.problems] == [(2, "display_name")]
    else:
        raise AssertionError("a 201-character display name was accepted")


# -- attendance ----------------------------------------------------------------------------------

ROSTER = (
    RosterEntry(display_name="Helen", role="facilitator", member_id="1", registrant_id="reg-h"),
    RosterEntry(display_name="Anna", member_id="2", first_name="Anna", last_name="Smith"),
    RosterEntry(display_name="Ben", member_id="3"),
)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def stay(key: str, name: str, begin: float, end: float, **more: Any) -> list[PresenceEvent]:
    return [
        PresenceEvent(kind="joined", at=at(begin), participant_key=key, name=name, **more),
        PresenceEvent(kind="left", at=at(end), participant_key=key, name=name, **more),
    ]


def meeting(*stays: list[PresenceEvent]) -> list[PresenceEvent]:
    events = [PresenceEvent(kind="meeting_started", at=at(-15))]
    for one in stays:
        events += one
    return [*events, PresenceEvent(kind="meeting_ended", at=at(106))]


def people(events, confirmed=None) -> dict[str, tuple[str, str, int]]:
    result = compute_attendance(events, roster=ROSTER, scheduled_start=START, confirmed=confirmed)
    return {p.person_key: (p.name, p.role, p.minutes) for p in result.people}


def test_attendance_never_takes_the_first_word_for_a_roster_person():
    found = people(meeting(stay("h", "Helen Visitor", 0, 60), stay("d", "Dr. Anna Smith", 0, 90)))
    assert ("Helen Visitor", "guest", 60) in found.values()
    assert found["member:2"] == ("Anna", "member", 90)
    assert "member:1" not in found  # no therapy time for an impostor
    result = compute_attendance(meeting(stay("h", "Helen Visitor", 0, 60)), roster=ROSTER)
    assert result.therapy == ()


def test_a_phone_caller_is_never_attendance_by_name_but_counts_as_confirmed():
    caller = stay("p", "Anna", 20, 100, phone=True)
    found = people(meeting(stay("a", "Ben", 0, 15), caller))
    assert "member:2" not in found  # a caller showing "Anna" is not Anna
    assert ("Anna", "guest", 80) in found.values()
    confirmed = people(meeting(stay("a", "Ben", 0, 15), caller), confirmed={"p": "Ben"})
    assert confirmed["member:3"] == ("Ben", "member", 15 + 80)


def test_confirmed_identities_come_from_the_saved_engine_state(db_session):
    ensure_session(
        db_session,
        group_name="G",
        meeting_uuid="m1",
        meeting_id="1",
        scheduled_start=START,
        now=TEST_NOW,
    )
    state, _ = new_session(agenda=Agenda(), roster=ROSTER, scheduled_start=START)
    helen = Participant(key="h", user_id="uh", name="Helen", registrant_id="reg-h")
    caller = Participant(key="p", user_id="up", name="416****142", phone=True)
    for event in (
        ArrivedInWaitingRoom(participant=helen),
        ArrivedInWaitingRoom(participant=caller),
        ChatMessage(sender=helen, text="/admit 416 as Anna"),
    ):
        state, _ = handle(state, event, at(-10))
    rs.create_meeting(
        db_session, meeting_uuid="m1", meeting_id="1", state_json=state.to_json(), now=at(-10)
    )
    db_session.commit()
    assert att.confirmed_identities(db_session, meeting_uuid="m1") == {"p": "Anna"}
    assert att.confirmed_identities(db_session, meeting_uuid="nope") == {}


def test_confirmed_identities_reach_the_webhook_ids_of_a_person_the_sdk_saw_first(db_session):
    # The SDK bot saw the caller first: the engine keys them by the persistent id "p"; the
    # webhooks, which attendance is computed from, name them by another uuid and user id.
    ensure_session(
        db_session,
        group_name="G",
        meeting_uuid="m3",
        meeting_id="1",
        scheduled_start=START,
        now=TEST_NOW,
    )
    state, _ = new_session(agenda=Agenda(), roster=ROSTER, scheduled_start=START)
    helen = Participant(key="h", user_id="uh", name="Helen", registrant_id="reg-h")
    caller = Participant(key="p", user_id="7", name="416****142", phone=True)
    for event in (
        ArrivedInWaitingRoom(participant=helen),
        ArrivedInWaitingRoom(participant=caller),
        ChatMessage(sender=helen, text="/admit 416 as Anna"),
    ):
        state, _ = handle(state, event, at(-10))
    rs.create_meeting(
        db_session, meeting_uuid="m3", meeting_id="1", state_json=state.to_json(), now=at(-10)
    )
    ids = [
        person_keys.PersonId(kind=kind, value=value, person_key="p", linked_by=how)
        for kind, value, how in (
            ("persistent_id", "p", "first"),
            ("sdk_user_id", "7", "first"),
            ("participant_uuid", "uuid-caller", "user_id"),
            ("webhook_user_id", "73", "user_id"),
        )
    ]
    person_keys.record_person_ids(db_session, meeting_uuid="m3", ids=ids, now=at(-10))
    db_session.commit()
    confirmed = att.confirmed_identities(db_session, meeting_uuid="m3")
    assert confirmed == {"p": "Anna", "uuid-caller": "Anna", "73": "Anna"}
    events = meeting(stay("uuid-caller", "416****142", 0, 60, phone=True))
    assert people(events, confirmed)["member:2"] == ("Anna", "member", 60)


def test_a_500_character_name_is_stored_and_finalised_without_error(db_session):
    load(db_session, row("Ann"))
    ensure_session(
        db_session,
        group_name="G",
        meeting_uuid="m2",
        meeting_id="1",
        scheduled_start=START,
        now=TEST_NOW,
    )
    long_name = "\U0001f600" + "x" * 499
    for number, event in enumerate(meeting(stay("k", long_name, 0, 70))):
        att.record_presence(db_session, meeting_uuid="m2", journal_id=number, event=event)
    att.finalize(db_session, meeting_uuid="m2", now=at(200))
    db_session.commit()
    (record,) = db_session.scalars(select(AttendanceRecord)).all()
    assert len(record.name) <= 200 and len(record.person_key) <= 200
    assert record.role == "guest"
