"""PostgreSQL: hear the journal's `NOTIFY` (a new webhook's meeting uuid) without polling.

The receiver's journal writer sends `NOTIFY balint_journal, '<meeting uuid>'` in the batch's
own transaction (`storage.journal.announce`), so the notice arrives only once the entry is
committed, and reaches the workers of every replica on the database. `listen_for_journal`
keeps one `LISTEN` connection open on a daemon thread (psycopg's blocking `notifies`, so the
worker's event loop never waits on it) and calls `wake(uuid)` for each notice.

A notice sent while nobody listened is lost, so after every (re)connection `resweep()` asks
the worker for a full sweep; the worker's periodic sweep stays the last safety net. A
connection that fails or goes quiet (TCP keepalives, a bounded connect) is reopened after
`retry` seconds, logged once per outage, never with the URL.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine

from storage.journal import JOURNAL_CHANNEL

__all__ = ["listen_for_journal"]

_log = logging.getLogger(__name__)


async def listen_for_journal(
    database: Engine,
    *,
    wake: Callable[[str], None],
    resweep: Callable[[], None],
    retry: float = 1.0,
) -> None:
    """Listen until cancelled. `wake` and `resweep` are called from the listening thread
    (both must be thread-safe, as `Worker.notify` is)."""
    conninfo = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    stop = threading.Event()
    thread = threading.Thread(
        target=_listen,
        args=(conninfo, wake, resweep, stop, retry),
        name="balint-journal-listen",
        daemon=True,
    )
    thread.start()
    try:
        await asyncio.Event().wait()  # until cancelled
    finally:
        stop.set()
        # its connection closed before this returns (the thread sees `stop` within a second)
        await asyncio.shield(asyncio.to_thread(thread.join, retry + 6.0))


def _listen(
    conninfo: str,
    wake: Callable[[str], None],
    resweep: Callable[[], None],
    stop: threading.Event,
    retry: float,
) -> None:
    failing = False
    while not stop.is_set():
        try:
            with psycopg.connect(
                conninfo,
                autocommit=True,
                connect_timeout=5,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
                application_name="balint-bot-listen",
            ) as connection:
                connection.execute(f"LISTEN {JOURNAL_CHANNEL}")
                if failing:
                    _log.info("journal notices heard again")
                failing = False
                resweep()
                while not stop.is_set():
                    for notice in connection.notifies(timeout=1.0):
                        wake(notice.payload)
        except psycopg.Error as failure:
            if not failing:
                _log.warning(
                    "journal notices not heard; the worker's sweep covers meanwhile",
                    extra={"error_type": type(failure).__name__},
                )
            failing = True
            stop.wait(retry)
