"""One of `serve`'s meeting worker processes (`python -m bot.worker_process`, started by
`serve`; not a command to run by hand).

`serve` acknowledges webhooks in its own process and runs the meetings in
`[server] meeting_workers` of these (`bot.worker_pool` starts, watches and restarts them).
Each runs the same `bot.runtime.worker.Worker` as before, with its doorbell, over the
meetings of its shard (`bot.runtime.shards.shard_of`): a meeting is stepped by one worker
process of a replica, and across replicas the database lease still decides.

Lease owner: the replica's (`bot.owners.replica_owner`) with one worker, and that id +
`:w<index>` with several (`bot.owners.worker_owner`). Stable across restarts on purpose:
a worker restarted after a crash takes back its predecessor's leases at once (see
`replica_owner` for why that is safe).

Woken without polling delay: on SQLite the receiver writes the meeting's uuid on the
worker's socket (`bot.worker_channel`) after the journal commit; on PostgreSQL the journal's
own transaction sends a `NOTIFY` (`webhooks.intake`, channel `JOURNAL_CHANNEL`) that every
worker of every replica hears on a `LISTEN` connection (`bot.runtime.journal_listener`), so a
replica's worker holding a meeting's lease hears of a webhook another replica received. The
periodic sweep stays as the safety net either way.

It is started as this module, not as a `balint-bot` command: the command line imports every
command (the exports, the console, the demo), and a worker needs none of them. Nor does it
import FastAPI (`bot.service_hooks`; an import-linter contract). An idle worker went from
115 to 78 MiB resident (docs/benchmarks.md, "thirteenth round").

The process ends when its socket reads end-of-file (the receiver is gone, even by
`kill -9`: no worker outlives it) or on SIGTERM/SIGINT; it then finishes the step in
progress and gives up its leases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.exit_status import exit_status
from bot.heap import freeze_start_up
from bot.logging_setup import configure_logging
from bot.owners import worker_owner
from bot.runtime.shards import shard_of
from bot.runtime.worker import Worker, journal_notices
from bot.service_hooks import ServiceHooks, default_controls
from bot.worker_channel import (
    HEARTBEAT_SECONDS,
    MAX_LINE,
    Status,
    action_line,
    lag_line,
    read_message,
    status_line,
)
from storage.checkpoints import checkpoint_beside
from storage.clock import system_clock
from storage.db import make_engine, make_session_factory
from storage.turnstile import yield_to_receiver

__all__ = ["ChannelMetrics", "main", "run_worker"]

_log = logging.getLogger(__name__)

#: How long a woken worker lets a burst of webhooks gather before its step (`Worker`): woken
#: at once for each webhook, it would otherwise take one step (and its transactions, which
#: contend with the receiver's journal writes on SQLite) per webhook under load.
GATHER_SECONDS = 0.01
#: Added to the worker's niceness on PostgreSQL: when the cores are short, the scheduler
#: gives the receiver (Zoom's 3-second ack deadline) the CPU first. Not on SQLite, where a
#: worker shares the file's one write lock with the receiver: descheduled while holding it,
#: a lower-priority worker would hold up the acknowledgements instead.
NICENESS = 5
#: Longest a metrics line waits to go out with the ones after it (`ChannelMetrics`).
METRICS_DELAY = 0.05


class ChannelMetrics:
    """The runtime's metrics, sent to the receiver (whose `/metrics` shows them).

    Made on the worker's event loop. The runtime reports from its database threads too (an
    entry's lag is observed when the step that fed it commits, on the thread that ran it),
    but a stream writer belongs to its loop and is not thread-safe: lines from another
    thread are handed to the loop to write, so lines never interleave. A line waits up to
    `delay` seconds and goes out with the others reported meanwhile, in one write: a batch
    of 50 entries reports 50 lags from its thread, and a visit that carries out a meeting's
    actions reports one line per action on the loop. Waking the loop for each thread's line
    (a write to its wake-up pipe, a turn of the loop, the GIL handed back and forth) cost a
    meeting's first visit more than the lines themselves. Writing at the loop's next turn
    was not enough either: the loop turns once per action (each action's record is a
    database call), and a write per turn, a system call each, was a twentieth of the
    worker's CPU at the meditation's end of 200 meetings. `/metrics` does not notice the
    wait; `flush` writes what is left when the worker stops.
    """

    def __init__(self, writer: asyncio.StreamWriter, *, delay: float = METRICS_DELAY) -> None:
        self._writer = writer
        self._delay = delay
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._lock = threading.Lock()
        #: lines for the loop to write (not empty: the loop will write them)
        self._pending: list[bytes] = []

    def observe_lag(self, seconds: float) -> None:
        self._send(lag_line(seconds))

    def count_action(self, *, kind: str, result: str) -> None:
        self._send(action_line(kind, result))

    def _send(self, line: bytes) -> None:
        with self._lock:
            scheduled = bool(self._pending)  # the lines before this one will be written
            self._pending.append(line)
        if scheduled:
            return
        try:
            if threading.get_ident() == self._loop_thread:
                self._loop.call_later(self._delay, self.flush)
            else:
                self._loop.call_soon_threadsafe(self._loop.call_later, self._delay, self.flush)
        except RuntimeError:  # the loop is closed only once the worker has stopped
            with self._lock:
                self._pending.clear()

    def flush(self) -> None:
        """Write the lines reported and not written yet (on the loop)."""
        with self._lock:
            lines, self._pending = self._pending, []
        if lines and not self._writer.is_closing():
            self._writer.write(b"".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    """The worker process's command line (`bot.worker_pool.worker_command` writes it)."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.worker_process",
        description="(started by balint-bot serve) one of serve's meeting worker processes",
    )
    parser.add_argument("--config", type=Path, default=None, help="serve's settings file")
    parser.add_argument("--index", type=int, required=True, help="this worker's shard")
    parser.add_argument("--count", type=int, required=True, help="how many workers serve runs")
    parser.add_argument(
        "--channel-fd", type=int, required=True, help="the socket to serve (a file descriptor)"
    )
    args = parser.parse_args(argv)

    def run() -> int:
        if not 0 <= args.index < args.count:
            raise ConfigError(f"meeting worker: no worker {args.index} among {args.count}")
        settings = load_settings(args.config)
        configure_logging(settings.log)
        return run_worker(settings, index=args.index, count=args.count, channel_fd=args.channel_fd)

    return exit_status(run)


def run_worker(
    settings: Settings,
    *,
    index: int,
    count: int,
    channel_fd: int,
    lease_ttl: timedelta = timedelta(seconds=30),
    sweep_interval: float = 5.0,
) -> int:
    """Run worker `index` of `count` until its receiver is gone or it is told to stop."""
    if make_url(settings.storage.url).get_backend_name() == "postgresql":
        os.nice(NICENESS)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(
            _serve(
                settings,
                index=index,
                count=count,
                channel_fd=channel_fd,
                lease_ttl=lease_ttl,
                sweep_interval=sweep_interval,
            )
        )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (as the receiver's uvicorn picks it)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _serve(
    settings: Settings,
    *,
    index: int,
    count: int,
    channel_fd: int,
    lease_ttl: timedelta,
    sweep_interval: float,
) -> int:
    channel = socket.socket(fileno=channel_fd)
    channel.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=channel, limit=MAX_LINE)
    database = make_engine(settings.storage.url, application_name=f"balint-bot-worker-{index}")
    yield_to_receiver(database)
    checkpoint_beside(database)
    metrics = ChannelMetrics(writer)
    worker = Worker(
        session_factory=make_session_factory(database),
        control_factory=default_controls(settings, {}),
        hooks=ServiceHooks(settings),
        owner=worker_owner(settings, index, count),
        clock=system_clock,
        lease_ttl=lease_ttl,
        sweep_interval=sweep_interval,
        metrics=metrics,
        database_timeout=settings.bot.database_timeout_seconds,
        shard=(index, count),
        gather=GATHER_SECONDS,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await worker.start()
    freeze_start_up()
    _log.info("worker started", extra={"owner": worker.owner, "worker": index})

    def wake(meeting_uuid: str) -> None:
        if shard_of(meeting_uuid, count) == index:
            worker.notify(meeting_uuid)

    tasks = [
        asyncio.create_task(_notices(reader, worker, stop), name="balint-worker-notices"),
        asyncio.create_task(_heartbeat(writer, worker), name="balint-worker-heartbeat"),
    ]
    listening = journal_notices(database, worker, wake=wake)
    if listening is not None:
        tasks.append(listening)
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await worker.stop(release=True)
        metrics.flush()
        writer.close()
        database.dispose()
        _log.info("worker stopped", extra={"owner": worker.owner, "worker": index})
    return 0


async def _notices(reader: asyncio.StreamReader, worker: Worker, stop: asyncio.Event) -> None:
    """Hand each notice to the worker; stop at end-of-file (the receiver is gone)."""
    try:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # a line over MAX_LINE: skipped (LimitOverrunError)
                continue
            if not line:
                _log.info("receiver gone: meeting worker stopping", extra={"owner": worker.owner})
                return
            message = read_message(line)
            if message is None or "meeting" not in message:
                continue
            meeting = message["meeting"]
            worker.notify(meeting if isinstance(meeting, str) else None)
    except (ConnectionError, OSError):
        _log.info("receiver gone: meeting worker stopping", extra={"owner": worker.owner})
    finally:
        stop.set()


async def _heartbeat(writer: asyncio.StreamWriter, worker: Worker) -> None:
    """Tell the receiver how this worker is, twice per `HEARTBEAT_SECONDS`."""
    while not writer.is_closing():
        status = Status(
            running=worker.running, stalled=worker.stalled, scheduler=worker.doorbell.running
        )
        writer.write(status_line(status))
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
        await asyncio.sleep(HEARTBEAT_SECONDS / 2)


if __name__ == "__main__":
    raise SystemExit(main())
