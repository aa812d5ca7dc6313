"""A crashed `serve` restarted under the same `[server] instance_id` resumes at once.

The lease owner id is `serve:<instance_id>` (default the host name), the same before and
after a restart. The service is "killed" during the meditation with a latecomer held (its
worker stops without releasing the lease, as after SIGKILL), and restarted with the meditation
ending while the dead process's lease is still fresh: a replica with another instance id is
fenced out, and the restarted one admits the latecomer at once, exactly once, even though the
dead process's worker (same owner) is still around and is run again afterwards.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.config import Settings
from bot.meeting.simulated import MeetingOptions
from bot.owners import replica_owner
from bot.service import build_service
from phases.state import Phase, SessionState
from storage import runtime_state as rs
from storage.db import make_engine, make_session_factory, session_scope
from tests.clock import HandClock
from tests.scenario.serve_harness import (
    SCHEDULED_START,
    CountingMeeting,
    running,
    seed_roster,
    settings_for,
)

pytestmark = pytest.mark.anyio


def _named(settings: Settings, instance_id: str) -> Settings:
    server = settings.server.model_copy(update={"instance_id": instance_id})
    return settings.model_copy(update={"server": server})


def test_the_owner_id_is_the_instance_id_or_the_host_name(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'x.db'}")
    assert replica_owner(settings) == f"serve:{socket.gethostname()}"
    assert replica_owner(_named(settings, "replica-1")) == "serve:replica-1"
    engine = make_engine(settings.storage.url)
    try:
        app = build_service(_named(settings, "replica-1"), database=engine)
        assert app.state.owner == "serve:replica-1"
        assert build_service(settings, database=engine, owner="given").state.owner == "given"
    finally:
        engine.dispose()


async def test_a_restart_with_the_same_instance_id_admits_the_held_latecomer_at_once(
    sqlite_file: tuple[str, Engine],
) -> None:
    url, engine = sqlite_file
    settings = _named(settings_for(url), "replica-1")
    seed_roster(engine, {"Fay": "facilitator", "Anna": "member", "Ben": "member"})
    clock = HandClock(SCHEDULED_START - timedelta(minutes=5))
    meeting = CountingMeeting(MeetingOptions(), clock=clock)
    uuid = meeting.options.identity.uuid
    factory = make_session_factory(engine)

    async with running(settings, engine=engine, meeting=meeting, clock=clock) as svc:
        await meeting.start()
        await meeting.person_joins("fay", name="Fay", registrant_id="reg-fay")
        await svc.settle()
        clock.set(SCHEDULED_START + timedelta(minutes=3))
        await svc.settle()
        await meeting.person_joins("ben", name="Ben")
        await svc.settle()
        assert meeting.where_is("ben") == "waiting"
        clock.set(SCHEDULED_START + timedelta(minutes=9, seconds=50))
        await svc.settle()  # the last sweep renews the lease
        # SIGKILL: the worker stops without releasing its lease
        stale = svc.app.state.worker
        await stale.stop(release=False)
    ben = meeting.user_id_of("ben")
    assert ben not in meeting.admit_calls

    clock.set(SCHEDULED_START + timedelta(minutes=10))  # the meditation ends
    with session_scope(factory) as session:
        assert rs.lease_owner(session, meeting_uuid=uuid, now=clock()) == "serve:replica-1"
    other = _named(settings, "replica-2")
    async with running(other, engine=engine, meeting=meeting, clock=clock) as svc:
        await svc.settle()
    assert ben not in meeting.admit_calls  # another replica waits for the lease

    async with running(settings, engine=engine, meeting=meeting, clock=clock) as svc:
        await svc.settle()  # no clock advance: the lease is taken back at once
        assert meeting.where_is("ben") == "meeting"
        await stale.process(uuid)  # the dead process's worker, same owner, runs once more
        await svc.settle()
    assert meeting.admit_calls.count(ben) == 1
    with session_scope(factory) as session:
        admits = rs.actions_for_meeting(session, meeting_uuid=uuid, kind="admit")
        record = rs.load_meeting(session, meeting_uuid=uuid)
    bens = [a for a in admits if f'"user_id": "{ben}"' in a.payload]
    assert [a.status for a in bens] == ["done"]
    assert record is not None
    assert SessionState.from_json(record.state_json).phase == Phase.CASE_CALL
