"""Events the phase engine consumes: what happened in or around the meeting.

Events are frozen, slotted, keyword-only value objects. They carry no clock: the time at
which an event is handled is the `now` argument of `phases.handle`. Zoom is parsed into these
at the edge (webhooks, the Meeting SDK callbacks, the simulator), so nothing in here knows
Zoom's wire format.

Participants are identified by `Participant.key`, which is stable for the whole meeting
(Zoom's `participant_uuid`, or the SDK's persistent id), and addressed by `user_id`, Zoom's
per-join id that changes when someone rejoins. Actions name their target with both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "ActionDone",
    "ActionRefused",
    "ArrivedInWaitingRoom",
    "AudioMuted",
    "AudioUnmuted",
    "ChatMessage",
    "Event",
    "Joined",
    "Left",
    "LeftWaitingRoom",
    "MeetingEnded",
    "MeetingStarted",
    "Participant",
    "PrivateReply",
    "RecordingStarted",
    "RoleChanged",
    "TimerDue",
    "TrustedCommand",
    "VideoOff",
    "VideoOn",
    "ZoomRole",
]


class ZoomRole(enum.StrEnum):
    """A participant's role in the Zoom meeting (not in the group)."""

    HOST = "host"
    CO_HOST = "co-host"
    ATTENDEE = "attendee"


@dataclass(frozen=True, slots=True, kw_only=True)
class Participant:
    """Who an event is about, as Zoom identifies them.

    Args:
        key: stable for the meeting (participant_uuid / persistent id).
        user_id: Zoom's per-join id; the id actions are addressed to.
        name: the display name shown in Zoom.
        email: e-mail if Zoom gives one, else "".
        registrant_id: the meeting registrant id if the person joined by a registration link.
        signed_in: the person is signed in to a Zoom account (Zoom reports their account user
            id), so the e-mail Zoom gives is the account's, which Zoom vouches for.
        phone: the person dialled in by telephone (Zoom reports a phone number).
    """

    key: str
    user_id: str
    name: str
    email: str = ""
    registrant_id: str = ""
    signed_in: bool = False
    phone: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingStarted:
    """The meeting instance started (the room is open)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingEnded:
    """The meeting instance ended; everyone has been removed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrivedInWaitingRoom:
    """Someone arrived in (or was put into) the waiting room."""

    participant: Participant


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftWaitingRoom:
    """Someone left the waiting room: they hung up, or they were admitted (Zoom reports an
    admission as leaving the waiting room and joining, in an order it does not document)."""

    participant: Participant


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined:
    """Someone is now in the meeting proper (joined directly or was admitted)."""

    participant: Participant
    role: ZoomRole = ZoomRole.ATTENDEE


@dataclass(frozen=True, slots=True, kw_only=True)
class Left:
    """Someone left the meeting proper (also when moved to the waiting room: Zoom then
    reports the arrival there as well, in an order it does not document)."""

    participant: Participant


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioMuted:
    participant: Participant


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioUnmuted:
    participant: Participant


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoOn:
    participant: Participant


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoOff:
    participant: Participant


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleChanged:
    """A participant became host, co-host or attendee."""

    participant: Participant
    role: ZoomRole


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted:
    """A cloud or local recording started; `participant` is who started it, if known."""

    participant: Participant | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    """A chat line seen by the bot.

    Args:
        sender: who typed it.
        text: the message content (only commands are ever stored or logged).
        private: True when it was sent privately to the bot.
        message_id: Zoom's message id, used to run a command once when it arrives both by
            webhook and by the SDK's chat callback.
    """

    sender: Participant
    text: str
    private: bool = False
    message_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivateReply:
    """A private chat line that is not a command, its text sealed where it entered balint-bot.

    The webhook receiver (`webhooks.sealing`) and the runtime, for what the SDK bot heard
    (`bot.runtime.durable.MeetingRuntime.feed_live`), seal such a line with the data key
    before anything is stored or logged; the engine never sees its text. `sealed` is that
    opaque token, which the engine may only pass on (`phases.actions.RecordLocation`) when the
    line answers the bot's location question.

    Args:
        sender: who wrote it.
        sealed: the sealed text (opaque here).
        recipient_id: the per-join user id Zoom says it went to; "" when the source saw it
            reach the bot itself (the SDK bot's own chat).
        message_id: Zoom's message id (a line delivered twice is taken once).
    """

    sender: Participant
    sealed: str
    recipient_id: str = ""
    message_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerDue:
    """A wake-up the engine asked for (`ScheduleWakeup`) is due."""

    timer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRefused:
    """Zoom refused one of the engine's meeting actions (the runtime reports it back).

    Args:
        kind: the action's kind, as `bot.meeting.executor.action_kind` names it ("admit",
            "mute", "stop_video", ...).
        target_key: the stable key of the person the action was about ("" if none).
        target_name: their display name as the action named them ("" if none).
        code: the refusal code (`bot.meeting.port.REFUSALS`, e.g. "not_privileged").
    """

    kind: str
    target_key: str = ""
    target_name: str = ""
    code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionDone:
    """Zoom carried out a meeting action the engine asked to hear about (`confirm=True`):
    the runtime reports it back like a refusal, so the bot says what it did only once Zoom
    did it.

    Args:
        kind: the action's kind, as for `ActionRefused`.
        target_key: the stable key of the person it was about ("" if none).
        target_name: their display name as the action named them ("" if none).
    """

    kind: str
    target_key: str = ""
    target_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedCommand:
    """A facilitator's command from a trusted source outside the meeting chat (the console).

    It runs exactly as the same line typed in the chat would, except for who may give it and
    where the answer goes: rights come from the roster's facilitator role of the facilitator
    the source signed in (never from a display name seen in Zoom), and the bot's replies go
    back to the source (`Audience.CONSOLE`), not into the meeting.

    Args:
        facilitator: the roster display name of the signed-in facilitator.
        member_id: their roster member id, if known (preferred over the name to find them).
        text: the command as it would be typed ("/next", "/admit Ana").
        command_id: unique per command; a command delivered twice runs once.
        target_key: for `/admit` and `/hold`, the stable key of the very person meant (a
            button on a row names one person; the name is then only for the record).
        source: where it came from ("console").
    """

    facilitator: str
    member_id: str = ""
    text: str
    command_id: str
    target_key: str = ""
    source: str = "console"


Event = (
    MeetingStarted
    | MeetingEnded
    | ArrivedInWaitingRoom
    | LeftWaitingRoom
    | Joined
    | Left
    | AudioMuted
    | AudioUnmuted
    | VideoOn
    | VideoOff
    | RoleChanged
    | RecordingStarted
    | ChatMessage
    | PrivateReply
    | TimerDue
    | ActionRefused
    | ActionDone
    | TrustedCommand
)
