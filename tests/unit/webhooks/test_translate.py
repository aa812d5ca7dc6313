"""Webhooks to engine events and presence facts, from the recorded payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Joined,
    Left,
    LeftWaitingRoom,
    MeetingEnded,
    MeetingStarted,
    Participant,
    RecordingStarted,
    RoleChanged,
    ZoomRole,
)
from storage.attendance import PresenceEvent
from tests.zoom_fixtures import all_bodies, load_event
from webhooks.parse import parse_document
from webhooks.translate import dialed_in, to_engine_events, to_presence, zoom_role

KELLER = Participant(
    key="55555AAAiAAAAAiAiAiiAii",
    user_id="16778240",
    name="Dr. Anna Keller",
    email="anna.keller@example.org",
    signed_in=True,  # Zoom gives her account user id
)
WEBER = Participant(key="88888CCCiCCCCCiCiCiiCii", user_id="16780288", name="Jonas Weber")


def test_meeting_started_and_ended() -> None:
    assert to_engine_events(load_event("meeting.started")) == [MeetingStarted()]
    assert to_engine_events(load_event("meeting.ended")) == [MeetingEnded()]
    assert to_presence(load_event("meeting.started")) == PresenceEvent(
        kind="meeting_started", at=datetime(2026, 3, 4, 16, 58, 41, tzinfo=UTC)
    )
    assert to_presence(load_event("meeting.ended")) == PresenceEvent(
        kind="meeting_ended", at=datetime(2026, 3, 4, 18, 32, 7, tzinfo=UTC)
    )


def test_joined_and_left_use_participant_uuid_as_key() -> None:
    assert to_engine_events(load_event("meeting.participant_joined", 0)) == [
        Joined(participant=KELLER, role=ZoomRole.ATTENDEE)
    ]
    assert to_engine_events(load_event("meeting.participant_left", 0)) == [Left(participant=KELLER)]
    assert to_presence(load_event("meeting.participant_joined", 0)) == PresenceEvent(
        kind="joined",
        at=datetime(2026, 3, 4, 17, 3, 9, tzinfo=UTC),
        participant_key=KELLER.key,
        user_id=KELLER.user_id,
        name=KELLER.name,
        email=KELLER.email,
        modality="video",
    )


def _phone_join(phone_number: str) -> Any:
    return parse_document(
        {
            "event": "meeting.participant_joined",
            "event_ts": 1,
            "payload": {
                "object": {
                    "uuid": "u",
                    "participant": {
                        "user_id": "9",
                        "user_name": "Caller 1",
                        "join_time": "2026-03-04T17:03:09Z",
                        "phone_number": phone_number,
                    },
                }
            },
        }
    )


@pytest.mark.parametrize(
    ("phone_number", "modality"),
    [("+1416555xxxx", "telephone"), ("", "video"), ("  ", "video")],
)
def test_a_dial_in_is_recorded_as_telephone(phone_number: str, modality: str) -> None:
    join = _phone_join(phone_number)
    presence = to_presence(join)
    assert presence is not None and presence.modality == modality
    assert dialed_in(join.participant) is (modality == "telephone")  # the one phone test
    # ... which is also what the identity rule and attendance read: a caller is never
    # identified by name (`phases.identity`), and billing's K301A follows the modality
    caller = dialed_in(join.participant)
    [event] = [e for e in to_engine_events(join) if hasattr(e, "participant")]
    assert event.participant.phone is caller  # type: ignore[attr-defined]
    assert presence.phone is caller
    assert "416" not in repr(presence)  # the number itself is not kept


def test_only_a_join_says_how_someone_came_in() -> None:
    left = to_presence(load_event("meeting.participant_left", 0))
    assert left is not None and left.modality == ""


def test_registrant_id_is_carried() -> None:
    [joined] = to_engine_events(load_event("meeting.participant_joined", 2))
    assert isinstance(joined, Joined)
    assert joined.participant.registrant_id == "abcdefghij0-klmnopq23456"


def _joined_by(account_id: str) -> Any:
    return parse_document(
        {
            "event": "meeting.participant_joined",
            "event_ts": 1,
            "payload": {
                "object": {
                    "uuid": "u",
                    "host_id": "HOST22",
                    "participant": {"user_id": "9", "user_name": "H", "id": account_id},
                }
            },
        }
    )


def _participant(**fields: str) -> Any:
    person = {"user_id": "9", "user_name": "Anna", "participant_uuid": "pu-9", **fields}
    return parse_document(
        {
            "event": "meeting.participant_joined",
            "event_ts": 1,
            "payload": {"object": {"uuid": "u", "participant": person}},
        }
    )


@pytest.mark.parametrize(
    ("fields", "signed_in", "phone"),
    [
        ({}, False, False),
        ({"participant_user_id": "s0AAAASoSE1V8KIFOCYw"}, True, False),
        ({"id": "iFxeBPYun6SAiWUzBcEkX"}, True, False),  # the older field alone
        ({"phone_number": "+14165550142"}, False, True),
        ({"phone_number": " "}, False, False),
    ],
)
def test_signed_in_and_phone_callers_are_told_apart(fields, signed_in, phone) -> None:
    [joined] = to_engine_events(_participant(**fields))
    assert isinstance(joined, Joined)
    assert (joined.participant.signed_in, joined.participant.phone) == (signed_in, phone)
    presence = to_presence(_participant(**fields))
    assert presence is not None and presence.phone is phone


def test_only_a_vouched_email_is_recorded_for_attendance() -> None:
    guest = to_presence(_participant(email="anna@example.org"))
    member = to_presence(_participant(email="anna@example.org", participant_user_id="acct"))
    assert guest is not None and guest.email == ""
    assert member is not None and member.email == "anna@example.org"
    # The engine still hears the e-mail, with `signed_in` saying what it is worth.
    [joined] = to_engine_events(_participant(email="anna@example.org"))
    assert isinstance(joined, Joined)
    assert joined.participant.email == "anna@example.org" and not joined.participant.signed_in


def test_the_meetings_host_joins_as_host() -> None:
    [host] = to_engine_events(_joined_by("HOST22"))
    [guest] = to_engine_events(_joined_by(""))
    assert isinstance(host, Joined) and host.role is ZoomRole.HOST
    assert isinstance(guest, Joined) and guest.role is ZoomRole.ATTENDEE


def test_waiting_room_events() -> None:
    assert to_engine_events(load_event("meeting.participant_joined_waiting_room", 0)) == [
        ArrivedInWaitingRoom(participant=WEBER)
    ]
    assert to_engine_events(load_event("meeting.participant_put_in_waiting_room", 0)) == [
        ArrivedInWaitingRoom(participant=WEBER)
    ]
    assert to_engine_events(load_event("meeting.participant_left_waiting_room", 0)) == [
        LeftWaitingRoom(participant=WEBER)
    ]
    assert to_engine_events(load_event("meeting.participant_admitted", 0)) == []
    kinds = {
        name: to_presence(load_event(name, 0))
        for name in (
            "meeting.participant_joined_waiting_room",
            "meeting.participant_put_in_waiting_room",
            "meeting.participant_left_waiting_room",
            "meeting.participant_admitted",
        )
    }
    assert {name: p.kind for name, p in kinds.items() if p is not None} == {
        "meeting.participant_joined_waiting_room": "waiting_joined",
        "meeting.participant_put_in_waiting_room": "waiting_joined",
        "meeting.participant_left_waiting_room": "waiting_left",
        "meeting.participant_admitted": "waiting_left",
    }
    # Admission and leaving the waiting room are the same fact for attendance.
    assert kinds["meeting.participant_admitted"] == kinds["meeting.participant_left_waiting_room"]


def test_role_changes() -> None:
    [changed] = to_engine_events(load_event("meeting.participant_role_changed", 0))
    assert isinstance(changed, RoleChanged)
    assert changed.role is ZoomRole.CO_HOST
    assert changed.participant.key == "BBBBBFFFiFFFFFiFiFiiFii"
    assert to_presence(load_event("meeting.participant_role_changed", 0)) is None
    assert [zoom_role(v) for v in ("host", "Co-Host", "cohost", "attendee", "panelist")] == [
        ZoomRole.HOST,
        ZoomRole.CO_HOST,
        ZoomRole.CO_HOST,
        ZoomRole.ATTENDEE,
        None,
    ]


def test_chat_messages() -> None:
    public = to_engine_events(load_event("meeting.chat_message_sent", 0))
    private = to_engine_events(load_event("meeting.chat_message_sent", 1))
    sender = Participant(
        key="16777216",
        user_id="16777216",
        name="Dr. Petra Lang (facilitator)",
        email="petra.lang@example.org",
    )
    assert public == [
        ChatMessage(
            sender=sender,
            text="/next",
            private=False,
            message_id="MS17MDQ5NjE4QjYtRjk4Ny00REEwLUFBQUItMTg3QTY0RjU2MzhFfQ==",
        )
    ]
    assert len(private) == 1 and isinstance(private[0], ChatMessage) and private[0].private
    assert to_presence(load_event("meeting.chat_message_sent", 0)) is None


def test_private_chat_to_someone_else_is_dropped_when_the_bot_name_is_known() -> None:
    to_bot = load_event("meeting.chat_message_sent", 1)  # recipient "Balint Companion"
    assert len(to_engine_events(to_bot, bot_name="balint  companion")) == 1
    assert to_engine_events(to_bot, bot_name="Other Bot") == []
    public = load_event("meeting.chat_message_sent", 0)
    assert len(to_engine_events(public, bot_name="Other Bot")) == 1


@pytest.mark.parametrize(("event_name", "index"), all_bodies())
def test_every_recorded_event_translates(event_name: str, index: int) -> None:
    event = load_event(event_name, index)
    events = to_engine_events(event)
    presence = to_presence(event)
    assert len(events) <= 1
    if presence is not None:
        assert presence.at.tzinfo is not None


def test_unknown_and_validation_events_translate_to_nothing() -> None:
    unknown = parse_document({"event": "meeting.sharing_started", "event_ts": 1, "payload": {}})
    assert to_engine_events(unknown) == [] and to_presence(unknown) is None
    validation = load_event("endpoint.url_validation")
    assert to_engine_events(validation) == [] and to_presence(validation) is None


def test_a_cloud_recording_start_names_no_one_and_is_no_presence() -> None:
    for index in (0, 1):
        event = load_event("recording.started", index)
        assert to_engine_events(event) == [RecordingStarted(participant=None)]
        assert to_presence(event) is None
