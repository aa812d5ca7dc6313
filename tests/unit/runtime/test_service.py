"""The serve app as a whole: adapters, readiness, metrics, the background path, sdk mode."""

from __future__ import annotations

import asyncio
import logging
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, text

from bot.config import BotSettings, GroupSettings, Settings
from bot.errors import ConfigError
from bot.join_doorbell import JoinDoorbell
from bot.meeting.delivery import HttpTransport, WebhookDelivery
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.meeting.supervisor import BotSupervisor
from bot.service import build_service, stored_changes
from phases.calendar import Override
from phases.calendar_changes import CalendarChange
from storage import runtime_state as rs
from storage.calendar import apply_change
from storage.db import make_session_factory, session_scope
from tests.clock import TEST_NOW, HandClock
from tests.scenario.serve_harness import SCHEDULED_START, seed_roster, settings_for
from tests.unit.runtime.fakes import JoinSpawner, until

pytestmark = pytest.mark.anyio

TORONTO = ZoneInfo("America/Toronto")


def _with(settings: Settings, **sections: object) -> Settings:
    return settings.model_copy(update=sections)


def _sdk_settings() -> Settings:
    """One group on Wednesdays at 19:00 whose meeting the SDK bot joins (`sdk` mode)."""
    return _with(
        settings_for("sqlite://"),
        bot=BotSettings(meeting_adapter="sdk"),
        group=GroupSettings(
            name="g", meeting_id="85746065432", weekday="wednesday", start_time=time(19)
        ),
    )


def test_sdk_mode_needs_a_meeting_id() -> None:
    settings = Settings(bot=BotSettings(meeting_adapter="sdk"))
    with pytest.raises(ConfigError, match="meeting_id"):
        build_service(settings)


async def test_sdk_mode_supervises_the_join_process_instead_of_running_the_meeting(
    sqlite_engine: Engine,
) -> None:
    spawn = JoinSpawner()
    settings = _sdk_settings()
    clock = HandClock(SCHEDULED_START)  # inside the window: the bot joins at once
    supervisor = BotSupervisor(["balint-bot", "join", "--meeting", "85746065432"], spawn=spawn)
    app = build_service(settings, database=sqlite_engine, clock=clock, supervisor=supervisor)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://serve"
        ) as client:
            for _ in range(100):
                if spawn.commands:
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
    assert spawn.commands == [["balint-bot", "join", "--meeting", "85746065432"]]
    assert spawn.processes[0].terminated  # stopped with the service


async def test_sdk_mode_on_sqlite_rings_the_join_process_for_each_webhook_and_console_command(
    sqlite_engine: Engine,
) -> None:
    spawn = JoinSpawner()
    settings = _sdk_settings()
    clock = HandClock(SCHEDULED_START)
    zoom = SimulatedMeeting(MeetingOptions(), clock=clock)
    supervisor = BotSupervisor(
        ["balint-bot", "join", "--meeting", "85746065432"], spawn=spawn, doorbell=JoinDoorbell()
    )
    app = build_service(settings, database=sqlite_engine, clock=clock, supervisor=supervisor)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://serve"
        ) as client:
            await until(lambda: bool(spawn.commands))
            (bell,) = spawn.doorbells
            bell.settimeout(5)
            zoom.set_webhook_sink(
                WebhookDelivery(transport=HttpTransport(client, "/zoom/webhook")).sink(clock)
            )
            await zoom.start()  # its webhooks, each journaled and acked
            app.state.wake("console-command-meeting")  # what the console calls
            rung = [bell.recv(1024)]
            while rung[-1] != b"console-command-meeting":
                rung.append(bell.recv(1024))
            assert set(rung[:-1]) == {zoom.options.identity.uuid.encode()}
    command = spawn.commands[0]
    assert command[-2] == "--doorbell-fd" and command[:-2] == supervisor.command
    bell.settimeout(5)
    assert bell.recv(1024) == b""  # serve stopped: its end closed, the child reads the end
    bell.close()


@pytest.mark.parametrize(
    ("url", "rings"),
    [("sqlite://", True), ("postgresql+psycopg://balint@localhost/none", False)],
)
def test_the_join_process_gets_a_doorbell_on_sqlite_and_the_journals_notices_on_postgresql(
    url: str, rings: bool
) -> None:
    settings = _with(
        settings_for(url),
        bot=BotSettings(meeting_adapter="sdk"),
        group=GroupSettings(name="g", meeting_id="85746065432"),
    )
    app = build_service(settings)
    assert isinstance(app.state.supervisor.doorbell, JoinDoorbell) is rings


async def test_sdk_mode_follows_the_stored_calendar_changes(sqlite_engine: Engine) -> None:
    """Thursday evening, no regular session: Wednesday's, moved to tonight with `sessions
    move`, gets its bot at once (serve reads the stored changes)."""
    spawn = JoinSpawner()
    settings = _sdk_settings()
    wednesday = SCHEDULED_START.astimezone(TORONTO)
    thursday = wednesday + timedelta(days=1)
    moved = Override(kind="move", slot=wednesday, to=thursday)
    factory = make_session_factory(sqlite_engine)
    with session_scope(factory) as db:
        apply_change(
            db, group_name="g", change=CalendarChange(put=(moved,)), now=TEST_NOW, actor="t"
        )
    clock = HandClock(thursday - timedelta(minutes=10))
    supervisor = BotSupervisor(["balint-bot", "join"], spawn=spawn)
    app = build_service(settings, database=sqlite_engine, clock=clock, supervisor=supervisor)
    async with app.router.lifespan_context(app):
        await until(lambda: bool(spawn.processes))
    assert spawn.processes[0].terminated  # stopped with the service


async def test_serve_reads_the_stored_changes_and_keeps_the_last_on_a_database_error(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    factory = make_session_factory(sqlite_engine)
    changes = stored_changes(factory, group_name="g")
    assert await changes() == ()
    wednesday = SCHEDULED_START.astimezone(TORONTO)
    moved = Override(kind="move", slot=wednesday, to=wednesday + timedelta(days=1))
    with session_scope(factory) as db:
        apply_change(
            db, group_name="g", change=CalendarChange(put=(moved,)), now=TEST_NOW, actor="t"
        )
    assert await changes() == (moved,)
    with sqlite_engine.begin() as connection:  # the database breaks under serve
        connection.execute(text("DROP TABLE calendar_overrides"))
    caplog.set_level(logging.WARNING)
    assert await changes() == (moved,)
    assert "calendar changes not read" in caplog.text


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
            await until(admit_logged)
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
            await until(lambda: zoom.where_is("anna") == "meeting")


async def test_serve_speaks_the_groups_own_wording_of_agenda_messages(
    sqlite_engine: Engine,
) -> None:
    """`[agenda.messages]` reaches the sessions serve starts (`ServiceHooks.start_session`),
    not only `simulate`: the waiting room hears the group's line during the meditation."""
    base = settings_for("sqlite://")
    line = "We are meditating until {time}; the door opens then."
    settings = _with(
        base, agenda=base.agenda.model_copy(update={"messages": {"waiting_meditation": line}})
    )
    seed_roster(sqlite_engine, {"Fay": "facilitator", "Anna": "member"})
    clock = HandClock(SCHEDULED_START + timedelta(minutes=2))  # in the meditation
    zoom = SimulatedMeeting(MeetingOptions(), clock=clock)
    app = build_service(settings, database=sqlite_engine, clock=clock, sweep_interval=3600)
    app.state.simulated_meetings[zoom.options.identity.uuid] = zoom
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://serve"
        ) as client:
            zoom.set_webhook_sink(
                WebhookDelivery(transport=HttpTransport(client, "/zoom/webhook")).sink(clock)
            )
            await zoom.start()
            await zoom.person_joins("anna", name="Anna")
            to_waiting = lambda: [c.text for c in zoom.chat_log if c.to == "waiting_room"]  # noqa: E731
            await until(lambda: bool(to_waiting()))
    assert to_waiting() == ["We are meditating until 19:10; the door opens then."]
    assert zoom.where_is("anna") == "waiting"
