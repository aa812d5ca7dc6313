"""Which meetings are the group's: the one decision that keeps other meetings out of storage.

A Zoom app's event subscription covers every meeting on the account, so the receiver also
hears of a physician's one-to-one calls, other groups and test meetings. Only the groups'
own meetings (each group's `meeting_id` / `meeting_ids`, Zoom meeting numbers) exist for
balint-bot, each routed to the one group that lists it: the
events of any other meeting are acknowledged, counted and journaled as one redacted line
(`webhooks.redaction.foreign_body`: no names, no e-mails, no meeting instance, so no
session). The decision is `group_for`, keyed on the meeting number alone; with several
groups in one service (`[[groups]]`) it is also the routing. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["GroupMeetings", "MeetingGroup", "group_for", "meeting_number", "routes"]

GroupMeetings = Mapping[str, str]
"""Meeting number (digits only) -> the name of the group that meets there."""


class MeetingGroup(Protocol):
    """A configured group, as routing sees it."""

    @property
    def name(self) -> str: ...

    def meeting_numbers(self) -> tuple[str, ...]: ...


def routes(groups: Sequence[MeetingGroup]) -> tuple[dict[str, str], str | None]:
    """The arguments of `group_for` for these groups: each meeting number to its group, and
    the group every meeting is when there is one group that names no meeting (in-process
    modes; serve refuses to start so)."""
    meetings = {number: group.name for group in groups for number in group.meeting_numbers()}
    unfiltered = groups[0].name if len(groups) == 1 and not meetings else None
    return meetings, unfiltered


def meeting_number(text: str) -> str:
    """A meeting number as Zoom's bodies carry it: digits only ("857 4606 5432" becomes
    "85746065432")."""
    if text.isascii() and text.isdigit():  # as Zoom sends it: every delivery comes this way
        return text
    return "".join(character for character in text if character.isascii() and character.isdigit())


def group_for(
    meeting_id: str | None, meetings: GroupMeetings, *, unfiltered: str | None
) -> str | None:
    """The group whose meeting `meeting_id` (`payload.object.id`) is, or None: not ours.

    Args:
        meeting_id: the body's meeting number, None when it names none (account events,
            bodies that are not meeting events): such a body is no group's.
        meetings: the configured meetings.
        unfiltered: the group every meeting belongs to when `meetings` is empty (a process
            of one group with no meeting id: the in-process tests; `serve` refuses to start
            without one); None to accept no meeting then (several groups each list theirs).
    """
    if not meetings:
        return unfiltered
    if meeting_id is None:
        return None
    return meetings.get(meeting_number(meeting_id))
