"""Storage of the runtime's person keys and of the chat commands each source delivered.

See `storage.tables.runtime.RuntimePersonKey` and `RuntimeCommandSeen` for why; the logic
that links ids and matches commands is `bot.runtime.identity`. Every function takes the
session explicitly and keyword-only arguments, and flushes but never commits; the two that
read the ids also take a Core connection in a transaction (`storage.db.Connectable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from storage.db import Connectable, connection_of, insert_or_skip
from storage.tables.runtime import RuntimeCommandSeen, RuntimePersonKey

__all__ = [
    "CommandSeen",
    "PersonId",
    "commands_seen",
    "id_count",
    "match_command",
    "person_ids",
    "record_command",
    "record_person_ids",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonId:
    """One id (`kind`, `value`) of the person `person_key`, and how it was linked."""

    kind: str
    value: str
    person_key: str
    linked_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSeen:
    source: str
    message_id: str
    person_key: str
    text_hash: str
    seen_at: datetime
    matched: str


def person_ids(db: Connectable, *, meeting_uuid: str) -> list[PersonId]:
    """Every id recorded for the meeting's people, oldest first."""
    rows = connection_of(db).execute(_PERSON_IDS, {"uuid": meeting_uuid})
    return [
        PersonId(kind=r.id_kind, value=r.id_value, person_key=r.person_key, linked_by=r.linked_by)
        for r in rows
    ]


def id_count(db: Connectable, *, meeting_uuid: str) -> int:
    """How many ids are recorded for the meeting's people (ids are only ever added)."""
    return int(connection_of(db).execute(_ID_COUNT, {"uuid": meeting_uuid}).scalar_one())


def record_person_ids(
    session: Session, *, meeting_uuid: str, ids: Sequence[PersonId], now: datetime
) -> None:
    """Add ids not recorded yet (an id, once linked to a person, stays with them: the insert
    skips an id already there, and a repeated id's first link wins)."""
    if not ids:
        return
    statement = insert_or_skip(
        _PERSON_KEYS, session.get_bind().dialect.name, ("meeting_uuid", "id_kind", "id_value")
    )
    rows = [
        {
            "meeting_uuid": meeting_uuid,
            "id_kind": person_id.kind,
            "id_value": person_id.value,
            "person_key": person_id.person_key,
            "linked_by": person_id.linked_by,
            "seen_at": now,
        }
        for person_id in ids
    ]
    session.connection().execute(statement, rows)


_PERSON_KEYS = cast(Table, RuntimePersonKey.__table__)
# Read on every step of a meeting: built once on the Core table, run with bound parameters.
_PERSON_IDS = (
    select(
        _PERSON_KEYS.c.id_kind,
        _PERSON_KEYS.c.id_value,
        _PERSON_KEYS.c.person_key,
        _PERSON_KEYS.c.linked_by,
    )
    .where(_PERSON_KEYS.c.meeting_uuid == bindparam("uuid"))
    .order_by(_PERSON_KEYS.c.seen_at, _PERSON_KEYS.c.id_kind, _PERSON_KEYS.c.id_value)
)

_ID_COUNT = (
    select(func.count())
    .select_from(_PERSON_KEYS)
    .where(_PERSON_KEYS.c.meeting_uuid == bindparam("uuid"))
)


def commands_seen(session: Session, *, meeting_uuid: str, since: datetime) -> list[CommandSeen]:
    """The commands delivered since `since`, oldest first."""
    rows = session.scalars(
        select(RuntimeCommandSeen)
        .where(RuntimeCommandSeen.meeting_uuid == meeting_uuid)
        .where(RuntimeCommandSeen.seen_at >= since)
        .order_by(RuntimeCommandSeen.seen_at, RuntimeCommandSeen.message_id)
    )
    return [
        CommandSeen(
            source=r.source,
            message_id=r.message_id,
            person_key=r.person_key,
            text_hash=r.text_hash,
            seen_at=r.seen_at,
            matched=r.matched,
        )
        for r in rows
    ]


def record_command(session: Session, *, meeting_uuid: str, command: CommandSeen) -> bool:
    """Record a delivered command; False if this source's message id was recorded already."""
    key = (meeting_uuid, command.source, command.message_id)
    if session.get(RuntimeCommandSeen, key) is not None:
        return False
    session.add(
        RuntimeCommandSeen(
            meeting_uuid=meeting_uuid,
            source=command.source,
            message_id=command.message_id,
            person_key=command.person_key,
            text_hash=command.text_hash,
            seen_at=command.seen_at,
            matched=command.matched,
        )
    )
    session.flush()
    return True


def match_command(
    session: Session, *, meeting_uuid: str, source: str, message_id: str, matched: str
) -> None:
    """Mark a recorded command as matched by the other source's `matched` message id."""
    row = session.get(RuntimeCommandSeen, (meeting_uuid, source, message_id))
    if row is not None:
        row.matched = matched
        session.flush()
