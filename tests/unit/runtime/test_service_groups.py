"""`serve` with several groups in `sdk` mode: one join process per group, at its calendar."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta

import pytest
from sqlalchemy import Engine

from bot.config import BotSettings, GroupSettings
from bot.meeting.supervisor import BotSupervisor, join_command
from bot.service import build_service
from tests.clock import HandClock
from tests.scenario.serve_harness import SCHEDULED_START, settings_for
from tests.unit.runtime.fakes import JoinSpawner

pytestmark = pytest.mark.anyio


async def test_each_group_gets_its_own_join_process_at_its_own_times(
    sqlite_engine: Engine,
) -> None:
    """Wednesday 19:20 in Toronto: the Toronto group (19:00) and the Los Angeles group
    (16:30 there, 19:30 here) are both in their windows, the Thursday group is not."""
    spawn = JoinSpawner()
    groups = [
        GroupSettings(name="Toronto", meeting_id="85746065432", start_time=time(19)),
        GroupSettings(
            name="Los Angeles",
            meeting_ids=["83312345678"],
            timezone="America/Los_Angeles",
            start_time=time(16, 30),
        ),
        GroupSettings(name="Thursday", meeting_id="81234567890", weekday="thursday"),
    ]
    settings = settings_for("sqlite://").model_copy(
        update={"bot": BotSettings(meeting_adapter="sdk"), "groups": groups}
    )
    supervisors = {
        group.name: BotSupervisor(join_command(group.meeting_numbers()[0]), spawn=spawn)
        for group in groups
    }
    clock = HandClock(SCHEDULED_START + timedelta(minutes=20))
    app = build_service(settings, database=sqlite_engine, clock=clock, supervisors=supervisors)
    assert app.state.supervisors == supervisors
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if len(spawn.commands) >= 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the Thursday group's would have started by now
    meetings = sorted(command[command.index("--meeting") + 1] for command in spawn.commands)
    assert meetings == ["83312345678", "85746065432"]
    assert all(process.terminated for process in spawn.processes)  # stopped with the service
