"""The roster: CSV import with whole-file validation, PHI sealed at rest, and the engine's view.

`decode_roster(data)` reads the file's bytes as UTF-8 (a spreadsheet's byte order mark
dropped), and refuses anything else with what to do: a roster in Windows-1252, which Excel
writes for "CSV (Comma delimited)", would otherwise have to be guessed at, and names are
what members are recognised by. `parse_roster(text)` is pure: it reads the file comma- or
semicolon-separated (Excel writes semicolons where the decimal mark is a comma, as in
French), checks the header names, then every row (health-number check
digit, dates, 6-digit referrer, known roles, duplicates, lengths) and refuses the whole file
with every bad row and field named, row numbers as in the file (the header is line 1).
`import_roster` stores the rows of one group, matched to existing members by normalised
display name, sealing health number, version code and birth date with the data key; without a
key a file that carries PHI is refused. The file is the whole roster: a member it no longer
lists becomes inactive (kept for history, no longer admitted), one it lists again is active
again, and a registrant id stored by `registrants sync` is kept when the file leaves it
blank. `roster_entries` gives the engine each member's standing, including, for a group of
closed modules, whether they are enrolled in the current one. Reading PHI back (`read_phi`)
and re-sealing under a new key (`reseal_all`) are recorded in the audit log. The column
rules are in `docs/roster.md`.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from phases.errors import BalintError
from phases.roster import GroupRole, RosterEntry, Standing, normalise_name
from storage import audit, safety
from storage.crypto import Keyring
from storage.health_number import is_valid, masked
from storage.sessions import ensure_group, group_id_of, module_bounds
from storage.tables.core import Member, MemberModule
from storage.text import has_controls

__all__ = [
    "OPTIONAL_HEADERS",
    "PROVINCES",
    "RELATIONSHIP_BASES",
    "ROSTER_HEADERS",
    "LEADER_HEADER",
    "SAFETY_HEADERS",
    "ImportResult",
    "MemberPHI",
    "MemberRow",
    "MemberSummary",
    "RosterImportError",
    "RowProblem",
    "decode_roster",
    "import_roster",
    "list_members",
    "parse_roster",
    "read_phi",
    "reseal_all",
    "roster_entries",
]

logger = logging.getLogger(__name__)

ROSTER_HEADERS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "display_name",
    "email",
    "role",
    "registrant_id",
    "health_number",
    "version_code",
    "province",
    "birth_date",
    "sex",
    "referring_name",
    "referring_number",
    "diagnostic_code",
    "relationship_basis",
    "relationship_date",
    "consent_date",
    "modules",
    "bill_ohip",
)
#: Columns a roster file may leave out; their cells then read as empty. A file without
#: `bill_ohip` imports with every member undecided, so nobody is claimed until the
#: physician decides.
OPTIONAL_HEADERS: frozenset[str] = frozenset({"bill_ohip"})
#: Optional columns of the group's safety plan (sealed on import): a file without them leaves
#: the emergency contacts already stored as they are.
SAFETY_HEADERS: tuple[str, ...] = ("emergency_contact", "emergency_phone")
#: Optional: `yes` for a member training to lead Balint groups (the optional reflection is
#: for them; `[billing] cme_reflection`). A file without it leaves the stored value.
LEADER_HEADER = "trains_to_lead"
PHI_FIELDS = ("health_number", "version_code", "birth_date")
PROVINCES = frozenset(
    {"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
)
RELATIONSHIP_BASES = frozenset({"in_person", "video", "enrolled", "none"})
_SEXES = {"1": "1", "2": "2", "M": "1", "F": "2"}
#: Longest text the members table holds for these columns.
_LONGEST = {
    "first_name": 100,
    "last_name": 100,
    "display_name": 200,
    "email": 254,
    "registrant_id": 64,
    "referring_name": 200,
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad field of one row (`row` = line number in the file)."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.message}"


class RosterImportError(BalintError):
    """The roster file was refused whole; `problems` lists every bad row and field."""

    def __init__(self, problems: Sequence[RowProblem], headline: str = "roster refused") -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{headline}; nothing was imported:\n{lines}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRow:
    """One validated roster row. PHI fields are plain text here; they are sealed on import."""

    row: int
    first_name: str
    last_name: str
    display_name: str
    email: str
    role: GroupRole
    registrant_id: str
    health_number: str
    version_code: str
    province: str
    birth_date: date | None
    sex: str
    referring_name: str
    referring_number: str
    diagnostic_code: str
    relationship_basis: str
    relationship_date: date | None
    consent_date: date | None
    modules: tuple[str, ...]
    #: The physician's decision to bill OHIP for this member (None: not decided).
    bill_ohip: bool | None = None
    #: The safety plan's emergency contact ("name (relation)") and phone; None when the file
    #: has no such columns (the stored contact is then left alone).
    emergency_contact: str | None = None
    emergency_phone: str | None = None
    #: Training to lead Balint groups; None when the file has no such column.
    trains_to_lead: bool | None = None

    @property
    def has_phi(self) -> bool:
        return bool(self.health_number or self.version_code or self.birth_date)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberSummary:
    """A member as `roster list` shows it: never more of the health number than the mask."""

    member_id: int
    display_name: str
    first_name: str
    last_name: str
    role: str
    email: str
    health_number: str  # masked, e.g. "******3217", or ""
    modules: tuple[str, ...]
    status: str = "active"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberPHI:
    """A member's decrypted PHI, for billing exports (every read is audited)."""

    member_id: int
    health_number: str
    version_code: str
    birth_date: date | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportResult:
    """What an import did; `deactivated` members were missing from the file."""

    created: int
    updated: int
    member_ids: tuple[int, ...]
    deactivated: int = 0


# ---------------------------------------------------------------------------------- parsing


def _date(text: str, field: str, row: int, problems: list[RowProblem]) -> date | None:
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        problems.append(RowProblem(row, field, "expected a date YYYY-MM-DD"))
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(RowProblem(row, field, "not a real calendar date"))
        return None


def _row(
    row: int, raw: dict[str, str], problems: list[RowProblem], today: date
) -> MemberRow | None:
    found: list[RowProblem] = []
    value = {name: (raw.get(name) or "").strip() for name in ROSTER_HEADERS}
    role = value["role"].lower()
    if role not in ("member", "facilitator"):
        found.append(RowProblem(row, "role", f"must be member or facilitator, got {role!r}"))
    display = value["display_name"] or f"{value['first_name']} {value['last_name']}".strip()
    if not normalise_name(display):
        found.append(
            RowProblem(row, "display_name", "a display name (or first/last name) is needed")
        )
    if value["email"] and not _EMAIL.match(value["email"]):
        found.append(RowProblem(row, "email", "not an e-mail address"))
    for name, longest in _LONGEST.items():
        text = display if name == "display_name" else value[name]
        if len(text) > longest:
            found.append(RowProblem(row, name, f"longer than {longest} characters"))
    found.extend(
        RowProblem(
            row,
            name,
            "holds a control character (a tab, a line break, an escape, a direction override)",
        )
        for name, text in value.items()
        if has_controls(text)
    )
    province = value["province"].upper()
    if province and province not in PROVINCES:
        found.append(RowProblem(row, "province", "not a Canadian province or territory code"))
    number = value["health_number"].replace(" ", "").replace("-", "")
    if number:
        if (province or "ON") == "ON":
            if not is_valid(number):
                found.append(
                    RowProblem(row, "health_number", "not 10 digits with a valid check digit")
                )
        elif not re.fullmatch(r"[A-Za-z0-9]{1,12}", number):
            found.append(RowProblem(row, "health_number", "not a registration number"))
    elif role == "member":
        found.append(RowProblem(row, "health_number", "required for a member"))
    version = value["version_code"].upper()
    if version and not re.fullmatch(r"[A-Z]{1,2}", version):
        found.append(RowProblem(row, "version_code", "one or two letters"))
    birth = _date(value["birth_date"], "birth_date", row, found)
    if birth is not None and not (date(1900, 1, 1) <= birth <= today):
        found.append(RowProblem(row, "birth_date", "outside 1900-01-01 .. today"))
    if not value["birth_date"] and role == "member":
        found.append(RowProblem(row, "birth_date", "required for a member"))
    sex = value["sex"].upper()
    if sex and sex not in _SEXES:
        found.append(RowProblem(row, "sex", "1, 2, M or F"))
    if value["referring_number"] and not re.fullmatch(r"[0-9]{6}", value["referring_number"]):
        found.append(RowProblem(row, "referring_number", "must be exactly 6 digits"))
    if value["diagnostic_code"] and not re.fullmatch(r"[0-9]{3}", value["diagnostic_code"]):
        found.append(RowProblem(row, "diagnostic_code", "must be 3 digits"))
    basis = value["relationship_basis"].lower()
    if basis and basis not in RELATIONSHIP_BASES:
        found.append(
            RowProblem(row, "relationship_basis", f"one of {', '.join(sorted(RELATIONSHIP_BASES))}")
        )
    bill = value["bill_ohip"].lower()
    bill_ohip: bool | None = None
    if bill in ("yes", "no"):
        bill_ohip = bill == "yes"
    elif bill:
        found.append(RowProblem(row, "bill_ohip", "yes or no (the physician's decision)"))
    if bill_ohip and role == "facilitator":
        found.append(RowProblem(row, "bill_ohip", "facilitators are not billed"))
    elif bill_ohip and not value["diagnostic_code"]:
        found.append(
            RowProblem(row, "diagnostic_code", "required when bill_ohip is yes (the physician's)")
        )
    leads = (raw.get(LEADER_HEADER) or "").strip().lower()
    if leads not in ("", "yes", "no"):
        found.append(RowProblem(row, LEADER_HEADER, "yes or no (empty: no)"))
    relationship = _date(value["relationship_date"], "relationship_date", row, found)
    consent = _date(value["consent_date"], "consent_date", row, found)
    modules: list[str] = []
    for name in (part.strip() for part in value["modules"].split(";")):
        if not name:
            continue
        try:
            module_bounds(name)
        except BalintError:
            found.append(RowProblem(row, "modules", f"{name!r} is not like 2026-09 (09/01/04)"))
            continue
        if name not in modules:
            modules.append(name)
    problems.extend(found)
    if found:
        return None
    return MemberRow(
        row=row,
        first_name=value["first_name"],
        last_name=value["last_name"],
        display_name=display,
        email=value["email"],
        role="member" if role == "member" else "facilitator",
        registrant_id=value["registrant_id"],
        health_number=number,
        version_code=version,
        province=province or ("ON" if number else ""),
        birth_date=birth,
        sex=_SEXES.get(sex, ""),
        referring_name=value["referring_name"],
        referring_number=value["referring_number"],
        diagnostic_code=value["diagnostic_code"],
        relationship_basis=basis,
        relationship_date=relationship,
        consent_date=consent,
        modules=tuple(modules),
        bill_ohip=bill_ohip,
        emergency_contact=(raw.get("emergency_contact") or "").strip()
        if "emergency_contact" in raw
        else None,
        emergency_phone=(raw.get("emergency_phone") or "").strip()
        if "emergency_phone" in raw
        else None,
        trains_to_lead=leads == "yes" if LEADER_HEADER in raw else None,
    )


def _identities(raw: dict[str, str]) -> list[tuple[str, str]]:
    """What makes two rows the same person: display name, e-mail, health number, registrant."""
    value = {name: (raw.get(name) or "").strip() for name in ROSTER_HEADERS}
    display = value["display_name"] or f"{value['first_name']} {value['last_name']}"
    keys = [("display_name", normalise_name(display))] if normalise_name(display) else []
    if value["email"]:
        keys.append(("email", value["email"].casefold()))
    number = value["health_number"].replace(" ", "").replace("-", "")
    if number:
        keys.append(("health_number", number))
    if value["registrant_id"]:
        keys.append(("registrant_id", value["registrant_id"]))
    return keys


def decode_roster(data: bytes) -> str:
    """The roster file's text: UTF-8, with or without a byte order mark.

    Raises:
        RosterImportError: the file is not UTF-8; the message says where and how to save it.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as bad:
        line = data[: bad.start].count(b"\n") + 1
        raise RosterImportError(
            [
                RowProblem(
                    line,
                    "file",
                    f'byte 0x{data[bad.start]:02X} is not UTF-8 (Excel\'s plain "CSV" is '
                    'Windows-1252): save the file as "CSV UTF-8 (Comma delimited)" and '
                    "import it again",
                )
            ],
            "roster is not UTF-8 text",
        ) from None


def parse_roster(text: str, *, today: date) -> tuple[MemberRow, ...]:
    """Validate a roster CSV text; every row must pass or the file is refused.

    The separator is the comma, or the semicolon when the header line has semicolons and no
    comma (no header name holds either).

    Raises:
        RosterImportError: wrong header names, or any bad row (all problems listed).
    """
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    separator = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=separator)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [
        name for name in ROSTER_HEADERS if name not in header and name not in OPTIONAL_HEADERS
    ]
    unknown = [
        name for name in header if name not in (*ROSTER_HEADERS, *SAFETY_HEADERS, LEADER_HEADER)
    ]
    if missing or unknown:
        bad_header = [RowProblem(1, name, "missing column") for name in missing]
        bad_header += [RowProblem(1, name, "unknown column") for name in unknown]
        raise RosterImportError(bad_header, "roster header does not match docs/roster.md")
    reader.fieldnames = header
    check_day = today
    problems: list[RowProblem] = []
    rows: list[MemberRow] = []
    seen: dict[tuple[str, str], int] = {}
    line = 1
    for raw in reader:
        row_number = line + 1
        line = reader.line_num
        if not any((value or "").strip() for value in raw.values() if isinstance(value, str)):
            continue
        if None in raw:
            problems.append(RowProblem(row_number, "(row)", "more fields than the header"))
            continue
        parsed = _row(row_number, raw, problems, check_day)
        for key in _identities(raw):
            if key in seen:
                problems.append(
                    RowProblem(row_number, key[0], f"duplicate member (same as row {seen[key]})")
                )
            else:
                seen[key] = row_number
        if parsed is not None:
            rows.append(parsed)
    if problems:
        raise RosterImportError(sorted(problems, key=lambda p: (p.row, p.field)))
    return tuple(rows)


# ---------------------------------------------------------------------------------- storing


def import_roster(
    session: Session,
    *,
    group_name: str,
    rows: Sequence[MemberRow],
    keyring: Keyring,
    now: datetime,
    command: str = "roster import",
) -> ImportResult:
    """Store validated rows for `group_name` (insert new members, update known ones).

    Raises:
        RosterImportError: rows carry PHI but there is no data key (nothing is stored).
    """
    if not keyring.has_current:
        phi_rows = [
            RowProblem(row.row, "health_number", "PHI needs a data key")
            for row in rows
            if row.has_phi
        ]
        if phi_rows:
            raise RosterImportError(
                phi_rows,
                "BALINT_DATA_KEY is not set, so PHI (health number, version code, birth date) "
                "cannot be stored encrypted; set it (see docs/roster.md) or remove the PHI",
            )
    if not keyring.has_current:
        contact_rows = [
            RowProblem(row.row, "emergency_contact", "the safety plan needs a data key")
            for row in rows
            if row.emergency_contact or row.emergency_phone
        ]
        if contact_rows:
            raise RosterImportError(
                contact_rows,
                "BALINT_DATA_KEY is not set, so emergency contacts cannot be stored encrypted; "
                "set it (see docs/roster.md) or leave the emergency columns empty",
            )
    group_id = ensure_group(session, name=group_name, now=now)
    existing = {
        member.name_key: member
        for member in session.scalars(select(Member).where(Member.group_id == group_id))
    }
    created = updated = 0
    ids: list[int] = []
    for row in rows:
        name_key = normalise_name(row.display_name)
        member = existing.get(name_key)
        if member is None:
            member = Member(group_id=group_id, name_key=name_key)
            session.add(member)
            created += 1
        else:
            updated += 1
        member.first_name = row.first_name
        member.last_name = row.last_name
        member.display_name = row.display_name
        member.email = row.email
        member.role = row.role
        # `registrants sync` stores the registrant id; a file that leaves it blank keeps it.
        member.registrant_id = row.registrant_id or member.registrant_id or ""
        member.status = "active"
        member.province = row.province
        member.sex = row.sex
        member.referring_name = row.referring_name
        member.referring_number = row.referring_number
        member.diagnostic_code = row.diagnostic_code
        member.relationship_basis = row.relationship_basis
        member.relationship_date = row.relationship_date
        member.consent_date = row.consent_date
        member.bill_ohip = row.bill_ohip
        if row.trains_to_lead is not None:
            member.trains_to_lead = row.trains_to_lead
        member.updated_at = now
        _seal(member, row, keyring)
        session.flush()
        session.execute(delete(MemberModule).where(MemberModule.member_id == member.id))
        session.add_all(MemberModule(member_id=member.id, module_name=m) for m in row.modules)
        if row.emergency_contact is not None or row.emergency_phone is not None:
            safety.set_roster_contact(
                session,
                member_id=member.id,
                name=row.emergency_contact or "",
                phone=row.emergency_phone or "",
                keyring=keyring,
                now=now,
            )
        ids.append(member.id)
    listed = set(ids)
    gone = [m for m in existing.values() if m.id not in listed and m.status != "inactive"]
    for member in gone:
        member.status = "inactive"
        member.updated_at = now
    session.flush()
    audit.record(
        session,
        command=command,
        records=[f"member:{member_id}" for member_id in [*ids, *(m.id for m in gone)]],
        detail=(
            f"imported {created} new, {updated} updated, {len(gone)} made inactive "
            f"into group {group_name!r}"
        ),
        at=now,
    )
    logger.info("roster import: %d new, %d updated, %d inactive", created, updated, len(gone))
    return ImportResult(
        created=created, updated=updated, member_ids=tuple(ids), deactivated=len(gone)
    )


def _seal(member: Member, row: MemberRow, keyring: Keyring) -> None:
    if not row.has_phi:
        member.key_id = ""
        member.health_number_enc = member.version_code_enc = member.birth_date_enc = None
        member.health_number_last4 = ""
        return
    member.key_id = keyring.current_id
    member.health_number_enc = (
        keyring.seal(row.health_number, field_name="health_number") if row.health_number else None
    )
    member.version_code_enc = (
        keyring.seal(row.version_code, field_name="version_code") if row.version_code else None
    )
    member.birth_date_enc = (
        keyring.seal(row.birth_date.isoformat(), field_name="birth_date")
        if row.birth_date
        else None
    )
    member.health_number_last4 = row.health_number[-4:]


# What `roster_entries` reads, built once: every meeting's session opens with it. The
# columns only, not `Member` objects.
_ROSTER = (
    select(
        Member.id,
        Member.display_name,
        Member.role,
        Member.email,
        Member.registrant_id,
        Member.first_name,
        Member.last_name,
        Member.status,
    )
    .where(Member.group_id == bindparam("group_id"))
    .order_by(Member.id)
)
_ENROLLED = (
    select(MemberModule.member_id)
    .join(Member, Member.id == MemberModule.member_id)
    .where(
        Member.group_id == bindparam("group_id"), MemberModule.module_name == bindparam("module")
    )
)


def roster_entries(
    session: Session, *, group_name: str, module: str | None = None
) -> tuple[RosterEntry, ...]:
    """The group's roster for the engine (`member_id` = our member row id as text).

    Every member is listed, with their standing: `inactive` when a later import no longer
    listed them; with `module` (the current module of a group of closed modules) a member,
    not a facilitator, who is not enrolled in it is `not_enrolled` (unless nobody is enrolled
    in it at all: then the roster has no modules and nobody is restricted).
    """
    group_id = group_id_of(session, name=group_name)
    if group_id is None:
        return ()
    members = session.execute(_ROSTER, {"group_id": group_id}).all()
    enrolled: set[int] = set()
    if module is not None:
        enrolled = set(session.scalars(_ENROLLED, {"group_id": group_id, "module": module}))
        if not enrolled:
            # Nobody at all enrolled is a roster without its modules column, not an empty
            # group: holding every member would only stop the evening (`doctor` warns).
            logger.warning("closed modules: no member is enrolled in %s; not restricting", module)
            module = None
    return tuple(
        RosterEntry(
            display_name=member.display_name,
            role="facilitator" if member.role == "facilitator" else "member",
            email=member.email,
            registrant_id=member.registrant_id,
            member_id=str(member.id),
            first_name=member.first_name,
            last_name=member.last_name,
            standing=_standing(
                member_id=member.id,
                role=member.role,
                status=member.status,
                module=module,
                enrolled=enrolled,
            ),
        )
        for member in members
    )


def _standing(
    *, member_id: int, role: str, status: str, module: str | None, enrolled: set[int]
) -> Standing:
    if status == "inactive":
        return "inactive"
    if module is not None and role != "facilitator" and member_id not in enrolled:
        return "not_enrolled"
    return "active"


def list_members(session: Session, *, group_name: str) -> tuple[MemberSummary, ...]:
    """The group's members for display; health numbers masked (`******3217`), never whole."""
    group_id = group_id_of(session, name=group_name)
    if group_id is None:
        return ()
    modules: dict[int, list[str]] = {}
    for link in session.scalars(
        select(MemberModule)
        .join(Member, Member.id == MemberModule.member_id)
        .where(Member.group_id == group_id)
        .order_by(MemberModule.module_name)
    ):
        modules.setdefault(link.member_id, []).append(link.module_name)
    members = session.scalars(select(Member).where(Member.group_id == group_id).order_by(Member.id))
    return tuple(
        MemberSummary(
            member_id=member.id,
            display_name=member.display_name,
            first_name=member.first_name,
            last_name=member.last_name,
            role=member.role,
            email=member.email,
            health_number=masked("*" * 6 + member.health_number_last4)
            if member.health_number_last4
            else "",
            modules=tuple(modules.get(member.id, ())),
            status=member.status,
        )
        for member in members
    )


def read_phi(
    session: Session,
    *,
    member_ids: Sequence[int],
    keyring: Keyring,
    command: str,
    now: datetime,
    detail: str = "",
) -> dict[int, MemberPHI]:
    """Decrypt the PHI of `member_ids` (for an export); the read is written to the audit log.

    Raises:
        DataKeyError: a row was sealed with a key not on the keyring, or was tampered with.
    """
    found: dict[int, MemberPHI] = {}
    for member in session.scalars(select(Member).where(Member.id.in_(list(member_ids)))):
        found[member.id] = _open(member, keyring)
    audit.record(
        session,
        command=command,
        records=[f"member:{member_id}" for member_id in sorted(found)],
        detail=detail or "read PHI",
        at=now,
    )
    return found


def _open(member: Member, keyring: Keyring) -> MemberPHI:
    def opened(blob: bytes | None, field_name: str) -> str:
        if blob is None:
            return ""
        return keyring.open(blob, field_name=field_name, sealed_with=member.key_id)

    birth = opened(member.birth_date_enc, "birth_date")
    return MemberPHI(
        member_id=member.id,
        health_number=opened(member.health_number_enc, "health_number"),
        version_code=opened(member.version_code_enc, "version_code"),
        birth_date=date.fromisoformat(birth) if birth else None,
    )


def reseal_all(
    session: Session, *, keyring: Keyring, now: datetime, command: str = "keys rotate"
) -> int:
    """Re-encrypt every member sealed under an older key with the current key; returns the count.

    Raises:
        DataKeyError: no current key, or a row's key is not on the keyring.
    """
    current = keyring.current_id
    members = list(
        session.scalars(select(Member).where(Member.key_id != "", Member.key_id != current))
    )
    for member in members:
        phi = _open(member, keyring)
        member.key_id = current
        member.health_number_enc = (
            keyring.seal(phi.health_number, field_name="health_number")
            if phi.health_number
            else None
        )
        member.version_code_enc = (
            keyring.seal(phi.version_code, field_name="version_code") if phi.version_code else None
        )
        member.birth_date_enc = (
            keyring.seal(phi.birth_date.isoformat(), field_name="birth_date")
            if phi.birth_date
            else None
        )
    session.flush()
    audit.record(
        session,
        command=command,
        records=[f"member:{member.id}" for member in members],
        detail=f"re-sealed {len(members)} members under key {current}",
        at=now,
    )
    logger.info("keys rotate: re-sealed %d members", len(members))
    return len(members)
