"""Typed models of the Zoom webhook bodies balint-bot reads, one per event.

Shapes follow Zoom's generated webhook types (zoom/rivet-javascript `meetings/meetings.d.ts`),
see `zoom-reference.md` §1.4-1.7. Zoom is loose with types, so the models are lenient where
Zoom is: `payload.object.id` arrives as a string or a number (always stored as a string),
optional fields may be missing, `null` or empty, and fields we do not know are ignored (the raw
body is journaled anyway). A required field that is missing (a participant event without its
participant) is a validation error. Events we have no model for parse as `UnknownEvent`.

Names, e-mails and the other text a person typed are `ShownText`: control characters
become U+FFFD here, at the edge (`storage.text`), before anything keeps or prints them.

Pure: no I/O. `webhooks.parse.parse_event` turns raw bytes into one of these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from storage.text import display_text

__all__ = [
    "ChatMessage",
    "ChatMessageObject",
    "ChatMessageSentEvent",
    "EVENT_MODELS",
    "MAX_EVENT_TS",
    "MeetingEndedEvent",
    "MeetingEndedObject",
    "MeetingEvent",
    "MeetingObject",
    "MeetingStartedEvent",
    "ParticipantAdmittedEvent",
    "ParticipantEvent",
    "ParticipantInfo",
    "ParticipantJoinedEvent",
    "ParticipantJoinedWaitingRoomEvent",
    "ParticipantLeftEvent",
    "ParticipantLeftWaitingRoomEvent",
    "ParticipantObject",
    "ParticipantPutInWaitingRoomEvent",
    "ParticipantRoleChangedEvent",
    "RecordingStartedEvent",
    "RoleChangeParticipant",
    "UnknownEvent",
    "UrlValidationEvent",
    "UrlValidationPayload",
    "ZoomEvent",
]


def _text(value: Any) -> Any:
    """Zoom sends ids as strings or numbers and optional text as missing, null or "".

    Numbers of any size become their digits (an int is never turned into a float, which
    overflows past 1e308); a float keeps its digits, without ".0" when it is whole.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return value


def _optional_time(value: Any) -> Any:
    """An empty or null time field is absent."""
    if value is None or value == "":
        return None
    return value


def _optional_int(value: Any) -> Any:
    if value is None or value == "":
        return None
    return value


Text = Annotated[str, BeforeValidator(_text)]
#: what a person typed (a display name, an e-mail) and balint-bot may show: `storage.text`
ShownText = Annotated[str, BeforeValidator(_text), AfterValidator(display_text)]
OptionalTime = Annotated[datetime | None, BeforeValidator(_optional_time)]
OptionalInt = Annotated[int | None, BeforeValidator(_optional_int)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


#: The last millisecond of year 9999: a larger `event_ts` is no time (and no date can hold it).
MAX_EVENT_TS = 253_402_300_799_999


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a time, not true or false")
    return value


EventTs = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=MAX_EVENT_TS)]


class _Envelope(_Model):
    """The part every Zoom webhook body shares; `event_ts` is epoch milliseconds."""

    event: str
    event_ts: EventTs

    @property
    def event_time(self) -> datetime:
        """`event_ts` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.event_ts / 1000, tz=UTC)


# --- meetings ---------------------------------------------------------------------------


class MeetingObject(_Model):
    """`payload.object` of the meeting events: the meeting instance."""

    id: Text = ""
    uuid: Text
    host_id: Text = ""
    host_email: ShownText = ""
    topic: ShownText = ""
    type: OptionalInt = None
    start_time: OptionalTime = None
    timezone: Text = ""
    duration: OptionalInt = None


class MeetingEndedObject(MeetingObject):
    end_time: OptionalTime = None


class _MeetingPayload(_Model):
    account_id: Text = ""
    object: MeetingObject


class _MeetingEndedPayload(_Model):
    account_id: Text = ""
    object: MeetingEndedObject


class MeetingStartedEvent(_Envelope):
    event: Literal["meeting.started"]
    payload: _MeetingPayload

    @property
    def meeting(self) -> MeetingObject:
        return self.payload.object


class MeetingEndedEvent(_Envelope):
    event: Literal["meeting.ended"]
    payload: _MeetingEndedPayload

    @property
    def meeting(self) -> MeetingEndedObject:
        return self.payload.object


# --- participants -----------------------------------------------------------------------


class ParticipantInfo(_Model):
    """`payload.object.participant`: who the event is about.

    `participant_uuid` is stable for the meeting; `user_id` is the per-join id; `id` and
    `participant_user_id` are the Zoom account user id (empty for guests). The time of the
    event is `join_time`, `leave_time` or `date_time` depending on the event.
    """

    user_id: Text = ""
    user_name: ShownText = ""
    id: Text = ""
    participant_uuid: Text = ""
    participant_user_id: Text = ""
    email: ShownText = ""
    registrant_id: Text = ""
    customer_key: Text = ""
    phone_number: ShownText = ""
    join_time: OptionalTime = None
    leave_time: OptionalTime = None
    leave_reason: ShownText = ""
    date_time: OptionalTime = None

    @property
    def key(self) -> str:
        """The id that is stable for the meeting: `participant_uuid`, else `user_id`."""
        return self.participant_uuid or self.user_id

    @property
    def at(self) -> datetime | None:
        """When it happened, as Zoom reports it for this participant."""
        return self.join_time or self.leave_time or self.date_time


class RoleChangeParticipant(ParticipantInfo):
    old_role: Text = ""
    new_role: Text


class ParticipantObject(MeetingObject):
    participant: ParticipantInfo


class _RoleChangeObject(MeetingObject):
    participant: RoleChangeParticipant


class _ParticipantPayload(_Model):
    account_id: Text = ""
    object: ParticipantObject


class _RoleChangePayload(_Model):
    account_id: Text = ""
    object: _RoleChangeObject


class _ParticipantEventBase(_Envelope):
    payload: _ParticipantPayload

    @property
    def meeting(self) -> ParticipantObject:
        return self.payload.object

    @property
    def participant(self) -> ParticipantInfo:
        return self.payload.object.participant


class ParticipantJoinedEvent(_ParticipantEventBase):
    event: Literal["meeting.participant_joined"]


class ParticipantLeftEvent(_ParticipantEventBase):
    event: Literal["meeting.participant_left"]


class ParticipantJoinedWaitingRoomEvent(_ParticipantEventBase):
    event: Literal["meeting.participant_joined_waiting_room"]


class ParticipantLeftWaitingRoomEvent(_ParticipantEventBase):
    event: Literal["meeting.participant_left_waiting_room"]


class ParticipantAdmittedEvent(_ParticipantEventBase):
    event: Literal["meeting.participant_admitted"]


class ParticipantPutInWaitingRoomEvent(_ParticipantEventBase):
    event: Literal["meeting.participant_put_in_waiting_room"]


class ParticipantRoleChangedEvent(_Envelope):
    event: Literal["meeting.participant_role_changed"]
    payload: _RoleChangePayload

    @property
    def meeting(self) -> _RoleChangeObject:
        return self.payload.object

    @property
    def participant(self) -> RoleChangeParticipant:
        return self.payload.object.participant


# --- chat -------------------------------------------------------------------------------


class ChatMessage(_Model):
    """`payload.object.chat_message`. Recipient fields are present for private messages.

    `sender_session_id` looks like the sender's per-meeting `user_id` (unverified by Zoom).
    `recipient_type` is `everyone` for the whole meeting, `group`, or `host`/`guest` when the
    message went to one person.
    """

    date_time: OptionalTime = None
    sender_session_id: Text = ""
    sender_name: ShownText = ""
    sender_email: ShownText = ""
    sender_type: Text = ""
    recipient_session_id: Text = ""
    recipient_name: ShownText = ""
    recipient_email: ShownText = ""
    recipient_type: Text = ""
    message_id: Text = ""
    message_content: Text = ""
    file_ids: list[Text] = Field(default_factory=list)
    #: a private answer to the bot, sealed by the receiver (`webhooks.sealing`); never Zoom's
    balint_sealed_content: Text = ""

    @property
    def private(self) -> bool:
        """True when the message went to one person rather than the meeting or a group."""
        return self.recipient_type not in ("", "everyone", "group")


class ChatMessageObject(_Model):
    id: Text = ""
    uuid: Text
    chat_message: ChatMessage


class _ChatPayload(_Model):
    account_id: Text = ""
    object: ChatMessageObject


class ChatMessageSentEvent(_Envelope):
    event: Literal["meeting.chat_message_sent"]
    payload: _ChatPayload

    @property
    def meeting(self) -> ChatMessageObject:
        return self.payload.object

    @property
    def chat_message(self) -> ChatMessage:
        return self.payload.object.chat_message


# --- recordings -------------------------------------------------------------------------


class RecordingStartedEvent(_Envelope):
    """`recording.started`: a cloud recording of the meeting began (host, co-host or the API).

    `zoom-reference.md` does not describe this body, so only the documented envelope is
    modelled: `payload.object` is the meeting instance (`id`, `uuid`, `host_id`, `topic`,
    `start_time`, ...); `recording_file` and anything else in it is ignored. Zoom names no
    participant: who started the recording is unknown. A participant's local recording sends
    no webhook at all.
    """

    event: Literal["recording.started"]
    payload: _MeetingPayload

    @property
    def meeting(self) -> MeetingObject:
        return self.payload.object


# --- endpoint validation and the rest ---------------------------------------------------


class UrlValidationPayload(_Model):
    plain_token: str = Field(alias="plainToken", min_length=1)


class UrlValidationEvent(_Envelope):
    """Zoom's challenge for the endpoint (on setup and every 72 hours)."""

    event: Literal["endpoint.url_validation"]
    event_ts: EventTs = 0
    payload: UrlValidationPayload


class UnknownEvent(_Envelope):
    """An event balint-bot has no model for; journaled and acknowledged, never processed."""

    event_ts: EventTs = 0
    payload: dict[str, Any] = Field(default_factory=dict)


ParticipantEvent = (
    ParticipantJoinedEvent
    | ParticipantLeftEvent
    | ParticipantJoinedWaitingRoomEvent
    | ParticipantLeftWaitingRoomEvent
    | ParticipantAdmittedEvent
    | ParticipantPutInWaitingRoomEvent
)

MeetingEvent = (
    MeetingStartedEvent
    | MeetingEndedEvent
    | ParticipantEvent
    | ParticipantRoleChangedEvent
    | ChatMessageSentEvent
    | RecordingStartedEvent
)
"""Every known event that belongs to one meeting instance (`.meeting.uuid`)."""

ZoomEvent = MeetingEvent | UrlValidationEvent | UnknownEvent
"""Whatever `parse_event` returns."""

EVENT_MODELS: dict[str, type[MeetingEvent | UrlValidationEvent]] = {
    "meeting.started": MeetingStartedEvent,
    "meeting.ended": MeetingEndedEvent,
    "meeting.participant_joined": ParticipantJoinedEvent,
    "meeting.participant_left": ParticipantLeftEvent,
    "meeting.participant_joined_waiting_room": ParticipantJoinedWaitingRoomEvent,
    "meeting.participant_left_waiting_room": ParticipantLeftWaitingRoomEvent,
    "meeting.participant_admitted": ParticipantAdmittedEvent,
    "meeting.participant_put_in_waiting_room": ParticipantPutInWaitingRoomEvent,
    "meeting.participant_role_changed": ParticipantRoleChangedEvent,
    "meeting.chat_message_sent": ChatMessageSentEvent,
    "recording.started": RecordingStartedEvent,
    "endpoint.url_validation": UrlValidationEvent,
}
"""The model for each event name we understand; any other name is an `UnknownEvent`."""
