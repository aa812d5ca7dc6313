"""Reconciliation of our journal-derived attendance with Zoom's past-meeting participant report.

Zoom's `GET /past_meetings/{uuid}/participants` lists one row per join session (zoom-reference
§2.3). `ReportRow.from_api` reads one such row; a `ParticipantReportSource` (implemented over
the REST client in `bot/`) fetches all of them. `reconcile` turns the rows into presence events,
computes the report's attendance with the same rules as ours, and compares person by person:
someone the report has and our journal lacks is added to the stored attendance with
`source = "report"` (a gap filled); every difference beyond the tolerance (presence, minutes,
first join, last leave) is recorded in `reconcile_disagreements`. Re-running it replaces the
earlier result, so it is safe to repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.orm import Session

from phases.errors import BalintError
from phases.roster import RosterEntry, normalise_name
from storage.attendance import (
    DEFAULT_POLICY,
    AttendancePolicy,
    MeetingAttendance,
    PersonAttendance,
    PresenceEvent,
    compute_attendance,
    drop_attendance,
    finalize,
    session_roster,
    store_person,
    stored_attendance,
)
from storage.sessions import SessionNotFound, session_by_meeting
from storage.tables.core import Disagreement

__all__ = [
    "ParticipantReportSource",
    "ReconcileResult",
    "ReportRow",
    "reconcile",
    "report_attendance",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRow:
    """One join session from Zoom's past-meeting participants report."""

    participant_id: str
    name: str
    user_id: str
    registrant_id: str
    email: str
    join_time: datetime
    leave_time: datetime
    duration_seconds: int
    status: str = "in_meeting"

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> ReportRow:
        """Read one `participants[]` element of Zoom's response.

        Raises:
            BalintError: a join or leave time is missing or not ISO-8601 with a zone.
        """
        try:
            joined = datetime.fromisoformat(str(item["join_time"]).replace("Z", "+00:00"))
            left = datetime.fromisoformat(str(item["leave_time"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise BalintError("participant report row without valid join/leave times") from None
        if joined.tzinfo is None or left.tzinfo is None:
            raise BalintError("participant report times must carry a zone")
        return cls(
            participant_id=str(item.get("id") or ""),
            name=str(item.get("name") or ""),
            user_id=str(item.get("user_id") or ""),
            registrant_id=str(item.get("registrant_id") or ""),
            email=str(item.get("user_email") or ""),
            join_time=joined,
            leave_time=left,
            duration_seconds=int(item.get("duration") or 0),
            status=str(item.get("status") or "in_meeting"),
        )


class ParticipantReportSource(Protocol):
    """Where the report comes from (the REST client over `/past_meetings/{uuid}/participants`)."""

    async def report_rows(self, meeting_uuid: str) -> Sequence[ReportRow]:
        """Every row of the report for the meeting instance, all pages."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileResult:
    filled: tuple[str, ...]
    disagreements: tuple[tuple[str, str, str, str], ...]  # (name, field, ours, theirs)


def report_attendance(
    rows: Sequence[ReportRow],
    *,
    roster: Sequence[RosterEntry] = (),
    scheduled_start: datetime | None = None,
    policy: AttendancePolicy = DEFAULT_POLICY,
) -> MeetingAttendance:
    """The report's attendance, computed with exactly the rules used for the journal."""
    events: list[PresenceEvent] = []
    for index, row in enumerate(rows):
        if row.status and row.status != "in_meeting":
            continue
        key = f"report:{row.user_id or row.participant_id or index}:{row.join_time.isoformat()}"
        common: dict[str, Any] = {
            "participant_key": key,
            "user_id": row.user_id,
            "name": row.name,
            "email": row.email,
            "registrant_id": row.registrant_id,
        }
        events.append(PresenceEvent(kind="joined", at=row.join_time, **common))
        events.append(PresenceEvent(kind="left", at=row.leave_time, **common))
    return compute_attendance(events, roster=roster, scheduled_start=scheduled_start, policy=policy)


def _match_key(person_key: str, member_id: str | int | None, name: str) -> str:
    if member_id not in (None, ""):
        return f"member:{member_id}"
    return f"name:{normalise_name(name)}" if normalise_name(name) else person_key


def _minute_text(value: datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value else ""


def reconcile(
    session: Session,
    *,
    meeting_uuid: str,
    report_rows: Sequence[ReportRow],
    now: datetime,
    policy: AttendancePolicy = DEFAULT_POLICY,
    tolerance_minutes: int = 2,
) -> ReconcileResult:
    """Compare the session's attendance with Zoom's report; fill gaps, record disagreements.

    The session is finalised first if it was not yet.

    Raises:
        SessionNotFound: no session was recorded for `meeting_uuid`.
    """
    record = session_by_meeting(session, meeting_uuid=meeting_uuid)
    if record is None:
        raise SessionNotFound(f"no session for meeting {meeting_uuid}")
    if record.finalized_at is None:
        finalize(session, meeting_uuid=meeting_uuid, policy=policy, now=now)
    session.execute(delete(Disagreement).where(Disagreement.session_id == record.id))
    drop_attendance(session, session_id=record.id, source="report")
    session.flush()
    theirs = report_attendance(
        report_rows,
        roster=session_roster(session, record),
        scheduled_start=record.scheduled_start,
        policy=policy,
    )
    ours = {
        _match_key(row.person_key, row.member_id, row.name): row
        for row in stored_attendance(session, session_id=record.id)
    }
    reported: dict[str, PersonAttendance] = {
        _match_key(p.person_key, p.member_id, p.name): p for p in theirs.people
    }
    tolerance = tolerance_minutes * 60
    filled: list[str] = []
    found: list[tuple[str, str, str, str, str]] = []  # person_key, name, field, ours, theirs
    for key in sorted(set(ours) | set(reported)):
        mine, report = ours.get(key), reported.get(key)
        if report is None and mine is not None:
            found.append((mine.person_key, mine.name, "presence", f"{mine.minutes} min", "absent"))
            continue
        if report is None:
            continue
        if mine is None:
            found.append(
                (report.person_key, report.name, "presence", "absent", f"{report.minutes} min")
            )
            # Zoom's report does not say how anyone joined: the spans carry no modality
            store_person(session, session_id=record.id, person=report, source="report")
            filled.append(report.name)
            continue
        if abs(mine.minutes - report.minutes) * 60 > tolerance:
            found.append(
                (mine.person_key, mine.name, "minutes", str(mine.minutes), str(report.minutes))
            )
        for field, a, b in (
            ("first_join", mine.first_join, report.first_join),
            ("last_leave", mine.last_leave, report.last_leave),
        ):
            if (a is None) != (b is None) or (
                a is not None and b is not None and abs((a - b).total_seconds()) > tolerance
            ):
                found.append((mine.person_key, mine.name, field, _minute_text(a), _minute_text(b)))
    for person_key, name, field, mine_text, theirs_text in found:
        session.add(
            Disagreement(
                session_id=record.id,
                person_key=person_key,
                name=name,
                field=field,
                ours=mine_text,
                theirs=theirs_text,
                recorded_at=now,
            )
        )
    session.flush()
    logger.info(
        "reconciled session %d: %d filled, %d disagreements", record.id, len(filled), len(found)
    )
    return ReconcileResult(
        filled=tuple(filled),
        disagreements=tuple((name, field, a, b) for _, name, field, a, b in found),
    )
