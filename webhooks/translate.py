"""Typed Zoom webhooks to what the rest of balint-bot consumes: engine events and presence.

Pure. `to_engine_events` gives the phase engine's events (`phases.events`) for one webhook;
`to_presence` gives the attendance fact (`storage.attendance.PresenceEvent`) it records, if
any. The worker feeds the first to the meeting's runtime and stores the second, both keyed by
the journal entry, so a replay changes nothing.

Zoom's semantics, as far as they are documented (`zoom-reference.md` §1.5-1.7):

- `participant_uuid` is the participant's id for the whole meeting, so it is the engine's
  `Participant.key`; `user_id` (per join) is the id actions are addressed to. When Zoom sends
  no `participant_uuid` the key falls back to `user_id`.
- Admission produces `participant_admitted`, `participant_left_waiting_room` and
  `participant_joined` (order undocumented). The engine hears the waiting-room exit and the
  join; `participant_admitted` adds nothing for it. For attendance, admission closes the
  waiting-room interval (a duplicate of the left-waiting-room fact is harmless there).
- `participant_joined` does not carry the Zoom role. The meeting's host is recognised by
  `host_id`; everyone else joins as an attendee until a `participant_role_changed` says more.
- Who someone is comes from `registrant_id`, the e-mail of a signed-in participant (one
  with an account user id) and the display name, never from a phone caller's name; see
  `phases.identity`. An e-mail from someone not signed in is not evidence and is not
  recorded for attendance.
- `recording.started` (a cloud recording) names no participant: it becomes
  `RecordingStarted(participant=None)`. It is the bot's only way to see a cloud recording
  start (the Meeting SDK bindings do not report it); a local recording sends no webhook.
- The chat webhook identifies the sender only by `sender_session_id`, which looks like the
  per-join `user_id` (unverified), and by name: it becomes both the key and the user id.
"""

from __future__ import annotations

from datetime import UTC, datetime

from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Event,
    Joined,
    Left,
    LeftWaitingRoom,
    MeetingEnded,
    MeetingStarted,
    Participant,
    PrivateReply,
    RecordingStarted,
    RoleChanged,
    ZoomRole,
)
from storage.attendance import PresenceEvent, PresenceKind
from webhooks.models import (
    ChatMessageSentEvent,
    MeetingEndedEvent,
    MeetingStartedEvent,
    ParticipantAdmittedEvent,
    ParticipantInfo,
    ParticipantJoinedEvent,
    ParticipantJoinedWaitingRoomEvent,
    ParticipantLeftEvent,
    ParticipantLeftWaitingRoomEvent,
    ParticipantObject,
    ParticipantPutInWaitingRoomEvent,
    ParticipantRoleChangedEvent,
    RecordingStartedEvent,
    ZoomEvent,
)

__all__ = ["dialed_in", "participant", "signed_in", "to_engine_events", "to_presence", "zoom_role"]

_ROLES = {
    "host": ZoomRole.HOST,
    "co-host": ZoomRole.CO_HOST,
    "cohost": ZoomRole.CO_HOST,
    "co_host": ZoomRole.CO_HOST,
    "attendee": ZoomRole.ATTENDEE,
    "participant": ZoomRole.ATTENDEE,
}

_PRESENCE_KINDS: dict[type, PresenceKind] = {
    ParticipantJoinedEvent: "joined",
    ParticipantLeftEvent: "left",
    ParticipantJoinedWaitingRoomEvent: "waiting_joined",
    ParticipantPutInWaitingRoomEvent: "waiting_joined",
    ParticipantLeftWaitingRoomEvent: "waiting_left",
    ParticipantAdmittedEvent: "waiting_left",
}


def participant(info: ParticipantInfo) -> Participant:
    """The engine's view of a webhook participant.

    Zoom gives an account user id (`participant_user_id`, or the older `id`) only for someone
    signed in to Zoom, and a `phone_number` only for a telephone caller (zoom-reference §1.6);
    those become `signed_in` and `phone` (`dialed_in`, the one phone test, which also decides
    a join's `telephone` modality for billing), which decide what the e-mail and the name
    may prove (`phases.identity`).
    """
    return Participant(
        key=info.key,
        user_id=info.user_id,
        name=info.user_name,
        email=info.email,
        registrant_id=info.registrant_id,
        signed_in=signed_in(info),
        phone=dialed_in(info),
    )


def signed_in(info: ParticipantInfo) -> bool:
    """Zoom reports an account user id for this participant: they are signed in."""
    return bool(info.participant_user_id.strip() or info.id.strip())


def zoom_role(value: str) -> ZoomRole | None:
    """Zoom's role text (`host`, `co-host`, `attendee`) as a `ZoomRole`; None if unknown."""
    return _ROLES.get(value.strip().lower())


def to_engine_events(event: ZoomEvent, *, bot_name: str = "") -> list[Event]:
    """The engine events one webhook stands for (often one, sometimes none).

    Args:
        event: a parsed webhook.
        bot_name: the bot's display name. When given, a private chat message to anyone else
            is dropped: the webhook reports private chats between participants too, and
            only what is said to the bot (or to everyone) is meant for it.
    """
    match event:
        case MeetingStartedEvent():
            return [MeetingStarted()]
        case MeetingEndedEvent():
            return [MeetingEnded()]
        case ParticipantJoinedEvent():
            return [Joined(participant=participant(event.participant), role=_join_role(event))]
        case ParticipantLeftEvent():
            return [Left(participant=participant(event.participant))]
        case ParticipantJoinedWaitingRoomEvent() | ParticipantPutInWaitingRoomEvent():
            return [ArrivedInWaitingRoom(participant=participant(event.participant))]
        case ParticipantLeftWaitingRoomEvent():
            return [LeftWaitingRoom(participant=participant(event.participant))]
        case ParticipantRoleChangedEvent():
            role = zoom_role(event.participant.new_role)
            if role is None:
                return []
            return [RoleChanged(participant=participant(event.participant), role=role)]
        case ChatMessageSentEvent():
            return _chat(event, bot_name=bot_name)
        case RecordingStartedEvent():
            return [RecordingStarted(participant=None)]
        case _:
            return []


def to_presence(event: ZoomEvent) -> PresenceEvent | None:
    """The attendance fact in one webhook, or None if it is not about presence."""
    match event:
        case MeetingStartedEvent():
            at = event.meeting.start_time or event.event_time
            return PresenceEvent(kind="meeting_started", at=_aware(at))
        case MeetingEndedEvent():
            at = event.meeting.end_time or event.event_time
            return PresenceEvent(kind="meeting_ended", at=_aware(at))
        case (
            ParticipantJoinedEvent()
            | ParticipantLeftEvent()
            | ParticipantJoinedWaitingRoomEvent()
            | ParticipantPutInWaitingRoomEvent()
            | ParticipantLeftWaitingRoomEvent()
            | ParticipantAdmittedEvent()
        ):
            info = event.participant
            return PresenceEvent(
                kind=_PRESENCE_KINDS[type(event)],
                at=_aware(info.at or event.event_time),
                participant_key=info.participant_uuid,
                user_id=info.user_id,
                name=info.user_name,
                # Only an e-mail Zoom vouches for is kept: attendance treats it as evidence.
                email=info.email if signed_in(info) else "",
                registrant_id=info.registrant_id,
                modality=_modality(event),
                phone=dialed_in(info),
            )
        case _:
            return None


def dialed_in(info: ParticipantInfo) -> bool:
    """Zoom reports a `phone_number` for this participant: they called in by telephone
    (zoom-reference §1.6). The one phone test of the webhook translation; the number itself
    is never kept."""
    return bool(info.phone_number.strip())


def _modality(event: ZoomEvent) -> str:
    """How a join came in, as the join payload says: `telephone` for a dial-in, else `video`.

    Only `meeting.participant_joined` tells; every other presence event leaves it unsaid
    (""). Billing's telephone tracking item (K301A) follows it.
    """
    if not isinstance(event, ParticipantJoinedEvent):
        return ""
    return "telephone" if dialed_in(event.participant) else "video"


def _join_role(event: ParticipantJoinedEvent) -> ZoomRole:
    meeting: ParticipantObject = event.meeting
    info = event.participant
    account_ids = {info.id, info.participant_user_id} - {""}
    if meeting.host_id and meeting.host_id in account_ids:
        return ZoomRole.HOST
    return ZoomRole.ATTENDEE


def _chat(event: ChatMessageSentEvent, *, bot_name: str) -> list[Event]:
    message = event.chat_message
    if message.private and bot_name and _fold(message.recipient_name) != _fold(bot_name):
        return []
    sender = Participant(
        key=message.sender_session_id,
        user_id=message.sender_session_id,
        name=message.sender_name,
        email=message.sender_email,
    )
    if message.balint_sealed_content:
        return [
            PrivateReply(
                sender=sender,
                sealed=message.balint_sealed_content,
                recipient_id=message.recipient_session_id,
                message_id=message.message_id,
            )
        ]
    return [
        ChatMessage(
            sender=sender,
            text=message.message_content,
            private=message.private,
            message_id=message.message_id,
        )
    ]


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def _aware(at: datetime) -> datetime:
    """Zoom's times end in Z; a time without an offset is taken as UTC."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at
