"""`balint-bot join`: the SDK bot (over the bindings double) drives its meeting's runtime."""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.cli import main
from bot.commands.join_cmd import run_join
from bot.config import Settings
from bot.join_doorbell import JoinDoorbell
from bot.meeting.sdk import SdkMeeting
from phases.events import ArrivedInWaitingRoom, MeetingStarted, Participant
from storage import journal
from storage import runtime_state as rs
from storage.db import make_session_factory, session_scope
from tests.clock import HandClock
from tests.storage_fixtures import *  # noqa: F403
from tests.unit.meeting.sdk_harness import build, ticket
from tests.unit.runtime.fakes import START, ScriptedHooks

UUID = "join-uuid=="


async def _joined(
    meeting: SdkMeeting,
    world: Any,
    database: Engine,
    hooks: ScriptedHooks,
    clock: HandClock,
    *,
    interval: float,
    doorbell_fd: int | None = None,
) -> asyncio.Task[int]:
    """`run_join` over the bindings double, once the bot has joined."""

    async def connect(settings, rest, *, meeting_id):
        assert meeting_id == "85746065432"
        await meeting.join(ticket(world))
        return meeting

    task = asyncio.create_task(
        run_join(
            Settings(),
            "85746065432",
            connect=connect,
            database=database,
            hooks=hooks,
            clock=clock,
            interval=interval,
            doorbell_fd=doorbell_fd,
        )
    )
    while not world.calls:  # wait for the join
        await asyncio.sleep(0.01)
    return task


async def _anna_waits(
    meeting: SdkMeeting, world: Any, session: Session, hooks: ScriptedHooks, clock: HandClock
) -> None:
    """Anna enters the waiting room; the meeting's start and her arrival are journaled in
    `session`, as serve's receiver journals the webhooks."""
    uid = await meeting._thread.call(lambda: world.person_joins("Anna"))
    anna = Participant(key="pid-Anna", user_id=str(uid), name="Anna")
    hooks.journal(session, meeting_uuid=UUID, label="start", at=clock(), events=[MeetingStarted()])
    hooks.journal(
        session,
        meeting_uuid=UUID,
        label="anna",
        at=clock(),
        events=[ArrivedInWaitingRoom(participant=anna)],
    )


async def _admitted_then_ended(meeting: SdkMeeting, world: Any, task: asyncio.Task[int]) -> None:
    """Anna gets in (within 10 s), then the meeting ends and `run_join` returns 0."""
    for _ in range(1000):
        if world.people["Anna"].where == "meeting":
            break
        await asyncio.sleep(0.01)
    assert world.people["Anna"].where == "meeting"
    await meeting._thread.call(world.end)
    assert await asyncio.wait_for(task, 10) == 0


def test_join_drives_the_meeting_until_it_ends(
    sqlite_engine: Engine, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    factory = make_session_factory(sqlite_engine)
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))

    async def scenario() -> None:
        meeting, world, sdk = build()
        task = await _joined(meeting, world, sqlite_engine, hooks, clock, interval=0.01)
        await asyncio.sleep(0.05)
        with session_scope(factory) as session:
            await _anna_waits(meeting, world, session, hooks, clock)
        for _ in range(300):
            if world.people["Anna"].where == "meeting":
                break
            await asyncio.sleep(0.01)
        assert world.people["Anna"].where == "meeting"  # admitted by the SDK bot
        for n in range(5):  # chat seen by the bot while the driver steps: no deadlock
            line = f"hello {n}"
            await meeting._thread.call(functools.partial(world.person_says, "Anna", line))
            await asyncio.sleep(0.01)
        await meeting._thread.call(world.end)
        assert await asyncio.wait_for(task, 10) == 0
        # its transactions passed through the receiver's turnstile, as a live join's do
        database = sqlite_engine.url.database
        assert database is not None and Path(f"{database}-turnstile").exists()
        assert world.violations == [] and world.crashes == []
        assert "sdk" in sdk.destroyed

    caplog.set_level(logging.DEBUG)
    asyncio.run(scenario())
    with session_scope(factory) as session:
        admits = rs.actions_for_meeting(session, meeting_uuid=UUID, kind="admit")
        assert [a.status for a in admits] == ["done"]
        assert rs.lease_owner(session, meeting_uuid=UUID, now=clock()) is None
    # The bindings printed the ZAK and passcode on descriptor 1 (as the real ones do): none
    # of it, nor the JWT, reached any output or log.
    out, err = capfd.readouterr()
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    for secret in ("fixture-zak", "cP3fb7", "eyJ"):
        assert secret not in out and secret not in err and secret not in logged, secret


def test_join_without_a_meeting_number_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "b.toml"
    config.write_text("[group]\nmeeting_id = ''\n", encoding="utf-8")
    assert main(["--config", str(config), "join"], clock=HandClock()) == 2
    assert "meeting_id" in capsys.readouterr().err


def test_a_doorbell_that_is_no_socket_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "b.toml"
    config.write_text("[group]\nmeeting_id = '85746065432'\n", encoding="utf-8")
    with config.open("rb") as not_a_socket:
        for fd in (str(not_a_socket.fileno()), "1000000"):  # a file; nothing open there
            argv = ["--config", str(config), "join", "--doorbell-fd", fd]
            assert main(argv, clock=HandClock()) == 2
            assert f"--doorbell-fd {fd} is not an open socket" in capsys.readouterr().err


def test_a_restarted_join_uses_the_same_lease_owner(tmp_path):
    """The supervisor's restart must not wait for the dead process's lease to expire."""
    from bot.commands.join_cmd import join_owner
    from bot.config import load_settings

    config = tmp_path / "c.toml"
    config.write_text('[server]\ninstance_id = "replica-a"\n')
    settings = load_settings(config)
    assert join_owner(settings, "85746065432") == join_owner(settings, "85746065432")
    assert join_owner(settings, "85746065432") == "join:replica-a:85746065432"
    assert join_owner(settings, "85746065432") != join_owner(settings, "96231004587")


def test_on_sqlite_the_join_process_hears_a_webhook_by_serves_doorbell_not_at_its_sweep(
    sqlite_engine: Engine,
) -> None:
    # serve's supervisor hands the join process one end of a doorbell, which its receiver
    # rings after each journal commit. The sweep here is an hour away: only the ring can
    # bring the webhooks in.
    factory = make_session_factory(sqlite_engine)
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))
    doorbell = JoinDoorbell()

    async def scenario() -> None:
        meeting, world, _sdk = build()
        theirs = doorbell.open()
        task = await _joined(
            meeting,
            world,
            sqlite_engine,
            hooks,
            clock,
            interval=3600.0,
            doorbell_fd=theirs.detach(),
        )
        await asyncio.sleep(0.5)  # its first sweep is long done
        with session_scope(factory) as session:
            await _anna_waits(meeting, world, session, hooks, clock)
        doorbell.ring(UUID)  # as serve's receiver does after the commit
        await _admitted_then_ended(meeting, world, task)

    asyncio.run(scenario())
    doorbell.ring(UUID)  # the join process is gone: nothing raised, nothing blocked
    doorbell.close()


@pytest.mark.postgres
def test_on_postgresql_the_join_process_hears_a_webhook_at_once_not_at_its_sweep(
    postgres_engine: Engine,
) -> None:
    # serve's receiver journals in another process; on PostgreSQL its NOTIFY wakes the join
    # process as it wakes serve's workers. The sweep here is an hour away: only the notice
    # can bring the webhooks in, and until they come what the bot saw waits for them.
    factory = make_session_factory(postgres_engine)
    hooks = ScriptedHooks()
    clock = HandClock(START - timedelta(minutes=10))

    async def scenario() -> None:
        meeting, world, _sdk = build()
        task = await _joined(meeting, world, postgres_engine, hooks, clock, interval=3600.0)
        await asyncio.sleep(1.0)  # its first sweep and the listener's are long done
        with session_scope(factory) as session:
            await _anna_waits(meeting, world, session, hooks, clock)
            journal.announce(session, {UUID})  # as the receiver's journal writer does
        await _admitted_then_ended(meeting, world, task)

    asyncio.run(scenario())
