"""Tables of the durable runtime: engine state, wake-ups, the executed-action log and leases.

The database is the truth for a live meeting's runtime; the process only caches it. Seven
tables:

- `runtime_meetings`: one row per meeting instance (Zoom's meeting uuid) with the engine's
  `SessionState` as JSON and the ordering cursors (`event_ts` of the newest engine event fed,
  per participant), so a restart resumes in the right phase and a late webhook cannot undo
  newer state.
- `runtime_wakeups`: the engine's pending `ScheduleWakeup`s (timer name -> due time). The
  scheduler is only a doorbell and is re-armed from here on start-up.
- `runtime_actions`: every meeting action the engine asked for, keyed by
  `(meeting_uuid, action_key)` where the key names its cause (journal entry, timer firing or
  chat message) and its position. The key is unique, so reprocessing a cause never plans an
  action twice, and an action is claimed (`planned` -> `executing`) before it is carried out,
  so a crash can lose at most that one action but never repeat it.
- `runtime_leases`: which replica (`owner`) runs a meeting's runtime, until `expires_at`,
  and how many times it has been taken (`takes`): a runtime whose take follows its own last
  one knows that no one has stepped the meeting in between.
- `runtime_person_keys` and `runtime_commands_seen`: one person key per participant across
  the webhook and SDK sources, and the commands each source delivered (run once).
- `phase_changes`: every phase change with its time (the engine state keeps only the current
  phase); billing derives the therapy window from it.

Times use `storage.tables.core.UtcDateTime`: stored as UTC, always returned timezone-aware.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base
from storage.tables.core import UtcDateTime

__all__ = [
    "ACTION_STATUSES",
    "PhaseChange",
    "RuntimeAction",
    "RuntimeCommandSeen",
    "RuntimeLease",
    "RuntimeMeeting",
    "RuntimePersonKey",
    "RuntimeWakeup",
]

#: Life of a logged action: planned -> executing -> done | refused | not_executed, or
#: executing -> interrupted when the process died while carrying it out (never retried), or
#: planned -> expired when a restart came too late for it.
ACTION_STATUSES = (
    "planned",
    "executing",
    "done",
    "refused",
    "not_executed",
    "interrupted",
    "expired",
)


class RuntimeMeeting(Base):
    """The engine state of one meeting instance and its ordering cursor."""

    __tablename__ = "runtime_meetings"

    meeting_uuid: Mapped[str] = mapped_column(String(128), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(64), default="")
    state_json: Mapped[str] = mapped_column(Text)
    #: `event_ts` (epoch ms) of the newest journaled engine event fed so far.
    last_event_ts: Mapped[int] = mapped_column(BigInteger, default=0)
    #: JSON object: participant key (or "" for meeting-level events) -> `event_ts` of the
    #: newest engine event about it that was fed; the out-of-order rule reads it.
    cursors_json: Mapped[str] = mapped_column(Text, default="{}")
    #: The newest `now` given to the engine; `now` never goes backwards.
    last_now: Mapped[datetime] = mapped_column(UtcDateTime())
    ended: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RuntimeWakeup(Base):
    """A pending engine wake-up; re-arming a timer name replaces its row."""

    __tablename__ = "runtime_wakeups"

    meeting_uuid: Mapped[str] = mapped_column(String(128), primary_key=True)
    timer: Mapped[str] = mapped_column(String(100), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class RuntimeAction(Base):
    """One meeting action the engine asked for, and what became of it."""

    __tablename__ = "runtime_actions"
    # a meeting's actions are found through this constraint's index (meeting_uuid first)
    __table_args__ = (UniqueConstraint("meeting_uuid", "action_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    meeting_uuid: Mapped[str] = mapped_column(String(128))
    action_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    #: The action as JSON (see `bot.runtime.codec`); names and bot lines only, never PHI.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="planned")
    code: Mapped[str] = mapped_column(String(40), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    executed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class RuntimeLease(Base):
    """Which replica runs a meeting's runtime; free once `expires_at` has passed.

    The row is never deleted (a released lease expires at once), so `takes` counts every take
    since the meeting's first: see `storage.runtime_state.acquire_lease`.
    """

    __tablename__ = "runtime_leases"

    meeting_uuid: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime())
    takes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class RuntimePersonKey(Base):
    """One id a source gave for a person, and the meeting's person key it belongs to.

    Zoom's webhooks and the Meeting SDK name a participant with different ids (participant
    uuid and user id; persistent id and SDK user id), and Zoom does not document whether
    they agree. The runtime gives each person one key per meeting and records every id it
    saw for them here, side by side (`bot.runtime.identity`), so a live run shows which ids
    agree. `linked_by` says how the id was tied to the person: `first` (it made the person),
    `same_id`, `user_id`, `name`.
    """

    __tablename__ = "runtime_person_keys"

    meeting_uuid: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: participant_uuid | webhook_user_id | persistent_id | sdk_user_id
    id_kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    id_value: Mapped[str] = mapped_column(String(128), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(128), index=True)
    linked_by: Mapped[str] = mapped_column(String(16))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RuntimeCommandSeen(Base):
    """A chat command as one source delivered it, to run it once when both deliver it.

    The webhook's and the SDK's message ids for one line may differ (undocumented), so a
    command from one source is matched to the same person's same text from the other within
    a short window (`bot.runtime.identity.COMMAND_WINDOW`). Only a hash of the text is kept.
    """

    __tablename__ = "runtime_commands_seen"

    meeting_uuid: Mapped[str] = mapped_column(String(128), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(128))
    text_hash: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: the other source's message id this one was matched to ("" while unmatched)
    matched: Mapped[str] = mapped_column(String(200), default="")


class PhaseChange(Base):
    """One phase change of a meeting's session, when the engine made it (append-only).

    The engine state keeps only the current phase; billing needs when the meditation began
    and when the group reached its closing (after any `/extend`), so the runtime records
    every change in the same transaction as the state it leads to.
    """

    __tablename__ = "phase_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    meeting_uuid: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    from_phase: Mapped[str] = mapped_column(String(20))
    to_phase: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(100), default="")
