"""Meeting harnesses: one per `MeetingControl` implementation the contract tests run on.

A harness gives the contract tests two sides of one meeting: `control` (the port under test,
what the bot does) and the people (join, leave, unmute, ... as the humans would). Each
implementation supplies the people side its own way: the simulator through its people API,
the SDK adapter through its bindings double.

To run the contract on another implementation (e.g. `SdkMeeting` over a bindings double),
write a class with the `MeetingHarness` methods and an async factory
`make_x(*, bot_role, accepts_requests) -> MeetingHarness`, then add ONE line to
`HARNESS_FACTORIES` below: `"sdk": make_sdk_harness,`. Every contract test then runs on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.meeting.port import MeetingControl, ParticipantInfo
from bot.meeting.simulated import BOT, MeetingOptions, SimulatedMeeting
from phases.events import Event, ZoomRole
from tests.unit.meeting.sdk_harness import make_sdk_harness


class MeetingHarness(Protocol):
    """The port under test plus a people side, in one running meeting."""

    control: MeetingControl
    #: every event the port reported to its listener, in order
    events: list[Event]

    async def arrive(self, name: str, *, accepts_requests: bool = True) -> str:
        """`name` joins; an attendee lands in the waiting room. Returns their user id."""
        ...

    async def arrive_in_meeting(self, name: str, *, accepts_requests: bool = True) -> str:
        """`name` joins and a human host admits them. Returns their user id."""
        ...

    async def leave(self, name: str) -> None: ...

    async def self_unmute(self, name: str) -> bool: ...

    async def self_start_video(self, name: str) -> bool: ...

    async def say(self, name: str, text: str, *, to_bot: bool = False) -> None: ...

    async def end(self) -> None:
        """The host ends the meeting for everyone."""
        ...

    def state(self, name: str) -> ParticipantInfo | None:
        """`name` as the meeting shows them, or None when absent."""
        ...


class SimulatedHarness:
    """`SimulatedMeeting` driven through its people API."""

    def __init__(self, meeting: SimulatedMeeting) -> None:
        self.meeting = meeting
        self.control: MeetingControl = meeting
        self.events: list[Event] = []

        async def record(event: Event) -> None:
            self.events.append(event)

        meeting.set_listener(record)

    async def arrive(self, name: str, *, accepts_requests: bool = True) -> str:
        return await self.meeting.person_joins(name, accepts_requests=accepts_requests)

    async def arrive_in_meeting(self, name: str, *, accepts_requests: bool = True) -> str:
        await self.meeting.person_joins(name, accepts_requests=accepts_requests)
        await self.meeting.host_admits(name)
        return self.meeting.user_id_of(name)

    async def leave(self, name: str) -> None:
        await self.meeting.person_leaves(name)

    async def self_unmute(self, name: str) -> bool:
        return await self.meeting.person_unmutes(name)

    async def self_start_video(self, name: str) -> bool:
        return await self.meeting.person_starts_video(name)

    async def say(self, name: str, text: str, *, to_bot: bool = False) -> None:
        await self.meeting.person_says(name, text, to=BOT if to_bot else None)

    async def end(self) -> None:
        await self.meeting.end()

    def state(self, name: str) -> ParticipantInfo | None:
        return self.meeting.state_of(name)


async def make_simulated_harness(*, bot_role: ZoomRole) -> MeetingHarness:
    """A running simulated meeting with the waiting room on, muted entry and video on."""
    meeting = SimulatedMeeting(MeetingOptions(bot_role=bot_role))
    harness = SimulatedHarness(meeting)
    await meeting.start()
    harness.events.clear()
    return harness


HarnessFactory = Callable[..., Awaitable[MeetingHarness]]

#: Implementation name -> harness factory. Add one line here per implementation.
HARNESS_FACTORIES: dict[str, HarnessFactory] = {
    "simulated": make_simulated_harness,
    "sdk": make_sdk_harness,
}
