"""The console on the real path: a button becomes a journaled command the runtime runs.

The serve app runs with the simulator as Zoom (`serve_harness`); the console app is driven
through httpx's ASGI transport as a browser would drive it (cookies, form posts). A
guest the bot holds, and a member held for the meditation, are admitted with the console's
button: the command is journaled, the worker steps the engine with it, the engine admits,
the simulated Zoom lets the person in and its webhooks come back (and the engine keeps them
in). Without a session, without the CSRF token or from another site, nothing is journaled.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.console.app import create_console_app
from bot.meeting.simulated import MeetingOptions
from bot.runtime.inbox import COMMAND_EVENT
from storage import audit
from storage import console as records
from storage.db import make_session_factory, session_scope
from storage.journal import JournalEntry
from tests.clock import HandClock
from tests.scenario.serve_harness import (
    GROUP,
    SCHEDULED_START,
    CountingMeeting,
    Service,
    running,
    seed_roster,
    settings_for,
)

pytestmark = pytest.mark.anyio

CONSOLE = "http://127.0.0.1:8001"


@dataclass
class World:
    service: Service
    meeting: CountingMeeting
    clock: HandClock
    factory: sessionmaker[Session]
    browser: httpx.AsyncClient


@asynccontextmanager
async def world(sqlite_file: tuple[str, Engine]) -> AsyncIterator[World]:
    url, engine = sqlite_file
    settings = settings_for(url)
    seed_roster(engine, {"Fay": "facilitator", "Anna": "member", "Ben": "member"})
    clock = HandClock(SCHEDULED_START - timedelta(minutes=15))
    meeting = CountingMeeting(MeetingOptions(), clock=clock)
    factory = make_session_factory(engine)
    async with running(settings, engine=engine, meeting=meeting, clock=clock) as service:
        console = create_console_app(
            settings, session_factory=factory, clock=clock, nudge=service.app.state.wake
        )
        transport = httpx.ASGITransport(app=console)
        async with httpx.AsyncClient(transport=transport, base_url=CONSOLE) as browser:
            yield World(service, meeting, clock, factory, browser)


async def _meditation_with_latecomer(w: World) -> None:
    """Fay opens the room, the meditation begins, Anna arrives and is held for it."""
    await w.meeting.start()
    await w.meeting.person_joins("fay", name="Fay")
    await w.service.settle()
    w.clock.set(SCHEDULED_START + timedelta(minutes=2))
    await w.service.settle()
    await w.meeting.person_joins("anna", name="Anna")
    await w.service.settle()
    assert w.meeting.where_is("anna") == "waiting"


async def _guest_after_meditation(w: World) -> None:
    """After the meditation a guest (not on the roster) arrives: the bot holds them."""
    await _meditation_with_latecomer(w)
    w.clock.set(SCHEDULED_START + timedelta(minutes=12))
    await w.service.settle()
    await w.meeting.person_joins("zed", name="Zed Visitor")
    await w.service.settle()
    assert w.meeting.where_is("zed") == "waiting"


async def _sign_in(w: World) -> None:
    with session_scope(w.factory) as session:
        fay = records.facilitator_by_name(session, group_name=GROUP, name="Fay")
        assert fay is not None
        token = records.issue_link(
            session, member_id=fay.member_id, now=w.clock(), ttl=timedelta(minutes=10)
        )
    page = await w.browser.get(f"/signin/link/{token}")
    assert page.status_code == 200 and 'name="token"' in page.text
    answer = await w.browser.post("/signin/link", data={"token": token})
    assert answer.status_code == 303


def _commands(w: World) -> int:
    with session_scope(w.factory) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(JournalEntry)
                .where(JournalEntry.event == COMMAND_EVENT)
            )
            or 0
        )


async def _live(w: World) -> tuple[str, str, str]:
    """(live page URL, its HTML, its CSRF token)."""
    index = await w.browser.get("/live")
    assert index.status_code == 303
    url = index.headers["location"]
    page = await w.browser.get(url)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert found is not None
    return url, page.text, found.group(1)


async def test_the_admit_button_lets_a_guest_in_through_the_engine(sqlite_file) -> None:
    async with world(sqlite_file) as w:
        await _guest_after_meditation(w)
        await _sign_in(w)
        url, page, csrf = await _live(w)
        assert "Case call" in page and "not on the roster" in page
        key = w.meeting.key_of("zed")
        answer = await w.browser.post(
            f"{url}/command",
            data={"csrf": csrf, "action": "admit", "target": key, "name": "Zed Visitor"},
            headers={"HX-Request": "true", "Origin": CONSOLE},
        )
        assert answer.status_code == 200
        assert "Done: /admit Zed Visitor" in answer.text
        await w.service.settle()
        assert w.meeting.where_is("zed") == "meeting"
        after = (await w.browser.get(url)).text
        assert "No one is waiting." in after and "guest" in after
        assert _commands(w) == 1
        with session_scope(w.factory) as session:
            done = audit.entries(session, command="console command")
            assert [(e.actor, e.detail) for e in done] == [("console:Fay", "admit")]
            assert audit.entries(session, command="console sign-in")[0].actor == "console:Fay"
            assert audit.entries(session, command="console live")


async def test_the_live_page_shows_why_each_person_waits(sqlite_file) -> None:
    async with world(sqlite_file) as w:
        await _meditation_with_latecomer(w)
        await _sign_in(w)
        _url, page, _csrf = await _live(w)
        assert "Meditation" in page and "meditation: let in at 19:10" in page
        assert "Roster: 1 missing" in page  # Ben


async def test_the_engine_answers_a_button_it_cannot_obey(sqlite_file) -> None:
    async with world(sqlite_file) as w:
        await _meditation_with_latecomer(w)
        await _sign_in(w)
        url, _page, csrf = await _live(w)
        answer = await w.browser.post(
            f"{url}/command",
            data={"csrf": csrf, "action": "reflection"},
            headers={"HX-Request": "true"},
        )
        assert "Reflection follows the group&#39;s end" in answer.text


async def test_without_javascript_a_button_posts_and_comes_back_to_the_page(sqlite_file) -> None:
    async with world(sqlite_file) as w:
        await _meditation_with_latecomer(w)
        await _sign_in(w)
        url, _page, csrf = await _live(w)
        answer = await w.browser.post(f"{url}/command", data={"csrf": csrf, "action": "next"})
        assert answer.status_code == 303
        back = await w.browser.get(answer.headers["location"])
        assert "Done: /next" in back.text and "Case call" in back.text


async def test_changes_are_refused_without_a_session_a_token_or_from_another_site(
    sqlite_file,
) -> None:
    async with world(sqlite_file) as w:
        await _meditation_with_latecomer(w)
        await _sign_in(w)
        url, _page, csrf = await _live(w)
        form = {"csrf": csrf, "action": "next"}
        no_token = await w.browser.post(f"{url}/command", data={"action": "next"})
        wrong = await w.browser.post(f"{url}/command", data={**form, "csrf": "0" * 64})
        elsewhere = await w.browser.post(
            f"{url}/command", data=form, headers={"Origin": "https://evil.example"}
        )
        fetched = await w.browser.post(
            f"{url}/command", data=form, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert [r.status_code for r in (no_token, wrong, elsewhere, fetched)] == [403] * 4
        w.browser.cookies.clear()
        anonymous = await w.browser.post(f"{url}/command", data=form)
        assert anonymous.status_code == 401
        page = await w.browser.get(url)
        assert page.status_code == 401 and "Sign in" in page.text and "Anna" not in page.text
        assert _commands(w) == 0


async def test_sign_out_ends_the_session(sqlite_file) -> None:
    async with world(sqlite_file) as w:
        await _meditation_with_latecomer(w)
        await _sign_in(w)
        url, _page, csrf = await _live(w)
        out = await w.browser.post("/signout", data={"csrf": csrf})
        assert out.status_code == 303
        assert (await w.browser.get(url)).status_code == 401


async def _press(w: World, action: str, who: str, name: str) -> str:
    """Press a row's button on the live page as htmx does; the answer's text."""
    url, _page, csrf = await _live(w)
    answer = await w.browser.post(
        f"{url}/command",
        data={"csrf": csrf, "action": action, "target": w.meeting.key_of(who), "name": name},
        headers={"HX-Request": "true", "Origin": CONSOLE},
    )
    assert answer.status_code == 200
    return answer.text


async def test_the_admit_button_lets_a_member_held_for_the_meditation_in_for_good(
    sqlite_file,
) -> None:
    """Zoom reports the admission as leaving the waiting room, then joining (the simulator's
    order): the engine takes it as the admission it is and does not put Anna back."""
    async with world(sqlite_file) as w:
        await _meditation_with_latecomer(w)
        await _sign_in(w)
        assert "Done: /admit Anna" in await _press(w, "admit", "anna", "Anna")
        await w.service.settle()
        assert w.meeting.where_is("anna") == "meeting"
        assert w.meeting.admit_calls.count(w.meeting.user_id_of("anna")) == 1
        events = [hook.event for hook in w.meeting.webhooks]
        assert "meeting.participant_put_in_waiting_room" not in events
        _url, page, _csrf = await _live(w)
        assert "No one is waiting." in page and "Meditation" in page


async def test_hold_then_admit_with_the_buttons(sqlite_file) -> None:
    async with world(sqlite_file) as w:
        await _meditation_with_latecomer(w)
        w.clock.set(SCHEDULED_START + timedelta(minutes=12))
        await w.service.settle()
        assert w.meeting.where_is("anna") == "meeting"
        await _sign_in(w)
        assert "Done: /hold Anna" in await _press(w, "hold", "anna", "Anna")
        await w.service.settle()
        assert w.meeting.where_is("anna") == "waiting"
        _url, page, _csrf = await _live(w)
        assert "held by a facilitator" in page
        assert "Done: /admit Anna" in await _press(w, "admit", "anna", "Anna")
        await w.service.settle()
        assert w.meeting.where_is("anna") == "meeting"
