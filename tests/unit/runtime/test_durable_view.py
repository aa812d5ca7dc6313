"""What a runtime's steps cost in transactions, and the view of its meeting it keeps in
between: one transaction per step (which claims the first action it planned) and one per
action carried out (which claims the next); the wake-ups and the meeting's end are read from
the runtime's last committed step only while its lease holds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.durable import MeetingRuntime
from bot.runtime.worker import Worker
from phases.events import ArrivedInWaitingRoom, Joined, MeetingStarted, Participant, ZoomRole
from storage.db import session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

UUID = "ViewOfTheMeetingUUID=="
FAY = Participant(key="kf", user_id="16777216", name="Fay")
ANNA = Participant(key="ka", user_id="16778240", name="Anna")
TTL = timedelta(seconds=30)


class _Commits:
    """Transactions the database committed, and among their statements the lease writes and
    the reads of the meeting's person ids: whole (`id_reads`) or counted (`id_counts`)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.lease_writes = 0
        self.id_reads = 0
        self.id_counts = 0
        self._engine = engine
        event.listen(engine, "commit", self._seen)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE runtime_leases"):
            self.lease_writes += 1
        elif statement.startswith("SELECT") and "FROM runtime_person_keys" in statement:
            if statement.startswith("SELECT count("):
                self.id_counts += 1
            else:
                self.id_reads += 1

    def close(self) -> None:
        event.remove(self._engine, "commit", self._seen)
        event.remove(self._engine, "before_cursor_execute", self._statement)


@pytest.fixture
def commits(factory: sessionmaker[Session]) -> Iterator[_Commits]:
    engine = factory.kw["bind"]
    assert isinstance(engine, Engine)
    spy = _Commits(engine)
    yield spy
    spy.close()


def _post(
    factory: sessionmaker[Session], hooks: ScriptedHooks, clock: HandClock, label: str, *events: Any
) -> None:
    with session_scope(factory) as db:
        hooks.journal(db, meeting_uuid=UUID, label=label, at=clock(), events=events)


def _runtime(
    factory: sessionmaker[Session], hooks: ScriptedHooks, clock: HandClock, owner: str
) -> MeetingRuntime:
    return MeetingRuntime(
        meeting_uuid=UUID,
        control=RecordingMeeting(),
        hooks=hooks,
        session_factory=factory,
        owner=owner,
        lease_ttl=TTL,
        clock=clock,
    )


def _worker(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    meeting: RecordingMeeting,
) -> Worker:
    return Worker(
        session_factory=factory,
        control_factory=lambda _uuid: meeting,
        hooks=hooks,
        owner="a",
        clock=clock,
        lease_ttl=TTL,
        sweep_interval=3600,
    )


def test_a_webhook_costs_its_step_and_one_transaction_per_action(
    factory: sessionmaker[Session], commits: _Commits
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    worker = _worker(factory, hooks, clock, meeting)
    _post(
        factory,
        hooks,
        clock,
        "start",
        MeetingStarted(),
        Joined(participant=FAY, role=ZoomRole.HOST),
    )

    async def visit() -> tuple[int, int]:
        before = len(meeting.calls)
        start, leases = commits.count, commits.lease_writes
        await worker.process(UUID)
        carried_out = len(meeting.calls) - before
        assert carried_out > 0
        return commits.count - start - carried_out, commits.lease_writes - leases

    asyncio.run(worker.process(UUID))  # the first visit reads what it has no view of yet
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    # the step (which claims Anna's admission), then one per action carried out, each also
    # claiming the next: no transaction to look for actions, wake-ups or the meeting's end;
    # and the lease is written by the step alone (the outcome's, with no step to take, leaves
    # a lease that has most of its time left as it is)
    assert asyncio.run(visit()) == (1, 1)
    assert meeting.admits() == [ANNA.user_id]


def test_the_view_is_trusted_only_while_the_lease_holds(factory: sessionmaker[Session]) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    first = _runtime(factory, hooks, clock, "a")
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(first.process_journal())
    view = first.view()
    assert view is not None and view.wakeups == first.pending_wakeups()

    clock.advance(seconds=TTL.total_seconds())  # its lease expires: another replica may step
    assert first.view() is None
    second = _runtime(factory, hooks, clock, "b")
    clock.set(view.wakeups["meditation_start"])
    asyncio.run(second.fire_due_timers())  # the second replica fires the meditation's start
    armed = second.pending_wakeups()
    assert "meditation_start" not in armed

    # the second replica stops; the first takes the meeting back with its next step, and
    # its view is what the database holds, not what it last saw itself
    clock.advance(seconds=TTL.total_seconds())
    _post(factory, hooks, clock, "anna", Joined(participant=ANNA))
    asyncio.run(first.process_journal())
    taken_back = first.view()
    assert taken_back is not None and dict(taken_back.wakeups) == first.pending_wakeups()
    assert "meditation_start" not in taken_back.wakeups


def test_a_lease_the_worker_renews_keeps_the_view(factory: sessionmaker[Session]) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    worker = _worker(factory, hooks, clock, RecordingMeeting())
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(worker.process(UUID))
    runtime = worker.runtime(UUID)
    clock.advance(seconds=20)
    asyncio.run(worker.sweep())  # renews the lease of every meeting the worker runs
    clock.advance(seconds=20)  # past the lease the runtime's own step took
    assert runtime.view() is not None
    clock.advance(seconds=20)  # past the renewed one too
    assert runtime.view() is None


def test_person_ids_are_read_whole_once_then_only_counted(
    factory: sessionmaker[Session], commits: _Commits
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    runtime = _runtime(factory, hooks, clock, "a")
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(runtime.process_journal())
    assert commits.id_reads == 1
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(runtime.process_journal())
    assert commits.id_reads == 1  # Fay's ids and Anna's new ones, as the steps left them
    assert commits.id_counts >= 1
    state = runtime.load_state()
    assert state is not None and sorted(p.name for p in state.people.values()) == ["Anna", "Fay"]


def test_person_ids_another_runtime_of_the_owner_added_are_read_again(
    factory: sessionmaker[Session], commits: _Commits
) -> None:
    """A runtime of the same owner still in flight (after a restart) may step the meeting
    under the same lease: the ids it records change the count, and the first runtime reads
    them all again instead of taking a known participant for a stranger."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    first = _runtime(factory, hooks, clock, "a")
    other = _runtime(factory, hooks, clock, "a")
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(first.process_journal())
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(other.process_journal())
    reads = commits.id_reads
    clock.advance(seconds=5)
    _post(factory, hooks, clock, "anna-again", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(first.process_journal())
    assert commits.id_reads == reads + 1
    state = first.load_state()
    assert state is not None
    assert sorted(p.name for p in state.people.values()) == ["Anna", "Fay"]
