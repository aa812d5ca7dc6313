"""What the group pages show: the calendar, attendance per module, billing status, CME hours.

Everything is read through the storage layer's own functions (`storage.sessions`,
`storage.attendance`, `storage.billing.exports`), never by querying tables here, so the
console shows what the CLI shows. The calendar is `balint-bot sessions plan` (the group's
calendar with the facilitators' changes, `bot.calendar.coming_sessions`) above
`sessions list` (the sessions held and the one running).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.calendar import calendar_from_settings, coming_sessions
from bot.config import Settings
from storage import runtime_state as rs
from storage.attendance import ModuleStanding, module_report, stored_attendance
from storage.billing.exports import export_cme
from storage.billing.ledger import claims_by_state
from storage.sessions import SessionSummary, list_sessions

__all__ = [
    "COMING",
    "AttendanceGrid",
    "BillingOverview",
    "CalendarEntry",
    "GroupCalendar",
    "CmeRow",
    "GridRow",
    "attendance_grid",
    "billing_overview",
    "calendar",
    "cme_hours",
    "group_sessions",
    "module_names",
]

CalendarStatus = Literal["planned", "added", "moved", "cancelled", "in progress", "held"]
#: How many coming sessions the calendar page shows (as `sessions plan` without options).
COMING = 10
Cell = Literal["present", "late", "short", "absent"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarEntry:
    """One session of the group's calendar: a coming one ("planned", "added", "moved",
    "cancelled"; no session id yet) or one that met ("in progress", "held").

    `note` says why a coming session is cancelled ("holiday", "cancelled") or where a moved
    one was ("from Wed 2026-12-09 19:00").
    """

    starts_at: datetime
    status: CalendarStatus
    module: str
    session_id: int | None
    attendees: int | None
    meeting_uuid: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupCalendar:
    """The calendar page: the coming sessions, earliest first; those that met, newest first."""

    coming: tuple[CalendarEntry, ...]
    held: tuple[CalendarEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GridRow:
    """One member's row of the attendance grid."""

    member_id: int
    name: str
    cells: tuple[Cell, ...]
    standing: ModuleStanding


@dataclass(frozen=True, slots=True, kw_only=True)
class AttendanceGrid:
    """A module's member-by-session grid (finalised sessions only, as the CLI report)."""

    module: str
    sessions: tuple[SessionSummary, ...]
    rows: tuple[GridRow, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingOverview:
    """Claims by state (exported, rejected, resubmitted) and what waits to be claimed.

    Args:
        counts: state -> (claims, total fee in cents).
        rejected: (accounting number, session id, member id, error codes) per rejected claim.
        waiting: (session id, service date, member ids) of held sessions with members
            present for whom no claim was written yet.
    """

    counts: dict[str, tuple[int, int]]
    rejected: tuple[tuple[str, int, int, tuple[str, ...]], ...]
    waiting: tuple[tuple[int, date, tuple[int, ...]], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CmeRow:
    """A member's continuing-education hours in a year."""

    member_id: int
    name: str
    sessions: int
    hours: float
    quarter_hours: float


def group_sessions(session: Session, *, settings: Settings) -> tuple[SessionSummary, ...]:
    """The group's sessions, oldest first."""
    return list_sessions(session, group_name=settings.group.name)


def module_names(sessions: Sequence[SessionSummary]) -> tuple[str, ...]:
    """Modules that have sessions, newest first."""
    return tuple(sorted({s.module for s in sessions if s.module}, reverse=True))


def calendar(session: Session, *, settings: Settings, now: datetime) -> GroupCalendar:
    """The group's calendar at `now`: the next `COMING` sessions it plans (cancelled, moved
    and added ones included, as `sessions plan`), then the sessions held and the one running.

    A coming session that has already met (the room opens before the start) is listed once,
    as it met.
    """
    live = set(rs.live_meetings(session))
    held = tuple(
        CalendarEntry(
            starts_at=s.scheduled_start,
            status="in progress" if s.meeting_uuid in live and not s.finalized else "held",
            module=s.module,
            session_id=s.id,
            attendees=s.attendees if s.finalized else None,
            meeting_uuid=s.meeting_uuid,
        )
        for s in reversed(group_sessions(session, settings=settings))
    )
    met = {entry.starts_at.astimezone(UTC) for entry in held}
    plan = calendar_from_settings(settings.group, settings.agenda)
    rows = coming_sessions(
        session, calendar=plan, group_name=settings.group.name, after=now, count=COMING
    )
    coming = tuple(
        CalendarEntry(
            starts_at=row.start,
            status=row.status,
            module=row.module or "",
            session_id=None,
            attendees=None,
            meeting_uuid="",
            note=(
                f"from {row.moved_from:%a %Y-%m-%d %H:%M}"
                if row.moved_from is not None
                else row.note
            ),
        )
        for row in rows
        if row.start.astimezone(UTC) not in met
    )
    return GroupCalendar(coming=coming, held=held)


def attendance_grid(session: Session, *, settings: Settings, module: str) -> AttendanceGrid:
    """Members (as `attendance report --module`) by the module's finalised sessions."""
    held = tuple(
        s for s in group_sessions(session, settings=settings) if s.module == module and s.finalized
    )
    standings = module_report(session, module_name=module, group_name=settings.group.name)
    seen: dict[int, dict[int, Cell]] = {}
    for index, summary in enumerate(held):
        for row in stored_attendance(session, session_id=summary.id):
            if row.member_id is None:
                continue
            cell: Cell = "present" if row.present else ("short" if row.minutes else "absent")
            if row.present and row.late:
                cell = "late"
            seen.setdefault(row.member_id, {})[index] = cell
    rows = tuple(
        GridRow(
            member_id=s.member_id,
            name=s.name,
            cells=tuple(seen.get(s.member_id, {}).get(i, "absent") for i in range(len(held))),
            standing=s,
        )
        for s in standings
    )
    return AttendanceGrid(module=module, sessions=held, rows=rows)


def billing_overview(session: Session, *, settings: Settings) -> BillingOverview:
    """Claims by state and the held sessions with present members not yet claimed."""
    grouped = claims_by_state(session)
    counts = {state: (len(c), sum(x.fee_cents for x in c)) for state, c in grouped.items()}
    rejected = tuple(
        (c.accounting_number, c.session_id, c.member_id, c.error_codes)
        for c in grouped.get("rejected", ())
    )
    claimed = {(c.session_id, c.member_id) for claims in grouped.values() for c in claims}
    zone = ZoneInfo(settings.group.timezone)
    waiting = []
    for summary in group_sessions(session, settings=settings):
        if not summary.finalized:
            continue
        members = tuple(
            sorted(
                row.member_id
                for row in stored_attendance(session, session_id=summary.id)
                if row.present
                and row.role == "member"
                and row.member_id is not None
                and (summary.id, row.member_id) not in claimed
            )
        )
        if members:
            waiting.append((summary.id, summary.scheduled_start.astimezone(zone).date(), members))
    return BillingOverview(counts=counts, rejected=rejected, waiting=tuple(waiting))


def cme_hours(
    session: Session, *, settings: Settings, year: int, now: datetime
) -> tuple[CmeRow, ...]:
    """Each member's CME hours in `year` (`export cme` for the group, without files; audited
    by it). Members with no session in the year are left out."""
    result = export_cme(session, settings=settings, year=year, now=now)
    return tuple(
        CmeRow(
            member_id=int(report.member_id),
            name=report.display_name,
            sessions=sum(1 for held in report.sessions if held.minutes > 0),
            hours=report.hours,
            quarter_hours=report.quarter_hours,
        )
        for report in result.reports
        if any(held.minutes > 0 for held in report.sessions)
    )
