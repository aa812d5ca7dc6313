"""The database-facing billing exports: the claims file, the worksheet, the CME hours.

Each function takes an explicit SQLAlchemy session and keyword arguments, builds the pure
snapshots through `snapshots`, calls the pure modules, writes any file owner-only
(`write_private`) and records the export in the audit log. Nothing is committed here: the
caller's `session_scope` commits the claims, the sequences and the audit rows together, or
rolls all of them back. The claim states after an export (rejections, corrections) are the
`ledger`'s.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from storage import audit
from storage.billing.claims import BillingOptions, Problem, ProposedClaim
from storage.billing.claims_file import (
    MAX_CLAIMS_PER_BATCH,
    batches_for,
    file_claim,
    file_name,
    fingerprint,
    render,
)
from storage.billing.cme import (
    CmeReport,
    CmeSession,
    certificate_html,
    certificate_pdf,
    cme_report,
    render_cme,
    render_cme_summary,
)
from storage.billing.errors import BillingError
from storage.billing.fee_store import fee_table as stored_fee_table
from storage.billing.fees import FeeTable
from storage.billing.private_file import write_private
from storage.billing.snapshots import (
    ExportSettingsLike,
    held_sessions,
    keyring_for,
    member_times,
    proposed_claims,
    sessions_between,
)
from storage.billing.worksheet import ClaimStatus, render_worksheet, worksheet_rows
from storage.crypto import Keyring
from storage.tables.billing import BillingSequence, ClaimFile, ClaimRecord
from storage.tables.core import AttendanceRecord, Group, Member, Module, SessionRecord

__all__ = [
    "ClaimsExportResult",
    "CmeExportResult",
    "ExportSettingsLike",
    "LeftOut",
    "Waiting",
    "WorksheetResult",
    "WrittenClaim",
    "export_claims",
    "export_cme",
    "export_worksheet",
    "latest_claims",
]

logger = logging.getLogger(__name__)

_FILE_MODULO = 999
_BATCH_MODULO = 9999
_ACCOUNTING_MAX = 99_999_999
#: States whose claim goes out again at the next export (if it is valid then).
_TO_RESEND = ("corrected", "marked")


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
    modality_item: str = ""
    resubmits: str = ""


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A member who attended but is not claimed, and every reason why."""

    session_id: int
    member_id: int
    service_date: date
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class Waiting:
    """A rejected claim that is not sent again until the physician corrects or marks it."""

    accounting_number: str
    session_id: int
    member_id: int
    error_codes: tuple[str, ...]


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
    waiting: tuple[Waiting, ...] = ()

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
    """The year's CME reports, the summary CSV text, and the files written (if any)."""

    reports: tuple[CmeReport, ...]
    text: str
    files: tuple[Path, ...]

    @property
    def report(self) -> CmeReport:
        """The one report, when a single member was asked for."""
        if len(self.reports) != 1:
            raise BillingError(f"{len(self.reports)} reports, not one")
        return self.reports[0]


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

    Only valid claims are written; every member who attended and is not claimed is listed
    with the reasons. A claim already exported is not written twice. A rejected claim is
    not written again until `billing correct` or `billing resubmit` released it; then the
    new claim (new accounting number) replaces it, if it is valid. Nothing is written, and
    no sequence is used, when no claim is valid or on a dry run.

    Raises:
        BillingError: bad billing settings, `[billing] physician` not on the roster, a bad
            date range, an out folder that does not exist, or a file of that name there.
        DataKeyError: PHI cannot be decrypted or sealed with the keyring.
    """
    options = BillingOptions.from_settings(settings.billing)
    _check_range(date_from, date_to)
    if not dry_run and not out_dir.is_dir():
        raise BillingError(f"{out_dir} is not a folder")
    moment = _aware(now)
    today = moment.astimezone(ZoneInfo(settings.group.timezone)).date()
    records = sessions_between(session, settings=settings, date_from=date_from, date_to=date_to)
    finished = [record for record in records if record.finalized_at is not None]
    unfinished = tuple(record.id for record in records if record.finalized_at is None)
    latest = latest_claims(session, session_ids=[record.id for record in finished])
    ring = keyring_for(settings, keyring)
    proposed = proposed_claims(
        session,
        settings=settings,
        options=options,
        records=finished,
        keyring=ring,
        fee_table=fee_table if fee_table is not None else stored_fee_table(session),
        today=today,
        now=moment,
        command="export claims",
        overrides=_overrides(latest),
    )
    to_write: list[tuple[ProposedClaim, ClaimRecord | None]] = []
    left_out: list[LeftOut] = []
    waiting: list[Waiting] = []
    already = 0
    for claim in proposed:
        key = (int(claim.session.session_id), int(claim.member.member_id))
        previous = latest.get(key)
        if previous is not None and previous.state == "rejected":
            waiting.append(
                Waiting(previous.accounting_number, key[0], key[1], tuple(previous.error_codes))
            )
            continue
        if previous is not None and previous.state not in _TO_RESEND:
            already += 1
            continue
        if claim.valid:
            to_write.append((claim, previous))
        else:
            left_out.append(LeftOut(key[0], key[1], claim.session.service_date, claim.problems))
    if not to_write:
        return ClaimsExportResult(
            None, None, (), tuple(left_out), already, unfinished, (), dry_run, tuple(waiting)
        )

    batch_count = -(-len(to_write) // MAX_CLAIMS_PER_BATCH)
    peek = dry_run
    file_seq = _next_value(session, "claims_file", modulo=_FILE_MODULO, peek=peek)
    first_batch = _next_value(session, "batch", modulo=_BATCH_MODULO, peek=peek)
    batch_seqs = [(first_batch - 1 + index) % _BATCH_MODULO + 1 for index in range(batch_count)]
    if not peek:
        for _ in range(batch_count - 1):
            _next_value(session, "batch", modulo=_BATCH_MODULO)
    accounting = _accounting_numbers(session, count=len(to_write), peek=peek)
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
            modality_item=claim.modality_item,
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
            name,
            None,
            written,
            tuple(left_out),
            already,
            unfinished,
            tuple(batch_seqs),
            True,
            tuple(waiting),
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
    # One statement for all the rows (the claims' ids are not needed here), not the ORM's
    # unit of work, which took about a tenth of a ten-year export (`bench.export`).
    session.connection().execute(
        insert(ClaimRecord),
        [
            {
                "accounting_number": entry.accounting_number,
                "file_id": claim_file.id,
                "session_id": entry.session_id,
                "member_id": entry.member_id,
                "service_date": entry.service_date,
                "payment_program": claim.payment_program,
                "fee_code": claim.fee_code,
                "units": claim.units,
                "fee_cents": claim.fee_cents,
                "modality_item": claim.modality_item,
                "modality": claim.attendance.modality,
                "diagnostic_code": claim.attendance.diagnostic_code,
                "state": "exported",
                "error_codes": [],
                "error_messages": [],
                "exported_at": moment,
                "replaces_id": previous.id if previous is not None else None,
                "health_number_enc": ring.seal(
                    claim.member.health_number.strip().upper(), field_name="claim_health_number"
                ),
                "key_id": ring.current_id,
                "content_sha256": fingerprint(sent),
            }
            for (claim, previous), entry, sent in zip(to_write, written, file_claims, strict=True)
        ],
    )
    for _, previous in to_write:
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
        name,
        path,
        written,
        tuple(left_out),
        already,
        unfinished,
        tuple(batch_seqs),
        False,
        tuple(waiting),
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
        BillingError: not exactly one selection, nothing selected, bad settings, the
            physician not on the roster, or `out` exists already.
    """
    chosen = [session_id is not None, module is not None, date_from is not None]
    if sum(chosen) != 1 or (date_from is None) != (date_to is None):
        raise BillingError("choose exactly one of a session, a module, or a from/to date range")
    options = BillingOptions.from_settings(settings.billing)
    moment = _aware(now)
    today = moment.astimezone(ZoneInfo(settings.group.timezone)).date()
    if session_id is not None:
        record = session.get(SessionRecord, session_id)
        if record is None:
            raise BillingError(f"no session with id {session_id}")
        owner = session.get(Group, record.group_id)
        if owner is not None and owner.name != settings.group.name:
            # priced with another group's billing settings it would be another provider's
            raise BillingError(
                f"session {session_id} is of group {owner.name!r}, not "
                f"{settings.group.name!r}: give --group {owner.name!r}"
            )
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
        records = sessions_between(session, settings=settings, date_from=date_from, date_to=date_to)
    if not records:
        raise BillingError("no sessions match that selection")
    latest = latest_claims(session, session_ids=[record.id for record in records])
    proposed = proposed_claims(
        session,
        settings=settings,
        options=options,
        records=records,
        keyring=keyring,
        fee_table=fee_table if fee_table is not None else stored_fee_table(session),
        today=today,
        now=moment,
        command="export billing",
        overrides=_overrides(latest),
    )
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
    year: int,
    group: str | None = None,
    member_id: int | None = None,
    out_dir: Path | None = None,
    now: datetime,
) -> CmeExportResult:
    """Hours every member of the group attended in `year` (or one member, `member_id`).

    With `out_dir`, writes `cme-YEAR.csv` (every member) and, per member, a CSV of their
    sessions and a printable certificate (`.html` and `.pdf`), all owner-only; nothing there
    is overwritten.

    Raises:
        BillingError: `group` is not the configured group, no such member in it, a year
            out of range, `out_dir` missing, or a file to write exists already.
    """
    if group is not None and group.strip() != settings.group.name:
        raise BillingError(
            f"--group {group!r} is not the group these settings are narrowed to "
            f"({settings.group.name!r})"
        )
    if not 1900 <= year <= 9999:
        raise BillingError(f"year {year} is out of range")
    if out_dir is not None and not out_dir.is_dir():
        raise BillingError(f"{out_dir} is not a folder")
    moment = _aware(now)
    tz = ZoneInfo(settings.group.timezone)
    people = session.scalars(
        select(Member)
        .join(Group, Group.id == Member.group_id)
        .where(Group.name == settings.group.name)
        .order_by(Member.display_name, Member.id)
    ).all()
    members = [person for person in people if person.role == "member"]
    if member_id is not None:
        members = [person for person in members if person.id == member_id]
        if not members:
            raise BillingError(f"no member with id {member_id} in {settings.group.name!r}")
    facilitators = {person.id: _full_name(person) for person in people if person.role != "member"}
    records = [
        record
        for record in sessions_between(
            session,
            settings=settings,
            date_from=date(year, 1, 1),
            date_to=date(year, 12, 31),
        )
        if record.finalized_at is not None
    ]
    held = held_sessions(session, records=records, length_minutes=settings.agenda.length_minutes)
    led_by: dict[int, list[int]] = defaultdict(list)
    for row in session.scalars(
        select(AttendanceRecord).where(
            AttendanceRecord.session_id.in_([record.id for record in records]),
            AttendanceRecord.role == "facilitator",
        )
    ):
        if row.member_id in facilitators and row.minutes > 0:
            led_by[row.session_id].append(row.member_id)
    times: dict[int, list[CmeSession]] = defaultdict(list)
    sessions_of: dict[int, set[int]] = defaultdict(set)
    training = {person.id for person in members if person.trains_to_lead}
    rule = settings.billing.cme_reflection
    for time in member_times(
        held,
        timezone=settings.group.timezone,
        reflection_counts=lambda member: (
            rule == "everyone" or (rule == "trains_to_lead" and member in training)
        ),
    ):
        times[time.member_id].append(
            CmeSession(str(time.session_id), time.service_date, time.minutes)
        )
        if time.minutes > 0:
            sessions_of[time.member_id].add(time.session_id)
    reports = []
    for member in members:
        leaders = sorted(
            {facilitators[leader] for sid in sessions_of[member.id] for leader in led_by[sid]}
        )
        reports.append(
            cme_report(
                member_id=str(member.id),
                display_name=member.display_name,
                full_name=_full_name(member),
                group_name=settings.group.name,
                year=year,
                sessions=times.get(member.id, []),
                facilitators=leaders or sorted(set(facilitators.values())),
            )
        )
    text = render_cme_summary(reports) if member_id is None else render_cme(reports[0])
    files: list[Path] = []
    if out_dir is not None:
        issued = moment.astimezone(tz).date()
        planned = [(out_dir / f"cme-{year}.csv", render_cme_summary(reports).encode("utf-8"))]
        for report in reports:
            stem = out_dir / f"cme-{year}-member-{report.member_id}"
            planned += [
                (stem.with_suffix(".csv"), render_cme(report).encode("utf-8")),
                (stem.with_suffix(".html"), certificate_html(report, issued=issued).encode()),
                (stem.with_suffix(".pdf"), certificate_pdf(report, issued=issued)),
            ]
        existing = [path.name for path, _ in planned if path.exists()]
        if existing:
            raise BillingError(f"{', '.join(existing)} exist already; nothing was written")
        for path, data in planned:
            write_private(path, data)
            files.append(path)
    audit.record(
        session,
        command="export cme",
        records=[f"member:{report.member_id}" for report in reports],
        detail=f"{year}: {len(reports)} member(s)" + (f", {len(files)} files" if files else ""),
        at=moment,
    )
    return CmeExportResult(reports=tuple(reports), text=text, files=tuple(files))


def _full_name(member: Member) -> str:
    return f"{member.first_name} {member.last_name}".strip() or member.display_name


# -------------------------------------------------------------------------------- internals


def latest_claims(
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


def _overrides(latest: dict[tuple[int, int], ClaimRecord]) -> dict[tuple[int, int], str]:
    """Diagnostic codes given with `billing correct`, for the claims about to go out again."""
    return {
        key: claim.diagnostic_override
        for key, claim in latest.items()
        if claim.state in _TO_RESEND and claim.diagnostic_override
    }


def _aware(moment: datetime) -> datetime:
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


def _accounting_numbers(session: Session, *, count: int, peek: bool) -> list[str]:
    """The next `count` accounting numbers (8 digits, never reused, unique across files),
    reserved in one step unless peeking."""
    row = session.get(BillingSequence, "accounting", with_for_update=not peek)
    last = row.value if row is not None else 0
    if last + count > _ACCOUNTING_MAX:
        raise BillingError("accounting numbers are exhausted (99999999 used)")
    if not peek:
        if row is None:
            session.add(BillingSequence(name="accounting", value=last + count))
        else:
            row.value = last + count
        session.flush()
    return [f"{value:08d}" for value in range(last + 1, last + count + 1)]
