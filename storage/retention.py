"""Retention: keep records ten years (CMPA's advice, ohip-reference §5), then delete them.

`purge(before=...)` deletes sessions that were scheduled before the cut-off together with
every row that hangs off them (attendance and its join sessions, therapy intervals,
disagreements, and any other table with a foreign key to `sessions`, such as billing
claims and the facilitators' notes), notices of absence and contacts with members dated
before the cut-off, presence rows, phase changes and journaled webhooks older than the
cut-off, members untouched since the cut-off who attended nothing kept, and audit entries
older than the cut-off. A dry run only counts. A cut-off more recent than the retention
period is refused unless the caller overrides it deliberately. The purge itself is
recorded in the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import ColumnElement, Table, delete, func, select
from sqlalchemy.orm import Session

from phases.errors import BalintError
from storage import audit
from storage.db import Base
from storage.tables.clinical import Absence, MemberContact
from storage.tables.core import (
    AttendanceRecord,
    AttendanceSpan,
    AuditEntry,
    Member,
    PresenceRow,
    SessionRecord,
)
from storage.tables.runtime import PhaseChange

__all__ = ["RETENTION_YEARS", "PurgeReport", "RetentionError", "default_cutoff", "purge"]

logger = logging.getLogger(__name__)

RETENTION_YEARS = 10


class RetentionError(BalintError):
    """The purge would delete records still inside the retention period."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeReport:
    before: date
    dry_run: bool
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def default_cutoff(today: date) -> date:
    """`today` minus the retention period (29 February falls back to the 28th)."""
    try:
        return today.replace(year=today.year - RETENTION_YEARS)
    except ValueError:
        return today.replace(year=today.year - RETENTION_YEARS, day=28)


def _referencing(target: str) -> list[tuple[Table, str]]:
    """Every (table, column) with a foreign key to `target` (e.g. "sessions.id"), children first."""
    found = []
    for table in reversed(Base.metadata.sorted_tables):
        for column in table.columns:
            if any(fk.target_fullname == target for fk in column.foreign_keys):
                found.append((table, column.name))
    return found


def purge(
    session: Session,
    *,
    before: date,
    now: datetime,
    dry_run: bool,
    override_retention: bool = False,
) -> PurgeReport:
    """Delete (or with `dry_run` only count) records older than `before`.

    `now` is the operation's one clock reading: it decides the earliest allowed cut-off (its
    UTC date) and stamps the audit entry.

    Raises:
        RetentionError: `before` is later than today minus ten years and not overridden.
    """
    today = now.astimezone(UTC).date()
    if before > default_cutoff(today) and not override_retention:
        raise RetentionError(
            f"{before} is inside the {RETENTION_YEARS}-year retention period "
            f"(earliest allowed cut-off today: {default_cutoff(today)})"
        )
    cutoff = datetime.combine(before, time(0), tzinfo=UTC)
    counts: dict[str, int] = {}

    def run(table: str, statement_count: int, statement: object | None) -> None:
        counts[table] = counts.get(table, 0) + statement_count
        if not dry_run and statement is not None and statement_count:
            session.execute(statement)  # type: ignore[call-overload]

    old_sessions = list(
        session.scalars(select(SessionRecord.id).where(SessionRecord.scheduled_start < cutoff))
    )
    old_uuids = list(
        session.scalars(
            select(SessionRecord.meeting_uuid).where(SessionRecord.scheduled_start < cutoff)
        )
    )
    kept_attendees = select(AttendanceRecord.member_id).where(
        AttendanceRecord.member_id.is_not(None), AttendanceRecord.session_id.not_in(old_sessions)
    )
    old_members = list(
        session.scalars(
            select(Member.id).where(Member.updated_at < cutoff, Member.id.not_in(kept_attendees))
        )
    )
    if old_sessions:  # the join sessions of their attendance (a foreign key to attendance)
        of_old = AttendanceSpan.attendance_id.in_(
            select(AttendanceRecord.id).where(AttendanceRecord.session_id.in_(old_sessions))
        )
        n = session.scalar(select(func.count()).select_from(AttendanceSpan).where(of_old)) or 0
        run("attendance_spans", n, delete(AttendanceSpan).where(of_old))
    session_refs = _referencing("sessions.id")
    for target, ids in (("sessions.id", old_sessions), ("members.id", old_members)):
        if not ids:
            continue
        for table, column in _referencing(target):
            condition: ColumnElement[bool] = table.c[column].in_(ids)
            if target == "members.id" and old_sessions:
                # rows of old sessions were handled above (and a dry run must not count twice)
                for other_table, other_column in session_refs:
                    if other_table is table:
                        condition = condition & table.c[other_column].not_in(old_sessions)
            n = session.scalar(select(func.count()).select_from(table).where(condition)) or 0
            run(table.name, n, delete(table).where(condition))
    if old_sessions:
        run(
            "sessions",
            len(old_sessions),
            delete(SessionRecord).where(SessionRecord.id.in_(old_sessions)),
        )
    if old_members:
        run("members", len(old_members), delete(Member).where(Member.id.in_(old_members)))
    for dated, day_column in (
        (Absence, Absence.session_date),
        (MemberContact, MemberContact.contacted_on),
    ):
        old_days = day_column < before
        n = session.scalar(select(func.count()).select_from(dated).where(old_days)) or 0
        run(dated.__tablename__, n, delete(dated).where(old_days))
    presence_old: ColumnElement[bool] = PresenceRow.at < cutoff
    if old_uuids:
        presence_old = presence_old | PresenceRow.meeting_uuid.in_(old_uuids)
    n = session.scalar(select(func.count()).select_from(PresenceRow).where(presence_old)) or 0
    run("presence", n, delete(PresenceRow).where(presence_old))
    phases_old: ColumnElement[bool] = PhaseChange.at < cutoff
    if old_uuids:
        phases_old = phases_old | PhaseChange.meeting_uuid.in_(old_uuids)
    n = session.scalar(select(func.count()).select_from(PhaseChange).where(phases_old)) or 0
    run("phase_changes", n, delete(PhaseChange).where(phases_old))
    journal = Base.metadata.tables.get("webhook_journal")
    if journal is not None and "received_at" in journal.c:
        journal_old: ColumnElement[bool] = journal.c.received_at < cutoff
        n = session.scalar(select(func.count()).select_from(journal).where(journal_old)) or 0
        run(journal.name, n, delete(journal).where(journal_old))
    n = (
        session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.at < cutoff))
        or 0
    )
    run("audit_log", n, delete(AuditEntry).where(AuditEntry.at < cutoff))
    report = PurgeReport(before=before, dry_run=dry_run, counts=counts)
    if not dry_run:
        session.flush()
        audit.record(
            session,
            command="purge",
            records=[f"session:{i}" for i in old_sessions] + [f"member:{i}" for i in old_members],
            detail=f"before {before}: deleted {report.total} rows",
            at=now,
        )
        logger.info("purge before %s: %d rows deleted", before, report.total)
    return report
