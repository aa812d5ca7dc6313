"""`BotSupervisor`: runs `balint-bot join --meeting ID` as its own process for one meeting.

The Meeting SDK bot lives in a separate process (the SDK is native code with a GLib loop and
can crash the process; one process per live meeting, see the design). `serve` owns a
supervisor per meeting: it starts the join process at the room's opening time (or when Zoom
says the meeting started), restarts it if it dies (bounded: at most `max_restarts`, with
exponential backoff and jitter, and a run that lasted `healthy_after` seconds resets the
count), and stops it at the end (SIGTERM, then SIGKILL after a grace period).

`session_window` computes the opening and closing times from the group's settings;
`supervise_window` waits for the opening, runs the supervisor and stops it at the close.
The spawn function, sleep, clock and random source are injected, so tests neither wait nor
need real processes (one test does use a real one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.config import Settings
from storage.clock import Clock, system_clock

__all__ = [
    "BotSupervisor",
    "Process",
    "SupervisorPolicy",
    "join_command",
    "session_window",
    "supervise_window",
]

logger = logging.getLogger(__name__)

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Process(Protocol):
    """The part of `asyncio.subprocess.Process` the supervisor uses."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


Spawn = Callable[[Sequence[str]], Awaitable[Process]]


async def _spawn(command: Sequence[str]) -> Process:
    # The child's stdout is the Meeting SDK bindings' (they print the join parameters, the
    # ZAK and passcode included): never passed on. Its logs go to stderr, which is.
    return await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorPolicy:
    """Restart rules.

    Args:
        max_restarts: restarts allowed in a row before giving up.
        backoff_base: first delay before a restart, in seconds (doubles, with jitter).
        backoff_cap: longest delay before a restart.
        healthy_after: a run at least this long resets the restart count.
        stop_grace: seconds between SIGTERM and SIGKILL when stopping.
    """

    max_restarts: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 60.0
    healthy_after: float = 300.0
    stop_grace: float = 15.0

    def delay(self, restart: int, rng: random.Random) -> float:
        cap = min(self.backoff_cap, self.backoff_base * (2 ** (restart - 1)))
        return rng.uniform(cap / 2, cap)


def join_command(
    meeting_id: str, *, config_path: Path | None = None, python: str = sys.executable
) -> list[str]:
    """The command line of the join process for `meeting_id`."""
    command = [python, "-m", "bot.cli"]
    if config_path is not None:
        command += ["--config", str(config_path)]
    return [*command, "join", "--meeting", meeting_id]


class BotSupervisor:
    """Keeps one join process alive between `start()` and `stop()`.

    Args:
        command: the join process's command line (see `join_command`).
        policy: restart rules.
        spawn, sleep, rng, clock: injected for tests.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        policy: SupervisorPolicy | None = None,
        spawn: Spawn = _spawn,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.command = list(command)
        self.policy = policy or SupervisorPolicy()
        self._spawn = spawn
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._process: Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.exit_codes: list[int] = []
        self.restarts = 0
        self.gave_up = False

    @property
    def running(self) -> bool:
        """True while a join process is alive (or being restarted)."""
        return self._task is not None and not self._task.done()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the join process and watch it; does nothing if already running."""
        if self.running:
            return
        self._stopping = False
        self.gave_up = False
        self._task = asyncio.create_task(self._watch(), name="bot-supervisor")

    async def wait(self) -> None:
        """Wait until the supervisor stops (stopped, finished cleanly, or gave up)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop the join process: SIGTERM, then SIGKILL after `policy.stop_grace`."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            logger.info("stopping the SDK bot process %s", process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), self.policy.stop_grace)
            except TimeoutError:
                logger.warning("SDK bot process %s ignored SIGTERM; killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        failures = 0
        while not self._stopping:
            started = self._clock()
            try:
                self._process = await self._spawn(self.command)
            except OSError as cannot:
                logger.error("cannot start the SDK bot process: %s", cannot)
                code = -1
            else:
                logger.info("SDK bot process %s started", self._process.pid)
                code = await self._process.wait()
            if self._stopping:
                return
            self.exit_codes.append(code)
            if code == 0:
                logger.info("SDK bot process finished (the meeting ended)")
                return
            lasted = (self._clock() - started).total_seconds()
            failures = 1 if lasted >= self.policy.healthy_after else failures + 1
            if failures > self.policy.max_restarts:
                self.gave_up = True
                logger.error(
                    "SDK bot process died %d times in a row (last exit %d); giving up",
                    failures,
                    code,
                )
                return
            delay = self.policy.delay(failures, self._rng)
            self.restarts += 1
            logger.warning(
                "SDK bot process exited with %d; restart %d in %.1fs", code, failures, delay
            )
            await self._sleep(delay)


def session_window(settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    """The next (or current) session's opening and closing times, timezone-aware.

    Opens `agenda.opens_minutes_before` the scheduled start; closes after the group's
    length, the reflection and 10 minutes' grace. A session still open at `now` is "current".
    """
    group, agenda = settings.group, settings.agenda
    zone = ZoneInfo(group.timezone)
    local = now.astimezone(zone)
    weekday = _WEEKDAYS.index(group.weekday)
    before = timedelta(minutes=agenda.opens_minutes_before)
    after = timedelta(minutes=agenda.length_minutes + agenda.reflection_minutes + 10)
    for days in range(-1, 8):
        day = local.date() + timedelta(days=days)
        if day.weekday() != weekday:
            continue
        start = datetime.combine(day, group.start_time, tzinfo=zone)
        if start + after > now:
            return start - before, start + after
    raise AssertionError("a weekday recurs within 8 days")


async def supervise_window(
    supervisor: BotSupervisor,
    *,
    opens_at: datetime,
    closes_at: datetime,
    clock: Clock = system_clock,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Wait for `opens_at`, keep the join process up until `closes_at` (or until it ends
    the meeting cleanly), then stop it."""
    wait = (opens_at - clock()).total_seconds()
    if wait > 0:
        await sleep(wait)
    await supervisor.start()
    remaining = (closes_at - clock()).total_seconds()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(supervisor.wait(), max(0.0, remaining))
    await supervisor.stop()
