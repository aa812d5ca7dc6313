"""The Zoom side of a scenario run (`ZoomSide`), what its people do, and how the bot's actions
read on the timeline.

`ZoomSide` is what `bot.simulation.driver` needs from a Zoom meeting: the people's side (join,
leave, say, unmute, ...), the control the bot drives, and what Zoom reports (signed webhooks
to a sink; to the bot's listener, what its SDK sees). `SimulatedMeeting` is one; the contract
tests run the same scenarios on `SdkMeeting` over the bindings double as another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.meeting.executor import MeetingAction
from bot.meeting.port import MeetingControl
from bot.meeting.simulated import BOT, Presence, WebhookSink
from bot.meeting.zoom_wire import Webhook
from bot.simulation.scenario import Scenario, ScenarioEvent
from phases.actions import AllowSelfMedia, Audience, SafetyAnswer, SendChat, StopRecording
from phases.events import ZoomRole

__all__ = ["ZoomSide", "action_fields", "play"]


class ZoomSide(Protocol):
    """A Zoom meeting as a scenario run drives it (see the module docstring)."""

    @property
    def meeting_uuid(self) -> str:
        """The meeting instance its webhooks name."""
        ...

    @property
    def control(self) -> MeetingControl:
        """What the bot does in the meeting (its listener hears what the bot sees)."""
        ...

    @property
    def running(self) -> bool: ...

    @property
    def webhooks(self) -> Sequence[Webhook]:
        """Every webhook sent so far."""
        ...

    @property
    def presence(self) -> Sequence[Presence]:
        """Every stay in the meeting or waiting room, as Zoom's own minutes."""
        ...

    def set_webhook_sink(self, sink: WebhookSink | None) -> None: ...

    async def start(self) -> None:
        """The room opens: the bot joins, and whoever came early enters."""
        ...

    async def settle(self) -> None:
        """Return once what the bot's SDK saw so far has reached its listener."""
        ...

    async def close(self) -> None:
        """Release what the meeting holds (the SDK, a thread); after the run."""
        ...

    async def end(self) -> None:
        """The host ends the meeting for everyone."""
        ...

    async def person_joins(
        self,
        handle: str,
        *,
        name: str | None = None,
        email: str = "",
        registrant_id: str = "",
        role: ZoomRole = ZoomRole.ATTENDEE,
        accepts_requests: bool = True,
        signed_in: bool = False,
        phone_number: str = "",
    ) -> str:
        """`handle` joins, showing `name`; `email` reaches Zoom's reports only when
        `signed_in`; `phone_number` makes them a telephone caller."""
        ...

    async def person_leaves(self, handle: str) -> None: ...

    async def person_says(self, handle: str, text: str, *, to: str | None = None) -> bool: ...

    async def person_unmutes(self, handle: str) -> bool: ...

    async def person_mutes(self, handle: str) -> bool: ...

    async def person_starts_video(self, handle: str) -> bool: ...

    async def person_stops_video(self, handle: str) -> bool: ...

    async def person_records(self, handle: str) -> bool: ...

    async def host_starts_cloud_recording(self, handle: str) -> bool: ...


async def play(meeting: ZoomSide, scenario: Scenario, event: ScenarioEvent) -> dict[str, Any]:
    """Carry out one scenario event; returns the fields of its `person` timeline record.

    `ok` is False when Zoom did not let it happen (e.g. unmuting while self-unmute is off).
    """
    who = event.who
    ok = True
    if event.do == "join":
        person = scenario.person(who)
        shown = person.presents
        await meeting.person_joins(
            who,
            name=shown.name,
            email=shown.email,
            registrant_id=shown.registrant_id,
            signed_in=shown.signed_in,
            phone_number=shown.phone,
            role=person.zoom_role,
            accepts_requests=person.accepts_requests,
        )
    elif event.do == "leave":
        await meeting.person_leaves(who)
    elif event.do == "say":
        to = None if event.to == "everyone" else BOT if event.to == "bot" else event.to
        ok = await meeting.person_says(who, event.text, to=to)
    elif event.do == "unmute":
        ok = await meeting.person_unmutes(who)
    elif event.do == "mute":
        ok = await meeting.person_mutes(who)
    elif event.do == "video_on":
        ok = await meeting.person_starts_video(who)
    elif event.do == "video_off":
        ok = await meeting.person_stops_video(who)
    elif event.do == "record":  # a host or co-host records to the cloud, others locally
        if scenario.person(who).zoom_role in (ZoomRole.HOST, ZoomRole.CO_HOST):
            ok = await meeting.host_starts_cloud_recording(who)
        else:
            ok = await meeting.person_records(who)
    else:  # end_meeting
        await meeting.end()
    fields: dict[str, Any] = {"name": who or "host", "do": event.do, "ok": ok}
    if event.do == "say":
        fields["to"] = event.to
        fields["text"] = event.text
    return fields


def action_fields(
    action: MeetingAction | SafetyAnswer, *, kind: str, ok: bool, error: str
) -> dict[str, Any]:
    """The fields of an `action` timeline record (`error` is used only when not `ok`)."""
    fields: dict[str, Any] = {"action": kind}
    if isinstance(action, SendChat):
        fields["to"] = _audience(action)
        fields["text"] = action.text
    elif isinstance(action, AllowSelfMedia):
        fields["unmute"] = action.unmute
        fields["video"] = action.video
    elif isinstance(action, SafetyAnswer):  # who asked about whom; never the plan itself
        fields["to"] = action.to.name
        fields["about"] = action.member_name
    elif isinstance(action, StopRecording):
        if action.started_by is not None:
            fields["target"] = action.started_by.name
    else:
        fields["target"] = action.target.name
    fields["ok"] = ok
    if not ok:
        fields["error"] = error
    return fields


def _audience(action: SendChat) -> str:
    if action.to is Audience.PARTICIPANT:
        return action.recipients[0].name if action.recipients else ""
    return str(action.to)
