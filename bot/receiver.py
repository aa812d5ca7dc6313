"""`build_receiver`: the process `balint-bot serve` listens in, with its meeting workers.

The receiver acknowledges: it checks the signature, journals the delivery (group commit)
and answers, all in `webhooks.http.create_app`; it runs no meeting. The meetings run in
`[server] meeting_workers` separate processes (`bot.worker_pool`, `bot.worker_process`),
each woken as soon as a delivery of one of its meetings is committed:

- SQLite: the receiver writes the meeting's uuid on that worker's local socket
  (`on_journaled`, after the commit; `bot.worker_channel`);
- PostgreSQL: the journal's own transaction sends `NOTIFY balint_journal, '<uuid>'`
  (`announce`), which the workers of every replica on the database `LISTEN` to, so a
  replica's worker holding a meeting's lease hears of a webhook another replica received.

`/healthz` stays 200 while the receiver lives and shows the workers (configured, alive,
restarts); `/readyz` reports the database, the journal and, as `worker` and `scheduler`,
every worker process (alive, heard from within three heartbeats, not stalled on a database
call, its doorbell running); `/metrics` shows the workers' processing lag and action counts next to
the receiver's own figures. The facilitator's console nudges the workers the same way
(`app.state.wake`, the pool's `notify`).

In `sdk` mode `serve` keeps `bot.service.build_service`: there the meeting runs in the
`balint-bot join` process, and serve runs no worker of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from bot import safety_plan
from bot.config import Settings
from bot.owners import replica_owner
from bot.worker_pool import WorkerPool
from storage.db import make_engine
from webhooks.http import create_app
from webhooks.metrics import Metrics

__all__ = ["build_receiver"]


def build_receiver(settings: Settings, *, config_path: Path | None) -> FastAPI:
    """The receiver app; its lifespan starts and stops the meeting worker processes, which
    load their settings from `config_path` (None: the same default as serve's)."""
    database = make_engine(settings.storage.url)
    counters = Metrics()
    pool = WorkerPool(
        settings.server.meeting_workers,
        config_path=config_path,
        metrics=counters,
        # in a flood the journal holds the workers back; their notices then wait too
        # (`app` is the app built below: notices come only once it answers)
        held=lambda: bool(app.state.journal_writer.holding_back_workers),
    )
    postgres = database.dialect.name == "postgresql"

    def on_journaled(_entry_id: int, meeting_uuid: str | None) -> None:
        if not postgres:  # PostgreSQL: the journal's NOTIFY wakes the workers
            pool.notify(meeting_uuid)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[Any]:
        await pool.start()
        try:
            yield None
        finally:
            await pool.stop()
            database.dispose()

    app = create_app(
        settings,
        engine=database,
        metrics=counters,
        on_journaled=on_journaled,
        readiness=pool.checks,
        health=pool.health,
        lifespan=lifespan,
        sealer=safety_plan.reply_sealer(settings, safety_plan.keyring_of(settings)),
        announce=postgres,
    )
    app.state.wake = pool.notify
    app.state.worker = None
    app.state.owner = replica_owner(settings)
    return app
