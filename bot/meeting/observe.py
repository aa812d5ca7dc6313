"""`ObservingMeeting`: the observe-only `MeetingControl` (`[bot] meeting_adapter = "none"`).

For a group that wants attendance and billing without in-meeting control, or before the
bot has co-host rights. The engine still runs and decides what it would do; every action is
refused with `MeetingControlError("not_executed", ...)`, so the executor records it as not
executed and the action log shows exactly what the bot would have done. Nothing is
pretended: listing participants also refuses, because an observer sees only webhooks.
"""

from __future__ import annotations

from bot.errors import MeetingControlError
from bot.meeting.port import Addressee, ChatTo, EventListener, ParticipantInfo

__all__ = ["ObservingMeeting"]


class ObservingMeeting:
    """A meeting the bot only watches: every control call raises `not_executed`.

    Args:
        meeting_uuid: the meeting instance observed (for the refusal message only).
    """

    def __init__(self, meeting_uuid: str = "") -> None:
        self.meeting_uuid = meeting_uuid
        self._listener: EventListener | None = None

    def _refuse(self, what: str) -> MeetingControlError:
        return MeetingControlError(
            "not_executed", f"observe-only mode (meeting_adapter = none): {what} not executed"
        )

    async def admit(self, user_id: str) -> None:  # noqa: ARG002
        raise self._refuse("admit")

    async def admit_all(self) -> None:
        raise self._refuse("admit all")

    async def put_in_waiting_room(self, user_id: str) -> None:  # noqa: ARG002
        raise self._refuse("put in waiting room")

    async def rename(self, user_id: str, new_name: str) -> None:  # noqa: ARG002
        raise self._refuse("rename")

    async def mute(self, user_id: str, *, allow_self_unmute: bool = True) -> None:  # noqa: ARG002
        raise self._refuse("mute")

    async def stop_video(self, user_id: str) -> None:  # noqa: ARG002
        raise self._refuse("stop video")

    async def ask_unmute(self, user_id: str) -> None:  # noqa: ARG002
        raise self._refuse("ask to unmute")

    async def ask_start_video(self, user_id: str) -> None:  # noqa: ARG002
        raise self._refuse("ask to start video")

    async def allow_self_unmute(self, allowed: bool) -> None:  # noqa: ARG002
        raise self._refuse("allow self unmute")

    async def allow_self_video(self, allowed: bool) -> None:  # noqa: ARG002
        raise self._refuse("allow self video")

    async def stop_recording(self) -> None:
        raise self._refuse("stop recording")

    async def send_chat(self, text: str, *, to: ChatTo, user_id: str = "") -> None:  # noqa: ARG002
        raise self._refuse("chat")

    async def resolve(self, who: Addressee) -> str:
        # No lists to look in: the action itself is refused as not executed.
        return who.user_id

    async def list_participants(self) -> list[ParticipantInfo]:
        raise self._refuse("list participants")

    async def list_waiting_room(self) -> list[ParticipantInfo]:
        raise self._refuse("list waiting room")

    def set_listener(self, listener: EventListener | None) -> None:
        # An observer has no in-meeting callbacks; everything arrives by webhook.
        self._listener = listener
