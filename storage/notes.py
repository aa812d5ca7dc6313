"""The facilitators' confidential notes: per member per session, and on the group per session.

The group's rules: "I will be recording brief confidential notes on each group member and group
as a whole. Each person can have access to his or her personal notes though not to the group
summary notes." So:

- a note is sealed with the data key before it is stored (`storage.crypto`), never in clear;
- notes are append-only (`storage.tables.clinical.ClinicalNote`): `amend_note` writes a new,
  dated row pointing at the original, which stays as it was; nothing here updates or deletes
  a note (the retention purge deletes it with its session, `storage.retention`);
- every read goes through `read_notes`, which writes the audit log (who read which notes);
- a member reads their own notes only (`MemberScope`); group notes are for facilitators.

Functions take the session explicitly and `now`, flush and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from phases.errors import BalintError
from storage import audit
from storage.crypto import Keyring
from storage.tables.clinical import ClinicalNote
from storage.tables.core import Group, Member, SessionRecord

__all__ = [
    "MAX_NOTE_CHARACTERS",
    "NOTE_FIELD",
    "Note",
    "NoteThread",
    "NotesError",
    "add_note",
    "amend_note",
    "read_notes",
    "reseal_notes",
]

#: The associated data a note's ciphertext is bound to.
NOTE_FIELD = "clinical_note"
#: Notes are brief; a longer text is refused rather than cut.
MAX_NOTE_CHARACTERS = 20_000

About = Literal["member", "group", "all"]


class NotesError(BalintError):
    """A note cannot be written or read as asked (no such session or member, empty text...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """One note row, opened."""

    id: int
    session_id: int
    service_date: date
    member_id: int | None
    written_at: datetime
    author: str
    text: str
    amends_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteThread:
    """An original note and its amendments, oldest first (the record as it was corrected)."""

    original: Note
    amendments: tuple[Note, ...]

    @property
    def current(self) -> Note:
        """The latest word: the newest amendment, else the original."""
        return self.amendments[-1] if self.amendments else self.original


def _group(session: Session, group_name: str) -> Group:
    group = session.scalar(select(Group).where(Group.name == group_name))
    if group is None:
        raise NotesError(f"no group {group_name!r} yet (import the roster first)")
    return group


def _text(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise NotesError("a note needs some text")
    if len(cleaned) > MAX_NOTE_CHARACTERS:
        raise NotesError(
            f"a note is at most {MAX_NOTE_CHARACTERS} characters ({len(cleaned)} given)"
        )
    return cleaned


def _sealer(keyring: Keyring) -> Keyring:
    if not keyring.has_current:
        raise NotesError(
            "notes are PHI and need the data key: set BALINT_DATA_KEY (see docs/roster.md); "
            "nothing was written"
        )
    return keyring


def add_note(
    session: Session,
    *,
    group_name: str,
    session_id: int,
    member_id: int | None,
    text: str,
    author: str,
    keyring: Keyring,
    now: datetime,
    actor: str | None = None,
) -> int:
    """Write a note on `member_id` (None: on the group) for session `session_id`; its id.

    Raises:
        NotesError: no such session or member in the group, a facilitator named as the member,
            empty or overlong text, or no data key.
    """
    group = _group(session, group_name)
    body = _text(text)
    record = session.get(SessionRecord, session_id)
    if record is None or record.group_id != group.id:
        raise NotesError(f"no session {session_id} of {group_name!r} (see `sessions list`)")
    if member_id is not None:
        member = session.get(Member, member_id)
        if member is None or member.group_id != group.id or member.role != "member":
            raise NotesError(f"no member {member_id} of {group_name!r}")
    ring = _sealer(keyring)
    note = ClinicalNote(
        group_id=group.id,
        session_id=session_id,
        member_id=member_id,
        amends_id=None,
        written_at=now,
        author=author[:200],
        key_id=ring.current_id,
        text_enc=ring.seal(body, field_name=NOTE_FIELD),
    )
    session.add(note)
    session.flush()
    audit.record(
        session,
        command="notes add",
        records=_records(note),
        detail="group note" if member_id is None else "member note",
        at=now,
        actor=actor,
    )
    return note.id


def amend_note(
    session: Session,
    *,
    group_name: str,
    note_id: int,
    text: str,
    author: str,
    keyring: Keyring,
    now: datetime,
    actor: str | None = None,
) -> int:
    """Correct note `note_id` with a new dated row (the original is kept); the new id.

    Amending an amendment amends the original it belongs to, so a note's history stays one
    list: the original, then every correction in the order written.

    Raises:
        NotesError: no such note in the group, empty or overlong text, or no data key.
    """
    group = _group(session, group_name)
    body = _text(text)
    found = session.get(ClinicalNote, note_id)
    if found is None or found.group_id != group.id:
        raise NotesError(f"no note {note_id} of {group_name!r}")
    original = session.get(ClinicalNote, found.amends_id) if found.amends_id else found
    assert original is not None
    ring = _sealer(keyring)
    amendment = ClinicalNote(
        group_id=group.id,
        session_id=original.session_id,
        member_id=original.member_id,
        amends_id=original.id,
        written_at=now,
        author=author[:200],
        key_id=ring.current_id,
        text_enc=ring.seal(body, field_name=NOTE_FIELD),
    )
    session.add(amendment)
    session.flush()
    audit.record(
        session,
        command="notes amend",
        records=_records(amendment),
        detail=f"amends note {original.id}",
        at=now,
        actor=actor,
    )
    return amendment.id


def read_notes(
    session: Session,
    *,
    group_name: str,
    keyring: Keyring,
    about: About,
    member_id: int | None = None,
    session_id: int | None = None,
    command: str,
    now: datetime,
    actor: str | None = None,
) -> tuple[NoteThread, ...]:
    """Open notes (oldest session first) and write the read to the audit log.

    Args:
        about: "member" (the notes on `member_id`, which is then required), "group" (the
            group notes) or "all" (both, for a facilitator's view of a session).
        member_id: whose notes, with about="member".
        session_id: only this session's notes.
        command: what is reading, for the audit log ("notes list", "member page", ...).
        actor: who reads (default: the operating-system user).

    Raises:
        NotesError: about="member" without `member_id`.
        DataKeyError: a note was sealed with a key not on the keyring, or tampered with.
    """
    group = _group(session, group_name)
    zone = ZoneInfo(group.timezone)
    query = (
        select(ClinicalNote, SessionRecord.scheduled_start)
        .join(SessionRecord, SessionRecord.id == ClinicalNote.session_id)
        .where(ClinicalNote.group_id == group.id)
        .order_by(SessionRecord.scheduled_start, ClinicalNote.written_at, ClinicalNote.id)
    )
    if about == "member":
        if member_id is None:
            raise NotesError("whose notes? a member is needed")
        query = query.where(ClinicalNote.member_id == member_id)
    elif about == "group":
        query = query.where(ClinicalNote.member_id.is_(None))
    if session_id is not None:
        query = query.where(ClinicalNote.session_id == session_id)
    rows = session.execute(query).all()
    notes = [
        Note(
            id=row.id,
            session_id=row.session_id,
            service_date=start.astimezone(zone).date(),
            member_id=row.member_id,
            written_at=row.written_at,
            author=row.author,
            text=keyring.open(row.text_enc, field_name=NOTE_FIELD, sealed_with=row.key_id),
            amends_id=row.amends_id,
        )
        for row, start in rows
    ]
    threads = _threads(notes)
    records = [f"note:{note.id}" for note in notes]
    if member_id is not None:
        records.insert(0, f"member:{member_id}")
    if session_id is not None:
        records.insert(0, f"session:{session_id}")
    audit.record(
        session,
        command=command,
        records=records,
        detail=f"read {len(notes)} note row(s) ({about})",
        at=now,
        actor=actor,
    )
    return threads


def _threads(notes: Sequence[Note]) -> tuple[NoteThread, ...]:
    originals = [note for note in notes if note.amends_id is None]
    corrections: dict[int, list[Note]] = {}
    for note in notes:
        if note.amends_id is not None:
            corrections.setdefault(note.amends_id, []).append(note)
    return tuple(
        NoteThread(
            original=original,
            amendments=tuple(
                sorted(corrections.get(original.id, ()), key=lambda n: (n.written_at, n.id))
            ),
        )
        for original in originals
    )


def _records(note: ClinicalNote) -> list[str]:
    records = [f"note:{note.id}", f"session:{note.session_id}"]
    if note.member_id is not None:
        records.append(f"member:{note.member_id}")
    return records


def reseal_notes(session: Session, *, keyring: Keyring) -> int:
    """Re-encrypt every note sealed under an older key with the current key; the count.

    Only the key id and the ciphertext change (the append-only trigger allows exactly that).

    Raises:
        DataKeyError: no current key, or a note's key is not on the keyring.
    """
    current = keyring.current_id
    notes = list(session.scalars(select(ClinicalNote).where(ClinicalNote.key_id != current)))
    for note in notes:
        text = keyring.open(note.text_enc, field_name=NOTE_FIELD, sealed_with=note.key_id)
        note.key_id = current
        note.text_enc = keyring.seal(text, field_name=NOTE_FIELD)
    session.flush()
    return len(notes)
