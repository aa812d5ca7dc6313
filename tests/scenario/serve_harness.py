"""A harness for serve-level scenarios: the real app, the simulator as Zoom, a hand clock.

`Service` runs `bot.service.build_service` in process: its lifespan (worker and doorbell)
is entered, and the simulated meeting's webhooks are POSTed to the app through httpx's ASGI
transport with real signatures. `settle` drives the worker's sweep until nothing is left to
do, so tests never sleep. Stopping a `Service` tears the app, worker and scheduler down;
only the database (and the simulated Zoom meeting, which is not ours) survives.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import Engine

from bot.config import GroupSettings, ServerSettings, Settings, StorageSettings, ZoomSettings
from bot.meeting.delivery import HttpTransport, WebhookDelivery
from bot.meeting.port import MeetingControl
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.runtime.durable import MeetingHooks
from bot.service import build_service
from storage.crypto import Keyring, generate_key
from storage.db import make_session_factory, session_scope
from storage.health_number import generate
from storage.roster import ROSTER_HEADERS, import_roster, parse_roster
from tests.clock import TEST_NOW, HandClock

SECRET = "simulator-secret-token"
GROUP = "Online Balint Group (test)"
#: Wednesday 2 December 2026, 19:00 in Toronto (EST) is midnight UTC.
SCHEDULED_START = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


class CountingMeeting(SimulatedMeeting):
    """The simulated meeting, counting the admit calls the bot makes."""

    def __init__(self, options: MeetingOptions, *, clock: HandClock) -> None:
        super().__init__(options, clock=clock)
        self.admit_calls: list[str] = []

    async def admit(self, user_id: str) -> None:
        self.admit_calls.append(user_id)
        await super().admit(user_id)


def settings_for(url: str) -> Settings:
    return Settings(
        zoom=ZoomSettings(webhook_secret_tokens=[SecretStr(SECRET)]),
        storage=StorageSettings(url=url),
        server=ServerSettings(),
        group=GroupSettings(
            name=GROUP, timezone="America/Toronto", weekday="wednesday", start_time=time(19, 0)
        ),
    )


def registrant_id_of(name: str) -> str:
    """The Zoom registrant id `seed_roster` gives a facilitator called `name`."""
    return f"reg-{name.casefold()}"


def seed_roster(engine: Engine, people: dict[str, str]) -> None:
    """Import a roster: display name -> role; members get generated health numbers, and a
    facilitator the registrant id `reg-<name>` (`registrant_id_of`), which they must join
    with to have a facilitator's rights."""
    rng = random.Random(7)
    lines = [",".join(ROSTER_HEADERS)]
    for name, role in people.items():
        row = dict.fromkeys(ROSTER_HEADERS, "")
        row.update(first_name=name, last_name="Test", display_name=name, role=role)
        if role == "facilitator":
            row.update(registrant_id=registrant_id_of(name))
        if role == "member":
            row.update(health_number=generate(rng), province="ON", birth_date="1980-01-01")
        lines.append(",".join(row[key] for key in ROSTER_HEADERS))
    rows = parse_roster("\n".join(lines) + "\n", today=TEST_NOW.date())
    with session_scope(make_session_factory(engine)) as session:
        import_roster(
            session,
            group_name=GROUP,
            rows=rows,
            keyring=Keyring.from_text(generate_key()),
            now=TEST_NOW,
        )


@dataclass
class Service:
    """One running serve app (see the module docstring)."""

    app: FastAPI
    client: httpx.AsyncClient

    async def settle(self, rounds: int = 50) -> None:
        """Sweep until a sweep finds nothing to do."""
        for _ in range(rounds):
            if await self.app.state.worker.sweep() == 0:
                return
        raise AssertionError("the worker did not settle")


@asynccontextmanager
async def running(
    settings: Settings,
    *,
    engine: Engine,
    meeting: SimulatedMeeting,
    clock: HandClock,
    owner: str | None = None,
    lease_ttl: timedelta = timedelta(seconds=30),
    hooks: MeetingHooks | None = None,
    wire: bool = True,
    others: Sequence[SimulatedMeeting] = (),
) -> AsyncIterator[Service]:
    """Run a service whose meetings are all `meeting`; `wire` posts its webhooks back here.

    `others`: more meetings on the same evening (several groups), each its own control (by
    meeting uuid) and wired too. `owner` None: the lease owner id comes from the settings
    (`[server] instance_id`)."""
    by_uuid = {other.meeting_uuid: other for other in others}

    def controls(meeting_uuid: str) -> MeetingControl:
        return by_uuid.get(meeting_uuid, meeting)

    app = build_service(
        settings,
        database=engine,
        control_factory=controls,
        clock=clock,
        owner=owner,
        lease_ttl=lease_ttl,
        sweep_interval=3600.0,  # tests drive the sweep with `settle`
        hooks=hooks,
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve")
        )
        delivery = WebhookDelivery(transport=HttpTransport(client, settings.server.webhook_path))
        if wire:
            for each in (meeting, *others):
                each.set_webhook_sink(delivery.sink(clock))
        try:
            yield Service(app=app, client=client)
        finally:
            if wire:
                for each in (meeting, *others):
                    each.set_webhook_sink(None)
