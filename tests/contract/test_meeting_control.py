"""The `MeetingControl` contract: what every implementation must do, refusals included.

Each test runs on every harness in `tests/contract/harnesses.py::HARNESS_FACTORIES`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.errors import MeetingControlError
from bot.meeting.port import REFUSALS, ChatTo, ParticipantInfo
from phases.events import (
    AudioMuted,
    AudioUnmuted,
    ChatMessage,
    Joined,
    Left,
    VideoOff,
    VideoOn,
    ZoomRole,
)
from tests.contract.harnesses import HarnessFactory, MeetingHarness


def run(
    make: HarnessFactory,
    body: Callable[[MeetingHarness], Awaitable[Any]],
    *,
    bot_role: ZoomRole = ZoomRole.HOST,
) -> Any:
    async def main() -> Any:
        harness = await make(bot_role=bot_role)
        return await body(harness)

    return asyncio.run(main())


def present(h: MeetingHarness, name: str) -> ParticipantInfo:
    """`name` as the meeting shows them; fails the test when they are absent."""
    info = h.state(name)
    assert info is not None, f"{name} is not in the meeting"
    return info


async def refused(call: Awaitable[object]) -> str:
    """The refusal code of `call`, failing the test if it succeeded."""
    try:
        await call
    except MeetingControlError as refusal:
        assert refusal.code in REFUSALS
        return refusal.code
    raise AssertionError("the call succeeded where Zoom refuses")


def test_admit_moves_a_waiting_person_into_the_meeting(make_harness):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive("Anna")
        assert [p.name for p in await h.control.list_waiting_room()] == ["Anna"]
        await h.control.admit(uid)
        assert await h.control.list_waiting_room() == []
        assert "Anna" in [p.name for p in await h.control.list_participants()]
        joined = [e for e in h.events if isinstance(e, Joined)]
        assert [e.participant.name for e in joined] == ["Anna"]

    run(make_harness, body)


def test_admit_refuses_someone_not_waiting_and_unknown_ids(make_harness):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive_in_meeting("Ben")
        assert await refused(h.control.admit(uid)) == "not_in_waiting_room"
        assert await refused(h.control.admit("999")) == "no_such_participant"

    run(make_harness, body)


def test_admit_all_admits_everyone_waiting(make_harness):
    async def body(h: MeetingHarness) -> None:
        await h.arrive("Anna")
        await h.arrive("Ben")
        await h.control.admit_all()
        assert await h.control.list_waiting_room() == []
        names = {p.name for p in await h.control.list_participants()}
        assert {"Anna", "Ben"} <= names

    run(make_harness, body)


@pytest.mark.parametrize(
    "call",
    [
        lambda c, uid: c.admit(uid),
        lambda c, uid: c.admit_all(),
        lambda c, uid: c.put_in_waiting_room(uid),
        lambda c, uid: c.rename(uid, "A"),
        lambda c, uid: c.mute(uid),
        lambda c, uid: c.stop_video(uid),
        lambda c, uid: c.ask_unmute(uid),
        lambda c, uid: c.ask_start_video(uid),
        lambda c, uid: c.allow_self_unmute(False),
        lambda c, uid: c.allow_self_video(False),
        lambda c, uid: c.stop_recording(),
        lambda c, uid: c.send_chat("hello", to=ChatTo.WAITING_ROOM),
        lambda c, uid: c.list_waiting_room(),
    ],
    ids=[
        "admit",
        "admit_all",
        "put_in_waiting_room",
        "rename",
        "mute",
        "stop_video",
        "ask_unmute",
        "ask_start_video",
        "allow_self_unmute",
        "allow_self_video",
        "stop_recording",
        "chat_waiting_room",
        "list_waiting_room",
    ],
)
def test_an_attendee_bot_is_refused_host_powers(make_harness, call):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive_in_meeting("Anna")
        assert await refused(call(h.control, uid)) == "not_privileged"

    run(make_harness, body, bot_role=ZoomRole.ATTENDEE)


def test_an_attendee_bot_may_still_chat_and_list_participants(make_harness):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive_in_meeting("Anna")
        await h.control.send_chat("hello all", to=ChatTo.EVERYONE)
        await h.control.send_chat("hello Anna", to=ChatTo.PARTICIPANT, user_id=uid)
        assert "Anna" in [p.name for p in await h.control.list_participants()]

    run(make_harness, body, bot_role=ZoomRole.ATTENDEE)


def test_a_co_host_bot_has_host_powers(make_harness):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive("Anna")
        await h.control.admit(uid)
        await h.control.mute(uid)
        assert present(h, "Anna").audio_muted

    run(make_harness, body, bot_role=ZoomRole.CO_HOST)


def test_mute_is_immediate_and_unmute_is_only_a_request(make_harness):
    async def body(h: MeetingHarness) -> None:
        yes = await h.arrive_in_meeting("Anna", accepts_requests=True)
        no = await h.arrive_in_meeting("Ben", accepts_requests=False)
        assert await h.self_unmute("Anna") and await h.self_unmute("Ben")
        await h.control.mute(yes)
        await h.control.mute(no)
        assert present(h, "Anna").audio_muted and present(h, "Ben").audio_muted
        muted = [e.participant.name for e in h.events if isinstance(e, AudioMuted)]
        assert muted == ["Anna", "Ben"]
        await h.control.ask_unmute(yes)
        await h.control.ask_unmute(no)
        assert not present(h, "Anna").audio_muted
        assert present(h, "Ben").audio_muted  # ignored the request: still muted
        assert [e.participant.name for e in h.events if isinstance(e, AudioUnmuted)][-1] == "Anna"

    run(make_harness, body)


def test_stop_video_is_immediate_and_start_video_is_only_a_request(make_harness):
    async def body(h: MeetingHarness) -> None:
        yes = await h.arrive_in_meeting("Anna", accepts_requests=True)
        no = await h.arrive_in_meeting("Ben", accepts_requests=False)
        await h.control.stop_video(yes)
        await h.control.stop_video(no)
        assert not present(h, "Anna").video_on and not present(h, "Ben").video_on
        assert [e.participant.name for e in h.events if isinstance(e, VideoOff)] == ["Anna", "Ben"]
        await h.control.ask_start_video(yes)
        await h.control.ask_start_video(no)
        assert present(h, "Anna").video_on
        assert not present(h, "Ben").video_on
        assert [e.participant.name for e in h.events if isinstance(e, VideoOn)] == ["Anna"]

    run(make_harness, body)


def test_self_unmute_works_unless_forbidden(make_harness):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive_in_meeting("Anna")
        await h.control.mute(uid)
        await h.control.allow_self_unmute(False)
        assert not await h.self_unmute("Anna")
        assert present(h, "Anna").audio_muted
        await h.control.allow_self_unmute(True)
        assert await h.self_unmute("Anna")
        assert not present(h, "Anna").audio_muted

    run(make_harness, body)


def test_self_video_works_unless_forbidden(make_harness):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive_in_meeting("Anna")
        await h.control.stop_video(uid)
        await h.control.allow_self_video(False)
        assert not await h.self_start_video("Anna")
        assert not present(h, "Anna").video_on
        await h.control.allow_self_video(True)
        assert await h.self_start_video("Anna")
        assert present(h, "Anna").video_on

    run(make_harness, body)


def test_put_in_waiting_room_holds_and_refuses_the_bot_itself(make_harness):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive_in_meeting("Anna")
        await h.control.put_in_waiting_room(uid)
        assert [p.name for p in await h.control.list_waiting_room()] == ["Anna"]
        assert isinstance([e for e in h.events if isinstance(e, Left)][-1], Left)
        bot = next(p for p in await h.control.list_participants() if p.is_bot)
        assert await refused(h.control.put_in_waiting_room(bot.user_id)) == "not_allowed"
        assert await refused(h.control.put_in_waiting_room(uid)) == "not_in_meeting"

    run(make_harness, body)


def test_rename_only_in_the_waiting_room(make_harness):
    async def body(h: MeetingHarness) -> None:
        waiting = await h.arrive("Anna Maria Lopez")
        await h.control.rename(waiting, "Anna")
        assert [p.name for p in await h.control.list_waiting_room()] == ["Anna"]
        inside = await h.arrive_in_meeting("Ben")
        assert await refused(h.control.rename(inside, "B")) == "not_in_waiting_room"

    run(make_harness, body)


def test_media_actions_need_the_person_in_the_meeting(make_harness):
    async def body(h: MeetingHarness) -> None:
        waiting = await h.arrive("Anna")
        for call in (h.control.mute, h.control.stop_video, h.control.ask_unmute):
            assert await refused(call(waiting)) == "not_in_meeting"
        assert await refused(h.control.mute("424242")) == "no_such_participant"

    run(make_harness, body)


def test_a_rejoin_gets_a_new_user_id_and_keeps_the_key(make_harness):
    async def body(h: MeetingHarness) -> None:
        first = await h.arrive_in_meeting("Anna")
        key = present(h, "Anna").key
        await h.leave("Anna")
        assert h.state("Anna") is None
        second = await h.arrive_in_meeting("Anna")
        assert second != first
        assert present(h, "Anna").key == key
        assert await refused(h.control.mute(first)) == "no_such_participant"
        await h.control.mute(second)

    run(make_harness, body)


def test_private_chat_to_someone_absent_is_refused(make_harness):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive_in_meeting("Anna")
        await h.control.send_chat("hello", to=ChatTo.PARTICIPANT, user_id=uid)
        await h.leave("Anna")
        code = await refused(h.control.send_chat("hi", to=ChatTo.PARTICIPANT, user_id=uid))
        assert code == "no_such_participant"
        await h.control.send_chat("to the waiting room", to=ChatTo.WAITING_ROOM)

    run(make_harness, body)


def test_chat_from_people_reaches_the_listener(make_harness):
    async def body(h: MeetingHarness) -> None:
        await h.arrive_in_meeting("Anna")
        await h.say("Anna", "/case Anna", to_bot=True)
        await h.say("Anna", "hello all")
        lines = [e for e in h.events if isinstance(e, ChatMessage)]
        assert [(e.text, e.private) for e in lines] == [("/case Anna", True), ("hello all", False)]
        assert lines[0].message_id and lines[0].message_id != lines[1].message_id

    run(make_harness, body)


def test_the_bot_is_listed_as_a_participant(make_harness):
    async def body(h: MeetingHarness) -> None:
        people = await h.control.list_participants()
        bots = [p for p in people if p.is_bot]
        assert len(bots) == 1 and not bots[0].in_waiting_room

    run(make_harness, body)


def test_nothing_works_after_the_meeting_ended(make_harness):
    async def body(h: MeetingHarness) -> None:
        uid = await h.arrive_in_meeting("Anna")
        await h.end()
        assert h.state("Anna") is None
        assert await refused(h.control.mute(uid)) == "meeting_not_running"
        assert await refused(h.control.send_chat("x", to=ChatTo.EVERYONE)) == "meeting_not_running"
        assert await refused(h.control.list_participants()) == "meeting_not_running"

    run(make_harness, body)


def test_resolve_finds_someone_by_another_id_or_name_and_never_takes_a_stranger(make_harness):
    from bot.meeting.port import Addressee

    async def body(h: MeetingHarness) -> None:
        anna = await h.arrive_in_meeting("Anna")
        ben = await h.arrive("Ben")  # the waiting room counts too
        key = present(h, "Anna").key
        assert await h.control.resolve(Addressee(user_id=anna)) == anna
        # an id from another source: found by the stable id, then by the name
        assert await h.control.resolve(Addressee(user_id="424242", keys=(key,))) == anna
        assert await h.control.resolve(Addressee(user_id="424242", name="anna")) == anna
        assert await h.control.resolve(Addressee(user_id="424242", name="Ben")) == ben
        # Ben's id with Anna's other ids and name: it is Anna who is meant, not Ben
        assert await h.control.resolve(Addressee(user_id=ben, keys=(key,), name="Anna")) == anna
        assert (
            await refused(h.control.resolve(Addressee(user_id="424242", name="Zed")))
            == "no_such_participant"
        )

    run(make_harness, body)
