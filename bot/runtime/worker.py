"""The background worker of `balint-bot serve`: journal -> meeting runtimes, after the ack.

One asyncio task per process consumes a queue of "look at meeting X" notices, fed by the
receiver's `on_journaled` callback (at once, after the ack) and by the doorbell (a wake-up is
due); a meeting already waiting in the queue is not queued again (the call that handles it
processes everything journaled before it starts), so a burst of webhooks for one meeting
costs one call, not one each. It falls back to a periodic sweep of everything: unprocessed
journal entries, live meetings and due wake-ups. On start the first sweep processes
whatever was journaled while no worker ran. Meetings are handled one at a time in this
task, so a meeting's steps never interleave in a process; across replicas the database
lease decides (see `bot.runtime.durable`): a meeting whose lease another replica holds is
left alone, and taken over once that lease expires unrenewed. Leases are renewed on every
sweep, so the sweep interval must be well below the lease TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.meeting.port import MeetingControl
from bot.runtime.durable import LeaseLost, MeetingHooks, MeetingRuntime, RuntimeMetrics
from bot.runtime.timers import Doorbell
from phases.events import Event
from storage import runtime_state as rs
from storage.db import session_scope
from storage.journal import JournalEntry

__all__ = ["Worker"]

_log = logging.getLogger(__name__)

ControlFactory = Callable[[str], MeetingControl]


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
    ) -> None:
        self._factory = session_factory
        self._control_factory = control_factory
        self._hooks = hooks
        self.owner = owner
        self._clock = clock
        self._ttl = lease_ttl
        self._interval = sweep_interval
        self._metrics = metrics
        self._runtimes: dict[str, MeetingRuntime] = {}
        self._live: dict[str, list[Event]] = {}
        self._busy = asyncio.Lock()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        #: meetings with a notice waiting in `_queue` (a meeting is queued at most once)
        self._queued: set[str] = set()
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
        still running after `grace` seconds is cancelled.
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
        if release:
            with session_scope(self._factory) as session:
                for uuid in self._runtimes:
                    rs.release_lease(session, meeting_uuid=uuid, owner=self.owner)
        self._runtimes.clear()

    def notify(self, meeting_uuid: str | None) -> None:
        """Ask the worker to look at a meeting soon (None: sweep everything).

        Safe to call from any thread and from the receiver's request handler.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(meeting_uuid)
        else:
            loop.call_soon_threadsafe(self._enqueue, meeting_uuid)

    def _enqueue(self, meeting_uuid: str | None) -> None:
        """Queue a notice unless the same meeting's notice is already waiting (one call
        processes everything journaled before it starts; see `_run`)."""
        if meeting_uuid is not None:
            if meeting_uuid in self._queued:
                return
            self._queued.add(meeting_uuid)
        self._queue.put_nowait(meeting_uuid)

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
            )
            self._runtimes[meeting_uuid] = runtime
            runtime.control.set_listener(self._listener_for(meeting_uuid))
        return runtime

    def _listener_for(self, meeting_uuid: str) -> Callable[[Event], Awaitable[None]]:
        """The meeting's callback path: queue the event and nudge the worker.

        It never feeds the engine directly: the callback may fire while one of this
        meeting's actions is being carried out (admitting someone makes them join), so the
        event waits until the current step has finished.
        """

        async def listener(event: Event) -> None:
            self._live.setdefault(meeting_uuid, []).append(event)
            self.notify(meeting_uuid)

        return listener

    # -- work ----------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Renew leases, then process every meeting with work to do; returns causes handled."""
        now = self._clock()
        with session_scope(self._factory) as session:
            for uuid in list(self._runtimes):
                if not rs.renew_lease(
                    session, meeting_uuid=uuid, owner=self.owner, ttl=self._ttl, now=now
                ):
                    self._drop(uuid, "lease lost")
            candidates = self._candidates(session, now)
        handled = 0
        for uuid in candidates:
            handled += await self.process(uuid)
        self.last_sweep = self._clock()
        return handled

    async def process(self, meeting_uuid: str) -> int:
        """Process one meeting's journal, callback events and due wake-ups if this replica
        may own it. Calls are serialised, so when it returns, no earlier call is still busy."""
        async with self._busy:
            return await self._process(meeting_uuid)

    async def _process(self, meeting_uuid: str) -> int:
        with session_scope(self._factory) as session:
            holder = rs.lease_owner(session, meeting_uuid=meeting_uuid, now=self._clock())
        if holder is not None and holder != self.owner:
            self._drop(meeting_uuid, "owned elsewhere")
            return 0
        runtime = self.runtime(meeting_uuid)
        try:
            report = await runtime.process_journal()
            while self._live.get(meeting_uuid):
                report = report + await runtime.feed_live(self._live[meeting_uuid].pop(0))
            report = report + await runtime.fire_due_timers()
        except LeaseLost:
            self._drop(meeting_uuid, "lease lost")
            return 0
        with session_scope(self._factory) as session:
            record = rs.load_meeting(session, meeting_uuid=meeting_uuid)
            wakeups = rs.pending_wakeups(session, meeting_uuid=meeting_uuid)
            if record is not None and record.ended:
                rs.release_lease(session, meeting_uuid=meeting_uuid, owner=self.owner)
        if record is not None and record.ended:
            self._drop(meeting_uuid, "meeting ended")
        else:
            self.doorbell.rearm(meeting_uuid, wakeups)
        return report.handled

    def _candidates(self, session: Session, now: datetime) -> list[str]:
        uuids = list(
            session.scalars(
                select(JournalEntry.meeting_uuid)
                .where(
                    JournalEntry.processed_at.is_(None),
                    JournalEntry.parsed_ok.is_(True),
                    JournalEntry.meeting_uuid.is_not(None),
                )
                .distinct()
            )
        )
        uuids += rs.live_meetings(session)
        uuids += [uuid for uuid, _timer, _due in rs.due_wakeups(session, now=now)]
        seen: dict[str, None] = {}
        for uuid in uuids:
            if uuid is not None:
                seen.setdefault(uuid, None)
        return list(seen)

    def _drop(self, meeting_uuid: str, why: str) -> None:
        self._live.pop(meeting_uuid, None)
        if self._runtimes.pop(meeting_uuid, None) is not None:
            _log.info("runtime released", extra={"meeting_id": meeting_uuid, "reason": why})
        self.doorbell.disarm(meeting_uuid)

    async def _ring(self, meeting_uuid: str) -> None:
        self.notify(meeting_uuid)

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
                        await self.process(wanted)
                except Exception:  # keep serving; the next sweep retries from the database
                    self.failures += 1
                    _log.exception("worker step failed", extra={"meeting_id": wanted or ""})
                getting = asyncio.ensure_future(self._queue.get())
                done, _pending = await asyncio.wait(
                    {getting, stopping}, timeout=self._interval, return_when=FIRST_COMPLETED
                )
                if getting in done:
                    wanted = getting.result()
                    if wanted is not None:  # from now on a new notice queues it again
                        self._queued.discard(wanted)
                else:
                    getting.cancel()
                    wanted = None
        finally:
            stopping.cancel()
