"""Clinical tables: notes, members' links to them, the safety plan, absences, contacts.

The group's own rules (`docs/privacy.md`) ask for them: brief confidential notes on each member
and on the group, per session, each member able to read their own; notice of absence and
lateness; a safety plan of an emergency contact and each member's location during the
call; and a record of contacting a member who misses more sessions than contracted for.
Every free text here is PHI and holds AES-GCM ciphertext only (`storage.crypto`), with the
id of the key that sealed it beside it, so `keys rotate` re-encrypts it.

- `clinical_notes`: append-only. A correction is a new row whose `amends_id` names the
  original; a database trigger (migration `0012_clinical_records`) refuses any change to a
  note's who, when and what, so only `keys rotate` (a new key id) may re-encrypt its text.
  A note with no `member_id` is a group note. Kept and purged with its session.
- `note_links`: `balint-bot notes link --member NAME` output, one member's way to read their
  own notes (`bot.console.member_notes`). Only hashes of its tokens are kept: the link token
  (single use, `used_at`, expires) and the short-lived view token the browser gets for it.
- `emergency_contacts`: per member; `source` says where it came from (today always
  `roster`: the roster file's columns; an import replaces only the roster's).
- `session_locations`: a member's answer to the bot's private location question, kept as the
  sealed token the webhook receiver (or the runtime, for the SDK's chat) made of it before
  anything was stored; the newest per member and session is "today's location".
- `absences`: a member's notice that they will miss (or be late to) the session of a day.
- `member_contacts`: a facilitator contacted a member (about attendance), on a day.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.tables.core import UtcDateTime

__all__ = [
    "Absence",
    "ClinicalNote",
    "EmergencyContact",
    "MemberContact",
    "NoteLink",
    "SessionLocation",
]


class ClinicalNote(Base):
    """A facilitator's note on one member (or the group) for one session; append-only."""

    __tablename__ = "clinical_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    #: the member the note is about; None for a note on the group as a whole
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True, nullable=True
    )
    #: the note this one corrects (always the original, never another amendment)
    amends_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinical_notes.id", ondelete="CASCADE"), index=True, nullable=True
    )
    written_at: Mapped[datetime] = mapped_column(UtcDateTime())
    author: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(16))
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)


class EmergencyContact(Base):
    """One emergency contact of a member (name, relation, phone: sealed together)."""

    __tablename__ = "emergency_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    #: "roster" (from the roster file; replaced by the next import)
    source: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(16))
    contact_enc: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class SessionLocation(Base):
    """Where a member said they are for a session (a sealed token, never clear text)."""

    __tablename__ = "session_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True, nullable=True
    )
    #: the meeting's person key of who answered (the member they were taken to be)
    person_key: Mapped[str] = mapped_column(String(200))
    given_at: Mapped[datetime] = mapped_column(UtcDateTime())
    key_id: Mapped[str] = mapped_column(String(16))
    #: `Keyring.seal_text(..., field_name="private_reply")`
    location_sealed: Mapped[str] = mapped_column(Text)


class Absence(Base):
    """A member's notice of absence (or, `late`, of lateness) for the session of a day."""

    __tablename__ = "absences"
    __table_args__ = (UniqueConstraint("member_id", "session_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    session_date: Mapped[date] = mapped_column(Date, index=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    key_id: Mapped[str] = mapped_column(String(16), default="")
    reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200), default="")


class MemberContact(Base):
    """A facilitator contacted a member (e.g. about missed sessions) on `contacted_on`."""

    __tablename__ = "member_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    contacted_on: Mapped[date] = mapped_column(Date, index=True)
    key_id: Mapped[str] = mapped_column(String(16), default="")
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200), default="")


class NoteLink(Base):
    """A member's single-use link to their own notes, and the view it opened (hashes only)."""

    __tablename__ = "note_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    #: the browser's view token, set when the link is used (unique while it exists)
    view_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    view_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
