"""The worker queues a meeting at most once: a burst of webhooks costs one call, not one each."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.worker import Worker
from phases.events import ArrivedInWaitingRoom, MeetingStarted, Participant
from storage.db import session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks, until

pytestmark = pytest.mark.anyio

UUID = "QueuedOnce/kYLu1lA=="
ANNA = Participant(key="ka", user_id="16778240", name="Anna")
BEN = Participant(key="kb", user_id="16779264", name="Ben")
FAY = Participant(key="kf", user_id="16777216", name="Fay")


async def test_notices_for_a_meeting_already_queued_are_merged_and_none_is_lost(
    factory: sessionmaker[Session],
) -> None:
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    meeting = RecordingMeeting()
    worker = Worker(
        session_factory=factory,
        control_factory=lambda _uuid: meeting,
        hooks=hooks,
        owner="a",
        clock=clock,
        lease_ttl=timedelta(seconds=20),
        sweep_interval=3600,
    )
    with session_scope(factory) as s:
        hooks.journal(s, meeting_uuid=UUID, label="start", at=clock(), events=[MeetingStarted()])
    await worker.start()
    try:
        await until(lambda: hooks.started == [UUID] and worker.last_sweep is not None)
        async with worker._busy:  # the worker is busy with another meeting meanwhile
            for label, person in (("anna", ANNA), ("ben", BEN)):
                with session_scope(factory) as s:
                    hooks.journal(
                        s,
                        meeting_uuid=UUID,
                        label=label,
                        at=clock(),
                        events=[ArrivedInWaitingRoom(participant=person)],
                    )
                for _ in range(5):
                    worker.notify(UUID)
            await asyncio.sleep(0.05)  # the worker takes the notice and waits for _busy
            assert worker._queue.qsize() == 0  # the ten notices were one
            for _ in range(3):  # taken notices queue the meeting again, once
                worker.notify(UUID)
            assert worker._queue.qsize() == 1
            worker.notify(None)  # a sweep request is never merged
            assert worker._queue.qsize() == 2
        await until(lambda: meeting.admits() == [ANNA.user_id, BEN.user_id])
        await until(lambda: worker._queue.qsize() == 0)
        with session_scope(factory) as s:
            hooks.journal(
                s,
                meeting_uuid=UUID,
                label="fay",
                at=clock(),
                events=[ArrivedInWaitingRoom(participant=FAY)],
            )
        worker.notify(UUID)
        await until(lambda: len(meeting.admits()) == 3)
    finally:
        await worker.stop(release=True)


async def test_a_backlog_of_notices_is_worked_through_with_the_loop_turning_between_visits(
    factory: sessionmaker[Session],
) -> None:
    # A visit that finds nothing to do makes no database call, so it never waits: taking a
    # backlog's notices one after another without a turn of the loop in between would keep
    # everything else on it (the receiver's notices, the heartbeat) waiting for the lot.
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    worker = Worker(
        session_factory=factory,
        control_factory=lambda _uuid: RecordingMeeting(),
        hooks=hooks,
        owner="a",
        clock=clock,
        lease_ttl=timedelta(seconds=20),
        sweep_interval=3600,
    )
    uuids = [f"Backlog{n}/kYLu1lA==" for n in range(4)]
    for uuid in uuids:
        with session_scope(factory) as s:
            hooks.journal(s, meeting_uuid=uuid, label=uuid, at=clock(), events=[MeetingStarted()])
    turns = 0
    seen: list[tuple[str, int]] = []
    visit = worker.process

    async def noting(meeting_uuid: str, *, woken: bool = False, behind: bool = False) -> int:
        seen.append((meeting_uuid, turns))
        return await visit(meeting_uuid, woken=woken, behind=behind)

    worker.process = noting  # type: ignore[method-assign]

    async def turning() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    await worker.start()
    counter: asyncio.Task[None] | None = None
    try:
        await until(
            lambda: sorted(hooks.started) == sorted(uuids) and worker.last_sweep is not None
        )
        seen.clear()
        async with worker._busy:  # the doorbell's notices pile up meanwhile
            for uuid in uuids:
                worker.notify(uuid, journal=False)
            await asyncio.sleep(0.05)  # the worker takes the first and waits for _busy
            # counting only now: a loop that never rests would slow the database threads'
            # work (they wait for the GIL), and the sweep above is all database work
            counter = asyncio.create_task(turning())
        await until(lambda: len(seen) == len(uuids))
        assert [uuid for uuid, _turns in seen] == uuids
        counts = [count for _uuid, count in seen]
        assert counts == sorted(set(counts))  # the loop turned between any two visits
    finally:
        if counter is not None:
            counter.cancel()
        await worker.stop(release=True)


@pytest.mark.parametrize("found_by", ["doorbell", "sweep"])
async def test_a_wake_up_many_meetings_share_admits_in_each_before_any_posts_its_lines(
    factory: sessionmaker[Session], found_by: str
) -> None:
    # The meditation's end of several groups at once, rung by the doorbell or found by a
    # sweep: each meeting's held member is let in before any meeting's chat lines, which
    # come with each meeting's next visit.
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    calls: list[tuple[str, str]] = []
    meetings: dict[str, RecordingMeeting] = {}

    def control(uuid: str) -> RecordingMeeting:
        return meetings.setdefault(uuid, RecordingMeeting(calls=calls))

    worker = Worker(
        session_factory=factory,
        control_factory=control,
        hooks=hooks,
        owner="a",
        clock=clock,
        lease_ttl=timedelta(hours=1),
        sweep_interval=3600,
    )
    uuids = [f"Shared{n}/kYLu1lA==" for n in range(3)]
    for uuid in uuids:
        with session_scope(factory) as s:
            hooks.journal(s, meeting_uuid=uuid, label=uuid, at=clock(), events=[MeetingStarted()])
    for uuid in uuids:  # before the doorbell is started: it cannot ring meanwhile
        await worker.process(uuid)
    clock.set(START + timedelta(minutes=2))
    for uuid in uuids:
        with session_scope(factory) as s:
            hooks.journal(
                s,
                meeting_uuid=uuid,
                label=f"anna-{uuid}",
                at=clock(),
                events=[ArrivedInWaitingRoom(participant=ANNA)],
            )
        await worker.process(uuid)
    ends = {worker.runtime(uuid).pending_wakeups()["meditation_end"] for uuid in uuids}
    clock.set(max(ends) - timedelta(seconds=1))
    for uuid in uuids:  # the lines due before the meditation's end
        await worker.process(uuid)
    assert not any(what == "admit" for what, _arg in calls)  # held for the meditation
    calls.clear()
    if found_by == "sweep":  # the worker's first sweep finds all three due
        clock.set(max(ends))
    await worker.start()
    try:
        await until(lambda: worker.last_sweep is not None)
        if found_by == "doorbell":
            async with worker._busy:  # the doorbell's notices pile up meanwhile
                clock.set(max(ends))
                for uuid in uuids:
                    worker.notify(uuid, journal=False)
                await asyncio.sleep(0.05)  # the worker takes the first and waits for _busy
        await until(lambda: all(worker.runtime(uuid).idle for uuid in uuids))
        await until(lambda: worker._queue.empty() and not worker._busy.locked())
    finally:
        await worker.stop(release=True)
    kinds = [what for what, _arg in calls]
    assert kinds[:3] == ["admit"] * 3 and set(kinds[3:]) == {"chat"}
    for uuid in uuids:  # each meeting's lines all came, the welcome among them
        lines = [arg for what, arg in meetings[uuid].calls if what == "chat"]
        assert lines and any("Anna" in line for line in lines)
    assert not any(worker.runtime(uuid).lines_waiting for uuid in uuids)  # none owed
