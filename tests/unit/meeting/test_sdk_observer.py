"""The one translation of SDK callbacks and polls into engine events (pure, table-like)."""

from __future__ import annotations

from bot.meeting.sdk_observer import (
    AudioChanged,
    ChatReceived,
    InMeeting,
    MeetingOver,
    SdkObserver,
    SdkUser,
    UsersChanged,
    UsersJoined,
    UsersLeft,
    WaitingRoomPolled,
)
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
    Participant,
    RoleChanged,
    VideoOff,
    VideoOn,
    ZoomRole,
)

BOT = SdkUser(user_id=100, persistent_id="pid-bot", name="Balint Companion", is_me=True)
ANNA = SdkUser(user_id=200, persistent_id="pid-anna", name="Anna")
BEN = SdkUser(user_id=300, name="Ben")  # Zoom gave no persistent id


def who(user: SdkUser) -> Participant:
    return Participant(key=user.key, user_id=str(user.user_id), name=user.name)


def in_meeting(*users: SdkUser) -> SdkObserver:
    observer = SdkObserver()
    observer.observe(InMeeting(users=(BOT, *users)))
    return observer


def test_entering_reports_the_start_and_everyone_but_the_bot():
    observer = SdkObserver()
    events = observer.observe(InMeeting(users=(BOT, ANNA)))
    assert events == [MeetingStarted(), Joined(participant=who(ANNA), role=ZoomRole.ATTENDEE)]
    assert observer.me == 100 and list(observer.people) == [200]
    assert who(BEN).key == "sdk-300"


def test_a_join_is_reported_once_and_a_repeat_only_says_what_changed():
    observer = in_meeting()
    host = SdkUser(user_id=200, persistent_id="pid-anna", name="Anna", role="USERROLE_HOST")
    assert observer.observe(UsersJoined(users=(host,))) == [
        Joined(participant=who(ANNA), role=ZoomRole.HOST)
    ]
    cohost = SdkUser(user_id=200, persistent_id="pid-anna", name="Anna", role="USERROLE_COHOST")
    assert observer.observe(UsersJoined(users=(cohost,))) == [
        RoleChanged(participant=who(ANNA), role=ZoomRole.CO_HOST)
    ]
    assert observer.observe(UsersLeft(user_ids=(200, 999))) == [Left(participant=who(ANNA))]


def test_audio_video_and_roles_become_events_only_when_they_change():
    observer = in_meeting(ANNA)
    assert observer.observe(AudioChanged(changes=((200, "Audio_Muted"), (999, "x")))) == []
    assert observer.observe(AudioChanged(changes=((200, "Audio_UnMuted"),))) == [
        AudioUnmuted(participant=who(ANNA))
    ]
    assert observer.observe(AudioChanged(changes=((200, "Audio_Muted_ByHost"),))) == [
        AudioMuted(participant=who(ANNA))
    ]
    assert observer.observe(AudioChanged(changes=((200, "Audio_None"),))) == []
    video = SdkUser(user_id=200, persistent_id="pid-anna", name="Anna", video_on=True)
    assert observer.observe(UsersChanged(users=(video,))) == [VideoOn(participant=who(ANNA))]
    assert observer.observe(UsersChanged(users=(video,))) == []  # the next poll: no change
    assert observer.observe(UsersChanged(users=(ANNA,))) == [VideoOff(participant=who(ANNA))]
    assert observer.observe(UsersChanged(users=(BEN,))) == []  # not in the meeting: no event


def test_the_waiting_room_poll_reports_arrivals_admissions_and_departures():
    observer = in_meeting()
    assert observer.observe(WaitingRoomPolled(waiting=(ANNA, BEN), in_meeting=(100,))) == [
        ArrivedInWaitingRoom(participant=who(ANNA)),
        ArrivedInWaitingRoom(participant=who(BEN)),
    ]
    assert observer.observe(WaitingRoomPolled(waiting=(ANNA, BEN), in_meeting=(100,))) == []
    # Anna was admitted (in the meeting now), Ben hung up.
    assert observer.observe(WaitingRoomPolled(waiting=(), in_meeting=(100, 200))) == [
        Joined(participant=who(ANNA), role=ZoomRole.ATTENDEE),
        LeftWaitingRoom(participant=who(BEN)),
    ]
    # the admission's onUserJoin arrives after the poll: already known, nothing new
    assert observer.observe(UsersJoined(users=(ANNA,))) == []


def test_chat_to_everyone_or_the_bot_counts_and_the_bots_own_lines_do_not():
    observer = in_meeting(ANNA)

    def chat(sender: int, receiver: int, to_all: bool) -> list[object]:
        notice = ChatReceived(
            sender_id=sender,
            sender_name="Anna",
            receiver_id=receiver,
            to_all=to_all,
            content="/next",
            message_id="m1",
        )
        return list(observer.observe(notice))

    public = ChatMessage(sender=who(ANNA), text="/next", private=False, message_id="m1")
    assert chat(200, 0, True) == [public]
    assert chat(200, 100, False) == [
        ChatMessage(sender=who(ANNA), text="/next", private=True, message_id="m1")
    ]
    assert chat(200, 300, False) == []  # private to someone else
    assert chat(100, 0, True) == []  # the bot's own line
    stranger = chat(777, 0, True)[0]
    assert isinstance(stranger, ChatMessage) and stranger.sender.key == "sdk-777"


def test_the_end_is_reported_only_when_the_meeting_ended_not_when_the_bot_dropped():
    assert in_meeting(ANNA).observe(MeetingOver(ended=True)) == [MeetingEnded()]
    assert in_meeting(ANNA).observe(MeetingOver(ended=False)) == []
    assert SdkObserver().observe(MeetingOver(ended=True)) == []
