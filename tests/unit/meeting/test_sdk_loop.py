"""SdkThread: calls run on the loop thread and their results (or errors) come back to asyncio."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.meeting.sdk_loop import GLibLoop, SdkThread
from tests.unit.meeting.zoom_sdk_double import ThreadLoop


def test_calls_run_on_the_loop_thread_and_return_or_raise_here() -> None:
    async def scenario() -> None:
        loop = ThreadLoop()
        thread = SdkThread(loop, asyncio.get_running_loop())
        thread.start()
        try:
            where = await thread.call(threading.current_thread)
            assert where is loop.thread and where is not threading.current_thread()
            assert await thread.call(thread.on_loop_thread)
            assert not thread.on_loop_thread()

            def broken() -> None:
                raise LookupError("inside the SDK thread")

            with pytest.raises(LookupError, match="inside"):
                await thread.call(broken)
            seen: list[str] = []
            done = asyncio.Event()

            def arrive() -> None:
                seen.append("here")
                done.set()

            def from_loop() -> None:
                thread.to_asyncio(arrive)

            await thread.call(from_loop)
            await asyncio.wait_for(done.wait(), 5)
            assert seen == ["here"]
        finally:
            thread.stop()
        assert not thread.running

    asyncio.run(scenario())


def test_timers_repeat_until_they_return_false() -> None:
    async def scenario() -> None:
        loop = ThreadLoop()
        thread = SdkThread(loop, asyncio.get_running_loop())
        thread.start()
        ticks: list[int] = []
        finished = asyncio.Event()

        def tick() -> bool:
            ticks.append(1)
            if len(ticks) == 3:
                thread.to_asyncio(finished.set)
                return False
            return True

        try:
            await thread.call(lambda: loop.add_timer(0.01, tick))
            await asyncio.wait_for(finished.wait(), 5)
            await asyncio.sleep(0.05)
            assert len(ticks) == 3
        finally:
            thread.stop()

    asyncio.run(scenario())


def test_glib_loop_runs_the_same_way_where_pygobject_is_installed() -> None:
    pytest.importorskip("gi", reason="PyGObject is installed only in the SDK image")

    async def scenario() -> None:
        thread = SdkThread(GLibLoop(), asyncio.get_running_loop())
        thread.start()
        try:
            assert await thread.call(thread.on_loop_thread)
            assert await thread.call(lambda: 6 * 7) == 42
        finally:
            thread.stop()

    asyncio.run(scenario())
