"""Runs a scenario on the real path: simulated Zoom -> HTTP -> receiver -> journal -> runtime.

Theory of operation. One asyncio loop holds three things:

- the service (`bot.service.build_service`) under uvicorn on a free loopback port, with the
  demo's SQLite database, a virtual clock, and a `control_factory` that returns the one
  `SimulatedMeeting` of this run;
- that `SimulatedMeeting`, which plays Zoom and the scenario's people; every webhook it
  produces goes into a `WebhookDelivery` that POSTs it, signed, to the receiver;
- this driver, which moves the virtual clock from one moment of interest to the next (the
  room opening, a scenario event, the earliest wake-up stored in the database) exactly as
  the in-process simulator does (`bot.simulation.driver`).

After each moment the driver *settles*: it sends every queued webhook over HTTP, asks the
service's worker to process the meeting (`Worker.process`, the same call its own task makes
when the receiver nudges it: journal entries, the events the meeting reported through its
own callback, which the worker listens to as it would to the SDK bot, and due wake-ups), and
repeats until a round handles nothing, no webhook is queued, no journal entry is
unprocessed and no action is planned or executing. Only then does the clock move on, so the
run is reproducible although it crosses a real HTTP server. With `speed` > 0 the driver also
sleeps, in wall time, the virtual time between moments divided by `speed`.

The timeline is observed, not computed: webhooks as the simulated Zoom sends them (the
receiver's answers are counted in `DemoRun`), scenario events as they are played, actions
read back from the runtime's action log in the database, and phase changes from the
runtime's "phase changed" log records (it logs old and new phase for every transition).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select

from bot.demo.world import DemoWorld
from bot.errors import BalintError
from bot.meeting import zoom_wire as wire
from bot.meeting.delivery import HttpTransport, WebhookDelivery
from bot.meeting.port import MeetingControl
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.runtime.codec import decode_action
from bot.runtime.worker import Worker
from bot.service import build_service
from bot.simulation.clock import VirtualClock
from bot.simulation.play import action_fields, play
from bot.simulation.scenario import Scenario, ScenarioEvent
from bot.simulation.timeline import Timeline, attendance_records
from storage import runtime_state as rs
from storage.db import make_engine, make_session_factory, session_scope
from storage.journal import JournalEntry
from storage.tables.runtime import RuntimeAction

__all__ = ["Companion", "DemoError", "DemoRun", "MEETING_ID", "run_on_real_path"]

#: Started beside the service once it listens (the console of `demo --console`): called with
#: the service app, the demo's world and the evening's (virtual) clock.
Companion = Callable[[FastAPI, DemoWorld, Callable[[], datetime]], Awaitable[None]]

_log = logging.getLogger(__name__)

#: The Zoom meeting number of the demo's simulated meeting.
MEETING_ID = "85746065432"
_HORIZON = timedelta(hours=24)
_MAX_SETTLE_ROUNDS = 1000


class DemoError(BalintError):
    """The demo could not run to the end (server did not start, run did not settle)."""


@dataclass(slots=True, kw_only=True)
class DemoRun:
    """What a run on the real path produced (before the exports).

    Args:
        timeline: phase, action, zoom and person records, then the simulator's own
            attendance (`kind` "attendance", from the meeting's presence log).
        meeting: the simulated meeting, for inspection.
        meeting_uuid: the meeting instance uuid the webhooks carried.
        url: where the receiver listened.
        webhooks_sent: HTTP deliveries made (duplicates and retries included).
        webhooks_failed: deliveries not answered 200/204.
        journaled: journal entries stored for the meeting.
        phases: the phases entered, in order.
    """

    timeline: Timeline
    meeting: SimulatedMeeting
    meeting_uuid: str
    url: str
    webhooks_sent: int = 0
    webhooks_failed: int = 0
    journaled: int = 0
    phases: list[str] = field(default_factory=list)


class _PhaseLog(logging.Filter):
    """Collects the runtime's "phase changed" records (they carry old and new phase).

    It sits on the runtime's logger as a filter, so it sees INFO records even when logging
    is quieter, and it lets through only what the logger would have passed anyway.
    """

    def __init__(self, clock: Callable[[], datetime], timeline: Timeline, level: int) -> None:
        super().__init__()
        self._clock = clock
        self._timeline = timeline
        self._level = level

    def filter(self, record: logging.LogRecord) -> bool:
        old = getattr(record, "old_phase", None)
        new = getattr(record, "new_phase", None)
        if isinstance(old, str) and isinstance(new, str):
            self._timeline.add(self._clock(), "phase", **{"from": old, "to": new})
        return record.levelno >= self._level


@contextmanager
def _phase_log(clock: Callable[[], datetime], timeline: Timeline) -> Iterator[None]:
    logger = logging.getLogger("bot.runtime.durable")
    previous = logger.level
    catcher = _PhaseLog(clock, timeline, logger.getEffectiveLevel())
    logger.addFilter(catcher)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeFilter(catcher)
        logger.setLevel(previous)


async def run_on_real_path(
    scenario: Scenario,
    world: DemoWorld,
    *,
    speed: float = 0.0,
    on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
    companion: Companion | None = None,
) -> DemoRun:
    """Run `scenario` through the real receiver and runtime (see the module docstring).

    Args:
        scenario: a validated scenario.
        world: settings and a migrated database with the roster (`bot.demo.world`).
        speed: 0 runs as fast as possible; X > 0 runs at X times real time.
        on_progress: receives the new timeline records after each moment (live output).
        companion: started once the service listens (the console), see `Companion`.

    Raises:
        DemoError: the server did not start or the run did not settle.
    """
    driver = _Driver(scenario, world, speed=speed, on_progress=on_progress)
    driver.companion = companion
    return await driver.run()


class _Driver:
    def __init__(
        self,
        scenario: Scenario,
        world: DemoWorld,
        *,
        speed: float,
        on_progress: Callable[[list[dict[str, Any]]], None] | None,
    ) -> None:
        self.scenario = scenario
        self.world = world
        self.speed = speed
        self.on_progress = on_progress
        first_event = min((scenario.start + e.at for e in scenario.events), default=None)
        begin = scenario.opens_at if first_event is None else min(scenario.opens_at, first_event)
        self.clock = VirtualClock(begin)
        self.meeting_uuid = f"demo-{uuid.uuid4().hex[:16]}=="
        identity = wire.MeetingIdentity(
            meeting_id=MEETING_ID,
            uuid=self.meeting_uuid,
            topic=world.settings.group.name,
            timezone=world.settings.group.timezone,
            start_time=scenario.opens_at,
            duration=scenario.agenda.length_minutes,
        )
        self.meeting = SimulatedMeeting(
            MeetingOptions(
                bot_name=scenario.agenda.bot_name,
                bot_role=scenario.bot_role,
                mute_on_entry=scenario.mute_on_entry,
                video_on_entry=scenario.video_on_entry,
                webhook_secret=world.secret,
                identity=identity,
            ),
            clock=self.clock.now,
        )
        self.timeline = Timeline(scenario.start)
        self.printed = 0
        self.last_action_id = 0
        self.delivery: WebhookDelivery | None = None
        self.companion: Companion | None = None
        self.meeting.set_webhook_sink(self._on_webhook)

    # -- wiring --------------------------------------------------------------------------

    async def _on_webhook(self, webhook: wire.Webhook) -> None:
        fields: dict[str, Any] = {"event": webhook.event}
        if webhook.name:
            fields["name"] = webhook.name
        self.timeline.add(self.clock.now(), "zoom", **fields)
        assert self.delivery is not None
        self.delivery.submit(webhook, self.clock.now())

    def _control(self, meeting_uuid: str) -> MeetingControl:
        if meeting_uuid != self.meeting_uuid:
            raise DemoError(f"webhook for an unknown meeting {meeting_uuid!r}")
        return self.meeting

    async def run(self) -> DemoRun:
        settings = self.world.settings
        engine = make_engine(settings.storage.url)
        self.factory = make_session_factory(engine)
        app = build_service(
            settings,
            engine=engine,
            control_factory=self._control,
            clock=self.clock.now,
            owner="demo",
            lease_ttl=timedelta(days=7),
            sweep_interval=3600.0,
        )
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        url = f"http://127.0.0.1:{port}{settings.server.webhook_path}"
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                ws="none",
                http="h11",
            )
        )
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            await self._wait_started(server, serving)
            if self.companion is not None:
                await self.companion(app, self.world, self.clock.now)
            async with httpx.AsyncClient(trust_env=False) as client:
                self.delivery = WebhookDelivery(transport=HttpTransport(client, url))
                with _phase_log(self.clock.now, self.timeline):
                    await self._story(app)
            result = DemoRun(
                timeline=self.timeline,
                meeting=self.meeting,
                meeting_uuid=self.meeting_uuid,
                url=url,
                webhooks_sent=len(self.delivery.attempts),
                webhooks_failed=sum(1 for a in self.delivery.attempts if not a.ok),
                journaled=self._journaled(),
            )
        finally:
            server.should_exit = True
            await serving
            listener.close()
            engine.dispose()
        self._finish(result)
        _log.info(
            "demo run finished",
            extra={
                "meeting_id": self.meeting_uuid,
                "webhooks": result.webhooks_sent,
                "journaled": result.journaled,
            },
        )
        return result

    async def _wait_started(self, server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
        for _ in range(500):
            if server.started:
                return
            if serving.done():
                break
            await asyncio.sleep(0.01)
        raise DemoError("the receiver did not start on loopback")

    # -- the story -----------------------------------------------------------------------

    async def _story(self, app: FastAPI) -> None:
        worker: Worker = app.state.worker
        scenario = self.scenario
        events: deque[ScenarioEvent] = deque(scenario.events)
        opened = False
        limit = scenario.start + _HORIZON
        while True:
            candidates: list[datetime] = []
            if not opened:
                candidates.append(scenario.opens_at)
            if events:
                candidates.append(scenario.start + events[0].at)
            wakeup = self._next_wakeup()
            if wakeup is not None and (events or not self._ended()):
                candidates.append(wakeup)
            if not candidates:
                break
            now = max(min(candidates), self.clock.now())
            if now > limit:
                raise DemoError(f"the session did not settle within {_HORIZON} of the start")
            await self._pace(now, worker)
            self.clock.advance_to(now)
            if not opened and scenario.opens_at <= now:
                opened = True
                await self.meeting.start()
            await self._settle(worker)
            while events and scenario.start + events[0].at <= now:
                await self._play(events.popleft())
                await self._settle(worker)
            self._progress()
        if self.meeting.running:
            await self.meeting.end()
            await self._settle(worker)
            self._progress()

    async def _pace(self, moment: datetime, worker: Worker) -> None:
        """Wait, in wall time, for `moment` at the run's speed. Meanwhile anything that
        happened outside the story (a console button: its actions and the webhooks they
        make) is delivered and processed every quarter second, so it shows at once."""
        if self.speed <= 0:
            return
        left = (moment - self.clock.now()).total_seconds() / self.speed
        while left > 0:
            step = min(left, 0.25)
            await asyncio.sleep(step)
            left -= step
            assert self.delivery is not None
            if self.delivery.pending or not self._quiet():
                await self._settle(worker)
                self._progress()

    async def _settle(self, worker: Worker) -> None:
        """Deliver, process and carry out until nothing is left in flight."""
        assert self.delivery is not None
        for _ in range(_MAX_SETTLE_ROUNDS):
            await self.delivery.flush(self.clock.now())
            handled = await worker.process(self.meeting_uuid)
            await asyncio.sleep(0)
            if handled == 0 and self.delivery.pending == 0 and self._quiet():
                self._collect_actions()
                return
        raise DemoError("the service did not settle (webhooks or actions kept coming)")

    def _quiet(self) -> bool:
        with session_scope(self.factory) as session:
            unprocessed = session.scalar(
                select(func.count())
                .select_from(JournalEntry)
                .where(
                    JournalEntry.meeting_uuid == self.meeting_uuid,
                    JournalEntry.processed_at.is_(None),
                    JournalEntry.parsed_ok.is_(True),
                )
            )
            busy = session.scalar(
                select(func.count())
                .select_from(RuntimeAction)
                .where(
                    RuntimeAction.meeting_uuid == self.meeting_uuid,
                    RuntimeAction.status.in_(("planned", "executing")),
                )
            )
        return not unprocessed and not busy

    def _next_wakeup(self) -> datetime | None:
        with session_scope(self.factory) as session:
            wakeups = rs.pending_wakeups(session, meeting_uuid=self.meeting_uuid)
        return min(wakeups.values(), default=None)

    def _ended(self) -> bool:
        with session_scope(self.factory) as session:
            record = rs.load_meeting(session, meeting_uuid=self.meeting_uuid)
        return record is not None and record.ended

    def _journaled(self) -> int:
        with session_scope(self.factory) as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(JournalEntry)
                    .where(JournalEntry.meeting_uuid == self.meeting_uuid)
                )
                or 0
            )

    def _collect_actions(self) -> None:
        """Append the actions the runtime logged since the last look, as timeline records."""
        with session_scope(self.factory) as session:
            rows = list(
                session.scalars(
                    select(RuntimeAction)
                    .where(
                        RuntimeAction.meeting_uuid == self.meeting_uuid,
                        RuntimeAction.id > self.last_action_id,
                    )
                    .order_by(RuntimeAction.id)
                )
            )
        for row in rows:
            self.last_action_id = row.id
            fields = action_fields(
                decode_action(row.payload),
                kind=row.kind,
                ok=row.status == "done",
                error=row.code or row.status,
            )
            at = row.executed_at or row.created_at
            self.timeline.add(at, "action", **fields)

    def _progress(self) -> None:
        if self.on_progress is None:
            return
        fresh = self.timeline.records[self.printed :]
        self.printed = len(self.timeline.records)
        if fresh:
            self.on_progress(sorted(fresh, key=lambda r: r.get("t", 0.0)))

    async def _play(self, event: ScenarioEvent) -> None:
        fields = await play(self.meeting, self.scenario, event)
        self.timeline.add(self.clock.now(), "person", **fields)

    def _finish(self, result: DemoRun) -> None:
        """Order the timeline by time (stable) and append the simulator's attendance."""
        timed = sorted(self.timeline.records, key=lambda r: r["t"])
        self.timeline.records[:] = timed
        result.phases = [r["to"] for r in timed if r["kind"] == "phase"]
        self.timeline.records.extend(
            attendance_records(
                self.meeting.presence,
                persons=[(p.name, p.role) for p in self.scenario.persons],
                start=self.scenario.start,
                end=self.clock.now(),
            )
        )
