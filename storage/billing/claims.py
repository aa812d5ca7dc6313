"""Claims from attendance: who is billed, with which code, units and fee, or why not.

Pure: the inputs are frozen snapshots (`SessionAttendance` holding `BillableAttendance` rows
of `MemberBilling` facts) that `snapshots` builds from the database, and the output is one
`ProposedClaim` per member who attended, valid or carrying every `Problem` that keeps it out
of the claims file. The rules, each with its source, are in `docs/billing.md`; in short:

- Only members the physician marked billable (`bill_ohip = yes`) are claimed; the others
  (`no`, or not decided) appear in attendance and CME, never in a claim.
- The billing physician (`[billing] physician`) must have been present in the therapy
  window; a session they missed is not claimed.
- The claimable minutes (present inside the therapy window while the physician was there,
  absences subtracted) give the units: 20 minutes or more earns the first.
- The group size counted by `[billing] group_size` picks the band and the code of the
  specialty's family; the unit fee is the verified schedule's, never the unverified reference.
- The tracking item follows how Zoom says the member joined: K300A video, K301A telephone.
- The card, birth date, diagnostic code, referral, virtual-care relationship basis (dated,
  inside its window) and the service date's age are checked as the Ministry would.

Eligibility itself is the physician's: the code family, the modality items, the reflection
policy, each member's diagnosis and relationship basis are settings and roster data.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal, Protocol

from storage.attendance import GROUP_SIZE_RULES
from storage.billing.errors import BillingError
from storage.billing.fees import FAMILY_SPECIALTY, FeeRow, FeeTable
from storage.billing.units import FIRST_UNIT_MINUTES, band_for_count, units_for_minutes
from storage.health_number import is_valid

__all__ = [
    "GROUP_SIZE_RULES",
    "MAX_ITEM_FEE_CENTS",
    "MAX_SERVICES",
    "MODALITY_ITEMS",
    "MOH_OFFICES",
    "PROVINCES",
    "RELATIONSHIP_WINDOW_MONTHS",
    "BillableAttendance",
    "BillingOptions",
    "BillingSettingsLike",
    "ClaimLine",
    "MemberBilling",
    "PaymentProgram",
    "Problem",
    "ProposedClaim",
    "SessionAttendance",
    "ascii_digits",
    "ascii_upper",
    "build_claims",
    "months_before",
    "sex_code",
    "six_months_before",
]

#: Province and territory codes of the claims file (tech spec §5.14).
PROVINCES: Final = frozenset(
    {"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
)
#: The Ministry office codes a batch header may carry (tech spec §1.2; error V02).
MOH_OFFICES: Final = frozenset("DEFGJNPRU")
#: Highest fee one item line may carry, in cents (HET fee field, ohip-reference §4.5).
MAX_ITEM_FEE_CENTS: Final = 500_000
MAX_SERVICES: Final = 99
#: The $0 modality tracking items (ohip-reference §2, S11): video and telephone.
MODALITY_ITEMS: Final[dict[str, str]] = {"video": "K300A", "telephone": "K301A"}
#: How long a dated relationship basis supports comprehensive virtual care (S8: an insured
#: in-person service in the previous 24 months; applied to the other dated bases too).
RELATIONSHIP_WINDOW_MONTHS: Final = 24
#: The roster's relationship bases and whether their date must fall inside the window.
_BASES: Final[dict[str, bool]] = {"in_person": True, "video": True, "enrolled": False}

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
    @property
    def cme_reflection(self) -> str: ...
    @property
    def physician(self) -> str: ...
    @property
    def group_size(self) -> str: ...


@dataclass(frozen=True, slots=True)
class BillingOptions:
    """The billing physician's choices, checked once before any claim is built.

    Args:
        provider_number: 6-digit OHIP billing number.
        group_number: 4-character group number, `0000` when billing solo.
        specialty: `00` or `19`.
        moh_office: the Ministry office the provider is registered with (D E F G J N P R U).
        fee_codes: `gp` or `psychiatry`; must be the specialty's family.
        modality_item: `auto` (K300A for video, K301A for telephone, as Zoom reported each
            member) or `none` (no tracking item: only once the Ministry confirms none is due).
        count_reflection: count the optional reflection toward claimable minutes.
        physician: the roster facilitator whose provider number this is.
        group_size: who counts toward the group size (see `GROUP_SIZE_RULES`).
    """

    provider_number: str
    moh_office: str
    physician: str
    group_number: str = "0000"
    specialty: str = "00"
    fee_codes: str = "gp"
    modality_item: str = "auto"
    count_reflection: bool = False
    group_size: str = "members"

    def __post_init__(self) -> None:
        problems = []
        if not (len(self.provider_number) == 6 and ascii_digits(self.provider_number)):
            problems.append("provider_number must be 6 digits")
        if not (
            len(self.group_number) == 4
            and self.group_number.isascii()
            and self.group_number.isalnum()
        ):
            problems.append("group_number must be 4 characters (0000 when billing solo)")
        if self.specialty not in FAMILY_SPECIALTY.values():
            problems.append("specialty must be 00 or 19")
        if self.moh_office not in MOH_OFFICES:
            problems.append(
                "moh_office must be the Ministry office you are registered with: one of "
                + ", ".join(sorted(MOH_OFFICES))
            )
        if self.fee_codes not in FAMILY_SPECIALTY:
            problems.append("fee_codes must be gp or psychiatry")
        elif FAMILY_SPECIALTY[self.fee_codes] != self.specialty:
            problems.append(
                f"fee_codes {self.fee_codes} is billed by specialty "
                f"{FAMILY_SPECIALTY[self.fee_codes]}, not {self.specialty}"
            )
        if self.modality_item not in ("auto", "none"):
            problems.append(
                "modality_item must be auto (K300A video / K301A telephone) or none; "
                "a Zoom session without a tracking item is claimed as in person"
            )
        if self.group_size not in GROUP_SIZE_RULES:
            problems.append("group_size must be one of " + ", ".join(GROUP_SIZE_RULES))
        if not self.physician.strip():
            problems.append("physician must name the roster facilitator who bills")
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
            modality_item=billing.modality_item,
            count_reflection=billing.count_reflection,
            physician=billing.physician,
            group_size=billing.group_size,
        )


@dataclass(frozen=True, slots=True)
class MemberBilling:
    """A roster member's billing facts, decrypted, as the physician recorded them."""

    member_id: str
    first_name: str
    last_name: str
    bill_ohip: bool | None = None
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
    """One member's attendance at one session, as billing sees it.

    Args:
        member: the member's billing facts.
        claimable_minutes: present inside the therapy window while the physician was.
        modality: `video`, `telephone`, or "" when Zoom did not say.
        minutes_in_meeting: all their minutes in the meeting (social time included).
        first_join / last_leave: from Zoom, for the worksheet.
        diagnostic_override: a diagnostic code given with `billing correct` for this claim.
    """

    member: MemberBilling
    claimable_minutes: int
    modality: str = "video"
    minutes_in_meeting: int = 0
    first_join: datetime | None = None
    last_leave: datetime | None = None
    diagnostic_override: str = ""

    @property
    def diagnostic_code(self) -> str:
        return (self.diagnostic_override or self.member.diagnostic_code).strip()


@dataclass(frozen=True, slots=True)
class SessionAttendance:
    """A held session and its members' attendance.

    Args:
        session_id: our session id.
        service_date: the session's local date.
        window_start / window_end: the therapy window (meditation start to closing).
        window_minutes: minutes in the therapy window.
        reflection_minutes: minutes of the reflection that followed.
        window_basis: `phases` (stored phase changes) or `schedule` (none stored).
        physician_minutes: the billing physician's minutes inside the therapy window.
        group_size: the count `group_size_rule` gives, which picks the band.
        group_size_rule: the rule used.
        attendees: one row per member who attended.
        attendee_count: everyone who attended, facilitators and guests included.
        module: the module's name, for the worksheet.
        outdated: the attendance was finalised before join sessions were kept, so none of
            the minutes above can be trusted until it is rebuilt.
    """

    session_id: str
    service_date: date
    window_start: datetime | None
    window_end: datetime | None
    window_minutes: int
    reflection_minutes: int
    window_basis: str
    physician_minutes: int
    group_size: int
    group_size_rule: str
    attendees: tuple[BillableAttendance, ...]
    attendee_count: int
    module: str = ""
    outdated: bool = False


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
    unit_fee_cents: int
    fee: FeeRow | None
    modality_item: str
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

    @property
    def claimable_minutes(self) -> int:
        return self.attendance.claimable_minutes


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (clamped to the month's last day)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def six_months_before(day: date) -> date:
    """The same day six calendar months earlier (clamped to the month's last day)."""
    return months_before(day, 6)


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
    cards: dict[MemberBilling, tuple[Problem, ...]] | None = None,
) -> tuple[ProposedClaim, ...]:
    """One proposed claim per member row of `session`, each with all of its problems.

    Args:
        session: the session's attendance snapshot.
        options: the billing physician's settings.
        fee_table: the reference and verified fees.
        today: the batch creation date (service dates may not be later, nor over 6 months old).
        cards: the card checks already made, by member; an export over many sessions passes
            one dict to all of them, so that each member's card is checked once (it is the
            same card in every session). Kept by the caller, for one export only: the keys
            carry PHI.
    """
    cards = {} if cards is None else cards
    session_problems: list[Problem] = []
    if session.outdated:
        outdated = [
            Problem(
                "attendance_outdated",
                "attendance was finalised before join sessions were kept; "
                f"run `balint-bot attendance rebuild --session {session.session_id}`",
            )
        ]
        return tuple(
            _claim(
                session,
                row,
                options=options,
                band="",
                fee=None,
                session_problems=outdated,
                cards=cards,
            )
            for row in session.attendees
        )
    if session.physician_minutes <= 0:
        session_problems.append(
            Problem(
                "physician_absent",
                "the billing physician was not present in the therapy window; "
                "no claim of this session can be made under their number",
            )
        )
    band = ""
    fee: FeeRow | None = None
    try:
        band = band_for_count(session.group_size)
    except BillingError as no_band:
        code = "group_too_large" if session.group_size > 12 else "group_too_small"
        session_problems.append(
            Problem(code, f"{no_band} (counted by the {session.group_size_rule} rule)")
        )
    if band:
        try:
            fee = fee_table.lookup(specialty=options.specialty, band=band, on=session.service_date)
        except BillingError as no_fee:
            session_problems.append(Problem("no_fee", str(no_fee)))
        else:
            if not fee.verified:
                session_problems.append(
                    Problem(
                        "fee_unverified",
                        f"the {fee.code} unit fee is the unverified reference value; load the "
                        "current Schedule of Benefits with `billing fees import FILE`",
                    )
                )
    if session.service_date > today:
        session_problems.append(Problem("future_date", "the service date is after today"))
    elif session.service_date < six_months_before(today):
        session_problems.append(
            Problem("stale_date", "the service date is more than six months ago")
        )
    return tuple(
        _claim(
            session,
            row,
            options=options,
            band=band,
            fee=fee,
            session_problems=session_problems,
            cards=cards,
        )
        for row in session.attendees
    )


def _claim(
    session: SessionAttendance,
    row: BillableAttendance,
    *,
    options: BillingOptions,
    band: str,
    fee: FeeRow | None,
    session_problems: Sequence[Problem],
    cards: dict[MemberBilling, tuple[Problem, ...]],
) -> ProposedClaim:
    member = row.member
    province = member.province.strip().upper() or "ON"
    program: PaymentProgram = "HCP" if province == "ON" else "RMB"
    units = units_for_minutes(row.claimable_minutes)
    unit_fee = fee.unit_fee_cents if fee is not None else 0
    fee_code = fee.code if fee is not None else ""
    tracking = MODALITY_ITEMS.get(row.modality, "") if options.modality_item == "auto" else ""
    problems: list[Problem] = []
    if member.bill_ohip is not True:
        reason = (
            Problem("not_billable", "the physician does not bill OHIP for this member")
            if member.bill_ohip is False
            else Problem(
                "bill_ohip_undecided",
                "the roster does not say whether OHIP is billed for this member (bill_ohip)",
            )
        )
        return ProposedClaim(
            session, row, program, band, fee_code, units, unit_fee, fee, tracking, (), (reason,)
        )
    problems.extend(session_problems)
    if session.outdated:
        return ProposedClaim(
            session,
            row,
            program,
            band,
            fee_code,
            units,
            unit_fee,
            fee,
            tracking,
            (),
            tuple(problems),
        )
    if units == 0 and session.physician_minutes > 0:  # else `physician_absent` says why
        problems.append(
            Problem(
                "under_20_minutes",
                f"{row.claimable_minutes} claimable minutes (in the therapy window while the "
                f"billing physician was present), under {FIRST_UNIT_MINUTES}",
            )
        )
    if options.modality_item == "auto" and not tracking and units:
        problems.append(
            Problem(
                "modality_unknown",
                "Zoom did not say whether this member joined by video or telephone",
            )
        )
    card = cards.get(member)
    if card is None:
        card = cards[member] = tuple(_card_problems(member, province))
    problems.extend(card)
    dx = row.diagnostic_code
    if not dx:
        problems.append(Problem("diagnostic_code", "no diagnostic code recorded"))
    elif not (len(dx) == 3 and ascii_digits(dx)):
        problems.append(Problem("diagnostic_code", "the diagnostic code is not 3 digits"))
    if member.birth_date is None:
        problems.append(Problem("birth_date", "no birth date recorded"))
    problems.extend(_relationship_problems(member, session.service_date))
    referrer = member.referring_number.strip()
    if referrer and not (len(referrer) == 6 and ascii_digits(referrer)):
        problems.append(Problem("referring_number", "the referring number is not 6 digits"))
    if units > MAX_SERVICES or units * unit_fee > MAX_ITEM_FEE_CENTS:
        problems.append(Problem("fee_limit", "units or fee exceed one item line's limits"))
    items: list[ClaimLine] = []
    if fee_code and units:
        items.append(
            ClaimLine(
                service_code=fee_code,
                fee_cents=units * unit_fee,
                services=units,
                service_date=session.service_date,
                diagnostic_code=dx,
            )
        )
        if tracking:
            items.append(
                ClaimLine(
                    service_code=tracking,
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
        unit_fee_cents=unit_fee,
        fee=fee,
        modality_item=tracking,
        items=tuple(items),
        problems=tuple(problems),
    )


def _relationship_problems(member: MemberBilling, service_date: date) -> list[Problem]:
    """The virtual-care relationship basis: recorded, dated, and inside its window (S8)."""
    basis = member.relationship_basis.strip().lower()
    if basis not in _BASES:
        return [Problem("relationship_basis", "no virtual-care relationship basis recorded")]
    when = member.relationship_date
    if when is None:
        return [Problem("relationship_date", f"the {basis} relationship basis has no date")]
    if when > service_date:
        return [Problem("relationship_date", "the relationship basis is dated after the service")]
    if _BASES[basis] and when < months_before(service_date, RELATIONSHIP_WINDOW_MONTHS):
        return [
            Problem(
                "relationship_date",
                f"the {basis} relationship basis is more than "
                f"{RELATIONSHIP_WINDOW_MONTHS} months before the service",
            )
        ]
    return []


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
        # optional: cards without a version code exist (ohip-reference §3: "M if printed")
        if version and not (len(version) <= 2 and version.isascii() and version.isalpha()):
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


def ascii_digits(text: str) -> bool:
    """Digits the claims file can carry: `str.isdigit` alone also takes other scripts'
    digits (Arabic-Indic, superscripts), which a claim's fixed-width ASCII record cannot."""
    return text.isascii() and text.isdigit()


def sex_code(sex: str) -> str:
    """The claims file's sex code (`1` male, `2` female) or `""` when unknown."""
    value = sex.strip().upper()
    return {"1": "1", "M": "1", "MALE": "1", "2": "2", "F": "2", "FEMALE": "2"}.get(value, "")
