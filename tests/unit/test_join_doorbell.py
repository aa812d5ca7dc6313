"""The join process's doorbell: rung by serve's receiver, heard by the join process."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.join_doorbell import JoinDoorbell, listen

pytestmark = pytest.mark.anyio


async def test_each_ring_wakes_the_worker_once_and_the_end_of_serve_ends_the_listening(
    caplog: pytest.LogCaptureFixture,
) -> None:
    doorbell = JoinDoorbell()
    woken: list[str | None] = []
    task = listen(doorbell.open().detach(), woken.append)
    doorbell.ring("meeting-a==")
    doorbell.ring(None)  # a webhook of no meeting: sweep all
    doorbell.ring("meeting-b==")
    for _ in range(200):
        if len(woken) == 3:
            break
        await asyncio.sleep(0.01)
    assert woken == ["meeting-a==", None, "meeting-b=="]
    caplog.set_level(logging.WARNING)
    doorbell.close()
    await asyncio.wait_for(task, 5)
    assert "the sweep alone remains" in caplog.text


def test_a_ring_never_blocks_nor_raises_whoever_listens() -> None:
    doorbell = JoinDoorbell()
    doorbell.ring("before any process")  # nothing opened yet
    theirs = doorbell.open()
    for _ in range(10_000):  # far past what the child's queue holds: the rest are dropped
        doorbell.ring("x" * 100)
    theirs.close()  # the child died
    doorbell.ring("after")
    second = doorbell.open()  # its restart gets a new pair; the old one is closed
    doorbell.ring("meeting-a==")
    assert second.recv(1024) == b"meeting-a=="
    second.close()
    doorbell.close()
