"""`MeetingDriver`: the durable runtime of ONE Zoom meeting, run inside the join process.

`balint-bot join --meeting ID` is one SDK bot as its own process. This is what it runs next
to the bot: the same `MeetingRuntime` that `serve` uses (journal -> engine -> actions, with
the database as the truth and a lease per meeting instance), restricted to the instances of
its own meeting number and with the SDK bot as the `MeetingControl`. So the planned actions
are carried out by the process that holds the live SDK connection, while webhooks keep
arriving through `serve` and its journal.

It steps every `interval` seconds and whenever the bot reports something (a nudge). Chat
lines the bot sees are queued by the listener and fed on the next turn of the loop with
`MeetingRuntime.feed_live`, so a facilitator's command acts without waiting for its webhook
(the two share their action keys, so it runs once). Join/leave facts come only through the
journal, as `feed_live` requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.meeting.port import MeetingControl
from bot.runtime.durable import LeaseLost, MeetingHooks, MeetingRuntime
from phases.events import ChatMessage, Event
from storage import runtime_state as rs
from storage.db import session_scope
from storage.journal import JournalEntry

__all__ = ["MeetingDriver"]

logger = logging.getLogger(__name__)


class MeetingDriver:
    """Runs the runtimes of one meeting number's instances with one control.

    Args:
        meeting_id: the Zoom meeting number this process serves.
        control: the SDK bot (any `MeetingControl` in tests).
        hooks: decoding and attendance hooks (`bot.service.ServiceHooks` in production).
        session_factory: database sessions (the same database `serve` journals into).
        owner: this process's lease owner id.
        clock: the current time (aware).
        lease_ttl: lease length; renewed on every step.
        interval: seconds between steps when nothing happens.
    """

    def __init__(
        self,
        *,
        meeting_id: str,
        control: MeetingControl,
        hooks: MeetingHooks,
        session_factory: sessionmaker[Session],
        owner: str,
        clock: Callable[[], datetime],
        lease_ttl: timedelta = timedelta(seconds=30),
        interval: float = 2.0,
    ) -> None:
        self.meeting_id = meeting_id
        self.control = control
        self._hooks = hooks
        self._factory = session_factory
        self.owner = owner
        self._clock = clock
        self._ttl = lease_ttl
        self._interval = interval
        self._runtimes: dict[str, MeetingRuntime] = {}
        self._nudge = asyncio.Event()
        self._chats: list[ChatMessage] = []
        self.lease_refusals = 0

    def meeting_uuids(self) -> list[str]:
        """Instances of this meeting with work: unprocessed journal entries or a live runtime."""
        found: list[str] = []
        with session_scope(self._factory) as session:
            entries = session.scalars(
                select(JournalEntry)
                .where(
                    JournalEntry.processed_at.is_(None),
                    JournalEntry.parsed_ok.is_(True),
                    JournalEntry.meeting_uuid.is_not(None),
                )
                .order_by(JournalEntry.id)
            )
            for entry in entries:
                uuid = entry.meeting_uuid
                if uuid is None or uuid in found:
                    continue
                try:
                    decoded = self._hooks.decode(entry)
                except Exception:  # a body the hooks cannot read is not ours to judge
                    logger.exception("journal entry %s not decodable", entry.id)
                    continue
                if decoded.meeting_id == self.meeting_id:
                    found.append(uuid)
            for uuid in rs.live_meetings(session):
                record = rs.load_meeting(session, meeting_uuid=uuid)
                if record is not None and record.meeting_id == self.meeting_id:
                    if uuid not in found:
                        found.append(uuid)
        return found

    def _runtime(self, uuid: str) -> MeetingRuntime:
        runtime = self._runtimes.get(uuid)
        if runtime is None:
            runtime = MeetingRuntime(
                meeting_uuid=uuid,
                control=self.control,
                hooks=self._hooks,
                session_factory=self._factory,
                owner=self.owner,
                lease_ttl=self._ttl,
                clock=self._clock,
            )
            self._runtimes[uuid] = runtime
        return runtime

    async def step(self) -> int:
        """Process the journal and due wake-ups of every instance; returns causes handled."""
        handled = 0
        for uuid in self.meeting_uuids():
            runtime = self._runtime(uuid)
            try:
                report = await runtime.process_journal()
                report = report + await runtime.fire_due_timers()
            except LeaseLost:
                # serve (or another join process) holds it; it must not drive SDK meetings.
                self.lease_refusals += 1
                logger.warning("meeting %s is leased by another process", uuid)
                self._runtimes.pop(uuid, None)
                continue
            handled += report.handled
        return handled

    async def on_event(self, event: Event) -> None:
        """The bot's listener: queue chat commands and nudge the loop; never acts inline.

        Acting here would deadlock: the listener runs while a step may be waiting for the
        bot's events to be delivered, holding the runtime's lock.
        """
        if isinstance(event, ChatMessage) and event.message_id:
            self._chats.append(event)
        self._nudge.set()

    async def feed_chats(self) -> int:
        """Feed the queued chat lines to the live instance of this meeting; returns how many."""
        fed = 0
        while self._chats:
            event = self._chats.pop(0)
            with session_scope(self._factory) as session:
                live = [
                    uuid
                    for uuid in rs.live_meetings(session)
                    if (record := rs.load_meeting(session, meeting_uuid=uuid)) is not None
                    and record.meeting_id == self.meeting_id
                ]
            if not live:
                continue  # no session yet; the webhook carries the line to the journal
            try:
                await self._runtime(live[-1]).feed_live(event)
            except LeaseLost:
                self.lease_refusals += 1
                continue
            fed += 1
        return fed

    async def run(self, until: asyncio.Event) -> None:
        """Step until `until` is set (the meeting ended or the bot left), then step once more
        so the closing webhooks are processed, and give up the leases."""
        while not until.is_set():
            try:
                await self.feed_chats()
                await self.step()
            except Exception:
                logger.exception("meeting driver step failed; retrying")
            self._nudge.clear()
            waiters = [
                asyncio.create_task(self._nudge.wait()),
                asyncio.create_task(until.wait()),
            ]
            await asyncio.wait(waiters, timeout=self._interval, return_when=asyncio.FIRST_COMPLETED)
            for task in waiters:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.step()
        self.release()

    def release(self) -> None:
        """Give up this process's leases."""
        with session_scope(self._factory) as session:
            for uuid in self._runtimes:
                rs.release_lease(session, meeting_uuid=uuid, owner=self.owner)
        self._runtimes.clear()
