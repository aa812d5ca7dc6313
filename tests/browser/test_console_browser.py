"""The console in a real browser: sign in with a link, watch a webhook arrive, admit with
the button, be refused without a session or a CSRF token; screenshots as artefacts.

The serve app runs with the simulator as Zoom (`tests.scenario.serve_harness`) and the
console on a real loopback listener, both in one background thread's event loop; the test
thread drives chromium. Webhooks are made by the simulated meeting (signed, posted to the
receiver), so the page changes the way it does in a live meeting: journal, runtime, stored
state, the console's stream.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select

from bot.config import ConsoleSettings
from bot.console import server as console_server
from bot.console.app import create_console_app
from bot.meeting.simulated import MeetingOptions
from bot.runtime.inbox import COMMAND_EVENT
from storage import console as records
from storage.attendance import PresenceEvent, finalize, policy_for, record_presence
from storage.db import make_engine, make_session_factory, session_scope
from storage.journal import JournalEntry
from storage.migrate import upgrade
from storage.sessions import ensure_session
from tests.browser.conftest import save_screenshot
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

T = TypeVar("T")

MEMBERS = ("Anna", "Ben", "Chloé", "Dev", "Eli", "Gus", "Ivy", "Jo")


class Stack:
    """The service and the console, running in a background thread's event loop."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.engine = engine
        self.factory = make_session_factory(engine)
        self.clock = HandClock(SCHEDULED_START - timedelta(minutes=15))
        self.meeting = CountingMeeting(MeetingOptions(), clock=self.clock)
        self.listener = console_server.bind("127.0.0.1", 0)
        self.port = self.listener.getsockname()[1]
        self.settings = settings_for(url).model_copy(
            update={"console": ConsoleSettings(port=self.port)}
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.service: Service | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="console-stack")

    def __enter__(self) -> Stack:
        self._thread.start()
        if not self._ready.wait(30) or self._failure is not None:
            raise RuntimeError(f"the stack did not start: {self._failure!r}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as failed:  # reported to the test thread
            self._failure = failed
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with running(
            self.settings, engine=self.engine, meeting=self.meeting, clock=self.clock
        ) as service:
            self.service = service
            app = create_console_app(
                self.settings,
                session_factory=self.factory,
                clock=self.clock,
                nudge=service.app.state.wake,
            )
            server = console_server.console_server(app)
            task = asyncio.create_task(server.serve(sockets=[self.listener]))
            while not server.started:
                await asyncio.sleep(0.01)
            self.loop = asyncio.get_running_loop()
            self._ready.set()
            await self._stop.wait()
            server.should_exit = True
            await task

    def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the stack's loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(_wrap(make), self.loop).result(30)

    def settle(self) -> None:
        assert self.service is not None
        service = self.service
        self.call(service.settle)

    def link(self, name: str = "Fay") -> str:
        with session_scope(self.factory) as session:
            found = records.facilitator_by_name(session, group_name=GROUP, name=name)
            assert found is not None
            token = records.issue_link(
                session, member_id=found.member_id, now=self.clock(), ttl=timedelta(minutes=10)
            )
        return f"{self.base}/signin/link/{token}"

    def commands(self) -> int:
        with session_scope(self.factory) as session:
            query = select(func.count()).select_from(JournalEntry)
            return int(session.scalar(query.where(JournalEntry.event == COMMAND_EVENT)) or 0)


async def _wrap(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


@contextmanager
def stack(tmp_path: Path, people: dict[str, str]) -> Iterator[Stack]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url)
    engine = make_engine(url)
    seed_roster(engine, people)
    try:
        with Stack(url, engine) as running_stack:
            yield running_stack
    finally:
        engine.dispose()


def _wait(driver: Any, condition: Callable[[Any], Any], timeout: float = 5.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def _text(driver: Any, css: str) -> str:
    """The text of the element `css`, read again if the live stream replaced it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(20):
        try:
            return str(driver.find_element(By.CSS_SELECTOR, css).text)
        except StaleElementReferenceException:
            time.sleep(0.05)
    raise AssertionError(f"{css} kept changing")


def _sign_in(driver: Any, link: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(link)
    driver.find_element(By.ID, "use-link").click()
    _wait(driver, lambda d: "/live" in d.current_url and d.find_elements(By.TAG_NAME, "h1"))


def test_live_page_follows_a_webhook_and_admits_a_latecomer_with_the_button(
    chrome: Any, tmp_path: Path, artifacts: Path
) -> None:
    from selenium.webdriver.common.by import By

    people = {"Fay": "facilitator", **dict.fromkeys(MEMBERS, "member")}
    with stack(tmp_path, people) as s:
        s.call(s.meeting.start)
        for handle in ("fay", "anna", "ben", "chloe", "dev"):
            name = "Chloé" if handle == "chloe" else handle.capitalize()
            s.call(lambda h=handle, n=name: s.meeting.person_joins(h, name=n))
        s.settle()
        s.clock.set(SCHEDULED_START + timedelta(minutes=3))
        s.settle()
        _sign_in(chrome, s.link())
        assert "Meditation" in _text(chrome, "#phase-name")
        assert "No one is waiting." in _text(chrome, ".waiting")

        # A webhook arrives: a member comes late and the bot holds them for the meditation.
        # The page follows by itself.
        started = time.monotonic()
        s.call(lambda: s.meeting.person_joins("eli", name="Eli"))
        _wait(chrome, lambda d: "Eli" in _text(d, ".waiting"))
        followed = time.monotonic() - started
        print(f"live page followed the webhook in {followed:.2f} s")
        assert followed < 1.0
        assert "meditation: let in at 19:10" in _text(chrome, ".waiting")
        s.call(lambda: s.meeting.person_joins("zed", name="Zed Visitor"))
        _wait(chrome, lambda d: "not on the roster" in _text(d, ".waiting"))
        assert "3 missing" in _text(chrome, "#roster-h")
        save_screenshot(chrome, artifacts, "console-live", docs=True)
        chrome.set_window_size(390, 1600)
        save_screenshot(chrome, artifacts, "console-live-phone")
        chrome.set_window_size(1280, 1000)

        # The Admit button, during the meditation: a command for the runtime; Zoom lets Eli
        # in (its webhooks: left the waiting room, then joined); the engine keeps them in.
        key = s.meeting.key_of("eli")
        chrome.find_element(By.ID, f"admit-{key}").click()
        _wait(chrome, lambda d: "Done: /admit Eli" in _text(d, "#flash"))
        s.settle()
        _wait(chrome, lambda d: "Eli" in _text(d, ".present"))
        assert "Eli" not in _text(chrome, ".waiting") and "Zed Visitor" in _text(chrome, ".waiting")
        s.settle()
        assert s.meeting.where_is("eli") == "meeting"
        assert s.commands() == 1
        save_screenshot(chrome, artifacts, "console-live-admitted")

        # Keyboard: the buttons are reachable and labelled.
        labels = [
            b.get_attribute("textContent").strip()
            for b in chrome.find_elements(By.CSS_SELECTOR, ".controls button")
        ]
        assert {"Next phase", "Extend", "Mirror off", "End now"} <= set(labels)

        # A change without the CSRF token is refused; nothing is journaled.
        status = chrome.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(location.pathname + '/command', {method: 'POST',"
            " headers: {'Content-Type': 'application/x-www-form-urlencoded'},"
            " body: 'action=next'}).then(r => done(r.status));"
        )
        assert status == 403
        assert s.commands() == 1

        # Without a session: the page is the sign-in page, and a change is refused.
        live = chrome.current_url
        chrome.delete_all_cookies()
        chrome.get(live)
        assert "Sign in" in _text(chrome, "main") and "Eli" not in chrome.page_source
        save_screenshot(chrome, artifacts, "console-signed-out")
        status = chrome.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0] + '/command', {method: 'POST',"
            " headers: {'Content-Type': 'application/x-www-form-urlencoded'},"
            " body: 'action=end&csrf=' + '0'.repeat(64)}).then(r => done(r.status));",
            live,
        )
        assert status == 401
        assert s.commands() == 1


def _history(s: Stack) -> None:
    """Ten held, finalised sessions of module 2026-09, stored as the runtime would."""
    policy = policy_for(length_minutes=105)
    first = datetime(2026, 9, 10, 0, 0, tzinfo=UTC)  # Wednesday 9 September, 19:00 Toronto
    pattern = {  # sessions each member missed (0-based), some of them below a third
        "Anna": (),
        "Ben": (3,),
        "Chloé": (0, 1, 2, 3, 4, 5, 6, 7),
        "Dev": (2, 6),
        "Eli": (1, 4, 5, 7, 8),
        "Gus": (0, 2, 3, 4, 5, 6, 7, 8),
        "Ivy": (9,),
        "Jo": (5, 6),
    }
    late = {("Ben", 1), ("Ivy", 4), ("Jo", 8)}
    with session_scope(s.factory) as session:
        for index in range(10):
            start = first + timedelta(days=7 * index)
            uuid = f"history-{index}"
            ensure_session(
                session,
                group_name=GROUP,
                meeting_uuid=uuid,
                meeting_id="1",
                scheduled_start=start,
                now=s.clock(),
                timezone="America/Toronto",
            )
            facts = [PresenceEvent(kind="meeting_started", at=start - timedelta(minutes=15))]
            for name in ("Fay", *MEMBERS):
                if index in pattern.get(name, ()):
                    continue
                joined = start + timedelta(minutes=12 if (name, index) in late else -5)
                left = start + timedelta(minutes=106)
                key = f"{name}-{index}"
                facts.append(
                    PresenceEvent(kind="joined", at=joined, participant_key=key, name=name)
                )
                facts.append(PresenceEvent(kind="left", at=left, participant_key=key, name=name))
            facts.append(PresenceEvent(kind="meeting_ended", at=start + timedelta(minutes=110)))
            for number, fact in enumerate(facts):
                record_presence(session, meeting_uuid=uuid, journal_id=f"h{number}", event=fact)
            finalize(session, meeting_uuid=uuid, policy=policy, now=s.clock())


def test_attendance_grid_and_chart_of_a_module(
    chrome: Any, tmp_path: Path, artifacts: Path
) -> None:
    from selenium.webdriver.common.by import By

    people = {"Fay": "facilitator", **dict.fromkeys(MEMBERS, "member")}
    with stack(tmp_path, people) as s:
        _history(s)
        _sign_in(chrome, s.link())
        assert "No session of the group is running" in _text(chrome, "main")
        chrome.get(f"{s.base}/group/attendance")
        rows = chrome.find_elements(By.CSS_SELECTOR, "table.grid tbody tr")
        assert len(rows) == len(MEMBERS)
        under = [
            r.find_element(By.TAG_NAME, "th").text
            for r in rows
            if "under" in r.get_attribute("class")
        ]
        assert under == ["Chloé", "Gus"]
        assert chrome.find_elements(By.CSS_SELECTOR, "svg.chart line.third")
        chrome.set_window_size(1280, 1250)
        save_screenshot(chrome, artifacts, "console-attendance", docs=True)
        chrome.get(f"{s.base}/group")
        assert len(chrome.find_elements(By.CSS_SELECTOR, "tr.calendar-held")) == 10
        chrome.get(f"{s.base}/group/billing")
        assert "Waiting to be claimed" in _text(chrome, "main")
