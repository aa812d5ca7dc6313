"""The observe-only meeting: every action is reported as not executed, never as done."""

from __future__ import annotations

import asyncio

from bot.meeting.executor import MeetingAction, execute
from bot.meeting.observe import ObservingMeeting
from bot.meeting.port import REFUSALS
from phases.actions import Admit, AllowSelfMedia, Audience, Mute, SendChat, Target

WHO = Target(key="k1", user_id="16778240", name="Anna")


def test_every_action_is_not_executed() -> None:
    meeting = ObservingMeeting("m1")
    actions: list[MeetingAction] = [
        Admit(target=WHO),
        Mute(target=WHO),
        AllowSelfMedia(unmute=False),
        SendChat(to=Audience.EVERYONE, text="Who has a case?"),
        SendChat(to=Audience.PARTICIPANT, text="hello", recipients=(WHO,)),
    ]
    outcomes = [asyncio.run(execute(action, meeting)) for action in actions]
    assert all(not o.ok and o.code == "not_executed" for o in outcomes)
    assert "not_executed" in REFUSALS
