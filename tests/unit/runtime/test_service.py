"""The serve app as a whole: adapters, readiness, metrics, the background path, sdk mode."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bot.config import BotSettings, GroupSettings, Settings
from bot.errors import ConfigError
from bot.meeting.delivery import HttpTransport, WebhookDelivery
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.meeting.supervisor import BotSupervisor
from bot.service import build_service, scheduled_start_for
from storage import runtime_state as rs
from storage.db import make_session_factory, session_scope
from tests.clock import HandClock
from tests.scenario.serve_harness import SCHEDULED_START, seed_roster, settings_for

pytestmark = pytest.mark.anyio


def _with(settings: Settings, **sections: object) -> Settings:
    return settings.model_copy(update=sections)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Wednesday 18:45 in Toronto (EST): today 19:00
        (datetime(2026, 12, 2, 23, 45, tzinfo=UTC), datetime(2026, 12, 3, 0, 0, tzinfo=UTC)),
        # Wednesday 20:30 local, the group running: still today's start
        (datetime(2026, 12, 3, 1, 30, tzinfo=UTC), datetime(2026, 12, 3, 0, 0, tzinfo=UTC)),
        # summer time (EDT): 19:00 local is 23:00 UTC
        (datetime(2026, 7, 1, 22, 50, tzinfo=UTC), datetime(2026, 7, 1, 23, 0, tzinfo=UTC)),
        # a session moved to Thursday maps to the nearest regular slot (Wednesday)
        (datetime(2026, 12, 3, 23, 50, tzinfo=UTC), datetime(2026, 12, 3, 0, 0, tzinfo=UTC)),
    ],
)
def test_scheduled_start_is_the_nearest_regular_slot(now: datetime, expected: datetime) -> None:
    group = GroupSettings(timezone="America/Toronto", weekday="wednesday", start_time=time(19))
    start = scheduled_start_for(group, now)
    assert start == expected
    assert start.hour == 19  # in the group's own zone: the bot tells times as the group does


def test_sdk_mode_needs_a_meeting_id() -> None:
    settings = Settings(bot=BotSettings(meeting_adapter="sdk"))
    with pytest.raises(ConfigError, match="meeting_id"):
        build_service(settings)


class _FakeProcess:
    def __init__(self) -> None:
        self.pid = 4242
        self.returncode: int | None = None
        self._done = asyncio.Event()
        self.terminated = False

    async def wait(self) -> int:
        await self._done.wait()
        assert self.returncode is not None
        return self.returncode

    def terminate(self) -> None:
        self.terminated = True
        self.returncode = 0
        self._done.set()

    def kill(self) -> None:
        self.terminate()


async def test_sdk_mode_supervises_the_join_process_instead_of_running_the_meeting(
    sqlite_engine: Engine,
) -> None:
    spawned: list[list[str]] = []
    processes: list[_FakeProcess] = []

    async def spawn(command: Sequence[str]) -> _FakeProcess:
        spawned.append(list(command))
        processes.append(_FakeProcess())
        return processes[-1]

    settings = _with(
        settings_for("sqlite://"),
        bot=BotSettings(meeting_adapter="sdk"),
        group=GroupSettings(
            name="g", meeting_id="85746065432", weekday="wednesday", start_time=time(19)
        ),
    )
    clock = HandClock(SCHEDULED_START)  # inside the window: the bot joins at once
    supervisor = BotSupervisor(["balint-bot", "join", "--meeting", "85746065432"], spawn=spawn)
    app = build_service(settings, database=sqlite_engine, clock=clock, supervisor=supervisor)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://serve"
        ) as client:
            for _ in range(100):
                if spawned:
                    break
                await asyncio.sleep(0.01)
            ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {
            "secret": True,
            "database": True,
            "journal": True,
            "supervisor": True,
        }
        assert app.state.worker is None
    assert spawned == [["balint-bot", "join", "--meeting", "85746065432"]]
    assert processes[0].terminated  # stopped with the service


async def _wait_for(condition: object, seconds: float = 5.0) -> None:
    assert callable(condition)
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_observe_only_logs_actions_as_not_executed_through_the_background_path(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """No `settle`: the receiver's on_journaled nudge alone gets the events processed."""
    settings = _with(settings_for("sqlite://"), bot=BotSettings(meeting_adapter="none"))
    seed_roster(sqlite_engine, {"Fay": "facilitator", "Anna": "member"})
    clock = HandClock(SCHEDULED_START - timedelta(minutes=10))
    zoom = SimulatedMeeting(MeetingOptions(), clock=clock)  # Zoom itself, not our control
    uuid = zoom.options.identity.uuid
    app = build_service(settings, database=sqlite_engine, clock=clock, sweep_interval=3600)
    factory = make_session_factory(sqlite_engine)

    def admit_logged() -> bool:  # and its outcome recorded
        with session_scope(factory) as session:
            admits = rs.actions_for_meeting(session, meeting_uuid=uuid, kind="admit")
            return any(a.status not in ("planned", "executing") for a in admits)

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://serve"
        ) as client:
            delivery = WebhookDelivery(transport=HttpTransport(client, "/zoom/webhook"))
            zoom.set_webhook_sink(delivery.sink(clock))
            await zoom.start()
            await zoom.person_joins("anna", name="Anna")
            await _wait_for(admit_logged)
            assert zoom.where_is("anna") == "waiting"  # nothing was done in the meeting
            ready = await client.get("/readyz")
            metrics = (await client.get("/metrics")).text
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "secret": True,
        "database": True,
        "journal": True,
        "worker": True,
        "scheduler": True,
    }
    with session_scope(factory) as session:
        admits = rs.actions_for_meeting(session, meeting_uuid=uuid, kind="admit")
    assert [(a.status, a.code) for a in admits] == [("not_executed", "not_executed")]
    assert 'balint_actions_total{kind="admit",result="not_executed"} 1.0' in metrics
    assert "balint_processing_lag_seconds_count" in metrics


async def test_simulator_adapter_drives_registered_meetings_only(sqlite_engine: Engine) -> None:
    settings = settings_for("sqlite://")  # meeting_adapter defaults to "simulator"
    seed_roster(sqlite_engine, {"Fay": "facilitator", "Anna": "member"})
    clock = HandClock(SCHEDULED_START - timedelta(minutes=10))
    zoom = SimulatedMeeting(MeetingOptions(), clock=clock)
    uuid = zoom.options.identity.uuid
    app = build_service(settings, database=sqlite_engine, clock=clock, sweep_interval=3600)
    app.state.simulated_meetings[uuid] = zoom
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://serve"
        ) as client:
            zoom.set_webhook_sink(
                WebhookDelivery(transport=HttpTransport(client, "/zoom/webhook")).sink(clock)
            )
            await zoom.start()
            await zoom.person_joins("anna", name="Anna")
            await _wait_for(lambda: zoom.where_is("anna") == "meeting")
