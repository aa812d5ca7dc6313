"""Shared by `simulate` (in process) and `demo` (over HTTP): what a scenario's people do, and
how the bot's actions read on the timeline.

Both drivers play the same people in the same `SimulatedMeeting` and print the same records,
so these two steps live here once.
"""

from __future__ import annotations

from typing import Any

from bot.meeting.executor import MeetingAction
from bot.meeting.simulated import BOT, SimulatedMeeting
from bot.simulation.scenario import Scenario, ScenarioEvent
from phases.actions import AllowSelfMedia, Audience, SendChat, StopRecording

__all__ = ["action_fields", "play"]


async def play(
    meeting: SimulatedMeeting, scenario: Scenario, event: ScenarioEvent
) -> dict[str, Any]:
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
    elif event.do == "record":
        ok = await meeting.person_records(who)
    else:  # end_meeting
        await meeting.end()
    fields: dict[str, Any] = {"name": who or "host", "do": event.do, "ok": ok}
    if event.do == "say":
        fields["to"] = event.to
        fields["text"] = event.text
    return fields


def action_fields(action: MeetingAction, *, kind: str, ok: bool, error: str) -> dict[str, Any]:
    """The fields of an `action` timeline record (`error` is used only when not `ok`)."""
    fields: dict[str, Any] = {"action": kind}
    if isinstance(action, SendChat):
        fields["to"] = _audience(action)
        fields["text"] = action.text
    elif isinstance(action, AllowSelfMedia):
        fields["unmute"] = action.unmute
        fields["video"] = action.video
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
