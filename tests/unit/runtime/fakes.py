"""Test doubles for the runtime: a recording meeting, scripted hooks, a database statement
that hangs."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bot.agenda import agenda_from_settings
from bot.config import Settings
from bot.errors import MeetingControlError
from bot.meeting.port import Addressee, ChatTo, EventListener, ParticipantInfo
from bot.runtime import inbox
from bot.runtime.durable import Decoded
from phases.actions import Action
from phases.engine import new_session
from phases.events import Event
from phases.roster import RosterEntry
from phases.state import SessionState
from storage import journal
from storage.journal import JournalEntry

START = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)
ROSTER = (
    RosterEntry(display_name="Fay", role="facilitator"),
    RosterEntry(display_name="Anna"),
    RosterEntry(display_name="Ben"),
)


@dataclass
class RecordingMeeting:
    """A `MeetingControl` that records every call; `refuse` makes calls fail."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    refuse: str = ""
    listener: EventListener | None = None

    async def _do(self, what: str, arg: str = "") -> None:
        if self.refuse:
            raise MeetingControlError(self.refuse, "refused by the test")
        self.calls.append((what, arg))

    async def admit(self, user_id: str) -> None:
        await self._do("admit", user_id)

    async def admit_all(self) -> None:
        await self._do("admit_all")

    async def put_in_waiting_room(self, user_id: str) -> None:
        await self._do("hold", user_id)

    async def rename(self, user_id: str, new_name: str) -> None:
        await self._do("rename", f"{user_id}:{new_name}")

    async def mute(self, user_id: str, *, allow_self_unmute: bool = True) -> None:
        await self._do("mute", user_id if allow_self_unmute else f"{user_id}:locked")

    async def stop_video(self, user_id: str) -> None:
        await self._do("stop_video", user_id)

    async def ask_unmute(self, user_id: str) -> None:
        await self._do("ask_unmute", user_id)

    async def ask_start_video(self, user_id: str) -> None:
        await self._do("ask_start_video", user_id)

    async def allow_self_unmute(self, allowed: bool) -> None:
        await self._do("allow_self_unmute", str(allowed))

    async def allow_self_video(self, allowed: bool) -> None:
        await self._do("allow_self_video", str(allowed))

    async def stop_recording(self) -> None:
        await self._do("stop_recording")

    async def send_chat(self, text: str, *, to: ChatTo, user_id: str = "") -> None:
        await self._do("chat", f"{to}:{user_id}:{text}")

    async def resolve(self, who: Addressee) -> str:
        return who.user_id  # records calls only: every id is taken as given

    async def list_participants(self) -> list[ParticipantInfo]:
        return []

    async def list_waiting_room(self) -> list[ParticipantInfo]:
        return []

    def set_listener(self, listener: EventListener | None) -> None:
        self.listener = listener

    def admits(self) -> list[str]:
        return [arg for what, arg in self.calls if what == "admit"]


class ScriptedHooks:
    """Hooks whose journal bodies name a scripted list of engine events; a console command
    (`bot.runtime.inbox`) is decoded as `bot.service_hooks.ServiceHooks` decodes it; sessions
    start with `roster`."""

    def __init__(self, roster: Sequence[RosterEntry] = ROSTER) -> None:
        self.roster = tuple(roster)
        self.script: dict[str, tuple[Event, ...]] = {}
        self.presence: list[int] = []
        self.finalized: list[str] = []
        self.started: list[str] = []

    def journal(
        self,
        session: Session,
        *,
        meeting_uuid: str,
        label: str,
        at: datetime,
        events: Sequence[Event],
    ) -> int:
        self.script[label] = tuple(events)
        entry, _new = journal.append(
            session,
            received_at=at,
            event="scripted",
            event_ts=int(at.timestamp() * 1000),
            meeting_uuid=meeting_uuid,
            dedupe_key=label,
            body=json.dumps({"label": label}).encode(),
            parsed_ok=True,
        )
        return entry.id

    def decode(self, entry: JournalEntry) -> Decoded:
        if inbox.is_command(entry):
            return inbox.decode_command(entry)
        label = json.loads(entry.body)["label"]
        at = datetime.fromtimestamp(entry.event_ts / 1000, UTC) if entry.event_ts else None
        return Decoded(meeting_id="85746065432", events=self.script[label], at=at)

    def start_session(
        self, session: Session, *, meeting_uuid: str, meeting_id: str, now: datetime
    ) -> tuple[SessionState, Sequence[Action]]:
        self.started.append(meeting_uuid)
        return new_session(
            agenda=agenda_from_settings(Settings()), roster=self.roster, scheduled_start=START
        )

    def record_presence(
        self, session: Session, *, meeting_uuid: str, entry: JournalEntry, decoded: Decoded
    ) -> None:
        self.presence.append(entry.id)

    def finalize(self, session: Session, *, meeting_uuid: str, now: datetime) -> None:
        self.finalized.append(meeting_uuid)


async def until(condition: Callable[[], bool]) -> None:
    """Wait, polling every 10 ms for at most 5 s, until `condition()` holds."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


class HangingStatement:
    """Makes the next statement `matches` accepts, once armed, hang until `go_on()`; it then
    runs (and its transaction commits) or, with `fail=True`, fails."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._matches: Callable[[str, Any], bool] | None = None
        self._gate = threading.Event()
        self._fail = False
        event.listen(engine, "before_cursor_execute", self._before)

    def arm(self, matches: Callable[[str, Any], bool]) -> None:
        self._matches = matches
        self._gate.clear()

    @property
    def armed(self) -> bool:
        """Armed, and no statement has matched yet."""
        return self._matches is not None

    def go_on(self, *, fail: bool = False) -> None:
        self._fail = fail
        self._gate.set()

    def remove(self) -> None:
        self._gate.set()
        event.remove(self._engine, "before_cursor_execute", self._before)

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        matches = self._matches
        if matches is None or not matches(statement, parameters):
            return
        self._matches = None
        self._gate.wait(timeout=30)
        if self._fail:
            raise ConnectionError("the database server went away")


class FakeJoinProcess:
    """A `balint-bot join` child process that runs until terminated."""

    def __init__(self) -> None:
        self.pid = 4242
        self.returncode: int | None = None
        self._done = asyncio.Event()
        self.terminated = False

    async def wait(self) -> int:
        await self._done.wait()
        assert self.returncode is not None
        return self.returncode

    def terminate(self) -> None:
        self.terminated = True
        self.returncode = 0
        self._done.set()

    def kill(self) -> None:
        self.terminate()


@dataclass
class JoinSpawner:
    """A `BotSupervisor` spawn function that records each command and the process it gave."""

    commands: list[list[str]] = field(default_factory=list)
    processes: list[FakeJoinProcess] = field(default_factory=list)
    #: each process's end of its doorbell (`pass_fds`), kept open as the child would
    doorbells: list[socket.socket] = field(default_factory=list)

    async def __call__(
        self, command: Sequence[str], *, pass_fds: Sequence[int] = ()
    ) -> FakeJoinProcess:
        self.commands.append(list(command))
        self.doorbells += [socket.socket(fileno=os.dup(fd)) for fd in pass_fds]
        self.processes.append(FakeJoinProcess())
        return self.processes[-1]
