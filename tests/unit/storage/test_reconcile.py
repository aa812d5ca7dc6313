"""Reconciliation with Zoom's past-meeting participants report (recorded response bodies)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from phases.errors import BalintError
from storage import attendance as att
from storage.attendance import AttendancePolicy, PresenceEvent
from storage.crypto import Keyring, generate_key
from storage.reconcile import ReportRow, reconcile, report_attendance
from storage.roster import ROSTER_HEADERS, import_roster, parse_roster
from storage.sessions import ensure_session
from storage.tables.core import Disagreement
from tests.clock import TEST_NOW

API = Path(__file__).resolve().parents[2] / "fixtures" / "zoom" / "api"
UUID = "pastMeetingUuid0001=="
START = datetime(2026, 11, 26, 23, 45, tzinfo=UTC)
POLICY = AttendancePolicy(present_minutes=60, length_minutes=120)


def _report() -> list[ReportRow]:
    rows = []
    for page in ("past_participants_page1", "past_participants_page2"):
        body = json.loads((API / page / "body").read_text())
        rows += [ReportRow.from_api(item) for item in body["participants"]]
    return rows


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _setup(db_session: Session) -> None:
    header = ",".join(ROSTER_HEADERS)
    csv_text = (
        f"{header}\n"
        "Avery,T,Avery T,,member,9tboDiHUQAeOnbmudzWa5g,9876543217,,ON,1970-01-01,,,,,,,,\n"
        "Blake,S,Blake,,member,pl0ZaxGKRVW5EiBZDIU1tw,4416721100,,ON,1971-01-01,,,,,,,,\n"
        "Fay,F,Fay,,facilitator,,,,,,,,,,,,,\n"
    )
    rows = parse_roster(csv_text, today=TEST_NOW.date())
    import_roster(
        db_session,
        group_name="G",
        rows=rows,
        keyring=Keyring.from_text(generate_key()),
        now=TEST_NOW,
    )
    ensure_session(
        db_session,
        group_name="G",
        meeting_uuid=UUID,
        meeting_id="85746065432",
        scheduled_start=START,
        now=TEST_NOW,
    )
    journal = [
        PresenceEvent(kind="meeting_started", at=t("2026-11-26T23:40:00Z")),
        PresenceEvent(
            kind="joined",
            at=t("2026-11-26T23:46:12Z"),
            participant_key="pa",
            name="Avery T",
            registrant_id="9tboDiHUQAeOnbmudzWa5g",
        ),
        PresenceEvent(
            kind="left",
            at=t("2026-11-27T01:45:03Z"),
            participant_key="pa",
            name="Avery T",
            registrant_id="9tboDiHUQAeOnbmudzWa5g",
        ),
        PresenceEvent(
            kind="joined",
            at=t("2026-11-26T23:58:40Z"),
            participant_key="pb",
            name="Blake",
            registrant_id="pl0ZaxGKRVW5EiBZDIU1tw",
        ),
        PresenceEvent(
            kind="left",
            at=t("2026-11-27T00:20:00Z"),
            participant_key="pb",
            name="Blake",
            registrant_id="pl0ZaxGKRVW5EiBZDIU1tw",
        ),
        # Blake's rejoin webhooks were lost; a guest only we saw:
        PresenceEvent(
            kind="joined", at=t("2026-11-27T00:00:00Z"), participant_key="pc", name="Cory"
        ),
        PresenceEvent(kind="left", at=t("2026-11-27T00:03:00Z"), participant_key="pc", name="Cory"),
        PresenceEvent(kind="meeting_ended", at=t("2026-11-27T01:46:00Z")),
    ]
    for index, event in enumerate(journal):
        att.record_presence(db_session, meeting_uuid=UUID, journal_id=index, event=event)
    db_session.commit()


def test_report_rows_parse_and_rejoins_join_up():
    rows = _report()
    assert [r.name for r in rows] == ["Avery T", "Blake", "Blake"]
    assert rows[0].join_time == t("2026-11-26T23:46:12Z") and rows[0].duration_seconds == 7131
    people = {
        p.name: p for p in report_attendance(rows, scheduled_start=START, policy=POLICY).people
    }
    assert people["Blake"].minutes == (1280 + 4970) // 60  # the two rows, rejoin joined up
    assert len(people["Blake"].intervals) == 2


def test_bad_report_row_is_refused():
    with pytest.raises(BalintError):
        ReportRow.from_api({"name": "X", "join_time": "yesterday", "leave_time": ""})


def test_reconcile_fills_gaps_and_records_disagreements(db_session):
    _setup(db_session)
    extra = ReportRow.from_api(
        {
            "name": "Fay",
            "user_id": "1",
            "join_time": "2026-11-26T23:41:00Z",
            "leave_time": "2026-11-27T01:46:00Z",
            "duration": 7500,
            "status": "in_meeting",
        }
    )
    now = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    result = reconcile(
        db_session, meeting_uuid=UUID, report_rows=[*_report(), extra], now=now, policy=POLICY
    )
    db_session.commit()
    assert result.filled == ("Fay",)  # in the report, missing from our journal
    assert set(result.disagreements) == {
        ("Blake", "minutes", "21", "104"),
        ("Blake", "last_leave", "2026-11-27T00:20+00:00", "2026-11-27T01:45+00:00"),
        ("Cory", "presence", "3 min", "absent"),
        ("Fay", "presence", "absent", "125 min"),
    }
    stored = {r.name: r for r in att.stored_attendance(db_session, session_id=1)}
    assert stored["Fay"].source == "report" and stored["Fay"].role == "facilitator"
    assert stored["Avery T"].source == "journal"
    # running it again replaces, never duplicates
    reconcile(
        db_session, meeting_uuid=UUID, report_rows=[*_report(), extra], now=now, policy=POLICY
    )
    db_session.commit()
    assert db_session.query(Disagreement).count() == 4
    assert len(att.stored_attendance(db_session, session_id=1)) == 4
    # each row keeps its join sessions; the report's say nothing about how Fay joined
    stored = {r.name: r for r in att.stored_attendance(db_session, session_id=1)}
    spans = att.stored_spans(db_session, session_ids=[1])
    assert [s.modality for s in spans[stored["Fay"].id]] == [""]
    assert [(s.start, s.end) for s in spans[stored["Fay"].id]] == [
        (t("2026-11-26T23:41:00Z"), t("2026-11-27T01:46:00Z"))
    ]
    assert len(spans[stored["Avery T"].id]) == 1
    assert sum(len(found) for found in spans.values()) == 4  # nothing left from the first run
