"""The Ministry's claims file (MRI "Health Encounter" format): records, batches and its name.

Pure: `render(batches)` returns the file's bytes and `file_name(...)` its name; writing the
file and keeping the sequence numbers is the export layer's job. The layout is the MOH
Technical Specifications (Dec 2011 v2.0) as summarised in ohip-reference §4: each batch is
`HEB`, then per claim `HEH`, `HER` (out-of-province cards only) and one `HET` per item, then
the `HEE` trailer with its counts. Every record is exactly 79 ASCII upper-case characters and
ends in CR LF; amounts are cents without a point; unused fields are spaces. One item per
`HET` (the optional second item slot stays blank, as OSCAR and mobilling do). A value that
does not fit its field raises `BillingError`: nothing is truncated and nothing invalid is
written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Final

from storage.billing.claims import (
    BillingOptions,
    ClaimLine,
    PaymentProgram,
    ProposedClaim,
    ascii_digits,
    ascii_upper,
    sex_code,
)
from storage.billing.errors import BillingError

__all__ = [
    "EOL",
    "MAX_CLAIMS_PER_BATCH",
    "MONTH_LETTERS",
    "RECORD_LENGTH",
    "TECH_SPEC_RELEASE",
    "Batch",
    "FileClaim",
    "RmbHeader",
    "batches_for",
    "file_claim",
    "file_name",
    "fingerprint",
    "render",
]

RECORD_LENGTH: Final = 79
EOL: Final = b"\r\n"
TECH_SPEC_RELEASE: Final = "V03"
#: Processing-month letters: A = January … L = December.
MONTH_LETTERS: Final = "ABCDEFGHIJKL"
#: Batches are kept to a manageable size (tech spec §7.1 advises at most 500 claims).
MAX_CLAIMS_PER_BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class RmbHeader:
    """Claim Header-2 (`HER`) facts for an out-of-province card (RMB, Quebec excluded)."""

    registration_number: str
    last_name: str
    first_name: str
    sex: str
    province: str


@dataclass(frozen=True, slots=True)
class FileClaim:
    """One claim as it is written: `HEH`, optional `HER`, and its items."""

    accounting_number: str
    payment_program: PaymentProgram
    health_number: str
    version_code: str
    birth_date: date
    referring_number: str
    items: tuple[ClaimLine, ...]
    rmb: RmbHeader | None = None
    payee: str = "P"


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch: all claims of one provider, with the batch identification."""

    moh_office: str
    created: date
    sequence: int
    group_number: str
    provider_number: str
    specialty: str
    claims: tuple[FileClaim, ...]


def file_name(*, created: date, group_number: str, provider_number: str, sequence: int) -> str:
    """`H{month letter}{group or provider}.{seq}`, e.g. `HA123456.001` or `HAAB12.002`.

    The group number is used unless it is `0000` (solo billing), then the provider number.

    Raises:
        BillingError: the sequence is outside 1-999.
    """
    if not 1 <= sequence <= 999:
        raise BillingError(f"file sequence {sequence} is outside 001-999")
    who = provider_number if group_number == "0000" else group_number
    return f"H{MONTH_LETTERS[created.month - 1]}{who.upper()}.{sequence:03d}"


def file_claim(claim: ProposedClaim, *, accounting_number: str) -> FileClaim:
    """The file form of a valid proposed claim.

    Raises:
        BillingError: the claim has problems (only valid claims are ever written).
    """
    if not claim.valid:
        codes = ", ".join(problem.code for problem in claim.problems)
        raise BillingError(f"claim {accounting_number} is not valid ({codes})")
    member = claim.member
    if member.birth_date is None:  # excluded by validation; keeps the type narrow
        raise BillingError(f"claim {accounting_number} has no birth date")
    rmb = None
    if claim.payment_program == "RMB":
        rmb = RmbHeader(
            registration_number=member.health_number.strip().upper(),
            last_name=ascii_upper(member.last_name),
            first_name=ascii_upper(member.first_name),
            sex=sex_code(member.sex),
            province=member.province.strip().upper(),
        )
    hcp = claim.payment_program == "HCP"
    return FileClaim(
        accounting_number=accounting_number,
        payment_program=claim.payment_program,
        health_number=member.health_number.strip() if hcp else "",
        version_code=member.version_code.strip().upper() if hcp else "",
        birth_date=member.birth_date,
        referring_number=member.referring_number.strip(),
        items=claim.items,
        rmb=rmb,
    )


def fingerprint(claim: FileClaim) -> str:
    """SHA-256 of the claim's records as they are written, the accounting number blanked.

    Two claims with the same fingerprint say the same thing to the Ministry: `billing
    correct` refuses a correction whose claim would be sent exactly as it was rejected.
    """
    blank = replace(claim, accounting_number=" " * 8)
    records = [_header1(blank)]
    if blank.rmb is not None:
        records.append(_header2(blank.rmb))
    records.extend(_item(item) for item in blank.items)
    return hashlib.sha256("\r\n".join(records).encode("ascii")).hexdigest()


def batches_for(
    claims: Sequence[FileClaim],
    *,
    options: BillingOptions,
    created: date,
    first_sequence: int,
    max_claims: int = MAX_CLAIMS_PER_BATCH,
) -> tuple[Batch, ...]:
    """Split one provider's claims into batches of at most `max_claims`.

    Batches are numbered from `first_sequence` on, wrapping from 9999 back to 1.
    """
    return tuple(
        Batch(
            moh_office=options.moh_office,
            created=created,
            sequence=(first_sequence - 1 + index) % 9999 + 1,
            group_number=options.group_number,
            provider_number=options.provider_number,
            specialty=options.specialty,
            claims=tuple(claims[start : start + max_claims]),
        )
        for index, start in enumerate(range(0, len(claims), max_claims))
    )


def render(batches: Iterable[Batch]) -> bytes:
    """The claims file's bytes: every record 79 characters, CR LF after each.

    Raises:
        BillingError: a batch is empty, a value does not fit its field, or text is not ASCII.
    """
    records: list[str] = []
    for batch in batches:
        if not batch.claims:
            raise BillingError("a batch must hold at least one claim")
        records.append(_batch_header(batch))
        r_count = t_count = 0
        for claim in batch.claims:
            if not claim.items:
                raise BillingError(f"claim {claim.accounting_number} has no items")
            records.append(_header1(claim))
            if claim.rmb is not None:
                records.append(_header2(claim.rmb))
                r_count += 1
            for item in claim.items:
                records.append(_item(item))
                t_count += 1
        records.append(_trailer(len(batch.claims), r_count, t_count))
    if not records:
        raise BillingError("nothing to write: no batches")
    return b"".join(record.encode("ascii") + EOL for record in records)


def _batch_header(batch: Batch) -> str:
    if not 1 <= batch.sequence <= 9999:
        raise BillingError(f"batch sequence {batch.sequence} is outside 0001-9999")
    return _record(
        "HEB",
        _text(TECH_SPEC_RELEASE, 3, "tech spec release"),
        _text(batch.moh_office, 1, "MOH office code", exact=True),
        _date(batch.created) + _number(batch.sequence, 4, "batch sequence"),
        "0" * 6,  # operator number: tape cartridges only
        _text(batch.group_number, 4, "group number", exact=True),
        _digits(batch.provider_number, 6, "provider number"),
        _digits(batch.specialty, 2, "specialty"),
        " " * 42,
    )


def _header1(claim: FileClaim) -> str:
    if claim.payment_program == "HCP":
        health = _digits(claim.health_number, 10, "health number")
    else:
        health = " " * 10
    referrer = claim.referring_number
    return _record(
        "HEH",
        health,
        _text(claim.version_code, 2, "version code"),
        _date(claim.birth_date),
        _text(claim.accounting_number, 8, "accounting number", exact=True),
        _text(claim.payment_program, 3, "payment program", exact=True),
        _text(claim.payee, 1, "payee", exact=True),
        _digits(referrer, 6, "referring provider") if referrer else " " * 6,
        " " * 4,  # master number: hospital SLIs only
        " " * 8,  # in-patient admission date
        " " * 4,  # referring lab licence
        " ",  # manual review indicator
        " " * 4,  # service location indicator
        " " * 11,  # reserved for OOC
        " " * 6,  # reserved for MOH
    )


def _header2(rmb: RmbHeader) -> str:
    return _record(
        "HER",
        _text(rmb.registration_number, 12, "registration number"),
        _text(rmb.last_name, 9, "last name", truncate=True),
        _text(rmb.first_name, 5, "first name", truncate=True),
        _text(rmb.sex, 1, "sex", exact=True),
        _text(rmb.province, 2, "province", exact=True),
        " " * 47,
    )


def _item(item: ClaimLine) -> str:
    if not 1 <= item.services <= 99:
        raise BillingError(f"number of services {item.services} is outside 01-99")
    if item.fee_cents % item.services:
        raise BillingError("the fee must divide evenly by the number of services")
    return _record(
        "HET",
        _text(item.service_code, 5, "service code", exact=True),
        " " * 2,
        _number(item.fee_cents, 6, "fee submitted"),
        _number(item.services, 2, "number of services"),
        _date(item.service_date),
        _text(item.diagnostic_code, 4, "diagnostic code"),
        " " * 10,  # reserved for OOC
        " ",  # reserved for MOH
        " " * 38,  # optional second item
    )


def _trailer(h_count: int, r_count: int, t_count: int) -> str:
    return _record(
        "HEE",
        _number(h_count, 4, "H count"),
        _number(r_count, 4, "R count"),
        _number(t_count, 5, "T count"),
        " " * 63,
    )


def _record(*fields: str) -> str:
    record = "".join(fields)
    if len(record) != RECORD_LENGTH:  # a layout bug, not bad data
        raise AssertionError(f"{record[:3]} record is {len(record)} characters, not 79")
    if not record.isascii() or record != record.upper():
        raise BillingError(f"{record[:3]} record holds non-ASCII or lower-case text")
    return record


def _text(
    value: str, length: int, name: str, *, exact: bool = False, truncate: bool = False
) -> str:
    value = value.upper()
    if not value.isascii() or any(not char.isprintable() for char in value):
        raise BillingError(f"{name} holds characters the claims file cannot carry")
    if truncate:
        value = value[:length]
    if len(value) > length or (exact and len(value) != length):
        raise BillingError(f"{name} must be {length} characters (got {len(value)})")
    return value.ljust(length)


def _digits(value: str, length: int, name: str) -> str:
    if len(value) != length or not ascii_digits(value):
        raise BillingError(f"{name} must be {length} digits")
    return value


def _number(value: int, length: int, name: str) -> str:
    if value < 0 or len(str(value)) > length:
        raise BillingError(f"{name} {value} does not fit {length} digits")
    return str(value).zfill(length)


def _date(day: date) -> str:
    return day.strftime("%Y%m%d")
