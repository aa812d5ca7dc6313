"""The one translation of what a Meeting SDK bot sees into engine events (pure).

A bot in the meeting learns what happens from the SDK's callbacks (people joining and
leaving, host and co-host changes, audio status, chat) and from what it polls because the
bindings have no callback for it (the waiting-room list, video, roles). `SdkMeeting` copies
each callback's arguments and the `IUserInfo` it resolves into the plain, SDK-shaped notices
below, on the SDK thread; `SimulatedMeeting` produces the same notices for its bot. Both
hand them to an `SdkObserver`, which keeps what the bot has seen and returns the engine
events: so a simulated evening passes through exactly the translation a live one does.

Notices are named after the callback or poll they copy:

- `InMeeting`: the status became `MEETING_STATUS_INMEETING`; `users` is the participants
  list at that moment (the bot itself included).
- `MeetingOver`: the status became `ENDED` (`ended=True`) or `FAILED`.
- `UsersJoined` / `UsersLeft`: `onUserJoin` (ids resolved with `GetUserByUserID`) and
  `onUserLeft`. Holding someone in the waiting room fires `onUserLeft`; admitting fires
  `onUserJoin`.
- `UsersChanged`: fresh `IUserInfo` of people already seen (host and co-host changes,
  renames, and the role and video polls): role and video changes become events.
- `AudioChanged`: `onUserAudioStatusChange` (user id, `AudioStatus` member name).
- `ChatReceived`: `onChatMsgNotification`; only lines to everyone or to the bot count, and
  the bot's own lines are not echoed.
- `WaitingRoomPolled`: `GetWaitingRoomLst()` with each waiting user's info, and the ids in
  the meeting proper (someone who left the list and is in the meeting was admitted).

Identity: an SDK participant's key is `GetPersistentId()` (stable for the meeting), or
`sdk-<user id>` when Zoom gives none; `user_id` is the SDK's per-join user id. Whether these
equal the webhooks' `participant_uuid` and `user_id` is not documented; the runtime links
the two sources (`bot.runtime.identity`), so nothing here assumes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from phases.events import (
    ArrivedInWaitingRoom,
    AudioMuted,
    AudioUnmuted,
    ChatMessage,
    Event,
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

__all__ = [
    "MUTED",
    "UNMUTED",
    "AudioChanged",
    "ChatReceived",
    "InMeeting",
    "MeetingOver",
    "Notice",
    "SdkObserver",
    "SdkUser",
    "UsersChanged",
    "UsersJoined",
    "UsersLeft",
    "WaitingRoomPolled",
    "zoom_role",
]

#: `AudioStatus` member names meaning muted / unmuted (others, e.g. `Audio_None`, say nothing).
MUTED = frozenset({"Audio_Muted", "Audio_Muted_ByHost", "Audio_MutedAll_ByHost"})
UNMUTED = frozenset({"Audio_UnMuted", "Audio_UnMuted_ByHost", "Audio_UnMutedAll_ByHost"})

_ROLES = {"USERROLE_HOST": ZoomRole.HOST, "USERROLE_COHOST": ZoomRole.CO_HOST}


def zoom_role(role_name: str) -> ZoomRole:
    """A `UserRole` member name as the engine's role (anything but host/co-host: attendee)."""
    return _ROLES.get(role_name, ZoomRole.ATTENDEE)


@dataclass(frozen=True, slots=True, kw_only=True)
class SdkUser:
    """What `IUserInfo` says about one user, copied on the SDK thread.

    Args:
        user_id: `GetUserID()`, the per-join id actions are addressed to.
        persistent_id: `GetPersistentId()` ("" when Zoom gives none).
        name: `GetUserName()`.
        role: `GetUserRole()` member name, e.g. `USERROLE_COHOST`.
        audio_muted: `IsAudioMuted()`; video_on: `IsVideoOn()`; is_me: `IsMySelf()`.
    """

    user_id: int
    persistent_id: str = ""
    name: str = ""
    role: str = "USERROLE_ATTENDEE"
    audio_muted: bool = True
    video_on: bool = False
    is_me: bool = False

    @property
    def key(self) -> str:
        return self.persistent_id or f"sdk-{self.user_id}"

    def participant(self) -> Participant:
        return Participant(key=self.key, user_id=str(self.user_id), name=self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class InMeeting:
    users: tuple[SdkUser, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingOver:
    ended: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class UsersJoined:
    users: tuple[SdkUser, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UsersLeft:
    user_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UsersChanged:
    users: tuple[SdkUser, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioChanged:
    #: (user id, `AudioStatus` member name) per change
    changes: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatReceived:
    sender_id: int
    sender_name: str
    receiver_id: int
    to_all: bool
    content: str
    message_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingRoomPolled:
    waiting: tuple[SdkUser, ...]
    in_meeting: tuple[int, ...]


Notice = (
    InMeeting
    | MeetingOver
    | UsersJoined
    | UsersLeft
    | UsersChanged
    | AudioChanged
    | ChatReceived
    | WaitingRoomPolled
)


class SdkObserver:
    """What one bot has seen of its meeting, and the engine events each notice stands for."""

    def __init__(self) -> None:
        self._people: dict[int, SdkUser] = {}
        self._waiting: dict[int, SdkUser] = {}
        self._me = -1
        self._in_meeting = False

    @property
    def people(self) -> Mapping[int, SdkUser]:
        """Everyone seen in the meeting proper (not the bot), by user id."""
        return self._people

    @property
    def me(self) -> int:
        """The bot's own user id (-1 before it is in the meeting)."""
        return self._me

    def observe(self, notice: Notice) -> list[Event]:
        """The engine events `notice` stands for (often none: a repeat, or the bot itself)."""
        out: list[Event] = []
        match notice:
            case InMeeting(users=users):
                if not self._in_meeting:
                    self._in_meeting = True
                    out.append(MeetingStarted())
                self._joined(users, out)
            case MeetingOver(ended=ended):
                if self._in_meeting and ended:
                    out.append(MeetingEnded())
                self._in_meeting = False
                self._people.clear()
                self._waiting.clear()
            case UsersJoined(users=users):
                self._joined(users, out)
            case UsersLeft(user_ids=ids):
                for user_id in ids:
                    seen = self._people.pop(user_id, None)
                    if seen is not None:
                        out.append(Left(participant=seen.participant()))
            case UsersChanged(users=users):
                for user in users:
                    self._changed(user, out)
            case AudioChanged(changes=changes):
                for user_id, status in changes:
                    seen = self._people.get(user_id)
                    if seen is None or (status not in MUTED and status not in UNMUTED):
                        continue
                    self._changed(replace(seen, audio_muted=status in MUTED), out)
            case ChatReceived():
                self._chat(notice, out)
            case WaitingRoomPolled(waiting=waiting, in_meeting=in_meeting):
                self._waiting_room(waiting, set(in_meeting), out)
        return out

    def _joined(self, users: tuple[SdkUser, ...], out: list[Event]) -> None:
        for user in users:
            if user.is_me:
                self._me = user.user_id
                continue
            self._waiting.pop(user.user_id, None)
            if user.user_id in self._people:
                self._changed(user, out)
                continue
            self._people[user.user_id] = user
            out.append(Joined(participant=user.participant(), role=zoom_role(user.role)))

    def _changed(self, user: SdkUser, out: list[Event]) -> None:
        if user.is_me or user.user_id == self._me:
            return
        seen = self._people.get(user.user_id)
        if seen is None:
            return  # not in the meeting proper (yet): joins arrive as `UsersJoined`
        fresh = replace(user, persistent_id=user.persistent_id or seen.persistent_id)
        self._people[user.user_id] = fresh
        who = fresh.participant()
        if zoom_role(fresh.role) != zoom_role(seen.role):
            out.append(RoleChanged(participant=who, role=zoom_role(fresh.role)))
        if fresh.audio_muted != seen.audio_muted:
            audio = AudioMuted if fresh.audio_muted else AudioUnmuted
            out.append(audio(participant=who))
        if fresh.video_on != seen.video_on:
            out.append(VideoOn(participant=who) if fresh.video_on else VideoOff(participant=who))

    def _chat(self, chat: ChatReceived, out: list[Event]) -> None:
        if chat.sender_id == self._me:
            return  # the bot's own lines are not echoed to the engine
        private = not chat.to_all and chat.receiver_id == self._me
        if not chat.to_all and not private:
            return
        seen = self._people.get(chat.sender_id)
        sender = (
            seen.participant()
            if seen is not None
            else Participant(
                key=f"sdk-{chat.sender_id}", user_id=str(chat.sender_id), name=chat.sender_name
            )
        )
        out.append(
            ChatMessage(
                sender=sender, text=chat.content, private=private, message_id=chat.message_id
            )
        )

    def _waiting_room(
        self, waiting: tuple[SdkUser, ...], in_meeting: set[int], out: list[Event]
    ) -> None:
        current = {user.user_id: user for user in waiting}
        for user_id in sorted(set(current) - set(self._waiting)):
            user = current[user_id]
            self._people.pop(user_id, None)
            self._waiting[user_id] = user
            out.append(ArrivedInWaitingRoom(participant=user.participant()))
        for user_id in sorted(set(self._waiting) - set(current)):
            user = self._waiting.pop(user_id)
            if user_id in in_meeting:
                self._joined((user,), out)  # admitted (unless `onUserJoin` said so first)
            else:
                out.append(LeftWaitingRoom(participant=user.participant()))
