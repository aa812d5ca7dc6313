"""Journal functions: append a webhook delivery once, list and mark what is left to process.

The receiver calls `append` and commits before it acknowledges Zoom; the worker reads
`unprocessed` in `event_ts` order and calls `mark_processed`. Every function takes the session
(or, for the receiver's `record_many`, `announce` and `probe`, a Core connection) explicitly
and keyword-only arguments, and flushes but never commits: the caller owns the transaction.
`append` is safe against concurrent duplicates (two replicas receiving the same retry at
once): the insert is `ON CONFLICT (dedupe_key) DO NOTHING` on SQLite and PostgreSQL.
`probe` tells whether the journal takes a write right now, without leaving anything behind.

`record_many` is the receiver's group commit: a batch of deliveries in ONE multi-row insert
(and one select for the batch's duplicates, if it has any); on PostgreSQL `announce` then
sends `NOTIFY` on `JOURNAL_CHANNEL` with each new entry's meeting uuid, delivered to the
listeners (serve's meeting workers, every replica's) when the transaction commits.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Dialect,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from storage.db import Connectable, connection_of
from storage.tables.journal import DEDUPE_KEY_LENGTH, JournalEntry

__all__ = [
    "JOURNAL_CHANNEL",
    "Delivery",
    "JournalEntry",
    "announce",
    "append",
    "entries_for_meeting",
    "entry",
    "has_unprocessed",
    "mark_processed",
    "mark_unreadable",
    "probe",
    "record",
    "record_many",
    "unprocessed",
]

#: The PostgreSQL `NOTIFY` channel on which a new entry's meeting uuid is announced.
JOURNAL_CHANNEL = "balint_journal"

_TABLE = cast(Table, JournalEntry.__table__)


def append(
    session: Session,
    *,
    received_at: datetime,
    event: str,
    event_ts: int | None,
    meeting_uuid: str | None,
    dedupe_key: str,
    body: bytes,
    parsed_ok: bool,
    parse_error: str | None = None,
    redacted: bool = False,
) -> tuple[JournalEntry, bool]:
    """Journal one delivery unless one with the same `dedupe_key` is already there.

    Args:
        received_at: when the request arrived (aware).
        event: Zoom's event name ("" if the body had none).
        event_ts: Zoom's event time in epoch milliseconds, if the body had one.
        meeting_uuid: the meeting instance the event belongs to, if any.
        dedupe_key: equal for Zoom's retries of one event (`webhooks.parse.dedupe_key`).
        body: the raw request body, byte for byte (or its redacted form, see `redacted`).
        parsed_ok: False if the body did not fit our models.
        parse_error: why it did not (no payload values).
        redacted: `body` is not the received body: chat text was removed from it (the
            dedupe key is still the original's).

    Returns:
        The journal entry (the earlier one for a duplicate) and True if it was new.

    Raises:
        ValueError: `dedupe_key` is empty or too long.
        sqlalchemy.exc.SQLAlchemyError: the database refused the write (the caller answers
            503 so Zoom retries).
    """
    entry_id, is_new = record(
        session,
        received_at=received_at,
        event=event,
        event_ts=event_ts,
        meeting_uuid=meeting_uuid,
        dedupe_key=dedupe_key,
        body=body,
        parsed_ok=parsed_ok,
        parse_error=parse_error,
        redacted=redacted,
    )
    stored = session.get(JournalEntry, entry_id)
    assert stored is not None
    return stored, is_new


def record(
    session: Session,
    *,
    received_at: datetime,
    event: str,
    event_ts: int | None,
    meeting_uuid: str | None,
    dedupe_key: str,
    body: bytes,
    parsed_ok: bool,
    parse_error: str | None = None,
    redacted: bool = False,
) -> tuple[int, bool]:
    """`append` without loading the entry: (entry id, is new); `record_many` of one."""
    delivery = Delivery(
        received_at=received_at,
        event=event,
        event_ts=event_ts,
        meeting_uuid=meeting_uuid,
        dedupe_key=dedupe_key,
        body=body,
        parsed_ok=parsed_ok,
        parse_error=parse_error,
        redacted=redacted,
    )
    [result] = record_many(session, [delivery])
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One delivery for `record_many` (the arguments of `record`)."""

    received_at: datetime
    event: str
    event_ts: int | None
    meeting_uuid: str | None
    dedupe_key: str
    body: bytes
    parsed_ok: bool
    parse_error: str | None = None
    redacted: bool = False


def record_many(db: Connectable, deliveries: list[Delivery]) -> list[tuple[int, bool]]:
    """`record` for several deliveries in one insert: (entry id, is new) for each, in order.

    A key seen twice in the batch is new only the first time (the second is its duplicate).

    The receiver runs this on a writer thread for every batch while its event loop answers
    the next requests, and the Python it runs holds the loop's GIL: it is the driver's SQL,
    written once per dialect and batch size (`_insert_text`), with the values converted by
    the columns' own bind processors, not a SQLAlchemy statement compiled from the table
    (whose execution built a parameter dictionary per row and ran every column through
    its type: docs/benchmarks.md, "twenty-eighth round"). It still runs through the
    connection, so its events fire and the driver's errors arrive as SQLAlchemy's.

    Raises:
        ValueError: a `dedupe_key` is empty or too long (nothing is written).
        sqlalchemy.exc.SQLAlchemyError: the database refused the write.
    """
    if not deliveries:
        return []
    for delivery in deliveries:
        key = delivery.dedupe_key
        if not key or len(key) > DEDUPE_KEY_LENGTH:
            raise ValueError("dedupe_key must be 1 to 200 characters")
    connection = connection_of(db)
    dialect = connection.dialect
    convert = _converters(dialect)
    inserted: dict[str, int] = {}
    for start in range(0, len(deliveries), _ROWS_PER_INSERT):
        chunk = deliveries[start : start + _ROWS_PER_INSERT]
        values: list[Any] = []
        for delivery in chunk:
            uuid = delivery.meeting_uuid
            values += (
                convert.received_at(delivery.received_at),
                delivery.event[:128],
                delivery.event_ts,
                uuid[:128] if uuid is not None else None,
                delivery.dedupe_key,
                convert.body(delivery.body),
                convert.parsed_ok(delivery.parsed_ok),
                delivery.parse_error,
                convert.redacted(delivery.redacted),
            )
        returned = connection.exec_driver_sql(_insert_text(dialect, len(chunk)), tuple(values))
        inserted.update((key, entry_id) for entry_id, key in returned)
    missing = {delivery.dedupe_key for delivery in deliveries} - inserted.keys()
    earlier: dict[str, int] = {}
    if missing:
        found = select(JournalEntry.id, JournalEntry.dedupe_key).where(
            JournalEntry.dedupe_key.in_(missing)
        )
        earlier = {key: entry_id for entry_id, key in connection.execute(found)}
    results: list[tuple[int, bool]] = []
    for delivery in deliveries:
        key = delivery.dedupe_key
        if key in inserted:
            results.append((inserted.pop(key), True))
            earlier[key] = results[-1][0]
        else:
            results.append((earlier[key], False))
    return results


#: The columns `record_many` writes, in the order of its values.
_RECORDED = (
    "received_at",
    "event",
    "event_ts",
    "meeting_uuid",
    "dedupe_key",
    "body",
    "parsed_ok",
    "parse_error",
    "redacted",
)
#: Most rows in one of `record_many`'s statements: 1,800 values, far below SQLite's and
#: PostgreSQL's limits (32,766 and 65,535); the receiver's batches are at most 200.
_ROWS_PER_INSERT = 200


@functools.cache
def _insert_text(dialect: Dialect, rows: int) -> str:
    """The driver's `INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id,
    dedupe_key` of `rows` rows of `_RECORDED`, in the driver's parameter style."""
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    row = "(" + ", ".join(marker for _ in _RECORDED) + ")"
    return (
        f"INSERT INTO {quote(_TABLE.name)} ({', '.join(quote(name) for name in _RECORDED)})"
        f" VALUES {', '.join(row for _ in range(rows))}"
        f" ON CONFLICT ({quote('dedupe_key')}) DO NOTHING"
        f" RETURNING {quote('id')}, {quote('dedupe_key')}"
    )


@dataclass(frozen=True, slots=True)
class _Converters:
    """What the journal's column types make of a value for `dialect`'s driver (their bind
    processors; the value itself where a type has none)."""

    received_at: Callable[[Any], Any]
    body: Callable[[Any], Any]
    parsed_ok: Callable[[Any], Any]
    redacted: Callable[[Any], Any]


@functools.cache
def _converters(dialect: Dialect) -> _Converters:
    def of(name: str) -> Callable[[Any], Any]:
        processor = _TABLE.c[name].type.bind_processor(dialect)
        return processor if processor is not None else _unchanged

    return _Converters(
        received_at=of("received_at"),
        body=of("body"),
        parsed_ok=of("parsed_ok"),
        redacted=of("redacted"),
    )


def _unchanged(value: Any) -> Any:
    return value


def announce(db: Connectable, meeting_uuids: set[str]) -> None:
    """PostgreSQL: `NOTIFY` each meeting uuid on `JOURNAL_CHANNEL` when this transaction
    commits (nothing if it rolls back); other databases: nothing."""
    connection = connection_of(db)
    if not meeting_uuids or connection.dialect.name != "postgresql":
        return
    connection.execute(
        text("SELECT pg_notify(:channel, uuid) FROM unnest(CAST(:uuids AS text[])) AS uuid"),
        {"channel": JOURNAL_CHANNEL, "uuids": sorted(meeting_uuids)},
    )


def probe(db: Connectable, *, now: datetime) -> None:
    """Write a row into the journal and delete it again, in the caller's transaction.

    Committed, this is a real write (the database must take the lock and write its log),
    so it fails where a delivery's write would: locked, read-only, disk full. Nothing
    stays behind, and nothing else ever sees the row (it never commits on its own).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused the write.
    """
    key = f"probe:{secrets.token_hex(16)}"
    connection = connection_of(db)
    connection.execute(
        insert(_TABLE).values(
            received_at=now,
            event="",
            event_ts=None,
            meeting_uuid=None,
            dedupe_key=key,
            body=b"",
            parsed_ok=False,
            parse_error="readiness probe",
            redacted=False,
        )
    )
    connection.execute(delete(_TABLE).where(_TABLE.c.dedupe_key == key))


def entry(session: Session, *, entry_id: int) -> JournalEntry | None:
    """The journal entry with `entry_id`, if there is one."""
    return session.get(JournalEntry, entry_id)


def _in_event_order(statement: Select[JournalEntry]) -> Select[JournalEntry]:
    return statement.order_by(JournalEntry.event_ts.asc().nulls_first(), JournalEntry.id.asc())


def unprocessed(
    session: Session, *, meeting_uuid: str | None = None, limit: int = 500
) -> list[JournalEntry]:
    """Parsed entries not yet processed, oldest `event_ts` first (ties by arrival).

    Entries that failed to parse, or name no meeting instance (url validation, unknown
    account-level events), have nothing to feed the engine and are not listed.

    Args:
        meeting_uuid: only this meeting instance's entries; None for all meetings.
        limit: at most this many.
    """
    if meeting_uuid is None:
        return list(session.scalars(_UNPROCESSED, {"limit": limit}))
    return list(session.scalars(_UNPROCESSED_OF, {"uuid": meeting_uuid, "limit": limit}))


def has_unprocessed(session: Session, *, meeting_uuid: str) -> bool:
    """Whether `unprocessed(meeting_uuid=...)` would list anything (the worker asks before
    every step; one row of the partial index of pending entries, no entry loaded)."""
    return (
        session.connection().execute(_ANY_UNPROCESSED, {"uuid": meeting_uuid}).first() is not None
    )


def mark_unreadable(
    session: Session, *, entry_id: int, reason: str, processed_at: datetime
) -> bool:
    """Record that the runtime could not read entry `entry_id` (its body does not fit our
    models): unparsed, with `reason` (no payload values), and processed, so it is not read
    again. The body stays as it was journaled.

    Returns:
        True if this call marked it; False if it was already processed or does not exist.
    """
    return _finish(
        session, _MARK_UNREADABLE, entry_id=entry_id, done_at=processed_at, reason=reason[:2000]
    )


def mark_processed(session: Session, *, entry_id: int, processed_at: datetime) -> bool:
    """Record that the runtime has fed entry `entry_id`.

    Returns:
        True if this call marked it; False if it was already processed or does not exist,
        so two workers racing on one entry can tell which of them won.
    """
    return _finish(session, _MARK_PROCESSED, entry_id=entry_id, done_at=processed_at)


#: `unprocessed`: built once, not at every call (a meeting's every visit reads its entries:
#: building the statement and its cache key cost more than running it)
_UNPROCESSED = _in_event_order(
    select(JournalEntry).where(
        JournalEntry.processed_at.is_(None),
        JournalEntry.parsed_ok.is_(True),
        JournalEntry.meeting_uuid.is_not(None),
    )
).limit(bindparam("limit"))
_UNPROCESSED_OF = _UNPROCESSED.where(JournalEntry.meeting_uuid == bindparam("uuid"))

# The worker marks every entry it steps: these run on the Core table with bound parameters,
# built once (compiled once, no ORM bookkeeping). An entry object already loaded in the
# session keeps its old `processed_at`; nothing reads it after marking.
_ANY_UNPROCESSED = (
    select(_TABLE.c.id)
    .where(
        _TABLE.c.meeting_uuid == bindparam("uuid"),
        _TABLE.c.processed_at.is_(None),
        _TABLE.c.parsed_ok.is_(True),
    )
    .limit(1)
)
_UNFINISHED = update(_TABLE).where(
    _TABLE.c.id == bindparam("entry_id"), _TABLE.c.processed_at.is_(None)
)
_MARK_PROCESSED = _UNFINISHED.values(processed_at=bindparam("done_at"))
_MARK_UNREADABLE = _UNFINISHED.values(
    processed_at=bindparam("done_at"), parsed_ok=False, parse_error=bindparam("reason")
)


def _finish(session: Session, statement: Update, **params: object) -> bool:
    """Run one of the marking statements; True if it marked the entry (and only it)."""
    return session.connection().execute(statement, params).rowcount == 1


def entries_for_meeting(session: Session, *, meeting_uuid: str) -> list[JournalEntry]:
    """Every entry of one meeting instance, parsed or not, in `event_ts` then arrival order."""
    statement = select(JournalEntry).where(JournalEntry.meeting_uuid == meeting_uuid)
    return list(session.scalars(_in_event_order(statement)))
