"""PostgreSQL: a meeting worker hears the journal's NOTIFY without polling, and a full sweep
is asked for whenever it (re)connects (a notice sent meanwhile was lost)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import Engine

from bot.runtime.journal_listener import listen_for_journal
from storage import journal
from storage.db import make_session_factory, session_scope
from tests.storage_fixtures import *  # noqa: F403

pytestmark = pytest.mark.postgres


async def _until(condition: object, timeout: float = 10.0) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def test_a_committed_notice_wakes_the_worker_and_a_connection_asks_for_a_sweep(
    postgres_engine: Engine,
) -> None:
    heard: list[str] = []
    sweeps = threading.Event()
    factory = make_session_factory(postgres_engine)

    async def scenario() -> None:
        listening = asyncio.create_task(
            listen_for_journal(postgres_engine, wake=heard.append, resweep=sweeps.set)
        )
        try:
            assert await _until(sweeps.is_set)
            with session_scope(factory) as session:
                journal.announce(session, {"meeting-a==", "meeting-b=="})
            assert await _until(lambda: len(heard) == 2)
            assert sorted(heard) == ["meeting-a==", "meeting-b=="]
        finally:
            listening.cancel()
            with pytest.raises(asyncio.CancelledError):
                await listening

    asyncio.run(scenario())
