"""Carries out the engine's in-meeting actions through a `MeetingControl`.

One place maps each action to port calls, so the simulator, the SDK bot and the
observe-only mode all behave the same. A refusal from Zoom becomes a failed
`ActionOutcome` (never an exception), so one refused action cannot stop the others.
`ScheduleWakeup` and `PhaseChanged` are not meeting actions; the runtime handles them. A
chat line for `Audience.CONSOLE` (the answer to a console command) calls nothing in the
meeting: it is logged with the other actions, where the console reads it.

Every person an action names is first resolved to their user id in the meeting
(`MeetingControl.resolve`), with every id the runtime recorded for them (`aliases`: person
key -> ids), so an id one source gave and the other does not know is never simply refused.
When Zoom knows none of those ids, the port falls back on the display name, except to admit
someone whose identity rests on more than their name (`by_id_only`: a registrant id, a
vouched e-mail, a Zoom role, a facilitator's word): a stranger showing exactly that name,
the only one of that name Zoom lists at that moment, must never be let in in their place
(docs/identity.md, "Same name").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from bot.errors import MeetingControlError
from bot.meeting.port import Addressee, ChatTo, MeetingControl
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
    RecordLocation,
    Rename,
    SafetyAnswer,
    ScheduleWakeup,
    SendChat,
    StopRecording,
    StopVideo,
    Target,
)

__all__ = [
    "LINE_KIND",
    "ActionOutcome",
    "Aliases",
    "MeetingAction",
    "action_kind",
    "execute",
    "is_meeting_action",
]

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

#: The kind of a chat line (`SendChat`).
LINE_KIND = "send_chat"
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
    SendChat: LINE_KIND,
    SafetyAnswer: "safety_answer",
    RecordLocation: "record_location",
    ScheduleWakeup: "schedule_wakeup",
    PhaseChanged: "phase_changed",
}


def action_kind(action: Action) -> str:
    """The snake_case name of an action, as the timeline and metrics show it."""
    return _KINDS[type(action)]


def is_meeting_action(action: Action) -> bool:
    """True for actions carried out in the meeting (not wake-ups, phase records or a kept
    location; a `/safety` answer is one: a private line, composed when it is sent)."""
    return not isinstance(action, ScheduleWakeup | PhaseChanged | RecordLocation)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionOutcome:
    """What became of one action: `ok`, or the refusal `code` and `error` text."""

    action: MeetingAction
    ok: bool
    code: str = ""
    error: str = ""


Aliases = Mapping[str, tuple[str, ...]]
"""Person key -> every other id recorded for that person (see `bot.runtime.identity`)."""


async def execute(
    action: MeetingAction,
    control: MeetingControl,
    *,
    aliases: Aliases | None = None,
    by_id_only: Collection[str] = frozenset(),
) -> ActionOutcome:
    """Carry out one meeting action; a Zoom refusal is returned, not raised.

    Args:
        action: what to do.
        control: the meeting.
        aliases: person key -> the other ids recorded for them.
        by_id_only: person keys never admitted by their display name (see the module
            docstring); an admission Zoom cannot match to their ids is refused
            (`no_such_participant`), and the facilitators are told.
    """
    try:
        await _dispatch(action, _Resolver(control, aliases or {}, by_id_only))
    except MeetingControlError as refusal:
        return ActionOutcome(action=action, ok=False, code=refusal.code, error=refusal.message)
    return ActionOutcome(action=action, ok=True)


class _Resolver:
    def __init__(
        self, control: MeetingControl, aliases: Aliases, by_id_only: Collection[str]
    ) -> None:
        self.control = control
        self._aliases = aliases
        self._by_id_only = by_id_only

    async def __call__(self, target: Target, *, admitting: bool = False) -> str:
        keys = (target.key, *self._aliases.get(target.key, ()))
        by_name = not (admitting and target.key in self._by_id_only)
        return await self.control.resolve(
            Addressee(user_id=target.user_id, keys=keys, name=target.name if by_name else "")
        )


async def _dispatch(action: MeetingAction, who: _Resolver) -> None:
    control = who.control
    match action:
        case Admit(target=t):
            await control.admit(await who(t, admitting=True))
        case PutInWaitingRoom(target=t):
            await control.put_in_waiting_room(await who(t))
        case Rename(target=t, new_name=name):
            await control.rename(await who(t), name)
        case Mute(target=t, allow_self_unmute=allowed):
            await control.mute(await who(t), allow_self_unmute=allowed)
        case StopVideo(target=t):
            await control.stop_video(await who(t))
        case AskUnmute(target=t):
            await control.ask_unmute(await who(t))
        case AskStartVideo(target=t):
            await control.ask_start_video(await who(t))
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
                await control.send_chat(text, to=ChatTo.PARTICIPANT, user_id=await who(person))
