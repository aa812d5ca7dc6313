"""Two `serve` replicas on one PostgreSQL: one meeting's events processed once each, in order.

Two apps (two receivers, two workers, two lease owners named by their distinct
`[server] instance_id`, two database engines) share the
`BALINT_TEST_POSTGRES_URL` database. The simulated meeting's webhooks are posted to them
alternately; both workers are told and both try, and the lease decides: every journal
entry is fed to the engine exactly once, by the lease owner, in `event_ts` order. Then the
owner dies (its worker stops without releasing; nothing renews the lease) and, once the
lease has expired, the other replica takes the meeting over and carries on.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, select

from bot.config import Settings
from bot.meeting.delivery import WebhookDelivery
from bot.meeting.simulated import MeetingOptions
from bot.owners import replica_owner
from bot.runtime.durable import Decoded
from bot.service_hooks import ServiceHooks
from phases.state import Phase, SessionState
from storage import runtime_state as rs
from storage.db import make_engine, make_session_factory, session_scope
from storage.journal import JournalEntry
from storage.migrate import upgrade
from tests.clock import HandClock
from tests.scenario.serve_harness import (
    SCHEDULED_START,
    CountingMeeting,
    Service,
    running,
    seed_roster,
    settings_for,
)
from tests.storage_fixtures import reset_postgres

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

TTL = timedelta(seconds=5)


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get("BALINT_TEST_POSTGRES_URL", "")
    if not url:
        pytest.skip("BALINT_TEST_POSTGRES_URL not set (run .ci/run for the PostgreSQL tests)")
    reset_postgres(url)
    upgrade(url)
    return url


class RecordingHooks(ServiceHooks):
    """The real hooks, noting which journal entries this replica fed, in order."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.fed: list[tuple[int, int]] = []

    def decode(self, entry: JournalEntry) -> Decoded:
        self.fed.append((entry.id, entry.event_ts or 0))
        return super().decode(entry)


class Alternating:
    """A transport posting each webhook to the next live replica in turn."""

    def __init__(self, clients: list[httpx.AsyncClient], path: str) -> None:
        self.clients = clients
        self.path = path
        self._turn = itertools.count()
        self.sent: list[int] = []

    async def send(self, headers: Mapping[str, str], body: bytes) -> int:
        index = next(self._turn) % len(self.clients)
        self.sent.append(index)
        response = await self.clients[index].post(self.path, content=body, headers=dict(headers))
        return response.status_code


def _journal(engine: Engine) -> list[JournalEntry]:
    with session_scope(make_session_factory(engine)) as session:
        return list(session.scalars(select(JournalEntry).order_by(JournalEntry.id)))


async def _settle(*services: Service) -> None:
    for _ in range(50):
        handled = 0
        for service in services:
            handled += await service.app.state.worker.sweep()
        if handled == 0:
            return
    raise AssertionError("the replicas did not settle")


async def test_two_replicas_process_each_event_once_in_order_and_take_over(pg_url: str) -> None:
    settings = settings_for(pg_url)
    per_replica = {
        name: settings.model_copy(
            update={"server": settings.server.model_copy(update={"instance_id": f"replica-{name}"})}
        )
        for name in ("a", "b")
    }
    names = {replica_owner(per_replica[name]): name for name in ("a", "b")}
    assert len(names) == 2
    engine_a, engine_b = make_engine(pg_url), make_engine(pg_url)
    seed_roster(engine_a, {"Fay": "facilitator", "Anna": "member", "Ben": "member"})
    clock = HandClock(SCHEDULED_START - timedelta(minutes=15))
    meeting = CountingMeeting(MeetingOptions(), clock=clock)
    uuid = meeting.options.identity.uuid
    hooks = {"a": RecordingHooks(settings), "b": RecordingHooks(settings)}
    try:
        async with (
            running(
                per_replica["a"],
                engine=engine_a,
                meeting=meeting,
                clock=clock,
                lease_ttl=TTL,
                hooks=hooks["a"],
                wire=False,
            ) as svc_a,
            running(
                per_replica["b"],
                engine=engine_b,
                meeting=meeting,
                clock=clock,
                lease_ttl=TTL,
                hooks=hooks["b"],
                wire=False,
            ) as svc_b,
        ):
            services = {"a": svc_a, "b": svc_b}
            transport = Alternating([svc_a.client, svc_b.client], settings.server.webhook_path)
            meeting.set_webhook_sink(WebhookDelivery(transport=transport).sink(clock))
            await meeting.start()
            await meeting.person_joins("fay", name="Fay", registrant_id="reg-fay")
            await _settle(svc_a, svc_b)
            clock.set(clock() + timedelta(seconds=2))
            await meeting.person_joins("anna", name="Anna")
            await _settle(svc_a, svc_b)
            assert set(transport.sent) == {0, 1}  # both receivers journaled some
            with session_scope(make_session_factory(engine_a)) as session:
                holder = rs.lease_owner(session, meeting_uuid=uuid, now=clock())
            assert holder in names
            owner = names[holder]
            other = "b" if owner == "a" else "a"
            assert hooks[other].fed == []  # the lease kept the other replica out
            assert meeting.where_is("anna") == "meeting"

            # the owner dies: its worker stops without releasing the lease
            await services[owner].app.state.worker.stop(release=False)
            transport.clients = [services[other].client]
            clock.set(clock() + TTL + timedelta(seconds=1))
            await meeting.person_joins("ben", name="Ben")
            await _settle(services[other])
            assert meeting.where_is("ben") == "meeting"
            with session_scope(make_session_factory(engine_a)) as session:
                holder = rs.lease_owner(session, meeting_uuid=uuid, now=clock())
                assert holder is not None and names[holder] == other
                record = rs.load_meeting(session, meeting_uuid=uuid)
            assert record is not None
            assert SessionState.from_json(record.state_json).phase == Phase.SOCIAL
            meeting.set_webhook_sink(None)

        entries = [e for e in _journal(engine_a) if e.meeting_uuid == uuid and e.parsed_ok]
        fed = hooks[owner].fed + hooks[other].fed
        assert sorted(i for i, _ in fed) == [e.id for e in entries]  # each exactly once
        assert [ts for _, ts in fed] == sorted(ts for _, ts in fed)  # in event_ts order
        assert all(e.processed_at is not None for e in entries)
        assert hooks[other].fed  # the survivor carried on
        for handle in ("fay", "anna", "ben"):
            user_ids = [u for u in meeting.admit_calls if u == meeting.user_id_of(handle)]
            assert len(user_ids) == 1, handle
    finally:
        engine_a.dispose()
        engine_b.dispose()
