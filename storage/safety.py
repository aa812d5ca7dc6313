"""The group's safety plan: each member's emergency contacts and their location during the call.

The group's rules: "Our safety plan includes at least one emergency contact and your location
during the call." Both are PHI, sealed with the data key and shown only to facilitators:

- emergency contacts come from the roster file (`emergency_contact`, `emergency_phone`
  columns; a new import replaces the roster's contact, a file without the columns leaves it);
  each is sealed whole (name, relation, phone);
- a member's location for a session is what they answered the bot's private question; the
  webhook receiver seals the answer before the journal sees it (`webhooks.sealing`) and the
  runtime copies that sealed token here (`record_location`) without ever opening it;
- `safety_plan` opens both for the facilitators (the console, `/safety` in the chat) and
  writes every use to the audit log.

Functions take the session explicitly and `now`, flush and never commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from phases.errors import BalintError
from storage import audit
from storage.crypto import Keyring, token_key_id
from storage.tables.clinical import EmergencyContact, SessionLocation
from storage.tables.core import Group, Member, SessionRecord

__all__ = [
    "CONTACT_FIELD",
    "LOCATION_FIELD",
    "Contact",
    "SafetyError",
    "SafetyRow",
    "contacts_for",
    "record_location",
    "reseal_safety",
    "safety_plan",
    "set_roster_contact",
]

#: The associated data of a sealed emergency contact.
CONTACT_FIELD = "emergency_contact"
#: The associated data of a sealed private answer to the bot (`webhooks.sealing`).
LOCATION_FIELD = "private_reply"
#: Longest name, relation or phone kept, in characters.
_MAX_PART = 200


class SafetyError(BalintError):
    """A contact or location cannot be written or read as asked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """One emergency contact, opened."""

    id: int
    name: str
    relation: str
    phone: str
    source: str

    def describe(self) -> str:
        """ "Sam Lee (partner) 416-555-0100" (the parts that are there)."""
        relation = f" ({self.relation})" if self.relation else ""
        phone = f" {self.phone}" if self.phone else ""
        return f"{self.name}{relation}{phone}".strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyRow:
    """One member's safety plan for a session."""

    member_id: int
    name: str
    contacts: tuple[Contact, ...]
    #: the newest answer for the session ("" when none was given)
    location: str
    location_at: datetime | None


def _require_key(keyring: Keyring) -> Keyring:
    if not keyring.has_current:
        raise SafetyError(
            "the safety plan is PHI and needs the data key: set BALINT_DATA_KEY "
            "(see docs/roster.md); nothing was written"
        )
    return keyring


def _sealed_contact(keyring: Keyring, *, name: str, relation: str, phone: str) -> bytes:
    parts = {
        "name": name.strip()[:_MAX_PART],
        "relation": relation.strip()[:_MAX_PART],
        "phone": phone.strip()[:_MAX_PART],
    }
    if not parts["name"] and not parts["phone"]:
        raise SafetyError("an emergency contact needs a name or a phone number")
    return keyring.seal(json.dumps(parts, ensure_ascii=False), field_name=CONTACT_FIELD)


def set_roster_contact(
    session: Session,
    *,
    member_id: int,
    name: str,
    phone: str,
    keyring: Keyring,
    now: datetime,
    relation: str = "",
) -> None:
    """Make the roster's contact of `member_id` what the roster file says (none if empty).

    Contacts of another source are left alone.
    """
    session.execute(
        delete(EmergencyContact).where(
            EmergencyContact.member_id == member_id, EmergencyContact.source == "roster"
        )
    )
    if not name.strip() and not phone.strip():
        session.flush()
        return
    ring = _require_key(keyring)
    session.add(
        EmergencyContact(
            member_id=member_id,
            source="roster",
            key_id=ring.current_id,
            contact_enc=_sealed_contact(ring, name=name, relation=relation, phone=phone),
            updated_at=now,
            updated_by="roster import",
        )
    )
    session.flush()


def contacts_for(
    session: Session, *, member_ids: Iterable[int], keyring: Keyring
) -> dict[int, tuple[Contact, ...]]:
    """The members' contacts, opened (the caller audits the read)."""
    found: dict[int, list[Contact]] = {}
    for row in session.scalars(
        select(EmergencyContact)
        .where(EmergencyContact.member_id.in_(list(member_ids)))
        .order_by(EmergencyContact.member_id, EmergencyContact.source.desc(), EmergencyContact.id)
    ):
        parts = json.loads(
            keyring.open(row.contact_enc, field_name=CONTACT_FIELD, sealed_with=row.key_id)
        )
        found.setdefault(row.member_id, []).append(
            Contact(
                id=row.id,
                name=str(parts.get("name", "")),
                relation=str(parts.get("relation", "")),
                phone=str(parts.get("phone", "")),
                source=row.source,
            )
        )
    return {member_id: tuple(contacts) for member_id, contacts in found.items()}


def record_location(
    session: Session,
    *,
    meeting_uuid: str,
    member_id: int | None,
    person_key: str,
    token: str,
    at: datetime,
) -> bool:
    """Keep a member's sealed answer for the meeting's session; False when the meeting has
    no session record (nothing is kept then). The token is stored as it came, unopened."""
    session_id = session.scalar(
        select(SessionRecord.id).where(SessionRecord.meeting_uuid == meeting_uuid)
    )
    if session_id is None:
        return False
    if member_id is not None and session.get(Member, member_id) is None:
        member_id = None
    session.add(
        SessionLocation(
            session_id=session_id,
            member_id=member_id,
            person_key=person_key[:200],
            given_at=at,
            key_id=token_key_id(token),
            location_sealed=token,
        )
    )
    session.flush()
    return True


def safety_plan(
    session: Session,
    *,
    group_name: str,
    session_id: int | None,
    keyring: Keyring,
    command: str,
    now: datetime,
    actor: str,
    member_ids: Sequence[int] | None = None,
) -> tuple[SafetyRow, ...]:
    """Every member's (or `member_ids`') contacts and location for a session, audited.

    Args:
        session_id: the session whose locations count ("today's"); None for contacts only.
        command: what reads it ("/safety", "console safety").
        actor: who reads it (the facilitator).

    Raises:
        DataKeyError: a value was sealed with a key not on the keyring, or tampered with.
    """
    group = _group(session, group_name)
    query = select(Member).where(Member.group_id == group.id, Member.role == "member")
    if member_ids is not None:
        query = query.where(Member.id.in_(list(member_ids)))
    members = list(session.scalars(query.order_by(Member.display_name, Member.id)))
    ids = [member.id for member in members]
    contacts = contacts_for(session, member_ids=ids, keyring=keyring)
    locations: dict[int, tuple[str, datetime]] = {}
    if session_id is not None and ids:
        for row in session.scalars(
            select(SessionLocation)
            .where(SessionLocation.session_id == session_id, SessionLocation.member_id.in_(ids))
            .order_by(SessionLocation.given_at, SessionLocation.id)
        ):
            assert row.member_id is not None
            text = keyring.open_text(row.location_sealed, field_name=LOCATION_FIELD)
            locations[row.member_id] = (text, row.given_at)
    rows = tuple(
        SafetyRow(
            member_id=member.id,
            name=member.display_name,
            contacts=contacts.get(member.id, ()),
            location=locations[member.id][0] if member.id in locations else "",
            location_at=locations[member.id][1] if member.id in locations else None,
        )
        for member in members
    )
    records = ([f"session:{session_id}"] if session_id is not None else []) + [
        f"member:{member_id}" for member_id in ids
    ]
    audit.record(
        session,
        command=command,
        records=records,
        detail=f"safety plan of {len(rows)} member(s)",
        at=now,
        actor=actor,
    )
    return rows


def reseal_safety(session: Session, *, keyring: Keyring) -> int:
    """Re-encrypt contacts and locations sealed under an older key; the count.

    Raises:
        DataKeyError: no current key, or a value's key is not on the keyring.
    """
    current = keyring.current_id
    count = 0
    for contact in session.scalars(
        select(EmergencyContact).where(EmergencyContact.key_id != current)
    ):
        text = keyring.open(
            contact.contact_enc, field_name=CONTACT_FIELD, sealed_with=contact.key_id
        )
        contact.key_id = current
        contact.contact_enc = keyring.seal(text, field_name=CONTACT_FIELD)
        count += 1
    for location in session.scalars(
        select(SessionLocation).where(SessionLocation.key_id != current)
    ):
        text = keyring.open_text(location.location_sealed, field_name=LOCATION_FIELD)
        location.key_id = current
        location.location_sealed = keyring.seal_text(text, field_name=LOCATION_FIELD)
        count += 1
    session.flush()
    return count


def _group(session: Session, group_name: str) -> Group:
    group = session.scalar(select(Group).where(Group.name == group_name))
    if group is None:
        raise SafetyError(f"no group {group_name!r} yet (import the roster first)")
    return group
