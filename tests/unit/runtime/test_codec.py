"""Stored actions decode to exactly the action that was planned."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.meeting.executor import MeetingAction, action_kind
from bot.runtime.codec import CodecError, decode_action, encode_action
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

A = Target(key="k1", user_id="16778240", name="Anna")
B = Target(key="k2", user_id="16779264", name="Ben")

ACTIONS: list[MeetingAction] = [
    Admit(target=A),
    PutInWaitingRoom(target=A),
    Rename(target=A, new_name="Anna"),
    Mute(target=B),
    StopVideo(target=B),
    AskUnmute(target=B),
    AskStartVideo(target=B),
    AllowSelfMedia(unmute=False, video=None),
    StopRecording(started_by=None),
    StopRecording(started_by=A),
    Admit(target=A, confirm=True),
    Mute(target=B, allow_self_unmute=False, confirm=True),
    StopVideo(target=B, confirm=True),
    StopRecording(started_by=A, confirm=True),
    SendChat(to=Audience.EVERYONE, text="Who has a case?"),
    SendChat(to=Audience.FACILITATORS, text="Someone waits", recipients=(A, B)),
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: type(a).__name__)
def test_round_trip(action: MeetingAction) -> None:
    assert decode_action(encode_action(action)) == action


@pytest.mark.parametrize(
    "action",
    [*ACTIONS, SafetyAnswer(to=A, member_id="m-7", member_name="Ben")],
    ids=lambda a: type(a).__name__,
)
def test_the_stored_text_is_what_dataclasses_asdict_made(action: MeetingAction) -> None:
    # the log's rows written before `encode_action` stopped using `asdict` read the same
    expected = json.dumps(
        {"kind": action_kind(action), **dataclasses.asdict(action)}, sort_keys=True
    )
    assert encode_action(action) == expected


@pytest.mark.parametrize("text", ["not json", '{"kind": "dance"}', '{"kind": "admit"}'])
def test_undecodable_is_a_codec_error(text: str) -> None:
    with pytest.raises(CodecError):
        decode_action(text)


def test_an_action_logged_before_confirm_existed_reads_as_not_confirmed() -> None:
    old = '{"kind": "admit", "target": {"key": "k1", "user_id": "16778240", "name": "Anna"}}'
    assert decode_action(old) == Admit(target=A)
    assert decode_action('{"kind": "stop_recording", "started_by": null}') == StopRecording()
