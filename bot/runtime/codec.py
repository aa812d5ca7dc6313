"""JSON form of the engine's meeting actions, for the durable action log.

An action is planned in one transaction and carried out after it commits (see
`bot.runtime.durable`), so a restart between the two must rebuild it exactly from the
database. Encoding is `{"kind": action_kind(action), **fields}`; decoding is its inverse and
refuses anything else with `CodecError`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from bot.meeting.executor import MeetingAction, action_kind
from phases.actions import (
    Admit,
    AllowSelfMedia,
    AskStartVideo,
    AskUnmute,
    Audience,
    Mute,
    PutInWaitingRoom,
    Rename,
    SafetyAnswer,
    SendChat,
    StopRecording,
    StopVideo,
    Target,
)
from phases.errors import BalintError

__all__ = ["CodecError", "decode_action", "encode_action"]

_TARGETED: dict[str, type[PutInWaitingRoom | AskUnmute | AskStartVideo]]
_TARGETED = {
    "put_in_waiting_room": PutInWaitingRoom,
    "ask_unmute": AskUnmute,
    "ask_start_video": AskStartVideo,
}
#: Actions whose success the engine may ask to hear about (`confirm`; absent in older logs).
_CONFIRMED: dict[str, type[Admit | StopVideo]] = {"admit": Admit, "stop_video": StopVideo}


class CodecError(BalintError):
    """A stored action could not be decoded (the log was written by an incompatible version)."""


def encode_action(action: MeetingAction | SafetyAnswer) -> str:
    """The action as compact JSON, with its kind."""
    return json.dumps({"kind": action_kind(action), **_plain(action)}, sort_keys=True)


def _plain(action: Any) -> dict[str, Any]:
    """`dataclasses.asdict` for actions (dataclasses of immutable values, `Target`s and
    tuples of them), without its deep copy of every value: the same dict, a quarter of
    the time, for every action a step plans."""
    names = _FIELDS.get(type(action))
    if names is None:
        names = _FIELDS[type(action)] = tuple(f.name for f in dataclasses.fields(action))
    data: dict[str, Any] = {}
    for name in names:
        value = getattr(action, name)
        if isinstance(value, Target):
            value = _plain(value)
        elif isinstance(value, tuple):
            value = [_plain(item) if isinstance(item, Target) else item for item in value]
        data[name] = value
    return data


#: field names by action type, as `_plain` first reads them
_FIELDS: dict[type, tuple[str, ...]] = {}


def _target(data: Any) -> Target:
    return Target(key=str(data["key"]), user_id=str(data["user_id"]), name=str(data["name"]))


def decode_action(text: str) -> MeetingAction | SafetyAnswer:
    """Rebuild an action from `encode_action`'s JSON.

    Raises:
        CodecError: not JSON, unknown kind, or a field missing.
    """
    try:
        data = json.loads(text)
        kind = data["kind"]
        if kind in _TARGETED:
            return _TARGETED[kind](target=_target(data["target"]))
        if kind in _CONFIRMED:
            confirm = bool(data.get("confirm", False))
            return _CONFIRMED[kind](target=_target(data["target"]), confirm=confirm)
        if kind == "mute":  # actions logged before `allow_self_unmute` existed allowed it
            allowed = data.get("allow_self_unmute", True)
            return Mute(
                target=_target(data["target"]),
                allow_self_unmute=bool(allowed),
                confirm=bool(data.get("confirm", False)),
            )
        if kind == "rename":
            return Rename(target=_target(data["target"]), new_name=str(data["new_name"]))
        if kind == "allow_self_media":
            return AllowSelfMedia(unmute=data["unmute"], video=data["video"])
        if kind == "stop_recording":
            by = data["started_by"]
            return StopRecording(
                started_by=None if by is None else _target(by),
                confirm=bool(data.get("confirm", False)),
            )
        if kind == "send_chat":
            return SendChat(
                to=Audience(data["to"]),
                text=str(data["text"]),
                recipients=tuple(_target(t) for t in data["recipients"]),
            )
        if kind == "safety_answer":  # carries no PHI: the runtime reads it when sending
            return SafetyAnswer(
                to=_target(data["to"]),
                member_id=str(data["member_id"]),
                member_name=str(data["member_name"]),
            )
    except (ValueError, KeyError, TypeError) as bad:
        raise CodecError(f"stored action cannot be decoded: {bad}") from None
    raise CodecError(f"stored action has an unknown kind: {kind!r}")
