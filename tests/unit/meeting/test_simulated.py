"""Zoom's rules as `SimulatedMeeting` keeps them: one test per rule (zoom-reference §1, §4)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.errors import MeetingControlError
from bot.meeting import zoom_wire as wire
from bot.meeting.port import ChatTo
from bot.meeting.simulated import BOT, MeetingOptions, SimulatedMeeting
from phases.events import (
    ArrivedInWaitingRoom,
    AudioMuted,
    ChatMessage,
    Event,
    Joined,
    Left,
    LeftWaitingRoom,
    MeetingEnded,
    MeetingStarted,
    ZoomRole,
)
from tests.clock import HandClock

T0 = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


def run(
    body: Callable[[SimulatedMeeting, list[Event], HandClock], Awaitable[Any]], **options: Any
) -> Any:
    async def main() -> Any:
        clock = HandClock(T0)
        meeting = SimulatedMeeting(MeetingOptions(**options), clock=clock)
        events: list[Event] = []

        async def listen(event: Event) -> None:
            events.append(event)

        meeting.set_listener(listen)
        await meeting.start()
        return await body(meeting, events, clock)

    return asyncio.run(main())


def names(meeting: SimulatedMeeting) -> list[str]:
    return [w.event for w in meeting.webhooks]


def test_start_reports_the_meeting_and_the_bot_joining():
    async def body(m, events, clock):
        assert events == [MeetingStarted()]  # the bot's SDK does not report the bot itself
        assert names(m) == [wire.MEETING_STARTED, wire.PARTICIPANT_JOINED]

    run(body)


def test_each_join_gets_a_new_numeric_user_id_and_keeps_the_participant_uuid():
    async def body(m, events, clock):
        first = await m.person_joins("Anna")
        key = m.key_of("Anna")
        await m.person_leaves("Anna")
        second = await m.person_joins("Anna")
        assert first.isdigit() and second.isdigit() and first != second
        arrivals = [e for e in events if isinstance(e, ArrivedInWaitingRoom)]
        assert [a.participant.user_id for a in arrivals] == [first, second]
        assert {a.participant.key for a in arrivals} == {key}
        bodies = [w.json() for w in m.webhooks if w.event == wire.PARTICIPANT_JOINED_WAITING_ROOM]
        uuids = {b["payload"]["object"]["participant"]["participant_uuid"] for b in bodies}
        assert uuids == {key}

    run(body)


def test_attendees_wait_while_hosts_and_co_hosts_bypass_the_waiting_room():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        await m.person_joins("Helen", role=ZoomRole.HOST)
        await m.person_joins("Omar", role=ZoomRole.CO_HOST)
        assert m.where_is("Anna") == "waiting"
        assert m.where_is("Helen") == "meeting" and m.where_is("Omar") == "meeting"

    run(body)


def test_without_a_waiting_room_attendees_join_directly():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        assert m.where_is("Anna") == "meeting"

    run(body, waiting_room=False)


def test_admission_sends_admitted_left_waiting_room_joined_in_that_order():
    async def body(m, events, clock):
        uid = await m.person_joins("Anna")
        clock.now += timedelta(minutes=2)
        before = len(m.webhooks)
        await m.admit(uid)
        sent = m.webhooks[before:]
        assert [w.event for w in sent] == [
            wire.PARTICIPANT_ADMITTED,
            wire.PARTICIPANT_LEFT_WAITING_ROOM,
            wire.PARTICIPANT_JOINED,
        ]
        joined = sent[2].json()["payload"]["object"]["participant"]
        assert joined["join_time"] == "2026-12-03T00:02:00Z"
        # The listener sees one Joined, never LeftWaitingRoom (that means a hang-up).
        assert isinstance(events[-1], Joined)
        assert not any(isinstance(e, LeftWaitingRoom) for e in events)

    run(body)


def test_leaving_from_the_waiting_room_is_reported_as_such():
    async def body(m, events, clock):
        await m.person_joins("Guest")
        await m.person_leaves("Guest")
        assert isinstance(events[-1], LeftWaitingRoom)
        assert names(m)[-1] == wire.PARTICIPANT_LEFT_WAITING_ROOM
        assert m.where_is("Guest") == "away"

    run(body)


def test_an_attendee_bot_is_refused_admission_with_not_privileged():
    async def body(m, events, clock):
        uid = await m.person_joins("Anna")
        try:
            await m.admit(uid)
        except MeetingControlError as refusal:
            assert refusal.code == "not_privileged"
        else:
            raise AssertionError("an attendee admitted someone")
        assert m.where_is("Anna") == "waiting"

    run(body, bot_role=ZoomRole.ATTENDEE)


def test_made_co_host_the_bot_gains_host_powers_and_zoom_reports_the_role_change():
    async def body(m, events, clock):
        uid = await m.person_joins("Anna")
        await m.set_role(BOT, ZoomRole.CO_HOST)
        body_ = m.webhooks[-1].json()["payload"]["object"]["participant"]
        assert (body_["old_role"], body_["new_role"]) == ("attendee", "co-host")
        await m.admit(uid)
        assert m.where_is("Anna") == "meeting"

    run(body, bot_role=ZoomRole.ATTENDEE)


def test_the_host_cannot_be_put_in_the_waiting_room():
    async def body(m, events, clock):
        await m.person_joins("Helen", role=ZoomRole.HOST)
        try:
            await m.put_in_waiting_room(m.user_id_of("Helen"))
        except MeetingControlError as refusal:
            assert refusal.code == "not_allowed"
        else:
            raise AssertionError("the host was held")

    run(body, bot_role=ZoomRole.CO_HOST)


def test_putting_someone_back_sends_put_in_waiting_room_then_left():
    async def body(m, events, clock):
        await m.person_joins("Anna", role=ZoomRole.ATTENDEE)
        await m.host_admits("Anna")
        await m.put_in_waiting_room(m.user_id_of("Anna"))
        assert names(m)[-2:] == [wire.PARTICIPANT_PUT_IN_WAITING_ROOM, wire.PARTICIPANT_LEFT]
        assert [type(e) for e in events[-2:]] == [Left, ArrivedInWaitingRoom]

    run(body)


def test_join_state_follows_the_meeting_settings():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        await m.host_admits("Anna")
        state = m.state_of("Anna")
        assert state is not None and state.audio_muted and not state.video_on

    run(body, mute_on_entry=True, video_on_entry=False)

    async def body2(m, events, clock):
        await m.person_joins("Anna")
        await m.host_admits("Anna")
        state = m.state_of("Anna")
        assert state is not None and not state.audio_muted and state.video_on

    run(body2, mute_on_entry=False, video_on_entry=True)


def test_muted_on_entry_a_person_cannot_unmute_when_self_unmute_is_forbidden():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        await m.host_admits("Anna")
        assert not await m.person_unmutes("Anna")
        await m.allow_self_unmute(True)
        assert await m.person_unmutes("Anna")

    run(body, mute_on_entry=True, allow_self_unmute=False)


def test_someone_who_muted_themself_may_unmute_even_when_self_unmute_is_forbidden():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        await m.host_admits("Anna")
        await m.person_mutes("Anna")
        assert await m.person_unmutes("Anna")

    run(body, mute_on_entry=False, allow_self_unmute=False)


def test_ask_to_unmute_is_recorded_with_the_answer():
    async def body(m, events, clock):
        await m.person_joins("Anna", accepts_requests=False)
        await m.host_admits("Anna")
        await m.ask_unmute(m.user_id_of("Anna"))
        assert [(r.kind, r.handle, r.accepted) for r in m.requests] == [("unmute", "Anna", False)]
        assert not any(isinstance(e, AudioMuted) for e in events)

    run(body)


def test_public_and_private_chat_and_who_sees_what():
    async def body(m, events, clock):
        for name in ("Anna", "Ben"):
            await m.person_joins(name)
            await m.host_admits(name)
        assert await m.person_says("Anna", "hello all")
        assert await m.person_says("Anna", "/status", to=BOT)
        assert await m.person_says("Anna", "just for Ben", to="Ben")
        seen = [(e.text, e.private) for e in events if isinstance(e, ChatMessage)]
        # A private line between two people never reaches the bot's SDK listener...
        assert seen == [("hello all", False), ("/status", True)]
        # ...but Zoom's webhook reports every line, with recipient fields only when private.
        chats = [w.json()["payload"]["object"]["chat_message"] for w in m.webhooks[-3:]]
        assert [c["recipient_type"] for c in chats] == ["everyone", "host", "guest"]
        assert "recipient_name" not in chats[0] and chats[2]["recipient_name"] == "Ben"
        assert chats[1]["sender_session_id"] == m.user_id_of("Anna")

    run(body)


def test_people_in_the_waiting_room_cannot_post_to_the_meeting():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        assert not await m.person_says("Anna", "let me in")
        assert not any(isinstance(e, ChatMessage) for e in events)

    run(body)


def test_the_bots_own_lines_go_out_as_webhooks_but_are_not_echoed_to_it():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        await m.host_admits("Anna")
        before = len(events)
        await m.send_chat("Welcome", to=ChatTo.EVERYONE)
        await m.send_chat("Hello Anna", to=ChatTo.PARTICIPANT, user_id=m.user_id_of("Anna"))
        assert len(events) == before
        assert names(m)[-2:] == [wire.CHAT_MESSAGE_SENT, wire.CHAT_MESSAGE_SENT]
        assert [line.to for line in m.chat_log] == ["everyone", "Anna"]

    run(body)


def test_a_bot_with_rights_forbids_local_recording_and_without_them_sees_none():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        await m.host_admits("Anna")
        before = len(events)
        assert not await m.person_records("Anna")  # the host bot forbade the request
        assert len(events) == before

    run(body)

    async def unprivileged(m, events, clock):
        await m.person_joins("Anna")
        await m.host_admits("Anna")
        before, sent = len(events), len(m.webhooks)
        assert await m.person_records("Anna")  # nobody forbade it, and nobody is told:
        assert (len(events), len(m.webhooks)) == (before, sent)  # no webhook, no callback

    run(unprivileged, bot_role=ZoomRole.ATTENDEE)


def test_a_cloud_recording_sends_only_the_webhook_and_only_a_host_can_start_it():
    async def body(m, events, clock):
        await m.person_joins("Helen", role=ZoomRole.HOST)
        await m.person_joins("Anna")
        await m.host_admits("Anna")
        before = len(events)
        assert not await m.host_starts_cloud_recording("Anna")  # an attendee cannot
        assert not await m.host_starts_cloud_recording("Nobody")
        assert not m.cloud_recording and wire.RECORDING_STARTED not in names(m)
        assert await m.host_starts_cloud_recording("Helen")
        assert await m.host_starts_cloud_recording("Helen")  # already recording: no webhook
        assert m.cloud_recording
        assert names(m).count(wire.RECORDING_STARTED) == 1
        assert len(events) == before  # the SDK callback path hears nothing
        started = m.webhooks[-1].json()
        assert started["payload"]["object"]["uuid"] == m.options.identity.uuid
        assert "participant" not in started["payload"]["object"]
        await m.stop_recording()
        assert not m.cloud_recording
        assert await m.host_starts_cloud_recording("Helen")
        assert names(m).count(wire.RECORDING_STARTED) == 2

    run(body)


def test_ending_the_meeting_removes_everyone():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        await m.host_admits("Anna")
        await m.person_joins("Guest")
        clock.now += timedelta(minutes=90)
        await m.end()
        assert not m.running
        assert m.where_is("Anna") == "away" and m.where_is("Guest") == "away"
        assert isinstance(events[-1], MeetingEnded)
        tail = names(m)[-4:]
        assert tail == [
            wire.PARTICIPANT_LEFT,  # the bot
            wire.PARTICIPANT_LEFT,  # Anna
            wire.PARTICIPANT_LEFT_WAITING_ROOM,  # Guest
            wire.MEETING_ENDED,
        ]
        left = m.webhooks[-3].json()["payload"]["object"]["participant"]
        assert left["leave_reason"].endswith("Reason: Host ended the meeting.")
        assert all(stay.end is not None for stay in m.presence)
        last = {stay.handle: stay for stay in m.presence}
        assert last["Anna"].end == clock.now and last["Guest"].end == clock.now
        assert await m.person_joins("Anna") == ""  # the meeting is over

    run(body)


def test_people_who_come_before_the_room_opens_wait_for_the_host():
    async def main() -> None:
        meeting = SimulatedMeeting(MeetingOptions())
        assert await meeting.person_joins("Anna") == ""
        assert meeting.webhooks == []
        await meeting.start()
        assert meeting.where_is("Anna") == "waiting"

    asyncio.run(main())


def test_presence_log_separates_waiting_room_and_meeting_time():
    async def body(m, events, clock):
        await m.person_joins("Anna")
        clock.now += timedelta(minutes=5)
        await m.host_admits("Anna")
        clock.now += timedelta(minutes=30)
        await m.person_leaves("Anna")
        stays = [(s.place, s.start, s.end) for s in m.presence if s.handle == "Anna"]
        assert stays == [
            ("waiting_room", T0, T0 + timedelta(minutes=5)),
            ("meeting", T0 + timedelta(minutes=5), T0 + timedelta(minutes=35)),
        ]

    run(body)
