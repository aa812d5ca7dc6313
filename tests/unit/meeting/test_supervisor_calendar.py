"""The SDK bot's windows follow the group's calendar: a monthly group's first Thursday, no
window in the summer break, none on a holiday; and the facilitators' stored changes, read
while serve waits and while the bot is in the meeting: a moved session gets its bot at its
new time, a cancelled one none (or loses it), an added one in the break gets one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import AgendaSettings, GroupSettings, Settings
from bot.errors import ConfigError
from bot.meeting.supervisor import BotSupervisor, session_window
from bot.service import supervise_sessions
from phases.calendar import Override

TORONTO = ZoneInfo("America/Toronto")
WED = datetime(2026, 12, 2, 19, 0, tzinfo=TORONTO)
THU = datetime(2026, 12, 3, 19, 0, tzinfo=TORONTO)
ONTARIO = Settings(
    group=GroupSettings(timezone="America/Toronto", weekday="wednesday"),
    agenda=AgendaSettings(opens_minutes_before=15, length_minutes=105, reflection_minutes=15),
)


def test_a_monthly_group_gets_its_bot_on_the_first_thursday_only() -> None:
    settings = Settings(
        group=GroupSettings(
            timezone="America/Los_Angeles",
            start_time="18:45",  # type: ignore[arg-type]
            calendar={"cadence": "monthly", "day": "first thursday", "breaks": []},  # type: ignore[arg-type]
        ),
        agenda=AgendaSettings(opens_minutes_before=10, length_minutes=90, reflection_minutes=0),
    )
    after_the_first = datetime(2027, 1, 8, 12, 0, tzinfo=UTC)
    opens, closes = session_window(settings, after_the_first)
    assert opens == datetime(2027, 2, 5, 2, 35, tzinfo=UTC)  # Thu 4 February, 18:35 PST
    assert closes == datetime(2027, 2, 5, 4, 35, tzinfo=UTC)  # + 90 + 10 (grace) + 10 minutes


def test_no_window_in_the_summer_break_or_on_a_holiday() -> None:
    settings = Settings(
        group=GroupSettings(calendar={"holidays": ["2027-09-01"]}),  # type: ignore[arg-type]
    )
    opens, _ = session_window(settings, datetime(2027, 7, 1, 12, 0, tzinfo=UTC))
    assert opens == datetime(2027, 9, 8, 22, 45, tzinfo=UTC)  # Wed 8 September, 18:45 EDT


def test_a_calendar_without_sessions_is_a_configuration_error() -> None:
    settings = Settings(group=GroupSettings(calendar={"breaks": ["january-december"]}))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no session"):
        session_window(settings, datetime(2027, 1, 1, tzinfo=UTC))


def test_the_windows_follow_the_facilitators_changes() -> None:
    monday = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert session_window(ONTARIO, monday)[0] == WED - timedelta(minutes=15)
    moved = (Override(kind="move", slot=WED, to=THU),)
    assert session_window(ONTARIO, monday, moved) == (
        THU - timedelta(minutes=15),
        THU + timedelta(minutes=140),
    )
    cancelled = (Override(kind="cancel", slot=WED),)
    assert session_window(ONTARIO, monday, cancelled)[0] == WED + timedelta(days=7, minutes=-15)
    july = datetime(2027, 7, 21, 19, 0, tzinfo=TORONTO)
    added = (Override(kind="add", to=july),)
    in_the_break = datetime(2027, 7, 1, 12, 0, tzinfo=UTC)
    assert session_window(ONTARIO, in_the_break, added)[0] == july - timedelta(minutes=15)


# -- serve's loop: the bot in each window, the changes read meanwhile ----------------------------


class _Process:
    """A join process that runs until it is told to stop (it notes when)."""

    def __init__(self, pid: int, now: Callable[[], datetime]) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._now = now
        self._done = asyncio.Event()
        self.started = now()
        self.stopped: datetime | None = None

    async def wait(self) -> int:
        await self._done.wait()
        assert self.returncode is not None
        return self.returncode

    def terminate(self) -> None:
        self.stopped = self._now()
        self.returncode = -15
        self._done.set()

    def kill(self) -> None:  # pragma: no cover - terminate always works here
        self.terminate()


async def _serve(
    *,
    start: datetime,
    until: datetime,
    changes: Callable[[datetime], Sequence[Override]],
    recheck: float,
) -> list[tuple[datetime, datetime | None]]:
    """Run `supervise_sessions` on a hand clock from `start` to `until`; the bot processes'
    (started, stopped) times."""
    now = [start]
    processes: list[_Process] = []
    reached = asyncio.Event()

    async def spawn(_command: Sequence[str]) -> _Process:
        processes.append(_Process(100 + len(processes), lambda: now[0]))
        return processes[-1]

    async def sleep(seconds: float) -> None:
        if now[0] >= until:
            reached.set()
            await asyncio.Event().wait()  # time stands still until the test stops serve
        now[0] += timedelta(seconds=seconds)
        await asyncio.sleep(0)

    async def read() -> Sequence[Override]:
        return changes(now[0])

    supervisor = BotSupervisor(["join"], spawn=spawn, clock=lambda: now[0])
    task = asyncio.create_task(
        supervise_sessions(
            ONTARIO, supervisor, clock=lambda: now[0], changes=read, sleep=sleep, recheck=recheck
        )
    )
    await asyncio.wait_for(reached.wait(), 30)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return [(p.started, p.stopped) for p in processes]


@pytest.mark.anyio
async def test_a_session_moved_before_its_window_gets_its_bot_at_the_new_time() -> None:
    tuesday = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the facilitator moves it then
    runs = await _serve(
        start=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        until=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
        changes=lambda now: (Override(kind="move", slot=WED, to=THU),) if now >= tuesday else (),
        recheck=3600,
    )
    assert runs == [(THU - timedelta(minutes=15), THU + timedelta(minutes=140))]


@pytest.mark.anyio
async def test_a_session_cancelled_once_its_window_opened_loses_its_bot() -> None:
    """Cancelling is allowed until the start; the bot joined at the opening, 15 minutes
    before, and leaves at the next reading of the changes."""
    cancelled_at = WED - timedelta(minutes=10)
    runs = await _serve(
        start=WED - timedelta(minutes=20),
        until=WED + timedelta(hours=3),
        changes=lambda now: (Override(kind="cancel", slot=WED),) if now >= cancelled_at else (),
        recheck=60,
    )
    assert runs == [(WED - timedelta(minutes=15), cancelled_at)]


@pytest.mark.anyio
async def test_a_session_added_in_the_summer_break_gets_a_bot() -> None:
    july = datetime(2027, 7, 21, 19, 0, tzinfo=TORONTO)
    runs = await _serve(
        start=datetime(2027, 7, 1, 12, 0, tzinfo=UTC),
        until=datetime(2027, 7, 22, 12, 0, tzinfo=UTC),
        changes=lambda _now: (Override(kind="add", to=july),),
        recheck=3600,
    )
    assert runs == [(july - timedelta(minutes=15), july + timedelta(minutes=140))]
