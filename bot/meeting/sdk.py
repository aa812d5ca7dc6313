"""`SdkMeeting`: the Zoom Meeting SDK bot behind the `MeetingControl` port.

REST cannot admit, hold, mute, stop video or chat in a live meeting; a Meeting SDK bot with
host or co-host rights can (zoom-reference.md §2.1, §4.3). This adapter drives the
`zoom-meeting-sdk` Python bindings (extra `balint-bot[sdk]`, Linux x86_64), imported lazily
so the rest of the project never needs them.

How it runs:
- Auth with a JWT signed by pyjwt (`bot.meeting.sdk_jwt`), then join with the ZAK of the
  bot's own Zoom user, an alternative host of the meeting: it opens the room as host, or
  arrives as co-host when the host is there.
- The SDK lives on its own thread running a GLib main loop; every SDK call is marshalled
  onto it (`bot.meeting.sdk_loop.SdkThread`) and awaited from asyncio.
- Every callback is wrapped so that no exception ever reaches the SDK (a Python exception
  inside a nanobind callback aborts the process; attendee PR #929).
- Participant, audio and chat callbacks are copied into SDK-shaped notices and translated
  by `bot.meeting.sdk_observer.SdkObserver` (the one translation, which the simulator uses
  too) into engine events for the listener. The bindings have no waiting-room or video
  callbacks, so the waiting room, video and roles are polled (`GetWaitingRoomLst()`,
  `IsVideoOn()`, `GetUserRole()`) on a GLib timer. Ids that `GetUserByUserID` cannot
  resolve yet (reconnects) are retried on later polls.
- An action's target is resolved before it is refused (`resolve`): the user id the engine
  has may come from a webhook, so someone not in the SDK's lists under it is looked up by
  their other ids (persistent id, participant uuid, earlier user ids) and then their name.
- During the one-way mirror the presenter is muted without self-unmute (`MuteAudio`'s
  `allowUnmuteBySelf`), the per-person switch Zoom offers.
- Recording callbacks are deliberately NOT registered: their argument type
  (`RecordingStatus`) is not bound in zoom-meeting-sdk 0.0.27, so the SDK could not call
  them. Participants' local-recording requests are forbidden as soon as the bot has rights;
  `stop_recording` stops a cloud recording through REST and revokes local recording.
- The join is watched: stuck in CONNECTING for 60 s (the Linux SDK hangs there on a wrong
  passcode), waiting for an absent host, parked in the waiting room, and every
  `MeetingFailCode` end the join with `SdkJoinError` and a clear message. Waiting for the
  host is said at once (the ZAK join could not open the room: the bot's user is not an
  alternative host); if the host then comes, the host (and co-hosts) are told privately too.
- The binding prints its join parameters (ZAK and passcode included) to stdout; the join
  process discards that stdout (`bot.commands.join_cmd`) and nothing here logs them.
- Without host or co-host rights it tells the host and co-hosts privately how to make it
  co-host and which protections are off, and every action that needs rights raises
  `MeetingControlError("not_privileged")`, so the engine's outcomes show what did not
  happen (the engine reports those refusals to the facilitators it recognises). Only Zoom's
  role is trusted here, as for a facilitator's rights (`phases.identity`): a display name
  is typed by whoever joins, and the SDK reports no registrant id or e-mail, so a stranger
  showing a leader's name is never told which protections are off.
- It leaves cleanly when the meeting ends (the listener gets `MeetingEnded`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.config import Settings
from bot.errors import ConfigError, MeetingControlError
from bot.meeting import sdk_observer as sdk_seen
from bot.meeting.port import Addressee, ChatTo, EventListener, ParticipantInfo, pick_addressee
from bot.meeting.sdk_codes import AUTH_MESSAGES, fail_message, refusal_for
from bot.meeting.sdk_jwt import make_sdk_jwt
from bot.meeting.sdk_loop import GLibLoop, MainLoop, SdkThread
from bot.zoom_api.client import ZoomClient
from bot.zoom_api.errors import ZoomApiError, ZoomRequestError
from phases.errors import BalintError
from phases.events import Event, ZoomRole
from storage.clock import Clock, system_clock
from storage.text import display_text

__all__ = [
    "JoinTicket",
    "SdkJoinError",
    "SdkMeeting",
    "SdkOptions",
    "load_sdk",
    "open_sdk_meeting",
    "unprivileged_notice",
    "waiting_for_host_notice",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: MeetingFailCode CONF_FAIL_REMOVED_BY_HOST: the host removed the bot; do not rejoin.
_REMOVED_BY_HOST = 61


class SdkJoinError(BalintError):
    """The bot could not get into the meeting.

    Args:
        code: `init_failed`, `auth_failed`, `join_failed`, `stuck_connecting`,
            `host_absent`, `held_in_waiting_room` or `meeting_ended`.
        message: what happened and what to do.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class SdkOptions:
    """Timing of the SDK bot, in seconds."""

    connect_timeout: float = 60.0
    auth_timeout: float = 60.0
    host_wait_timeout: float = 600.0
    waiting_room_timeout: float = 600.0
    poll_interval: float = 2.0
    resolve_attempts: int = 5
    leave_timeout: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinTicket:
    """Everything the SDK needs to join: number, passcode, the bot user's ZAK, the JWT."""

    meeting_number: int
    passcode: str
    zak: str
    jwt: str
    display_name: str


def load_sdk() -> Any:
    """Import the `zoom_meeting_sdk` bindings.

    Raises:
        ConfigError: they are not installed (`pip install 'balint-bot[sdk]'`, Linux x86_64).
    """
    try:
        return importlib.import_module("zoom_meeting_sdk")
    except ImportError as missing:
        raise ConfigError(
            "the Meeting SDK bot needs the zoom-meeting-sdk bindings: "
            "pip install 'balint-bot[sdk]' (Linux x86_64 only)"
        ) from missing


def waiting_for_host_notice(bot_name: str) -> str:
    """What the log and, once a host is in, the host and co-hosts hear when the ZAK join
    left the bot waiting for the host (it could not open the room)."""
    return (
        f"{bot_name} could not open the room: Zoom kept it waiting for the host, so nobody "
        "was admitted or protected until a host arrived. Make the bot's Zoom user an "
        "alternative host of the meeting (balint-bot doctor --fix), or have a human host "
        "open the room before the group."
    )


def _info(user: sdk_seen.SdkUser, *, waiting: bool) -> ParticipantInfo:
    return ParticipantInfo(
        user_id=str(user.user_id),
        key=user.key,
        name=user.name,
        email="",
        role=sdk_seen.zoom_role(user.role),
        in_waiting_room=waiting,
        audio_muted=user.audio_muted,
        video_on=user.video_on,
        is_bot=user.is_me,
    )


def unprivileged_notice(bot_name: str) -> str:
    """The private line the host and co-hosts get while the bot has no host or co-host rights."""
    return (
        f"{bot_name} is in the meeting without host or co-host rights, so these protections "
        "are OFF: admitting and holding people in the waiting room, muting and stopping "
        "video (the one-way mirror), and stopping recordings. To turn them on: open "
        f'Participants, hover over "{bot_name}", click More, then Make co-host.'
    )


def _name_of(value: Any) -> str:
    return str(getattr(value, "name", value))


class SdkMeeting:
    """The Meeting SDK bot as a `MeetingControl` (see the module docstring).

    Args:
        sdk: the `zoom_meeting_sdk` module (or a faithful double in tests).
        thread: the SDK thread (GLib main loop) every SDK call runs on.
        meeting_id: the meeting number, for REST calls (cloud recording stop).
        rest: the Zoom REST client, or None to skip REST.
        options: timeouts and polling interval.
    """

    def __init__(
        self,
        sdk: Any,
        thread: SdkThread,
        *,
        meeting_id: str,
        rest: ZoomClient | None = None,
        options: SdkOptions | None = None,
    ) -> None:
        self._sdk = sdk
        self._thread = thread
        self._meeting_id = meeting_id
        self._rest = rest
        self._options = options or SdkOptions()
        self._listener: EventListener | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._joined: asyncio.Future[None] | None = None
        self._closed = asyncio.Event()
        self._display_name = ""
        # Everything below is touched on the SDK thread only.
        self._status_name = "MEETING_STATUS_IDLE"
        self._in_meeting = False
        self._ended = False
        self._join_settled = False
        self._ticket: JoinTicket | None = None
        self._svc: Any = None
        self._auth_svc: Any = None
        self._setting_svc: Any = None
        self._parts: Any = None
        self._audio: Any = None
        self._video: Any = None
        self._chat: Any = None
        self._wr: Any = None
        self._rec: Any = None
        self._callbacks: list[Any] = []
        self._observer = sdk_seen.SdkObserver()
        self._unresolved: dict[int, int] = {}
        self._timers: dict[str, int] = {}
        self._privileged = False
        self._notice_sent = False
        #: the ZAK join waited for the host (the bot could not open the room): the
        #: host and co-hosts are told once one is in
        self._waited_for_host = False
        #: Set when the bot dropped out of a running meeting (the join process then exits
        #: non-zero so its supervisor rejoins, unless the host removed it on purpose).
        self.failure: SdkJoinError | None = None
        self.removed_by_host = False
        self._leaving = False

    # ---------------------------------------------------------------- lifecycle (asyncio)

    @property
    def closed(self) -> asyncio.Event:
        """Set once the meeting has ended or the bot has left."""
        return self._closed

    async def join(self, ticket: JoinTicket) -> None:
        """Authenticate, join and wait until the bot is in the meeting.

        Raises:
            SdkJoinError: authentication or joining failed (the message says why).
        """
        self._display_name = ticket.display_name
        self._ticket = ticket
        self._joined = self._thread.aio.create_future()
        if self._pump is None:
            self._pump = asyncio.create_task(self._deliver_events(), name="sdk-events")
        self._thread.start()
        await self._thread.call(self._start_auth)
        try:
            await self._joined
        except SdkJoinError:
            await self._release()
            raise

    async def leave(self) -> None:
        """Leave the meeting (if in it), wait for the SDK to confirm, and release the SDK."""
        if self._thread.running:
            await self._thread.call(self._leave_now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self._options.leave_timeout)
        await self._release()

    async def settle(self) -> None:
        """Wait until everything the SDK has reported so far reached the listener."""
        if self._thread.running:
            await self._thread.call(lambda: None)
        await self._queue.join()

    async def poll_now(self) -> None:
        """Run one waiting-room / video / rights poll now (normally done by the timer)."""
        await self._thread.call(self._poll)

    async def _release(self) -> None:
        if self._thread.running:
            await self._thread.call(self._destroy)
            self._thread.stop()
        await self._queue.join()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        self._closed.set()

    async def _act(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the SDK thread, then let the listener see the events it caused.

        Like the simulator, an action returns only after its events reached the listener
        (unless the listener itself is acting: then waiting would deadlock).
        """
        result = await self._thread.call(fn)
        if asyncio.current_task() is not self._pump:
            await self._queue.join()
        return result

    async def _deliver_events(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                if self._listener is not None:
                    await self._listener(event)
            except Exception:
                logger.exception("meeting listener failed on %s", type(event).__name__)
            finally:
                self._queue.task_done()

    # ------------------------------------------------------------ the port (MeetingControl)

    def set_listener(self, listener: EventListener | None) -> None:
        self._listener = listener

    async def admit(self, user_id: str) -> None:
        await self._act(lambda: self._admit(user_id))

    async def admit_all(self) -> None:
        await self._act(self._admit_all)

    async def put_in_waiting_room(self, user_id: str) -> None:
        await self._act(lambda: self._put_in_waiting_room(user_id))

    async def rename(self, user_id: str, new_name: str) -> None:
        await self._act(lambda: self._rename(user_id, new_name))

    async def mute(self, user_id: str, *, allow_self_unmute: bool = True) -> None:
        await self._act(lambda: self._mute(user_id, allow_self_unmute))

    async def stop_video(self, user_id: str) -> None:
        await self._act(lambda: self._stop_video(user_id))

    async def ask_unmute(self, user_id: str) -> None:
        await self._act(lambda: self._ask_unmute(user_id))

    async def ask_start_video(self, user_id: str) -> None:
        await self._act(lambda: self._ask_start_video(user_id))

    async def allow_self_unmute(self, allowed: bool) -> None:
        await self._act(lambda: self._allow_self_unmute(allowed))

    async def allow_self_video(self, allowed: bool) -> None:
        await self._act(lambda: self._allow_self_video(allowed))

    async def stop_recording(self) -> None:
        """Stop a cloud recording through REST and revoke every local-recording permission."""
        rest_problem = ""
        if self._rest is not None and self._meeting_id:
            try:
                await self._rest.stop_cloud_recording(self._meeting_id)
            except ZoomRequestError as nothing:
                # Zoom answers 4xx when no cloud recording is running: nothing to stop.
                logger.info("cloud recording stop: %s", nothing.message)
            except ZoomApiError as failed:
                rest_problem = failed.message
        await self._act(self._revoke_local_recording)
        if rest_problem:
            raise MeetingControlError(
                "sdk_error", f"could not stop a cloud recording through REST: {rest_problem}"
            )

    async def send_chat(self, text: str, *, to: ChatTo, user_id: str = "") -> None:
        await self._act(lambda: self._send_chat(text, to, user_id))

    async def resolve(self, who: Addressee) -> str:
        return await self._act(lambda: self._resolve(who))

    async def list_participants(self) -> list[ParticipantInfo]:
        return await self._act(self._list_participants)

    async def list_waiting_room(self) -> list[ParticipantInfo]:
        return await self._act(self._list_waiting_room)

    # ------------------------------------------------------------- SDK thread: join flow

    def _guard(self, name: str, fn: Callable[..., None]) -> Callable[..., None]:
        """Wrap an SDK callback: an exception escaping into nanobind would abort the bot."""

        def guarded(*args: Any) -> None:
            try:
                fn(*args)
            except BaseException:  # nothing may reach the SDK, not even SystemExit
                logger.exception("Zoom SDK callback %s failed (ignored)", name)

        return guarded

    def _ok(self, result: Any) -> bool:
        return bool(result == self._sdk.SDKError.SDKERR_SUCCESS)

    def _start_auth(self) -> None:
        sdk = self._sdk
        params = sdk.InitParam()
        params.strWebDomain = "https://zoom.us"
        params.strSupportUrl = "https://zoom.us"
        params.emLanguageID = sdk.SDK_LANGUAGE_ID.LANGUAGE_English
        params.enableLogByDefault = True
        params.enableGenerateDump = True
        result = sdk.InitSDK(params)
        if not self._ok(result):
            self._fail("init_failed", f"InitSDK returned {_name_of(result)}")
            return
        self._svc = sdk.CreateMeetingService()
        self._setting_svc = sdk.CreateSettingService()
        self._auth_svc = sdk.CreateAuthService()
        status_events = sdk.MeetingServiceEventCallbacks(
            onMeetingStatusChangedCallback=self._guard("meeting status", self._on_status)
        )
        auth_events = sdk.AuthServiceEventCallbacks(
            onAuthenticationReturnCallback=self._guard("authentication", self._on_auth)
        )
        self._callbacks += [status_events, auth_events]
        self._svc.SetEvent(status_events)
        self._auth_svc.SetEvent(auth_events)
        context = sdk.AuthContext()
        assert self._ticket is not None
        context.jwt_token = self._ticket.jwt
        result = self._auth_svc.SDKAuth(context)
        if not self._ok(result):
            self._fail("auth_failed", f"SDKAuth returned {_name_of(result)}")
            return
        self._start_timer("auth", self._options.auth_timeout, self._auth_timed_out)

    def _auth_timed_out(self) -> None:
        self._fail("auth_failed", AUTH_MESSAGES["AUTHRET_OVERTIME"])

    def _on_auth(self, result: Any) -> None:
        self._stop_timer("auth")
        name = _name_of(result)
        if name != "AUTHRET_SUCCESS":
            self._fail("auth_failed", AUTH_MESSAGES.get(name, f"SDK auth failed ({name})"))
            return
        sdk = self._sdk
        assert self._ticket is not None
        join = sdk.JoinParam()
        join.userType = sdk.SDKUserType.SDK_UT_WITHOUT_LOGIN
        param = join.param
        param.meetingNumber = self._ticket.meeting_number
        param.userName = self._ticket.display_name
        param.psw = self._ticket.passcode
        param.userZAK = self._ticket.zak
        param.isVideoOff = True
        param.isAudioOff = True
        result = self._svc.Join(join)
        if not self._ok(result):
            self._fail("join_failed", f"Join returned {_name_of(result)}")

    def _on_status(self, status: Any, result: int) -> None:
        name = _name_of(status)
        self._status_name = name
        logger.info("meeting status %s (%s)", name, result)
        if name == "MEETING_STATUS_CONNECTING":
            self._start_timer("connect", self._options.connect_timeout, self._stuck_connecting)
        elif name == "MEETING_STATUS_WAITINGFORHOST":
            self._stop_timer("connect")
            if not self._waited_for_host:
                self._waited_for_host = True
                logger.warning("%s", waiting_for_host_notice(self._display_name))
            self._start_timer("host", self._options.host_wait_timeout, self._host_absent)
        elif name == "MEETING_STATUS_IN_WAITING_ROOM":
            self._stop_timer("connect")
            self._start_timer("held", self._options.waiting_room_timeout, self._held)
        elif name == "MEETING_STATUS_INMEETING":
            for timer in ("connect", "host", "held"):
                self._stop_timer(timer)
            if not self._in_meeting:
                self._enter_meeting()
        elif name == "MEETING_STATUS_FAILED":
            if self._in_meeting:
                # Dropped mid-meeting (network, removed by the host, ...): not an end.
                self.failure = SdkJoinError("dropped", fail_message(int(result)))
                self.removed_by_host = int(result) == _REMOVED_BY_HOST
                logger.error("SDK bot dropped out of the meeting: %s", self.failure.message)
            self._fail("join_failed", f"Zoom refused the join: {fail_message(int(result))}")
            self._meeting_over(ended=False)
        elif name == "MEETING_STATUS_ENDED":
            self._fail("meeting_ended", "the meeting ended before the bot got in")
            self._meeting_over(ended=True)

    def _stuck_connecting(self) -> None:
        if self._status_name == "MEETING_STATUS_CONNECTING":
            self._leave_now()
            self._fail(
                "stuck_connecting",
                f"still connecting after {self._options.connect_timeout:.0f} s; Zoom's Linux "
                "SDK hangs here on a wrong passcode: check the meeting's passcode",
            )

    def _host_absent(self) -> None:
        self._leave_now()
        self._fail(
            "host_absent",
            "waited for the host too long: the bot's Zoom user must be an alternative host "
            "of the meeting (balint-bot doctor checks it) and join with its ZAK",
        )

    def _held(self) -> None:
        self._leave_now()
        self._fail(
            "held_in_waiting_room",
            "the bot was kept in the waiting room: it joined as an attendee; make its Zoom "
            "user an alternative host (balint-bot doctor --fix)",
        )

    def _fail(self, code: str, message: str) -> None:
        for timer in ("auth", "connect", "host", "held"):
            self._stop_timer(timer)
        if self._join_settled:
            return
        self._join_settled = True
        logger.error("SDK bot could not join: %s: %s", code, message)
        error = SdkJoinError(code, message)
        joined = self._joined

        def deliver() -> None:
            if joined is not None and not joined.done():
                joined.set_exception(error)

        self._thread.to_asyncio(deliver)

    def _enter_meeting(self) -> None:
        sdk = self._sdk
        self._in_meeting = True
        self._parts = self._svc.GetMeetingParticipantsController()
        self._audio = self._svc.GetMeetingAudioController()
        self._video = self._svc.GetMeetingVideoController()
        self._chat = self._svc.GetMeetingChatController()
        self._wr = self._svc.GetMeetingWaitingRoomController()
        self._rec = self._svc.GetMeetingRecordingController()
        participant_events = sdk.MeetingParticipantsCtrlEventCallbacks(
            onUserJoinCallback=self._guard("user join", self._on_user_join),
            onUserLeftCallback=self._guard("user left", self._on_user_left),
            onHostChangeNotificationCallback=self._guard("host change", self._on_host_change),
            onCoHostChangeNotificationCallback=self._guard("co-host change", self._on_cohost),
            onUserNamesChangedCallback=self._guard("names changed", self._on_names_changed),
        )
        audio_events = sdk.MeetingAudioCtrlEventCallbacks(
            onUserAudioStatusChangeCallback=self._guard("audio status", self._on_audio)
        )
        chat_events = sdk.MeetingChatEventCallbacks(
            onChatMsgNotificationCallback=self._guard("chat", self._on_chat)
        )
        self._callbacks += [participant_events, audio_events, chat_events]
        self._parts.SetEvent(participant_events)
        self._audio.SetEvent(audio_events)
        self._chat.SetEvent(chat_events)
        self._observe(sdk_seen.InMeeting(users=self._resolve_users(self._meeting_ids())))
        self._refresh_rights()
        self._notify_waited_for_host()
        self._poll_waiting_room()
        self._timers["poll"] = self._thread.loop.add_timer(
            self._options.poll_interval, self._poll_tick
        )
        self._join_settled = True
        joined = self._joined

        def deliver() -> None:
            if joined is not None and not joined.done():
                joined.set_result(None)

        self._thread.to_asyncio(deliver)

    def _meeting_over(self, *, ended: bool) -> None:
        was_in = self._in_meeting
        self._in_meeting = False
        self._ended = True
        self._stop_timer("poll")
        if was_in:
            self._observe(sdk_seen.MeetingOver(ended=ended and not self._leaving))
        self._thread.to_asyncio(self._closed.set)

    def _leave_now(self) -> None:
        if self._svc is not None and not self._ended:
            self._leaving = True  # the ENDED status that follows is our leaving, not the end
            self._svc.Leave(self._sdk.LeaveMeetingCmd.LEAVE_MEETING)

    def _destroy(self) -> None:
        for name in list(self._timers):
            self._stop_timer(name)
        sdk = self._sdk
        if self._svc is not None:
            sdk.DestroyMeetingService(self._svc)
        if self._setting_svc is not None:
            sdk.DestroySettingService(self._setting_svc)
        if self._auth_svc is not None:
            sdk.DestroyAuthService(self._auth_svc)
            sdk.CleanUPSDK()
        self._svc = self._setting_svc = self._auth_svc = None

    def _start_timer(self, name: str, seconds: float, fire: Callable[[], None]) -> None:
        if name in self._timers:
            return

        def once() -> bool:
            self._timers.pop(name, None)
            try:
                fire()
            except Exception:
                logger.exception("SDK timer %s failed", name)
            return False

        self._timers[name] = self._thread.loop.add_timer(seconds, once)

    def _stop_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            self._thread.loop.remove_timer(handle)

    # ----------------------------------------------------------- SDK thread: callbacks

    def _emit(self, event: Event) -> None:
        self._thread.to_asyncio(lambda: self._queue.put_nowait(event))

    def _observe(self, notice: sdk_seen.Notice) -> None:
        """Translate one SDK-shaped notice (`bot.meeting.sdk_observer`) and emit its events."""
        for event in self._observer.observe(notice):
            self._emit(event)

    def _user(self, info: Any) -> sdk_seen.SdkUser:
        """An `IUserInfo` copied into a plain value (on the SDK thread)."""
        return sdk_seen.SdkUser(
            user_id=int(info.GetUserID()),
            persistent_id=str(info.GetPersistentId() or ""),
            name=display_text(str(info.GetUserName())),
            role=_name_of(info.GetUserRole()),
            audio_muted=bool(info.IsAudioMuted()),
            video_on=bool(info.IsVideoOn()),
            is_me=bool(info.IsMySelf()),
            phone=bool(info.IsPurePhoneUser()),
        )

    def _role(self, info: Any) -> ZoomRole:
        return sdk_seen.zoom_role(_name_of(info.GetUserRole()))

    def _resolve_users(self, user_ids: Iterable[int]) -> tuple[sdk_seen.SdkUser, ...]:
        """The users in the meeting proper among `user_ids`; ids Zoom cannot resolve yet
        (reconnects, attendee PR #929) are kept for the next polls."""
        found = []
        for user_id in user_ids:
            info = self._parts.GetUserByUserID(int(user_id))
            if info is None:
                self._unresolved.setdefault(int(user_id), 0)
                continue
            self._unresolved.pop(int(user_id), None)
            if not info.IsInWaitingRoom():
                found.append(self._user(info))
        return tuple(found)

    def _see_joins(self, user_ids: Iterable[int]) -> None:
        users = self._resolve_users(user_ids)
        if users:
            self._observe(sdk_seen.UsersJoined(users=users))
        if not self._notice_sent and not self._privileged and any(not u.is_me for u in users):
            self._notify_unprivileged()
        if self._waited_for_host and any(not u.is_me for u in users):
            self._notify_waited_for_host()

    def _on_user_join(self, user_ids: Iterable[int], _names: str = "") -> None:
        self._see_joins(int(user_id) for user_id in user_ids)

    def _on_user_left(self, user_ids: Iterable[int], _names: str = "") -> None:
        ids = tuple(int(user_id) for user_id in user_ids)
        for user_id in ids:
            self._unresolved.pop(user_id, None)
        self._observe(sdk_seen.UsersLeft(user_ids=ids))

    def _see_changes(self, user_ids: Iterable[int]) -> None:
        users = []
        for user_id in user_ids:
            info = self._parts.GetUserByUserID(int(user_id))
            if info is not None:
                users.append(self._user(info))
        self._observe(sdk_seen.UsersChanged(users=tuple(users)))
        if any(u.is_me for u in users):
            self._refresh_rights()

    def _on_host_change(self, user_id: int) -> None:
        self._sync_roles()
        self._see_changes([int(user_id)])

    def _on_cohost(self, user_id: int, _is_cohost: bool) -> None:
        self._see_changes([int(user_id)])

    def _on_names_changed(self, user_ids: Iterable[int]) -> None:
        self._see_changes(int(user_id) for user_id in user_ids)

    def _on_audio(self, statuses: Iterable[Any], _names: str = "") -> None:
        changes = tuple(
            (int(status.GetUserId()), _name_of(status.GetStatus())) for status in statuses
        )
        self._observe(sdk_seen.AudioChanged(changes=changes))

    def _on_chat(self, message: Any, _content: str = "") -> None:
        self._observe(
            sdk_seen.ChatReceived(
                sender_id=int(message.GetSenderUserId()),
                sender_name=display_text(str(message.GetSenderDisplayName())),
                receiver_id=int(message.GetReceiverUserId()),
                to_all=bool(message.IsChatToAll()),
                content=str(message.GetContent()),
                message_id=str(message.GetMessageID()),
            )
        )

    def _poll_tick(self) -> bool:
        try:
            self._poll()
        except Exception:
            logger.exception("SDK poll failed (will retry)")
        return self._in_meeting

    def _poll(self) -> None:
        if not self._in_meeting:
            return
        retry = []
        for user_id in list(self._unresolved):
            self._unresolved[user_id] += 1
            if self._unresolved[user_id] > self._options.resolve_attempts:
                logger.warning("giving up on resolving SDK user %s", user_id)
                del self._unresolved[user_id]
                continue
            retry.append(user_id)
        if retry:
            self._see_joins(retry)
        self._poll_waiting_room()
        self._sync_roles()
        self._refresh_rights()

    def _poll_waiting_room(self) -> None:
        if not self._privileged:
            return  # only a host or co-host sees the waiting room
        waiting = []
        for user_id in self._wr.GetWaitingRoomLst():
            info = self._wr.GetWaitingRoomUserInfoByID(int(user_id))
            if info is not None:  # not resolvable yet: the next poll retries
                waiting.append(self._user(info))
        self._observe(
            sdk_seen.WaitingRoomPolled(
                waiting=tuple(waiting), in_meeting=tuple(sorted(self._meeting_ids()))
            )
        )

    def _sync_roles(self) -> None:
        """Poll role and video of everyone seen (the bindings report video changes never)."""
        self._see_changes(list(self._observer.people))

    # -------------------------------------------------------- SDK thread: rights, notice

    def _me(self) -> Any:
        return self._parts.GetMySelfUser() if self._parts is not None else None

    def _me_id(self) -> int:
        me = self._me()
        return int(me.GetUserID()) if me is not None else -1

    def _has_rights(self) -> bool:
        me = self._me()
        return me is not None and self._role(me) in (ZoomRole.HOST, ZoomRole.CO_HOST)

    def _refresh_rights(self) -> None:
        privileged = self._has_rights()
        if privileged and not self._privileged:
            self._privileged = True
            self._notice_sent = False
            self._apply_protections()
            logger.info("SDK bot has host or co-host rights")
        elif not privileged and (self._privileged or not self._notice_sent):
            if self._privileged:
                logger.warning("SDK bot lost its host or co-host rights")
            self._privileged = False
            self._notify_unprivileged()

    def _apply_protections(self) -> None:
        # Forbid participants' local-recording requests: the group is confidential.
        results = (
            self._parts.AllowParticipantsToRequestLocalRecording(False),
            self._parts.AutoAllowLocalRecordingRequest(False),
        )
        for result in results:
            if not self._ok(result):
                logger.warning("could not forbid local recording: %s", _name_of(result))

    def _tell_hosts(self, text: str, what: str) -> int:
        """Send `text` privately to the host and co-hosts present (Zoom's role, never a
        display name: see the module docstring); returns how many were told (0: nobody to
        tell yet)."""
        recipients = [
            user
            for user in self._observer.people.values()
            if sdk_seen.zoom_role(user.role) in (ZoomRole.HOST, ZoomRole.CO_HOST)
        ]
        for user in recipients:
            result = self._send(text, self._sdk.SDKChatMessageType.To_Individual, user.user_id)
            if not self._ok(result):
                logger.warning("%s not sent: %s", what, _name_of(result))
        return len(recipients)

    def _notify_unprivileged(self) -> None:
        if self._notice_sent or not self._in_meeting:
            return
        told = self._tell_hosts(unprivileged_notice(self._display_name), "no-rights notice")
        if not told:
            return  # told as soon as a host or co-host is present
        self._notice_sent = True
        logger.warning("SDK bot has no host or co-host rights; told %d people", told)

    def _notify_waited_for_host(self) -> None:
        if not self._waited_for_host or not self._in_meeting:
            return
        told = self._tell_hosts(
            waiting_for_host_notice(self._display_name), "waited-for-host notice"
        )
        if told:
            self._waited_for_host = False

    # -------------------------------------------------------- SDK thread: port actions

    def _require_meeting(self) -> None:
        if not self._in_meeting:
            raise MeetingControlError("meeting_not_running", "the bot is not in a meeting")

    def _require_rights(self, what: str) -> None:
        self._require_meeting()
        if not self._has_rights():
            raise MeetingControlError(
                "not_privileged", f"the bot is not host or co-host, so it cannot {what}"
            )

    def _check(self, result: Any, what: str) -> None:
        if self._ok(result):
            return
        name = _name_of(result)
        raise MeetingControlError(refusal_for(name), f"{what}: the Zoom SDK returned {name}")

    @staticmethod
    def _id(user_id: str) -> int:
        try:
            return int(user_id)
        except ValueError:
            raise MeetingControlError(
                "no_such_participant", f"{user_id!r} is not a Zoom user id"
            ) from None

    def _waiting_ids(self) -> set[int]:
        return {int(user_id) for user_id in self._wr.GetWaitingRoomLst()}

    def _meeting_ids(self) -> set[int]:
        return {int(user_id) for user_id in self._parts.GetParticipantsList()}

    def _require_waiting(self, user_id: str) -> int:
        uid = self._id(user_id)
        if uid in self._waiting_ids():
            return uid
        if uid in self._meeting_ids():
            raise MeetingControlError("not_in_waiting_room", f"user {uid} is not waiting")
        raise MeetingControlError("no_such_participant", f"no user {uid} in the meeting")

    def _require_present(self, user_id: str) -> int:
        uid = self._id(user_id)
        if uid in self._meeting_ids():
            return uid
        if uid in self._waiting_ids():
            raise MeetingControlError("not_in_meeting", f"user {uid} is in the waiting room")
        raise MeetingControlError("no_such_participant", f"no user {uid} in the meeting")

    def _admit(self, user_id: str) -> None:
        self._require_rights("admit from the waiting room")
        uid = self._require_waiting(user_id)
        self._check(self._wr.AdmitToMeeting(uid), "admit")

    def _admit_all(self) -> None:
        self._require_rights("admit from the waiting room")
        self._check(self._wr.AdmitAllToMeeting(), "admit all")

    def _put_in_waiting_room(self, user_id: str) -> None:
        self._require_rights("put people in the waiting room")
        uid = self._require_present(user_id)
        info = self._parts.GetUserByUserID(uid)
        if info is not None and info.IsMySelf():
            raise MeetingControlError("not_allowed", "the bot cannot hold itself")
        if info is not None and info.IsHost():
            raise MeetingControlError("not_allowed", "Zoom cannot put the host in the waiting room")
        self._check(self._wr.PutInWaitingRoom(uid), "put in waiting room")

    def _rename(self, user_id: str, new_name: str) -> None:
        self._require_rights("rename people")
        uid = self._require_waiting(user_id)
        self._check(self._wr.RenameUser(uid, new_name), "rename")

    def _mute(self, user_id: str, allow_self_unmute: bool) -> None:
        self._require_rights("mute people")
        uid = self._require_present(user_id)
        self._check(self._audio.MuteAudio(uid, allow_self_unmute), "mute")

    def _stop_video(self, user_id: str) -> None:
        self._require_rights("stop people's video")
        uid = self._require_present(user_id)
        self._check(self._video.CanStopAttendeeVideo(uid), "stop video")
        self._check(self._video.StopAttendeeVideo(uid), "stop video")
        self._see_changes([uid])

    def _ask_unmute(self, user_id: str) -> None:
        self._require_rights("ask people to unmute")
        uid = self._require_present(user_id)
        self._check(self._audio.UnMuteAudio(uid), "ask to unmute")

    def _ask_start_video(self, user_id: str) -> None:
        self._require_rights("ask people to start video")
        uid = self._require_present(user_id)
        self._check(self._video.AskAttendeeToStartVideo(uid), "ask to start video")
        self._see_changes([uid])  # accepted at once, or the next poll sees it

    def _allow_self_unmute(self, allowed: bool) -> None:
        self._require_rights("change who may unmute")
        self._check(self._parts.AllowParticipantsToUnmuteSelf(allowed), "allow self-unmute")

    def _allow_self_video(self, allowed: bool) -> None:
        self._require_rights("change who may start video")
        self._check(self._parts.AllowParticipantsToStartVideo(allowed), "allow self-video")

    def _revoke_local_recording(self) -> None:
        self._require_rights("stop recordings")
        self._apply_protections()
        me = self._me_id()
        for uid in self._meeting_ids() - {me}:
            result = self._rec.DisAllowLocalRecording(uid)
            if not self._ok(result):
                logger.info("local recording of %s not revoked: %s", uid, _name_of(result))

    def _send(self, text: str, kind: Any, receiver: int) -> Any:
        builder = self._chat.GetChatMessageBuilder()
        builder.SetContent(text)
        builder.SetReceiver(receiver)
        builder.SetMessageType(kind)
        message = builder.Build()
        result = self._chat.SendChatMsgTo(message)
        builder.Clear()
        return result

    def _send_chat(self, text: str, to: ChatTo, user_id: str) -> None:
        kinds = self._sdk.SDKChatMessageType
        if to is ChatTo.EVERYONE:
            self._require_meeting()
            self._check(self._send(text, kinds.To_All, 0), "chat")
        elif to is ChatTo.WAITING_ROOM:
            self._require_rights("chat to the waiting room")
            self._check(self._send(text, kinds.To_WaitingRoomUsers, 0), "chat to waiting room")
        else:
            self._require_meeting()
            uid = self._require_present(user_id)
            self._check(self._send(text, kinds.To_Individual, uid), "private chat")

    def _resolve(self, who: Addressee) -> str:
        """`who`'s user id in the SDK's lists (see `MeetingControl.resolve`)."""
        self._require_meeting()
        infos = [self._parts.GetUserByUserID(uid) for uid in sorted(self._meeting_ids())]
        if self._has_rights():
            infos += [self._wr.GetWaitingRoomUserInfoByID(uid) for uid in self._waiting_ids()]
        users = [self._user(info) for info in infos if info is not None]
        found = pick_addressee(
            who,
            [(str(u.user_id), (u.persistent_id, str(u.user_id)), u.name) for u in users],
        )
        if found is None:
            if not self._has_rights():
                # Without host rights the waiting room is out of the bot's sight: the person
                # may well be there, and the action would need the rights anyway.
                self._require_rights(f"find {who.name or who.user_id} (waiting room unseen)")
            raise MeetingControlError(
                "no_such_participant", f"no user {who.user_id} (nor by other ids) in the meeting"
            )
        return found

    def _list_participants(self) -> list[ParticipantInfo]:
        self._require_meeting()
        found = []
        for user_id in self._parts.GetParticipantsList():
            info = self._parts.GetUserByUserID(int(user_id))
            if info is not None and not info.IsInWaitingRoom():
                found.append(_info(self._user(info), waiting=False))
        return found

    def _list_waiting_room(self) -> list[ParticipantInfo]:
        self._require_rights("see the waiting room")
        found = []
        for user_id in self._wr.GetWaitingRoomLst():
            info = self._wr.GetWaitingRoomUserInfoByID(int(user_id))
            if info is not None:
                found.append(_info(self._user(info), waiting=True))
        return found


async def open_sdk_meeting(
    settings: Settings,
    rest: ZoomClient,
    *,
    meeting_id: str,
    options: SdkOptions | None = None,
    clock: Clock = system_clock,
    sdk: Any = None,
    loop: MainLoop | None = None,
) -> SdkMeeting:
    """Fetch the passcode and the bot user's ZAK through REST, sign the JWT, and join.

    `sdk` and `loop` default to the real bindings and a GLib main loop.

    Raises:
        ConfigError: SDK credentials, bot user or bindings missing.
        ZoomApiError: the REST calls failed.
        SdkJoinError: the SDK could not join.
    """
    zoom = settings.zoom
    if not zoom.bot_user_id:
        raise ConfigError("zoom.bot_user_id is empty: the SDK bot joins as that Zoom user")
    token = make_sdk_jwt(
        sdk_key=zoom.sdk_key,
        sdk_secret=zoom.sdk_secret.get_secret_value(),
        now=clock(),
    )
    meeting = await rest.get_meeting(meeting_id)
    zak = await rest.get_zak(zoom.bot_user_id)
    thread = SdkThread(loop or GLibLoop(), asyncio.get_running_loop())
    bot = SdkMeeting(
        sdk if sdk is not None else load_sdk(),
        thread,
        meeting_id=meeting_id,
        rest=rest,
        options=options,
    )
    await bot.join(
        JoinTicket(
            meeting_number=meeting.id,
            passcode=meeting.password,
            zak=zak,
            jwt=token,
            display_name=zoom.bot_name,
        )
    )
    return bot
