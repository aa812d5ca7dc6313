"""`Worker`: the one pump that feeds meeting runtimes, in every mode.

`balint-bot serve` runs it for every meeting (simulator or observe-only controls), the join
process (`balint-bot join`) runs it for the instances of its one meeting number with the SDK
bot as the control (`meeting_id`), and `simulate` and the demo run it against the simulator.
It feeds two sources into each meeting's `MeetingRuntime`: the journal (webhooks) and what the
bot in the meeting reports through its listener (`attach`).

One asyncio task per process consumes a queue of "look at meeting X" notices, fed by the
receiver's `on_journaled` callback (at once, after the ack), by the meeting's listener and
by the doorbell (a wake-up is due); a meeting already waiting in the queue is not queued
again (the call that handles it processes everything journaled before it starts), so a
burst of webhooks for one meeting costs one call, not one each. It falls back to a periodic
sweep of everything with work (`storage.runtime_state.meetings_with_work`): unprocessed
journal entries, due wake-ups, and the live meetings it does not run yet or whose runtime
is not `idle` (an overrun call to finish, an action left planned after a failure). A live
meeting it runs with nothing to do costs the sweep nothing: its lease is renewed with the
others' in one statement, and it is not visited (200 such meetings had cost each sweep 400
statements and 201 commits). On start the first sweep processes whatever was journaled
while no worker ran. A visit that answers a notice skips the
meeting's journal when no notice but the doorbell's came since a visit found it caught up
(see `process`); a sweep always looks.

Database work runs on database threads, never on the event loop (which must stay free to
acknowledge Zoom within 3 seconds), and no wait for it is unbounded
(`bot.runtime.database_calls`): a call not done within `database_timeout` makes the worker
`stalled` (`/readyz` says so) and it takes no further step until that call returns; then it
sweeps at once, and the call's runtime first finishes what the call was doing, so nothing
is lost or done twice (see "A database that hangs" in `bot.runtime.durable`).

Meetings are handled one at a time in this task, so a meeting's steps never interleave in a
process; across replicas the database lease decides (see `bot.runtime.durable`): a meeting
whose lease another replica holds is left alone, and taken over once that lease expires
unrenewed. Leases are renewed on every sweep, so the sweep interval must be well below the
lease TTL.

Spreading meetings over replicas: on PostgreSQL every replica's worker of a shard hears of
every meeting, and a meeting no one runs yet goes to whichever takes its lease first. That
is most often the busiest one (already awake when the notice comes), and two replicas had
split an evening's meetings anywhere from 54/46 to 98/2, the busier one's backlog setting
when the last latecomers got in (docs/benchmarks.md, "twenty-sixth round"). So a serve
worker (one with a `shard`) that runs more of its shard's meetings than another owner
does leaves such a meeting for `LEAVE_SECONDS` to the others, and takes it then if it is
still free: nothing waits on a replica that is not there, and a meeting is still taken
at once by the worker with the fewest. Owners are seen through their unexpired leases, so a
replica that runs none yet is not seen, and the split starts from how the first meetings
fall. Join processes (no shard) take what they serve at once, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConfigError, DatabaseStalled
from bot.meeting.port import MeetingControl
from bot.runtime.database_calls import DEADLINE_SECONDS, DatabaseCalls
from bot.runtime.durable import (
    BATCH_SECONDS,
    LeaseLost,
    MeetingHooks,
    MeetingRuntime,
    RuntimeMetrics,
    StepReport,
)
from bot.runtime.shards import shard_of
from bot.runtime.timers import Doorbell
from phases.events import Event
from storage import journal
from storage import runtime_state as rs
from storage.db import session_scope

__all__ = ["Worker", "journal_notices"]

_log = logging.getLogger(__name__)

ControlFactory = Callable[[str], MeetingControl]

#: How long a serve worker running more of its shard's meetings than another lease owner
#: leaves a meeting no one runs yet to the others (see "Spreading meetings over replicas").
LEAVE_SECONDS = 0.1


def journal_notices(
    database: Engine, worker: Worker, *, wake: Callable[[str], None] | None = None
) -> asyncio.Task[None] | None:
    """On PostgreSQL, a task that wakes `worker` for each journal entry's notice (LISTEN /
    NOTIFY, `bot.runtime.journal_listener`) and asks it for a full sweep after every
    (re)connection; None on SQLite, whose processes hear of new entries otherwise (serve's
    workers through their channel to the receiver, the join process by its sweep). `wake`:
    called instead of `worker.notify` (serve's workers drop other shards' meetings)."""
    if database.dialect.name != "postgresql":
        return None
    # imported here: psycopg is several MiB that a process on SQLite has no use for
    from bot.runtime.journal_listener import listen_for_journal

    return asyncio.create_task(
        listen_for_journal(
            database, wake=wake or worker.notify, resweep=lambda: worker.notify(None)
        ),
        name=f"balint-journal-notices-{worker.owner}",
    )


class Worker:
    """Processes journaled events and due wake-ups for the meetings this replica owns.

    Args:
        session_factory: database sessions.
        control_factory: the `MeetingControl` for a meeting uuid (simulator, none, ...).
        hooks: decoding, session creation and attendance for the runtimes.
        owner: this replica's lease owner id (stable across restarts, distinct per replica).
        clock: the current time (aware).
        lease_ttl: lease length; a dead replica's meetings move after this long.
        sweep_interval: seconds between sweeps (keep it under a third of `lease_ttl`).
        metrics: processing lag and action results, if wanted.
        meeting_id: serve only the instances of this Zoom meeting number (the join
            process); None serves every meeting.
        database_timeout: longest the worker waits for one database call, in seconds.
        shard: `(index, count)`: serve only the meetings `shard_of` puts in shard `index`
            of `count` (one of `serve`'s worker processes); None serves every meeting.
        gather: seconds a notice that found the worker idle waits before its step, so that
            the rest of a burst of webhooks is handled in the same step (serve's worker
            processes, which are woken at once for every webhook, use a few milliseconds).
    """

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        control_factory: ControlFactory,
        hooks: MeetingHooks,
        owner: str,
        clock: Callable[[], datetime],
        lease_ttl: timedelta = timedelta(seconds=30),
        sweep_interval: float = 5.0,
        metrics: RuntimeMetrics | None = None,
        meeting_id: str | None = None,
        database_timeout: float = DEADLINE_SECONDS,
        shard: tuple[int, int] | None = None,
        gather: float = 0.0,
    ) -> None:
        if shard is not None and not 0 <= shard[0] < shard[1]:
            raise ConfigError(f"worker shard {shard[0]} of {shard[1]} does not exist")
        self._shard = shard
        self._gather = gather
        self._factory = session_factory
        bind = session_factory.kw.get("bind")
        #: SQLite only: a batch's transaction holds the file's one write lock, which the
        #: receiver's acknowledgements need (see "Batches" in `bot.runtime.durable`)
        self._batch_seconds = (
            BATCH_SECONDS if bind is not None and bind.dialect.name == "sqlite" else None
        )
        self._calls = DatabaseCalls(
            deadline=database_timeout, on_returned=lambda: self.notify(None)
        )
        self.meeting_id = meeting_id
        #: meeting uuid -> whether it is an instance of `meeting_id` (once known)
        self._serves: dict[str, bool] = {}
        self._attached: MeetingControl | None = None
        self._attached_uuid: str | None = None
        #: the attached control was bound to `_attached_uuid` and nothing it saw fed there yet
        self._newly_bound = False
        self._early: list[tuple[Event, datetime]] = []
        self._control_factory = control_factory
        self._hooks = hooks
        self.owner = owner
        self._clock = clock
        self._ttl = lease_ttl
        self._interval = sweep_interval
        self._metrics = metrics
        self._runtimes: dict[str, MeetingRuntime] = {}
        self._live: dict[str, list[tuple[Event, datetime]]] = {}
        self._busy = asyncio.Lock()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        #: meetings with a notice waiting in `_queue` (a meeting is queued at most once)
        self._queued: set[str] = set()
        #: per meeting this worker runs: the notices heard that may mean a journal entry
        #: (`notify`), and how many had been heard when a visit last found its journal
        #: caught up (see `_process`)
        self._heard: dict[str, int] = {}
        self._caught_up: dict[str, int] = {}
        #: meetings no one runs that this worker left to another replica's for a moment;
        #: its next visit takes them if they are still free (see `_leaves_it`)
        self._left: set[str] = set()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.doorbell = Doorbell(ring=self._ring, clock=clock)
        self.last_sweep: datetime | None = None
        self.failures = 0

    # -- life cycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the worker task and the doorbell are running."""
        return self._task is not None and not self._task.done() and self.doorbell.running

    @property
    def stalled(self) -> bool:
        """True while one of its database calls has overrun its deadline and not returned."""
        return self._calls.stalled

    async def start(self) -> None:
        """Start the doorbell and the worker task (whose first act is a full sweep)."""
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self.doorbell.start()
        self._task = asyncio.create_task(self._run(), name=f"balint-worker-{self.owner}")

    async def stop(self, *, release: bool = True, grace: float = 10.0) -> None:
        """Stop the task (after the step in progress) and the doorbell; give up this
        replica's leases if `release`.

        `release=False` leaves the leases to expire, as if the process had died. A step
        still running after `grace` seconds is cancelled. While the database hangs the
        leases are left to expire too: stopping never waits for it longer than the
        database deadline.
        """
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        self.doorbell.shutdown()
        for runtime in self._runtimes.values():
            runtime.control.set_listener(None)
        if self._attached is not None:
            self._attached.set_listener(None)
        if release and self._runtimes:
            try:
                await self._calls.run(functools.partial(self._release, list(self._runtimes)))
            except DatabaseStalled:
                _log.warning("database hangs: leases left to expire", extra={"owner": self.owner})
        self._runtimes.clear()

    def _release(self, uuids: list[str]) -> None:
        with session_scope(self._factory) as db:
            for uuid in uuids:
                rs.release_lease(db, meeting_uuid=uuid, owner=self.owner)

    def notify(self, meeting_uuid: str | None, *, journal: bool = True) -> None:
        """Ask the worker to look at a meeting soon (None: sweep everything).

        `journal`: the notice may mean a new journal entry (every notice but the
        doorbell's). Safe to call from any thread and from the receiver's request handler.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(meeting_uuid, journal)
        else:
            loop.call_soon_threadsafe(self._enqueue, meeting_uuid, journal)

    def _enqueue(self, meeting_uuid: str | None, journal: bool) -> None:
        """Queue a notice unless the same meeting's notice is already waiting (one call
        processes everything journaled before it starts; see `_run`)."""
        if meeting_uuid is not None:
            if self._serves.get(meeting_uuid) is False:  # another meeting number's instance
                return
            if journal and meeting_uuid in self._runtimes:
                self._heard[meeting_uuid] = self._heard.get(meeting_uuid, 0) + 1
            if meeting_uuid in self._queued:
                return
            self._queued.add(meeting_uuid)
        self._queue.put_nowait(meeting_uuid)

    def has_live(self, meeting_uuid: str) -> bool:
        """Whether events its meeting's control reported still wait to be fed."""
        if self._attached_uuid is None and self._early:
            return True
        return bool(self._live.get(meeting_uuid))

    def attach(self, control: MeetingControl) -> None:
        """Listen to `control` from now on, before any instance of its meeting has a runtime
        (the join process's SDK bot, the simulator): what it reports meanwhile waits for the
        instance (`control_factory` returns this control for it), then is fed in order. An
        instance found ended by its first journal read is not the bot's (one left over from
        an evening without a bot): what the bot saw keeps waiting for the next one."""
        self._attached = control
        control.set_listener(self._attached_listener)

    async def _attached_listener(self, event: Event) -> None:
        uuid = self._attached_uuid
        if uuid is None:
            self._early.append((event, self._clock()))
            return
        self._live.setdefault(uuid, []).append((event, self._clock()))
        self.notify(uuid)

    def runtime(self, meeting_uuid: str) -> MeetingRuntime:
        """This replica's runtime for a meeting (created on first use)."""
        runtime = self._runtimes.get(meeting_uuid)
        if runtime is None:
            runtime = MeetingRuntime(
                meeting_uuid=meeting_uuid,
                control=self._control_factory(meeting_uuid),
                hooks=self._hooks,
                session_factory=self._factory,
                owner=self.owner,
                lease_ttl=self._ttl,
                clock=self._clock,
                metrics=self._metrics,
                calls=self._calls,
                batch_seconds=self._batch_seconds,
            )
            self._runtimes[meeting_uuid] = runtime
            if runtime.control is self._attached:
                self._attached_uuid = meeting_uuid
                self._newly_bound = True
                self._live.setdefault(meeting_uuid, []).extend(self._early)
                self._early.clear()
            else:
                runtime.control.set_listener(self._listener_for(meeting_uuid))
        return runtime

    def _listener_for(self, meeting_uuid: str) -> Callable[[Event], Awaitable[None]]:
        """The meeting's callback path: queue the event and nudge the worker.

        It never feeds the engine directly: the callback may fire while one of this
        meeting's actions is being carried out (admitting someone makes them join), so the
        event waits until the current step has finished.
        """

        async def listener(event: Event) -> None:
            self._live.setdefault(meeting_uuid, []).append((event, self._clock()))
            self.notify(meeting_uuid)

        return listener

    # -- work ----------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Renew leases, then process every meeting with work to do; returns causes handled.

        The look happens between two visits, never beside one: a meeting found `quiet` (idle)
        before a visit began, and looked up after that visit had marked its journal entry
        processed, would be passed over while the visit still carries out its actions (a
        caller that sweeps until a sweep finds nothing, as the tests' `settle` does, would
        then return too early)."""
        async with self._busy:
            owned = list(self._runtimes)
            quiet = {
                uuid
                for uuid, runtime in self._runtimes.items()
                if runtime.idle and not self._live.get(uuid)
            }
            lost, candidates, until = await self._calls.run(
                functools.partial(self._look, owned, quiet)
            )
        for uuid in lost:
            self._drop(uuid, "lease lost")
        for uuid in set(owned).difference(lost):
            runtime = self._runtimes.get(uuid)
            if runtime is not None:
                runtime.lease_renewed(until)
        handled = 0
        for index, uuid in enumerate(candidates, start=1):
            handled += await self.process(uuid, behind=index < len(candidates))
        self.last_sweep = self._clock()
        return handled

    async def process(self, meeting_uuid: str, *, woken: bool = False, behind: bool = False) -> int:
        """Process one meeting's journal, callback events and due wake-ups if this replica
        may own it. Calls are serialised, so when it returns, no earlier call is still busy.

        `woken`: the call answers a notice (`_run`). Its journal is then looked at only if a
        notice that may mean a new entry (`notify`) came since a visit last found it caught
        up: a wake-up that falls due alone (the meditation's end of every meeting at once)
        costs no transaction for a journal with nothing in it. A sweep always looks.

        `behind`: other meetings wait for this call (a sweep's next ones), as do those with a
        notice queued (see `_process`).
        """
        async with self._busy:
            return await self._process(meeting_uuid, woken=woken, behind=behind)

    async def _process(self, meeting_uuid: str, *, woken: bool, behind: bool) -> int:
        # A meeting this worker runs already is not looked up again: every step takes its
        # lease in its own transaction (the fence), and a lost lease drops it below.
        if meeting_uuid not in self._runtimes:
            may_leave = meeting_uuid not in self._left
            self._left.discard(meeting_uuid)
            look = functools.partial(self._holder, meeting_uuid, may_leave=may_leave)
            holder, serves, leave = await self._calls.run(look)
            if not serves:
                return 0
            if holder is not None and holder != self.owner:
                self._drop(meeting_uuid, "owned elsewhere")
                return 0
            if leave:
                self._left.add(meeting_uuid)
                asyncio.get_running_loop().call_later(LEAVE_SECONDS, self.notify, meeting_uuid)
                return 0
        runtime = self.runtime(meeting_uuid)
        heard = self._heard.get(meeting_uuid, 0)
        # Other meetings waiting (a wake-up they share: the meditation's end of every group
        # of the evening, rung or found by a sweep): the wake-ups' actions that act in the
        # meeting (the held members' admissions) come first, and this meeting's chat lines
        # wait for its next visit, queued behind them. A visit that finds lines waiting
        # (`lines_waiting`) posts them.
        others = behind or not self._queue.empty()
        lines_wait = others and not runtime.lines_waiting
        try:
            report = StepReport()
            if not woken or self._caught_up.get(meeting_uuid) != heard:
                # Caught up once it returns: an entry committed after its last read comes
                # with a notice of its own, heard after `heard` was taken
                report = await runtime.process_journal()
                self._caught_up[meeting_uuid] = heard
            if meeting_uuid == self._attached_uuid and self._newly_bound:
                self._newly_bound = False
                if await asyncio.to_thread(self._has_ended, meeting_uuid):
                    self._detach(meeting_uuid)
            while self._live.get(meeting_uuid):
                event, seen_at = self._live[meeting_uuid].pop(0)
                report = report + await runtime.feed_live(event, at=seen_at)
            report = report + await runtime.fire_due_timers(lines_wait=lines_wait)
        except LeaseLost:
            self._drop(meeting_uuid, "lease lost")
            return 0
        view = runtime.view()
        if view is not None and not view.ended:  # as its last step left it: nothing to read
            ended, wakeups = False, dict(view.wakeups)
        else:
            ended, wakeups = await self._calls.run(functools.partial(self._after, meeting_uuid))
        if ended:
            self._drop(meeting_uuid, "meeting ended")
            return report.handled
        self.doorbell.rearm(meeting_uuid, wakeups)
        if runtime.lines_waiting:
            self._enqueue(meeting_uuid, journal=False)
        return report.handled

    # -- database work (in a worker thread) ----------------------------------------------

    def _look(self, owned: list[str], quiet: set[str]) -> tuple[list[str], list[str], datetime]:
        """Renew the leases of `owned`; returns those lost, the meetings with work and when
        the renewed leases expire. A meeting in `quiet` (its runtime `idle`, nothing from its
        listener waiting) has work only if it has a journal entry or a wake-up due
        (`storage.runtime_state.meetings_with_work`)."""
        now = self._clock()
        with session_scope(self._factory) as db:
            kept = rs.renew_leases(
                db, meeting_uuids=owned, owner=self.owner, ttl=self._ttl, now=now
            )
            lost = [uuid for uuid in owned if uuid not in kept]
            candidates = rs.meetings_with_work(db, now=now, running=quiet & kept)
            serving = [uuid for uuid in candidates if self._serves_in(db, uuid)]
        return lost, serving, now + self._ttl

    def _holder(self, meeting_uuid: str, *, may_leave: bool) -> tuple[str | None, bool, bool]:
        """The meeting's lease holder, whether this worker serves the meeting, and (if
        `may_leave` and no one holds it) whether to leave it to another replica for now."""
        with session_scope(self._factory) as db:
            now = self._clock()
            serves = self._serves_in(db, meeting_uuid)
            holder = rs.lease_owner(db, meeting_uuid=meeting_uuid, now=now)
            leave = may_leave and serves and holder is None and self._leaves_it(db, now)
            return holder, serves, leave

    def _leaves_it(self, db: Session, now: datetime) -> bool:
        """Whether this serve worker runs more of its shard's meetings than another lease
        owner does (see "Spreading meetings over replicas" in the module docstring)."""
        if self._shard is None:
            return False
        index, count = self._shard
        held: dict[str, int] = {}
        for uuid, owner in rs.live_leases(db, now=now):
            if shard_of(uuid, count) == index:
                held[owner] = held.get(owner, 0) + 1
        mine = held.pop(self.owner, 0)
        return bool(held) and mine > min(held.values())

    def _serves_in(self, db: Session, meeting_uuid: str) -> bool:
        """Whether `meeting_uuid` is an instance of `meeting_id` (always, without one): by
        its runtime's record, else by its first journal entry's meeting number; and, with a
        `shard`, whether the meeting falls in it."""
        if self._shard is not None and shard_of(meeting_uuid, self._shard[1]) != self._shard[0]:
            return False
        if self.meeting_id is None:
            return True
        known = self._serves.get(meeting_uuid)
        if known is not None:
            return known
        record = rs.load_meeting(db, meeting_uuid=meeting_uuid)
        number = record.meeting_id if record is not None else None
        if number is None:
            entries = journal.unprocessed(db, meeting_uuid=meeting_uuid, limit=1)
            if not entries:
                return False
            try:
                number = self._hooks.decode(entries[0]).meeting_id
            except Exception:  # the runtime of whoever serves it skips what it cannot read
                return False
        self._serves[meeting_uuid] = number == self.meeting_id
        return self._serves[meeting_uuid]

    def _has_ended(self, meeting_uuid: str) -> bool:
        with session_scope(self._factory) as db:
            record = rs.load_meeting(db, meeting_uuid=meeting_uuid)
        return record is not None and record.ended

    def _detach(self, meeting_uuid: str) -> None:
        """The attached control is not in `meeting_uuid`, an instance found ended (or no
        session, by the calendar) when first read: one left over in the journal from an
        evening without a bot. What the bot saw waits for the next instance."""
        self._early[:0] = self._live.pop(meeting_uuid, [])
        self._attached_uuid = None
        _log.info("bot not in an ended instance", extra={"meeting_id": meeting_uuid})

    def _after(self, meeting_uuid: str) -> tuple[bool, dict[str, datetime]]:
        """After a step: whether the meeting ended (its lease then released) and its
        pending wake-ups."""
        with session_scope(self._factory) as db:
            record = rs.load_meeting(db, meeting_uuid=meeting_uuid)
            wakeups = rs.pending_wakeups(db, meeting_uuid=meeting_uuid)
            ended = record is not None and record.ended
            if ended:
                rs.release_lease(db, meeting_uuid=meeting_uuid, owner=self.owner)
        return ended, wakeups

    def _drop(self, meeting_uuid: str, why: str) -> None:
        self._live.pop(meeting_uuid, None)
        self._heard.pop(meeting_uuid, None)
        self._caught_up.pop(meeting_uuid, None)
        if self._attached_uuid == meeting_uuid:
            self._attached_uuid = None
        if self._runtimes.pop(meeting_uuid, None) is not None:
            _log.info("runtime released", extra={"meeting_id": meeting_uuid, "reason": why})
        self.doorbell.disarm(meeting_uuid)

    async def _ring(self, meeting_uuid: str) -> None:
        self.notify(meeting_uuid, journal=False)

    async def _run(self) -> None:
        # Stopping is a flag checked between steps, not a cancellation: a step (engine,
        # database, meeting calls) always completes, and libraries on the meeting path
        # (httpx, anyio) may absorb a cancellation anyway.
        wanted: str | None = None
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                try:
                    if wanted is None:
                        await self.sweep()
                    else:
                        await self.process(wanted, woken=True)
                except DatabaseStalled as stalled:  # logged when it began and when it ends
                    _log.debug(
                        "worker step deferred: %s", stalled, extra={"meeting_id": wanted or ""}
                    )
                except Exception:  # keep serving; the next sweep retries from the database
                    self.failures += 1
                    _log.exception("worker step failed", extra={"meeting_id": wanted or ""})
                wanted = await self._next_notice(stopping)
        finally:
            stopping.cancel()

    async def _next_notice(self, stopping: asyncio.Task[Literal[True]]) -> str | None:
        """The meeting of the next notice, or None for a sweep (asked for, or no notice
        within the sweep interval, or stopping). From then on a new notice queues that
        meeting again."""
        if not self._queue.empty() and not self._stopping.is_set():
            # a backlog (200 meetings' wake-ups at once): the next notice without a task and
            # a wait made for it, after one turn of the loop (its other work, the receiver's
            # notices and the heartbeat, goes on meanwhile)
            await asyncio.sleep(0)
            wanted = self._queue.get_nowait()
        else:
            getting = asyncio.ensure_future(self._queue.get())
            done, _pending = await asyncio.wait(
                {getting, stopping}, timeout=self._interval, return_when=FIRST_COMPLETED
            )
            if getting not in done:
                getting.cancel()
                return None
            wanted = getting.result()
            if wanted is not None and self._gather and self._queue.empty():
                # the rest of a burst joins this step (its notices are not queued again
                # meanwhile): one step for many webhooks under load
                await asyncio.sleep(self._gather)
        if wanted is not None:
            self._queued.discard(wanted)
        return wanted
