"""`build_service`: the webhook receiver and the meetings' worker as one app in one process.

`balint-bot serve` uses it in `sdk` mode; otherwise serve splits the two into a receiver
process and worker processes (`bot.receiver`, `bot.worker_process`); every process that runs
meetings runs them with `bot.service_hooks`. `simulate`, the demo,
`bench.meetings --mode in-process` and the tests run it whole.

Wires the webhook receiver (`webhooks.http.create_app`) to the background worker
(`bot.runtime.worker.Worker`, with its APScheduler doorbell), the database leases and the
metrics. The receiver journals and acks; its `on_journaled` callback only nudges the
worker, which processes after the ack. The worker and doorbell start in the app's lifespan
and stop with it; `/readyz` reports the database, the worker and the scheduler.

Which `MeetingControl` each meeting's runtime drives is `[bot] meeting_adapter`:
`simulator` (meetings registered on `app.state.simulated_meetings`; a meeting nobody
registered is observed only), `none` (`ObservingMeeting`: every action logged as not
executed) or `sdk`. In `sdk` mode serve does NOT run the meeting's runtime: the Meeting SDK
bot lives in its own `balint-bot join --meeting ID` process, which runs the same `Worker`
and `MeetingRuntime` for that meeting with the bot as its control (under the same leases),
and serve only receives webhooks and keeps that process alive during each session's window
(`bot.meeting.supervisor`; the windows are the group's calendar with the facilitators'
stored changes, `supervise_sessions`); `/readyz` then reports the supervisor instead of the
worker.
A caller (tests, `simulate`, the demo) may pass its own `control_factory`.

Several groups in one service (`[[groups]]`): the receiver routes each webhook by meeting
number to the group that lists it; `ServiceHooks` (`bot.service_hooks`) opens each meeting's
session with that group's calendar, agenda, time zone and roster (its facilitators), and
finalises it with its attendance policy; in `sdk` mode each group has its own supervisor and
join process.

Names: `database` is the SQLAlchemy `Engine`, `db` a database session (`Session`); the
engine of this project is the phase engine, and a group's weekly *session* is what
`start_session` opens (`storage.sessions`).

A facilitator's button in the console (`bot.console`) enters like a webhook: journaled
(`bot.runtime.inbox.submit_command`), so whichever process runs the meeting (this one, or the
join process in `sdk` mode) takes it from the database; `ServiceHooks.decode` turns it into a
`phases.events.TrustedCommand`, which the engine runs as the same command as the chat line,
once, with the rights of the roster's facilitator (never a name seen in Zoom).

Nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import safety_plan
from bot.config import Settings
from bot.errors import ConfigError
from bot.join_doorbell import JoinDoorbell
from bot.meeting.port import MeetingControl
from bot.meeting.supervisor import BotSupervisor, join_command, session_window, supervise_window
from bot.owners import replica_owner
from bot.runtime.durable import MeetingHooks
from bot.runtime.worker import ControlFactory, Worker
from bot.service_hooks import ServiceHooks, default_controls
from phases.calendar import Override
from storage.calendar import overrides as stored_overrides
from storage.clock import system_clock
from storage.db import make_engine, session_scope
from webhooks.http import create_app
from webhooks.metrics import Metrics

__all__ = ["build_service", "stored_changes", "supervise_sessions"]

_log = logging.getLogger(__name__)


ChangesReader = Callable[[], Awaitable[Sequence[Override]]]


async def supervise_sessions(
    settings: Settings,
    supervisor: BotSupervisor,
    *,
    clock: Callable[[], datetime],
    changes: ChangesReader | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    recheck: float = 60.0,
) -> None:
    """Keep the SDK join process up during every session window, one window after another.

    The windows are the group's calendar with the facilitators' stored changes (`changes`,
    see `stored_changes`), read again at least every `recheck` seconds: a session cancelled
    before its window opens gets no bot, one cancelled or moved once its window has opened
    loses it, a moved or added one gets it at its own time. Runs until cancelled; the join
    process is stopped whenever it returns or is cancelled.
    """

    async def next_window() -> tuple[datetime, datetime]:
        overrides = await changes() if changes is not None else ()
        return session_window(settings, clock(), overrides)

    try:
        while True:
            window = await next_window()
            opens, closes = window
            _log.info(
                "SDK bot window",
                extra={"opens_at": opens.isoformat(), "closes_at": closes.isoformat()},
            )

            async def still_planned(window: tuple[datetime, datetime] = window) -> bool:
                return await next_window() == window

            kept = await supervise_window(
                supervisor,
                opens_at=opens,
                closes_at=closes,
                clock=clock,
                sleep=sleep,
                still_planned=still_planned,
                recheck=recheck,
            )
            if kept:
                await sleep(max(1.0, (closes - clock()).total_seconds()))
            else:
                _log.info(
                    "SDK bot window changed by the calendar",
                    extra={"opens_at": opens.isoformat(), "closes_at": closes.isoformat()},
                )
    finally:
        await supervisor.stop()


def stored_changes(factory: sessionmaker[Session], *, group_name: str) -> ChangesReader:
    """A reader of the group's stored calendar changes for `supervise_sessions`.

    Reads in a worker thread (the event loop acknowledges webhooks). When the database
    cannot be read, the changes read last are kept (none before the first read) and the
    failure is logged: the bot keeps following the calendar it knew.
    """
    last: Sequence[Override] = ()

    def read() -> Sequence[Override]:
        with session_scope(factory) as db:
            return stored_overrides(db, group_name=group_name)

    async def changes() -> Sequence[Override]:
        nonlocal last
        try:
            last = await asyncio.to_thread(read)
        except SQLAlchemyError as failed:
            _log.warning(
                "calendar changes not read; the SDK bot follows the ones read before",
                extra={"error_type": type(failed).__name__},
            )
        return last

    return changes


def build_service(
    settings: Settings,
    *,
    database: Engine | None = None,
    control_factory: ControlFactory | None = None,
    clock: Callable[[], datetime] | None = None,
    owner: str | None = None,
    lease_ttl: timedelta = timedelta(seconds=30),
    sweep_interval: float = 5.0,
    metrics: Metrics | None = None,
    hooks: MeetingHooks | None = None,
    config_path: Path | None = None,
    supervisor: BotSupervisor | None = None,
    supervisors: Mapping[str, BotSupervisor] | None = None,
) -> FastAPI:
    """The serve app: receiver + worker + doorbell + leases + metrics.

    Args:
        settings: the whole configuration.
        database: the (migrated) database; default `storage.url`, disposed on shutdown.
        control_factory: meeting uuid -> `MeetingControl`; default chosen by
            `[bot] meeting_adapter` (see the module docstring).
        clock: the current time (aware); tests inject a frozen one.
        owner: this replica's lease owner id (default `replica_owner(settings)`).
        lease_ttl: lease length (a dead replica's meetings move after this long).
        sweep_interval: seconds between the worker's sweeps.
        metrics: the Prometheus registry wrapper (default: a fresh one).
        hooks: the runtime's hooks (default `ServiceHooks(settings)`).
        config_path: the settings file, passed on to the SDK join process (sdk mode).
        supervisor: the join-process supervisor of the one group (sdk mode; default one
            running `balint-bot join --meeting <group.meeting_id>`).
        supervisors: with several groups, theirs by group name (sdk mode; default one per
            group, each joining its group's first meeting id at its own calendar's times).

    Raises:
        ConfigError: sdk mode with a group without a meeting id.

    `app.state` gains `worker` (None in sdk mode), `wake` (what a console command journaled
    calls, as the receiver's `on_journaled` does), `supervisors` by group and
    `supervisor` (the first group's) in sdk mode,
    `simulated_meetings` (the simulator's registry) and `hooks`, next to the receiver's
    `settings`, `engine`, `session_factory`, `metrics`.
    """
    now = clock if clock is not None else system_clock
    registry: dict[str, MeetingControl] = {}
    sdk_mode = control_factory is None and settings.bot.meeting_adapter == "sdk"
    groups = settings.all_groups()
    watched: dict[str, BotSupervisor] = {}
    for group in groups if sdk_mode else ():
        numbers = group.meeting_numbers()
        if not numbers:
            raise ConfigError(
                f'[bot] meeting_adapter = "sdk" needs group {group.name!r}\'s meeting_id: '
                "the SDK bot process joins that meeting"
                if len(groups) > 1
                else '[bot] meeting_adapter = "sdk" needs [group] meeting_id: the SDK bot '
                "process joins that meeting"
            )
        given = supervisor if len(groups) == 1 else (supervisors or {}).get(group.name)
        watched[group.name] = given or BotSupervisor(
            join_command(numbers[0], config_path=config_path),
            # PostgreSQL's NOTIFY wakes the join process; on SQLite the receiver rings it
            doorbell=None if _on_postgres(settings) else JoinDoorbell(),
        )
    controls = (
        control_factory if control_factory is not None else default_controls(settings, registry)
    )
    owns_database = database is None
    database = database if database is not None else make_engine(settings.storage.url)
    counters = metrics if metrics is not None else Metrics()
    runtime_hooks = hooks if hooks is not None else ServiceHooks(settings)
    replica = owner or replica_owner(settings)
    holder: dict[str, Worker] = {}

    def wake(meeting_uuid: str | None) -> None:
        """Tell whatever runs the meetings of a journaled entry: this process's worker, or
        in sdk mode on SQLite each group's join process (`bot.join_doorbell`)."""
        worker = holder.get("worker")
        if worker is not None:
            worker.notify(meeting_uuid)
        for watcher in watched.values():
            if watcher.doorbell is not None:
                watcher.doorbell.ring(meeting_uuid)

    def on_journaled(_entry_id: int, meeting_uuid: str | None) -> None:
        wake(meeting_uuid)

    sdk_task: list[asyncio.Task[None]] = []

    def readiness() -> dict[str, bool]:
        if sdk_mode:
            alive = bool(sdk_task) and not any(task.done() for task in sdk_task)
            return {"supervisor": alive}
        worker = holder.get("worker")
        return {
            "worker": worker is not None and worker.running and not worker.stalled,
            "scheduler": worker is not None and worker.doorbell.running,
        }

    @asynccontextmanager
    async def sdk_lifespan(app: FastAPI) -> AsyncIterator[Any]:
        app.state.worker = None
        # each group's SDK bot at its own calendar's windows (with its facilitators' changes)
        for group in groups:
            changes = stored_changes(app.state.session_factory, group_name=group.name)
            sdk_task.append(
                asyncio.create_task(
                    supervise_sessions(
                        settings.for_group(group), watched[group.name], clock=now, changes=changes
                    ),
                    name=f"balint-sdk-sessions-{len(sdk_task)}",
                )
            )
        _log.info("SDK bot supervisor started", extra={"owner": replica})
        try:
            yield None
        finally:
            for task in sdk_task:
                task.cancel()
            for task in sdk_task:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            sdk_task.clear()
            _log.info("SDK bot supervisor stopped", extra={"owner": replica})
            if owns_database:
                database.dispose()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        worker = Worker(
            session_factory=app.state.session_factory,
            control_factory=controls,
            hooks=runtime_hooks,
            owner=replica,
            clock=now,
            lease_ttl=lease_ttl,
            sweep_interval=sweep_interval,
            metrics=counters,
            database_timeout=settings.bot.database_timeout_seconds,
        )
        holder["worker"] = worker
        app.state.worker = worker
        await worker.start()
        _log.info("worker started", extra={"owner": replica})
        try:
            yield None
        finally:
            await worker.stop(release=True)
            holder.pop("worker", None)
            _log.info("worker stopped", extra={"owner": replica})
            if owns_database:
                database.dispose()

    app = create_app(
        settings,
        engine=database,
        metrics=counters,
        on_journaled=on_journaled,
        readiness=readiness,
        lifespan=sdk_lifespan if sdk_mode else lifespan,
        clock=now,
        sealer=safety_plan.reply_sealer(settings, safety_plan.keyring_of(settings)),
    )
    app.state.simulated_meetings = registry
    app.state.wake = wake
    app.state.supervisors = watched
    app.state.supervisor = next(iter(watched.values()), None)
    app.state.hooks = runtime_hooks
    app.state.owner = replica
    return app


def _on_postgres(settings: Settings) -> bool:
    return make_url(settings.storage.url).get_backend_name() == "postgresql"
