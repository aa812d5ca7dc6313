"""BotSupervisor: restarts a dying join process with bounded backoff and stops it cleanly."""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import AgendaSettings, GroupSettings, Settings
from bot.join_doorbell import JoinDoorbell
from bot.meeting.supervisor import (
    BotSupervisor,
    SupervisorPolicy,
    join_command,
    session_window,
    supervise_window,
)

pytestmark = pytest.mark.anyio


class FakeProcess:
    """A join process that exits with `code` when told to (or on terminate)."""

    def __init__(self, pid: int, code: int | None, *, ignores_term: bool = False) -> None:
        self.pid = pid
        self._code = code
        self.returncode: int | None = None
        self._done = asyncio.Event()
        self.ignores_term = ignores_term
        self.signals: list[str] = []
        if code is not None:
            self.finish(code)

    def finish(self, code: int) -> None:
        self.returncode = code
        self._done.set()

    async def wait(self) -> int:
        await self._done.wait()
        assert self.returncode is not None
        return self.returncode

    def terminate(self) -> None:
        self.signals.append("TERM")
        if not self.ignores_term:
            self.finish(-15)

    def kill(self) -> None:
        self.signals.append("KILL")
        self.finish(-9)


class Spawner:
    def __init__(self, codes: list[int | None], *, ignores_term: bool = False) -> None:
        self.codes = codes
        self.spawned: list[FakeProcess] = []
        self.commands: list[list[str]] = []
        self.ignores_term = ignores_term

    async def __call__(self, command):
        self.commands.append(list(command))
        code = self.codes.pop(0) if self.codes else None
        process = FakeProcess(100 + len(self.spawned), code, ignores_term=self.ignores_term)
        self.spawned.append(process)
        return process


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def test_restarts_with_bounded_backoff_then_gives_up():
    spawn, sleeps = Spawner([1, 1, 1, 1]), Sleeps()
    policy = SupervisorPolicy(max_restarts=3, backoff_base=2.0, backoff_cap=5.0)
    supervisor = BotSupervisor(
        ["join"], policy=policy, spawn=spawn, sleep=sleeps, rng=random.Random(1)
    )
    await supervisor.start()
    await supervisor.wait()
    assert supervisor.gave_up
    assert len(spawn.spawned) == 4
    assert supervisor.restarts == 3
    first, second, third = sleeps.delays
    assert 1.0 <= first <= 2.0 and 2.0 <= second <= 4.0 and 2.5 <= third <= 5.0


async def test_clean_exit_is_not_restarted():
    spawn = Spawner([0])
    supervisor = BotSupervisor(["join"], spawn=spawn, sleep=Sleeps())
    await supervisor.start()
    await supervisor.wait()
    assert (supervisor.exit_codes, supervisor.restarts, supervisor.gave_up) == ([0], 0, False)


async def test_a_long_healthy_run_resets_the_count():
    now = [datetime(2026, 12, 2, 23, 45, tzinfo=UTC)]
    spawn = Spawner([])

    async def spawn_and_age(command):
        process = await spawn(command)
        now[0] += timedelta(minutes=30)  # every run lasts half an hour
        process.finish(1)
        return process

    supervisor = BotSupervisor(
        ["join"],
        policy=SupervisorPolicy(max_restarts=1, healthy_after=60),
        spawn=spawn_and_age,
        sleep=Sleeps(),
        clock=lambda: now[0],
    )
    await supervisor.start()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not supervisor.gave_up  # each crash came after a healthy run
    assert len(spawn.spawned) > 3
    await supervisor.stop()


async def test_stop_terminates_then_kills():
    spawn = Spawner([None], ignores_term=True)
    supervisor = BotSupervisor(
        ["join"], policy=SupervisorPolicy(stop_grace=0.05), spawn=spawn, sleep=Sleeps()
    )
    await supervisor.start()
    await asyncio.sleep(0)
    await supervisor.stop()
    assert spawn.spawned[0].signals == ["TERM", "KILL"]
    assert not supervisor.running
    assert len(spawn.spawned) == 1  # a stop is not a crash


async def test_real_process_is_restarted():
    command = [sys.executable, "-c", "import sys; sys.exit(3)"]
    supervisor = BotSupervisor(command, policy=SupervisorPolicy(max_restarts=2), sleep=Sleeps())
    await supervisor.start()
    await asyncio.wait_for(supervisor.wait(), 30)
    assert supervisor.exit_codes == [3, 3, 3]
    assert supervisor.gave_up


async def test_supervise_window_starts_at_opening_and_stops_at_close():
    now = [datetime(2026, 12, 2, 23, 0, tzinfo=UTC)]
    spawn, sleeps = Spawner([None]), Sleeps()

    async def sleep(seconds: float) -> None:
        await sleeps(seconds)
        now[0] += timedelta(seconds=seconds)

    supervisor = BotSupervisor(["join"], spawn=spawn, sleep=sleep)
    await supervise_window(
        supervisor,
        opens_at=now[0] + timedelta(minutes=45),
        closes_at=now[0] + timedelta(minutes=45, seconds=0.05),
        clock=lambda: now[0],
        sleep=sleep,
    )
    assert sleeps.delays[0] == 45 * 60
    assert spawn.spawned[0].signals == ["TERM"]
    assert not supervisor.running


def test_session_window_for_a_wednesday_group():
    settings = Settings(
        group=GroupSettings(timezone="America/Toronto", weekday="wednesday"),
        agenda=AgendaSettings(opens_minutes_before=15, length_minutes=105, reflection_minutes=15),
    )
    monday = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    opens, closes = session_window(settings, monday)
    assert opens == datetime(2026, 12, 2, 23, 45, tzinfo=UTC)  # Wed 18:45 EST
    assert closes == datetime(2026, 12, 3, 2, 20, tzinfo=UTC)  # 19:00 + 105 + 10 + 15 + 10 min
    during = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    assert session_window(settings, during) == (opens, closes)  # the current one


def test_join_command(tmp_path):
    config = tmp_path / "b.toml"
    assert join_command("85746065432", config_path=config, python="py") == [
        "py",
        "-m",
        "bot.cli",
        "--config",
        str(config),
        "join",
        "--meeting",
        "85746065432",
    ]


async def test_the_join_processs_stdout_never_reaches_the_service(capfd):
    """The bindings print the ZAK and passcode on stdout: the supervisor discards it."""
    from bot.meeting.supervisor import _spawn

    process = await _spawn(
        [sys.executable, "-c", "import sys; print('User ZAK: zak-secret'); sys.stderr.write('log')"]
    )
    assert await process.wait() == 0
    out, err = capfd.readouterr()
    assert "zak-secret" not in out + err
    assert "log" in err  # its logs (stderr) still reach the service's


async def test_a_real_join_process_inherits_its_doorbell_and_hears_the_ring(tmp_path):
    heard = tmp_path / "heard"
    child = (
        "import pathlib, socket, sys\n"
        "assert sys.argv[-2] == '--doorbell-fd'\n"
        "bell = socket.socket(fileno=int(sys.argv[-1]))\n"
        f"pathlib.Path({str(heard)!r}).write_bytes(bell.recv(100))\n"
    )
    doorbell = JoinDoorbell()
    supervisor = BotSupervisor([sys.executable, "-c", child], doorbell=doorbell, sleep=Sleeps())
    await supervisor.start()
    for _ in range(500):  # until the child is running with its end
        if supervisor.pid is not None:
            break
        await asyncio.sleep(0.01)
    doorbell.ring("4118UHIiRCAAAtBlDkcVyw==")
    await asyncio.wait_for(supervisor.wait(), 30)
    assert supervisor.exit_codes == [0] and heard.read_bytes() == b"4118UHIiRCAAAtBlDkcVyw=="
