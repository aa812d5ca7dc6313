"""Core tables: groups, modules, sessions, roster, presence, attendance, reconciliation, audit.

These are the records a physician bills and answers from. PHI columns (health number, version
code, birth date) hold AES-GCM ciphertext only (see `storage.crypto`), with the id of the key
that sealed them beside each row so `balint-bot keys rotate` can re-encrypt. Times are stored
in UTC through `UtcDateTime`, which hands back aware datetimes on SQLite and PostgreSQL alike.
Schema changes go through Alembic (`storage/migrations`), never `create_all` outside tests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from storage.db import Base

__all__ = [
    "AttendanceRecord",
    "AttendanceSpan",
    "AuditEntry",
    "Disagreement",
    "Group",
    "Member",
    "MemberModule",
    "Module",
    "PresenceRow",
    "SessionRecord",
    "TherapyInterval",
    "UtcDateTime",
]


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; naive datetimes are refused on the way in.

    SQLite has no time zone type, so the value is stored as naive UTC text there and made
    aware again on the way out; PostgreSQL stores `timestamptz` and we normalise to UTC.

    On SQLite each way is one function (`_utc_text`, `_utc_from_text`) instead of
    `TypeDecorator`'s two, and neither calls `datetime.replace(tzinfo=...)`: at about 1 us a
    call (keyword parsing) it cost more than reading the text itself, and an export reads
    some 23,000 times (`docs/benchmarks.md`, "eighteenth round"). The text is the one
    SQLAlchemy's SQLite `DATETIME` writes (`2026-01-02 03:04:05.000000`, microseconds
    always), so stored rows, and comparisons of them as text in SQL, stay as they were.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name == "sqlite":
            return _utc_text
        return super().bind_processor(dialect)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        if dialect.name == "sqlite":
            return _utc_from_text
        return super().result_processor(dialect, coltype)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(_NAIVE)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


_NAIVE = "naive datetime given to a UTC column"
#: What makes SQLite's naive UTC text an aware datetime in `datetime.fromisoformat`.
_UTC_OFFSET = "+00:00"


def _utc_text(value: datetime | None) -> str | None:
    """SQLite: an aware datetime as naive UTC text, as SQLAlchemy's `DATETIME` writes it."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(_NAIVE)
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" without its offset
    return value.isoformat(" ", "microseconds")[:26]


def _utc_from_text(value: str | None) -> datetime | None:
    """SQLite: naive UTC text as an aware datetime in UTC."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value + _UTC_OFFSET)
    except ValueError:  # text with an offset of its own (not written by this type)
        return datetime.fromisoformat(value).astimezone(UTC)


class Group(Base):
    """A Balint group: one weekly (or monthly) meeting series."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="America/Toronto")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Module(Base):
    """A closed term of a group (September, January or April start), named like `2026-09`."""

    __tablename__ = "modules"
    __table_args__ = (UniqueConstraint("group_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(16))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)


class SessionRecord(Base):
    """One meeting instance (Zoom meeting uuid) of a group, in a module (none in summer)."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    module_id: Mapped[int | None] = mapped_column(
        ForeignKey("modules.id", ondelete="SET NULL"), index=True, nullable=True
    )
    meeting_uuid: Mapped[str] = mapped_column(String(128), unique=True)
    meeting_id: Mapped[str] = mapped_column(String(32))
    scheduled_start: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    finalized_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    therapy_start: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    therapy_end: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Member(Base):
    """A roster row. PHI is sealed: `*_enc` columns are nonce+ciphertext under `key_id`."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    display_name: Mapped[str] = mapped_column(String(200))
    #: `phases.roster.normalise_name(display_name)`: the import's identity key.
    name_key: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    role: Mapped[str] = mapped_column(String(16))
    registrant_id: Mapped[str] = mapped_column(String(64), default="")
    province: Mapped[str] = mapped_column(String(2), default="")
    sex: Mapped[str] = mapped_column(String(1), default="")
    referring_name: Mapped[str] = mapped_column(String(200), default="")
    referring_number: Mapped[str] = mapped_column(String(6), default="")
    diagnostic_code: Mapped[str] = mapped_column(String(4), default="")
    relationship_basis: Mapped[str] = mapped_column(String(16), default="")
    relationship_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    consent_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: The physician's decision to bill OHIP for this member: True, False, or None when the
    #: roster does not say (undecided: never claimed, never defaulted).
    bill_ohip: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=None)
    #: Training to lead Balint groups (roster `trains_to_lead`): the reflection is for them.
    trains_to_lead: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Id of the data key that sealed the PHI columns ("" when the row carries no PHI).
    key_id: Mapped[str] = mapped_column(String(16), default="")
    health_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    version_code_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    birth_date_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: The last four digits only, so `roster list` can show the masked form without the key.
    health_number_last4: Mapped[str] = mapped_column(String(4), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: "active", or "inactive" once a later roster import no longer lists them (the row is
    #: kept for attendance and billing history; the bot no longer admits them).
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")

    __table_args__ = (UniqueConstraint("group_id", "name_key"),)


class MemberModule(Base):
    """A member's enrolment in a module (by module name, e.g. `2026-09`)."""

    __tablename__ = "member_modules"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    module_name: Mapped[str] = mapped_column(String(16), primary_key=True)


class PresenceRow(Base):
    """A presence fact derived from one journaled webhook; unique per (meeting, journal id)."""

    __tablename__ = "presence"
    # a meeting's facts are found through this constraint's index (meeting_uuid first)
    __table_args__ = (UniqueConstraint("meeting_uuid", "journal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_uuid: Mapped[str] = mapped_column(String(128))
    journal_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    participant_key: Mapped[str] = mapped_column(String(128), default="")
    user_id: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    registrant_id: Mapped[str] = mapped_column(String(64), default="")
    #: How Zoom says this join came in: `video` (a Zoom client), `telephone` (dial-in), or
    #: "" when the event does not say (only joins carry it).
    modality: Mapped[str] = mapped_column(String(16), default="")
    #: A telephone caller (never matched by name), on every fact Zoom sends with a
    #: `phone_number`; the same test as a `telephone` join (`webhooks.translate.dialed_in`).
    phone: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AttendanceRecord(Base):
    """Finalised attendance of one person in one session (`source` journal or report)."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("session_id", "person_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    person_key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), nullable=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    minutes: Mapped[int] = mapped_column(Integer)
    waiting_minutes: Mapped[int] = mapped_column(Integer, default=0)
    first_join: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_leave: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    late: Mapped[bool] = mapped_column(Boolean)
    left_early: Mapped[bool] = mapped_column(Boolean)
    present: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16), default="journal")


class AttendanceSpan(Base):
    """One join session of a person in a session's attendance: when, and by which modality.

    The spans keep what the aggregate row cannot: the gaps between a leave and a rejoin, and
    whether each join was by video or telephone (`""` when the source did not say, as for
    rows filled in from Zoom's participant report). Billing reads them.
    """

    __tablename__ = "attendance_spans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attendance_id: Mapped[int] = mapped_column(
        ForeignKey("attendance.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    modality: Mapped[str] = mapped_column(String(16), default="")


class TherapyInterval(Base):
    """An interval during which a facilitator was in the meeting (therapy start/stop)."""

    __tablename__ = "therapy_intervals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Disagreement(Base):
    """Where Zoom's participant report and our journal-derived attendance differ."""

    __tablename__ = "reconcile_disagreements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    person_key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(32))
    ours: Mapped[str] = mapped_column(String(64))
    theirs: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEntry(Base):
    """Append-only record of an export or a read of PHI: when, which command, which records."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    command: Mapped[str] = mapped_column(String(100))
    records: Mapped[list[str]] = mapped_column(JSON)
    detail: Mapped[str] = mapped_column(Text, default="")
