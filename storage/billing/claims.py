"""Claims from attendance: who is billed, with which code, units and fee, or why not.

Pure: the inputs are frozen snapshots (`SessionAttendance` holding `BillableAttendance` rows
of `MemberBilling` facts) that the query layer builds from the database, and the output is one
`ProposedClaim` per member row, valid or carrying every `Problem` that stops it. Nothing about
eligibility is decided here beyond the Ministry's mechanical rules (ohip-reference §3, §7):
the code family, modality item and reflection policy are the physician's settings, and the
diagnosis and relationship basis are what the physician recorded on the roster.

A claim is left out of the claims file when it has any problem: a health number failing the
check digit, a missing version code (Ontario cards), a missing birth date or diagnostic code,
fewer than 20 minutes, fewer than 2 or more than 12 members present, no relationship basis
recorded, a Quebec card (RMB excludes Quebec), incomplete out-of-province details, or a service
date in the future or more than six months old.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal, Protocol

from storage.billing.errors import BillingError
from storage.billing.fees import FeeTable
from storage.billing.units import band_for_count, units_for_minutes
from storage.health_number import is_valid

__all__ = [
    "PROVINCES",
    "BillableAttendance",
    "BillingOptions",
    "BillingSettingsLike",
    "ClaimLine",
    "MemberBilling",
    "Problem",
    "ProposedClaim",
    "SessionAttendance",
    "MAX_ITEM_FEE_CENTS",
    "MAX_SERVICES",
    "ascii_upper",
    "build_claims",
    "sex_code",
    "six_months_before",
]

#: Province and territory codes of the claims file (tech spec §5.14).
PROVINCES: Final = frozenset(
    {"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
)
#: Highest fee one item line may carry, in cents (HET fee field, ohip-reference §4.5).
MAX_ITEM_FEE_CENTS: Final = 500_000
MAX_SERVICES: Final = 99
#: Relationship bases that do not support comprehensive virtual care (ohip-reference §2).
_NO_BASIS: Final = frozenset({"", "none"})

PaymentProgram = Literal["HCP", "RMB"]


class BillingSettingsLike(Protocol):
    """The `[billing]` settings section as this package reads it (bot.config.BillingSettings)."""

    @property
    def provider_number(self) -> str: ...
    @property
    def group_number(self) -> str: ...
    @property
    def specialty(self) -> str: ...
    @property
    def moh_office(self) -> str: ...
    @property
    def fee_codes(self) -> str: ...
    @property
    def modality_item(self) -> str: ...
    @property
    def count_reflection(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class BillingOptions:
    """The billing physician's choices, checked once before any claim is built.

    Args:
        provider_number: 6-digit OHIP billing number.
        group_number: 4-character group number, `0000` when billing solo.
        specialty: `00` or `19`.
        moh_office: one-letter Ministry office code.
        fee_codes: `gp` or `psychiatry` (the fee table family).
        modality_item: `""` or `K300A`, a $0 tracking item added to every claim.
        count_reflection: count the optional reflection toward billed minutes.
    """

    provider_number: str
    group_number: str = "0000"
    specialty: str = "00"
    moh_office: str = "N"
    fee_codes: str = "gp"
    modality_item: str = ""
    count_reflection: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not (len(self.provider_number) == 6 and self.provider_number.isdigit()):
            problems.append("provider_number must be 6 digits")
        if not (len(self.group_number) == 4 and self.group_number.isalnum()):
            problems.append("group_number must be 4 characters (0000 when billing solo)")
        if self.specialty not in ("00", "19"):
            problems.append("specialty must be 00 or 19")
        if not (len(self.moh_office) == 1 and self.moh_office.isalpha()):
            problems.append("moh_office must be one letter")
        if self.fee_codes not in ("gp", "psychiatry"):
            problems.append("fee_codes must be gp or psychiatry")
        if self.modality_item not in ("", "K300A"):
            problems.append("modality_item must be empty or K300A")
        if problems:
            raise BillingError("billing settings: " + "; ".join(problems))

    @classmethod
    def from_settings(cls, billing: BillingSettingsLike) -> BillingOptions:
        """Options from the `[billing]` settings section.

        Raises:
            BillingError: a setting cannot produce a valid claims file.
        """
        return cls(
            provider_number=billing.provider_number,
            group_number=billing.group_number.upper(),
            specialty=billing.specialty,
            moh_office=billing.moh_office.upper(),
            fee_codes=billing.fee_codes,
            modality_item=billing.modality_item.upper(),
            count_reflection=billing.count_reflection,
        )


@dataclass(frozen=True, slots=True)
class MemberBilling:
    """A roster member's billing facts, decrypted, as the physician recorded them."""

    member_id: str
    first_name: str
    last_name: str
    health_number: str = ""
    version_code: str = ""
    province: str = "ON"
    birth_date: date | None = None
    sex: str = ""
    referring_name: str = ""
    referring_number: str = ""
    diagnostic_code: str = ""
    relationship_basis: str = ""
    relationship_date: date | None = None
    consent_date: date | None = None


@dataclass(frozen=True, slots=True)
class BillableAttendance:
    """One member's attendance at one session.

    Args:
        member: the member's billing facts.
        minutes: minutes present during the therapy (and the reflection, if it is counted).
        present: the attendance threshold's verdict.
        first_join / last_leave: from Zoom, for the worksheet.
        modality: `video` or `phone` for this member at this session.
    """

    member: MemberBilling
    minutes: int
    present: bool
    first_join: datetime | None = None
    last_leave: datetime | None = None
    modality: str = "video"


@dataclass(frozen=True, slots=True)
class SessionAttendance:
    """A held session and its members' attendance.

    Args:
        session_id: our session id.
        service_date: the session's local date.
        therapy_start / therapy_end: facilitator-present start and stop.
        therapy_minutes: minutes of therapy (facilitator present), reflection excluded.
        reflection_minutes: minutes of the optional reflection that followed.
        attendees: one row per member (role member) on the session's roster.
        attendee_count: everyone who attended, facilitators and guests included.
        module: the module's name, for the worksheet.
    """

    session_id: str
    service_date: date
    therapy_start: datetime | None
    therapy_end: datetime | None
    therapy_minutes: int
    reflection_minutes: int
    attendees: tuple[BillableAttendance, ...]
    attendee_count: int
    module: str = ""

    @property
    def present_count(self) -> int:
        """Members present: the count that picks the group-size band."""
        return sum(1 for row in self.attendees if row.present)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a claim cannot be written: a stable `code` and a human `message` without PHI."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ClaimLine:
    """One item of a claim (an HET item): fee is the line total, services are the units."""

    service_code: str
    fee_cents: int
    services: int
    service_date: date
    diagnostic_code: str = ""


@dataclass(frozen=True, slots=True)
class ProposedClaim:
    """A claim for one member at one session, with every problem found."""

    session: SessionAttendance
    attendance: BillableAttendance
    payment_program: PaymentProgram
    band: str
    fee_code: str
    units: int
    billed_minutes: int
    unit_fee_cents: int
    fee_effective: date | None
    items: tuple[ClaimLine, ...]
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def fee_cents(self) -> int:
        """Fee submitted for the psychotherapy item (units × unit fee)."""
        return self.units * self.unit_fee_cents

    @property
    def member(self) -> MemberBilling:
        return self.attendance.member


def six_months_before(day: date) -> date:
    """The same day six calendar months earlier (clamped to the month's last day)."""
    month = day.month - 6
    year = day.year
    if month < 1:
        month += 12
        year -= 1
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def ascii_upper(text: str) -> str:
    """Upper-case ASCII letters only: accents dropped, hyphens, quotes and spaces removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if char.isascii() and char.isalpha()).upper()


def build_claims(
    session: SessionAttendance,
    *,
    options: BillingOptions,
    fee_table: FeeTable,
    today: date,
) -> tuple[ProposedClaim, ...]:
    """One proposed claim per member row of `session`, each with all of its problems.

    Args:
        session: the session's attendance snapshot.
        options: the billing physician's settings.
        fee_table: the versioned fee table.
        today: the batch creation date (service dates may not be later, nor over 6 months old).
    """
    present = session.present_count
    session_problems: list[Problem] = []
    band = ""
    fee_code = ""
    unit_fee = 0
    effective: date | None = None
    try:
        band = band_for_count(present)
    except BillingError as no_band:
        code = "group_too_large" if present > 12 else "group_too_small"
        session_problems.append(Problem(code, str(no_band)))
    if band:
        try:
            row = fee_table.lookup(fee_codes=options.fee_codes, band=band, on=session.service_date)
        except BillingError as no_fee:
            session_problems.append(Problem("no_fee", str(no_fee)))
        else:
            fee_code, unit_fee, effective = row.code, row.unit_fee_cents, row.effective_date
    if session.service_date > today:
        session_problems.append(Problem("future_date", "the service date is after today"))
    elif session.service_date < six_months_before(today):
        session_problems.append(
            Problem("stale_date", "the service date is more than six months ago")
        )
    reflection = session.reflection_minutes if options.count_reflection else 0
    limit = session.therapy_minutes + reflection
    return tuple(
        _claim(
            session,
            row,
            options=options,
            band=band,
            fee_code=fee_code,
            unit_fee=unit_fee,
            effective=effective,
            limit=limit,
            session_problems=session_problems,
        )
        for row in session.attendees
    )


def _claim(
    session: SessionAttendance,
    row: BillableAttendance,
    *,
    options: BillingOptions,
    band: str,
    fee_code: str,
    unit_fee: int,
    effective: date | None,
    limit: int,
    session_problems: Sequence[Problem],
) -> ProposedClaim:
    member = row.member
    problems: list[Problem] = []
    if not row.present:
        problems.append(Problem("absent", "not present at this session"))
    problems.extend(session_problems)
    minutes = max(0, min(row.minutes, limit))
    units = units_for_minutes(minutes)
    if units == 0:
        problems.append(Problem("under_20_minutes", f"{minutes} billable minutes, under 20"))
    province = member.province.strip().upper() or "ON"
    program: PaymentProgram = "HCP" if province == "ON" else "RMB"
    problems.extend(_card_problems(member, province))
    dx = member.diagnostic_code.strip()
    if not dx:
        problems.append(Problem("diagnostic_code", "no diagnostic code recorded"))
    elif not (len(dx) == 3 and dx.isdigit()):
        problems.append(Problem("diagnostic_code", "the diagnostic code is not 3 digits"))
    if member.birth_date is None:
        problems.append(Problem("birth_date", "no birth date recorded"))
    if member.relationship_basis.strip().lower() in _NO_BASIS:
        problems.append(
            Problem("relationship_basis", "no virtual-care relationship basis recorded")
        )
    referrer = member.referring_number.strip()
    if referrer and not (len(referrer) == 6 and referrer.isdigit()):
        problems.append(Problem("referring_number", "the referring number is not 6 digits"))
    if units > MAX_SERVICES or units * unit_fee > MAX_ITEM_FEE_CENTS:
        problems.append(Problem("fee_limit", "units or fee exceed one item line's limits"))
    items: list[ClaimLine] = []
    if fee_code:
        items.append(
            ClaimLine(
                service_code=fee_code,
                fee_cents=units * unit_fee,
                services=units,
                service_date=session.service_date,
                diagnostic_code=dx,
            )
        )
        if options.modality_item:
            items.append(
                ClaimLine(
                    service_code=options.modality_item,
                    fee_cents=0,
                    services=1,
                    service_date=session.service_date,
                )
            )
    return ProposedClaim(
        session=session,
        attendance=row,
        payment_program=program,
        band=band,
        fee_code=fee_code,
        units=units,
        billed_minutes=minutes,
        unit_fee_cents=unit_fee,
        fee_effective=effective,
        items=tuple(items),
        problems=tuple(problems),
    )


def _card_problems(member: MemberBilling, province: str) -> list[Problem]:
    problems: list[Problem] = []
    if province not in PROVINCES:
        return [Problem("province", "the card province is not a Canadian province code")]
    if province == "QC":
        return [Problem("quebec", "Quebec cards are not covered by reciprocal billing")]
    number = member.health_number.strip()
    if province == "ON":
        if not is_valid(number):
            problems.append(Problem("health_number", "the health number fails the check digit"))
        version = member.version_code.strip()
        if not version:
            problems.append(Problem("version_code", "no version code recorded"))
        elif not (len(version) <= 2 and version.isascii() and version.isalpha()):
            problems.append(Problem("version_code", "the version code is not 1-2 letters"))
        return problems
    if not number or len(number) > 12 or not number.isascii() or not number.isalnum():
        problems.append(
            Problem("registration_number", "out-of-province card number missing or over 12")
        )
    if sex_code(member.sex) == "":
        problems.append(Problem("sex", "out-of-province claims need sex recorded as 1 or 2"))
    if not ascii_upper(member.last_name) or not ascii_upper(member.first_name):
        problems.append(Problem("name", "out-of-province claims need first and last names"))
    return problems


def sex_code(sex: str) -> str:
    """The claims file's sex code (`1` male, `2` female) or `""` when unknown."""
    value = sex.strip().upper()
    return {"1": "1", "M": "1", "MALE": "1", "2": "2", "F": "2", "FEMALE": "2"}.get(value, "")
