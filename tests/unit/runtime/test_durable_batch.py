"""The durable runtime steps a meeting's pending journal entries in batches, one transaction
each, with the same outcome as one entry per transaction; a failed batch falls back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.agenda import agenda_from_settings
from bot.config import Settings
from bot.runtime.durable import BATCH, Decoded, MeetingRuntime
from phases.actions import Action
from phases.engine import new_session
from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Event,
    Joined,
    Left,
    MeetingStarted,
    Participant,
    ZoomRole,
)
from phases.roster import RosterEntry
from phases.state import SessionState
from storage import journal
from storage import runtime_state as rs
from storage.db import bound_engine, session_scope
from storage.journal import JournalEntry
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

FAY = Participant(key="kf", user_id="16777216", name="Fay")
PEOPLE = [Participant(key=f"k{n}", user_id=str(16778240 + n), name=f"Member {n}") for n in range(8)]
CROWD = [Participant(key=f"m{n}", user_id=str(17000000 + n), name=f"Crowd {n}") for n in range(70)]
ROSTER = (
    RosterEntry(display_name="Fay", role="facilitator"),
    *(RosterEntry(display_name=p.name) for p in [*PEOPLE, *CROWD]),
)
TTL = timedelta(seconds=30)


def _runtime(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    meeting: RecordingMeeting,
    uuid: str,
    *,
    batch_seconds: float | None = None,
) -> MeetingRuntime:
    return MeetingRuntime(
        meeting_uuid=uuid,
        control=meeting,
        hooks=hooks,
        session_factory=factory,
        owner="a",
        lease_ttl=TTL,
        clock=clock,
        batch_seconds=batch_seconds,
    )


class _Hooks(ScriptedHooks):
    """Scripted hooks whose roster names everyone these tests let in."""

    def start_session(
        self, session: Session, *, meeting_uuid: str, meeting_id: str, now: datetime
    ) -> tuple[SessionState, Sequence[Action]]:
        self.started.append(meeting_uuid)
        return new_session(
            agenda=agenda_from_settings(Settings()), roster=ROSTER, scheduled_start=START
        )


class _Statements:
    """SQL statements the engine ran, as their first words and table."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[str] = []
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.seen.append(" ".join(statement.split()[:3]).upper())

    def count(self, prefix: str) -> int:
        return sum(1 for s in self.seen if s.startswith(prefix.upper()))

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)


@pytest.fixture
def statements(factory: sessionmaker[Session]) -> Iterator[_Statements]:
    engine = bound_engine(factory)
    assert isinstance(engine, Engine)
    spy = _Statements(engine)
    yield spy
    spy.close()


def _post(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    uuid: str,
    label: str,
    at: datetime,
    *events: Event,
) -> int:
    with session_scope(factory) as s:
        return hooks.journal(s, meeting_uuid=uuid, label=f"{uuid}:{label}", at=at, events=events)


def _arrivals(
    factory: sessionmaker[Session], hooks: ScriptedHooks, clock: HandClock, uuid: str
) -> list[int]:
    """Journal a busy start of an evening for `uuid`; returns the entry ids."""
    ids = [_post(factory, hooks, uuid, "start", clock(), MeetingStarted())]
    clock.advance(seconds=5)
    ids.append(
        _post(factory, hooks, uuid, "fay", clock(), Joined(participant=FAY, role=ZoomRole.HOST))
    )
    for n, person in enumerate(PEOPLE):
        clock.advance(seconds=3)
        ids.append(
            _post(
                factory,
                hooks,
                uuid,
                f"arrive{n}",
                clock(),
                ArrivedInWaitingRoom(participant=person),
            )
        )
        clock.advance(seconds=1)
        ids.append(_post(factory, hooks, uuid, f"join{n}", clock(), Joined(participant=person)))
    clock.advance(seconds=2)
    ids.append(_post(factory, hooks, uuid, "left0", clock(), Left(participant=PEOPLE[0])))
    return ids


def _stragglers(
    factory: sessionmaker[Session], hooks: ScriptedHooks, clock: HandClock, uuid: str
) -> list[int]:
    """Then a late retry of an older "joined", a poison entry, a chat command, a newcomer."""
    late = _post(
        factory,
        hooks,
        uuid,
        "late-join0",
        clock() - timedelta(seconds=20),
        Joined(participant=PEOPLE[0]),
    )
    clock.advance(seconds=1)
    poison = _post(factory, hooks, uuid, "poison", clock())
    del hooks.script[f"{uuid}:poison"]  # decode raises KeyError for it
    clock.advance(seconds=1)
    chat = _post(
        factory,
        hooks,
        uuid,
        "chat",
        clock(),
        ChatMessage(sender=FAY, text="/case Zed", message_id="MS17QzIy"),
    )
    clock.advance(seconds=1)
    again = _post(
        factory, hooks, uuid, "arrive0-again", clock(), ArrivedInWaitingRoom(participant=PEOPLE[0])
    )
    return [late, poison, chat, again]


def _outcome(
    factory: sessionmaker[Session], runtime: MeetingRuntime, ids: list[int]
) -> tuple[object, ...]:
    """What the runtime left in storage, with entry ids replaced by posting positions."""
    position = {f"j{entry_id}:": f"j#{n}:" for n, entry_id in enumerate(ids)}
    uuid = runtime.meeting_uuid
    with session_scope(factory) as s:
        log = []
        for action in rs.actions_for_meeting(s, meeting_uuid=uuid):
            key = action.key
            for raw, stable in position.items():
                if key.startswith(raw) or key.startswith(f"refused:{raw}"):
                    key = key.replace(raw, stable, 1)
            log.append((key, action.kind, action.payload, action.status))
        record = rs.load_meeting(s, meeting_uuid=uuid)
        unprocessed = journal.unprocessed(s, meeting_uuid=uuid)
    assert record is not None
    return (
        tuple(log),
        record.state_json,
        record.cursors,
        record.last_event_ts,
        record.last_now,
        runtime.pending_wakeups(),
        len(unprocessed),
    )


def test_a_batch_leaves_exactly_what_one_entry_per_transaction_leaves(
    factory: sessionmaker[Session], statements: _Statements
) -> None:
    hooks = _Hooks()
    one, many = RecordingMeeting(), RecordingMeeting()
    clock_one = HandClock(START - timedelta(minutes=10))
    clock_many = HandClock(START - timedelta(minutes=10))
    singly = _runtime(factory, hooks, clock_one, one, "one-by-one==")
    batched = _runtime(factory, hooks, clock_many, many, "batched==")

    async def one_by_one() -> None:  # what process_journal did before batches
        with session_scope(factory) as s:
            pending = [e.id for e in journal.unprocessed(s, meeting_uuid=singly.meeting_uuid)]
        for entry_id in pending:
            singly._step_entry(entry_id)
            await singly._execute_planned()

    ids_one = _arrivals(factory, hooks, clock_one, "one-by-one==")
    ids_many = _arrivals(factory, hooks, clock_many, "batched==")
    asyncio.run(one_by_one())
    saves_before = statements.count("UPDATE runtime_meetings SET")
    first = asyncio.run(batched.process_journal())
    assert statements.count("UPDATE runtime_meetings SET") - saves_before == 1  # one save
    assert (first.handled, first.dropped) == (len(ids_many), 0)

    ids_one += _stragglers(factory, hooks, clock_one, "one-by-one==")
    ids_many += _stragglers(factory, hooks, clock_many, "batched==")
    asyncio.run(one_by_one())
    second = asyncio.run(batched.process_journal())
    assert (second.handled, second.dropped) == (4, 2)  # the late retry, the poison

    assert _outcome(factory, singly, ids_one) == _outcome(factory, batched, ids_many)
    assert one.calls == many.calls
    assert [what for what, _ in many.calls].count("admit") == len(PEOPLE) + 1
    assert "MS17QzIy" in (batched.load_state() or pytest.fail()).to_json()  # the chat was fed


@pytest.mark.parametrize(("batch_seconds", "transactions"), [(None, -(-71 // BATCH)), (0.0, 71)])
def test_more_entries_than_a_batch_take_several_transactions_in_event_order(
    factory: sessionmaker[Session],
    statements: _Statements,
    batch_seconds: float | None,
    transactions: int,
) -> None:
    """Cut by count (`BATCH` entries), or by time: with no time at all, each batch steps
    the one entry it always steps, and the visit goes on until none is left."""
    hooks = _Hooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    uuid = "many-arrivals=="
    runtime = _runtime(factory, hooks, clock, meeting, uuid, batch_seconds=batch_seconds)
    people = CROWD
    with session_scope(factory) as s:
        hooks.journal(s, meeting_uuid=uuid, label="start", at=clock(), events=[MeetingStarted()])
        for n, person in enumerate(people):
            hooks.journal(
                s,
                meeting_uuid=uuid,
                label=f"arrive{n}",
                at=clock() + timedelta(milliseconds=10 * (n + 1)),
                events=[ArrivedInWaitingRoom(participant=person)],
            )
    report = asyncio.run(runtime.process_journal())
    assert report.handled == 71
    assert statements.count("UPDATE runtime_meetings SET") == transactions
    assert meeting.admits() == [person.user_id for person in people]


class _FlakyHooks(_Hooks):
    """Hooks whose presence recording fails with a database error for one entry, once."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_on: int | None = None
        self.failures = 0

    def record_presence(
        self, session: Session, *, meeting_uuid: str, entry: JournalEntry, decoded: Decoded
    ) -> None:
        if entry.id == self.fail_on and self.failures == 0:
            self.failures += 1
            raise OperationalError("INSERT INTO attendance", {}, Exception("database is locked"))
        super().record_presence(session, meeting_uuid=meeting_uuid, entry=entry, decoded=decoded)


def test_a_batch_that_fails_is_stepped_one_entry_per_transaction_and_loses_nothing(
    factory: sessionmaker[Session],
) -> None:
    hooks = _FlakyHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    uuid = "flaky-batch=="
    runtime = _runtime(factory, hooks, clock, meeting, uuid)
    with session_scope(factory) as s:
        hooks.journal(s, meeting_uuid=uuid, label="start", at=clock(), events=[MeetingStarted()])
        ids = [
            hooks.journal(
                s,
                meeting_uuid=uuid,
                label=f"arrive{n}",
                at=clock() + timedelta(seconds=n + 1),
                events=[ArrivedInWaitingRoom(participant=person)],
            )
            for n, person in enumerate(PEOPLE[:4])
        ]
    hooks.fail_on = ids[2]
    report = asyncio.run(runtime.process_journal())
    assert hooks.failures == 1
    assert report.handled == 5
    assert meeting.admits() == [person.user_id for person in PEOPLE[:4]]
    with session_scope(factory) as s:
        assert journal.unprocessed(s, meeting_uuid=uuid) == []
        keys = [a.key for a in rs.actions_for_meeting(s, meeting_uuid=uuid, kind="admit")]
    assert keys == [f"j{entry_id}:0" for entry_id in ids]
    # presence: the rolled-back batch's calls for the first entries, then once per entry
    assert hooks.presence[-5:][1:] == ids


def test_wakeups_are_not_rewritten_when_a_step_leaves_them_unchanged(
    factory: sessionmaker[Session], statements: _Statements
) -> None:
    hooks = _Hooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    uuid = "steady-timers=="
    runtime = _runtime(factory, hooks, clock, meeting, uuid)
    with session_scope(factory) as s:
        hooks.journal(s, meeting_uuid=uuid, label="start", at=clock(), events=[MeetingStarted()])
    asyncio.run(runtime.process_journal())
    timers = runtime.pending_wakeups()
    assert timers
    deletes = statements.count("DELETE FROM runtime_wakeups")
    clock.advance(seconds=30)
    with session_scope(factory) as s:
        hooks.journal(
            s,
            meeting_uuid=uuid,
            label="arrive",
            at=clock(),
            events=[ArrivedInWaitingRoom(participant=PEOPLE[0])],
        )
    asyncio.run(runtime.process_journal())
    assert meeting.admits() == [PEOPLE[0].user_id]
    assert statements.count("DELETE FROM runtime_wakeups") == deletes
    assert runtime.pending_wakeups() == timers
