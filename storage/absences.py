"""Notified absences and lateness, and the facilitators' contacts with members.

The group's rules: "let me know if you are going to be late or if you can't attend a
session", and "If a member is missing more sessions than contracted for, I will contact the
member". So a facilitator records a member's notice for the session of a day (`add_absence`,
from `balint-bot absence add` or the console; a second notice for the same day replaces the
first), and each contact with a member (`record_contact`). Attendance then tells notified
absences from unexplained ones, and the module report gives the date of the last contact
(`storage.attendance.module_report`).

A reason or a contact note is PHI and sealed with the data key; the dates are not. Functions
take the session explicitly and `now`, flush and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phases.errors import BalintError
from storage import audit
from storage.crypto import Keyring
from storage.sessions import group_id_of
from storage.tables.clinical import Absence, MemberContact
from storage.tables.core import Group, Member, MemberModule, Module, SessionRecord

__all__ = [
    "CONTACT_NOTE_FIELD",
    "REASON_FIELD",
    "AbsenceError",
    "AbsenceNotice",
    "ContactEntry",
    "Missed",
    "add_absence",
    "contact_log",
    "last_contacts",
    "missed_session",
    "notices",
    "record_contact",
    "reseal_absences",
]

REASON_FIELD = "absence_reason"
CONTACT_NOTE_FIELD = "contact_note"
_MAX_TEXT = 2000


class AbsenceError(BalintError):
    """A notice or contact cannot be recorded as asked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsenceNotice:
    """A member's notice for the session of `day` (`reason` only when opened)."""

    id: int
    member_id: int
    day: date
    late: bool
    has_reason: bool
    reason: str = ""
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactEntry:
    """One contact with a member, its note opened."""

    id: int
    member_id: int
    day: date
    note: str
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Missed:
    """An enrolled member who was not present at a session, and whether they told us."""

    member_id: int
    name: str
    #: "absent" or "late" (their notice for the day), or "" (unexplained)
    notice: str


def missed_session(
    session: Session, *, session_id: int, present_member_ids: Iterable[int]
) -> tuple[Missed, ...]:
    """The members enrolled in the session's module who were not present, by name, each with
    the notice they gave for the session's local date ("" when none: unexplained)."""
    row = session.execute(
        select(SessionRecord.scheduled_start, SessionRecord.group_id, Module.name, Group.timezone)
        .join(Group, Group.id == SessionRecord.group_id)
        .join(Module, Module.id == SessionRecord.module_id)
        .where(SessionRecord.id == session_id)
    ).first()
    if row is None:
        return ()
    day = row.scheduled_start.astimezone(ZoneInfo(row.timezone)).date()
    present = set(present_member_ids)
    enrolled = [
        member
        for member in session.scalars(
            select(Member)
            .join(MemberModule, MemberModule.member_id == Member.id)
            .where(
                MemberModule.module_name == row.name,
                Member.group_id == row.group_id,
                Member.role == "member",
            )
            .order_by(Member.display_name, Member.id)
        )
        if member.id not in present
    ]
    told = notices(session, member_ids=[m.id for m in enrolled], first=day, last=day)
    return tuple(
        Missed(
            member_id=member.id,
            name=member.display_name,
            notice=("late" if told[(member.id, day)].late else "absent")
            if (member.id, day) in told
            else "",
        )
        for member in enrolled
    )


def _member(session: Session, *, group_name: str, member_id: int) -> Member:
    group_id = group_id_of(session, name=group_name)
    member = session.get(Member, member_id)
    if member is None or group_id is None or member.group_id != group_id:
        raise AbsenceError(f"no member {member_id} of {group_name!r}")
    if member.role != "member":
        raise AbsenceError(f"{member.display_name} is a facilitator, not a member")
    return member


def _sealed(text: str, keyring: Keyring, *, field_name: str) -> tuple[str, bytes | None]:
    cleaned = text.strip()
    if not cleaned:
        return "", None
    if len(cleaned) > _MAX_TEXT:
        raise AbsenceError(f"at most {_MAX_TEXT} characters ({len(cleaned)} given)")
    if not keyring.has_current:
        raise AbsenceError(
            "a reason or note is PHI and needs the data key: set BALINT_DATA_KEY (see "
            "docs/roster.md), or leave the text out; nothing was recorded"
        )
    return keyring.current_id, keyring.seal(cleaned, field_name=field_name)


def add_absence(
    session: Session,
    *,
    group_name: str,
    member_id: int,
    day: date,
    late: bool,
    reason: str,
    keyring: Keyring,
    now: datetime,
    actor: str,
) -> tuple[int, bool]:
    """Record a member's notice of absence (or lateness) for the session of `day`.

    Returns:
        The notice's id, and True when it replaced an earlier notice for that day.

    Raises:
        AbsenceError: no such member of the group, an overlong reason, or a reason without a
            data key.
    """
    member = _member(session, group_name=group_name, member_id=member_id)
    key_id, sealed = _sealed(reason, keyring, field_name=REASON_FIELD)
    notice = session.scalar(
        select(Absence).where(Absence.member_id == member.id, Absence.session_date == day)
    )
    replaced = notice is not None
    if notice is None:
        notice = Absence(member_id=member.id, session_date=day)
        session.add(notice)
    notice.late = late
    notice.key_id = key_id
    notice.reason_enc = sealed
    notice.recorded_at = now
    notice.recorded_by = actor[:200]
    session.flush()
    audit.record(
        session,
        command="absence add",
        records=[f"member:{member.id}", f"absence:{notice.id}"],
        detail=f"{'late' if late else 'absent'} {day.isoformat()}"
        + (" (replaces the earlier notice)" if replaced else ""),
        at=now,
        actor=actor,
    )
    return notice.id, replaced


def notices(
    session: Session,
    *,
    member_ids: Iterable[int],
    first: date | None = None,
    last: date | None = None,
    keyring: Keyring | None = None,
) -> dict[tuple[int, date], AbsenceNotice]:
    """The members' notices by (member id, day), between `first` and `last` if given.

    Reasons are opened only with a `keyring` (the caller audits that read).
    """
    query = select(Absence).where(Absence.member_id.in_(list(member_ids)))
    if first is not None:
        query = query.where(Absence.session_date >= first)
    if last is not None:
        query = query.where(Absence.session_date <= last)
    found: dict[tuple[int, date], AbsenceNotice] = {}
    for row in session.scalars(query):
        reason = ""
        if keyring is not None and row.reason_enc is not None:
            reason = keyring.open(row.reason_enc, field_name=REASON_FIELD, sealed_with=row.key_id)
        found[(row.member_id, row.session_date)] = AbsenceNotice(
            id=row.id,
            member_id=row.member_id,
            day=row.session_date,
            late=row.late,
            has_reason=row.reason_enc is not None,
            reason=reason,
            recorded_at=row.recorded_at,
            recorded_by=row.recorded_by,
        )
    return found


def record_contact(
    session: Session,
    *,
    group_name: str,
    member_id: int,
    day: date,
    note: str,
    keyring: Keyring,
    now: datetime,
    actor: str,
) -> int:
    """Record that a facilitator contacted a member on `day`; its id (audited).

    Raises:
        AbsenceError: no such member, an overlong note, or a note without a data key.
    """
    member = _member(session, group_name=group_name, member_id=member_id)
    zone = session.scalar(select(Group.timezone).where(Group.id == member.group_id))
    if day > now.astimezone(ZoneInfo(zone or "UTC")).date():
        raise AbsenceError(f"{day.isoformat()} is in the future: record a contact once made")
    key_id, sealed = _sealed(note, keyring, field_name=CONTACT_NOTE_FIELD)
    contact = MemberContact(
        member_id=member.id,
        contacted_on=day,
        key_id=key_id,
        note_enc=sealed,
        recorded_at=now,
        recorded_by=actor[:200],
    )
    session.add(contact)
    session.flush()
    audit.record(
        session,
        command="absence contact",
        records=[f"member:{member.id}", f"contact:{contact.id}"],
        detail=f"contacted {day.isoformat()}",
        at=now,
        actor=actor,
    )
    return contact.id


def last_contacts(session: Session, *, member_ids: Iterable[int]) -> dict[int, date]:
    """The day each member was last contacted (members never contacted are left out)."""
    rows = session.execute(
        select(MemberContact.member_id, func.max(MemberContact.contacted_on))
        .where(MemberContact.member_id.in_(list(member_ids)))
        .group_by(MemberContact.member_id)
    ).all()
    return {member_id: day for member_id, day in rows if day is not None}


def contact_log(session: Session, *, member_id: int, keyring: Keyring) -> tuple[ContactEntry, ...]:
    """A member's contacts, newest first, notes opened (the caller audits the read)."""
    return tuple(
        ContactEntry(
            id=row.id,
            member_id=row.member_id,
            day=row.contacted_on,
            note=keyring.open(row.note_enc, field_name=CONTACT_NOTE_FIELD, sealed_with=row.key_id)
            if row.note_enc is not None
            else "",
            recorded_at=row.recorded_at,
            recorded_by=row.recorded_by,
        )
        for row in session.scalars(
            select(MemberContact)
            .where(MemberContact.member_id == member_id)
            .order_by(MemberContact.contacted_on.desc(), MemberContact.id.desc())
        )
    )


def reseal_absences(session: Session, *, keyring: Keyring) -> int:
    """Re-encrypt reasons and contact notes sealed under an older key; the count.

    Raises:
        DataKeyError: no current key, or a value's key is not on the keyring.
    """
    current = keyring.current_id
    count = 0
    for notice in session.scalars(
        select(Absence).where(Absence.reason_enc.is_not(None), Absence.key_id != current)
    ):
        assert notice.reason_enc is not None
        text = keyring.open(notice.reason_enc, field_name=REASON_FIELD, sealed_with=notice.key_id)
        notice.key_id = current
        notice.reason_enc = keyring.seal(text, field_name=REASON_FIELD)
        count += 1
    for contact in session.scalars(
        select(MemberContact).where(
            MemberContact.note_enc.is_not(None), MemberContact.key_id != current
        )
    ):
        assert contact.note_enc is not None
        text = keyring.open(
            contact.note_enc, field_name=CONTACT_NOTE_FIELD, sealed_with=contact.key_id
        )
        contact.key_id = current
        contact.note_enc = keyring.seal(text, field_name=CONTACT_NOTE_FIELD)
        count += 1
    session.flush()
    return count
