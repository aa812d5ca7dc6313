"""`BotSupervisor`: runs `balint-bot join --meeting ID` as its own process for one meeting.

The Meeting SDK bot lives in a separate process (the SDK is native code with a GLib loop and
can crash the process; one process per live meeting, see the design). `serve` owns a
supervisor per meeting: it starts the join process at the room's opening time of each session
the calendar plans (a meeting started outside every planned window gets no bot: the
facilitators add it with `balint-bot sessions add`), restarts it if it dies (bounded: at
most `max_restarts`, with exponential backoff and jitter, and a run that lasted
`healthy_after` seconds resets the count), and stops it at the end (SIGTERM, then SIGKILL
after a grace period).

`session_window` computes the opening and closing times from the group's calendar and the
facilitators' changes to it; `supervise_window` waits for the opening, runs the supervisor and
stops it at the close, or earlier when the calendar no longer has that window.
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

from bot.calendar import calendar_from_settings
from bot.config import Settings
from bot.errors import ConfigError
from bot.join_doorbell import JoinDoorbell
from phases.calendar import Override
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


class Process(Protocol):
    """The part of `asyncio.subprocess.Process` the supervisor uses."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Spawn(Protocol):
    """Starts the join process (`pass_fds`: descriptors it inherits, the doorbell's)."""

    def __call__(
        self, command: Sequence[str], *, pass_fds: Sequence[int] = ()
    ) -> Awaitable[Process]: ...


async def _spawn(command: Sequence[str], *, pass_fds: Sequence[int] = ()) -> Process:
    # The child's stdout is the Meeting SDK bindings' (they print the join parameters, the
    # ZAK and passcode included): never passed on. Its logs go to stderr, which is.
    return await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, pass_fds=tuple(pass_fds)
    )


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
        doorbell: on SQLite, the doorbell `serve`'s receiver rings for each journaled
            webhook (`bot.join_doorbell`): each process started gets a new one, its end
            passed as `--doorbell-fd N`. None: the join process hears of webhooks otherwise
            (PostgreSQL's notices) or by its sweep.
        spawn, sleep, rng, clock: injected for tests.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        policy: SupervisorPolicy | None = None,
        doorbell: JoinDoorbell | None = None,
        spawn: Spawn = _spawn,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.command = list(command)
        self.policy = policy or SupervisorPolicy()
        self.doorbell = doorbell
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

    async def _start(self) -> Process:
        if self.doorbell is None:
            return await self._spawn(self.command)
        theirs = self.doorbell.open()
        try:
            fd = theirs.fileno()
            return await self._spawn([*self.command, "--doorbell-fd", str(fd)], pass_fds=(fd,))
        finally:
            theirs.close()  # the child holds its own copy

    async def _watch(self) -> None:
        try:
            await self._keep_alive()
        finally:
            if self.doorbell is not None:
                self.doorbell.close()  # no join process listens any more

    async def _keep_alive(self) -> None:
        failures = 0
        while not self._stopping:
            started = self._clock()
            try:
                self._process = await self._start()
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


def session_window(
    settings: Settings, now: datetime, overrides: Sequence[Override] = ()
) -> tuple[datetime, datetime]:
    """The next (or current) session's opening and closing times, timezone-aware.

    The sessions are the group's calendar (`[group.calendar]`: cadence, modules, breaks and
    holidays) with the facilitators' changes `overrides` (`balint-bot sessions`, stored): a
    cancelled session has no window, a moved or added one has it at its own time. Opens
    `agenda.opens_minutes_before` the scheduled start; closes after the group's length, the
    overrun grace the facilitators have at its end (`overrun_grace_minutes`), the reflection
    and 10 minutes more. A session still open at `now` is "current".

    Raises:
        ConfigError: the calendar has no session in the next three years.
    """
    agenda = settings.agenda
    calendar = calendar_from_settings(settings.group, agenda)
    before = timedelta(minutes=agenda.opens_minutes_before)
    minutes = agenda.length_minutes + agenda.overrun_grace_minutes + agenda.reflection_minutes
    after = timedelta(minutes=minutes + 10)
    for row in calendar.coming(now - after, tuple(overrides), count=60):
        if row.live and row.start + after > now:
            return row.start - before, row.start + after
    raise ConfigError("settings: group.calendar plans no session in the next three years")


async def supervise_window(
    supervisor: BotSupervisor,
    *,
    opens_at: datetime,
    closes_at: datetime,
    clock: Clock = system_clock,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    still_planned: Callable[[], Awaitable[bool]] | None = None,
    recheck: float = 60.0,
) -> bool:
    """Wait for `opens_at`, keep the join process up until `closes_at` (or until it ends
    the meeting cleanly), then stop it.

    `still_planned`, when given, is asked at least every `recheck` seconds, before the
    opening and during the window, whether the calendar still has this window (a
    facilitator may cancel or move the session, or add an earlier one, meanwhile). When it
    no longer does, the join process is not started, or is stopped, and the result is False;
    otherwise True.
    """
    while (wait := (opens_at - clock()).total_seconds()) > 0:
        if still_planned is None:
            await sleep(wait)
            break
        await sleep(min(wait, recheck))
        if not await still_planned():
            return False
    await supervisor.start()
    try:
        while (remaining := (closes_at - clock()).total_seconds()) > 0:
            if await _ended_within(
                supervisor, remaining if still_planned is None else min(remaining, recheck), sleep
            ):
                return True
            if still_planned is not None and not await still_planned():
                return False
        return True
    finally:
        await supervisor.stop()


async def _ended_within(
    supervisor: BotSupervisor, seconds: float, sleep: Callable[[float], Awaitable[None]]
) -> bool:
    """Whether the supervisor stopped by itself (the meeting ended, or it gave up) within
    `seconds` (measured by `sleep`)."""
    ended = asyncio.ensure_future(supervisor.wait())
    nap = asyncio.ensure_future(sleep(seconds))
    try:
        await asyncio.wait({ended, nap}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (ended, nap):
            task.cancel()
        for task in (ended, nap):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return ended.done() and not ended.cancelled()
