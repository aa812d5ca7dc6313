"""The table of the group's calendar: the facilitators' changes.

`calendar_overrides`: one row per change a facilitator made with `balint-bot sessions`
(`cancel` or `move` of a regular slot, or `add` of a session). The rows are the current
changes, not a history: cancelling an added session deletes its row. A slot has at most one
change and a start at most one session (two unique constraints). A meeting the calendar says
is no session leaves no row here (nor anywhere but the journal and the runtime's own record
of it: see `bot.runtime.durable`).

Times use `storage.tables.core.UtcDateTime`: stored as UTC, always returned timezone-aware.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.tables.core import UtcDateTime

__all__ = ["CalendarOverride"]


class CalendarOverride(Base):
    """A facilitator's change to a group's calendar (see `phases.calendar.Override`)."""

    __tablename__ = "calendar_overrides"
    __table_args__ = (
        UniqueConstraint("slot_start", "group_id"),
        UniqueConstraint("new_start", "group_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    #: cancel | move | add
    kind: Mapped[str] = mapped_column(String(8))
    #: the regular slot's start (cancel, move)
    slot_start: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    #: the session's new start (move, add)
    new_start: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: who made the change (the operating-system user of the command)
    actor: Mapped[str] = mapped_column(String(100), default="")
