"""The billing worksheet: one CSV row per member per session, for humans and billing programs.

Pure: proposed claims in, rows and CSV text out. The columns are the export contents of
ohip-reference §7 (identity and time, the therapy window and what it rests on, the billing
physician's minutes, the group size and the rule that counted it, provider, code and fee with
its source and whether it was verified, the member's card and billing decision, attendance,
claimable minutes, modality and its tracking item, referral, diagnosis, virtual-care basis,
claim state) plus the validation flags: `valid`, `problems` (the codes of everything that
keeps a claim out of the claims file) and `reasons` (the same in words, without PHI). The
worksheet carries PHI; the export layer writes it owner-only and audits it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from storage.billing.claims import BillingOptions, ProposedClaim, sex_code
from storage.billing.spreadsheet import cell

__all__ = ["WORKSHEET_COLUMNS", "ClaimStatus", "render_worksheet", "worksheet_rows"]

WORKSHEET_COLUMNS: Final = (
    "session_id",
    "module",
    "service_date",
    "therapy_start",
    "therapy_end",
    "duration_min",
    "reflection_min",
    "window_basis",
    "physician",
    "physician_minutes",
    "group_size",
    "group_size_rule",
    "attendees_total",
    "provider_number",
    "group_number",
    "specialty",
    "moh_office",
    "fee_code",
    "band",
    "unit_fee_cents",
    "fee_effective_date",
    "fee_verified",
    "fee_source",
    "member_id",
    "bill_ohip",
    "last_name",
    "first_name",
    "birth_date",
    "health_number",
    "version_code",
    "province",
    "payment_program",
    "sex",
    "joined_at",
    "left_at",
    "minutes_present",
    "claimable_minutes",
    "units",
    "modality",
    "modality_item",
    "referring_name",
    "referring_number",
    "diagnostic_code",
    "relationship_basis",
    "relationship_date",
    "consent_date",
    "fee_submitted_cents",
    "payee",
    "accounting_number",
    "claim_state",
    "valid",
    "problems",
    "reasons",
    "exported_at",
    "exported_by",
)


@dataclass(frozen=True, slots=True)
class ClaimStatus:
    """The latest claim already written for a member and session."""

    accounting_number: str
    state: str


def worksheet_rows(
    claims: Sequence[ProposedClaim],
    *,
    options: BillingOptions,
    exported_at: datetime,
    exported_by: str,
    statuses: Mapping[tuple[str, str], ClaimStatus] | None = None,
) -> list[dict[str, str]]:
    """One row per proposed claim, in the order given, keyed by `WORKSHEET_COLUMNS`.

    Args:
        statuses: the latest written claim per `(session_id, member_id)`, if any.
    """
    statuses = statuses or {}
    rows: list[dict[str, str]] = []
    for claim in claims:
        held = claim.session
        row = claim.attendance
        member = row.member
        status = statuses.get((held.session_id, member.member_id))
        rows.append(
            {
                "session_id": held.session_id,
                "module": held.module,
                "service_date": _day(held.service_date),
                "therapy_start": _time(held.window_start),
                "therapy_end": _time(held.window_end),
                "duration_min": str(held.window_minutes),
                "reflection_min": str(held.reflection_minutes),
                "window_basis": held.window_basis,
                "physician": options.physician,
                "physician_minutes": str(held.physician_minutes),
                "group_size": str(held.group_size),
                "group_size_rule": held.group_size_rule,
                "attendees_total": str(held.attendee_count),
                "provider_number": options.provider_number,
                "group_number": options.group_number,
                "specialty": options.specialty,
                "moh_office": options.moh_office,
                "fee_code": claim.fee_code,
                "band": claim.band,
                "unit_fee_cents": str(claim.unit_fee_cents) if claim.fee_code else "",
                "fee_effective_date": _day(claim.fee.effective_date if claim.fee else None),
                "fee_verified": _yes(claim.fee.verified) if claim.fee else "",
                "fee_source": claim.fee.source if claim.fee else "",
                "member_id": member.member_id,
                "bill_ohip": "" if member.bill_ohip is None else _yes(member.bill_ohip),
                "last_name": member.last_name,
                "first_name": member.first_name,
                "birth_date": _day(member.birth_date),
                "health_number": member.health_number,
                "version_code": member.version_code,
                "province": member.province,
                "payment_program": claim.payment_program,
                "sex": sex_code(member.sex),
                "joined_at": _time(row.first_join),
                "left_at": _time(row.last_leave),
                "minutes_present": str(row.minutes_in_meeting),
                "claimable_minutes": str(row.claimable_minutes),
                "units": str(claim.units),
                "modality": row.modality,
                "modality_item": claim.modality_item,
                "referring_name": member.referring_name,
                "referring_number": member.referring_number,
                "diagnostic_code": row.diagnostic_code,
                "relationship_basis": member.relationship_basis,
                "relationship_date": _day(member.relationship_date),
                "consent_date": _day(member.consent_date),
                "fee_submitted_cents": str(claim.fee_cents) if claim.fee_code else "",
                "payee": "P",
                "accounting_number": status.accounting_number if status else "",
                "claim_state": status.state if status else "",
                "valid": _yes(claim.valid),
                "problems": ";".join(problem.code for problem in claim.problems),
                "reasons": "; ".join(problem.message for problem in claim.problems),
                "exported_at": _time(exported_at),
                "exported_by": exported_by,
            }
        )
    return rows


def render_worksheet(rows: Sequence[Mapping[str, str]]) -> str:
    """The rows as CSV text with a header line (RFC 4180, CR LF line ends)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=WORKSHEET_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: cell(row[column]) for column in WORKSHEET_COLUMNS})
    return buffer.getvalue()


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _day(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


def _time(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
