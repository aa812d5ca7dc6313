"""`WorkerPool`: `serve`'s meeting worker processes, seen from the receiver.

The receiver (`bot.receiver`) only acknowledges webhooks; the meetings run in
`[server] meeting_workers` child processes (`python -m bot.worker_process`),
so the acknowledgements never wait on the engine, the database work of a step or the GIL of
the process that runs them. The pool:

- starts each worker with one end of a local socket pair (`bot.worker_channel`), its shard
  index and the pool's size;
- routes a meeting's notice to the worker of its shard (`bot.runtime.shards.shard_of`):
  `notify(uuid)` returns at once, never waiting on a worker; the notices of one turn of the
  event loop go out together at its end, one write a worker, each meeting named once (a
  journal batch of 50 deliveries, acknowledged in one turn, would otherwise cost 50 writes
  and wake the worker 50 times). While the journal holds the workers back in a flood
  (`held`, `webhooks.intake`), the notices wait up to the workers' patience at the
  turnstile (`storage.turnstile.PATIENCE`) and go out together: a worker could begin
  nothing sooner, and woken at every batch it took the cores the acknowledgements need
  (docs/benchmarks.md, "twenty-eighth round"). A worker that does not read (hung) has its
  notices dropped past `_MAX_BUFFERED` bytes: its periodic sweep finds the work in the
  database anyway;
- restarts a worker that exits or dies (after 0.5 s, doubling up to 30 s while it keeps
  dying within a minute of starting); the restarted worker keeps its lease owner id, so it
  takes its meetings back at once, and the receiver acks throughout;
- reports each worker's health for `/readyz` (`checks`): alive, a status line within three
  heartbeats, its pump running, no database call overrunning, its doorbell running;
- feeds the workers' lag and action counts into the receiver's `/metrics`;
- on `stop`, closes the sockets and sends SIGTERM (each worker finishes its step and gives
  up its leases), then SIGKILL after `grace` seconds.

If the receiver itself dies, even by `kill -9`, each worker reads end-of-file on its socket
and stops: no worker outlives its receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.runtime.shards import shard_of
from bot.worker_channel import HEARTBEAT_SECONDS, MAX_LINE, Status, notice_line, read_message
from storage.turnstile import PATIENCE
from webhooks.metrics import Metrics

__all__ = ["WorkerPool", "worker_command"]

_log = logging.getLogger(__name__)

#: Unread notice bytes kept for one worker before further notices to it are dropped.
_MAX_BUFFERED = 1 << 20
_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 30.0
#: A worker that lived this long before it died is restarted after the first back-off again.
_STABLE_SECONDS = 60.0


def worker_command(config_path: Path | None, *, index: int, count: int, fd: int) -> list[str]:
    """The command line of worker `index` of `count`, its socket on file descriptor `fd`."""
    command = [sys.executable, "-m", "bot.worker_process"]
    if config_path is not None:
        command += ["--config", str(config_path)]
    return command + [
        "--index",
        str(index),
        "--count",
        str(count),
        "--channel-fd",
        str(fd),
    ]


@dataclass
class _Slot:
    """One worker's place in the pool: its process and socket while it lives."""

    index: int
    process: asyncio.subprocess.Process | None = None
    writer: asyncio.StreamWriter | None = None
    status: Status | None = None
    heard_at: float = 0.0
    started_at: float = 0.0
    backoff: float = _FIRST_BACKOFF
    restarts: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    reader: asyncio.Task[None] | None = field(default=None, repr=False)
    #: the meetings to name in its next write (`WorkerPool.notify`; None: sweep everything),
    #: in the order they were first named
    notices: dict[str | None, None] = field(default_factory=dict, repr=False)


class WorkerPool:
    """Runs `count` meeting worker processes (see the module docstring).

    Args:
        count: how many worker processes (`[server] meeting_workers`).
        config_path: the settings file the workers load (None: the same default as serve).
        metrics: the receiver's registry, which the workers' figures go to.
        grace: seconds a stopping worker gets before it is killed.
        held: whether the journal holds the workers back (a flood) this instant.
        patience: how long notices wait while `held` (the workers' at the turnstile).
    """

    def __init__(
        self,
        count: int,
        *,
        config_path: Path | None,
        metrics: Metrics,
        grace: float = 15.0,
        held: Callable[[], bool] = lambda: False,
        patience: float = PATIENCE,
    ) -> None:
        self.count = count
        self._config_path = config_path
        self._metrics = metrics
        self._grace = grace
        self._held = held
        self._patience = patience
        self._slots = [_Slot(index) for index in range(count)]
        self._stopping = False
        #: notices are waiting for the end of this turn of the event loop (`notify`)
        self._sending = False
        #: notices are waiting for the workers' patience to run out (`notify`, in a flood)
        self._deferred: asyncio.TimerHandle | None = None

    # -- life cycle ------------------------------------------------------------------------

    async def start(self, *, wait: float = 60.0) -> None:
        """Start every worker (each then watched, and restarted, by its own task) and wait
        up to `wait` seconds until each has reported itself running, so that `serve` listens
        ready; one that does not is reported by `checks` (serve listens all the same)."""
        self._stopping = False
        for slot in self._slots:
            await self._spawn(slot)
            slot.task = asyncio.create_task(self._watch(slot), name=f"balint-pool-{slot.index}")
        deadline = time.monotonic() + wait
        while not self.checks()["worker"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not self.checks()["worker"]:
            _log.error("meeting workers not running after start-up", extra={"seconds": wait})

    async def stop(self) -> None:
        """Stop every worker: socket closed and SIGTERM, SIGKILL after the grace period."""
        self._stopping = True
        for slot in self._slots:
            if slot.writer is not None:
                slot.writer.close()
            if slot.process is not None and slot.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signal.SIGTERM)
        for slot in self._slots:
            await self._reap(slot)
            for task in (slot.task, slot.reader):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            slot.task = slot.reader = None

    async def _reap(self, slot: _Slot) -> None:
        process = slot.process
        if process is None:
            return
        try:
            await asyncio.wait_for(process.wait(), timeout=self._grace)
        except TimeoutError:
            _log.warning("meeting worker not stopped in time; killed", extra={"worker": slot.index})
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def _spawn(self, slot: _Slot) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            command = worker_command(
                self._config_path, index=slot.index, count=self.count, fd=theirs.fileno()
            )
            slot.process = await asyncio.create_subprocess_exec(
                *command,
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                # not in the terminal's process group: a Ctrl-C stops the receiver, which
                # stops its workers in order (they would otherwise race its shutdown)
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker holds its own copy; ours must not keep it open
        ours.setblocking(False)
        reader, slot.writer = await asyncio.open_unix_connection(sock=ours, limit=MAX_LINE)
        slot.status = None
        slot.started_at = slot.heard_at = time.monotonic()
        slot.reader = asyncio.create_task(
            self._listen(slot, reader), name=f"balint-pool-listen-{slot.index}"
        )
        _log.info(
            "meeting worker process started",
            extra={"worker": slot.index, "pid": slot.process.pid, "workers": self.count},
        )

    async def _watch(self, slot: _Slot) -> None:
        """Restart the worker whenever it exits, until the pool stops."""
        while not self._stopping:
            assert slot.process is not None
            code = await slot.process.wait()
            if self._stopping:
                return
            lived = time.monotonic() - slot.started_at
            if lived >= _STABLE_SECONDS:
                slot.backoff = _FIRST_BACKOFF
            _log.error(
                "meeting worker process exited; restarting it",
                extra={
                    "worker": slot.index,
                    "exit_code": code,
                    "restart_in_seconds": slot.backoff,
                },
            )
            if slot.writer is not None:
                slot.writer.close()
            slot.writer, slot.status = None, None
            await asyncio.sleep(slot.backoff)
            slot.backoff = min(_MAX_BACKOFF, slot.backoff * 2)
            if self._stopping:
                return
            slot.restarts += 1
            try:
                await self._spawn(slot)
            except OSError as failed:  # try again after the next back-off
                _log.error(
                    "meeting worker process not started",
                    extra={"worker": slot.index, "error_type": type(failed).__name__},
                )
                slot.started_at = time.monotonic()

    async def _listen(self, slot: _Slot, reader: asyncio.StreamReader) -> None:
        """The worker's status, lag and action lines, until its socket closes."""
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # an over-long line: skipped
                continue
            except (ConnectionError, OSError):
                return
            if not line:
                return
            message = read_message(line)
            if message is None:
                continue
            slot.heard_at = time.monotonic()
            if isinstance(status := message.get("status"), dict):
                slot.status = Status(
                    running=bool(status.get("running")),
                    stalled=bool(status.get("stalled")),
                    scheduler=bool(status.get("scheduler")),
                )
            elif isinstance(lag := message.get("lag"), int | float):
                self._metrics.observe_lag(float(lag))
            elif isinstance(action := message.get("action"), list) and len(action) == 2:
                self._metrics.count_action(kind=str(action[0]), result=str(action[1]))

    # -- the receiver's side ---------------------------------------------------------------

    def notify(self, meeting_uuid: str | None) -> None:
        """Wake the worker of `meeting_uuid`'s shard (None: every worker sweeps). Never
        waits. Called on the event loop; the notice goes out with the others of this turn
        of the loop, once it has run what is ready (`_send_notices`), or, while the journal
        holds the workers back, with those of the workers' patience."""
        if meeting_uuid is None:
            for slot in self._slots:
                slot.notices[None] = None
        else:
            self._slots[shard_of(meeting_uuid, self.count)].notices[meeting_uuid] = None
        if self._sending:
            return
        loop = asyncio.get_running_loop()
        if not self._held():
            self._sending = True
            loop.call_soon(self._send_notices)
        elif self._deferred is None:
            self._deferred = loop.call_later(self._patience, self._send_notices)

    def _send_notices(self) -> None:
        self._sending = False
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        for slot in self._slots:
            notices, slot.notices = slot.notices, {}
            if notices:
                self._send(slot, b"".join(notice_line(uuid) for uuid in notices))

    def _send(self, slot: _Slot, lines: bytes) -> None:
        writer = slot.writer
        if writer is None or writer.is_closing():
            return  # the worker is being restarted: its first sweep finds the work
        if writer.transport.get_write_buffer_size() > _MAX_BUFFERED:
            return  # the worker does not read: its periodic sweep finds the work
        writer.write(lines)

    def checks(self) -> dict[str, bool]:
        """`/readyz`'s `worker` and `scheduler` checks: true only if they hold for every worker."""
        now = time.monotonic()
        worker = scheduler = True
        for slot in self._slots:
            alive = slot.process is not None and slot.process.returncode is None
            fresh = now - slot.heard_at <= 3 * HEARTBEAT_SECONDS
            status = slot.status
            if not (alive and fresh and status is not None):
                worker = scheduler = False
                continue
            worker = worker and status.running and not status.stalled
            scheduler = scheduler and status.scheduler
        return {"worker": worker, "scheduler": scheduler}

    def health(self) -> dict[str, Any]:
        """`/healthz`'s view of the workers: how many are configured and alive, and how
        often one was started again."""
        alive = sum(
            1
            for slot in self._slots
            if slot.process is not None and slot.process.returncode is None
        )
        restarts = sum(slot.restarts for slot in self._slots)
        return {"workers": {"configured": self.count, "alive": alive, "restarts": restarts}}
