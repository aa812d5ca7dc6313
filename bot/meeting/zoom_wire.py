"""Zoom's webhook wire format, written by the simulator: bodies and signing headers.

Pure functions that build the JSON bodies Zoom POSTs (envelope `{"event", "event_ts",
"payload": {"account_id", "object": {...}}}`, `event_ts` in epoch milliseconds) and sign them
with `x-zm-signature` / `x-zm-request-timestamp` through `webhooks.signature.sign`, the same
rule the receiver checks. The shapes follow `shared/zoom-payloads/` (field names from Zoom's
RIVET types): participant events carry `user_id`, `user_name`, `participant_uuid`, `email`
and a time field (`join_time`, `leave_time` or `date_time`), the account user id (`id`,
`participant_user_id`) of someone signed in and the `phone_number` of a caller; chat carries
`payload.object.chat_message`. Times are ISO-8601 UTC with a `Z`, as Zoom sends them.

Nothing here does I/O; `bot.meeting.delivery` sends what this builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from webhooks.signature import sign

__all__ = [
    "CHAT_MESSAGE_SENT",
    "MEETING_ENDED",
    "MEETING_STARTED",
    "PARTICIPANT_ADMITTED",
    "PARTICIPANT_EVENTS",
    "PARTICIPANT_JOINED",
    "PARTICIPANT_JOINED_WAITING_ROOM",
    "PARTICIPANT_LEFT",
    "PARTICIPANT_LEFT_WAITING_ROOM",
    "PARTICIPANT_PUT_IN_WAITING_ROOM",
    "PARTICIPANT_ROLE_CHANGED",
    "RECORDING_STARTED",
    "ChatParty",
    "MeetingIdentity",
    "WireParticipant",
    "Webhook",
    "chat_body",
    "epoch_ms",
    "meeting_body",
    "participant_body",
    "recording_started_body",
    "role_changed_body",
    "signed_headers",
    "zoom_time",
]

MEETING_STARTED = "meeting.started"
MEETING_ENDED = "meeting.ended"
PARTICIPANT_JOINED = "meeting.participant_joined"
PARTICIPANT_LEFT = "meeting.participant_left"
PARTICIPANT_JOINED_WAITING_ROOM = "meeting.participant_joined_waiting_room"
PARTICIPANT_LEFT_WAITING_ROOM = "meeting.participant_left_waiting_room"
PARTICIPANT_ADMITTED = "meeting.participant_admitted"
PARTICIPANT_PUT_IN_WAITING_ROOM = "meeting.participant_put_in_waiting_room"
PARTICIPANT_ROLE_CHANGED = "meeting.participant_role_changed"
CHAT_MESSAGE_SENT = "meeting.chat_message_sent"
RECORDING_STARTED = "recording.started"

#: The participant events and the name of their time field (RIVET `meetings.d.ts`).
PARTICIPANT_EVENTS: dict[str, str] = {
    PARTICIPANT_JOINED: "join_time",
    PARTICIPANT_LEFT: "leave_time",
    PARTICIPANT_JOINED_WAITING_ROOM: "date_time",
    PARTICIPANT_LEFT_WAITING_ROOM: "date_time",
    PARTICIPANT_ADMITTED: "date_time",
    PARTICIPANT_PUT_IN_WAITING_ROOM: "date_time",
}


#: The participant events whose schema carries `phone_number` (RIVET; zoom-reference §1.5).
_PHONE_EVENTS = frozenset(
    {
        PARTICIPANT_JOINED,
        PARTICIPANT_LEFT,
        PARTICIPANT_JOINED_WAITING_ROOM,
        PARTICIPANT_LEFT_WAITING_ROOM,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingIdentity:
    """The meeting instance the webhooks are about (`payload.object` common fields)."""

    meeting_id: str = "85746065432"
    uuid: str = "4118UHIiRCAAAtBlDkcVyw=="
    account_id: str = "lAAAAAAAAAAAAA-bcde12"
    host_id: str = "z8yCxjjyTSiw02QgCfp8uQ"
    topic: str = "Balint group (weekly)"
    meeting_type: int = 8
    timezone: str = "America/Toronto"
    duration: int = 105
    start_time: datetime = field(default_factory=lambda: datetime(2026, 12, 2, 23, 45, tzinfo=UTC))


@dataclass(frozen=True, slots=True, kw_only=True)
class WireParticipant:
    """A participant as Zoom's webhooks describe them.

    `account_id` is the Zoom user id of someone signed in (Zoom's `id` and
    `participant_user_id`; "" for a guest); `phone_number` is set for a telephone caller.
    """

    user_id: str
    user_name: str
    participant_uuid: str
    email: str = ""
    registrant_id: str = ""
    account_id: str = ""
    phone_number: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatParty:
    """Sender or recipient of a chat line (`sender_type`/`recipient_type`: host | guest)."""

    session_id: str
    name: str
    email: str = ""
    party_type: str = "guest"


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    """One signed webhook request as Zoom would POST it.

    Args:
        event: the event name, e.g. `meeting.participant_joined`.
        body: the raw JSON body (what is signed).
        headers: `content-type`, `x-zm-request-timestamp` and `x-zm-signature`.
        event_ts: the body's `event_ts` (epoch ms), for ordering and the timeline.
        name: the participant's or chat sender's display name ("" for meeting events).
    """

    event: str
    body: bytes
    headers: dict[str, str]
    event_ts: int
    name: str = ""

    def json(self) -> dict[str, Any]:
        """The body decoded."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


def zoom_time(at: datetime) -> str:
    """`at` as Zoom writes times: ISO-8601 in UTC, seconds precision, with `Z`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(at: datetime) -> int:
    """`at` as Zoom's `event_ts`: integer epoch milliseconds."""
    return int(round(at.timestamp() * 1000))


def _common(meeting: MeetingIdentity) -> dict[str, Any]:
    return {
        "id": meeting.meeting_id,
        "uuid": meeting.uuid,
        "host_id": meeting.host_id,
        "topic": meeting.topic,
        "type": meeting.meeting_type,
        "start_time": zoom_time(meeting.start_time),
        "timezone": meeting.timezone,
        "duration": meeting.duration,
    }


def _envelope(event: str, at: datetime, meeting: MeetingIdentity, obj: dict[str, Any]) -> bytes:
    body = {
        "event": event,
        "event_ts": epoch_ms(at),
        "payload": {"account_id": meeting.account_id, "object": obj},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def meeting_body(event: str, *, meeting: MeetingIdentity, at: datetime) -> bytes:
    """`meeting.started` or `meeting.ended` (the latter adds `end_time`)."""
    if event not in (MEETING_STARTED, MEETING_ENDED):
        raise ValueError(f"not a meeting event: {event}")
    obj = _common(meeting)
    if event == MEETING_ENDED:
        obj["end_time"] = zoom_time(at)
    return _envelope(event, at, meeting, obj)


def participant_body(
    event: str,
    *,
    meeting: MeetingIdentity,
    participant: WireParticipant,
    at: datetime,
    leave_reason: str = "",
) -> bytes:
    """A participant event; the time field (`join_time`, `leave_time`, `date_time`) per event."""
    time_field = PARTICIPANT_EVENTS[event]
    person: dict[str, Any] = {
        "user_id": participant.user_id,
        "user_name": participant.user_name,
        "id": participant.account_id,
        "participant_uuid": participant.participant_uuid,
        time_field: zoom_time(at),
        "email": participant.email,
        "registrant_id": participant.registrant_id,
        "participant_user_id": participant.account_id,
    }
    if event == PARTICIPANT_ADMITTED:
        del person["participant_user_id"]  # not in Zoom's admitted schema (RIVET)
    if participant.phone_number and event in _PHONE_EVENTS:
        person["phone_number"] = participant.phone_number
    if event == PARTICIPANT_LEFT and leave_reason:
        person["leave_reason"] = leave_reason
    obj = _common(meeting)
    obj["participant"] = person
    return _envelope(event, at, meeting, obj)


def role_changed_body(
    *,
    meeting: MeetingIdentity,
    participant: WireParticipant,
    at: datetime,
    old_role: str,
    new_role: str,
) -> bytes:
    """`meeting.participant_role_changed` (roles: host | co-host | attendee)."""
    obj = _common(meeting)
    obj["participant"] = {
        "user_id": participant.user_id,
        "user_name": participant.user_name,
        "email": participant.email,
        "registrant_id": participant.registrant_id,
        "participant_user_id": participant.account_id,
        "participant_uuid": participant.participant_uuid,
        "date_time": zoom_time(at),
        "old_role": old_role,
        "new_role": new_role,
    }
    return _envelope(PARTICIPANT_ROLE_CHANGED, at, meeting, obj)


def chat_body(
    *,
    meeting: MeetingIdentity,
    sender: ChatParty,
    recipient: ChatParty | None,
    message_id: str,
    text: str,
    at: datetime,
) -> bytes:
    """`meeting.chat_message_sent`; `recipient` None means to everyone.

    The object has only `id` (a number in Zoom's own example), `uuid` and `chat_message`;
    recipient fields appear only for a private line.
    """
    message: dict[str, Any] = {
        "date_time": zoom_time(at),
        "sender_session_id": sender.session_id,
        "sender_name": sender.name,
        "sender_email": sender.email,
        "sender_type": sender.party_type,
    }
    if recipient is None:
        message["recipient_type"] = "everyone"
    else:
        message["recipient_session_id"] = recipient.session_id
        message["recipient_name"] = recipient.name
        message["recipient_email"] = recipient.email
        message["recipient_type"] = recipient.party_type
    message["message_id"] = message_id
    message["message_content"] = text
    meeting_number: int | str = (
        int(meeting.meeting_id) if meeting.meeting_id.isdigit() else meeting.meeting_id
    )
    obj = {"id": meeting_number, "uuid": meeting.uuid, "chat_message": message}
    return _envelope(CHAT_MESSAGE_SENT, at, meeting, obj)


def recording_started_body(*, meeting: MeetingIdentity, at: datetime) -> bytes:
    """`recording.started` (a cloud recording): the meeting's common fields and
    `recording_file.recording_start`. No participant: Zoom does not say who started it."""
    obj = _common(meeting)
    obj["recording_file"] = {"recording_start": zoom_time(at), "recording_end": ""}
    return _envelope(RECORDING_STARTED, at, meeting, obj)


def signed_headers(*, secret: str, body: bytes, at: datetime) -> dict[str, str]:
    """The headers Zoom sends with `body` at `at`: timestamp in epoch seconds, and signature."""
    timestamp = str(int(at.timestamp()))
    return {
        "content-type": "application/json; charset=utf-8",
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": sign(secret, timestamp, body),
    }
