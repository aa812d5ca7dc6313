"""What a runtime's steps cost in transactions, and the view of its meeting it keeps in
between: one transaction per step (which claims the first action it planned) and one per
action carried out (which claims the next); the wake-ups and the meeting's end are read from
the runtime's last committed step only while its lease holds."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.codec import encode_action
from bot.runtime.durable import MeetingRuntime
from bot.runtime.worker import Worker
from phases.actions import Audience, SendChat
from phases.events import ArrivedInWaitingRoom, Joined, MeetingStarted, Participant, ZoomRole
from storage import runtime_state as rs
from storage.db import bound_engine, session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks, until

UUID = "ViewOfTheMeetingUUID=="
FAY = Participant(key="kf", user_id="16777216", name="Fay")
ANNA = Participant(key="ka", user_id="16778240", name="Anna")
BOB = Participant(key="kb", user_id="16779264", name="Bob")
BEN = Participant(key="kn", user_id="16780288", name="Ben")  # on the roster, as Anna
TTL = timedelta(seconds=30)


class _Commits:
    """Transactions the database committed, and among their statements the lease writes, the
    reads of the meeting's person ids (whole, `id_reads`, or counted, `id_counts`) and the
    reads of its row (`state_reads`) and wake-ups (`wakeup_reads`), and the looks for an action
    to claim (`claims`)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.lease_writes = 0
        self.id_reads = 0
        self.id_counts = 0
        self.state_reads = 0
        self.wakeup_reads = 0
        self.journal_looks = 0
        self.claims = 0
        self._engine = engine
        event.listen(engine, "commit", self._seen)
        event.listen(engine, "before_cursor_execute", self._statement)

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE runtime_leases"):
            self.lease_writes += 1
        elif statement.startswith("UPDATE runtime_actions SET status=") and "owner=" in statement:
            self.claims += 1
        elif statement.startswith("SELECT") and "FROM runtime_person_keys" in statement:
            if statement.startswith("SELECT count("):
                self.id_counts += 1
            else:
                self.id_reads += 1
        elif statement.startswith("SELECT") and "FROM runtime_meetings" in statement:
            self.state_reads += 1
        elif statement.startswith("SELECT") and "FROM runtime_wakeups" in statement:
            self.wakeup_reads += 1
        elif statement.startswith("SELECT") and "FROM webhook_journal" in statement:
            self.journal_looks += 1

    def close(self) -> None:
        event.remove(self._engine, "commit", self._seen)
        event.remove(self._engine, "before_cursor_execute", self._statement)


@pytest.fixture
def commits(factory: sessionmaker[Session]) -> Iterator[_Commits]:
    engine = bound_engine(factory)
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
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    owner: str,
    ttl: timedelta = TTL,
    meeting: RecordingMeeting | None = None,
) -> MeetingRuntime:
    return MeetingRuntime(
        meeting_uuid=UUID,
        control=meeting if meeting is not None else RecordingMeeting(),
        hooks=hooks,
        session_factory=factory,
        owner=owner,
        lease_ttl=ttl,
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

    sessions: list[Session] = []  # those of the factory's that committed
    event.listen(factory, "after_commit", sessions.append)

    async def visit() -> tuple[int, int, int]:
        before = len(meeting.calls)
        start, leases, in_sessions = commits.count, commits.lease_writes, len(sessions)
        await worker.process(UUID)
        carried_out = len(meeting.calls) - before
        assert carried_out > 0
        steps = commits.count - start - carried_out
        return steps, commits.lease_writes - leases, len(sessions) - in_sessions

    asyncio.run(worker.process(UUID))  # the first visit reads what it has no view of yet
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    # the step (which claims Anna's admission), then one per action carried out, each also
    # claiming the next: no transaction to look for actions, wake-ups or the meeting's end;
    # the lease is written by the step alone (the outcome's, with no step to take, leaves a
    # lease that has most of its time left as it is); and only the step's transaction is an
    # ORM session's (each outcome's runs on a Core connection, `storage.db.Connectable`)
    assert asyncio.run(visit()) == (1, 1, 1)
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


def test_a_step_that_follows_its_own_take_of_the_lease_reads_nothing_it_saved(
    factory: sessionmaker[Session], commits: _Commits
) -> None:
    """The lease counts its takes: while each step's take follows the runtime's own last
    one, what its last committed step saved (the meeting's row, wake-ups and person ids) is
    what the database holds, and is neither read nor counted again."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    runtime = _runtime(factory, hooks, clock, "a", ttl=timedelta(hours=1))  # through the timer
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(runtime.process_journal())
    assert commits.id_reads == 1
    reads = (commits.state_reads, commits.wakeup_reads, commits.id_counts)
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(runtime.process_journal())  # a step, and the outcomes of Anna's admission
    assert commits.id_reads == 1  # Fay's ids and Anna's new ones, as the steps left them
    assert (commits.state_reads, commits.wakeup_reads, commits.id_counts) == reads
    clock.set(runtime.pending_wakeups()["meditation_start"])  # reads them, here
    asyncio.run(runtime.fire_due_timers())
    assert (commits.state_reads, commits.wakeup_reads - 1, commits.id_counts) == reads
    state = runtime.load_state()
    assert state is not None and sorted(p.name for p in state.people.values()) == ["Anna", "Fay"]
    assert "meditation_start" not in runtime.pending_wakeups()


def test_what_another_runtime_of_the_owner_stepped_is_read_again(
    factory: sessionmaker[Session], commits: _Commits
) -> None:
    """A runtime of the same owner still in flight (after a restart) may step the meeting
    under the same lease. Its take of the lease breaks the count the first runtime expects,
    so the first reads the meeting's state, wake-ups and ids again: it neither takes a
    known participant for a stranger nor saves over what the other stepped."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    first = _runtime(factory, hooks, clock, "a")
    other = _runtime(factory, hooks, clock, "a")
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(first.process_journal())
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(other.process_journal())
    reads = (commits.id_reads, commits.state_reads, commits.wakeup_reads)
    clock.advance(seconds=5)
    _post(factory, hooks, clock, "bob", ArrivedInWaitingRoom(participant=BOB))
    asyncio.run(first.process_journal())
    assert (commits.id_reads, commits.state_reads, commits.wakeup_reads) == (
        reads[0] + 1,
        reads[1] + 1,
        reads[2] + 1,
    )
    state = first.load_state()
    assert state is not None  # Anna, whom only the other runtime has seen, is still there
    assert sorted(p.name for p in state.people.values()) == ["Anna", "Bob", "Fay"]
    _post(factory, hooks, clock, "anna-again", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(first.process_journal())
    state = first.load_state()
    assert state is not None and len(state.people) == 3  # she is known, not a stranger


def test_a_transaction_looks_for_an_action_to_claim_only_while_one_may_be_planned(
    factory: sessionmaker[Session], commits: _Commits
) -> None:
    """Once a look has found nothing planned, a step that plans nothing looks for no action
    to claim, and neither does the outcome of the last action a step planned."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    runtime = _runtime(factory, hooks, clock, "a", ttl=timedelta(hours=1), meeting=meeting)

    def looks(label: str, *events: Any) -> int:
        before = commits.claims
        _post(factory, hooks, clock, label, *events)
        asyncio.run(runtime.process_journal())
        return commits.claims - before

    # the first visit cannot know what an earlier process left planned: it looks
    assert looks("fay", Joined(participant=FAY, role=ZoomRole.HOST)) > 0
    # Anna's admission is claimed by its step; its outcome, the last action, looks no more
    assert looks("anna", ArrivedInWaitingRoom(participant=ANNA)) == 1
    assert looks("anna-in", Joined(participant=ANNA)) == 0  # plans nothing
    assert looks("bob", ArrivedInWaitingRoom(participant=BOB)) == 1  # a stranger: a line
    assert meeting.admits() == [ANNA.user_id]
    assert {a.status for a in _actions(factory)} == {"done"}  # every action carried out


def test_an_action_another_replica_left_planned_is_claimed_after_its_take(
    factory: sessionmaker[Session],
) -> None:
    """A runtime that knew nothing was planned forgets it when anyone else takes the lease:
    an action another replica planned and left unclaimed is claimed by the next step."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    first = _runtime(factory, hooks, clock, "a", meeting=meeting)
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
    asyncio.run(first.process_journal())
    assert meeting.admits() == [ANNA.user_id]  # and nothing is left planned

    clock.advance(seconds=TTL.total_seconds())  # its lease expires; another replica plans
    line = SendChat(to=Audience.EVERYONE, text="left planned by another replica")
    with session_scope(factory) as db:
        assert rs.acquire_lease(db, meeting_uuid=UUID, owner="b", ttl=TTL, now=clock())
        rs.plan_actions(
            db,
            meeting_uuid=UUID,
            actions=[rs.PlannedAction(key="b:0", kind="send_chat", payload=encode_action(line))],
            owner="b",
            now=clock(),
        )
    clock.advance(seconds=TTL.total_seconds())  # and stops before claiming it
    _post(factory, hooks, clock, "anna-in", Joined(participant=ANNA))  # plans nothing
    asyncio.run(first.process_journal())
    assert [a.status for a in _actions(factory) if a.key == "b:0"] == ["done"]


def _actions(factory: sessionmaker[Session]) -> list[rs.ActionRecord]:
    with session_scope(factory) as db:
        return rs.actions_for_meeting(db, meeting_uuid=UUID)


def test_a_released_lease_keeps_counting_its_takes(factory: sessionmaker[Session]) -> None:
    """Releasing a lease expires it and keeps its row: were the row deleted, the count would
    start over, and a runtime could take a later count for the one that follows its own."""
    with session_scope(factory) as db:
        taken = [
            rs.acquire_lease(db, meeting_uuid=UUID, owner="a", ttl=TTL, now=START) for _ in range(3)
        ]
        assert rs.release_lease(db, meeting_uuid=UUID, owner="a")
        assert rs.lease_owner(db, meeting_uuid=UUID, now=START) is None
        assert not rs.release_lease(db, meeting_uuid=UUID, owner="a")
        taken.append(rs.acquire_lease(db, meeting_uuid=UUID, owner="b", ttl=TTL, now=START))
        taken.append(rs.acquire_lease(db, meeting_uuid=UUID, owner="a", ttl=TTL, now=START))
    assert taken == [1, 2, 3, 4, None]


def test_a_visit_a_wake_up_alone_woke_leaves_a_caught_up_journal_alone(
    factory: sessionmaker[Session], commits: _Commits
) -> None:
    """A visit that answers a notice looks at the meeting's journal only if a notice that
    may mean a new entry came since a visit last found it caught up; the doorbell's do
    not. A sweep always looks."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    worker = _worker(factory, hooks, clock, meeting)
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))

    async def scenario() -> tuple[int, ...]:
        await worker.start()  # its first act is a sweep, which looks and feeds Fay
        try:
            await until(lambda: worker.last_sweep is not None)
            looks = [commits.journal_looks]
            await worker.process(UUID, woken=True)  # as a wake-up alone: nothing to look at
            looks.append(commits.journal_looks)
            _post(factory, hooks, clock, "anna", ArrivedInWaitingRoom(participant=ANNA))
            worker.notify(UUID)  # the receiver's notice: the woken visit looks
            await until(lambda: meeting.admits() == [ANNA.user_id])
            looks.append(commits.journal_looks)
            await worker.process(UUID, woken=True)
            looks.append(commits.journal_looks)
            await worker.process(UUID)  # a sweep's visit
            looks.append(commits.journal_looks)
            return tuple(b - a for a, b in itertools.pairwise(looks))
        finally:
            await worker.stop()

    no_notice, noticed, caught_up, swept = asyncio.run(scenario())
    assert no_notice == 0 and caught_up == 0
    assert noticed > 0 and swept > 0


def test_wake_ups_that_let_lines_wait_carry_out_the_rest_and_leave_the_lines_in_order(
    factory: sessionmaker[Session], commits: _Commits
) -> None:
    """`fire_due_timers(lines_wait=True)` (the worker's, while other meetings wait): the
    meditation's end admits the held members and leaves its chat lines planned, costing no
    transaction for them; the next call carries them out in plan order, for one transaction
    more than they would have cost (its own look for the first)."""
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    runtime = _runtime(factory, hooks, clock, "a", ttl=timedelta(hours=1), meeting=meeting)
    _post(factory, hooks, clock, "fay", Joined(participant=FAY, role=ZoomRole.HOST))
    asyncio.run(runtime.process_journal())
    clock.set(START + timedelta(minutes=2))  # the meditation has begun
    asyncio.run(runtime.fire_due_timers())
    for label, person in (("anna", ANNA), ("ben", BEN)):
        _post(factory, hooks, clock, label, ArrivedInWaitingRoom(participant=person))
    asyncio.run(runtime.process_journal())
    meditation_end = runtime.pending_wakeups()["meditation_end"]
    clock.set(meditation_end - timedelta(seconds=1))
    asyncio.run(runtime.fire_due_timers())  # the line to the waiting room, say
    assert meeting.admits() == []  # held for the meditation
    meeting.calls.clear()

    clock.set(meditation_end)
    before = commits.count
    asyncio.run(runtime.fire_due_timers(lines_wait=True))
    assert meeting.calls == [("admit", ANNA.user_id), ("admit", BEN.user_id)]
    assert commits.count - before == 3  # the step, and each admission's outcome
    assert runtime.lines_waiting and not runtime.idle
    with session_scope(factory) as s:
        waiting = rs.pending_actions(s, meeting_uuid=UUID)
    assert {action.kind for action in waiting} == {"send_chat"}
    lines = [action.key for action in waiting]

    before = commits.count
    asyncio.run(runtime.fire_due_timers(lines_wait=True))  # still waiting: nothing is looked for
    assert commits.count == before and runtime.lines_waiting

    asyncio.run(runtime.fire_due_timers())
    assert commits.count - before == len(lines) + 1  # a look for the first, then the outcomes
    assert [what for what, _arg in meeting.calls[2:]] == ["chat"] * len(lines)
    assert not runtime.lines_waiting and runtime.idle
    with session_scope(factory) as s:
        done = [a for a in rs.actions_for_meeting(s, meeting_uuid=UUID) if a.key in lines]
    assert [a.key for a in sorted(done, key=lambda a: a.id)] == lines  # in plan order
    assert {a.status for a in done} == {"done"}
