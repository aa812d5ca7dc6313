"""The worker: nudged from any thread, sweeps on start, and leaves or releases its leases."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.durable import BATCH_SECONDS
from bot.runtime.worker import Worker
from phases.events import ArrivedInWaitingRoom, MeetingStarted, Participant
from storage import journal
from storage import runtime_state as rs
from storage.db import bound_engine, make_session_factory, session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import (
    START,
    HangingStatement,
    RecordingMeeting,
    ScriptedHooks,
    until,
)

pytestmark = pytest.mark.anyio

UUID = "WnxYNY9mQu6aSa/kYLu1lA=="
ANNA = Participant(key="ka", user_id="16778240", name="Anna")
TTL = timedelta(seconds=20)


def _worker(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    meeting: RecordingMeeting,
    owner: str,
) -> Worker:
    return Worker(
        session_factory=factory,
        control_factory=lambda _uuid: meeting,
        hooks=hooks,
        owner=owner,
        clock=clock,
        lease_ttl=TTL,
        sweep_interval=3600,
    )


def test_batches_are_limited_in_time_on_sqlite_alone(factory: sessionmaker[Session]) -> None:
    """On SQLite a batch's transaction holds the write lock the acknowledgements need."""
    worker = _worker(factory, ScriptedHooks(), HandClock(START), RecordingMeeting(), "a")
    sqlite = bound_engine(factory).dialect.name == "sqlite"
    assert worker.runtime(UUID).batch_seconds == (BATCH_SECONDS if sqlite else None)


async def test_startup_sweep_then_nudges_from_another_thread(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    with session_scope(factory) as s:  # journaled while no worker ran
        hooks.journal(s, meeting_uuid=UUID, label="start", at=clock(), events=[MeetingStarted()])
    worker = _worker(factory, hooks, clock, meeting, "a")
    await worker.start()
    try:
        await until(lambda: hooks.started == [UUID])
        with session_scope(factory) as s:
            hooks.journal(
                s,
                meeting_uuid=UUID,
                label="anna",
                at=clock(),
                events=[ArrivedInWaitingRoom(participant=ANNA)],
            )
        thread = threading.Thread(target=worker.notify, args=(UUID,))
        thread.start()
        thread.join()
        await until(lambda: meeting.admits() == [ANNA.user_id])
        assert worker.running
    finally:
        await worker.stop(release=False)  # as if the process died: the lease stays
    assert not worker.running
    with session_scope(factory) as s:
        assert rs.lease_owner(s, meeting_uuid=UUID, now=clock()) == "a"

    other = _worker(factory, hooks, clock, meeting, "b")
    assert await other.sweep() == 0  # a's lease still holds
    clock.advance(seconds=21)
    await other.sweep()
    with session_scope(factory) as s:
        assert rs.lease_owner(s, meeting_uuid=UUID, now=clock()) == "b"
    await other.stop(release=True)
    with session_scope(factory) as s:
        assert rs.lease_owner(s, meeting_uuid=UUID, now=clock()) is None


async def test_a_sweep_takes_one_transaction_for_the_meetings_it_runs_and_nothing_to_do(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    uuids = [f"M{number}WnxYNY9mQu6aSa/kYLu1l==" for number in range(5)]
    with session_scope(factory) as s:
        for uuid in uuids:
            hooks.journal(s, meeting_uuid=uuid, label=uuid, at=clock(), events=[MeetingStarted()])
    worker = _worker(factory, hooks, clock, meeting, "a")
    assert await worker.sweep() == 5  # takes them up
    commits: list[object] = []
    event.listen(bound_engine(factory), "commit", commits.append)
    assert await worker.sweep() == 0
    assert len(commits) == 1  # renewing the leases and finding the work: no visit
    # an entry journaled for one (its notice lost) and a wake-up due for another bring the
    # sweep to those two only
    with session_scope(factory) as s:
        hooks.journal(
            s,
            meeting_uuid=uuids[0],
            label="anna",
            at=clock(),
            events=[ArrivedInWaitingRoom(participant=ANNA)],
        )
    assert await worker.sweep() == 1
    assert meeting.admits() == [ANNA.user_id]
    with session_scope(factory) as s:
        rs.replace_wakeups(
            s,
            meeting_uuid=uuids[1],
            wakeups={"nudge": clock()},
            stored=rs.pending_wakeups(s, meeting_uuid=uuids[1]),
        )
    visited: list[str] = []
    process = worker.process

    async def recorded(meeting_uuid: str, *, woken: bool = False, behind: bool = False) -> int:
        visited.append(meeting_uuid)
        return await process(meeting_uuid, woken=woken, behind=behind)

    worker.process = recorded  # type: ignore[method-assign]
    await worker.sweep()
    assert visited == [uuids[1]]
    with session_scope(factory) as s:
        for uuid in uuids:
            assert rs.lease_owner(s, meeting_uuid=uuid, now=clock()) == "a"


async def test_a_sweep_visits_a_meeting_whose_actions_a_failed_call_left_planned(
    factory: sessionmaker[Session],
) -> None:
    class FailsOnce(RecordingMeeting):
        async def admit(self, user_id: str) -> None:
            if not self.calls and user_id == ANNA.user_id:
                self.calls.append(("failed", user_id))
                raise RuntimeError("the SDK broke")
            await super().admit(user_id)

    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = FailsOnce()
    ben = Participant(key="kb", user_id="16779264", name="Ben")
    with session_scope(factory) as s:
        hooks.journal(s, meeting_uuid=UUID, label="start", at=clock(), events=[MeetingStarted()])
        for who in (ANNA, ben):
            events = [ArrivedInWaitingRoom(participant=who)]
            hooks.journal(s, meeting_uuid=UUID, label=who.key, at=clock(), events=events)
    worker = _worker(factory, hooks, clock, meeting, "a")
    with pytest.raises(RuntimeError):
        await worker.process(UUID)  # Anna's admission fails; Ben's is left planned
    assert meeting.admits() == []
    assert not worker.runtime(UUID).idle
    await worker.sweep()  # nothing journaled, nothing due: the runtime's own work
    assert meeting.admits() == [ben.user_id]  # Anna's call may have gone out: not repeated
    assert worker.runtime(UUID).idle


async def test_a_hanging_database_stalls_the_worker_which_catches_up_once_it_answers(
    db_engine: Engine,
) -> None:
    factory = make_session_factory(db_engine)
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    hang = HangingStatement(db_engine)
    worker = Worker(
        session_factory=factory,
        control_factory=lambda _uuid: meeting,
        hooks=hooks,
        owner="a",
        clock=clock,
        lease_ttl=TTL,
        sweep_interval=3600,  # no periodic sweep: only notices move it
        database_timeout=0.5,
    )
    with session_scope(factory) as s:
        hooks.journal(s, meeting_uuid=UUID, label="start", at=clock(), events=[MeetingStarted()])
    await worker.start()
    try:
        await until(lambda: _all_processed(factory))
        hang.arm(lambda statement, _: statement.startswith("UPDATE runtime_meetings"))
        with session_scope(factory) as s:
            events = [ArrivedInWaitingRoom(participant=ANNA)]
            hooks.journal(s, meeting_uuid=UUID, label="anna", at=clock(), events=events)
        worker.notify(UUID)
        await until(lambda: worker.stalled)  # the step hangs past the deadline
        assert worker.running and meeting.admits() == []
        hang.go_on()  # it commits late; the worker sweeps at once and carries it out
        await until(lambda: meeting.admits() == [ANNA.user_id])
        assert not worker.stalled
        # the release (no sweep renews a lease meanwhile: the sweep interval is an hour)
        hang.arm(lambda statement, _: statement.startswith("UPDATE runtime_leases SET expires_at"))
    finally:
        stopping = asyncio.get_running_loop().time()
        await worker.stop(release=True)  # the release hangs: stopping does not wait for it
        stopped_in = asyncio.get_running_loop().time() - stopping
        released = not hang.armed
        hang.remove()
        # the hung release returns now: its connection must be back in the pool before the
        # fixture disposes the engine (one returned to a disposed pool is never closed)
        await until(lambda: not worker.stalled)
    assert released and stopped_in < 5, stopped_in
    assert meeting.admits() == [ANNA.user_id]


def _all_processed(factory: sessionmaker[Session]) -> bool:
    with session_scope(factory) as s:
        return not journal.unprocessed(s, meeting_uuid=UUID, limit=1)
