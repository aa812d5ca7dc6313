"""The life of a claim after it is written: rejections, corrections, resubmissions, status.

- `import_error_report` applies the Ministry's Claims Error Report. A line is ours only when
  the whole claim key agrees with what we sent: accounting number, provider (of the `HX1`
  above it), health or registration number, and every item's service code and service date.
  A line that differs in any part (another patient, another provider, another code or date)
  changes nothing and is listed with what differed, never with the numbers themselves.
- A rejected claim is never sent again by itself. `correct_claim` (`billing correct`)
  releases it once something in it changed (the roster, the attendance, the settings, or a
  diagnostic code given for this claim): the claim is rebuilt as the next export would build
  it, and a rebuild that is still invalid, or identical to what was rejected, is refused.
  `mark_for_resubmission` (`billing resubmit`) releases it unchanged, on the physician's word
  (for instance once the Ministry fixed a registration on its side).
- `billing_status` lists what waits on whom, as typed rows (the web console shows them).
- `reseal_claims` re-encrypts the health numbers kept with the claims under a new data key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import audit
from storage.billing.claims import BillingOptions, Problem, ascii_digits, six_months_before
from storage.billing.claims_file import file_claim, fingerprint
from storage.billing.error_report import ReportedClaim, parse_error_report
from storage.billing.errors import BillingError
from storage.billing.fee_store import fee_table as stored_fee_table
from storage.billing.fees import FeeTable
from storage.billing.snapshots import ExportSettingsLike, keyring_for, proposed_claims
from storage.crypto import Keyring
from storage.roster import read_phi
from storage.tables.billing import CLAIM_STATES, ClaimFile, ClaimRecord
from storage.tables.core import AttendanceRecord, Group, SessionRecord

__all__ = [
    "ClaimSummary",
    "CorrectionResult",
    "ErrorImportResult",
    "RejectedClaim",
    "StatusRow",
    "UnmatchedLine",
    "WaitsOn",
    "billing_status",
    "claims_by_state",
    "correct_claim",
    "import_error_report",
    "mark_for_resubmission",
    "reseal_claims",
]

#: The AES-GCM field name the health number sent with a claim is sealed under.
_SEALED_FIELD = "claim_health_number"

WaitsOn = Literal["physician", "ministry", "export", "attendance"]


@dataclass(frozen=True, slots=True)
class RejectedClaim:
    """A claim of ours the report rejected, with its codes and messages."""

    accounting_number: str
    error_codes: tuple[str, ...]
    messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnmatchedLine:
    """A report line that is not one of our claims, and which part of the key differed."""

    line: int
    accounting_number: str
    reason: str


@dataclass(frozen=True, slots=True)
class ErrorImportResult:
    """What an error report changed, and what it named that is not ours."""

    report_name: str
    rejected: tuple[RejectedClaim, ...]
    unmatched: tuple[UnmatchedLine, ...]
    unchanged: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    accounting_number: str
    state: str
    diagnostic_code: str
    note: str


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
    modality_item: str = ""


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One thing that waits, and on whom (no PHI: ids, codes, dates, amounts).

    Args:
        waits_on: `physician` (a rejected claim to correct or mark), `export` (released
            claims and sessions not yet claimed: the next `export claims`), `ministry`
            (claims sent, no answer yet), `attendance` (a session not finalised).
        what: the claim's state, or `not claimed yet` / `not finalised` for a session.
        deadline: the last service-date-based day it can still be sent (six months).
    """

    waits_on: WaitsOn
    what: str
    session_id: int
    service_date: date
    accounting_number: str = ""
    member_id: int | None = None
    fee_code: str = ""
    units: int = 0
    fee_cents: int = 0
    file_name: str = ""
    error_codes: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    deadline: date | None = None
    note: str = ""


# ----------------------------------------------------------------------------- error report


def import_error_report(
    session: Session, *, path: Path, keyring: Keyring, now: datetime
) -> ErrorImportResult:
    """Mark the claims a Claims Error Report names as rejected, matched by the full claim key.

    Raises:
        BillingError: the file cannot be read or is not a well-formed error report (then
            nothing changes).
        DataKeyError: a sent health number cannot be opened with the keyring.
    """
    try:
        data = path.read_bytes()
    except OSError as failed:
        raise BillingError(f"cannot read {path}: {failed.strerror}") from None
    report = parse_error_report(data)
    rejected: list[RejectedClaim] = []
    unmatched: list[UnmatchedLine] = []
    unchanged: list[str] = []
    for reported in report.claims:
        found = session.execute(
            select(ClaimRecord, ClaimFile)
            .join(ClaimFile, ClaimFile.id == ClaimRecord.file_id)
            .where(ClaimRecord.accounting_number == reported.accounting_number)
        ).first()
        if found is None:
            unmatched.append(
                UnmatchedLine(
                    reported.line,
                    reported.accounting_number,
                    "no claim of ours has this accounting number",
                )
            )
            continue
        claim, claim_file = found
        reason = _key_difference(session, reported, claim, claim_file, keyring, now)
        if reason:
            unmatched.append(UnmatchedLine(reported.line, reported.accounting_number, reason))
            continue
        if claim.state != "exported":
            unchanged.append(claim.accounting_number)
            continue
        messages = [f"{code}: {text}" for code, text in reported.messages]
        claim.state = "rejected"
        claim.error_codes = list(reported.error_codes)
        claim.error_messages = messages
        claim.rejected_at = now
        claim.error_report = path.name[:255]
        rejected.append(
            RejectedClaim(claim.accounting_number, reported.error_codes, tuple(messages))
        )
    session.flush()
    audit.record(
        session,
        command="import claims-errors",
        records=[f"claim:{claim.accounting_number}" for claim in rejected],
        detail=f"{path.name}: {len(rejected)} rejected, {len(unmatched)} not ours",
        at=now,
    )
    return ErrorImportResult(
        report_name=path.name,
        rejected=tuple(rejected),
        unmatched=tuple(unmatched),
        unchanged=tuple(unchanged),
    )


def _key_difference(
    session: Session,
    reported: ReportedClaim,
    claim: ClaimRecord,
    claim_file: ClaimFile,
    keyring: Keyring,
    now: datetime,
) -> str:
    """Which part of the claim key differs ("" when the line is this claim); no PHI."""
    if reported.provider_number != claim_file.provider_number:
        return (
            f"sent under provider {claim_file.provider_number}, "
            f"the report's provider is {reported.provider_number}"
        )
    if _sent_number(session, claim, keyring, now) != reported.card_number.upper():
        return "the health number differs from the one sent with this claim"
    sent = {(claim.fee_code, claim.service_date)}
    if claim.modality_item:
        sent.add((claim.modality_item, claim.service_date))
    items = {(item.service_code, item.service_date) for item in reported.items}
    if not items:
        return "the report gives no item (service code and date) for this claim"
    if not items <= sent:
        codes = ", ".join(sorted(f"{code} {day}" for code, day in items - sent))
        return f"service code or date differs from the claim sent ({codes})"
    return ""


def _sent_number(session: Session, claim: ClaimRecord, keyring: Keyring, now: datetime) -> str:
    """The health (or registration) number sent with `claim`.

    Claims written before the number was kept with them fall back to the member's number
    on the roster now (audited as a PHI read).
    """
    if claim.health_number_enc is not None:
        return keyring.open(
            claim.health_number_enc, field_name=_SEALED_FIELD, sealed_with=claim.key_id
        ).upper()
    phi = read_phi(
        session,
        member_ids=[claim.member_id],
        keyring=keyring,
        command="import claims-errors",
        now=now,
        detail="match a claim written before its number was kept",
    )
    opened = phi.get(claim.member_id)
    return opened.health_number.upper() if opened is not None else ""


def reseal_claims(session: Session, *, keyring: Keyring, now: datetime) -> int:
    """Re-encrypt the health numbers kept with claims under the current key; the count."""
    current = keyring.current_id
    claims = list(
        session.scalars(
            select(ClaimRecord).where(
                ClaimRecord.health_number_enc.is_not(None), ClaimRecord.key_id != current
            )
        )
    )
    for claim in claims:
        assert claim.health_number_enc is not None
        number = keyring.open(
            claim.health_number_enc, field_name=_SEALED_FIELD, sealed_with=claim.key_id
        )
        claim.health_number_enc = keyring.seal(number, field_name=_SEALED_FIELD)
        claim.key_id = current
    session.flush()
    audit.record(
        session,
        command="keys rotate",
        records=[f"claim:{claim.accounting_number}" for claim in claims],
        detail=f"re-sealed {len(claims)} claims under key {current}",
        at=now,
    )
    return len(claims)


# ------------------------------------------------------------------------------ corrections


def _rejected(session: Session, accounting_number: str) -> ClaimRecord:
    claim = session.scalar(
        select(ClaimRecord).where(ClaimRecord.accounting_number == accounting_number)
    )
    if claim is None:
        raise BillingError(f"no claim {accounting_number!r} (see `billing status`)")
    if claim.state != "rejected":
        raise BillingError(
            f"claim {accounting_number} is {claim.state}, not rejected: only a rejected claim "
            "is corrected or marked for resubmission"
        )
    return claim


def correct_claim(
    session: Session,
    *,
    settings: ExportSettingsLike,
    accounting_number: str,
    note: str,
    diagnostic_code: str | None = None,
    keyring: Keyring | None = None,
    fee_table: FeeTable | None = None,
    now: datetime,
) -> CorrectionResult:
    """Release a rejected claim for resubmission because something in it was corrected.

    The claim is rebuilt from today's roster, attendance and settings (with
    `diagnostic_code` for this claim, if given) exactly as the next export would build it.

    Raises:
        BillingError: no such claim, it is another group's, it is not rejected, the
            diagnostic code is not 3
            digits, the rebuilt claim is still invalid (its problems are named), or it is
            exactly the claim that was rejected (nothing was corrected).
    """
    claim = _rejected(session, accounting_number)
    code = (diagnostic_code or "").strip()
    if diagnostic_code is not None and not (len(code) == 3 and ascii_digits(code)):
        raise BillingError("--diagnostic-code must be OHIP's 3-digit diagnostic code")
    record = session.get(SessionRecord, claim.session_id)
    assert record is not None  # billing_claims.session_id is a foreign key
    owner = session.get(Group, record.group_id)
    if owner is not None and owner.name != settings.group.name:
        # rebuilt with another group's billing settings it would be another provider's claim
        raise BillingError(
            f"claim {accounting_number} is of group {owner.name!r}, not "
            f"{settings.group.name!r}: give --group {owner.name!r}"
        )
    options = BillingOptions.from_settings(settings.billing)
    today = now.astimezone(ZoneInfo(settings.group.timezone)).date()
    ring = keyring_for(settings, keyring)
    override = code or claim.diagnostic_override
    rebuilt = [
        proposal
        for proposal in proposed_claims(
            session,
            settings=settings,
            options=options,
            records=[record],
            keyring=ring,
            fee_table=fee_table if fee_table is not None else stored_fee_table(session),
            today=today,
            now=now,
            command="billing correct",
            overrides={(claim.session_id, claim.member_id): override} if override else {},
        )
        if int(proposal.member.member_id) == claim.member_id
    ]
    if not rebuilt:
        raise BillingError(
            f"claim {accounting_number}: the member no longer appears in the session's "
            "attendance; nothing to resubmit"
        )
    proposal = rebuilt[0]
    if not proposal.valid:
        raise BillingError(
            f"claim {accounting_number} would still be left out: " + _reasons(proposal.problems)
        )
    again = fingerprint(file_claim(proposal, accounting_number=claim.accounting_number))
    if claim.content_sha256 and again == claim.content_sha256:
        raise BillingError(
            f"claim {accounting_number} would be sent exactly as it was rejected: correct the "
            "roster (roster import), the attendance or the settings, or give "
            "--diagnostic-code; or use `billing resubmit` to send it unchanged"
        )
    claim.state = "corrected"
    claim.diagnostic_override = code or claim.diagnostic_override
    claim.corrected_at = now
    claim.correction_note = note
    session.flush()
    audit.record(
        session,
        command="billing correct",
        records=[f"claim:{claim.accounting_number}", f"member:{claim.member_id}"],
        detail="corrected" + (f", diagnostic code {code}" if code else ""),
        at=now,
    )
    return CorrectionResult(
        claim.accounting_number, claim.state, proposal.items[0].diagnostic_code, note
    )


def mark_for_resubmission(
    session: Session, *, accounting_number: str, note: str, now: datetime
) -> CorrectionResult:
    """Release a rejected claim to be sent again as it is (the physician's decision).

    Raises:
        BillingError: no such claim, or it is not rejected.
    """
    claim = _rejected(session, accounting_number)
    claim.state = "marked"
    claim.corrected_at = now
    claim.correction_note = note
    session.flush()
    audit.record(
        session,
        command="billing resubmit",
        records=[f"claim:{claim.accounting_number}", f"member:{claim.member_id}"],
        detail="marked for resubmission unchanged",
        at=now,
    )
    return CorrectionResult(claim.accounting_number, claim.state, claim.diagnostic_code, note)


def _reasons(problems: tuple[Problem, ...]) -> str:
    return "; ".join(f"{problem.code}: {problem.message}" for problem in problems)


# ----------------------------------------------------------------------------------- status


def claims_by_state(session: Session) -> dict[str, tuple[ClaimSummary, ...]]:
    """Every claim written, grouped by state (see `CLAIM_STATES`), oldest first."""
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
                modality_item=claim.modality_item,
            )
        )
    return {state: tuple(claims) for state, claims in grouped.items()}


_WAITS: dict[str, WaitsOn] = {
    "rejected": "physician",
    "corrected": "export",
    "marked": "export",
    "exported": "ministry",
}


def billing_status(
    session: Session, *, group_name: str, timezone: str, now: datetime
) -> tuple[StatusRow, ...]:
    """What waits on whom: claims by the party that must act, then sessions not yet claimed.

    Covers every claim not yet replaced, and the group's sessions from the last six months
    that were not finalised, or were finalised and have no claim yet. Resubmitted claims are
    done (their replacement is listed instead).
    """
    today = now.astimezone(ZoneInfo(timezone)).date()
    rows: list[StatusRow] = []
    claims = session.execute(
        select(ClaimRecord, ClaimFile.file_name)
        .join(ClaimFile, ClaimFile.id == ClaimRecord.file_id)
        .join(SessionRecord, SessionRecord.id == ClaimRecord.session_id)
        .join(Group, Group.id == SessionRecord.group_id)
        .where(Group.name == group_name, ClaimRecord.state != "resubmitted")
        .order_by(ClaimRecord.service_date, ClaimRecord.id)
    ).all()
    claimed_sessions: set[int] = set()
    for claim, name in claims:
        claimed_sessions.add(claim.session_id)
        rows.append(
            StatusRow(
                waits_on=_WAITS.get(claim.state, "ministry"),
                what=claim.state,
                session_id=claim.session_id,
                service_date=claim.service_date,
                accounting_number=claim.accounting_number,
                member_id=claim.member_id,
                fee_code=claim.fee_code,
                units=claim.units,
                fee_cents=claim.fee_cents,
                file_name=name,
                error_codes=tuple(claim.error_codes),
                messages=tuple(claim.error_messages),
                deadline=_deadline(claim.service_date),
                note=claim.correction_note,
            )
        )
    since = datetime.combine(six_months_before(today) - timedelta(days=1), datetime.min.time(), UTC)
    attended = {
        session_id
        for session_id, count in session.execute(
            select(AttendanceRecord.session_id, func.count(AttendanceRecord.id))
            .where(AttendanceRecord.role == "member")
            .group_by(AttendanceRecord.session_id)
        )
        if count
    }
    for record in session.scalars(
        select(SessionRecord)
        .join(Group, Group.id == SessionRecord.group_id)
        .where(Group.name == group_name, SessionRecord.scheduled_start >= since)
        .order_by(SessionRecord.scheduled_start, SessionRecord.id)
    ):
        day = record.scheduled_start.astimezone(ZoneInfo(timezone)).date()
        if day > today or day < six_months_before(today) or record.id in claimed_sessions:
            continue
        if record.finalized_at is None:
            rows.append(
                StatusRow(
                    waits_on="attendance",
                    what="not finalised",
                    session_id=record.id,
                    service_date=day,
                    deadline=_deadline(day),
                    note=f"attendance rebuild --session {record.id}",
                )
            )
        elif record.id in attended:
            rows.append(
                StatusRow(
                    waits_on="export",
                    what="not claimed yet",
                    session_id=record.id,
                    service_date=day,
                    deadline=_deadline(day),
                    note="export claims (the worksheet says why a member is left out)",
                )
            )
    order = {"physician": 0, "export": 1, "attendance": 2, "ministry": 3}
    return tuple(sorted(rows, key=lambda row: (order[row.waits_on], row.service_date)))


def _deadline(service_date: date) -> date:
    """The last day a claim for `service_date` is still within six months (ohip-reference §3).

    The export refuses a service date before `six_months_before(today)`; this is the last
    `today` that rule lets through.
    """
    last = service_date
    for offset in range(150, 200):
        day = service_date + timedelta(days=offset)
        if six_months_before(day) <= service_date:
            last = day
    return last
