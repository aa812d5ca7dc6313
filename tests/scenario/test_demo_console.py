"""`demo --console`: the console beside the demo's service, its buttons acting on the evening.

A short evening (a facilitator, a member who comes during the meditation, the end) runs
through `run_demo` at 240 times real time with the demo's console as the driver's companion.
A facilitator signs in with the printed link over HTTP, sees the member held for the
meditation and presses Admit; between the story's moments the driver's pacing carries the
command out, so the member is in long before the meditation ends, and stays in.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bot.commands.demo_cmd import DemoConsole
from bot.demo.report import Palette
from bot.demo.session import DemoReport, run_demo
from bot.runtime.inbox import COMMAND_EVENT
from bot.simulation.scenario import load_scenario
from storage.db import make_engine, make_session_factory, session_scope
from storage.journal import JournalEntry
from tests.clock import TEST_NOW, HandClock

EVENING = """
[meeting]
start = "2026-12-02T19:00:00-05:00"

[[person]]
name = "Helen"
role = "facilitator"

[[person]]
name = "Grace"
role = "member"

[[event]]
at = "-2m"
who = "Helen"
do = "join"

[[event]]
at = "2m"
who = "Grace"
do = "join"

[[event]]
at = "14m"
who = "Helen"
do = "end_meeting"
"""

MEDITATION_END = 10 * 60


async def _press_admit(console: DemoConsole) -> str:
    """Sign in with the console's link, wait for Grace in the waiting room, press Admit;
    the console's answer."""
    while not console.link:
        await asyncio.sleep(0.01)
    base, token = console.link.split("/signin/link/")
    async with httpx.AsyncClient(base_url=base, trust_env=False) as browser:
        assert (await browser.get(console.link)).status_code == 200
        signed = await browser.post("/signin/link", data={"token": token})
        assert signed.status_code == 303
        for _ in range(400):
            index = await browser.get("/live")
            if index.status_code == 303:
                page = (await browser.get(index.headers["location"])).text
                row = re.search(r'id="admit-([^"]+)"', page)
                if row is not None and "meditation: let in" in page:
                    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
                    assert csrf is not None
                    answer = await browser.post(
                        f"{index.headers['location']}/command",
                        data={
                            "csrf": csrf.group(1),
                            "action": "admit",
                            "target": row.group(1),
                            "name": "Grace",
                        },
                        headers={"HX-Request": "true", "Origin": base},
                    )
                    return answer.text
            await asyncio.sleep(0.02)
    raise AssertionError("Grace never showed in the console's waiting room")


async def _evening(out: Path) -> tuple[DemoReport, str]:
    path = out / "evening.toml"
    path.write_text(EVENING, encoding="utf-8")
    clock = HandClock(TEST_NOW)
    console = DemoConsole(port=0, clock=clock, palette=Palette(False))
    pressing = asyncio.create_task(_press_admit(console))
    try:
        report = await run_demo(
            load_scenario(path),
            out_dir=out / "run",
            speed=240.0,
            clock=clock,
            companion=console.start,
        )
        answer = await asyncio.wait_for(pressing, 5)
    finally:
        pressing.cancel()
        await console.close()
    return report, answer


def test_a_console_button_acts_on_the_demo_evening_between_its_moments(tmp_path: Path) -> None:
    report, answer = asyncio.run(_evening(tmp_path))
    assert "Done: /admit Grace" in answer
    actions = [r for r in report.run.timeline.records if r["kind"] == "action"]
    admits = [r["t"] for r in actions if r["action"] == "admit" and r.get("target") == "Grace"]
    assert len(admits) == 1 and 2 * 60 <= admits[0] < MEDITATION_END
    assert not [r for r in actions if r["action"] == "put_in_waiting_room"]
    (grace,) = [row for row in report.attendance if row.name == "Grace"]
    assert grace.first_join is not None and grace.first_join < MEDITATION_END
    database = make_engine(report.settings.storage.url)
    try:
        with session_scope(make_session_factory(database)) as db:
            query = select(func.count()).select_from(JournalEntry)
            assert db.scalar(query.where(JournalEntry.event == COMMAND_EVENT)) == 1
    finally:
        database.dispose()
