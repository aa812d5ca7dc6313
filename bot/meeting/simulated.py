"""`SimulatedMeeting`: an in-process Zoom meeting that keeps Zoom's rules, refusals included.

It implements the `MeetingControl` port (what the bot can do) and a "people side" (what the
humans in the meeting do: join, leave, chat, unmute, start video, record, end the meeting),
so a test or the scenario driver can play the group while the bot acts. It is strict where
Zoom is strict, because every test built on it is only as true as it is:

- Each join gets a new numeric `user_id` (a rejoin gets another one); `participant_uuid`
  (the engine's `Participant.key`) stays the same for the whole meeting.
- The waiting room is on: attendees arrive there; hosts and co-hosts bypass it.
- Only a host or co-host may admit, hold, rename, mute, stop video, ask to unmute or start
  video, change the self-unmute / self-video switches, stop recording, list or chat to the
  waiting room. An attendee bot gets `MeetingControlError("not_privileged", ...)`.
- Muting someone or stopping their video is immediate; turning it back on is only a request
  that the person accepts or ignores (`accepts_requests`). A muted person can unmute
  themself unless the host muted them and self-unmute is forbidden, meeting-wide or for
  them alone (`mute(..., allow_self_unmute=False)`; the meeting-wide switch turned on again
  lifts the per-person one, and so does accepting a request to unmute: Zoom does not
  document this, see docs/live-checklist.md). The same for video, meeting-wide only.
  Hosts and co-hosts can always unmute and start their video.
- The host cannot be put in the waiting room, and the bot cannot hold itself (`not_allowed`).
- Join state (muted, video) follows the meeting's settings (`mute_on_entry`, `video_on_entry`).
- The host ending the meeting removes everyone.
- Local recording needs the host's permission; a bot with host or co-host rights forbids
  participants to ask for it (as `SdkMeeting` does), so nobody records locally then.

Every change is reported the two ways Zoom reports it, and only those: as the signed webhook
Zoom would POST (`webhooks`, and the optional webhook sink, e.g. `bot.meeting.delivery`),
and to the bot in the meeting as the SDK would tell it: SDK-shaped notices
(`bot.meeting.sdk_observer`: the callbacks, and what the SDK bot finds by polling, here
reported at the moment of the change), translated by the same `SdkObserver` the real
`SdkMeeting` uses into the engine events its listener gets. The bot's own chat lines are
not echoed; private lines between two people reach only the webhook.

Order of webhooks on admission (Zoom does not document it; unverified, see
zoom-reference §1.5): `participant_admitted`, `participant_left_waiting_room`,
`participant_joined`, all with the same time. Putting someone back in the waiting room sends
`participant_put_in_waiting_room` then `participant_left` (also unverified). Zoom has no
webhook for mute/unmute, video or local recording in our subscription set, so those reach the
bot only through the listener. A cloud recording (started by a host or co-host) is the
reverse: Zoom sends `recording.started`, naming no one, and the listener hears nothing (the
Meeting SDK bindings do not report it). Chat to the waiting room sends no webhook (unverified).
The simulator's ids agree between the two paths (participant uuid = persistent id, webhook
user id = SDK user id); the runtime does not rely on it (`bot.runtime.identity`).

Time comes from an injected clock, so the simulator runs on the virtual clock of
`bot.simulation` or on the wall clock. All methods run in the caller's event loop; the
listener and the webhook sink are awaited inline, in order, so a listener must not call back
into the engine re-entrantly (queue the event instead; see `bot.runtime.worker`).
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.errors import MeetingControlError
from bot.meeting import sdk_observer as sdk_seen
from bot.meeting import zoom_wire as wire
from bot.meeting.port import Addressee, ChatTo, EventListener, ParticipantInfo, pick_addressee
from phases.events import ZoomRole
from storage.clock import system_clock

__all__ = [
    "BOT",
    "ChatLine",
    "MeetingOptions",
    "Presence",
    "Request",
    "SimulatedMeeting",
    "WebhookSink",
]

_log = logging.getLogger(__name__)

#: The handle of the bot itself in the people-side API.
BOT = "@bot"

WebhookSink = Callable[[wire.Webhook], Awaitable[None]]

_FIRST_USER_ID = 16778240
_USER_ID_STEP = 1024
_SDK_ROLES = {
    ZoomRole.HOST: "USERROLE_HOST",
    ZoomRole.CO_HOST: "USERROLE_COHOST",
    ZoomRole.ATTENDEE: "USERROLE_ATTENDEE",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingOptions:
    """The meeting's settings, as the host configured them in Zoom.

    Args:
        bot_name: the bot's display name.
        bot_role: the bot's Zoom role when it joins (host when it opens the room with the
            host's ZAK; co-host when made one; attendee when nobody did).
        waiting_room: attendees arrive in the waiting room.
        mute_on_entry: attendees join muted.
        video_on_entry: attendees join with their video on.
        allow_self_unmute: participants may unmute themselves after the host muted them.
        allow_self_video: participants may restart their video after the host stopped it.
        webhook_secret: the app's Secret Token the webhooks are signed with.
        identity: the meeting instance the webhooks name.
        seed: seeds participant uuids and message ids, so runs are reproducible.
    """

    bot_name: str = "Balint Companion"
    bot_role: ZoomRole = ZoomRole.HOST
    waiting_room: bool = True
    mute_on_entry: bool = True
    video_on_entry: bool = True
    allow_self_unmute: bool = True
    allow_self_video: bool = True
    webhook_secret: str = "simulator-secret-token"
    identity: wire.MeetingIdentity = field(default_factory=wire.MeetingIdentity)
    seed: int = 0


class _Where(enum.StrEnum):
    AWAY = "away"
    WAITING = "waiting"
    MEETING = "meeting"


@dataclass(slots=True, kw_only=True)
class _Person:
    handle: str
    name: str
    key: str
    email: str = ""
    registrant_id: str = ""
    user_id: str = ""
    where: _Where = _Where.AWAY
    role: ZoomRole = ZoomRole.ATTENDEE
    audio_muted: bool = False
    muted_by_host: bool = False
    self_unmute_blocked: bool = False
    video_on: bool = False
    video_stopped_by_host: bool = False
    accepts_requests: bool = True
    recording: bool = False
    is_bot: bool = False

    def sdk_user(self) -> sdk_seen.SdkUser:
        """This person as the SDK's `IUserInfo` shows them."""
        return sdk_seen.SdkUser(
            user_id=int(self.user_id),
            persistent_id=self.key,
            name=self.name,
            role=_SDK_ROLES[self.role],
            audio_muted=self.audio_muted,
            video_on=self.video_on,
            is_me=self.is_bot,
        )

    def wire(self) -> wire.WireParticipant:
        return wire.WireParticipant(
            user_id=self.user_id,
            user_name=self.name,
            participant_uuid=self.key,
            email=self.email,
            registrant_id=self.registrant_id,
        )

    def info(self) -> ParticipantInfo:
        return ParticipantInfo(
            user_id=self.user_id,
            key=self.key,
            name=self.name,
            email=self.email,
            role=self.role,
            in_waiting_room=self.where is _Where.WAITING,
            audio_muted=self.audio_muted,
            video_on=self.video_on,
            is_bot=self.is_bot,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Presence:
    """One stay of one person: in the meeting proper or in the waiting room.

    `end` is None while the stay lasts. Attendance is computed from these.
    """

    handle: str
    name: str
    place: str  # "meeting" | "waiting_room"
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatLine:
    """A chat line as the meeting carried it; `to` is everyone, waiting_room or a handle."""

    at: datetime
    sender: str
    to: str
    text: str
    message_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """An ask-to-unmute or ask-to-start-video the bot sent, and whether it was accepted."""

    at: datetime
    kind: str  # "unmute" | "start_video"
    handle: str
    accepted: bool


class SimulatedMeeting:
    """An in-process Zoom meeting (see the module docstring for the rules it keeps).

    Args:
        options: the meeting's settings.
        clock: returns the current (timezone-aware) time; the wall clock by default.
    """

    def __init__(
        self,
        options: MeetingOptions | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.options = options if options is not None else MeetingOptions()
        self._clock = clock if clock is not None else system_clock
        self._rng = random.Random(self.options.seed)
        self._next_user_id = _FIRST_USER_ID
        self._running = False
        self._ended = False
        self._cloud_recording = False
        self._allow_self_unmute = self.options.allow_self_unmute
        self._allow_self_video = self.options.allow_self_video
        self._people: dict[str, _Person] = {}
        self._waiting_for_host: list[str] = []
        self._arrival_order: list[str] = []
        self._listener: EventListener | None = None
        self._observer = sdk_seen.SdkObserver()
        self._sink: WebhookSink | None = None
        self.webhooks: list[wire.Webhook] = []
        self.presence: list[Presence] = []
        self.chat_log: list[ChatLine] = []
        self.requests: list[Request] = []
        self._people[BOT] = _Person(
            handle=BOT,
            name=self.options.bot_name,
            key=self._new_key(),
            role=self.options.bot_role,
            is_bot=True,
        )

    # ------------------------------------------------------------------ state and wiring

    @property
    def running(self) -> bool:
        """True between `start()` and the end of the meeting."""
        return self._running

    @property
    def meeting_uuid(self) -> str:
        """The meeting instance its webhooks name."""
        return self.options.identity.uuid

    @property
    def control(self) -> SimulatedMeeting:
        """The port the bot drives: the simulated meeting itself."""
        return self

    async def settle(self) -> None:
        """Nothing to wait for: the listener is awaited as each change happens."""

    async def close(self) -> None:
        """Nothing to release."""

    @property
    def cloud_recording(self) -> bool:
        """True while a cloud recording runs (until the bot's `stop_recording` or the end)."""
        return self._cloud_recording

    @property
    def allows_self_unmute(self) -> bool:
        return self._allow_self_unmute

    @property
    def allows_self_video(self) -> bool:
        return self._allow_self_video

    def set_listener(self, listener: EventListener | None) -> None:
        """Receive the engine events the bot's SDK notices translate to (the SDK path)."""
        self._listener = listener

    def set_webhook_sink(self, sink: WebhookSink | None) -> None:
        """Also hand every webhook to `sink` (e.g. a `WebhookDelivery`) as it is produced."""
        self._sink = sink

    def user_id_of(self, handle: str) -> str:
        """The current per-join user id of `handle` ("" when not in the meeting or room)."""
        person = self._people.get(handle)
        return person.user_id if person is not None and person.where is not _Where.AWAY else ""

    def key_of(self, handle: str) -> str:
        """The stable participant uuid of `handle` (raises KeyError for an unknown handle)."""
        return self._people[handle].key

    def state_of(self, handle: str) -> ParticipantInfo | None:
        """`handle` as the meeting shows them now, or None when they are not there."""
        person = self._people.get(handle)
        if person is None or person.where is _Where.AWAY:
            return None
        return person.info()

    def where_is(self, handle: str) -> str:
        """ "meeting", "waiting" or "away"."""
        person = self._people.get(handle)
        return str(person.where) if person is not None else str(_Where.AWAY)

    # ------------------------------------------------------------------ people side

    async def start(self) -> None:
        """The room opens: the bot joins (bypassing the waiting room) and early arrivals enter."""
        if self._running or self._ended:
            return
        self._running = True
        now = self._clock()
        await self._emit(
            None,
            wire.MEETING_STARTED,
            wire.meeting_body(wire.MEETING_STARTED, meeting=self.options.identity, at=now),
        )
        await self._enter(self._people[BOT], direct=True)
        waiting, self._waiting_for_host = self._waiting_for_host, []
        for handle in waiting:
            person = self._people[handle]
            await self._enter(person, direct=not self._holds(person))

    async def person_joins(
        self,
        handle: str,
        *,
        name: str | None = None,
        email: str = "",
        registrant_id: str = "",
        role: ZoomRole = ZoomRole.ATTENDEE,
        accepts_requests: bool = True,
    ) -> str:
        """`handle` clicks the join link; returns their new user id ("" until the room opens).

        A returning handle keeps their `participant_uuid` and gets a new `user_id`. Attendees
        go to the waiting room when it is on; hosts and co-hosts go straight in.
        """
        if handle == BOT:
            raise ValueError("the bot joins with start()")
        person = self._people.get(handle)
        if person is None:
            person = _Person(handle=handle, name=name or handle, key=self._new_key())
            self._people[handle] = person
        elif person.where is not _Where.AWAY or handle in self._waiting_for_host:
            return person.user_id
        if name:
            person.name = name
        person.email = email or person.email
        person.registrant_id = registrant_id or person.registrant_id
        person.role = role
        person.accepts_requests = accepts_requests
        if self._ended:
            return ""
        if not self._running:
            self._waiting_for_host.append(handle)
            return ""
        await self._enter(person, direct=not self._holds(person))
        return person.user_id

    async def person_leaves(self, handle: str) -> None:
        """`handle` hangs up, from the meeting or from the waiting room."""
        if handle in self._waiting_for_host:
            self._waiting_for_host.remove(handle)
            return
        person = self._people.get(handle)
        if person is None or person.where is _Where.AWAY:
            return
        now = self._clock()
        if person.where is _Where.WAITING:
            self._close_presence(handle, now)
            person.where = _Where.AWAY
            await self._emit(
                self._waiting_room_poll(),
                wire.PARTICIPANT_LEFT_WAITING_ROOM,
                self._participant_body(wire.PARTICIPANT_LEFT_WAITING_ROOM, person, now),
                person.name,
            )
        else:
            await self._leave_meeting(person, now)

    async def person_says(self, handle: str, text: str, *, to: str | None = None) -> bool:
        """`handle` posts a chat line: to everyone (`to` None), to the bot (`BOT`) or privately
        to another handle. Returns False when Zoom would not carry it (sender not in the
        meeting proper, or recipient absent). The bot's listener sees public lines and lines
        to itself; a private line between two people reaches only the webhook.
        """
        sender = self._people.get(handle)
        if not self._running or sender is None or sender.where is not _Where.MEETING:
            return False
        recipient = self._people.get(to) if to is not None else None
        if to is not None and (recipient is None or recipient.where is not _Where.MEETING):
            return False
        now = self._clock()
        message_id = self._new_message_id()
        self.chat_log.append(
            ChatLine(at=now, sender=handle, to=to or "everyone", text=text, message_id=message_id)
        )
        body = wire.chat_body(
            meeting=self.options.identity,
            sender=_party(sender),
            recipient=_party(recipient) if recipient is not None else None,
            message_id=message_id,
            text=text,
            at=now,
        )
        notice = sdk_seen.ChatReceived(
            sender_id=int(sender.user_id),
            sender_name=sender.name,
            receiver_id=int(recipient.user_id) if recipient is not None else 0,
            to_all=recipient is None,
            content=text,
            message_id=message_id,
        )
        await self._emit(notice, wire.CHAT_MESSAGE_SENT, body, sender.name)
        return True

    async def person_unmutes(self, handle: str) -> bool:
        """`handle` clicks Unmute; False when self-unmute is forbidden after a host mute."""
        person = self._in_meeting(handle)
        if person is None:
            return False
        if not person.audio_muted:
            return True
        blocked = not self._allow_self_unmute or person.self_unmute_blocked
        if person.muted_by_host and blocked and not _privileged(person):
            return False
        await self._set_audio(person, muted=False)
        return True

    async def person_mutes(self, handle: str) -> bool:
        """`handle` mutes themself."""
        person = self._in_meeting(handle)
        if person is None:
            return False
        if not person.audio_muted:
            await self._set_audio(person, muted=True)
        person.muted_by_host = False
        person.self_unmute_blocked = False
        return True

    async def person_starts_video(self, handle: str) -> bool:
        """`handle` starts their video; False when forbidden after the host stopped it."""
        person = self._in_meeting(handle)
        if person is None:
            return False
        if person.video_on:
            return True
        if person.video_stopped_by_host and not self._allow_self_video and not _privileged(person):
            return False
        await self._set_video(person, on=True)
        return True

    async def person_stops_video(self, handle: str) -> bool:
        """`handle` stops their own video."""
        person = self._in_meeting(handle)
        if person is None:
            return False
        if person.video_on:
            await self._set_video(person, on=False)
        person.video_stopped_by_host = False
        return True

    async def person_records(self, handle: str) -> bool:
        """`handle` starts a local recording. False when Zoom does not let them: a bot with
        host or co-host rights forbids local-recording requests. Zoom sends no webhook for
        a local recording, and the SDK bindings cannot report one (their recording
        callbacks take a type they do not bind), so nobody is told."""
        person = self._in_meeting(handle)
        if person is None:
            return False
        if _privileged(self._people[BOT]) and not _privileged(person):
            return False
        person.recording = True
        return True

    async def host_starts_cloud_recording(self, handle: str) -> bool:
        """`handle`, a host or co-host in the meeting, starts a cloud recording.

        Zoom sends `recording.started` (no participant in it); the listener hears nothing.
        False when `handle` is not in the meeting or has no host powers (only a host or
        co-host can record to the cloud). Already recording: True, nothing is sent.
        """
        person = self._in_meeting(handle)
        if person is None or not _privileged(person):
            return False
        if not self._cloud_recording:
            self._cloud_recording = True
            body = wire.recording_started_body(meeting=self.options.identity, at=self._clock())
            await self._emit(None, wire.RECORDING_STARTED, body)
        return True

    async def host_admits(self, handle: str) -> bool:
        """A human host (not the bot) admits `handle` from the waiting room.

        Needs no privilege of the bot: it is another participant's click. False when
        `handle` is not waiting.
        """
        person = self._people.get(handle)
        if not self._running or person is None or person.where is not _Where.WAITING:
            return False
        await self._admit(person)
        return True

    async def set_role(self, handle: str, role: ZoomRole) -> None:
        """The host makes `handle` (or the bot, `BOT`) host, co-host or attendee."""
        person = self._people[handle]
        old = person.role
        if old == role:
            return
        person.role = role
        if person.where is not _Where.MEETING:
            return
        now = self._clock()
        await self._emit(
            sdk_seen.UsersChanged(users=(person.sdk_user(),)),
            wire.PARTICIPANT_ROLE_CHANGED,
            wire.role_changed_body(
                meeting=self.options.identity,
                participant=person.wire(),
                at=now,
                old_role=str(old),
                new_role=str(role),
            ),
            person.name,
        )

    async def end(self) -> None:
        """The host ends the meeting for all: everyone is removed, then the meeting ends.

        Webhooks: one `participant_left` per person in the meeting (reason "Host ended the
        meeting.") and `participant_left_waiting_room` for those waiting, then
        `meeting.ended`. The listener gets only `MeetingEnded`, as the SDK reports the end.
        """
        if not self._running:
            self._waiting_for_host.clear()
            return
        now = self._clock()
        for handle in list(self._arrival_order):
            person = self._people[handle]
            if person.where is _Where.AWAY:
                continue
            self._close_presence(handle, now)
            if person.where is _Where.WAITING:
                body = self._participant_body(wire.PARTICIPANT_LEFT_WAITING_ROOM, person, now)
                await self._emit(None, wire.PARTICIPANT_LEFT_WAITING_ROOM, body, person.name)
            else:
                body = self._participant_body(
                    wire.PARTICIPANT_LEFT,
                    person,
                    now,
                    leave_reason=f"{person.name} left the meeting.<br>Reason: Host ended the "
                    "meeting.",
                )
                await self._emit(None, wire.PARTICIPANT_LEFT, body, person.name)
            person.where = _Where.AWAY
            person.recording = False
        self._cloud_recording = False
        self._running = False
        self._ended = True
        await self._emit(
            sdk_seen.MeetingOver(ended=True),
            wire.MEETING_ENDED,
            wire.meeting_body(wire.MEETING_ENDED, meeting=self.options.identity, at=now),
        )

    # ------------------------------------------------------------------ MeetingControl port

    async def admit(self, user_id: str) -> None:
        self._require_host_powers()
        person = self._by_user_id(user_id)
        if person.where is not _Where.WAITING:
            raise MeetingControlError("not_in_waiting_room", f"user {user_id} is not waiting")
        await self._admit(person)

    async def admit_all(self) -> None:
        self._require_host_powers()
        for handle in list(self._arrival_order):
            person = self._people[handle]
            if person.where is _Where.WAITING:
                await self._admit(person)

    async def put_in_waiting_room(self, user_id: str) -> None:
        self._require_host_powers()
        person = self._by_user_id(user_id)
        if person.where is not _Where.MEETING:
            raise MeetingControlError("not_in_meeting", f"user {user_id} is not in the meeting")
        if person.is_bot or person.role is ZoomRole.HOST:
            raise MeetingControlError(
                "not_allowed", "Zoom cannot put the host or yourself in the waiting room"
            )
        now = self._clock()
        self._close_presence(person.handle, now)
        await self._emit(
            None,
            wire.PARTICIPANT_PUT_IN_WAITING_ROOM,
            self._participant_body(wire.PARTICIPANT_PUT_IN_WAITING_ROOM, person, now),
            person.name,
        )
        person.where = _Where.WAITING
        await self._emit(
            sdk_seen.UsersLeft(user_ids=(int(person.user_id),)),
            wire.PARTICIPANT_LEFT,
            self._participant_body(wire.PARTICIPANT_LEFT, person, now),
            person.name,
        )
        self._open_presence(person, "waiting_room", now)
        await self._emit(self._waiting_room_poll())

    async def rename(self, user_id: str, new_name: str) -> None:
        self._require_host_powers()
        person = self._by_user_id(user_id)
        if person.where is not _Where.WAITING:
            raise MeetingControlError(
                "not_in_waiting_room", "Zoom renames people only in the waiting room"
            )
        if not new_name.strip():
            raise MeetingControlError("not_allowed", "a display name cannot be empty")
        person.name = new_name

    async def mute(self, user_id: str, *, allow_self_unmute: bool = True) -> None:
        self._require_host_powers()
        person = self._meeting_member(user_id)
        person.muted_by_host = True
        person.self_unmute_blocked = not allow_self_unmute
        if not person.audio_muted:
            await self._set_audio(person, muted=True)

    async def stop_video(self, user_id: str) -> None:
        self._require_host_powers()
        person = self._meeting_member(user_id)
        person.video_stopped_by_host = True
        if person.video_on:
            await self._set_video(person, on=False)

    async def ask_unmute(self, user_id: str) -> None:
        self._require_host_powers()
        person = self._meeting_member(user_id)
        if not person.audio_muted:
            return
        accepted = person.accepts_requests
        self.requests.append(
            Request(at=self._clock(), kind="unmute", handle=person.handle, accepted=accepted)
        )
        if accepted:
            person.muted_by_host = False
            person.self_unmute_blocked = False
            await self._set_audio(person, muted=False)

    async def ask_start_video(self, user_id: str) -> None:
        self._require_host_powers()
        person = self._meeting_member(user_id)
        if person.video_on:
            return
        accepted = person.accepts_requests
        self.requests.append(
            Request(at=self._clock(), kind="start_video", handle=person.handle, accepted=accepted)
        )
        if accepted:
            person.video_stopped_by_host = False
            await self._set_video(person, on=True)

    async def allow_self_unmute(self, allowed: bool) -> None:
        self._require_host_powers()
        self._allow_self_unmute = allowed
        if allowed:
            for person in self._people.values():
                person.self_unmute_blocked = False

    async def allow_self_video(self, allowed: bool) -> None:
        self._require_host_powers()
        self._allow_self_video = allowed

    async def stop_recording(self) -> None:
        self._require_host_powers()
        self._cloud_recording = False
        for person in self._people.values():
            person.recording = False

    async def send_chat(self, text: str, *, to: ChatTo, user_id: str = "") -> None:
        self._require_running()
        bot = self._people[BOT]
        now = self._clock()
        if to is ChatTo.WAITING_ROOM:
            self._require_host_powers()
            self.chat_log.append(
                ChatLine(
                    at=now,
                    sender=BOT,
                    to="waiting_room",
                    text=text,
                    message_id=self._new_message_id(),
                )
            )
            return
        recipient: _Person | None = None
        if to is ChatTo.PARTICIPANT:
            recipient = self._meeting_member(user_id)
        message_id = self._new_message_id()
        self.chat_log.append(
            ChatLine(
                at=now,
                sender=BOT,
                to=recipient.handle if recipient is not None else "everyone",
                text=text,
                message_id=message_id,
            )
        )
        body = wire.chat_body(
            meeting=self.options.identity,
            sender=_party(bot),
            recipient=_party(recipient) if recipient is not None else None,
            message_id=message_id,
            text=text,
            at=now,
        )
        await self._emit(None, wire.CHAT_MESSAGE_SENT, body, bot.name)

    async def resolve(self, who: Addressee) -> str:
        self._require_running()
        candidates = [
            (p.user_id, (p.key, p.user_id), p.name)
            for p in self._ordered()
            if p.where is not _Where.AWAY
        ]
        found = pick_addressee(who, candidates)
        if found is None:
            raise MeetingControlError("no_such_participant", f"no participant {who.user_id}")
        return found

    async def list_participants(self) -> list[ParticipantInfo]:
        self._require_running()
        return [p.info() for p in self._ordered() if p.where is _Where.MEETING]

    async def list_waiting_room(self) -> list[ParticipantInfo]:
        self._require_host_powers()
        return [p.info() for p in self._ordered() if p.where is _Where.WAITING]

    # ------------------------------------------------------------------ internals

    def _ordered(self) -> list[_Person]:
        return [self._people[h] for h in self._arrival_order]

    def _holds(self, person: _Person) -> bool:
        return self.options.waiting_room and not _privileged(person)

    def _require_running(self) -> None:
        if not self._running:
            raise MeetingControlError("meeting_not_running", "the meeting is not in progress")

    def _require_host_powers(self) -> None:
        self._require_running()
        if not _privileged(self._people[BOT]):
            raise MeetingControlError(
                "not_privileged", "only the host or a co-host can do this in Zoom"
            )

    def _by_user_id(self, user_id: str) -> _Person:
        for person in self._people.values():
            if person.user_id == user_id and person.where is not _Where.AWAY:
                return person
        raise MeetingControlError("no_such_participant", f"no participant with user id {user_id}")

    def _meeting_member(self, user_id: str) -> _Person:
        person = self._by_user_id(user_id)
        if person.where is not _Where.MEETING:
            raise MeetingControlError("not_in_meeting", f"user {user_id} is not in the meeting")
        return person

    def _in_meeting(self, handle: str) -> _Person | None:
        person = self._people.get(handle)
        if not self._running or person is None or person.where is not _Where.MEETING:
            return None
        return person

    def _new_key(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4)).upper()

    def _new_message_id(self) -> str:
        raw = f"{{{uuid.UUID(int=self._rng.getrandbits(128), version=4)}}}".upper()
        return base64.b64encode(f"1{raw}".encode()).decode()

    async def _enter(self, person: _Person, *, direct: bool) -> None:
        now = self._clock()
        person.user_id = str(self._next_user_id)
        self._next_user_id += _USER_ID_STEP
        if person.handle in self._arrival_order:
            self._arrival_order.remove(person.handle)
        self._arrival_order.append(person.handle)
        person.audio_muted = self.options.mute_on_entry and not _privileged(person)
        person.muted_by_host = person.audio_muted
        person.video_on = self.options.video_on_entry
        person.video_stopped_by_host = False
        person.recording = False
        if direct:
            await self._join_meeting(person, now)
            return
        person.where = _Where.WAITING
        self._open_presence(person, "waiting_room", now)
        await self._emit(
            self._waiting_room_poll(),
            wire.PARTICIPANT_JOINED_WAITING_ROOM,
            self._participant_body(wire.PARTICIPANT_JOINED_WAITING_ROOM, person, now),
            person.name,
        )

    async def _admit(self, person: _Person) -> None:
        now = self._clock()
        self._close_presence(person.handle, now)
        for event in (wire.PARTICIPANT_ADMITTED, wire.PARTICIPANT_LEFT_WAITING_ROOM):
            await self._emit(None, event, self._participant_body(event, person, now), person.name)
        await self._join_meeting(person, now)

    async def _join_meeting(self, person: _Person, now: datetime) -> None:
        person.where = _Where.MEETING
        self._open_presence(person, "meeting", now)
        notice: sdk_seen.Notice
        if person.is_bot:  # the bot is in: the SDK reports INMEETING with everyone there
            in_meeting = tuple(p.sdk_user() for p in self._ordered() if p.where is _Where.MEETING)
            notice = sdk_seen.InMeeting(users=in_meeting)
        else:
            notice = sdk_seen.UsersJoined(users=(person.sdk_user(),))
        await self._emit(
            notice,
            wire.PARTICIPANT_JOINED,
            self._participant_body(wire.PARTICIPANT_JOINED, person, now),
            person.name,
        )

    async def _leave_meeting(self, person: _Person, now: datetime) -> None:
        self._close_presence(person.handle, now)
        person.where = _Where.AWAY
        person.recording = False
        await self._emit(
            sdk_seen.UsersLeft(user_ids=(int(person.user_id),)),
            wire.PARTICIPANT_LEFT,
            self._participant_body(wire.PARTICIPANT_LEFT, person, now),
            person.name,
        )

    async def _set_audio(self, person: _Person, *, muted: bool) -> None:
        person.audio_muted = muted
        if muted:
            status = "Audio_Muted_ByHost" if person.muted_by_host else "Audio_Muted"
        else:
            status = "Audio_UnMuted"
        await self._emit(sdk_seen.AudioChanged(changes=((int(person.user_id), status),)))

    async def _set_video(self, person: _Person, *, on: bool) -> None:
        person.video_on = on
        # No video callback in the bindings: the SDK bot's poll finds the change.
        await self._emit(sdk_seen.UsersChanged(users=(person.sdk_user(),)))

    def _waiting_room_poll(self) -> sdk_seen.WaitingRoomPolled:
        """What the SDK bot's poll of the waiting room finds now (only a host or co-host
        sees the waiting room)."""
        if not _privileged(self._people[BOT]) or not self._running:
            return sdk_seen.WaitingRoomPolled(waiting=(), in_meeting=())
        people = self._ordered()
        return sdk_seen.WaitingRoomPolled(
            waiting=tuple(p.sdk_user() for p in people if p.where is _Where.WAITING),
            in_meeting=tuple(int(p.user_id) for p in people if p.where is _Where.MEETING),
        )

    def _open_presence(self, person: _Person, place: str, now: datetime) -> None:
        self.presence.append(
            Presence(handle=person.handle, name=person.name, place=place, start=now)
        )

    def _close_presence(self, handle: str, now: datetime) -> None:
        for index in range(len(self.presence) - 1, -1, -1):
            stay = self.presence[index]
            if stay.handle == handle and stay.end is None:
                self.presence[index] = Presence(
                    handle=stay.handle, name=stay.name, place=stay.place, start=stay.start, end=now
                )
                return

    def _participant_body(
        self, event: str, person: _Person, now: datetime, *, leave_reason: str = ""
    ) -> bytes:
        return wire.participant_body(
            event,
            meeting=self.options.identity,
            participant=person.wire(),
            at=now,
            leave_reason=leave_reason,
        )

    async def _emit(
        self,
        notice: sdk_seen.Notice | None,
        webhook_event: str = "",
        body: bytes = b"",
        name: str = "",
    ) -> None:
        """Report one change: the webhook first (recorded, then sunk), then what the bot's
        SDK would notice, translated by its observer for the listener."""
        if webhook_event:
            # The body already carries its time; sign and stamp with exactly that moment.
            event_ts = int(json.loads(body)["event_ts"])
            at = datetime.fromtimestamp(event_ts / 1000, UTC)
            webhook = wire.Webhook(
                event=webhook_event,
                body=body,
                headers=wire.signed_headers(secret=self.options.webhook_secret, body=body, at=at),
                event_ts=event_ts,
                name=name,
            )
            self.webhooks.append(webhook)
            if self._sink is not None:
                await self._sink(webhook)
        if notice is None:
            return
        for event in self._observer.observe(notice):
            if self._listener is not None:
                await self._listener(event)


def _privileged(person: _Person) -> bool:
    return person.role in (ZoomRole.HOST, ZoomRole.CO_HOST)


def _party(person: _Person) -> wire.ChatParty:
    return wire.ChatParty(
        session_id=person.user_id,
        name=person.name,
        email=person.email,
        party_type="host" if _privileged(person) else "guest",
    )
