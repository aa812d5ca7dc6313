"""`SdkMeeting` over the bindings double, as a contract-test harness and for SDK unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from bot.meeting.port import MeetingControl, ParticipantInfo
from bot.meeting.sdk import JoinTicket, SdkMeeting, SdkOptions
from bot.meeting.sdk_jwt import make_sdk_jwt
from bot.meeting.sdk_loop import SdkThread
from phases.events import Event, ZoomRole
from tests.unit.meeting.zoom_sdk_double import FakeZoomSdk, ThreadLoop, UserRole, World, _Person

T = TypeVar("T")

_ROLES = {
    ZoomRole.HOST: UserRole.USERROLE_HOST,
    ZoomRole.CO_HOST: UserRole.USERROLE_COHOST,
    ZoomRole.ATTENDEE: UserRole.USERROLE_ATTENDEE,
}

#: Polls run only when a test asks (`poll_now`), so runs are deterministic.
MANUAL_POLLING = SdkOptions(poll_interval=3600.0)


def ticket(world: World, **changes: object) -> JoinTicket:
    values: dict[str, object] = {
        "meeting_number": world.meeting_number,
        "passcode": world.passcode,
        "zak": "fixture-zak",
        "jwt": make_sdk_jwt(
            sdk_key=world.sdk_key, sdk_secret=world.sdk_secret, now=datetime.now(UTC)
        ),
        "display_name": "Balint Companion",
    }
    values.update(changes)
    return JoinTicket(**values)  # type: ignore[arg-type]


def build(
    *, bot_role: ZoomRole = ZoomRole.HOST, options: SdkOptions = MANUAL_POLLING, **world: object
) -> tuple[SdkMeeting, World, FakeZoomSdk]:
    loop = ThreadLoop()
    state = World(loop=loop, bot_role=_ROLES[bot_role], **world)  # type: ignore[arg-type]
    sdk = FakeZoomSdk(state)
    thread = SdkThread(loop, asyncio.get_running_loop())
    meeting = SdkMeeting(
        sdk,
        thread,
        meeting_id=str(state.meeting_number),
        options=options,
    )
    return meeting, state, sdk


class SdkHarness:
    """The people side acts on the double's meeting, on the SDK thread, as Zoom would."""

    def __init__(self, meeting: SdkMeeting, world: World) -> None:
        self.meeting = meeting
        self.world = world
        self.control: MeetingControl = meeting
        self.events: list[Event] = []

        async def record(event: Event) -> None:
            self.events.append(event)

        meeting.set_listener(record)

    async def _people(self, fn: Callable[[], T]) -> T:
        result = await self.meeting._thread.call(fn)
        await self.meeting.poll_now()
        await self.meeting.settle()
        return result

    async def arrive(self, name: str, *, accepts_requests: bool = True) -> str:
        uid = await self._people(
            lambda: self.world.person_joins(name, accepts_requests=accepts_requests)
        )
        return str(uid)

    async def arrive_in_meeting(self, name: str, *, accepts_requests: bool = True) -> str:
        def come_in() -> int:
            uid = self.world.person_joins(name, accepts_requests=accepts_requests)
            self.world.host_admits(name)
            return uid

        return str(await self._people(come_in))

    async def leave(self, name: str) -> None:
        await self._people(lambda: self.world.person_leaves(name))

    async def self_unmute(self, name: str) -> bool:
        return bool(await self._people(lambda: self.world.person_unmutes(name)))

    async def self_start_video(self, name: str) -> bool:
        return bool(await self._people(lambda: self.world.person_starts_video(name)))

    async def say(self, name: str, text: str, *, to_bot: bool = False) -> None:
        await self._people(lambda: self.world.person_says(name, text, to_bot=to_bot))

    async def end(self) -> None:
        await self.meeting._thread.call(self.world.end)
        await self.meeting.settle()

    def state(self, name: str) -> ParticipantInfo | None:
        return self.world.state_of(name)

    async def aclose(self) -> None:
        await self.meeting.leave()


async def make_sdk_harness(*, bot_role: ZoomRole) -> SdkHarness:
    """A running meeting: the bot joined (as `bot_role`) over the bindings double.

    When the bot is not the host, a human host ("Host") is already in the meeting.
    """
    meeting, world, _ = build(bot_role=bot_role)
    if bot_role is not ZoomRole.HOST:
        world.people["Host"] = _host(world)
    await meeting.join(ticket(world))
    await meeting.settle()
    harness = SdkHarness(meeting, world)
    harness.events.clear()
    return harness


def _host(world: World) -> _Person:
    return _Person(
        uid=16000000, name="Host", pid="pid-Host", role=UserRole.USERROLE_HOST, where="meeting"
    )
