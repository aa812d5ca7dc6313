"""The doorbell: one job per pending wake-up, rung on time, replaced and dropped on request."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.runtime.timers import Doorbell
from tests.clock import HandClock
from tests.unit.runtime.fakes import START

pytestmark = pytest.mark.anyio


async def test_rings_when_due_and_follows_rearm_and_disarm() -> None:
    clock = HandClock(START)
    rung: list[str] = []

    async def ring(meeting_uuid: str) -> None:
        rung.append(meeting_uuid)

    bell = Doorbell(ring=ring, clock=clock)
    bell.start()
    try:
        assert bell.running
        bell.rearm("m1", {"soon": START + timedelta(milliseconds=50)})
        bell.rearm("m2", {"late": START + timedelta(hours=1)})
        bell.rearm("m3", {"gone": START + timedelta(milliseconds=50)})
        bell.disarm("m3")
        for _ in range(200):
            if rung:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert rung == ["m1"]
        # a past due time rings at once; re-arming with the same set changes nothing
        bell.rearm("m2", {"late": START - timedelta(minutes=1)})
        for _ in range(200):
            if len(rung) == 2:
                break
            await asyncio.sleep(0.01)
        assert rung == ["m1", "m2"]
        assert bell.armed("m2") == {"late": START - timedelta(minutes=1)}
        bell.rearm("m2", {})
        assert bell.armed("m2") == {}
    finally:
        bell.shutdown()
    assert not bell.running
