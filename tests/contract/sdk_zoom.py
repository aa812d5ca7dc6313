"""A scenario's Zoom side played on the bindings double, with `SdkMeeting` as the bot.

`bot.simulation.driver.run_scenario(zoom=sdk_zoom)` then runs a scenario exactly as it runs
on the simulator, but the bot is the real `SdkMeeting` adapter over the double's SDK (its
GLib-like thread, callbacks, polls), and Zoom's webhooks come from the double's
`ZoomWebhooks`, whose ids differ from the SDK's (participant uuid vs persistent id, webhook
vs SDK user id, chat message ids), so the runtime must link the two sources itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.meeting import zoom_wire as wire
from bot.meeting.port import MeetingControl
from bot.meeting.sdk import JoinTicket, SdkMeeting
from bot.meeting.sdk_jwt import make_sdk_jwt
from bot.meeting.sdk_loop import SdkThread
from bot.meeting.simulated import BOT, Presence, WebhookSink
from bot.simulation.scenario import Scenario
from phases.events import ZoomRole
from tests.unit.meeting.sdk_harness import MANUAL_POLLING
from tests.unit.meeting.zoom_sdk_double import (
    FakeZoomSdk,
    ThreadLoop,
    UserRole,
    World,
    ZoomWebhooks,
)

T = TypeVar("T")

_ROLES = {
    ZoomRole.HOST: UserRole.USERROLE_HOST,
    ZoomRole.CO_HOST: UserRole.USERROLE_COHOST,
    ZoomRole.ATTENDEE: UserRole.USERROLE_ATTENDEE,
}


class _CloudRecordingRest:
    """The one REST call `SdkMeeting.stop_recording` makes, against the double's meeting."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def stop_cloud_recording(self, meeting_id: str) -> None:
        assert meeting_id == str(self._world.meeting_number)
        self._world.cloud_recording = False


class SdkZoom:
    """`ZoomSide` over the bindings double (see the module docstring)."""

    def __init__(self, scenario: Scenario, secret: str, clock: Callable[[], datetime]) -> None:
        self.loop = ThreadLoop()
        identity = wire.MeetingIdentity(
            uuid=f"sdk-{id(self):x}==",
            start_time=scenario.opens_at,
            duration=scenario.agenda.length_minutes,
        )
        self.hooks = ZoomWebhooks(clock=clock, secret=secret, identity=identity)
        self.world = World(
            loop=self.loop,
            bot_role=_ROLES[scenario.bot_role],
            mute_on_entry=scenario.mute_on_entry,
            video_on_entry=scenario.video_on_entry,
            webhooks=self.hooks,
        )
        self.sdk = FakeZoomSdk(self.world)
        facilitators = [p.name for p in scenario.persons if p.role == "facilitator"]
        self.meeting = SdkMeeting(
            self.sdk,
            SdkThread(self.loop, asyncio.get_running_loop()),
            meeting_id=str(self.world.meeting_number),
            rest=_CloudRecordingRest(self.world),  # type: ignore[arg-type]
            options=MANUAL_POLLING,
            facilitator_names=facilitators,
        )
        self._bot_name = scenario.agenda.bot_name
        self._uuid = identity.uuid
        self._sink: WebhookSink | None = None
        self._early: list[Callable[[], object]] = []
        self._ended = False

    # -- ZoomSide: state and wiring --------------------------------------------------------

    @property
    def meeting_uuid(self) -> str:
        return self._uuid

    @property
    def control(self) -> MeetingControl:
        return self.meeting

    @property
    def running(self) -> bool:
        return self.world.me.where == "meeting" and not self._ended

    @property
    def webhooks(self) -> Sequence[wire.Webhook]:
        return self.hooks.sent

    @property
    def presence(self) -> Sequence[Presence]:
        return self.hooks.presence

    @property
    def cloud_recording(self) -> bool:
        return self.world.cloud_recording

    def set_webhook_sink(self, sink: WebhookSink | None) -> None:
        self._sink = sink

    async def _flush(self) -> None:
        for webhook in self.hooks.drain():
            if self._sink is not None:
                await self._sink(webhook)

    async def settle(self) -> None:
        if self.running:
            await self.meeting.poll_now()
        await self.meeting.settle()
        await self._flush()

    async def _people(self, fn: Callable[[], T]) -> T:
        result = await self.meeting._thread.call(fn)
        await self.settle()
        return result

    # -- the room --------------------------------------------------------------------------

    async def start(self) -> None:
        jwt = make_sdk_jwt(
            sdk_key=self.world.sdk_key, sdk_secret=self.world.sdk_secret, now=datetime.now(UTC)
        )
        await self.meeting.join(
            JoinTicket(
                meeting_number=self.world.meeting_number,
                passcode=self.world.passcode,
                zak="scenario-zak",
                jwt=jwt,
                display_name=self._bot_name,
            )
        )
        await self.settle()
        early, self._early = self._early, []
        for come_in in early:
            await self._people(come_in)

    async def end(self) -> None:
        if not self.running:
            return
        self._ended = True
        await self._people(self.world.end)

    async def close(self) -> None:
        await self.meeting.leave()
        await self._flush()

    # -- the people ------------------------------------------------------------------------

    async def person_joins(
        self,
        handle: str,
        *,
        name: str | None = None,
        email: str = "",
        registrant_id: str = "",
        role: ZoomRole = ZoomRole.ATTENDEE,
        accepts_requests: bool = True,
    ) -> str:
        def come_in() -> int:
            return self.world.person_joins(
                name or handle,
                role=_ROLES[role],
                accepts_requests=accepts_requests,
                email=email,
                registrant_id=registrant_id,
            )

        if not self.running:  # the room is not open yet: they wait for it
            self._early.append(come_in)
            return ""
        return str(await self._people(come_in))

    async def person_leaves(self, handle: str) -> None:
        if handle in self.world.people:
            await self._people(lambda: self.world.person_leaves(handle))

    async def person_says(self, handle: str, text: str, *, to: str | None = None) -> bool:
        if not self.running or handle not in self.world.people:
            return False
        to_bot = to == BOT
        to_name = "" if to is None or to_bot else to
        return await self._people(
            lambda: self.world.person_says(handle, text, to_bot=to_bot, to_name=to_name)
        )

    async def person_unmutes(self, handle: str) -> bool:
        return await self._people(lambda: self.world.person_unmutes(handle))

    async def person_mutes(self, handle: str) -> bool:
        return await self._people(lambda: self.world.person_mutes(handle))

    async def person_starts_video(self, handle: str) -> bool:
        return await self._people(lambda: self.world.person_starts_video(handle))

    async def person_stops_video(self, handle: str) -> bool:
        return await self._people(lambda: self.world.person_stops_video(handle))

    async def person_records(self, handle: str) -> bool:
        return await self._people(lambda: self.world.person_records(handle))

    async def host_starts_cloud_recording(self, handle: str) -> bool:
        return await self._people(lambda: self.world.host_starts_cloud_recording(handle))


def sdk_zoom(scenario: Scenario, secret: str, clock: Callable[[], datetime]) -> Any:
    """The `zoom` factory of `run_scenario` for the bindings double."""
    return SdkZoom(scenario, secret, clock)
