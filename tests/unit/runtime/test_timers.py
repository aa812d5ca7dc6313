"""The doorbell: each meeting rung at its earliest wake-up, one job per moment, rung on time,
replaced and dropped on request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.runtime.timers import Doorbell
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, until

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def _bell() -> AsyncIterator[tuple[Doorbell, list[str]]]:
    """A started doorbell on a clock stopped at START, and the meetings it rang, in order."""
    rung: list[str] = []

    async def ring(meeting_uuid: str) -> None:
        rung.append(meeting_uuid)

    bell = Doorbell(ring=ring, clock=HandClock(START))
    bell.start()
    try:
        yield bell, rung
    finally:
        bell.shutdown()


async def test_rings_when_due_and_follows_rearm_and_disarm() -> None:
    async with _bell() as (bell, rung):
        assert bell.running
        bell.rearm("m1", {"soon": START + timedelta(milliseconds=50)})
        bell.rearm("m2", {"late": START + timedelta(hours=1)})
        bell.rearm("m3", {"gone": START + timedelta(milliseconds=50)})
        bell.disarm("m3")
        await until(lambda: bool(rung))
        await asyncio.sleep(0.1)
        assert rung == ["m1"]
        # a past due time rings at once; re-arming with the same set changes nothing
        bell.rearm("m2", {"late": START - timedelta(minutes=1)})
        await until(lambda: len(rung) == 2)
        assert rung == ["m1", "m2"]
        assert bell.armed("m2") == {"late": START - timedelta(minutes=1)}
        bell.rearm("m2", {})
        assert bell.armed("m2") == {}
    assert not bell.running


async def test_a_meeting_is_rung_at_its_earliest_wake_up_then_at_the_next() -> None:
    async with _bell() as (bell, rung):
        later = {
            "end": START + timedelta(hours=2),
            "warning": START + timedelta(hours=1),
            "meditation_end": START + timedelta(minutes=10),
        }
        bell.rearm("m1", later)
        assert bell.jobs == 1
        assert bell.rings_at("m1") == START + timedelta(minutes=10)
        assert bell.armed("m1") == later
        # an earlier wake-up moves it; its old moment's job goes, as no one else is rung then
        bell.rearm("m1", {**later, "soon": START + timedelta(milliseconds=20)})
        assert bell.jobs == 1 and bell.rings_at("m1") == START + timedelta(milliseconds=20)
        await until(lambda: bool(rung))
        assert rung == ["m1"] and bell.rings_at("m1") is None and bell.jobs == 0
        # the visit fired "soon" and re-arms with the rest: the next earliest
        bell.rearm("m1", later)
        assert bell.rings_at("m1") == START + timedelta(minutes=10)
        # a ring whose visit found nothing due yet (the scheduler's wall clock ran ahead of
        # the meeting's clock) re-arms the same moment, and it rings again
        soon = START + timedelta(milliseconds=20)
        bell.rearm("m1", {"soon": soon})
        await until(lambda: len(rung) == 2)
        bell.rearm("m1", {"soon": soon})
        assert bell.rings_at("m1") == soon
        await until(lambda: len(rung) == 3)
        # one the visit left due after its ring is not rung again at once (that would only
        # repeat the visit, over and over): the sweep fires what is due
        past = START - timedelta(seconds=1)
        bell.rearm("m1", {"past": past})
        await until(lambda: len(rung) == 4)
        bell.rearm("m1", {"past": past})
        assert bell.rings_at("m1") is None and bell.jobs == 0
        await asyncio.sleep(0.05)
        assert rung == ["m1", "m1", "m1", "m1"]
        bell.rearm("m1", {"past": past, "next": START + timedelta(hours=1)})
        assert bell.rings_at("m1") is None  # still its earliest
        bell.disarm("m1")
        assert bell.armed("m1") == {} and bell.rings_at("m1") is None and bell.jobs == 0


async def test_one_job_rings_every_meeting_due_at_its_moment_in_the_order_they_were_armed() -> None:
    async with _bell() as (bell, rung):
        together = START + timedelta(milliseconds=50)
        for uuid in ("m3", "m1", "m2", "gone"):
            bell.rearm(uuid, {"meditation_end": together, "end": START + timedelta(hours=1)})
        bell.rearm("apart", {"meditation_end": START + timedelta(hours=2)})
        assert bell.jobs == 2
        bell.disarm("gone")  # the job stays for the others
        assert bell.jobs == 2
        await until(lambda: len(rung) == 3)
        await asyncio.sleep(0.05)
        assert rung == ["m3", "m1", "m2"]
        assert bell.jobs == 1
        # after their visits, all three are rung at their shared next moment by one new job
        for uuid in ("m1", "m2", "m3"):
            bell.rearm(uuid, {"end": START + timedelta(hours=1)})
        assert bell.jobs == 2
        bell.disarm("apart")
        assert bell.jobs == 1
        for uuid in ("m1", "m2", "m3"):
            bell.disarm(uuid)
        assert bell.jobs == 0
