"""Carries out the engine's in-meeting actions through a `MeetingControl`.

One place maps each action to port calls, so the simulator, the SDK bot and the
observe-only mode all behave the same. A refusal from Zoom becomes a failed
`ActionOutcome` (never an exception), so one refused action cannot stop the others.
`ScheduleWakeup` and `PhaseChanged` are not meeting actions; the runtime handles them. A
chat line for `Audience.CONSOLE` (the answer to a console command) calls nothing in the
meeting: it is logged with the other actions, where the console reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import MeetingControlError
from bot.meeting.port import ChatTo, MeetingControl
from phases.actions import (
    Action,
    Admit,
    AllowSelfMedia,
    AskStartVideo,
    AskUnmute,
    Audience,
    Mute,
    PhaseChanged,
    PutInWaitingRoom,
    Rename,
    ScheduleWakeup,
    SendChat,
    StopRecording,
    StopVideo,
)

__all__ = ["ActionOutcome", "MeetingAction", "action_kind", "execute", "is_meeting_action"]

MeetingAction = (
    Admit
    | PutInWaitingRoom
    | Rename
    | Mute
    | StopVideo
    | AskUnmute
    | AskStartVideo
    | AllowSelfMedia
    | StopRecording
    | SendChat
)

_KINDS: dict[type, str] = {
    Admit: "admit",
    PutInWaitingRoom: "put_in_waiting_room",
    Rename: "rename",
    Mute: "mute",
    StopVideo: "stop_video",
    AskUnmute: "ask_unmute",
    AskStartVideo: "ask_start_video",
    AllowSelfMedia: "allow_self_media",
    StopRecording: "stop_recording",
    SendChat: "send_chat",
    ScheduleWakeup: "schedule_wakeup",
    PhaseChanged: "phase_changed",
}


def action_kind(action: Action) -> str:
    """The snake_case name of an action, as the timeline and metrics show it."""
    return _KINDS[type(action)]


def is_meeting_action(action: Action) -> bool:
    """True for actions carried out in the meeting (not wake-ups or phase records)."""
    return not isinstance(action, ScheduleWakeup | PhaseChanged)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionOutcome:
    """What became of one action: `ok`, or the refusal `code` and `error` text."""

    action: MeetingAction
    ok: bool
    code: str = ""
    error: str = ""


async def execute(action: MeetingAction, control: MeetingControl) -> ActionOutcome:
    """Carry out one meeting action; a Zoom refusal is returned, not raised."""
    try:
        await _dispatch(action, control)
    except MeetingControlError as refusal:
        return ActionOutcome(action=action, ok=False, code=refusal.code, error=refusal.message)
    return ActionOutcome(action=action, ok=True)


async def _dispatch(action: MeetingAction, control: MeetingControl) -> None:
    match action:
        case Admit(target=t):
            await control.admit(t.user_id)
        case PutInWaitingRoom(target=t):
            await control.put_in_waiting_room(t.user_id)
        case Rename(target=t, new_name=name):
            await control.rename(t.user_id, name)
        case Mute(target=t):
            await control.mute(t.user_id)
        case StopVideo(target=t):
            await control.stop_video(t.user_id)
        case AskUnmute(target=t):
            await control.ask_unmute(t.user_id)
        case AskStartVideo(target=t):
            await control.ask_start_video(t.user_id)
        case AllowSelfMedia(unmute=unmute, video=video):
            if unmute is not None:
                await control.allow_self_unmute(unmute)
            if video is not None:
                await control.allow_self_video(video)
        case StopRecording():
            await control.stop_recording()
        case SendChat(to=Audience.EVERYONE, text=text):
            await control.send_chat(text, to=ChatTo.EVERYONE)
        case SendChat(to=Audience.WAITING_ROOM, text=text):
            await control.send_chat(text, to=ChatTo.WAITING_ROOM)
        case SendChat(to=Audience.CONSOLE):
            pass  # the answer to a console command: the console reads it from the action log
        case SendChat(text=text, recipients=recipients):
            if not recipients:
                raise MeetingControlError("no_such_participant", "no one to send this line to")
            for person in recipients:
                await control.send_chat(text, to=ChatTo.PARTICIPANT, user_id=person.user_id)
