"""The audit log: every export and every read of PHI, recorded append-only.

`record` writes when, who (the operating-system user unless given), which command and which
records (ids such as `member:12`, `session:3`, never PHI itself) were touched. The billing
exports call it as well as the roster and key commands. `entries` reads the log back.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.tables.core import AuditEntry

__all__ = ["entries", "record"]


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(
    session: Session,
    *,
    command: str,
    records: Sequence[str],
    detail: str = "",
    at: datetime,
    actor: str | None = None,
) -> AuditEntry:
    """Append an audit entry (flushed, not committed: it commits with the caller's work).

    Args:
        command: the command or code path, e.g. "roster list", "billing export".
        records: identifiers of what was read or exported (`member:12`); never PHI values.
        detail: a short free-text note (counts, file name).
        at: when: the `now` of the operation that writes it (one clock per operation).
        actor: who did it; defaults to the operating-system user.
    """
    entry = AuditEntry(
        at=at,
        actor=actor or _actor(),
        command=command,
        records=list(records),
        detail=detail,
    )
    session.add(entry)
    session.flush()
    return entry


def entries(session: Session, *, command: str | None = None) -> tuple[AuditEntry, ...]:
    """Audit entries, oldest first (optionally only those of one command)."""
    query = select(AuditEntry).order_by(AuditEntry.at, AuditEntry.id)
    if command is not None:
        query = query.where(AuditEntry.command == command)
    return tuple(session.scalars(query))
