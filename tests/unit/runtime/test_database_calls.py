"""The worker's database calls: off the loop, each wait bounded, a hung call never abandoned."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.errors import DatabaseStalled
from bot.runtime.database_calls import DatabaseCalls

pytestmark = pytest.mark.anyio


async def _until_returned(calls: DatabaseCalls) -> None:
    for _ in range(500):
        if not calls.stalled:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the overrun call never returned")


async def test_a_call_runs_off_the_loop_and_returns_or_raises_what_it_did() -> None:
    calls = DatabaseCalls(deadline=5.0)
    loop_thread = threading.get_ident()
    assert await calls.run(threading.get_ident) != loop_thread

    def refused() -> None:
        raise LookupError("no such row")

    with pytest.raises(LookupError):
        await calls.run(refused)
    assert not calls.stalled


async def test_an_overrun_call_keeps_running_and_refuses_every_other_until_it_returns() -> None:
    calls = DatabaseCalls(deadline=0.05)
    gate = threading.Event()
    ran: list[str] = []

    def hangs() -> str:
        gate.wait(timeout=10)
        ran.append("hung call")
        return "committed late"

    with pytest.raises(DatabaseStalled) as overran:
        await calls.run(hangs)
    assert overran.value.call is not None and calls.stalled

    with pytest.raises(DatabaseStalled) as refused:
        await calls.run(lambda: ran.append("never started"))
    assert refused.value.call is None  # it never started: nothing runs behind a hung call

    gate.set()
    await _until_returned(calls)
    assert overran.value.call.result() == "committed late"  # its outcome is known for sure
    assert ran == ["hung call"]
    assert await calls.run(lambda: "answered") == "answered"


async def test_a_call_that_overruns_and_then_fails_is_known_to_have_failed() -> None:
    calls = DatabaseCalls(deadline=0.05)
    gate = threading.Event()

    def hangs_then_fails() -> None:
        gate.wait(timeout=10)
        raise ConnectionError("the server went away")

    with pytest.raises(DatabaseStalled) as overran:
        await calls.run(hangs_then_fails)
    gate.set()
    await _until_returned(calls)
    assert overran.value.call is not None
    assert isinstance(overran.value.call.exception(), ConnectionError)
