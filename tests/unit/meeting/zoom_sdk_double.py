"""A faithful test double of the `zoom_meeting_sdk` bindings: the subset `SdkMeeting` calls.

Same names as zoom-meeting-sdk 0.0.27 (checked against the real package by
`test_sdk_bindings.py`), and Zoom's behaviour where it matters:
- every call must come from the main-loop thread; any other thread gets
  `SDKERR_WRONG_USAGE` (and is recorded in `world.violations`);
- authentication checks the JWT like Zoom (HS256 with the SDK secret, `appKey`, numeric
  `iat`, 30 min <= exp - iat <= 48 h) and answers through the auth callback, later;
- joining goes CONNECTING -> INMEETING, or hangs in CONNECTING on a wrong passcode (as the
  Linux SDK does), or WAITINGFORHOST / IN_WAITING_ROOM / FAILED with a fail code;
- only a host or co-host may admit, hold, rename, mute, stop video, ask, switch self-unmute
  or self-video, list the waiting room or chat to it (`SDKERR_NO_PERMISSION`);
- muting is immediate and fires the audio callback; unmuting another person is a request
  that person accepts or ignores; video has no callback in the bindings (polling finds it);
- waiting-room arrivals fire no callback (the bindings have none); admitting fires
  onUserJoin, holding fires onUserLeft;
- a Python exception escaping a callback would abort the real process: here it is recorded
  in `world.crashes`, and tests assert there are none;
- muting with `allowUnmuteBySelf=False` keeps that person from unmuting themselves until
  they accept a request to unmute or self-unmute is allowed meeting-wide again (a host or
  co-host always can);
- Zoom's webhooks for what happens (`ZoomWebhooks`, when `world.webhooks` is set): signed
  bodies as `bot.meeting.zoom_wire` writes them, with ids that differ from the SDK's on
  purpose (participant uuid != persistent id, webhook user id != SDK user id, chat message
  ids differ), since Zoom does not document that they agree.

`ThreadLoop` stands in for the GLib main loop: a thread that runs queued calls and timers.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt

from bot.meeting import zoom_wire as wire
from bot.meeting.port import ParticipantInfo
from bot.meeting.simulated import Presence
from phases.events import ZoomRole

# ------------------------------------------------------------------------------ main loop


class ThreadLoop:
    """A `MainLoop` with GLib's semantics on a plain thread (queued calls, repeating timers)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._timers: list[tuple[float, int]] = []
        self._timer_fns: dict[int, tuple[float, Callable[[], bool]]] = {}
        self._handles = itertools.count(1)
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.errors: list[BaseException] = []

    def run(self) -> None:
        self.thread = threading.current_thread()
        while True:
            timeout = self._next_timeout()
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = _noop
            if item is None:
                return
            self._safely(item)
            self._run_due_timers()

    def _safely(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except BaseException as error:  # GLib prints and carries on
            self.errors.append(error)
            return False

    def _next_timeout(self) -> float | None:
        with self._lock:
            if not self._timers:
                return None
            return max(0.0, self._timers[0][0] - time.monotonic())

    def _run_due_timers(self) -> None:
        while True:
            with self._lock:
                if not self._timers or self._timers[0][0] > time.monotonic():
                    return
                _, handle = heapq.heappop(self._timers)
                entry = self._timer_fns.get(handle)
            if entry is None:
                continue
            seconds, fn = entry
            again = self._safely(fn)
            with self._lock:
                if again and handle in self._timer_fns:
                    heapq.heappush(self._timers, (time.monotonic() + seconds, handle))
                else:
                    self._timer_fns.pop(handle, None)

    def quit(self) -> None:
        self._queue.put(None)

    def invoke(self, fn: Callable[[], None]) -> None:
        self._queue.put(fn)

    def add_timer(self, seconds: float, fn: Callable[[], bool]) -> int:
        handle = next(self._handles)
        with self._lock:
            self._timer_fns[handle] = (seconds, fn)
            heapq.heappush(self._timers, (time.monotonic() + seconds, handle))
        self._queue.put(_noop)
        return handle

    def remove_timer(self, handle: int) -> None:
        with self._lock:
            self._timer_fns.pop(handle, None)


def _noop() -> None:
    return None


# ------------------------------------------------------------------------------ enums

MeetingStatus = enum.Enum(
    "MeetingStatus",
    [
        "MEETING_STATUS_IDLE",
        "MEETING_STATUS_CONNECTING",
        "MEETING_STATUS_WAITINGFORHOST",
        "MEETING_STATUS_INMEETING",
        "MEETING_STATUS_DISCONNECTING",
        "MEETING_STATUS_RECONNECTING",
        "MEETING_STATUS_FAILED",
        "MEETING_STATUS_ENDED",
        "MEETING_STATUS_UNKNOWN",
        "MEETING_STATUS_LOCKED",
        "MEETING_STATUS_UNLOCKED",
        "MEETING_STATUS_IN_WAITING_ROOM",
        "MEETING_STATUS_WEBINAR_PROMOTE",
        "MEETING_STATUS_WEBINAR_DEPROMOTE",
        "MEETING_STATUS_JOIN_BREAKOUT_ROOM",
        "MEETING_STATUS_LEAVE_BREAKOUT_ROOM",
    ],
)
SDKError = enum.Enum(
    "SDKError",
    [
        "SDKERR_SUCCESS",
        "SDKERR_NO_IMPL",
        "SDKERR_WRONG_USAGE",
        "SDKERR_INVALID_PARAMETER",
        "SDKERR_MODULE_LOAD_FAILED",
        "SDKERR_MEMORY_FAILED",
        "SDKERR_SERVICE_FAILED",
        "SDKERR_UNINITIALIZE",
        "SDKERR_UNAUTHENTICATION",
        "SDKERR_NORECORDINGINPROCESS",
        "SDKERR_TRANSCODER_NOFOUND",
        "SDKERR_VIDEO_NOTREADY",
        "SDKERR_NO_PERMISSION",
        "SDKERR_UNKNOWN",
        "SDKERR_OTHER_SDK_INSTANCE_RUNNING",
        "SDKERR_INTERNAL_ERROR",
        "SDKERR_NOT_IN_MEETING",
    ],
)
AuthResult = enum.Enum(
    "AuthResult",
    [
        "AUTHRET_SUCCESS",
        "AUTHRET_KEYORSECRETWRONG",
        "AUTHRET_ACCOUNTNOTSUPPORT",
        "AUTHRET_ACCOUNTNOTENABLESDK",
        "AUTHRET_UNKNOWN",
        "AUTHRET_SERVICE_BUSY",
        "AUTHRET_NONE",
        "AUTHRET_OVERTIME",
        "AUTHRET_NETWORKISSUE",
        "AUTHRET_CLIENT_INCOMPATIBLE",
        "AUTHRET_JWTTOKENWRONG",
        "AUTHRET_KEYORSECRETEMPTY",
        "AUTHRET_LIMIT_EXCEEDED_EXCEPTION",
    ],
)
UserRole = enum.Enum(
    "UserRole",
    [
        "USERROLE_NONE",
        "USERROLE_HOST",
        "USERROLE_COHOST",
        "USERROLE_PANELIST",
        "USERROLE_BREAKOUTROOM_MODERATOR",
        "USERROLE_ATTENDEE",
    ],
)
SDKUserType = enum.Enum("SDKUserType", ["SDK_UT_NORMALUSER", "SDK_UT_WITHOUT_LOGIN"])
LeaveMeetingCmd = enum.Enum("LeaveMeetingCmd", ["LEAVE_MEETING", "END_MEETING"])
SDK_LANGUAGE_ID = enum.Enum("SDK_LANGUAGE_ID", ["LANGUAGE_Unknown", "LANGUAGE_English"])
SDKChatMessageType = enum.Enum(
    "SDKChatMessageType",
    [
        "To_None",
        "To_All",
        "To_Individual_Panelist",
        "To_Individual",
        "To_All_Panelist",
        "To_WaitingRoomUsers",
    ],
)
AudioStatus = enum.Enum(
    "AudioStatus",
    [
        "Audio_None",
        "Audio_Muted",
        "Audio_UnMuted",
        "Audio_Muted_ByHost",
        "Audio_UnMuted_ByHost",
        "Audio_MutedAll_ByHost",
        "Audio_UnMutedAll_ByHost",
    ],
)


class MeetingFailCode(enum.IntEnum):
    MEETING_SUCCESS = 0
    MEETING_FAIL_PASSWORD_ERR = 4
    MEETING_FAIL_MEETING_NOT_EXIST = 8
    MEETING_FAIL_ENFORCE_LOGIN = 23
    MEETING_FAIL_UNABLE_TO_JOIN_EXTERNAL_MEETING = 63
    MEETING_FAIL_AUTHORIZED_USER_NOT_INMEETING = 501
    MEETING_FAIL_APP_CAN_NOT_ANONYMOUS_JOIN_MEETING = 504
    MEETING_FAIL_UNKNOWN = 65535


OK = SDKError.SDKERR_SUCCESS
PRIVILEGED = (UserRole.USERROLE_HOST, UserRole.USERROLE_COHOST)

# ------------------------------------------------------------------------------ value types


class InitParam:
    def __init__(self) -> None:
        self.strWebDomain = ""
        self.strSupportUrl = ""
        self.strBrandingName = ""
        self.emLanguageID = SDK_LANGUAGE_ID.LANGUAGE_Unknown
        self.enableLogByDefault = False
        self.enableGenerateDump = False
        self.uiLogFileSize = 5


class AuthContext:
    def __init__(self) -> None:
        self.jwt_token = ""


class JoinParam4WithoutLogin:
    def __init__(self) -> None:
        self.meetingNumber = 0
        self.userName = ""
        self.psw = ""
        self.userZAK = ""
        self.isVideoOff = False
        self.isAudioOff = False
        self.customer_key = ""
        self.join_token = ""
        self.onBehalfToken = ""
        self.app_privilege_token = ""
        self.webinarToken = ""
        self.vanityID = ""


class JoinParam:
    def __init__(self) -> None:
        self.userType = SDKUserType.SDK_UT_NORMALUSER
        self.param = JoinParam4WithoutLogin()


class _Callbacks:
    """Base of the callback holders: only the real binding's keyword names are accepted."""

    NAMES: tuple[str, ...] = ()

    def __init__(self, **callbacks: Callable[..., None] | None) -> None:
        unknown = set(callbacks) - set(self.NAMES)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword(s) {sorted(unknown)}")
        self.callbacks = {name: fn for name, fn in callbacks.items() if fn is not None}


class AuthServiceEventCallbacks(_Callbacks):
    NAMES = ("onAuthenticationReturnCallback", "onLoginReturnWithReasonCallback")


class MeetingServiceEventCallbacks(_Callbacks):
    NAMES = ("onMeetingStatusChangedCallback", "onMeetingParameterNotificationCallback")


class MeetingParticipantsCtrlEventCallbacks(_Callbacks):
    NAMES = (
        "onUserJoinCallback",
        "onUserLeftCallback",
        "onHostChangeNotificationCallback",
        "onCoHostChangeNotificationCallback",
        "onUserNamesChangedCallback",
        "onLowOrRaiseHandStatusChangedCallback",
    )


class MeetingAudioCtrlEventCallbacks(_Callbacks):
    NAMES = ("onUserAudioStatusChangeCallback", "onHostRequestStartAudioCallback")


class MeetingChatEventCallbacks(_Callbacks):
    NAMES = ("onChatMsgNotificationCallback", "onChatStatusChangedNotificationCallback")


@dataclass
class _Person:
    uid: int
    name: str
    pid: str
    role: Any = UserRole.USERROLE_ATTENDEE
    where: str = "away"  # away | waiting | meeting
    muted: bool = True
    muted_by_host: bool = False
    video_on: bool = True
    video_by_host: bool = False
    accepts_requests: bool = True
    is_me: bool = False
    may_record_locally: bool = True
    self_unmute_blocked: bool = False
    email: str = ""
    registrant_id: str = ""


class IUserInfo:
    def __init__(self, person: _Person) -> None:
        self._p = person

    def GetUserID(self) -> int:
        return self._p.uid

    def GetUserName(self) -> str:
        return self._p.name

    def GetPersistentId(self) -> str:
        return self._p.pid

    def GetCustomerKey(self) -> str:
        return ""

    def GetUserRole(self) -> Any:
        return self._p.role

    def IsHost(self) -> bool:
        return bool(self._p.role == UserRole.USERROLE_HOST)

    def IsAudioMuted(self) -> bool:
        return self._p.muted

    def IsVideoOn(self) -> bool:
        return self._p.video_on

    def IsMySelf(self) -> bool:
        return self._p.is_me

    def IsInWaitingRoom(self) -> bool:
        return self._p.where == "waiting"


class IUserAudioStatus:
    def __init__(self, uid: int, status: Any) -> None:
        self._uid, self._status = uid, status

    def GetUserId(self) -> int:
        return self._uid

    def GetStatus(self) -> Any:
        return self._status


class IChatMsgInfo:
    def __init__(
        self, *, sender: _Person, receiver: int, kind: Any, content: str, message_id: str
    ) -> None:
        self._sender, self._receiver, self._kind = sender, receiver, kind
        self._content, self._id = content, message_id

    def GetContent(self) -> str:
        return self._content

    def GetSenderUserId(self) -> int:
        return self._sender.uid

    def GetSenderDisplayName(self) -> str:
        return self._sender.name

    def GetReceiverUserId(self) -> int:
        return self._receiver

    def GetMessageID(self) -> str:
        return self._id

    def GetTimeStamp(self) -> int:
        return int(time.time())

    def IsChatToAll(self) -> bool:
        return bool(self._kind == SDKChatMessageType.To_All)

    def IsChatToWaitingroom(self) -> bool:
        return bool(self._kind == SDKChatMessageType.To_WaitingRoomUsers)

    def GetChatMessageType(self) -> Any:
        return self._kind


class IChatMsgInfoBuilder:
    def __init__(self, world: World) -> None:
        self._world = world
        self.Clear()

    def SetContent(self, text: str) -> IChatMsgInfoBuilder:
        self._content = text
        return self

    def SetReceiver(self, uid: int) -> IChatMsgInfoBuilder:
        self._receiver = uid
        return self

    def SetMessageType(self, kind: Any) -> IChatMsgInfoBuilder:
        self._kind = kind
        return self

    def Build(self) -> IChatMsgInfo:
        return IChatMsgInfo(
            sender=self._world.me,
            receiver=self._receiver,
            kind=self._kind,
            content=self._content,
            message_id=self._world.new_message_id(),
        )

    def Clear(self) -> IChatMsgInfoBuilder:
        self._content, self._receiver, self._kind = "", 0, SDKChatMessageType.To_None
        return self


@dataclass(frozen=True)
class ChatLine:
    sender: str
    to: str  # "everyone", "waiting_room" or a name
    text: str


# ------------------------------------------------------------------------------ the meeting


@dataclass
class ZoomWebhooks:
    """The webhooks Zoom sends about one meeting, as the double's people and bot act.

    Called on the loop thread; the test's asyncio side takes them with `drain()`. Ids differ
    from the SDK's on purpose (see the module docstring). `presence` is Zoom's own minutes.
    """

    clock: Callable[[], datetime]
    secret: str
    identity: wire.MeetingIdentity
    presence: list[Presence] = field(default_factory=list)
    sent: list[wire.Webhook] = field(default_factory=list)
    _outbox: list[wire.Webhook] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _messages: Any = field(default_factory=lambda: itertools.count(1))

    @staticmethod
    def participant_uuid(person: _Person) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"webhook:{person.name}")).upper()

    @staticmethod
    def user_id(person: _Person) -> str:
        return str(person.uid * 10 + 3)

    def _wire(self, person: _Person) -> wire.WireParticipant:
        return wire.WireParticipant(
            user_id=self.user_id(person),
            user_name=person.name,
            participant_uuid=self.participant_uuid(person),
            email=person.email,
            registrant_id=person.registrant_id,
        )

    def _send(self, event: str, body: bytes, name: str = "") -> None:
        event_ts = int(json.loads(body)["event_ts"])
        at = datetime.fromtimestamp(event_ts / 1000, UTC)
        webhook = wire.Webhook(
            event=event,
            body=body,
            headers=wire.signed_headers(secret=self.secret, body=body, at=at),
            event_ts=event_ts,
            name=name,
        )
        with self._lock:
            self._outbox.append(webhook)
            self.sent.append(webhook)

    def drain(self) -> list[wire.Webhook]:
        with self._lock:
            out, self._outbox = self._outbox, []
        return out

    def meeting(self, event: str) -> None:
        self._send(event, wire.meeting_body(event, meeting=self.identity, at=self.clock()))

    def person(self, event: str, person: _Person, *, leave_reason: str = "") -> None:
        body = wire.participant_body(
            event,
            meeting=self.identity,
            participant=self._wire(person),
            at=self.clock(),
            leave_reason=leave_reason,
        )
        self._send(event, body, person.name)

    def role_changed(self, person: _Person, old: str, new: str) -> None:
        body = wire.role_changed_body(
            meeting=self.identity,
            participant=self._wire(person),
            at=self.clock(),
            old_role=old,
            new_role=new,
        )
        self._send(wire.PARTICIPANT_ROLE_CHANGED, body, person.name)

    def chat(self, sender: _Person, recipient: _Person | None, text: str) -> None:
        def party(who: _Person) -> wire.ChatParty:
            kind = "host" if who.role in PRIVILEGED else "guest"
            return wire.ChatParty(
                session_id=self.user_id(who), name=who.name, email=who.email, party_type=kind
            )

        body = wire.chat_body(
            meeting=self.identity,
            sender=party(sender),
            recipient=party(recipient) if recipient is not None else None,
            message_id=f"webhook-message-{next(self._messages)}",
            text=text,
            at=self.clock(),
        )
        self._send(wire.CHAT_MESSAGE_SENT, body, sender.name)

    def recording_started(self) -> None:
        body = wire.recording_started_body(meeting=self.identity, at=self.clock())
        self._send(wire.RECORDING_STARTED, body)

    def stay(self, person: _Person, place: str) -> None:
        """`person` is now in `place` ("meeting", "waiting_room" or "" for gone)."""
        now = self.clock()
        for index in range(len(self.presence) - 1, -1, -1):
            stay = self.presence[index]
            if stay.handle == person.name and stay.end is None:
                self.presence[index] = Presence(
                    handle=stay.handle, name=stay.name, place=stay.place, start=stay.start, end=now
                )
                break
        if place:
            self.presence.append(
                Presence(handle=person.name, name=person.name, place=place, start=now)
            )


@dataclass
class World:
    """One Zoom meeting as the SDK sees it, plus the people side tests drive.

    Args:
        loop: the main loop the SDK runs on (calls from other threads are violations).
        bot_role: the role the bot gets when it joins with its ZAK.
        join_outcome: "ok", "host_absent", "held", or "fail:<MeetingFailCode value>".
    """

    loop: ThreadLoop
    sdk_key: str = "sdk-key"
    sdk_secret: str = "sdk-secret-for-tests-0123456789abcdef"
    meeting_number: int = 85746065432
    passcode: str = "cP3fb7"
    bot_role: Any = UserRole.USERROLE_HOST
    join_outcome: str = "ok"
    waiting_room: bool = True
    allow_self_unmute: bool = True
    allow_self_video: bool = True
    allow_local_recording_requests: bool = True
    unresolvable_once: set[str] = field(default_factory=set)
    people: dict[str, _Person] = field(default_factory=dict)
    chat_log: list[ChatLine] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)
    status: Any = MeetingStatus.MEETING_STATUS_IDLE
    joined_with: JoinParam4WithoutLogin | None = None
    authenticated: bool = False
    events: dict[str, _Callbacks] = field(default_factory=dict)
    mute_on_entry: bool = True
    video_on_entry: bool = True
    cloud_recording: bool = False
    #: Zoom's webhooks about this meeting (None: nobody subscribed)
    webhooks: ZoomWebhooks | None = None

    def __post_init__(self) -> None:
        self._uids = itertools.count(16778240, 1024)
        self._messages = itertools.count(1)
        self.me = _Person(uid=0, name="", pid="bot-pid", is_me=True, muted=True, video_on=False)

    # -- plumbing -------------------------------------------------------------------

    def on_loop(self, what: str) -> bool:
        self.calls.append(what)
        if threading.current_thread() is not self.loop.thread:
            self.violations.append(what)
            return False
        return True

    def fire(self, holder: str, name: str, *args: Any) -> None:
        events = self.events.get(holder)
        fn = events.callbacks.get(name) if events is not None else None
        if fn is None:
            return
        try:
            fn(*args)
        except BaseException as crash:  # the real SDK would abort the process here
            self.crashes.append(crash)

    def later(self, fn: Callable[[], None]) -> None:
        self.loop.invoke(fn)

    def new_message_id(self) -> str:
        return f"msg-{next(self._messages)}"

    def privileged(self) -> bool:
        return self.me.where == "meeting" and self.me.role in PRIVILEGED

    def in_meeting(self) -> list[_Person]:
        return [p for p in self.people.values() if p.where == "meeting"] + (
            [self.me] if self.me.where == "meeting" else []
        )

    def by_uid(self, uid: int) -> _Person | None:
        if uid == self.me.uid and self.me.where != "away":
            return self.me
        for person in self.people.values():
            if person.uid == uid and person.where != "away":
                return person
        return None

    def set_status(self, status: Any, result: int = 0) -> None:
        self.status = status
        self.fire("meeting", "onMeetingStatusChangedCallback", status, result)

    # -- SDK side: auth and join ------------------------------------------------------

    def authenticate(self, token: str) -> Any:
        try:
            claims = jwt.decode(token, self.sdk_secret, algorithms=["HS256"])
            lifetime = claims["exp"] - claims["iat"]
            good = (
                claims.get("appKey") == self.sdk_key
                and isinstance(claims["iat"], int)
                and 1800 <= lifetime <= 48 * 3600
                and claims.get("tokenExp") == claims["exp"]
            )
        except (jwt.PyJWTError, KeyError, TypeError):
            good = False
        result = AuthResult.AUTHRET_SUCCESS if good else AuthResult.AUTHRET_JWTTOKENWRONG
        self.authenticated = good
        self.later(lambda: self.fire("auth", "onAuthenticationReturnCallback", result))
        return OK

    def join(self, params: JoinParam) -> Any:
        if not self.authenticated:
            return SDKError.SDKERR_UNAUTHENTICATION
        p = params.param
        self.joined_with = p
        self.later(lambda: self.set_status(MeetingStatus.MEETING_STATUS_CONNECTING))
        if p.meetingNumber != self.meeting_number:
            code = MeetingFailCode.MEETING_FAIL_MEETING_NOT_EXIST
            self.later(lambda: self.set_status(MeetingStatus.MEETING_STATUS_FAILED, int(code)))
        elif p.psw != self.passcode:
            pass  # the Linux SDK hangs in CONNECTING on a wrong passcode
        elif self.join_outcome == "host_absent":
            self.later(lambda: self.set_status(MeetingStatus.MEETING_STATUS_WAITINGFORHOST))
        elif self.join_outcome == "held":
            self.later(lambda: self.set_status(MeetingStatus.MEETING_STATUS_IN_WAITING_ROOM))
        elif self.join_outcome.startswith("fail:"):
            fail_code = int(self.join_outcome.removeprefix("fail:"))
            self.later(lambda: self.set_status(MeetingStatus.MEETING_STATUS_FAILED, fail_code))
        else:
            self.later(lambda: self._bot_enters(p))
        return OK

    def _bot_enters(self, p: JoinParam4WithoutLogin) -> None:
        self.me.uid = next(self._uids)
        self.me.name = p.userName
        self.me.role = self.bot_role if p.userZAK else UserRole.USERROLE_ATTENDEE
        self.me.where = "meeting"
        if self.webhooks is not None:
            self.webhooks.meeting(wire.MEETING_STARTED)
            self.webhooks.person(wire.PARTICIPANT_JOINED, self.me)
            self.webhooks.stay(self.me, "meeting")
        self.set_status(MeetingStatus.MEETING_STATUS_INMEETING)
        self.fire("participants", "onUserJoinCallback", [self.me.uid], "")

    def _admitted(self, person: _Person) -> None:
        """`person` leaves the waiting room for the meeting (the bot or a host admitted)."""
        person.where = "meeting"
        if self.webhooks is not None:
            for event in (wire.PARTICIPANT_ADMITTED, wire.PARTICIPANT_LEFT_WAITING_ROOM):
                self.webhooks.person(event, person)
            self.webhooks.person(wire.PARTICIPANT_JOINED, person)
            self.webhooks.stay(person, "meeting")
        self.fire("participants", "onUserJoinCallback", [person.uid], person.name)

    def leave(self) -> Any:
        if self.me.where == "away":
            return SDKError.SDKERR_NOT_IN_MEETING
        self.me.where = "away"
        self.later(lambda: self.set_status(MeetingStatus.MEETING_STATUS_DISCONNECTING))
        self.later(lambda: self.set_status(MeetingStatus.MEETING_STATUS_ENDED))
        return OK

    # -- people side (call on the loop thread) -------------------------------------------

    def person_joins(
        self,
        name: str,
        *,
        role: Any = UserRole.USERROLE_ATTENDEE,
        accepts_requests: bool = True,
        email: str = "",
        registrant_id: str = "",
    ) -> int:
        person = self.people.get(name)
        if person is None:
            person = _Person(uid=0, name=name, pid=f"pid-{name}")
            self.people[name] = person
        person.uid = next(self._uids)
        person.role = role
        person.accepts_requests = accepts_requests
        person.email = email or person.email
        person.registrant_id = registrant_id or person.registrant_id
        privileged = role in PRIVILEGED
        person.muted = self.mute_on_entry and not privileged
        person.muted_by_host, person.self_unmute_blocked = person.muted, False
        person.video_on, person.video_by_host = self.video_on_entry, False
        held = self.waiting_room and not privileged
        person.where = "waiting" if held else "meeting"
        if self.webhooks is not None:
            if held:
                self.webhooks.person(wire.PARTICIPANT_JOINED_WAITING_ROOM, person)
                self.webhooks.stay(person, "waiting_room")
            else:
                self.webhooks.person(wire.PARTICIPANT_JOINED, person)
                self.webhooks.stay(person, "meeting")
        if not held:
            self.fire("participants", "onUserJoinCallback", [person.uid], name)
        return person.uid

    def host_admits(self, name: str) -> bool:
        person = self.people[name]
        if person.where != "waiting":
            return False
        self._admitted(person)
        return True

    def person_leaves(self, name: str) -> None:
        person = self.people[name]
        was = person.where
        person.where = "away"
        if self.webhooks is not None and was != "away":
            left = wire.PARTICIPANT_LEFT if was == "meeting" else wire.PARTICIPANT_LEFT_WAITING_ROOM
            self.webhooks.person(left, person)
            self.webhooks.stay(person, "")
        if was == "meeting":
            self.fire("participants", "onUserLeftCallback", [person.uid], name)

    def person_mutes(self, name: str) -> bool:
        person = self.people[name]
        if person.where != "meeting":
            return False
        if not person.muted:
            self._set_audio(person, muted=True, status=AudioStatus.Audio_Muted)
        person.muted_by_host = person.self_unmute_blocked = False
        return True

    def person_stops_video(self, name: str) -> bool:
        person = self.people[name]
        if person.where != "meeting":
            return False
        person.video_on, person.video_by_host = False, False
        return True

    def person_records(self, name: str) -> bool:
        """A local recording: needs permission, which a bot with rights forbade."""
        person = self.people[name]
        if person.where != "meeting":
            return False
        if person.role not in PRIVILEGED and not self.allow_local_recording_requests:
            return False
        return True

    def host_starts_cloud_recording(self, name: str) -> bool:
        person = self.people.get(name)
        if person is None or person.where != "meeting" or person.role not in PRIVILEGED:
            return False
        if not self.cloud_recording:
            self.cloud_recording = True
            if self.webhooks is not None:
                self.webhooks.recording_started()
        return True

    def person_unmutes(self, name: str) -> bool:
        person = self.people[name]
        if person.where != "meeting":
            return False
        if not person.muted:
            return True
        blocked = not self.allow_self_unmute or person.self_unmute_blocked
        if person.muted_by_host and blocked and person.role not in PRIVILEGED:
            return False
        self._set_audio(person, muted=False, status=AudioStatus.Audio_UnMuted)
        return True

    def person_starts_video(self, name: str) -> bool:
        person = self.people[name]
        if person.where != "meeting":
            return False
        if person.video_by_host and not self.allow_self_video and person.role not in PRIVILEGED:
            return False
        person.video_on = True
        return True

    def person_says(self, name: str, text: str, *, to_bot: bool = False, to_name: str = "") -> bool:
        person = self.people[name]
        if person.where != "meeting":
            return False
        if to_name:  # private between two people: only the webhook reports it
            other = self.people.get(to_name)
            if other is None or other.where != "meeting":
                return False
            self.chat_log.append(ChatLine(name, to_name, text))
            if self.webhooks is not None:
                self.webhooks.chat(person, other, text)
            return True
        if self.webhooks is not None:
            self.webhooks.chat(person, self.me if to_bot else None, text)
        kind = SDKChatMessageType.To_Individual if to_bot else SDKChatMessageType.To_All
        message = IChatMsgInfo(
            sender=person,
            receiver=self.me.uid if to_bot else 0,
            kind=kind,
            content=text,
            message_id=self.new_message_id(),
        )
        self.chat_log.append(ChatLine(name, "bot" if to_bot else "everyone", text))
        self.fire("chat", "onChatMsgNotificationCallback", message, text)
        return True

    def set_role(self, name: str, role: Any) -> None:
        person = self.me if name == "@bot" else self.people[name]
        old = person.role
        person.role = role
        if self.webhooks is not None and person.where == "meeting" and old != role:
            names = {UserRole.USERROLE_HOST: "host", UserRole.USERROLE_COHOST: "co-host"}
            self.webhooks.role_changed(
                person, names.get(old, "attendee"), names.get(role, "attendee")
            )
        if role == UserRole.USERROLE_HOST:
            self.fire("participants", "onHostChangeNotificationCallback", person.uid)
        else:
            is_co = role == UserRole.USERROLE_COHOST
            self.fire("participants", "onCoHostChangeNotificationCallback", person.uid, is_co)

    def end(self) -> None:
        if self.webhooks is not None:
            reason = "Host ended the meeting."
            for person in [self.me, *self.people.values()]:
                if person.where == "meeting":
                    left = f"{person.name} left the meeting.<br>Reason: {reason}"
                    self.webhooks.person(wire.PARTICIPANT_LEFT, person, leave_reason=left)
                elif person.where == "waiting":
                    self.webhooks.person(wire.PARTICIPANT_LEFT_WAITING_ROOM, person)
                if person.where != "away":
                    self.webhooks.stay(person, "")
        for person in self.people.values():
            person.where = "away"
        self.me.where = "away"
        self.cloud_recording = False
        if self.webhooks is not None:
            self.webhooks.meeting(wire.MEETING_ENDED)
        self.set_status(MeetingStatus.MEETING_STATUS_ENDED)

    def drop_bot(self, code: int) -> None:
        """The bot loses the meeting (network failure, or removed by the host: code 61)."""
        self.me.where = "away"
        self.set_status(MeetingStatus.MEETING_STATUS_FAILED, code)

    def _set_audio(self, person: _Person, *, muted: bool, status: Any) -> None:
        person.muted = muted
        self.fire(
            "audio", "onUserAudioStatusChangeCallback", [IUserAudioStatus(person.uid, status)], ""
        )

    def state_of(self, name: str) -> ParticipantInfo | None:
        person = self.people.get(name)
        if person is None or person.where == "away":
            return None
        role = {
            UserRole.USERROLE_HOST: ZoomRole.HOST,
            UserRole.USERROLE_COHOST: ZoomRole.CO_HOST,
        }.get(person.role, ZoomRole.ATTENDEE)
        return ParticipantInfo(
            user_id=str(person.uid),
            key=person.pid,
            name=person.name,
            email="",
            role=role,
            in_waiting_room=person.where == "waiting",
            audio_muted=person.muted,
            video_on=person.video_on,
        )


# ------------------------------------------------------------------------------ controllers


class _Controller:
    def __init__(self, world: World) -> None:
        self.w = world

    def _guard(self, what: str, *, rights: bool = False) -> Any:
        if not self.w.on_loop(what):
            return SDKError.SDKERR_WRONG_USAGE
        if self.w.me.where != "meeting":
            return SDKError.SDKERR_NOT_IN_MEETING
        if rights and not self.w.privileged():
            return SDKError.SDKERR_NO_PERMISSION
        return None

    def SetEvent(self, events: _Callbacks) -> Any:
        self.w.on_loop(f"{type(self).__name__}.SetEvent")
        self.w.events[self.KIND] = events
        return OK

    KIND = ""


class IMeetingWaitingRoomController(_Controller):
    KIND = "waiting_room"

    def _waiting(self, uid: int) -> _Person | None:
        person = self.w.by_uid(uid)
        return person if person is not None and person.where == "waiting" else None

    def GetWaitingRoomLst(self) -> list[int]:
        if self._guard("GetWaitingRoomLst", rights=True) is not None:
            return []
        return [p.uid for p in self.w.people.values() if p.where == "waiting"]

    def GetWaitingRoomUserInfoByID(self, uid: int) -> IUserInfo | None:
        if self._guard("GetWaitingRoomUserInfoByID", rights=True) is not None:
            return None
        person = self._waiting(uid)
        return IUserInfo(person) if person is not None else None

    def AdmitToMeeting(self, uid: int) -> Any:
        if (refused := self._guard("AdmitToMeeting", rights=True)) is not None:
            return refused
        person = self._waiting(uid)
        if person is None:
            return SDKError.SDKERR_INVALID_PARAMETER
        self.w._admitted(person)
        return OK

    def AdmitAllToMeeting(self) -> Any:
        if (refused := self._guard("AdmitAllToMeeting", rights=True)) is not None:
            return refused
        for person in list(self.w.people.values()):
            if person.where == "waiting":
                self.w._admitted(person)
        return OK

    def PutInWaitingRoom(self, uid: int) -> Any:
        if (refused := self._guard("PutInWaitingRoom", rights=True)) is not None:
            return refused
        person = self.w.by_uid(uid)
        if person is None or person.where != "meeting" or person.is_me:
            return SDKError.SDKERR_INVALID_PARAMETER
        if person.role == UserRole.USERROLE_HOST:
            return SDKError.SDKERR_NO_PERMISSION
        person.where = "waiting"
        if self.w.webhooks is not None:
            self.w.webhooks.person(wire.PARTICIPANT_PUT_IN_WAITING_ROOM, person)
            self.w.webhooks.person(wire.PARTICIPANT_LEFT, person)
            self.w.webhooks.stay(person, "waiting_room")
        self.w.fire("participants", "onUserLeftCallback", [uid], person.name)
        return OK

    def RenameUser(self, uid: int, name: str) -> Any:
        if (refused := self._guard("RenameUser", rights=True)) is not None:
            return refused
        person = self._waiting(uid)
        if person is None:
            return SDKError.SDKERR_INVALID_PARAMETER
        person.name = name
        return OK


class IMeetingParticipantsController(_Controller):
    KIND = "participants"

    def GetParticipantsList(self) -> list[int]:
        if self._guard("GetParticipantsList") is not None:
            return []
        return [p.uid for p in self.w.in_meeting()]

    def GetUserByUserID(self, uid: int) -> IUserInfo | None:
        if self._guard("GetUserByUserID") is not None:
            return None
        person = self.w.by_uid(uid)
        if person is None:
            return None
        if person.name in self.w.unresolvable_once:
            self.w.unresolvable_once.discard(person.name)
            return None
        return IUserInfo(person)

    def GetMySelfUser(self) -> IUserInfo | None:
        if not self.w.on_loop("GetMySelfUser") or self.w.me.where == "away":
            return None
        return IUserInfo(self.w.me)

    def AllowParticipantsToUnmuteSelf(self, allowed: bool) -> Any:
        if (refused := self._guard("AllowParticipantsToUnmuteSelf", rights=True)) is not None:
            return refused
        self.w.allow_self_unmute = allowed
        if allowed:
            for person in self.w.people.values():
                person.self_unmute_blocked = False
        return OK

    def AllowParticipantsToStartVideo(self, allowed: bool) -> Any:
        if (refused := self._guard("AllowParticipantsToStartVideo", rights=True)) is not None:
            return refused
        self.w.allow_self_video = allowed
        return OK

    def AllowParticipantsToRequestLocalRecording(self, allowed: bool) -> Any:
        what = "AllowParticipantsToRequestLocalRecording"
        if (refused := self._guard(what, rights=True)) is not None:
            return refused
        self.w.allow_local_recording_requests = allowed
        return OK

    def AutoAllowLocalRecordingRequest(self, allowed: bool) -> Any:
        if (refused := self._guard("AutoAllowLocalRecordingRequest", rights=True)) is not None:
            return refused
        return OK


class IMeetingAudioController(_Controller):
    KIND = "audio"

    def MuteAudio(self, uid: int, allowUnmuteBySelf: bool = True) -> Any:
        if (refused := self._guard("MuteAudio", rights=True)) is not None:
            return refused
        person = self.w.by_uid(uid)
        if person is None or person.where != "meeting":
            return SDKError.SDKERR_INVALID_PARAMETER
        person.muted_by_host = True
        person.self_unmute_blocked = not allowUnmuteBySelf
        if not person.muted:
            self.w._set_audio(person, muted=True, status=AudioStatus.Audio_Muted_ByHost)
        return OK

    def UnMuteAudio(self, uid: int) -> Any:
        if (refused := self._guard("UnMuteAudio", rights=True)) is not None:
            return refused
        person = self.w.by_uid(uid)
        if person is None or person.where != "meeting":
            return SDKError.SDKERR_INVALID_PARAMETER
        if person.accepts_requests and person.muted:  # a request: they may ignore it
            person.muted_by_host = person.self_unmute_blocked = False
            self.w._set_audio(person, muted=False, status=AudioStatus.Audio_UnMuted)
        return OK


class IMeetingVideoController(_Controller):
    KIND = "video"

    def CanStopAttendeeVideo(self, uid: int) -> Any:
        if (refused := self._guard("CanStopAttendeeVideo", rights=True)) is not None:
            return refused
        person = self.w.by_uid(uid)
        return (
            OK
            if person is not None and person.where == "meeting"
            else SDKError.SDKERR_INVALID_PARAMETER
        )

    def StopAttendeeVideo(self, uid: int) -> Any:
        if (refused := self._guard("StopAttendeeVideo", rights=True)) is not None:
            return refused
        person = self.w.by_uid(uid)
        if person is None or person.where != "meeting":
            return SDKError.SDKERR_INVALID_PARAMETER
        person.video_on, person.video_by_host = False, True
        return OK

    def AskAttendeeToStartVideo(self, uid: int) -> Any:
        if (refused := self._guard("AskAttendeeToStartVideo", rights=True)) is not None:
            return refused
        person = self.w.by_uid(uid)
        if person is None or person.where != "meeting":
            return SDKError.SDKERR_INVALID_PARAMETER
        if person.accepts_requests:
            person.video_on = True
        return OK


class IMeetingChatController(_Controller):
    KIND = "chat"

    def GetChatMessageBuilder(self) -> IChatMsgInfoBuilder:
        self.w.on_loop("GetChatMessageBuilder")
        return IChatMsgInfoBuilder(self.w)

    def SendChatMsgTo(self, message: IChatMsgInfo) -> Any:
        kind = message.GetChatMessageType()
        wr = kind == SDKChatMessageType.To_WaitingRoomUsers
        if (refused := self._guard("SendChatMsgTo", rights=wr)) is not None:
            return refused
        if kind == SDKChatMessageType.To_All:
            to = "everyone"
        elif wr:
            to = "waiting_room"
        else:
            person = self.w.by_uid(message.GetReceiverUserId())
            if person is None or person.where != "meeting":
                return SDKError.SDKERR_INVALID_PARAMETER
            to = person.name
        self.w.chat_log.append(ChatLine(self.w.me.name, to, message.GetContent()))
        if self.w.webhooks is not None and not wr:
            recipient = None if kind == SDKChatMessageType.To_All else person
            self.w.webhooks.chat(self.w.me, recipient, message.GetContent())
        return OK


class IMeetingRecordingController(_Controller):
    KIND = "recording"

    def DisAllowLocalRecording(self, uid: int) -> Any:
        if (refused := self._guard("DisAllowLocalRecording", rights=True)) is not None:
            return refused
        person = self.w.by_uid(uid)
        if person is None:
            return SDKError.SDKERR_INVALID_PARAMETER
        person.may_record_locally = False
        return OK


class IMeetingService(_Controller):
    KIND = "meeting"

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self._controllers = {
            "waiting_room": IMeetingWaitingRoomController(world),
            "participants": IMeetingParticipantsController(world),
            "audio": IMeetingAudioController(world),
            "video": IMeetingVideoController(world),
            "chat": IMeetingChatController(world),
            "recording": IMeetingRecordingController(world),
        }

    def Join(self, params: JoinParam) -> Any:
        if not self.w.on_loop("Join"):
            return SDKError.SDKERR_WRONG_USAGE
        _print_join_param(params)
        return self.w.join(params)

    def Leave(self, command: Any) -> Any:
        if not self.w.on_loop("Leave"):
            return SDKError.SDKERR_WRONG_USAGE
        return self.w.leave()

    def GetMeetingStatus(self) -> Any:
        return self.w.status

    def GetMeetingWaitingRoomController(self) -> IMeetingWaitingRoomController:
        return self._controllers["waiting_room"]  # type: ignore[return-value]

    def GetMeetingParticipantsController(self) -> IMeetingParticipantsController:
        return self._controllers["participants"]  # type: ignore[return-value]

    def GetMeetingAudioController(self) -> IMeetingAudioController:
        return self._controllers["audio"]  # type: ignore[return-value]

    def GetMeetingVideoController(self) -> IMeetingVideoController:
        return self._controllers["video"]  # type: ignore[return-value]

    def GetMeetingChatController(self) -> IMeetingChatController:
        return self._controllers["chat"]  # type: ignore[return-value]

    def GetMeetingRecordingController(self) -> IMeetingRecordingController:
        return self._controllers["recording"]  # type: ignore[return-value]


def _print_join_param(params: JoinParam) -> None:
    """What zoom-meeting-sdk 0.0.27's `Join` binding prints (its `printJoinParam`, with
    std::cout, so on file descriptor 1 below Python): every join parameter, secrets too."""
    p = params.param
    lines = [
        "JoinParam contents:",
        f"User Type: {params.userType.value}",
        "Without Login User Join Parameters:",
        f"  Meeting Number: {p.meetingNumber}",
        f"  Vanity ID: {p.vanityID}",
        f"  User Name: {p.userName}",
        f"  Password: {p.psw}",
        f"  Customer Key: {p.customer_key}",
        f"  Video Off: {int(p.isVideoOff)}",
        f"  Audio Off: {int(p.isAudioOff)}",
        f"  Join Token: {p.join_token}",
        f"  User ZAK: {p.userZAK}",
    ]
    os.write(1, ("\n".join(lines) + "\n").encode())


class IAuthService(_Controller):
    KIND = "auth"

    def SDKAuth(self, context: AuthContext) -> Any:
        if not self.w.on_loop("SDKAuth"):
            return SDKError.SDKERR_WRONG_USAGE
        return self.w.authenticate(context.jwt_token)


class ISettingService:
    pass


class FakeZoomSdk:
    """The module object: `sdk = FakeZoomSdk(world)` stands where `zoom_meeting_sdk` would."""

    MeetingStatus = MeetingStatus
    SDKError = SDKError
    AuthResult = AuthResult
    UserRole = UserRole
    SDKUserType = SDKUserType
    LeaveMeetingCmd = LeaveMeetingCmd
    SDK_LANGUAGE_ID = SDK_LANGUAGE_ID
    SDKChatMessageType = SDKChatMessageType
    AudioStatus = AudioStatus
    MeetingFailCode = MeetingFailCode
    InitParam = InitParam
    AuthContext = AuthContext
    JoinParam = JoinParam
    AuthServiceEventCallbacks = AuthServiceEventCallbacks
    MeetingServiceEventCallbacks = MeetingServiceEventCallbacks
    MeetingParticipantsCtrlEventCallbacks = MeetingParticipantsCtrlEventCallbacks
    MeetingAudioCtrlEventCallbacks = MeetingAudioCtrlEventCallbacks
    MeetingChatEventCallbacks = MeetingChatEventCallbacks

    def __init__(self, world: World) -> None:
        self.world = world
        self.initialised = False
        self.destroyed: list[str] = []

    def InitSDK(self, params: Any) -> Any:
        if not self.world.on_loop("InitSDK"):
            return SDKError.SDKERR_WRONG_USAGE
        if not params.strWebDomain:
            return SDKError.SDKERR_INVALID_PARAMETER
        self.initialised = True
        return OK

    def CreateMeetingService(self) -> IMeetingService:
        return IMeetingService(self.world)

    def CreateAuthService(self) -> IAuthService:
        return IAuthService(self.world)

    def CreateSettingService(self) -> ISettingService:
        return ISettingService()

    def DestroyMeetingService(self, _service: object) -> Any:
        self.destroyed.append("meeting")
        return OK

    def DestroyAuthService(self, _service: object) -> Any:
        self.destroyed.append("auth")
        return OK

    def DestroySettingService(self, _service: object) -> Any:
        self.destroyed.append("setting")
        return OK

    def CleanUPSDK(self) -> Any:
        self.destroyed.append("sdk")
        return OK
