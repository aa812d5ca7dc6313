"""Runs a scenario on the path a real meeting takes: Zoom -> webhooks and SDK -> runtime.

Theory of operation. One asyncio loop holds three things:

- the service (`bot.service.build_service`: receiver, journal, `Worker`, `MeetingRuntime`)
  on the scenario's SQLite database (`bot.simulation.world`), with a virtual clock and a
  `control_factory` that returns the meeting's control;
- the Zoom side (`ZoomSide`, by default a `SimulatedMeeting`), which plays Zoom and the
  scenario's people and reports only what Zoom reports: signed webhooks, which a
  `WebhookDelivery` POSTs to the receiver (in process through ASGI for `simulate`, over
  HTTP on a loopback port for the demo), and SDK-shaped notices to the bot in the meeting,
  which its `SdkObserver` translates for the worker's listener (`Worker.attach`);
- this driver, which moves the virtual clock from one moment of interest to the next (the
  room opening, a scenario event, the earliest wake-up stored in the database).

After each moment the driver *settles*: it sends every queued webhook, asks the worker to
process the meeting (`Worker.process`, the call its own task makes when nudged: journal
entries, the bot's events, due wake-ups), lets the Zoom side deliver what that caused, and
repeats until a round handles nothing, no webhook is queued, no event of the bot waits, no
journal entry is unprocessed and no action is planned or executing. Only then does the
clock move on, so a run is reproducible. With `speed` > 0 it also sleeps, in wall time, the
virtual time between moments divided by `speed`.

The timeline is observed, not computed: webhooks as Zoom sends them, scenario events as they
are played, actions read back from the runtime's action log, phase changes from the
runtime's "phase changed" log records, then the Zoom side's own attendance and a summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import BalintError
from bot.meeting import zoom_wire as wire
from bot.meeting.delivery import HttpTransport, WebhookDelivery
from bot.meeting.port import MeetingControl
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.runtime.codec import decode_action
from bot.runtime.worker import Worker
from bot.service import build_service
from bot.simulation.clock import VirtualClock
from bot.simulation.play import ZoomSide, action_fields, play
from bot.simulation.scenario import Scenario, ScenarioEvent
from bot.simulation.timeline import Timeline, attendance_records
from bot.simulation.world import ServiceWorld, build_world
from phases.state import SessionState
from storage import runtime_state as rs
from storage.clock import Clock, system_clock
from storage.db import make_engine, make_session_factory, session_scope
from storage.journal import JournalEntry
from storage.tables.runtime import RuntimeAction

__all__ = ["MEETING_ID", "ScenarioRun", "SimulationError", "run_scenario", "simulated_zoom"]

_log = logging.getLogger(__name__)

#: The Zoom meeting number of a scenario's meeting.
MEETING_ID = "85746065432"
_HORIZON = timedelta(hours=24)
_MAX_SETTLE_ROUNDS = 1000


class SimulationError(BalintError):
    """A run could not complete (the receiver did not start, or the run did not settle)."""


@dataclass(slots=True, kw_only=True)
class ScenarioRun:
    """What a run produced.

    Args:
        timeline: phase, action, zoom and person records, then the Zoom side's own
            attendance (`kind` "attendance") and a summary.
        meeting: the Zoom side, for inspection.
        meeting_uuid: the meeting instance uuid the webhooks carried.
        url: where the receiver listened ("" in process).
        database: the SQLite file (gone after the run unless `world` was given).
        webhooks_sent: deliveries made (duplicates and retries included).
        webhooks_failed: deliveries not answered 200/204.
        journaled: journal entries stored for the meeting.
        phases: the phases entered, in order.
    """

    timeline: Timeline
    meeting: ZoomSide
    meeting_uuid: str
    url: str
    database: Path
    webhooks_sent: int = 0
    webhooks_failed: int = 0
    journaled: int = 0
    phases: list[str] = field(default_factory=list)


def simulated_zoom(scenario: Scenario, *, secret: str, clock: Callable[[], datetime]) -> ZoomSide:
    """The scenario's meeting in the simulator: its bot's role, entry settings, a fresh uuid."""
    identity = wire.MeetingIdentity(
        meeting_id=MEETING_ID,
        uuid=f"sim-{uuid.uuid4().hex[:16]}==",
        start_time=scenario.opens_at,
        duration=scenario.agenda.length_minutes,
    )
    return SimulatedMeeting(
        MeetingOptions(
            bot_name=scenario.agenda.bot_name,
            bot_role=scenario.bot_role,
            mute_on_entry=scenario.mute_on_entry,
            video_on_entry=scenario.video_on_entry,
            webhook_secret=secret,
            identity=identity,
        ),
        clock=clock,
    )


ZoomFactory = Callable[[Scenario, str, Callable[[], datetime]], ZoomSide]
"""(scenario, webhook secret, virtual clock) -> the Zoom side of a run."""


async def run_scenario(
    scenario: Scenario,
    *,
    world: ServiceWorld | None = None,
    zoom: ZoomFactory | None = None,
    over_http: bool = False,
    speed: float = 0.0,
    on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
    clock: Clock = system_clock,
) -> ScenarioRun:
    """Run `scenario` to the end through the real service (see the module docstring).

    Args:
        scenario: a validated scenario.
        world: settings and a migrated database with the roster; default a throw-away one
            in a temporary directory, removed after the run.
        zoom: makes the Zoom side; default `simulated_zoom`.
        over_http: POST the webhooks over HTTP to the receiver on a loopback port (the
            demo); else through ASGI in process.
        speed: 0 runs as fast as possible; X > 0 runs at X times real time.
        on_progress: receives the new timeline records after each moment (live output).
        clock: the real time (stamps the throw-away world's roster import).

    Raises:
        SimulationError: the receiver did not start or the run did not settle.
    """
    make_zoom = zoom if zoom is not None else _default_zoom
    if world is not None:
        return await _Run(scenario, world, make_zoom, speed, on_progress).run(over_http)
    with tempfile.TemporaryDirectory(prefix="balint-scenario-") as folder:
        made = build_world(
            scenario, out_dir=Path(folder), data_key=None, meeting_id=MEETING_ID, now=clock()
        )
        return await _Run(scenario, made, make_zoom, speed, on_progress).run(over_http)


def _default_zoom(scenario: Scenario, secret: str, clock: Callable[[], datetime]) -> ZoomSide:
    return simulated_zoom(scenario, secret=secret, clock=clock)


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


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        world: ServiceWorld,
        make_zoom: ZoomFactory,
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
        self.zoom = make_zoom(scenario, world.secret, self.clock.now)
        self.meeting_uuid = self.zoom.meeting_uuid
        self.timeline = Timeline(scenario.start)
        self.printed = 0
        self.last_action_id = 0
        self.delivery: WebhookDelivery | None = None
        self.factory: sessionmaker[Session] | None = None
        self.zoom.set_webhook_sink(self._on_webhook)

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
            raise SimulationError(f"webhook for an unknown meeting {meeting_uuid!r}")
        return self.zoom.control

    async def run(self, over_http: bool) -> ScenarioRun:
        settings = self.world.settings
        database = make_engine(settings.storage.url)
        self.factory = make_session_factory(database)
        app = build_service(
            settings,
            database=database,
            control_factory=self._control,
            clock=self.clock.now,
            owner="scenario",
            lease_ttl=timedelta(days=7),
            sweep_interval=3600.0,
        )
        try:
            receiver = _over_http(app) if over_http else _in_process(app)
            async with receiver as (client, url):
                self.delivery = WebhookDelivery(transport=HttpTransport(client, url))
                worker: Worker = app.state.worker
                worker.attach(self.zoom.control)
                with _phase_log(self.clock.now, self.timeline):
                    await self._story(worker)
                result = ScenarioRun(
                    timeline=self.timeline,
                    meeting=self.zoom,
                    meeting_uuid=self.meeting_uuid,
                    url=url if over_http else "",
                    database=self.world.database,
                    webhooks_sent=len(self.delivery.attempts),
                    webhooks_failed=sum(1 for a in self.delivery.attempts if not a.ok),
                    journaled=self._journaled(),
                )
                self._finish(result)
        finally:
            await self.zoom.close()
            database.dispose()
        _log.info(
            "scenario run finished",
            extra={
                "meeting_id": self.meeting_uuid,
                "webhooks": result.webhooks_sent,
                "journaled": result.journaled,
            },
        )
        return result

    # -- the story -----------------------------------------------------------------------

    async def _story(self, worker: Worker) -> None:
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
                raise SimulationError(f"the session did not settle within {_HORIZON} of the start")
            await self._pace(now)
            self.clock.advance_to(now)
            if not opened and scenario.opens_at <= now:
                opened = True
                await self.zoom.start()
            await self._settle(worker)
            while events and scenario.start + events[0].at <= now:
                await self._play(events.popleft())
                await self._settle(worker)
            self._progress()
        if self.zoom.running:
            await self.zoom.end()
            await self._settle(worker)
            self._progress()

    async def _pace(self, moment: datetime) -> None:
        if self.speed > 0:
            seconds = (moment - self.clock.now()).total_seconds() / self.speed
            if seconds > 0:
                await asyncio.sleep(seconds)

    async def _settle(self, worker: Worker) -> None:
        """Deliver, process and carry out until nothing is left in flight."""
        assert self.delivery is not None
        for _ in range(_MAX_SETTLE_ROUNDS):
            await self.delivery.flush(self.clock.now())
            handled = await worker.process(self.meeting_uuid)
            await self.zoom.settle()  # what the actions caused: webhooks queued, SDK events
            await asyncio.sleep(0)
            idle = self.delivery.pending == 0 and not worker.has_live(self.meeting_uuid)
            if handled == 0 and idle and self._quiet():
                self._collect_actions()
                return
        raise SimulationError("the service did not settle (webhooks or actions kept coming)")

    def _db(self) -> sessionmaker[Session]:
        assert self.factory is not None
        return self.factory

    def _quiet(self) -> bool:
        with session_scope(self._db()) as db:
            unprocessed = db.scalar(
                select(func.count())
                .select_from(JournalEntry)
                .where(
                    JournalEntry.meeting_uuid == self.meeting_uuid,
                    JournalEntry.processed_at.is_(None),
                    JournalEntry.parsed_ok.is_(True),
                )
            )
            busy = db.scalar(
                select(func.count())
                .select_from(RuntimeAction)
                .where(
                    RuntimeAction.meeting_uuid == self.meeting_uuid,
                    RuntimeAction.status.in_(("planned", "executing")),
                )
            )
        return not unprocessed and not busy

    def _next_wakeup(self) -> datetime | None:
        with session_scope(self._db()) as db:
            wakeups = rs.pending_wakeups(db, meeting_uuid=self.meeting_uuid)
        return min(wakeups.values(), default=None)

    def _ended(self) -> bool:
        with session_scope(self._db()) as db:
            record = rs.load_meeting(db, meeting_uuid=self.meeting_uuid)
        return record is not None and record.ended

    def _final_phase(self) -> str:
        with session_scope(self._db()) as db:
            record = rs.load_meeting(db, meeting_uuid=self.meeting_uuid)
        return "" if record is None else str(SessionState.from_json(record.state_json).phase)

    def _journaled(self) -> int:
        with session_scope(self._db()) as db:
            return int(
                db.scalar(
                    select(func.count())
                    .select_from(JournalEntry)
                    .where(JournalEntry.meeting_uuid == self.meeting_uuid)
                )
                or 0
            )

    def _collect_actions(self) -> None:
        """Append the actions the runtime logged since the last look, as timeline records."""
        with session_scope(self._db()) as db:
            rows = list(
                db.scalars(
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
        fields = await play(self.zoom, self.scenario, event)
        self.timeline.add(self.clock.now(), "person", **fields)

    def _finish(self, result: ScenarioRun) -> None:
        """Order the timeline by time (stable), then the Zoom side's attendance and a
        summary."""
        timed = sorted(self.timeline.records, key=lambda r: r["t"])
        self.timeline.records[:] = timed
        result.phases = [r["to"] for r in timed if r["kind"] == "phase"]
        end = self.clock.now()
        self.timeline.records.extend(
            attendance_records(
                self.zoom.presence,
                persons=[(p.name, p.role) for p in self.scenario.persons],
                start=self.scenario.start,
                end=end,
            )
        )
        actions = self.timeline.of_kind("action")
        self.timeline.add_untimed(
            "summary",
            final_phase=self._final_phase(),
            phases=result.phases,
            actions=len(actions),
            refused=sum(1 for a in actions if not a["ok"]),
            webhooks=len(self.zoom.webhooks),
            attended=sum(1 for r in self.timeline.of_kind("attendance") if r["minutes"] > 0),
            ended_at=self.timeline.offset(end),
        )


@asynccontextmanager
async def _in_process(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The receiver in this process, reached through ASGI (no socket); its lifespan (the
    worker) runs for the length of the block."""
    path = app.state.settings.server.webhook_path
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scenario") as client:
            yield client, f"http://scenario{path}"


@asynccontextmanager
async def _over_http(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The receiver under uvicorn on a free loopback port, for the length of the block."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}{app.state.settings.server.webhook_path}"
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", ws="none", http="h11"
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        for _ in range(500):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise SimulationError("the receiver did not start on loopback")
        async with httpx.AsyncClient(trust_env=False) as client:
            yield client, url
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        listener.close()
