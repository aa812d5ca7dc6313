"""`SdkMeeting` over the bindings double: join, watchdogs, events, rights and refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from datetime import UTC, datetime

import httpx
import pytest
import respx

from bot.config import Settings, ZoomSettings
from bot.errors import MeetingControlError
from bot.meeting.executor import execute
from bot.meeting.port import ChatTo
from bot.meeting.sdk import SdkJoinError, SdkOptions, unprivileged_notice
from bot.meeting.sdk_codes import AUTH_MESSAGES
from bot.meeting.sdk_jwt import make_sdk_jwt
from bot.zoom_api import RetryPolicy, ZoomClient
from phases.actions import Mute, Target
from phases.events import (
    ArrivedInWaitingRoom,
    AudioMuted,
    AudioUnmuted,
    ChatMessage,
    Joined,
    Left,
    LeftWaitingRoom,
    MeetingEnded,
    MeetingStarted,
    VideoOff,
    ZoomRole,
)
from tests.clock import HandClock
from tests.unit.meeting.sdk_harness import SdkHarness, build, make_sdk_harness, ticket
from tests.unit.meeting.zoom_sdk_double import SDKError, UserRole, _Person
from tests.unit.zoom_api.recorded import API, OAUTH, RecordingSleep, recorded

pytestmark = pytest.mark.anyio

FAST = SdkOptions(
    poll_interval=3600.0,
    connect_timeout=0.2,
    host_wait_timeout=0.2,
    waiting_room_timeout=0.2,
    auth_timeout=2.0,
    leave_timeout=1.0,
)


@pytest.fixture
async def host():
    harness = await make_sdk_harness(bot_role=ZoomRole.HOST)
    yield harness
    await harness.aclose()
    assert harness.world.violations == []
    assert harness.world.crashes == []


@pytest.fixture
async def attendee():
    harness = await make_sdk_harness(bot_role=ZoomRole.ATTENDEE)
    yield harness
    await harness.aclose()
    assert harness.world.violations == []
    assert harness.world.crashes == []


def kinds(harness: SdkHarness) -> list[str]:
    return [type(event).__name__ for event in harness.events]


class TestJoin:
    async def test_joins_with_zak_and_audio_video_off(self):
        meeting, world, sdk = build()
        events = []

        async def record(event):
            events.append(event)

        meeting.set_listener(record)
        await meeting.join(ticket(world))
        await meeting.settle()
        params = world.joined_with
        assert params is not None
        assert (params.userZAK, params.psw, params.isAudioOff, params.isVideoOff) == (
            "fixture-zak",
            "cP3fb7",
            True,
            True,
        )
        assert events == [MeetingStarted()]  # the bot's own join is not an event
        assert world.allow_local_recording_requests is False  # forbidden once it has rights
        await meeting.leave()
        assert not any(isinstance(e, MeetingEnded) for e in events)  # it left; no end
        assert sdk.destroyed == ["meeting", "setting", "auth", "sdk"]
        assert world.violations == []
        assert meeting.closed.is_set()

    async def test_refused_jwt(self):
        meeting, world, sdk = build(options=FAST)
        forged = make_sdk_jwt(
            sdk_key=world.sdk_key,
            sdk_secret="another-secret-for-tests-0123456789abcdef",
            now=datetime.now(UTC),
        )
        with pytest.raises(SdkJoinError) as caught:
            await meeting.join(ticket(world, jwt=forged))
        assert caught.value.code == "auth_failed"
        assert "JWT" in caught.value.message
        assert "sdk" in sdk.destroyed

    async def test_wrong_passcode_hangs_then_times_out(self):
        meeting, world, _ = build(options=FAST)
        with pytest.raises(SdkJoinError) as caught:
            await meeting.join(ticket(world, passcode="wrong"))
        assert caught.value.code == "stuck_connecting"
        assert "passcode" in caught.value.message

    async def test_host_absent(self):
        meeting, world, _ = build(options=FAST, join_outcome="host_absent")
        with pytest.raises(SdkJoinError) as caught:
            await meeting.join(ticket(world))
        assert caught.value.code == "host_absent"
        assert "alternative host" in caught.value.message

    async def test_waiting_for_the_host_is_said_at_once_and_told_privately_when_in(self, caplog):
        meeting, world, _ = build(
            options=SdkOptions(poll_interval=3600.0, host_wait_timeout=30.0),
            join_outcome="host_absent",
        )
        joining = asyncio.create_task(meeting.join(ticket(world)))
        for _ in range(200):
            if "waiting for the host" in caplog.text:
                break
            await asyncio.sleep(0.01)
        assert "could not open the room" in caplog.text  # at once, not after the timeout
        assert not joining.done()

        def the_host_opens_the_room() -> None:
            world.people["Fran"] = _Person(  # a facilitator, the human host
                uid=16000000, name="Fran", pid="pid-Fran", role=UserRole.USERROLE_HOST
            )
            world.people["Fran"].where = "meeting"
            assert world.joined_with is not None
            world._bot_enters(world.joined_with)

        await meeting._thread.call(the_host_opens_the_room)
        await asyncio.wait_for(joining, 5)
        await meeting.settle()
        told = [line for line in world.chat_log if line.to == "Fran"]
        assert len(told) == 1 and "could not open the room" in told[0].text
        assert "alternative host" in told[0].text
        await meeting.leave()

    async def test_no_answer_from_zoom_says_to_check_the_network_first(self):
        assert AUTH_MESSAGES["AUTHRET_UNKNOWN"] == (
            "no answer from Zoom: check the network and firewall first"
        )

    async def test_held_in_waiting_room(self):
        meeting, world, _ = build(options=FAST, join_outcome="held")
        with pytest.raises(SdkJoinError, match="held_in_waiting_room"):
            await meeting.join(ticket(world))

    @pytest.mark.parametrize(
        ("code", "words"),
        [
            (63, "another account"),
            (504, "ZAK"),
            (501, "absent"),
            (23, "signed-in"),
            (65535, "unknown"),
            (9999, "undocumented"),
        ],
    )
    async def test_fail_codes_have_clear_messages(self, code, words):
        meeting, world, _ = build(options=FAST, join_outcome=f"fail:{code}")
        with pytest.raises(SdkJoinError) as caught:
            await meeting.join(ticket(world))
        assert caught.value.code == "join_failed"
        assert words in caught.value.message

    async def test_unknown_meeting_number(self):
        meeting, world, _ = build(options=FAST)
        with pytest.raises(SdkJoinError, match="MEETING_NOT_EXIST"):
            await meeting.join(ticket(world, meeting_number=1))


class TestEvents:
    async def test_waiting_room_arrival_admission_and_departure(self, host):
        ann = await host.arrive("Ann")
        assert kinds(host) == ["ArrivedInWaitingRoom"]
        assert host.events[0].participant.user_id == ann
        await host.control.admit(ann)
        await host.meeting.settle()
        assert kinds(host) == ["ArrivedInWaitingRoom", "Joined"]
        assert host.state("Ann").in_waiting_room is False
        bob = await host.arrive("Bob")
        await host.leave("Bob")
        assert isinstance(host.events[-1], LeftWaitingRoom)
        assert host.events[-1].participant.user_id == bob
        await host.leave("Ann")
        assert isinstance(host.events[-1], Left)

    async def test_a_phone_caller_is_told_by_is_pure_phone_user_and_nothing_more(self, host):
        await host._people(
            lambda: host.world.person_joins(
                "caller",
                shown="416****142",
                phone_number="+14165550142",
                email="ben@example.org",
                registrant_id="reg-ben",
                signed_in=True,
            )
        )
        [arrived] = host.events
        assert isinstance(arrived, ArrivedInWaitingRoom)
        who = arrived.participant
        assert (who.name, who.phone) == ("416****142", True)
        # the bindings have no e-mail, registrant id or signed-in flag: only webhooks do
        assert (who.email, who.registrant_id, who.signed_in) == ("", "", False)

    async def test_a_name_with_control_characters_arrives_without_them(self, host):
        await host._people(
            lambda: host.world.person_joins("mallory", shown="\x1b]0;pwned\x07Ann\nBob")
        )
        [arrived] = host.events
        assert arrived.participant.name == "\ufffd]0;pwned\ufffdAnn\ufffdBob"

    async def test_admission_seen_only_by_polling_still_joins_once(self, host):
        ann = await host.arrive("Ann")
        await host.meeting._thread.call(lambda: host.world.host_admits("Ann"))
        await host.meeting.poll_now()
        await host.meeting.settle()
        joined = [e for e in host.events if isinstance(e, Joined)]
        assert [e.participant.user_id for e in joined] == [ann]

    async def test_mute_is_immediate_unmute_is_a_request(self, host):
        ann = await host.arrive_in_meeting("Ann", accepts_requests=False)
        assert await host.self_unmute("Ann")
        assert isinstance(host.events[-1], AudioUnmuted)
        await host.control.allow_self_unmute(False)
        await host.control.mute(ann)
        await host.meeting.settle()
        assert isinstance(host.events[-1], AudioMuted)
        assert host.state("Ann").audio_muted
        assert not await host.self_unmute("Ann")
        await host.control.ask_unmute(ann)  # Ann ignores requests
        assert host.state("Ann").audio_muted

    async def test_stopped_video_found_by_polling(self, host):
        ann = await host.arrive_in_meeting("Ann")
        await host.control.allow_self_video(False)
        await host.control.stop_video(ann)
        await host.meeting.poll_now()
        await host.meeting.settle()
        assert isinstance(host.events[-1], VideoOff)
        assert not await host.self_start_video("Ann")
        await host.control.ask_start_video(ann)
        await host.meeting.poll_now()
        await host.meeting.settle()
        assert type(host.events[-1]).__name__ == "VideoOn"

    async def test_chat_public_private_and_no_echo(self, host):
        ann = await host.arrive_in_meeting("Ann")
        await host.say("Ann", "/case Ann")
        await host.say("Ann", "hello bot", to_bot=True)
        chats = [e for e in host.events if isinstance(e, ChatMessage)]
        assert [(c.text, c.private) for c in chats] == [("/case Ann", False), ("hello bot", True)]
        assert chats[0].sender.user_id == ann
        assert chats[0].message_id != chats[1].message_id
        await host.control.send_chat("Welcome", to=ChatTo.EVERYONE)
        await host.control.send_chat("Just you", to=ChatTo.PARTICIPANT, user_id=ann)
        await host.control.send_chat("Soon", to=ChatTo.WAITING_ROOM)
        await host.meeting.settle()
        assert [(line.to, line.text) for line in host.world.chat_log[-3:]] == [
            ("everyone", "Welcome"),
            ("Ann", "Just you"),
            ("waiting_room", "Soon"),
        ]
        assert len([e for e in host.events if isinstance(e, ChatMessage)]) == 2

    async def test_id_not_resolvable_yet_is_retried(self, host):
        host.world.unresolvable_once.add("Ann")
        ann = await host.arrive_in_meeting("Ann")
        joined = [e for e in host.events if isinstance(e, Joined)]
        assert [e.participant.user_id for e in joined] == [ann]

    async def test_bad_callback_input_never_reaches_the_sdk(self, host):
        def garbage() -> None:
            host.world.fire("participants", "onUserJoinCallback", ["not-a-number"], "")
            host.world.fire("audio", "onUserAudioStatusChangeCallback", [object()], "")
            host.world.fire("chat", "onChatMsgNotificationCallback", None, "")

        await host.meeting._thread.call(garbage)
        assert host.world.crashes == []

    async def test_listener_errors_do_not_stop_events(self, host):
        seen = []

        async def flaky(event):
            seen.append(event)
            raise RuntimeError("listener bug")

        host.meeting.set_listener(flaky)
        await host.arrive_in_meeting("Ann")
        await host.arrive_in_meeting("Bob")
        assert len([e for e in seen if isinstance(e, Joined)]) == 2

    async def test_meeting_end(self, host):
        await host.arrive_in_meeting("Ann")
        await host.end()
        assert isinstance(host.events[-1], MeetingEnded)
        assert host.meeting.closed.is_set()
        with pytest.raises(MeetingControlError) as caught:
            await host.control.admit_all()
        assert caught.value.code == "meeting_not_running"

    @pytest.mark.parametrize(("code", "removed"), [(1, False), (61, True)])
    async def test_dropped_mid_meeting_is_not_an_end(self, host, code, removed):
        await host.meeting._thread.call(lambda: host.world.drop_bot(code))
        await host.meeting.settle()
        assert host.meeting.closed.is_set()
        assert not any(isinstance(e, MeetingEnded) for e in host.events)
        assert host.meeting.failure is not None
        assert host.meeting.removed_by_host is removed


class TestRefusals:
    async def test_zoom_rules(self, host):
        ann = await host.arrive("Ann")
        bob = await host.arrive_in_meeting("Bob")
        (me,) = [p for p in await host.control.list_participants() if p.is_bot]
        assert me.name == "Balint Companion"

        async def code_of(coro: Awaitable[object]) -> str:
            with pytest.raises(MeetingControlError) as caught:
                await coro
            return caught.value.code

        assert await code_of(host.control.admit(bob)) == "not_in_waiting_room"
        assert await code_of(host.control.mute(ann)) == "not_in_meeting"
        assert await code_of(host.control.put_in_waiting_room(me.user_id)) == "not_allowed"
        assert await code_of(host.control.admit("12345")) == "no_such_participant"
        assert await code_of(host.control.admit("someone")) == "no_such_participant"
        assert await code_of(host.control.rename(bob, "B")) == "not_in_waiting_room"
        await host.control.rename(ann, "Ann")
        waiting = await host.control.list_waiting_room()
        assert [p.user_id for p in waiting] == [ann]
        await host.control.put_in_waiting_room(bob)
        await host.meeting.poll_now()
        await host.meeting.settle()
        assert host.state("Bob").in_waiting_room
        assert kinds(host)[-2:] == ["Left", "ArrivedInWaitingRoom"]

    async def test_cannot_hold_the_host(self):
        harness = await make_sdk_harness(bot_role=ZoomRole.CO_HOST)
        try:
            host_id = str(harness.world.people["Host"].uid)
            with pytest.raises(MeetingControlError) as caught:
                await harness.control.put_in_waiting_room(host_id)
            assert caught.value.code == "not_allowed"
        finally:
            await harness.aclose()

    async def test_without_rights_refuses_and_tells_facilitators_once(self, attendee):
        world = attendee.world
        notices = [line for line in world.chat_log if line.to == "Host"]
        assert [line.text for line in notices] == [unprivileged_notice("Balint Companion")]
        assert "Make co-host" in notices[0].text
        ann = await attendee.arrive_in_meeting("Ann")
        await attendee.arrive_in_meeting("Fran")  # a facilitator joins later
        assert [line.to for line in world.chat_log] == ["Host"]  # told once, not again
        for call in (
            attendee.control.mute(ann),
            attendee.control.stop_video(ann),
            attendee.control.admit_all(),
            attendee.control.allow_self_unmute(False),
            attendee.control.list_waiting_room(),
            attendee.control.stop_recording(),
        ):
            with pytest.raises(MeetingControlError) as caught:
                await call
            assert caught.value.code == "not_privileged"
        outcome = await execute(
            Mute(target=Target(key="k", user_id=ann, name="Ann")), attendee.control
        )
        assert (outcome.ok, outcome.code) == (False, "not_privileged")
        await attendee.control.send_chat("anyone may chat", to=ChatTo.EVERYONE)

    async def test_notice_waits_for_a_host_or_co_host_never_a_name(self):
        meeting, world, _ = build(bot_role=ZoomRole.ATTENDEE)
        await meeting.join(ticket(world))
        harness = SdkHarness(meeting, world)
        try:
            assert world.chat_log == []  # nobody to tell yet
            await harness.arrive_in_meeting("Ann")
            # A roster facilitator's name is typed by whoever joins: it earns no notice of
            # which protections are off (the SDK sees no registrant id or e-mail).
            await harness.arrive_in_meeting("Fran")
            assert world.chat_log == []
            await harness._people(lambda: world.set_role("Fran", UserRole.USERROLE_COHOST))
            assert [line.to for line in world.chat_log] == ["Fran"]
        finally:
            await harness.aclose()

    async def test_made_co_host_gets_rights(self, attendee):
        ann = await attendee.arrive("Ann")
        await attendee.meeting._thread.call(
            lambda: attendee.world.set_role("@bot", UserRole.USERROLE_COHOST)
        )
        await attendee.meeting.poll_now()
        await attendee.meeting.settle()
        assert attendee.world.allow_local_recording_requests is False
        assert any(isinstance(e, ArrivedInWaitingRoom) for e in attendee.events)
        await attendee.control.admit(ann)
        await attendee.meeting.settle()
        assert attendee.state("Ann").in_waiting_room is False

    async def test_sdk_calls_off_the_loop_thread_are_refused_by_zoom(self, host):
        controller = host.meeting._wr
        assert controller.AdmitAllToMeeting() == SDKError.SDKERR_WRONG_USAGE
        host.world.violations.clear()


class TestRecording:
    async def test_stop_recording_uses_rest_and_revokes_local_recording(self, host):
        bob = await host.arrive_in_meeting("Bob")
        with respx.mock(assert_all_mocked=True) as router:
            router.post(OAUTH).mock(return_value=recorded("oauth_token"))
            stop = router.patch(f"{API}/live_meetings/85746065432/events").mock(
                side_effect=[recorded("recording_stop"), recorded("registrant_invalid")]
            )
            async with httpx.AsyncClient() as http:
                host.meeting._rest = ZoomClient.from_settings(
                    Settings(
                        zoom=ZoomSettings(
                            api_base_url=API,
                            oauth_url=OAUTH,
                            account_id="a",
                            client_id="c",
                            client_secret="s",
                        )
                    ),
                    http,
                    policy=RetryPolicy(attempts=1),
                    sleep=RecordingSleep(),
                    clock=HandClock(),
                )
                await host.control.stop_recording()
                await host.control.stop_recording()  # no cloud recording running: tolerated
        assert json.loads(stop.calls[0].request.content) == {"method": "recording.stop"}
        assert host.world.people["Bob"].may_record_locally is False
        assert bob


async def test_waiting_room_polling_runs_on_its_own():
    meeting, world, _ = build(options=SdkOptions(poll_interval=0.02))
    await meeting.join(ticket(world))
    harness = SdkHarness(meeting, world)
    try:
        await meeting._thread.call(lambda: world.person_joins("Ann"))
        for _ in range(100):
            if any(isinstance(e, ArrivedInWaitingRoom) for e in harness.events):
                break
            await asyncio.sleep(0.01)
        assert any(isinstance(e, ArrivedInWaitingRoom) for e in harness.events)
    finally:
        await harness.aclose()
    assert world.violations == []


async def test_open_sdk_meeting_joins_with_the_rest_passcode_and_the_bot_users_zak():
    from bot.meeting.sdk import open_sdk_meeting
    from tests.unit.meeting.zoom_sdk_double import FakeZoomSdk, ThreadLoop, World

    loop = ThreadLoop()
    world = World(loop=loop)
    settings = Settings(
        zoom=ZoomSettings(
            api_base_url=API,
            oauth_url=OAUTH,
            account_id="a",
            client_id="c",
            client_secret="s",
            sdk_key=world.sdk_key,
            sdk_secret=world.sdk_secret,
            bot_user_id="z8yBXksDSemSvy9vJZxLnQ",
            bot_name="Balint Companion",
        )
    )
    with respx.mock(assert_all_mocked=True) as router:
        router.post(OAUTH).mock(return_value=recorded("oauth_token"))
        router.get(f"{API}/meetings/85746065432").mock(return_value=recorded("meeting_get"))
        zak = router.get(f"{API}/users/z8yBXksDSemSvy9vJZxLnQ/token").mock(
            return_value=recorded("user_zak")
        )
        async with httpx.AsyncClient() as http:
            rest = ZoomClient.from_settings(settings, http, clock=HandClock())
            bot = await open_sdk_meeting(
                settings,
                rest,
                meeting_id="85746065432",
                sdk=FakeZoomSdk(world),
                loop=loop,
                options=FAST,
            )
    try:
        assert zak.call_count == 1
        joined = world.joined_with
        assert joined is not None
        assert joined.meetingNumber == 85746065432
        assert joined.psw == "cP3fb7"  # the passcode from GET /meetings/{id}
        assert joined.userZAK.endswith("fixture-zak")
        assert joined.userName == "Balint Companion"
    finally:
        await bot.leave()
    assert world.violations == []
