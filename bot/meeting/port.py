"""The `MeetingControl` port: everything the bot can do inside a live Zoom meeting.

Two real implementations stand behind it: `SimulatedMeeting` (an in-process Zoom with
Zoom's rules) and `SdkMeeting` (the Meeting SDK bot). Both must pass the contract tests in
`tests/contract/`. Methods address people by Zoom's per-join `user_id`. When Zoom would
refuse, a method raises `MeetingControlError` with one of the codes in `REFUSALS`; it never
pretends to have succeeded.

The engine's user id for someone may come from a webhook, and whether webhooks and the SDK
share ids is not documented; so before acting on someone the executor asks `resolve` for
their user id *in this meeting's lists*, giving every id the runtime has recorded for them
(`Addressee`). An id that names someone else (a different person, by their other ids and
name) is never used.

Zoom's asymmetry is part of the contract: `mute` and `stop_video` act at once, while
`ask_unmute` and `ask_start_video` only send a request the participant may accept or ignore.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from phases.events import Event, ZoomRole

__all__ = [
    "REFUSALS",
    "Addressee",
    "ChatTo",
    "EventListener",
    "MeetingControl",
    "ParticipantInfo",
    "pick_addressee",
]

#: Refusal codes a `MeetingControlError` may carry.
REFUSALS = frozenset(
    {
        "not_privileged",  # the bot is neither host nor co-host
        "no_such_participant",  # no one with that user id is in the meeting / waiting room
        "not_in_waiting_room",  # admit / rename of someone who is not waiting
        "not_in_meeting",  # mute / hold / stop video of someone who is not in the meeting
        "not_allowed",  # Zoom forbids this action outright (e.g. holding the host)
        "meeting_not_running",  # the meeting has not started or has ended
        "sdk_error",  # the SDK returned an error code (detail in the message)
        "not_executed",  # observe-only mode ([bot] meeting_adapter = "none"): nothing is done
    }
)


class ChatTo(enum.StrEnum):
    EVERYONE = "everyone"
    PARTICIPANT = "participant"
    WAITING_ROOM = "waiting_room"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantInfo:
    """A participant as the meeting shows them right now."""

    user_id: str
    key: str
    name: str
    email: str
    role: ZoomRole
    in_waiting_room: bool
    audio_muted: bool
    video_on: bool
    is_bot: bool = False


EventListener = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Addressee:
    """Someone an action is for, with every id the runtime has seen for them.

    Args:
        user_id: the per-join id the engine last heard (from a webhook or the SDK).
        keys: their other ids: participant uuid, persistent id, earlier user ids.
        name: their display name.
    """

    user_id: str
    keys: tuple[str, ...] = ()
    name: str = ""


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def pick_addressee(
    who: Addressee, candidates: Sequence[tuple[str, Sequence[str], str]]
) -> str | None:
    """The user id among `candidates` ((user id, its other ids, name) each) that is `who`.

    `who.user_id` is taken when it is listed and nothing contradicts it (no keys given, or
    one of its ids or its name agrees); else the one candidate with an id in `who.keys`;
    else the one candidate with `who`'s name. None when nobody (or more than one) fits.
    """
    keys = set(who.keys) - {""}
    name = _fold(who.name)
    for user_id, ids, shown in candidates:
        if user_id == who.user_id and (
            not keys or keys & set(ids) or (name and _fold(shown) == name)
        ):
            return user_id
    by_id = [user_id for user_id, ids, _ in candidates if keys & set(ids)]
    if len(set(by_id)) == 1:
        return by_id[0]
    by_name = [user_id for user_id, _, shown in candidates if name and _fold(shown) == name]
    return by_name[0] if len(by_name) == 1 else None


class MeetingControl(Protocol):
    """What the bot can do in a live meeting (see the module docstring for the rules)."""

    async def admit(self, user_id: str) -> None: ...

    async def admit_all(self) -> None: ...

    async def put_in_waiting_room(self, user_id: str) -> None: ...

    async def rename(self, user_id: str, new_name: str) -> None: ...

    async def mute(self, user_id: str, *, allow_self_unmute: bool = True) -> None:
        """Mute now; with `allow_self_unmute` False they cannot unmute themselves (Zoom's
        per-person switch; a host or co-host always can)."""
        ...

    async def stop_video(self, user_id: str) -> None: ...

    async def ask_unmute(self, user_id: str) -> None: ...

    async def ask_start_video(self, user_id: str) -> None: ...

    async def allow_self_unmute(self, allowed: bool) -> None: ...

    async def allow_self_video(self, allowed: bool) -> None: ...

    async def stop_recording(self) -> None: ...

    async def send_chat(self, text: str, *, to: ChatTo, user_id: str = "") -> None:
        """Post `text`; `user_id` names the recipient when `to` is PARTICIPANT."""
        ...

    async def resolve(self, who: Addressee) -> str:
        """`who`'s user id in the meeting proper or the waiting room right now (see
        `pick_addressee`).

        Raises:
            MeetingControlError: `no_such_participant` when nobody there is `who`.
        """
        ...

    async def list_participants(self) -> list[ParticipantInfo]:
        """Everyone in the meeting proper (not the waiting room), the bot included."""
        ...

    async def list_waiting_room(self) -> list[ParticipantInfo]: ...

    def set_listener(self, listener: EventListener | None) -> None:
        """Receive what happens in the meeting as engine events (the SDK's callbacks path)."""
        ...
