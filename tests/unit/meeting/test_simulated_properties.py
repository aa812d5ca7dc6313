"""Whatever people and the bot do, the simulated meeting stays a consistent Zoom meeting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import MeetingControlError
from bot.meeting.port import REFUSALS, ChatTo
from bot.meeting.simulated import BOT, MeetingOptions, SimulatedMeeting
from phases.events import Event, Joined, Left, ZoomRole
from webhooks.models import EVENT_MODELS
from webhooks.parse import parse_event
from webhooks.signature import signature_matches

PEOPLE = ("Anna", "Ben", "Chloe")
PEOPLE_OPS = ("join", "leave", "unmute", "mute", "video_on", "video_off", "say", "record")
BOT_OPS = (
    "admit",
    "admit_all",
    "hold",
    "mute",
    "stop_video",
    "ask_unmute",
    "ask_start_video",
    "forbid",
    "allow",
    "chat",
    "rename",
)

step = st.one_of(
    st.tuples(st.just("person"), st.sampled_from(PEOPLE_OPS), st.sampled_from(PEOPLE)),
    st.tuples(st.just("bot"), st.sampled_from(BOT_OPS), st.sampled_from(PEOPLE)),
)


async def play(meeting: SimulatedMeeting, kind: str, op: str, name: str) -> None:
    if kind == "person":
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "join": lambda: meeting.person_joins(name, accepts_requests=name != "Ben"),
            "leave": lambda: meeting.person_leaves(name),
            "unmute": lambda: meeting.person_unmutes(name),
            "mute": lambda: meeting.person_mutes(name),
            "video_on": lambda: meeting.person_starts_video(name),
            "video_off": lambda: meeting.person_stops_video(name),
            "say": lambda: meeting.person_says(name, "hello", to=BOT),
            "record": lambda: meeting.person_records(name),
        }
        await calls[op]()
        return
    uid = meeting.user_id_of(name) or "1"
    bot_calls: dict[str, Callable[[], Awaitable[object]]] = {
        "admit": lambda: meeting.admit(uid),
        "admit_all": meeting.admit_all,
        "hold": lambda: meeting.put_in_waiting_room(uid),
        "mute": lambda: meeting.mute(uid),
        "stop_video": lambda: meeting.stop_video(uid),
        "ask_unmute": lambda: meeting.ask_unmute(uid),
        "ask_start_video": lambda: meeting.ask_start_video(uid),
        "forbid": lambda: meeting.allow_self_unmute(False),
        "allow": lambda: meeting.allow_self_unmute(True),
        "chat": lambda: meeting.send_chat("hi", to=ChatTo.PARTICIPANT, user_id=uid),
        "rename": lambda: meeting.rename(uid, name),
    }
    try:
        await bot_calls[op]()
    except MeetingControlError as refusal:
        assert refusal.code in REFUSALS


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(step, max_size=40),
    bot_role=st.sampled_from([ZoomRole.HOST, ZoomRole.CO_HOST, ZoomRole.ATTENDEE]),
)
def test_the_meeting_stays_consistent(steps, bot_role):
    async def main() -> None:
        now = datetime(2026, 12, 3, tzinfo=UTC)
        clock = {"t": now}
        meeting = SimulatedMeeting(
            MeetingOptions(bot_role=bot_role, webhook_secret="k"), clock=lambda: clock["t"]
        )
        events: list[Event] = []

        async def listen(event: Event) -> None:
            events.append(event)

        meeting.set_listener(listen)
        await meeting.start()
        keys: dict[str, str] = {}
        for kind, op, name in steps:
            clock["t"] += timedelta(seconds=30)
            await play(meeting, kind, op, name)
            for person in PEOPLE:
                where = meeting.where_is(person)
                open_stays = [s for s in meeting.presence if s.handle == person and s.end is None]
                expected = {"away": [], "waiting": ["waiting_room"], "meeting": ["meeting"]}[where]
                assert [s.place for s in open_stays] == expected
                if where != "away":
                    keys.setdefault(person, meeting.key_of(person))
                    assert meeting.key_of(person) == keys[person]
            if bot_role is ZoomRole.ATTENDEE:
                assert all(meeting.where_is(p) != "meeting" for p in PEOPLE)
        await meeting.end()
        # Joined/Left on the listener pair up per key (the end reports MeetingEnded instead).
        inside: set[str] = set()
        for event in events:
            if isinstance(event, Joined):
                assert event.participant.key not in inside
                inside.add(event.participant.key)
            elif isinstance(event, Left):
                assert event.participant.key in inside
                inside.remove(event.participant.key)
        # A per-join user id never belongs to two people.
        owner: dict[str, str] = {}
        for event in events:
            if isinstance(event, Joined):
                uid, key = event.participant.user_id, event.participant.key
                assert owner.setdefault(uid, key) == key
        for webhook in meeting.webhooks:
            headers = webhook.headers
            stamp = headers["x-zm-request-timestamp"]
            assert signature_matches(["k"], stamp, webhook.body, headers["x-zm-signature"])
            assert type(parse_event(webhook.body)) is EVENT_MODELS[webhook.event]
        stamps = [w.event_ts for w in meeting.webhooks]
        assert stamps == sorted(stamps)

    asyncio.run(main())
