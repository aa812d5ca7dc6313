"""The webhook journal: every correctly signed Zoom delivery, stored before it is acknowledged.

One row per distinct event (the dedupe key is unique, so Zoom's retries land on the existing
row). The raw body is kept byte for byte (except chat text, see `redacted`), so attendance can
be recomputed and a Zoom schema change loses nothing: a body that did not fit our models is
stored with `parsed_ok = False` and the parse error (by the receiver if it is not an event at
all, by the meeting worker if it does not fit its event's model). `event_ts` is Zoom's epoch-
millisecond event time, the order in which a meeting's events are processed; `processed_at` is
set once the runtime has fed the event. `redacted` marks a body the receiver did not store as
received: a chat line cut to its command (the bot stores no other chat text), or one redacted
line standing for an event of another meeting or for a body that is not readable JSON
(`webhooks.redaction`); its dedupe key is the original body's. An event of another meeting, or
one we have no model for, has no `meeting_uuid`, so it never reaches a session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.tables.core import UtcDateTime

__all__ = ["DEDUPE_KEY_LENGTH", "JournalEntry"]

DEDUPE_KEY_LENGTH = 200


class JournalEntry(Base):
    """One journaled webhook delivery."""

    __tablename__ = "webhook_journal"
    __table_args__ = (
        # A meeting's entries still to feed, in feeding order: what a worker looks for at
        # every visit, found without walking the meeting's processed entries (migration
        # 0013); and, through it, every meeting with entries to feed (migration 0015
        # dropped the index of all entries by `processed_at`, 0016 that of all entries by
        # meeting: no query of a running service reads a meeting's processed entries).
        Index(
            "ix_webhook_journal_meeting_pending",
            "meeting_uuid",
            "event_ts",
            "id",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(timezone=True), nullable=False)
    event: Mapped[str] = mapped_column(String(128), nullable=False)
    event_ts: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    meeting_uuid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    dedupe_key: Mapped[str] = mapped_column(String(DEDUPE_KEY_LENGTH), nullable=False, unique=True)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    parsed_ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    parse_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(timezone=True), nullable=True)
    redacted: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )

    def __repr__(self) -> str:  # no body: it may carry names and chat text
        return f"JournalEntry(id={self.id}, event={self.event!r}, event_ts={self.event_ts})"
