"""Storage functions of the durable runtime: state, wake-ups, the action log and leases.

Every function takes the SQLAlchemy session explicitly and keyword-only arguments, flushes
but never commits: the caller owns the transaction, so a runtime step can save the engine
state, its wake-ups, its planned actions and the journal's processed marks atomically. The
ones a worker runs on its every action (the lease, claims, outcomes, what a stopped process
left, the meeting's row) take a Core connection in a transaction as well
(`storage.db.Connectable`).

Leases are a compare-and-set in one statement (`UPDATE ... WHERE owner = me OR expired`),
falling back to an `INSERT ... ON CONFLICT DO NOTHING` when no row exists; a concurrent
insert loses on the primary key (it waits for the winner's commit, then inserts nothing).
That is atomic on SQLite (writers are serialised) and on PostgreSQL
(the `UPDATE` re-checks its `WHERE` against the committed row).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Row,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from storage.db import Connectable, connection_of, insert_or_skip
from storage.tables.journal import JournalEntry
from storage.tables.runtime import RuntimeAction, RuntimeLease, RuntimeMeeting, RuntimeWakeup

__all__ = [
    "ActionRecord",
    "MeetingRecord",
    "PlannedAction",
    "abandon_leftovers",
    "acquire_lease",
    "actions_for_meeting",
    "claim_next_action",
    "create_meeting",
    "due_wakeups",
    "lease_owner",
    "live_leases",
    "live_meetings",
    "load_meeting",
    "meetings_with_work",
    "pending_actions",
    "pending_wakeups",
    "plan_actions",
    "record_outcome",
    "release_lease",
    "renew_leases",
    "replace_wakeups",
    "save_state",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingRecord:
    """A meeting's stored runtime state."""

    meeting_uuid: str
    meeting_id: str
    state_json: str
    last_event_ts: int
    last_now: datetime
    ended: bool
    cursors: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedAction:
    """An action to log: `key` is unique per meeting and names the action's cause."""

    key: str
    kind: str
    payload: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRecord:
    """A logged action and what became of it."""

    id: int
    meeting_uuid: str
    key: str
    kind: str
    payload: str
    status: str
    code: str
    error: str


# The statements every step of a meeting runs (its lease, state, actions) are built once on
# the Core tables and run with bound parameters on the session's connection: compiled once,
# and no ORM bookkeeping. They return plain records, never ORM objects, so nothing in a
# session's identity map can go stale behind them.
_MEETINGS = cast(Table, RuntimeMeeting.__table__)
_ACTIONS = cast(Table, RuntimeAction.__table__)
_LEASES = cast(Table, RuntimeLease.__table__)
_WAKEUPS = cast(Table, RuntimeWakeup.__table__)

_LOAD_MEETING = select(_MEETINGS).where(_MEETINGS.c.meeting_uuid == bindparam("uuid"))
_SAVE_STATE = (
    update(_MEETINGS)
    .where(_MEETINGS.c.meeting_uuid == bindparam("uuid"))
    .values(
        state_json=bindparam("state"),
        last_event_ts=bindparam("event_ts"),
        last_now=bindparam("at"),
        ended=bindparam("is_ended"),
        updated_at=bindparam("at"),
    )
)
_SAVE_STATE_AND_CURSORS = _SAVE_STATE.values(cursors_json=bindparam("cursors"))
_PENDING_ACTIONS = (
    select(_ACTIONS)
    .where(_ACTIONS.c.meeting_uuid == bindparam("uuid"), _ACTIONS.c.status == "planned")
    .order_by(_ACTIONS.c.id)
)


def _claim_first_of(pending: Select[Any]) -> Update:
    """Move the first action of `pending` to `executing`, if it is still planned, returning
    what an `ActionRecord` holds."""
    return (
        update(_ACTIONS)
        .where(
            _ACTIONS.c.id == pending.with_only_columns(_ACTIONS.c.id).limit(1).scalar_subquery(),
            _ACTIONS.c.status == "planned",
        )
        .values(status="executing", owner=bindparam("by"))
        .returning(
            _ACTIONS.c.id,
            _ACTIONS.c.meeting_uuid,
            _ACTIONS.c.action_key,
            _ACTIONS.c.kind,
            _ACTIONS.c.payload,
            _ACTIONS.c.status,
            _ACTIONS.c.code,
            _ACTIONS.c.error,
        )
    )


_CLAIM_NEXT = _claim_first_of(_PENDING_ACTIONS)
_CLAIM_NEXT_PASSING = _claim_first_of(_PENDING_ACTIONS.where(_ACTIONS.c.kind != bindparam("past")))
_ABANDON = (
    update(_ACTIONS)
    .where(
        _ACTIONS.c.meeting_uuid == bindparam("uuid"),
        or_(
            _ACTIONS.c.status == "executing",
            and_(_ACTIONS.c.status == "planned", _ACTIONS.c.created_at < bindparam("before")),
        ),
    )
    .values(status=case((_ACTIONS.c.status == "executing", "interrupted"), else_="expired"))
    .returning(_ACTIONS.c.status)
)
_OUTCOME = (
    update(_ACTIONS)
    .where(_ACTIONS.c.id == bindparam("action_id"))
    .values(
        status=bindparam("result"),
        code=bindparam("result_code"),
        error=bindparam("message"),
        executed_at=bindparam("at"),
    )
)
_TAKE_LEASE = (
    update(_LEASES)
    .where(
        _LEASES.c.meeting_uuid == bindparam("uuid"),
        or_(_LEASES.c.owner == bindparam("by"), _LEASES.c.expires_at <= bindparam("at")),
    )
    .values(
        owner=bindparam("by"),
        expires_at=bindparam("until"),
        acquired_at=bindparam("at"),
        takes=_LEASES.c.takes + 1,
    )
    .returning(_LEASES.c.takes)
)
_RENEW_LEASES = (
    update(_LEASES)
    .where(
        _LEASES.c.meeting_uuid.in_(bindparam("uuids", expanding=True)),
        _LEASES.c.owner == bindparam("by"),
        _LEASES.c.expires_at > bindparam("at"),
    )
    .values(expires_at=bindparam("until"))
    .returning(_LEASES.c.meeting_uuid)
)
_LEASE_OF = select(_LEASES.c.owner, _LEASES.c.expires_at).where(
    _LEASES.c.meeting_uuid == bindparam("uuid")
)
_LIVE_LEASES = select(_LEASES.c.meeting_uuid, _LEASES.c.owner).where(
    _LEASES.c.expires_at > bindparam("now")
)
#: A released lease's expiry: before anyone's clock, so the next take finds it free.
_RELEASED = datetime(1970, 1, 1, tzinfo=UTC)
_DROP_WAKEUP = delete(_WAKEUPS).where(
    _WAKEUPS.c.meeting_uuid == bindparam("uuid"), _WAKEUPS.c.timer == bindparam("name")
)
_PENDING_WAKEUPS = select(_WAKEUPS.c.timer, _WAKEUPS.c.due_at).where(
    _WAKEUPS.c.meeting_uuid == bindparam("uuid")
)


def _record(row: RuntimeMeeting | Row[Any]) -> MeetingRecord:
    return MeetingRecord(
        meeting_uuid=row.meeting_uuid,
        meeting_id=row.meeting_id,
        state_json=row.state_json,
        last_event_ts=row.last_event_ts,
        last_now=row.last_now,
        ended=row.ended,
        cursors={str(k): int(v) for k, v in json.loads(row.cursors_json).items()},
    )


def load_meeting(db: Connectable, *, meeting_uuid: str) -> MeetingRecord | None:
    """The stored runtime state of `meeting_uuid`, or None if it has none yet."""
    row = connection_of(db).execute(_LOAD_MEETING, {"uuid": meeting_uuid}).first()
    return None if row is None else _record(row)


def create_meeting(
    session: Session, *, meeting_uuid: str, meeting_id: str, state_json: str, now: datetime
) -> MeetingRecord | None:
    """Store a new meeting's initial state: the record stored, or None if the meeting has
    one already (nothing changed).

    One `INSERT ... ON CONFLICT DO NOTHING`: no savepoint, and no ORM unit of work for a row
    written once (a meeting's first visit, which all of an evening's meetings make at once).
    """
    at = now.astimezone(UTC)
    row = {
        "meeting_uuid": meeting_uuid,
        "meeting_id": meeting_id,
        "state_json": state_json,
        "last_event_ts": 0,
        "cursors_json": "{}",
        "last_now": at,
        "ended": False,
        "created_at": at,
        "updated_at": at,
    }
    statement = insert_or_skip(
        _MEETINGS, session.get_bind().dialect.name, ("meeting_uuid",), ("meeting_uuid",)
    )
    if session.connection().execute(statement, row).first() is None:
        return None
    return MeetingRecord(
        meeting_uuid=meeting_uuid,
        meeting_id=meeting_id,
        state_json=state_json,
        last_event_ts=0,
        last_now=at,
        ended=False,
        cursors={},
    )


def save_state(
    session: Session,
    *,
    meeting_uuid: str,
    state_json: str,
    last_event_ts: int,
    last_now: datetime,
    ended: bool,
    cursors: Mapping[str, int] | None = None,
) -> None:
    """Replace a meeting's engine state and cursors (the meeting must exist).

    `cursors` (participant key or "" -> newest fed `event_ts`) is left as it is when None.
    """
    values: dict[str, object] = {
        "uuid": meeting_uuid,
        "state": state_json,
        "event_ts": last_event_ts,
        "at": last_now,
        "is_ended": ended,
    }
    statement = _SAVE_STATE
    if cursors is not None:
        values["cursors"] = json.dumps(dict(cursors), sort_keys=True)
        statement = _SAVE_STATE_AND_CURSORS
    session.connection().execute(statement, values)


def live_meetings(session: Session) -> list[str]:
    """Uuids of meetings whose runtime has not ended, oldest first."""
    rows = session.scalars(
        select(RuntimeMeeting.meeting_uuid)
        .where(RuntimeMeeting.ended.is_(False))
        .order_by(RuntimeMeeting.created_at, RuntimeMeeting.meeting_uuid)
    )
    return list(rows)


def meetings_with_work(
    session: Session, *, now: datetime, running: Collection[str] = ()
) -> list[str]:
    """Meeting uuids a worker must look at: unprocessed parsed journal entries, a runtime
    that has not ended, or a wake-up due at `now`; each once, in that order.

    `running`: meetings the worker already runs, whose runtime not having ended is no
    reason to look (they are listed for an entry or a due wake-up only). A worker looks at
    the live meetings it does not run to take them up (after a restart, or a replica's
    lease that ran out); looking at those it runs would find nothing to do, one transaction
    each per sweep.
    """
    journaled = session.scalars(
        select(JournalEntry.meeting_uuid)
        .where(
            JournalEntry.processed_at.is_(None),
            JournalEntry.parsed_ok.is_(True),
            JournalEntry.meeting_uuid.is_not(None),
        )
        .distinct()
    )
    uuids: list[str | None] = list(journaled)
    uuids += [uuid for uuid in live_meetings(session) if uuid not in running]
    uuids += [uuid for uuid, _timer, _due in due_wakeups(session, now=now)]
    return list(dict.fromkeys(uuid for uuid in uuids if uuid is not None))


def replace_wakeups(
    session: Session,
    *,
    meeting_uuid: str,
    wakeups: Mapping[str, datetime],
    stored: Mapping[str, datetime],
) -> None:
    """Make `wakeups` (timer name -> due time) the meeting's complete set of pending timers.

    `stored`: the set the database holds now (the runtime read it, or saved it, under the
    lease; empty for a new meeting). Only the timers that went or moved are deleted and
    only those that came or moved are inserted: usually one statement for a step that
    fires a timer.
    """
    connection = session.connection()
    gone = [
        {"uuid": meeting_uuid, "name": timer}
        for timer, due in sorted(stored.items())
        if wakeups.get(timer) != due
    ]
    if gone:
        connection.execute(_DROP_WAKEUP, gone)
    rows = [
        {"meeting_uuid": meeting_uuid, "timer": timer, "due_at": due}
        for timer, due in sorted(wakeups.items())
        if stored.get(timer) != due
    ]
    if rows:
        connection.execute(_WAKEUPS.insert(), rows)


def pending_wakeups(session: Session, *, meeting_uuid: str) -> dict[str, datetime]:
    """The meeting's pending timers: name -> due time (UTC)."""
    rows = session.connection().execute(_PENDING_WAKEUPS, {"uuid": meeting_uuid})
    return {str(timer): due for timer, due in rows}


def due_wakeups(
    session: Session, *, now: datetime, meeting_uuid: str | None = None
) -> list[tuple[str, str, datetime]]:
    """Timers due at `now`: `(meeting_uuid, timer, due_at)`, earliest first."""
    query = select(RuntimeWakeup.meeting_uuid, RuntimeWakeup.timer, RuntimeWakeup.due_at).where(
        RuntimeWakeup.due_at <= now
    )
    if meeting_uuid is not None:
        query = query.where(RuntimeWakeup.meeting_uuid == meeting_uuid)
    rows = session.execute(
        query.order_by(RuntimeWakeup.due_at, RuntimeWakeup.meeting_uuid, RuntimeWakeup.timer)
    )
    return [(uuid, timer, due) for uuid, timer, due in rows]


def plan_actions(
    session: Session,
    *,
    meeting_uuid: str,
    actions: Sequence[PlannedAction],
    owner: str,
    now: datetime,
) -> None:
    """Log actions as `planned`, in the order given (their ids ascend in it), each unless
    its key was logged before: one statement for all of them (a step at the meditation's
    end plans an admission per latecomer)."""
    if not actions:
        return
    statement = insert_or_skip(
        _ACTIONS, session.get_bind().dialect.name, ("meeting_uuid", "action_key")
    )
    session.connection().execute(
        statement,
        [
            {
                "meeting_uuid": meeting_uuid,
                "action_key": action.key,
                "kind": action.kind,
                "payload": action.payload,
                "status": "planned",
                "code": "",
                "error": "",
                "owner": owner,
                "created_at": now,
                "executed_at": None,
            }
            for action in actions
        ],
    )


def _action(row: RuntimeAction | Row[Any]) -> ActionRecord:
    return ActionRecord(
        id=row.id,
        meeting_uuid=row.meeting_uuid,
        key=row.action_key,
        kind=row.kind,
        payload=row.payload,
        status=row.status,
        code=row.code,
        error=row.error,
    )


def pending_actions(session: Session, *, meeting_uuid: str) -> list[ActionRecord]:
    """Actions planned but not yet claimed, in the order they were planned."""
    rows = session.connection().execute(_PENDING_ACTIONS, {"uuid": meeting_uuid})
    return [_action(row) for row in rows]


def actions_for_meeting(
    session: Session, *, meeting_uuid: str, kind: str | None = None
) -> list[ActionRecord]:
    """Every logged action of a meeting (optionally of one kind), in planning order."""
    query = select(RuntimeAction).where(RuntimeAction.meeting_uuid == meeting_uuid)
    if kind is not None:
        query = query.where(RuntimeAction.kind == kind)
    return [_action(row) for row in session.scalars(query.order_by(RuntimeAction.id))]


def claim_next_action(
    db: Connectable, *, meeting_uuid: str, owner: str, passing: str | None = None
) -> ActionRecord | None:
    """Move the meeting's first planned action (in planning order) to `executing`, in one
    compare-and-set statement, and return it; None if none is planned, or if the one found
    was claimed by someone else meanwhile (who then carries on from there). `passing`: a
    kind passed over, left planned (the first planned action of any other kind is
    claimed)."""
    if passing is None:
        row = connection_of(db).execute(_CLAIM_NEXT, {"uuid": meeting_uuid, "by": owner})
    else:
        values = {"uuid": meeting_uuid, "by": owner, "past": passing}
        row = connection_of(db).execute(_CLAIM_NEXT_PASSING, values)
    found = row.first()
    return None if found is None else _action(found)


def record_outcome(
    db: Connectable, *, action_id: int, status: str, code: str, error: str, now: datetime
) -> None:
    """Record what became of a claimed action (`done`, `refused` or `not_executed`)."""
    values = {
        "action_id": action_id,
        "result": status,
        "result_code": code,
        "message": error[:2000],
        "at": now,
    }
    connection_of(db).execute(_OUTCOME, values)


def abandon_leftovers(
    db: Connectable, *, meeting_uuid: str, planned_before: datetime
) -> tuple[int, int]:
    """What a stopped process left of a meeting's actions, in one statement: those left
    `executing` become `interrupted` (never retried: at most once), and those still
    `planned` since before `planned_before` become `expired` (too late to carry out after a
    long outage: a welcome line an hour late helps no one). Returns (interrupted, expired)."""
    values = {"uuid": meeting_uuid, "before": planned_before}
    statuses = connection_of(db).execute(_ABANDON, values).scalars().all()
    interrupted = statuses.count("interrupted")
    return interrupted, len(statuses) - interrupted


def acquire_lease(
    db: Connectable,
    *,
    meeting_uuid: str,
    owner: str,
    ttl: timedelta,
    now: datetime,
) -> int | None:
    """Take (or keep) the lease on a meeting's runtime for `ttl`: the lease's takes so far,
    this one included, or None if another replica holds it.

    Succeeds when no one holds it, when `owner` already holds it (this renews it), or when
    the holder's lease has expired. Commit promptly: the lease is visible to other replicas
    only once committed.

    Every take counts, and the count never starts over (`release_lease` expires the row, it
    does not delete it): a take that returns one more than the caller's own last committed
    take proves that no one took the lease in between. Concurrent takes cannot both see the
    same count: the second waits on the first's row lock (PostgreSQL) or on the write lock
    (SQLite).
    """
    at = now
    values = {"uuid": meeting_uuid, "by": owner, "at": at, "until": at + ttl}
    connection = connection_of(db)
    takes = connection.execute(_TAKE_LEASE, values).scalar_one_or_none()
    if takes is not None:
        return int(takes)
    # Nobody's row to take: the first take, unless someone else holds the row (then the
    # insert does nothing; a concurrent first take waits for the other's commit, and finds
    # its row)
    first = {
        "meeting_uuid": meeting_uuid,
        "owner": owner,
        "expires_at": at + ttl,
        "acquired_at": at,
        "takes": 1,
    }
    statement = insert_or_skip(_LEASES, connection.dialect.name, ("meeting_uuid",), ("takes",))
    return 1 if connection.execute(statement, first).first() is not None else None


def renew_leases(
    session: Session,
    *,
    meeting_uuids: Collection[str],
    owner: str,
    ttl: timedelta,
    now: datetime,
) -> set[str]:
    """Extend the leases `owner` still holds (unexpired) on `meeting_uuids`, in one
    statement; returns the meetings renewed (the others' leases were lost)."""
    if not meeting_uuids:
        return set()
    rows = session.connection().execute(
        _RENEW_LEASES,
        {"uuids": list(meeting_uuids), "by": owner, "at": now, "until": now + ttl},
    )
    return {uuid for (uuid,) in rows}


def release_lease(session: Session, *, meeting_uuid: str, owner: str) -> bool:
    """Give up a lease `owner` holds, so another replica can take it at once. The row stays,
    expired, so its count of takes goes on (`acquire_lease`)."""
    result = session.execute(
        update(RuntimeLease)
        .where(
            RuntimeLease.meeting_uuid == meeting_uuid,
            RuntimeLease.owner == owner,
            RuntimeLease.expires_at > _RELEASED,
        )
        .values(expires_at=_RELEASED)
    )
    return _rowcount(result) == 1


def lease_owner(session: Session, *, meeting_uuid: str, now: datetime) -> str | None:
    """Who holds an unexpired lease on the meeting, or None."""
    row = session.connection().execute(_LEASE_OF, {"uuid": meeting_uuid}).first()
    if row is None or row.expires_at <= now:
        return None
    return str(row.owner)


def live_leases(db: Connectable, *, now: datetime) -> list[tuple[str, str]]:
    """(meeting uuid, owner) of every lease unexpired at `now`."""
    rows = connection_of(db).execute(_LIVE_LEASES, {"now": now})
    return [(str(uuid), str(owner)) for uuid, owner in rows]


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
