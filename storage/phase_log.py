"""The phase log: every phase change of a meeting's session, with when it happened.

The engine's stored state holds only the current phase. Billing needs more: when the
meditation began, when the group reached its closing (after any `/extend`, or earlier by
`/end`), and whether Zoom ended the meeting in between. The durable runtime records each
`PhaseChanged` here in the transaction that saves the state it leads to, so the log and the
state never disagree. Rows are only added, never changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from storage.tables.runtime import PhaseChange

__all__ = ["PhaseRecord", "phase_changes", "phase_changes_of", "record_phase_change"]

_APPEND = cast(Table, PhaseChange.__table__).insert()


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseRecord:
    """One stored phase change."""

    at: datetime
    from_phase: str
    to_phase: str
    reason: str


def record_phase_change(
    session: Session,
    *,
    meeting_uuid: str,
    at: datetime,
    from_phase: str,
    to_phase: str,
    reason: str,
) -> None:
    """Append one phase change (written, not committed: the caller owns the transaction).

    A Core insert on the session's connection, built once: the runtime runs it in the step
    that saves the state the change leads to, where the ORM's unit of work cost more than
    the row."""
    row = {
        "meeting_uuid": meeting_uuid,
        "at": at,
        "from_phase": from_phase,
        "to_phase": to_phase,
        "reason": reason[:100],
    }
    session.connection().execute(_APPEND, row)


def phase_changes(session: Session, *, meeting_uuid: str) -> tuple[PhaseRecord, ...]:
    """A meeting's phase changes in the order they were made."""
    rows = session.scalars(
        select(PhaseChange).where(PhaseChange.meeting_uuid == meeting_uuid).order_by(PhaseChange.id)
    )
    return tuple(
        PhaseRecord(at=row.at, from_phase=row.from_phase, to_phase=row.to_phase, reason=row.reason)
        for row in rows
    )


def phase_changes_of(
    session: Session, *, meeting_uuids: Sequence[str]
) -> dict[str, tuple[PhaseRecord, ...]]:
    """The phase changes of several meetings at once (one query), in the order made."""
    found: dict[str, list[PhaseRecord]] = {}
    if not meeting_uuids:
        return {}
    rows = session.execute(
        select(
            PhaseChange.meeting_uuid,
            PhaseChange.at,
            PhaseChange.from_phase,
            PhaseChange.to_phase,
            PhaseChange.reason,
        )
        .where(PhaseChange.meeting_uuid.in_(list(meeting_uuids)))
        .order_by(PhaseChange.id)
    )
    for uuid, at, from_phase, to_phase, reason in rows:
        found.setdefault(uuid, []).append(
            PhaseRecord(at=at, from_phase=from_phase, to_phase=to_phase, reason=reason)
        )
    return {uuid: tuple(changes) for uuid, changes in found.items()}
