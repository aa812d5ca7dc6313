"""The database-facing billing entry points: claims file, worksheet, CME hours, error report.

Each function takes an explicit SQLAlchemy session and keyword arguments, builds the pure
snapshots (`SessionAttendance`, `MemberBilling`) from the core tables, calls the pure modules,
writes any file owner-only (`write_private`) and records the export in the audit log. PHI is
read through `storage.roster.read_phi`, which audits the read itself. Nothing is committed
here: the caller's `session_scope` commits the claims, the sequences and the audit rows
together, or rolls all of them back.

Billable minutes: the therapy window is the agenda's length from the scheduled start; the
reflection window follows it. Only time when a facilitator was present counts (the therapy's
start and stop, `therapy_intervals`, else the session's `therapy_start`/`therapy_end`). A
member's billed minutes are the lesser of their minutes in the meeting and the overlap of
their first-join..last-leave span with those windows (the reflection only when
`count_reflection` is set).
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import audit
from storage.billing.claims import (
    BillableAttendance,
    BillingOptions,
    BillingSettingsLike,
    MemberBilling,
    Problem,
    ProposedClaim,
    SessionAttendance,
    build_claims,
)
from storage.billing.claims_file import (
    MAX_CLAIMS_PER_BATCH,
    batches_for,
    file_claim,
    file_name,
    render,
)
from storage.billing.cme import CmeReport, CmeSession, cme_report, render_cme
from storage.billing.error_report import parse_error_report
from storage.billing.errors import BillingError
from storage.billing.fees import FeeTable, load_fee_table
from storage.billing.private_file import write_private
from storage.billing.worksheet import ClaimStatus, render_worksheet, worksheet_rows
from storage.crypto import Keyring
from storage.roster import read_phi
from storage.tables.billing import CLAIM_STATES, BillingSequence, ClaimFile, ClaimRecord
from storage.tables.core import (
    AttendanceRecord,
    Group,
    Member,
    Module,
    SessionRecord,
    TherapyInterval,
)

__all__ = [
    "ClaimSummary",
    "ClaimsExportResult",
    "CmeExportResult",
    "ErrorImportResult",
    "ExportSettingsLike",
    "LeftOut",
    "WorksheetResult",
    "WrittenClaim",
    "claims_by_state",
    "export_claims",
    "export_cme",
    "export_worksheet",
    "import_error_report",
]

logger = logging.getLogger(__name__)

_FILE_MODULO = 999
_BATCH_MODULO = 9999
_ACCOUNTING_MAX = 99_999_999


class _GroupLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def timezone(self) -> str: ...


class _AgendaLike(Protocol):
    @property
    def length_minutes(self) -> int: ...
    @property
    def reflection_minutes(self) -> int: ...


class ExportSettingsLike(Protocol):
    """The parts of `bot.config.Settings` the billing exports read."""

    @property
    def billing(self) -> BillingSettingsLike: ...
    @property
    def group(self) -> _GroupLike: ...
    @property
    def agenda(self) -> _AgendaLike: ...
    @property
    def data_key(self) -> SecretStr | None: ...
    @property
    def data_key_previous(self) -> SecretStr | None: ...


@dataclass(frozen=True, slots=True)
class WrittenClaim:
    """A claim in a claims file (or that a dry run would write); no PHI."""

    accounting_number: str
    session_id: int
    member_id: int
    service_date: date
    fee_code: str
    units: int
    fee_cents: int
    resubmits: str = ""


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A claim that was not written, and every reason why."""

    session_id: int
    member_id: int
    service_date: date
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class ClaimsExportResult:
    """What `export_claims` wrote (or would write, on a dry run)."""

    file_name: str | None
    path: Path | None
    written: tuple[WrittenClaim, ...]
    left_out: tuple[LeftOut, ...]
    already_exported: int
    unfinished_sessions: tuple[int, ...]
    batch_sequences: tuple[int, ...]
    dry_run: bool

    @property
    def total_cents(self) -> int:
        return sum(claim.fee_cents for claim in self.written)


@dataclass(frozen=True, slots=True)
class WorksheetResult:
    path: Path
    rows: int
    sessions: tuple[int, ...]
    valid: int


@dataclass(frozen=True, slots=True)
class CmeExportResult:
    report: CmeReport
    text: str
    path: Path | None


@dataclass(frozen=True, slots=True)
class ErrorImportResult:
    """What an error report changed: claims now rejected, and what it named that we lack."""

    report_name: str
    rejected: tuple[tuple[str, tuple[str, ...]], ...]
    unmatched: tuple[str, ...]
    unchanged: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClaimSummary:
    accounting_number: str
    state: str
    session_id: int
    member_id: int
    service_date: date
    fee_code: str
    units: int
    fee_cents: int
    file_name: str
    error_codes: tuple[str, ...]


# ------------------------------------------------------------------------------ claims file


def export_claims(
    session: Session,
    *,
    settings: ExportSettingsLike,
    date_from: date,
    date_to: date,
    out_dir: Path,
    dry_run: bool = False,
    keyring: Keyring | None = None,
    fee_table: FeeTable | None = None,
    now: datetime,
) -> ClaimsExportResult:
    """Write the Ministry claims file for the finished sessions from `date_from` to `date_to`.

    Only valid claims are written; each left-out claim is listed with its reasons. Claims
    already exported are not written twice; a rejected claim is written again (a
    resubmission) once it is valid. Nothing is written, and no sequence is used, when no
    claim is valid or on a dry run.

    Raises:
        BillingError: bad billing settings, a bad date range, an out folder that does not
            exist, or a file of that name already there.
        DataKeyError: PHI cannot be decrypted with the keyring.
    """
    options = BillingOptions.from_settings(settings.billing)
    _check_range(date_from, date_to)
    if not dry_run and not out_dir.is_dir():
        raise BillingError(f"{out_dir} is not a folder")
    moment = _now(now)
    today = moment.astimezone(ZoneInfo(settings.group.timezone)).date()
    records = _sessions(session, settings=settings, date_from=date_from, date_to=date_to)
    finished = [record for record in records if record.finalized_at is not None]
    unfinished = tuple(record.id for record in records if record.finalized_at is None)
    proposed = _proposed(
        session,
        settings=settings,
        options=options,
        records=finished,
        keyring=keyring,
        fee_table=fee_table,
        today=today,
        now=moment,
        command="export claims",
    )
    latest = _latest_claims(session, session_ids=[record.id for record in finished])
    to_write: list[tuple[ProposedClaim, ClaimRecord | None]] = []
    left_out: list[LeftOut] = []
    already = 0
    for claim in proposed:
        if not claim.attendance.present:
            continue
        key = (int(claim.session.session_id), int(claim.member.member_id))
        previous = latest.get(key)
        if previous is not None and previous.state == "exported":
            already += 1
            continue
        if claim.valid:
            to_write.append((claim, previous))
        else:
            left_out.append(
                LeftOut(
                    session_id=key[0],
                    member_id=key[1],
                    service_date=claim.session.service_date,
                    problems=claim.problems,
                )
            )
    if not to_write:
        return ClaimsExportResult(None, None, (), tuple(left_out), already, unfinished, (), dry_run)

    batch_count = -(-len(to_write) // MAX_CLAIMS_PER_BATCH)
    peek = dry_run
    file_seq = _next_value(session, "claims_file", modulo=_FILE_MODULO, peek=peek)
    first_batch = _next_value(session, "batch", modulo=_BATCH_MODULO, peek=peek)
    batch_seqs = [(first_batch - 1 + index) % _BATCH_MODULO + 1 for index in range(batch_count)]
    if not peek:
        for _ in range(batch_count - 1):
            _next_value(session, "batch", modulo=_BATCH_MODULO)
    accounting = [
        _accounting(session, peek_offset=index if peek else None) for index in range(len(to_write))
    ]
    name = file_name(
        created=today,
        group_number=options.group_number,
        provider_number=options.provider_number,
        sequence=file_seq,
    )
    file_claims = [
        file_claim(claim, accounting_number=number)
        for (claim, _), number in zip(to_write, accounting, strict=True)
    ]
    batches = batches_for(file_claims, options=options, created=today, first_sequence=first_batch)
    data = render(batches)
    written = tuple(
        WrittenClaim(
            accounting_number=number,
            session_id=int(claim.session.session_id),
            member_id=int(claim.member.member_id),
            service_date=claim.session.service_date,
            fee_code=claim.fee_code,
            units=claim.units,
            fee_cents=claim.fee_cents,
            resubmits=previous.accounting_number if previous is not None else "",
        )
        for (claim, previous), number in zip(to_write, accounting, strict=True)
    )
    path = out_dir / name
    if dry_run:
        audit.record(
            session,
            command="export claims --dry-run",
            records=[f"session:{record.id}" for record in finished],
            detail=f"would write {name}: {len(written)} claims, {len(left_out)} left out",
            at=moment,
        )
        return ClaimsExportResult(
            name, None, written, tuple(left_out), already, unfinished, tuple(batch_seqs), True
        )
    write_private(path, data)
    claim_file = ClaimFile(
        file_name=name,
        sequence=file_seq,
        created_on=today,
        created_at=moment,
        provider_number=options.provider_number,
        group_number=options.group_number,
        batch_sequences=list(batch_seqs),
        claim_count=len(written),
        sha256=hashlib.sha256(data).hexdigest(),
        path=str(path.resolve()),
    )
    session.add(claim_file)
    session.flush()
    for (claim, previous), entry in zip(to_write, written, strict=True):
        session.add(
            ClaimRecord(
                accounting_number=entry.accounting_number,
                file_id=claim_file.id,
                session_id=entry.session_id,
                member_id=entry.member_id,
                service_date=entry.service_date,
                payment_program=claim.payment_program,
                fee_code=claim.fee_code,
                units=claim.units,
                fee_cents=claim.fee_cents,
                modality_item=options.modality_item,
                diagnostic_code=claim.member.diagnostic_code.strip(),
                state="exported",
                error_codes=[],
                error_messages=[],
                exported_at=moment,
                replaces_id=previous.id if previous is not None else None,
            )
        )
        if previous is not None:
            previous.state = "resubmitted"
    session.flush()
    audit.record(
        session,
        command="export claims",
        records=[f"claim:{entry.accounting_number}" for entry in written]
        + [f"member:{entry.member_id}" for entry in written],
        detail=f"{name}: {len(written)} claims, {len(left_out)} left out",
        at=moment,
    )
    logger.info("claims file %s written: %d claims", name, len(written))
    return ClaimsExportResult(
        name, path, written, tuple(left_out), already, unfinished, tuple(batch_seqs), False
    )


# -------------------------------------------------------------------------------- worksheet


def export_worksheet(
    session: Session,
    *,
    settings: ExportSettingsLike,
    out: Path,
    session_id: int | None = None,
    module: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    keyring: Keyring | None = None,
    fee_table: FeeTable | None = None,
    now: datetime,
) -> WorksheetResult:
    """Write the billing worksheet CSV for one session, one module, or a date range.

    Raises:
        BillingError: not exactly one selection, nothing selected, bad settings, or `out`
            exists already.
    """
    chosen = [session_id is not None, module is not None, date_from is not None]
    if sum(chosen) != 1 or (date_from is None) != (date_to is None):
        raise BillingError("choose exactly one of a session, a module, or a from/to date range")
    options = BillingOptions.from_settings(settings.billing)
    moment = _now(now)
    today = moment.astimezone(ZoneInfo(settings.group.timezone)).date()
    if session_id is not None:
        record = session.get(SessionRecord, session_id)
        if record is None:
            raise BillingError(f"no session with id {session_id}")
        records = [record]
    elif module is not None:
        records = list(
            session.scalars(
                select(SessionRecord)
                .join(Module, Module.id == SessionRecord.module_id)
                .join(Group, Group.id == SessionRecord.group_id)
                .where(Module.name == module, Group.name == settings.group.name)
                .order_by(SessionRecord.scheduled_start, SessionRecord.id)
            )
        )
    else:
        assert date_from is not None and date_to is not None
        _check_range(date_from, date_to)
        records = _sessions(session, settings=settings, date_from=date_from, date_to=date_to)
    if not records:
        raise BillingError("no sessions match that selection")
    proposed = _proposed(
        session,
        settings=settings,
        options=options,
        records=records,
        keyring=keyring,
        fee_table=fee_table,
        today=today,
        now=moment,
        command="export billing",
    )
    latest = _latest_claims(session, session_ids=[record.id for record in records])
    statuses = {
        (str(key[0]), str(key[1])): ClaimStatus(claim.accounting_number, claim.state)
        for key, claim in latest.items()
    }
    rows = worksheet_rows(
        proposed,
        options=options,
        exported_at=moment,
        exported_by=_user(),
        statuses=statuses,
    )
    write_private(out, render_worksheet(rows).encode("utf-8"))
    audit.record(
        session,
        command="export billing",
        records=[f"session:{record.id}" for record in records]
        + sorted({f"member:{claim.member.member_id}" for claim in proposed}),
        detail=f"{out.name}: {len(rows)} rows",
        at=moment,
    )
    return WorksheetResult(
        path=out,
        rows=len(rows),
        sessions=tuple(record.id for record in records),
        valid=sum(1 for claim in proposed if claim.valid),
    )


# -------------------------------------------------------------------------------------- CME


def export_cme(
    session: Session,
    *,
    settings: ExportSettingsLike,
    member_id: int,
    year: int,
    out: Path | None = None,
    now: datetime,
) -> CmeExportResult:
    """Hours `member_id` attended in `year` (sessions present), as CSV text and optionally a file.

    Raises:
        BillingError: no such member, or `out` exists already.
    """
    member = session.get(Member, member_id)
    if member is None:
        raise BillingError(f"no member with id {member_id}")
    tz = ZoneInfo(settings.group.timezone)
    rows = session.execute(
        select(AttendanceRecord, SessionRecord)
        .join(SessionRecord, SessionRecord.id == AttendanceRecord.session_id)
        .where(AttendanceRecord.member_id == member_id, AttendanceRecord.present.is_(True))
    ).all()
    window = settings.agenda.length_minutes + settings.agenda.reflection_minutes
    sessions = [
        CmeSession(
            session_id=str(record.id),
            service_date=record.scheduled_start.astimezone(tz).date(),
            minutes=min(
                row.minutes,
                _overlap_minutes(
                    _span(row),
                    [(record.scheduled_start, record.scheduled_start + timedelta(minutes=window))],
                ),
            ),
        )
        for row, record in rows
    ]
    report = cme_report(
        member_id=str(member_id), display_name=member.display_name, year=year, sessions=sessions
    )
    text = render_cme(report)
    if out is not None:
        write_private(out, text.encode("utf-8"))
    audit.record(
        session,
        command="export cme",
        records=[f"member:{member_id}"]
        + [f"session:{held.session_id}" for held in report.sessions],
        detail=f"{year}: {report.total_minutes} minutes" + (f" to {out.name}" if out else ""),
        at=_now(now),
    )
    return CmeExportResult(report=report, text=text, path=out)


# ----------------------------------------------------------------------------- error report


def import_error_report(session: Session, *, path: Path, now: datetime) -> ErrorImportResult:
    """Mark the claims a Claims Error Report names as rejected, with their error codes.

    Claims are matched by accounting number and provider number. A claim already resubmitted
    is left as it is; accounting numbers we never wrote are listed as unmatched.

    Raises:
        BillingError: the file cannot be read or is not a well-formed error report.
    """
    try:
        data = path.read_bytes()
    except OSError as failed:
        raise BillingError(f"cannot read {path}: {failed.strerror}") from None
    report = parse_error_report(data)
    moment = _now(now)
    rejected: list[tuple[str, tuple[str, ...]]] = []
    unmatched: list[str] = []
    unchanged: list[str] = []
    for reported in report.claims:
        found = session.execute(
            select(ClaimRecord, ClaimFile)
            .join(ClaimFile, ClaimFile.id == ClaimRecord.file_id)
            .where(ClaimRecord.accounting_number == reported.accounting_number)
        ).first()
        if found is None or found[1].provider_number != reported.provider_number:
            unmatched.append(reported.accounting_number)
            continue
        claim = found[0]
        if claim.state == "resubmitted":
            unchanged.append(claim.accounting_number)
            continue
        claim.state = "rejected"
        claim.error_codes = list(reported.error_codes)
        claim.error_messages = [f"{code}: {text}" for code, text in reported.messages]
        claim.rejected_at = moment
        claim.error_report = path.name
        rejected.append((claim.accounting_number, reported.error_codes))
    session.flush()
    audit.record(
        session,
        command="import claims-errors",
        records=[f"claim:{number}" for number, _ in rejected],
        detail=f"{path.name}: {len(rejected)} rejected, {len(unmatched)} unmatched",
        at=moment,
    )
    return ErrorImportResult(
        report_name=path.name,
        rejected=tuple(rejected),
        unmatched=tuple(unmatched),
        unchanged=tuple(unchanged),
    )


def claims_by_state(session: Session) -> dict[str, tuple[ClaimSummary, ...]]:
    """Every claim written, grouped by state (exported, rejected, resubmitted), oldest first."""
    grouped: dict[str, list[ClaimSummary]] = {state: [] for state in CLAIM_STATES}
    rows = session.execute(
        select(ClaimRecord, ClaimFile.file_name)
        .join(ClaimFile, ClaimFile.id == ClaimRecord.file_id)
        .order_by(ClaimRecord.id)
    ).all()
    for claim, name in rows:
        grouped.setdefault(claim.state, []).append(
            ClaimSummary(
                accounting_number=claim.accounting_number,
                state=claim.state,
                session_id=claim.session_id,
                member_id=claim.member_id,
                service_date=claim.service_date,
                fee_code=claim.fee_code,
                units=claim.units,
                fee_cents=claim.fee_cents,
                file_name=name,
                error_codes=tuple(claim.error_codes),
            )
        )
    return {state: tuple(claims) for state, claims in grouped.items()}


# -------------------------------------------------------------------------------- internals


def _now(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise BillingError("the export time must be timezone-aware")
    return moment


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _check_range(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise BillingError(f"--to {date_to} is before --from {date_from}")


def _keyring(settings: ExportSettingsLike, keyring: Keyring | None) -> Keyring:
    if keyring is not None:
        return keyring
    current, previous = settings.data_key, settings.data_key_previous
    return Keyring.from_text(
        current.get_secret_value() if current is not None else None,
        previous.get_secret_value() if previous is not None else None,
    )


def _sessions(
    session: Session, *, settings: ExportSettingsLike, date_from: date, date_to: date
) -> list[SessionRecord]:
    """The group's sessions whose local date is within [date_from, date_to]."""
    tz = ZoneInfo(settings.group.timezone)
    lower = datetime.combine(date_from - timedelta(days=1), datetime.min.time(), UTC)
    upper = datetime.combine(date_to + timedelta(days=2), datetime.min.time(), UTC)
    candidates = session.scalars(
        select(SessionRecord)
        .join(Group, Group.id == SessionRecord.group_id)
        .where(
            Group.name == settings.group.name,
            SessionRecord.scheduled_start >= lower,
            SessionRecord.scheduled_start < upper,
        )
        .order_by(SessionRecord.scheduled_start, SessionRecord.id)
    )
    return [
        record
        for record in candidates
        if date_from <= record.scheduled_start.astimezone(tz).date() <= date_to
    ]


def _proposed(
    session: Session,
    *,
    settings: ExportSettingsLike,
    options: BillingOptions,
    records: Sequence[SessionRecord],
    keyring: Keyring | None,
    fee_table: FeeTable | None,
    today: date,
    now: datetime,
    command: str,
) -> list[ProposedClaim]:
    table = fee_table if fee_table is not None else load_fee_table()
    snapshots = _snapshots(session, settings=settings, options=options, records=records)
    member_ids = sorted({int(row.member.member_id) for held in snapshots for row in held.attendees})
    if not member_ids:
        return []
    phi = read_phi(
        session,
        member_ids=member_ids,
        keyring=_keyring(settings, keyring),
        command=command,
        now=now,
        detail="billing export",
    )
    proposed: list[ProposedClaim] = []
    for held in snapshots:
        rows = []
        for row in held.attendees:
            opened = phi.get(int(row.member.member_id))
            member = row.member
            if opened is not None:
                member = _with_phi(member, opened.health_number, opened.version_code)
                member = _with_birth(member, opened.birth_date)
            rows.append(_replace_member(row, member))
        held = _replace_rows(held, rows)
        proposed.extend(build_claims(held, options=options, fee_table=table, today=today))
    return proposed


def _snapshots(
    session: Session,
    *,
    settings: ExportSettingsLike,
    options: BillingOptions,
    records: Sequence[SessionRecord],
) -> list[SessionAttendance]:
    if not records:
        return []
    ids = [record.id for record in records]
    tz = ZoneInfo(settings.group.timezone)
    attendance: dict[int, list[AttendanceRecord]] = defaultdict(list)
    for row in session.scalars(
        select(AttendanceRecord)
        .where(AttendanceRecord.session_id.in_(ids))
        .order_by(AttendanceRecord.id)
    ):
        attendance[row.session_id].append(row)
    intervals: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for interval in session.scalars(
        select(TherapyInterval).where(TherapyInterval.session_id.in_(ids))
    ):
        intervals[interval.session_id].append((interval.starts_at, interval.ends_at))
    member_ids = {
        row.member_id for rows in attendance.values() for row in rows if row.member_id is not None
    }
    members = {
        member.id: member
        for member in session.scalars(select(Member).where(Member.id.in_(sorted(member_ids))))
    }
    modules = {
        module.id: module.name
        for module in session.scalars(
            select(Module).where(
                Module.id.in_(sorted({r.module_id for r in records if r.module_id is not None}))
            )
        )
    }
    length = timedelta(minutes=settings.agenda.length_minutes)
    reflection = timedelta(minutes=settings.agenda.reflection_minutes)
    snapshots: list[SessionAttendance] = []
    for record in records:
        present_facilitator = intervals.get(record.id) or (
            [(record.therapy_start, record.therapy_end)]
            if record.therapy_start is not None and record.therapy_end is not None
            else []
        )
        therapy_window = (record.scheduled_start, record.scheduled_start + length)
        reflection_window = (therapy_window[1], therapy_window[1] + reflection)
        therapy = _intersect(present_facilitator, therapy_window)
        after = _intersect(present_facilitator, reflection_window)
        billable = therapy + (after if options.count_reflection else [])
        rows = attendance.get(record.id, [])
        attendees = tuple(
            BillableAttendance(
                member=_member(members[row.member_id]),
                minutes=min(row.minutes, _overlap_minutes(_span(row), billable)),
                present=row.present,
                first_join=row.first_join,
                last_leave=row.last_leave,
            )
            for row in rows
            if row.role == "member" and row.member_id is not None and row.member_id in members
        )
        snapshots.append(
            SessionAttendance(
                session_id=str(record.id),
                service_date=record.scheduled_start.astimezone(tz).date(),
                therapy_start=min((start for start, _ in therapy), default=None),
                therapy_end=max((end for _, end in therapy), default=None),
                therapy_minutes=_minutes(therapy),
                reflection_minutes=_minutes(after),
                attendees=attendees,
                attendee_count=sum(1 for row in rows if row.present),
                module=modules.get(record.module_id, "") if record.module_id else "",
            )
        )
    return snapshots


def _member(row: Member) -> MemberBilling:
    return MemberBilling(
        member_id=str(row.id),
        first_name=row.first_name,
        last_name=row.last_name,
        province=row.province or "ON",
        sex=row.sex,
        referring_name=row.referring_name,
        referring_number=row.referring_number,
        diagnostic_code=row.diagnostic_code,
        relationship_basis=row.relationship_basis,
        relationship_date=row.relationship_date,
        consent_date=row.consent_date,
    )


def _with_phi(member: MemberBilling, health_number: str, version_code: str) -> MemberBilling:
    return replace(member, health_number=health_number, version_code=version_code)


def _with_birth(member: MemberBilling, birth_date: date | None) -> MemberBilling:
    return replace(member, birth_date=birth_date)


def _replace_member(row: BillableAttendance, member: MemberBilling) -> BillableAttendance:
    return replace(row, member=member)


def _replace_rows(held: SessionAttendance, rows: Iterable[BillableAttendance]) -> SessionAttendance:
    return replace(held, attendees=tuple(rows))


def _span(row: AttendanceRecord) -> tuple[datetime, datetime] | None:
    if row.first_join is None or row.last_leave is None:
        return None
    return (row.first_join, row.last_leave)


def _intersect(
    intervals: Iterable[tuple[datetime, datetime]], window: tuple[datetime, datetime]
) -> list[tuple[datetime, datetime]]:
    """`intervals` clipped to `window`, merged where they overlap."""
    clipped = sorted(
        (max(start, window[0]), min(end, window[1]))
        for start, end in intervals
        if min(end, window[1]) > max(start, window[0])
    )
    merged: list[tuple[datetime, datetime]] = []
    for start, end in clipped:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _minutes(intervals: Iterable[tuple[datetime, datetime]]) -> int:
    return int(sum((end - start).total_seconds() for start, end in intervals) // 60)


def _overlap_minutes(
    span: tuple[datetime, datetime] | None, windows: Sequence[tuple[datetime, datetime]]
) -> int:
    if span is None:
        return 0
    total = 0.0
    for window in windows:
        start, end = max(span[0], window[0]), min(span[1], window[1])
        if end > start:
            total += (end - start).total_seconds()
    return int(total // 60)


def _latest_claims(
    session: Session, *, session_ids: Sequence[int]
) -> dict[tuple[int, int], ClaimRecord]:
    """The newest claim written per (session, member) for these sessions."""
    latest: dict[tuple[int, int], ClaimRecord] = {}
    if not session_ids:
        return latest
    for claim in session.scalars(
        select(ClaimRecord)
        .where(ClaimRecord.session_id.in_(list(session_ids)))
        .order_by(ClaimRecord.id)
    ):
        latest[(claim.session_id, claim.member_id)] = claim
    return latest


def _next_value(session: Session, name: str, *, modulo: int, peek: bool = False) -> int:
    """The next value of a named sequence, 1..modulo, wrapping; stored unless peeking."""
    row = session.get(BillingSequence, name, with_for_update=not peek)
    value = (row.value % modulo + 1) if row is not None else 1
    if peek:
        return value
    if row is None:
        session.add(BillingSequence(name=name, value=value))
    else:
        row.value = value
    session.flush()
    return value


def _accounting(session: Session, *, peek_offset: int | None) -> str:
    """The next accounting number (8 digits, never reused, unique across files)."""
    if peek_offset is not None:
        row = session.get(BillingSequence, "accounting")
        value = (row.value if row is not None else 0) + 1 + peek_offset
    else:
        row = session.get(BillingSequence, "accounting", with_for_update=True)
        value = (row.value if row is not None else 0) + 1
        if row is None:
            session.add(BillingSequence(name="accounting", value=value))
        else:
            row.value = value
        session.flush()
    if value > _ACCOUNTING_MAX:
        raise BillingError("accounting numbers are exhausted (99999999 used)")
    return f"{value:08d}"
